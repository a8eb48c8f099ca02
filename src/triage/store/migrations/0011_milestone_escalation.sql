-- An overdue case milestone is escalated once: to the gebied's coordinator and the case's
-- lead (server-sent events) and their organisations (webhooks).
ALTER TABLE case_milestones ADD COLUMN escalated_at timestamptz;
CREATE INDEX case_milestones_to_escalate ON case_milestones (due_at)
    WHERE done_at IS NULL AND escalated_at IS NULL;
