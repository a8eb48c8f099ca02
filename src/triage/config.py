"""Service settings, from the environment (``TRIAGE_*``), validated by pydantic."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: How far back a melding's received_at may lie unless configured otherwise.
RECEIVED_AT_MAX_AGE_DAYS = 30
#: How long the meldingen an API process holds may have waited before it refuses new ones,
#: unless configured otherwise (docs/design.md, "Admission").
INTAKE_MAX_WAIT_SECONDS = 0.05


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL DSN of the service's role (it may only add to the audit and "
        "read it). Unset: an embedded PostgreSQL under data_dir is started.",
    )
    migration_database_url: str | None = Field(
        default=None,
        description="PostgreSQL DSN of the schema's owner, for `triage migrate` and `serve "
        "--migrate`; they grant the service's role what it needs. Unset: database_url (one "
        "role, and the service warns that its audit is append-only by courtesy only).",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL (redis://, unix://, or redis+sentinel://s1:26379,s2:26379/"
        "<master>/<db> for the master Redis Sentinel names). Unset: an embedded Redis "
        "under data_dir is started.",
    )
    redis_prefix: str = Field(
        default="triage", pattern=r"^[A-Za-z0-9._-]{1,64}$",
        description="Prefix of every Redis key and pub/sub channel: deployments (and test "
        "runs) that share a Redis server keep apart by it, pub/sub included.",
    )  # fmt: skip
    data_dir: Path = Field(default=Path("var"), description="Where embedded servers keep data.")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    processes: int = Field(default=1, ge=1, le=64, description="API processes sharing the port.")
    region_file: Path | None = Field(
        default=None, description="Region YAML; unset: the packaged Hart van Brabant demo region."
    )
    scoring_rules_file: Path | None = Field(
        default=None, description="Scoring rules YAML; unset: the packaged rules."
    )
    recognition_model_file: Path | None = Field(
        default=None,
        description="Household recognition model (triage recognition train); unset: the "
        "packaged model, trained on the synthetic set.",
    )
    network_file: Path | None = Field(
        default=None,
        description="Specialist networks and rosters YAML; unset: the demo region's.",
    )
    metrics_open: bool = Field(
        default=False, description="Serve /metrics without authentication (for a private scrape)."
    )
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=16, ge=1)
    db_acquire_timeout: float = Field(default=2.0, gt=0)
    db_command_timeout: float = Field(default=10.0, gt=0)
    oidc_file: Path | None = Field(
        default=None,
        description="The identity provider (OpenID Connect) people log in with, YAML "
        "(docs/deploy.md, 'Identity provider'); unset: passwords and tokens only.",
    )
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="This service's client secret at the identity provider."
    )
    session_idle_minutes: int = Field(
        default=30, ge=1, le=24 * 60,
        description="A person's browser session ends after this long without a request.",
    )  # fmt: skip
    session_hours: int = Field(
        default=12, ge=1, le=7 * 24,
        description="A session ends this long after login whatever happens: a shift and "
        "its handover.",
    )  # fmt: skip
    auth_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a verified token is trusted before it is looked up again; "
        "also the longest a disabled token keeps working.",
    )
    retry_after_seconds: int = Field(default=5, ge=1)
    auth_failures_per_minute: int = Field(
        default=20, ge=1,
        description="Failed token checks from one address in a minute, after which its "
        "requests get 429 with Retry-After, before any database lookup, until the minute "
        "ends (counted in Redis, shared by every process).",
    )  # fmt: skip
    client_requests_per_second: int = Field(
        default=400, ge=1,
        description="Requests per second one API client (a source system) may make, "
        "counted over every API process; beyond it 429 with Retry-After: 1.",
    )  # fmt: skip
    user_requests_per_second: int = Field(
        default=20, ge=1,
        description="Requests per second one person may make (a console, a script).",
    )  # fmt: skip
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of proxies (nginx) whose X-Forwarded-For names the caller; "
        'from others the connection\'s address counts. JSON list, e.g. ["127.0.0.1"].',
    )
    intake_max_wait_seconds: float = Field(
        default=INTAKE_MAX_WAIT_SECONDS, gt=0, le=10,
        description="Past capacity: when the oldest melding an API process has taken in and "
        "not yet answered has waited longer than this, a new one is refused at once (503 "
        "with Retry-After, nothing stored) instead of waiting behind it.",
    )  # fmt: skip
    received_at_max_age_days: int = Field(
        default=RECEIVED_AT_MAX_AGE_DAYS, ge=1, le=3660,
        description="A melding whose received_at lies further back than this is refused "
        "(422): a wrong date or a stuck source, that would jump ahead of every crisis.",
    )  # fmt: skip
    dispatch_in_api: bool = Field(
        default=True,
        description="Each API process also runs a dispatch worker; false when workers run "
        "as their own processes (triage worker).",
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535,
        description="triage worker and triage deliver: serve /metrics (and /healthz) on this "
        "port, on TRIAGE_HOST; each such process is its own scrape target.",
    )  # fmt: skip
    lease_seconds: float = Field(
        default=30.0, gt=0, description="How long a worker holds a claimed melding."
    )
    webhook_max_attempts: int = Field(
        default=10, ge=1, le=50,
        description="Attempts of a webhook delivery before it becomes a dead letter.",
    )  # fmt: skip
    webhook_backoff_seconds: float = Field(
        default=30.0, gt=0, description="Wait after a webhook's first failed attempt; doubled "
        "after each next one (30 s, 1 min, 2 min, ... about 3 h over 10 attempts).",
    )  # fmt: skip
    webhook_backoff_cap_seconds: float = Field(
        default=3600.0, gt=0, description="The longest wait between two attempts."
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="How long a receiver has to answer."
    )
    reconcile_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often the queue reconciler checks what to repair."
    )
    retention_interval_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How often a worker erases the personal data of cases closed longer than "
        "the region's retention term (one worker of the deployment at a time).",
    )
