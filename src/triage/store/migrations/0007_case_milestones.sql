-- The seed's process norms for a case, from the first contact with the household: a
-- joint plan within 7 days, outreach to day 30, a warm handover to lasting help within
-- 100 days, evaluation by day 180. Each has a due date and is marked done by hand;
-- overdue is computed (due_at passed, not done) and counted for Prometheus.
CREATE TABLE case_milestones (
    case_id  uuid NOT NULL REFERENCES cases,
    kind     text NOT NULL CHECK (kind IN ('plan', 'outreach', 'handover', 'evaluation')),
    due_at   timestamptz NOT NULL,
    done_at  timestamptz,
    done_by  text,
    note     text CHECK (length(note) <= 1000),
    PRIMARY KEY (case_id, kind),
    CHECK ((done_at IS NULL) = (done_by IS NULL))
);
CREATE INDEX case_milestones_open ON case_milestones (due_at) WHERE done_at IS NULL;
