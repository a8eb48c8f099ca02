-- The system of record: meldingen, households and their cases, persons, API clients,
-- users and the append-only audit log. Personal data lives in these tables only.

CREATE TABLE api_clients (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    source      text NOT NULL,
    -- SHA-256 of the bearer token; the token itself is shown once and never stored.
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL,
    disabled_at timestamptz
);

CREATE TABLE users (
    id           uuid PRIMARY KEY,
    username     text NOT NULL UNIQUE,
    display_name text NOT NULL,
    role         text NOT NULL
        CHECK (role IN ('operator', 'cit', 'specialist', 'coordinator', 'ops', 'admin')),
    -- Need-to-know: specialists and coordinators see their own gebied only.
    gebied       text,
    token_hash   bytea UNIQUE,
    -- Set when the user authenticates through OIDC: the issuer's subject claim.
    oidc_subject text UNIQUE,
    created_at   timestamptz NOT NULL,
    disabled_at  timestamptz,
    CHECK (role NOT IN ('specialist', 'coordinator') OR gebied IS NOT NULL)
);

CREATE TABLE households (
    id          uuid PRIMARY KEY,
    -- normalised postcode|huisnummer|toevoeging; NULL for people without a fixed address
    address_key text,
    postcode    text,
    huisnummer  integer,
    toevoeging  text NOT NULL DEFAULT '',
    straat      text,
    woonplaats  text,
    gebied      text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX households_address_key ON households (address_key) WHERE address_key IS NOT NULL;

CREATE TABLE cases (
    id           uuid PRIMARY KEY,
    household_id uuid NOT NULL REFERENCES households,
    status       text NOT NULL CHECK (status IN ('open', 'closed')),
    gebied       text NOT NULL,
    opened_at    timestamptz NOT NULL,
    closed_at    timestamptz,
    merged_into  uuid REFERENCES cases,
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE INDEX cases_open_by_household ON cases (household_id) WHERE status = 'open';

CREATE TABLE meldingen (
    id                    uuid PRIMARY KEY,
    source                text NOT NULL,
    external_id           text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 128),
    -- SHA-256 of the normalised request: a replay with another body is a conflict.
    request_hash          bytea NOT NULL,
    received_at           timestamptz NOT NULL,
    created_at            timestamptz NOT NULL,
    kind                  text NOT NULL CHECK (kind IN ('melding', 'adviesvraag')),
    category              text NOT NULL,
    signals               text[] NOT NULL,
    summary               text NOT NULL CHECK (length(summary) <= 4000),
    postcode              text,
    huisnummer            integer,
    toevoeging            text NOT NULL DEFAULT '',
    straat                text,
    woonplaats            text,
    gebied_hint           text,
    gebied                text NOT NULL,
    -- The case refers to its household; this copy is for reading and is not re-checked.
    household_id          uuid NOT NULL,
    case_id               uuid NOT NULL REFERENCES cases,
    status                text NOT NULL CHECK (status IN ('queued', 'advies')),
    urgency_level         text NOT NULL
        CHECK (urgency_level IN ('crisis', 'acuut', 'hoog', 'regulier', 'advies')),
    urgency_score         smallint NOT NULL CHECK (urgency_score BETWEEN 0 AND 100),
    urgency_reasons       jsonb NOT NULL,
    respond_before        timestamptz NOT NULL,
    callback_required     boolean NOT NULL,
    rules_version         text NOT NULL,
    dedup_decision        text NOT NULL CHECK (dedup_decision IN ('linked', 'review', 'new_case')),
    dedup_matched_case_id uuid REFERENCES cases,
    dedup_score           real,
    dedup_detail          jsonb NOT NULL,
    -- Who submitted it (accounts are disabled, never deleted). No foreign keys: every
    -- insert would lock the submitting client's row, and one client sends thousands.
    submitted_by_client   uuid,
    submitted_by_user     uuid,
    CONSTRAINT meldingen_idempotency UNIQUE (source, external_id),
    CHECK (submitted_by_client IS NOT NULL OR submitted_by_user IS NOT NULL)
);
CREATE INDEX meldingen_case ON meldingen (case_id);
CREATE INDEX meldingen_queued ON meldingen (gebied, respond_before) WHERE status = 'queued';
CREATE INDEX meldingen_queued_recent ON meldingen (created_at) WHERE status = 'queued';

CREATE TABLE persons (
    id            uuid PRIMARY KEY,
    melding_id    uuid NOT NULL REFERENCES meldingen,
    household_id  uuid NOT NULL,  -- as the melding's; not re-checked
    position      smallint NOT NULL,
    role          text NOT NULL
        CHECK (role IN ('betrokkene', 'slachtoffer', 'pleger', 'kind', 'ouder', 'melder')),
    bsn           text CHECK (bsn ~ '^[0-9]{9}$'),
    voornaam      text,
    tussenvoegsel text,
    achternaam    text,
    geboortedatum date,
    UNIQUE (melding_id, position)
);

-- Who read or wrote which personal data, when and through which endpoint.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor_kind  text NOT NULL CHECK (actor_kind IN ('client', 'user', 'system')),
    actor_id    uuid,
    actor_role  text NOT NULL,
    action      text NOT NULL,
    melding_id  uuid,
    case_id     uuid,
    endpoint    text NOT NULL,
    request_id  text
);
CREATE INDEX audit_log_melding ON audit_log (melding_id) WHERE melding_id IS NOT NULL;
CREATE INDEX audit_log_case ON audit_log (case_id) WHERE case_id IS NOT NULL;

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
