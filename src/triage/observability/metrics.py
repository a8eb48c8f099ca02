"""Prometheus metrics (``triage_`` prefix, base units, low-cardinality labels).

With several API processes on one port, prometheus-client's multiprocess mode is used
(``PROMETHEUS_MULTIPROC_DIR``, set by ``triage serve``); ``render`` then adds up all
processes, so a scrape sees the service, not one process.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

MELDINGEN_STORED = Counter(
    "triage_meldingen_stored_total", "Meldingen stored for the first time.", ["source", "kind"]
)
MELDINGEN_REPLAYED = Counter(
    "triage_meldingen_replayed_total",
    "Submissions that repeated an already stored melding (same key and body).",
    ["source"],
)
MELDINGEN_REJECTED = Counter(
    "triage_meldingen_rejected_total",
    "Submissions refused, by reason (validation, auth, conflict, too_large, ...).",
    ["source", "reason"],
)
URGENCY_LEVELS = Counter(
    "triage_urgency_levels_total", "Stored meldingen by urgency level.", ["level"]
)
DEDUP_DECISIONS = Counter(
    "triage_dedup_decisions_total", "Household recognition decisions.", ["decision"]
)
CASE_CHANGES = Counter(
    "triage_case_changes_total",
    "Corrections of household recognition by hand (link, unlink, merge, review_*, close).",
    ["action"],
)
OFFERS = Counter(
    "triage_offers_total",
    "Meldingen offered to a specialist, by how they were chosen (network, backup, ...).",
    ["tier"],
)
_WAIT_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    300,
    900,
    1800,
    3600,
    4 * 3600,
    12 * 3600,
    24 * 3600,
    72 * 3600,
)
TIME_TO_OFFER = Histogram(
    "triage_time_to_offer_seconds",
    "From a melding's commit to the commit of its (first or next) offer, by urgency level.",
    ["level"],
    buckets=_WAIT_BUCKETS,
)
TIME_TO_ACCEPT = Histogram(
    "triage_time_to_accept_seconds",
    "From a melding's commit to a specialist accepting it, by urgency level.",
    ["level"],
    buckets=_WAIT_BUCKETS,
)
FIRST_CONTACTS = Counter(
    "triage_first_contacts_total",
    "First contacts recorded, by gebied, level and whether within the norm (respond_before): "
    "the process indicator 'first contact within 24-72 h' over any period.",
    ["gebied", "level", "in_time"],
)
MILESTONES_DONE = Counter(
    "triage_case_milestones_done_total",
    "Case milestones marked done, by kind and whether by their due date (7/30/100/180 days).",
    ["kind", "in_time"],
)
QUEUE_DEPTH = Gauge(
    "triage_queue_depth",
    "Meldingen waiting for an offer (PostgreSQL's view of the queues), by gebied and level.",
    ["gebied", "level"],
    multiprocess_mode="mostrecent",
)
QUEUE_OLDEST = Gauge(
    "triage_queue_oldest_age_seconds",
    "Age of the oldest melding waiting for an offer, by gebied and level (0 when none).",
    ["gebied", "level"],
    multiprocess_mode="mostrecent",
)
MELDINGEN_AT_RISK = Gauge(
    "triage_meldingen_at_risk",
    "Meldingen without first contact that used most of their window (at_risk_fraction) "
    "and are not yet past it, by gebied and level.",
    ["gebied", "level"],
    multiprocess_mode="mostrecent",
)
MELDINGEN_BREACHED = Gauge(
    "triage_meldingen_breached",
    "Meldingen past their respond_before without first contact, by gebied and level.",
    ["gebied", "level"],
    multiprocess_mode="mostrecent",
)
ON_DUTY = Gauge(
    "triage_specialists_on_duty",
    "People on duty now by the roster (changes included), by gebied (or regio for the "
    "crisis service) and expertise; a person counts once per expertise.",
    ["gebied", "expertise"],
    multiprocess_mode="mostrecent",
)
REVIEW_BACKLOG = Gauge(
    "triage_review_backlog",
    "Possible duplicates waiting for an operator's review (GET /api/v1/reviews).",
    multiprocess_mode="mostrecent",
)
REVIEW_OLDEST = Gauge(
    "triage_review_oldest_age_seconds",
    "Age of the oldest possible duplicate waiting for review (0 when none).",
    multiprocess_mode="mostrecent",
)
COVERAGE = Gauge(
    "triage_gebied_coverage",
    "People who can take a melding of the gebied (its network on duty and the regional "
    "crisis service), now and at the thinnest moment of the next hour (window).",
    ["gebied", "window"],
    multiprocess_mode="mostrecent",
)
OFFERS_EXPIRED = Counter(
    "triage_offers_expired_total", "Offers not answered in time, offered to the next."
)
ESCALATIONS = Counter(
    "triage_escalations_total",
    "Meldingen escalated to the gebied's coordinator: at_risk (most of the window used "
    "without first contact) or breached (the deadline passed).",
    ["kind", "gebied"],
)
ENQUEUE_FAILURES = Counter(
    "triage_enqueue_failures_total",
    "Stored meldingen that could not be queued at once (the reconciler queues them).",
)
INTAKE_RETRIES = Counter(
    "triage_intake_retries_total",
    "Intake decisions made again because a concurrent melding changed the household first.",
)
INTAKE_SHED = Counter(
    "triage_intake_shed_total",
    "Meldingen refused at once (503, nothing stored) because the API process already held "
    "more than it could store within TRIAGE_INTAKE_MAX_WAIT_SECONDS; the source retries.",
)
RETENTION_ERASED = Counter(
    "triage_retention_erased_cases_total",
    "Closed cases whose personal data was erased when the region's retention term ran out.",
)
INVARIANT_REPAIRS = Counter(
    "triage_invariant_repairs_total",
    "Meldingen the watchdog found waiting silently, and put back in line, by what was wrong "
    "(not_queued, offered_without_offer, assigned_without_assignment, escalation_lapsed, "
    "offer_overdue). Any repair is a fault to look into: docs/runbooks/invariant-repair.md.",
    ["kind"],
)
WATCHDOG_LAST_PASS = Gauge(
    "triage_watchdog_last_pass_timestamp_seconds",
    "When a process of this job last checked that every melding is being worked on (the "
    "watchdog, every few seconds, one process of the deployment per pass); 0 in a process "
    "that runs none. Stale: nobody finds a melding that waits silently.",
    multiprocess_mode="max",
)
TIMER_LAST_PASS = Gauge(
    "triage_timer_last_pass_timestamp_seconds",
    "When a worker's timers last completed a step (offers, escalations, deadlines, "
    "milestones, the gauges, ...), by step; 0 until the step first succeeds. Stale: that "
    "step's work is not done, and the gauges it sets no longer move.",
    ["step"],
    multiprocess_mode="max",
)
RECONCILER_REPAIRS = Counter(
    "triage_reconciler_repairs_total", "Queue entries restored from PostgreSQL by the reconciler."
)
HTTP_REQUESTS = Counter(
    "triage_http_requests_total",
    "HTTP requests by route and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "triage_http_request_duration_seconds",
    "HTTP request duration by route and method (the werkvoorraad's GET and the intake's "
    "POST share a route).",
    ["route", "method"],
    buckets=_LATENCY_BUCKETS,
)
RECOGNITION_DURATION = Histogram(
    "triage_intake_recognition_seconds",
    "What household recognition and urgency scoring add to a melding's intake: the blocking "
    "queries, matching and scoring of the batch it was written in (observed per melding).",
    buckets=(0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01,
             0.015, 0.025, 0.05, 0.1, 0.25),
)  # fmt: skip
MILESTONES_OVERDUE = Gauge(
    "triage_case_milestones_overdue",
    "Case milestones (plan 7 d, outreach 30 d, handover 100 d, evaluation 180 d after the "
    "first contact) past their due date and not done, region-wide.",
    ["kind"],
    multiprocess_mode="mostrecent",
)
WEBHOOK_DELIVERIES = Counter(
    "triage_webhook_deliveries_total",
    "Webhook delivery attempts by organisation and outcome: delivered, failed (to be tried "
    "again) or dead (the last attempt failed: a dead letter).",
    ["organisation", "outcome"],
)
WEBHOOK_DEAD_LETTERS = Gauge(
    "triage_webhook_dead_letters",
    "Webhook deliveries that failed every attempt and wait for ops to replay them.",
    ["organisation"],
    multiprocess_mode="mostrecent",
)
WEBHOOK_OVERDUE = Gauge(
    "triage_webhook_delivery_overdue_seconds",
    "How long the oldest webhook delivery due for an attempt has waited for a deliverer "
    "(0 when none waits), read from PostgreSQL by the workers' timers. Minutes: no "
    "deliverer is sending.",
    multiprocess_mode="mostrecent",
)
BREAK_GLASS_READS = Counter(
    "triage_break_glass_reads_total",
    "Reads by a specialist of a melding or case of their gebied that is not their work, "
    "with a stated reason (audited; GET /api/v1/break-glass lists them), by gebied.",
    ["gebied"],
)
AUDIT_APPEND_ONLY = Gauge(
    "triage_audit_append_only",
    "1 when the service's database role may only add to the audit and read it; 0 when it "
    "could change or remove entries (it owns the table, is a superuser, or was granted "
    "more): the log says why, docs/deploy.md, 'Database roles', what to do.",
    multiprocess_mode="min",
)
DEPENDENCY_UP = Gauge(
    "triage_dependency_up",
    "1 when the dependency answered the last readiness check, else 0.",
    ["dependency"],
    multiprocess_mode="mostrecent",
)


_REQUEST_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any]] = {}
#: The methods a label may name; the others HTTP's parser takes (WebDAV's, some thirty)
#: count as "other": a client's PROPFIND or PURGE is no series of its own.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count and time one HTTP request. The labelled children are looked up once per
    (route, method, status), not on every request: this runs on every request."""
    method = method if method in _METHODS else "other"
    key = (route, method, status)
    children = _REQUEST_CHILDREN.get(key)
    if children is None:
        children = (
            HTTP_REQUESTS.labels(route, method, str(status)),
            HTTP_DURATION.labels(route, method),
        )
        _REQUEST_CHILDREN[key] = children
    children[0].inc()
    children[1].observe(seconds)


def render() -> tuple[bytes, str]:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
