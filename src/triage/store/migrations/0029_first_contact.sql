-- First contact recorded as it happened: when (which may be before it was recorded), how,
-- and a note for colleagues. The note is erased with the case's other notes (retention).
ALTER TABLE meldingen
    ADD COLUMN first_contact_channel text
        CHECK (first_contact_channel IN ('telefoon', 'huisbezoek', 'video', 'op_locatie',
                                         'anders')),
    ADD COLUMN first_contact_note text CHECK (length(first_contact_note) <= 2000);
