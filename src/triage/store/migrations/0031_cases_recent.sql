-- The cases list without a gebied or lead (the desk's, CIT's): newest first, by index.
CREATE INDEX cases_recent ON cases (opened_at DESC, id DESC);
