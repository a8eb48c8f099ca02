-- Need-to-know follows the work: a specialist reads the meldingen and cases they are
-- offered, assigned or lead. Another of their gebied takes a stated reason (break the
-- glass): the read is audited as '<what>.read.break_glass' with that reason, and listed
-- for the gebied's coordinator. NULL for every other row, as for every row before this
-- migration, so that their form in the hash chain stays as sealed.
ALTER TABLE audit_log ADD COLUMN reason text CHECK (length(reason) BETWEEN 10 AND 500);
CREATE INDEX audit_log_break_glass ON audit_log (at)
    WHERE action IN ('melding.read.break_glass', 'case.read.break_glass');
