-- The gebied in which a specialist broke the glass (theirs, when they read): its
-- coordinator is shown the read, whatever became of the melding or case since (moved,
-- merged). NULL for every other row, so that their form in the hash chain stays as sealed.
ALTER TABLE audit_log ADD COLUMN gebied text;
DROP INDEX audit_log_break_glass;
CREATE INDEX audit_log_break_glass ON audit_log (gebied, at)
    WHERE action IN ('melding.read.break_glass', 'case.read.break_glass');
