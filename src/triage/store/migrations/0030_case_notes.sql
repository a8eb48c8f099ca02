-- Notes on a case, for the people working it: what happened, what was agreed. Kept with
-- the case and erased with it (retention); who wrote each is kept, as for every change.
CREATE TABLE case_notes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES cases,
    at          timestamptz NOT NULL,
    author      text NOT NULL,
    author_role text NOT NULL,
    text        text NOT NULL CHECK (length(text) BETWEEN 1 AND 2000)
);
CREATE INDEX case_notes_case ON case_notes (case_id, at);
