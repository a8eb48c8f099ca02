-- Lists and searches for the console (lists/): the werkvoorraad by deadline, cases by
-- gebied or lead, households by name without a birth date, and the audit of a search.

-- The werkvoorraad pages by (deadline, id): the id breaks ties so that a page boundary
-- never skips or repeats a melding. Replaces meldingen_waiting (deadline only), which the
-- deadline timers use in the same way.
CREATE INDEX meldingen_werkvoorraad ON meldingen (respond_before, id)
    WHERE status IN ('queued', 'offered', 'assigned', 'escalated');
DROP INDEX meldingen_waiting;

-- Cases of a gebied, newest first, and a specialist's own (their lead).
CREATE INDEX cases_by_gebied ON cases (gebied, opened_at DESC, id DESC);
CREATE INDEX cases_by_lead ON cases (lead, opened_at DESC, id DESC) WHERE lead IS NOT NULL;

-- A search by surname sound without a birth date reads the 'n:' keys by prefix
-- ('n:<sound>|'), one by postcode and number without the addition the 'a:' keys
-- ('a:5038AB|12|'): text_pattern_ops compares characters, not the collation's order.
CREATE INDEX match_keys_name_prefix ON match_keys (key text_pattern_ops) WHERE key LIKE 'n:%';
CREATE INDEX match_keys_address_prefix ON match_keys (key text_pattern_ops)
    WHERE key LIKE 'a:%';

-- A search of people is audited with its terms and what it found (ids only), beside the
-- purpose the searcher stated (reason).
ALTER TABLE audit_log ADD COLUMN detail jsonb;
