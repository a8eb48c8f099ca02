"""Writes triage.json, the Grafana dashboard: `python deploy/grafana/build.py`.

Kept as code because a dashboard of thirty panels is easier to review as a list of
queries than as 2,000 lines of JSON; the JSON is committed beside it for import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DS = {"type": "prometheus", "uid": "${datasource}"}
GEBIED = 'gebied=~"$gebied"'


def panel(
    title: str,
    exprs: list[tuple[str, str]],
    *,
    unit: str = "short",
    kind: str = "timeseries",
    width: int = 8,
    description: str = "",
) -> dict[str, Any]:
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"w": width, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"datasource": DS, "expr": e, "legendFormat": legend, "refId": chr(65 + i)}
            for i, (e, legend) in enumerate(exprs)
        ],
    }


def row(title: str) -> dict[str, Any]:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"w": 24, "h": 1},
        "panels": [],
    }


def quantile(q: str, metric: str, by: str, match: str = "") -> str:
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{match}}}[5m])))"


def share(metric: str, by: str, match: str) -> str:
    good = f'sum by ({by}) (increase({metric}{{{match},in_time="true"}}[$__range]))'
    every = f"sum by ({by}) (increase({metric}{{{match}}}[$__range]))"
    return f"{good} / {every}"


PANELS = [
    row("Intake"),
    panel(
        "Meldingen stored / s, by source",
        [("sum by (source) (rate(triage_meldingen_stored_total[5m]))", "{{source}}")],
    ),
    panel(
        "Submissions refused / s, by reason",
        [("sum by (reason) (rate(triage_meldingen_rejected_total[5m]))", "{{reason}}")],
    ),
    panel(
        "Intake latency (POST /api/v1/meldingen)",
        [
            (
                quantile(
                    "0.5",
                    "triage_http_request_duration_seconds",
                    "route",
                    'route="/api/v1/meldingen",method="POST"',
                ),
                "p50",
            ),
            (
                quantile(
                    "0.99",
                    "triage_http_request_duration_seconds",
                    "route",
                    'route="/api/v1/meldingen",method="POST"',
                ),
                "p99",
            ),
        ],
        unit="s",
    ),
    panel(
        "Refused past capacity / s (503, nothing stored)",
        [("sum(rate(triage_intake_shed_total[5m]))", "refused")],
        description="Sources retry after Retry-After; if it lasts, add capacity "
        "(docs/deploy.md, 'What saturates first').",
    ),
    panel(
        "Urgency levels / s",
        [("sum by (level) (rate(triage_urgency_levels_total[5m]))", "{{level}}")],
    ),
    panel(
        "Household recognition / s",
        [("sum by (decision) (rate(triage_dedup_decisions_total[5m]))", "{{decision}}")],
    ),
    panel(
        "Possible duplicates waiting for review",
        [
            ("max(triage_review_backlog)", "waiting"),
            ("max(triage_review_oldest_age_seconds) / 3600", "oldest (h)"),
        ],
    ),
    row("Queues and offers"),
    panel(
        "Waiting for an offer, by gebied",
        [
            (
                f"sum by (gebied) (max by (gebied, level) (triage_queue_depth{{{GEBIED}}}))",
                "{{gebied}}",
            )
        ],
    ),
    panel(
        "Oldest waiting, by gebied and level",
        [
            (
                f"max by (gebied, level) (triage_queue_oldest_age_seconds{{{GEBIED}}})",
                "{{gebied}} {{level}}",
            )
        ],
        unit="s",
    ),
    panel(
        "Time to offer, p99 by level",
        [(quantile("0.99", "triage_time_to_offer_seconds", "level"), "{{level}}")],
        unit="s",
    ),
    panel(
        "Time to acceptance, p50 by level",
        [(quantile("0.5", "triage_time_to_accept_seconds", "level"), "{{level}}")],
        unit="s",
    ),
    panel(
        "Offers / s, by how chosen",
        [
            ("sum by (tier) (rate(triage_offers_total[5m]))", "{{tier}}"),
            ("sum(rate(triage_offers_expired_total[5m]))", "not answered in time"),
        ],
    ),
    panel(
        "Meldingen that waited silently, repaired by the watchdog (per hour, by kind)",
        [("sum by (kind) (increase(triage_invariant_repairs_total[1h]))", "{{kind}}")],
        description="Any repair is a fault to look into: docs/runbooks/invariant-repair.md.",
    ),
    panel(
        "Since the last watchdog pass and timer steps",
        [
            ("time() - max(triage_watchdog_last_pass_timestamp_seconds)", "watchdog"),
            ("time() - max by (step) (triage_timer_last_pass_timestamp_seconds)", "{{step}}"),
        ],
        unit="s",
        description="Every 5 s normally; over two minutes pages "
        "(docs/runbooks/dispatch-stopped.md).",
    ),
    panel(
        "Queue repairs and enqueue failures / s",
        [
            ("sum(rate(triage_reconciler_repairs_total[5m]))", "reconciler repairs"),
            ("sum(rate(triage_enqueue_failures_total[5m]))", "enqueue failures"),
        ],
    ),
    row("Deadlines and cover ($gebied)"),
    panel(
        "Meldingen past their deadline",
        [
            (
                f"max by (gebied, level) (triage_meldingen_breached{{{GEBIED}}})",
                "{{gebied}} {{level}}",
            )
        ],
    ),
    panel(
        "Meldingen at risk",
        [
            (
                f"max by (gebied, level) (triage_meldingen_at_risk{{{GEBIED}}})",
                "{{gebied}} {{level}}",
            )
        ],
    ),
    panel(
        "Escalations / h, by kind",
        [(f"sum by (kind) (rate(triage_escalations_total{{{GEBIED}}}[1h])) * 3600", "{{kind}}")],
    ),
    panel(
        "Who can take a melding (gebied's network and crisis service)",
        [
            (
                f'min by (gebied) (triage_gebied_coverage{{{GEBIED},window="now"}})',
                "{{gebied}} now",
            ),
            (
                f'min by (gebied) (triage_gebied_coverage{{{GEBIED},window="next_hour"}})',
                "{{gebied}} thinnest next hour",
            ),
        ],
    ),
    panel(
        "On duty by expertise",
        [(f"max by (expertise) (triage_specialists_on_duty{{{GEBIED}}})", "{{expertise}}")],
    ),
    panel(
        "Case milestones overdue", [("max by (kind) (triage_case_milestones_overdue)", "{{kind}}")]
    ),
    row("Process indicators over the dashboard's period"),
    panel(
        "First contact within the norm, by gebied",
        [(share("triage_first_contacts_total", "gebied", GEBIED), "{{gebied}}")],
        unit="percentunit",
        kind="bargauge",
        description="The 24-72 hour norm (respond_before), of first contacts recorded in "
        "the period. GET /api/v1/kpi and `triage report` give the same per "
        "melding received in a period.",
    ),
    panel(
        "Milestones done in time, by kind",
        [(share("triage_case_milestones_done_total", "kind", 'kind=~".+"'), "{{kind}}")],
        unit="percentunit",
        kind="bargauge",
        description="Plan 7 days, outreach 30, warm handover 100, evaluation 180.",
    ),
    panel(
        "Escalated at risk and past the deadline, share of meldingen",
        [
            (
                'sum(increase(triage_escalations_total{kind="breached"}[$__range])) / '
                'sum(increase(triage_meldingen_stored_total{kind="melding"}[$__range]))',
                "breached",
            ),
            (
                'sum(increase(triage_escalations_total{kind="at_risk"}[$__range])) / '
                'sum(increase(triage_meldingen_stored_total{kind="melding"}[$__range]))',
                "at risk",
            ),
        ],
        unit="percentunit",
        kind="stat",
    ),
    row("Operations"),
    panel(
        "Dependencies up",
        [("min by (dependency) (triage_dependency_up)", "{{dependency}}")],
        kind="stat",
    ),
    panel("Scrape targets up", [('up{job=~"triage.*"}', "{{job}} {{instance}}")], kind="stat"),
    panel(
        "HTTP 5xx / s, by route",
        [('sum by (route) (rate(triage_http_requests_total{status=~"5.."}[5m]))', "{{route}}")],
    ),
    panel(
        "Webhook deliveries / s, by outcome",
        [("sum by (outcome) (rate(triage_webhook_deliveries_total[5m]))", "{{outcome}}")],
    ),
    panel(
        "Webhook delivery waiting longest for a deliverer",
        [("max(triage_webhook_delivery_overdue_seconds)", "waited")],
        unit="s",
        description="Seconds normally; minutes: no deliverer is sending.",
    ),
    panel(
        "Webhook dead letters, by organisation",
        [("max by (organisation) (triage_webhook_dead_letters)", "{{organisation}}")],
    ),
]


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    x = y = 0
    for number, p in enumerate(panels, start=1):
        p["id"] = number
        grid = p["gridPos"]
        if p["type"] == "row" or x + grid["w"] > 24:
            x, y = 0, y + (8 if x else 0)
        grid.update(x=x, y=y)
        if p["type"] == "row":
            y += 1
        else:
            x += grid["w"]
    return panels


def dashboard() -> dict[str, Any]:
    gebied_values = "label_values(triage_queue_depth, gebied)"
    return {
        "title": "triage",
        "uid": "triage-overview",
        "schemaVersion": 39,
        "version": 1,
        "tags": ["triage"],
        "timezone": "Europe/Amsterdam",
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
                {
                    "name": "gebied",
                    "type": "query",
                    "datasource": DS,
                    "query": gebied_values,
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {"text": "All", "value": "$__all"},
                },
            ]
        },
        "panels": layout(PANELS),
    }


if __name__ == "__main__":
    out = Path(__file__).with_name("triage.json")
    out.write_text(json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {out}")
