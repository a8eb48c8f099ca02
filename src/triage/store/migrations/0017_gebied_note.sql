-- Why a melding went to the regional pool when its address did not place it in a gebied
-- (routing/gebied.py): outside the region, an unknown place, or no address at all. The
-- regional crisis service reads it and passes the melding on.
ALTER TABLE meldingen ADD COLUMN gebied_note text;
