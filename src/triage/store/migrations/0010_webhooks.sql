-- Webhooks per organisation: an organisation of the networks (Veilig Thuis, the crisis
-- service, ...) hears about offers, reassignments and escalations of its own people in
-- its own systems. The secret signs every delivery (HMAC-SHA256); it is shown once.
CREATE TABLE webhooks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organisation text NOT NULL,
    url          text NOT NULL,
    secret       text NOT NULL,
    events       text[] NOT NULL CHECK (cardinality(events) > 0),
    created_at   timestamptz NOT NULL,
    disabled_at  timestamptz
);
CREATE INDEX webhooks_active ON webhooks (organisation) WHERE disabled_at IS NULL;

-- The outbox: one row per webhook and event, written in the transaction of the change it
-- reports (an offer is never made without its delivery, nor the other way round), then
-- delivered and retried by the deliverers. Payloads hold ids, codes, times and links.
CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    webhook_id      bigint NOT NULL REFERENCES webhooks,
    event           text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_status     integer,
    last_error      text,
    delivered_at    timestamptz,
    dead_at         timestamptz,
    replays         integer NOT NULL DEFAULT 0
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (dead_at) WHERE state = 'dead';
CREATE INDEX webhook_deliveries_delivered ON webhook_deliveries (delivered_at)
    WHERE state = 'delivered';
