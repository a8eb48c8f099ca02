"""Build a pgbench script that runs the intake's own SQL, for a database-only baseline.

The statements are taken from ``src/triage/intake/intake.sql`` at run time and their
parameters replaced by pgbench values, so the baseline cannot drift from the service:
the blocking lookup, then intake_store_batch() (household locks, re-check, all inserts,
blocking keys, audit), two round trips per melding (the service adds a candidate lookup
when a melding has candidates). pgbench cannot batch, so each of its transactions
holds one melding: the figure is the database's one-at-a-time capacity for this work.
"""

from __future__ import annotations

import re

from triage.store.sql import load_queries

_PERSONS = (
    "'["
    '{"role": "slachtoffer", "bsn": "111222333", "voornaam": "Anna", "tussenvoegsel": null, '
    '"achternaam": "Jansen", "geboortedatum": "1990-01-01"}, '
    '{"role": "pleger", "bsn": null, "voornaam": "Bram", "tussenvoegsel": "van", '
    '"achternaam": "Dijk", "geboortedatum": null}'
    "]'::jsonb"
)
_REASONS = """'[{"rule": "signaal.geweld_nu", "text": "Geweld.", "contribution": 40}]'::jsonb"""

# chr(58) is ":": pgbench would take ":PGB" inside a literal for one of its variables.
_KEYS = "jsonb_build_array('a' || chr(58) || 'PGB|' || :n::text, 'b' || chr(58) || :n::text)"
_PROFILE_PERSONS = (
    "'[{"
    '"bsn": "111222333", "first": "anna", "core": "jansen", "born": "1990-01-01", '
    '"fs": "ana", "cs": "jansen"'
    "}]'::jsonb"
)

# One melding as intake_store_batch() reads it (keys as in _payload() of the service).
_MELDING: dict[str, str] = {
    "id": "md5(:n::text || 'm')::uuid", "source": "'politie'", "external_id": "'PGB-' || :n::text",
    "request_hash": "md5(:n::text || 'r')", "received_at": "now()", "kind": "'melding'",
    "category": "'huiselijk_geweld'", "signals": """'["geweld_nu"]'::jsonb""",
    "summary": "'pgbench-melding, fictief'", "postcode": "'5038AB'", "huisnummer": ":hn::integer",
    "toevoeging": "''", "straat": "'Teststraat'", "woonplaats": "'Tilburg'",
    "gebied_hint": "NULL::text", "gebied": "'tilburg'", "address_key": "'PGB|' || :n::text",
    "keys": _KEYS, "new_keys": _KEYS, "expected": "'[]'::jsonb", "new_case": "true",
    "new_household": "true", "previous_case_id": "NULL::uuid",
    "case_id": "md5(:n::text || 'c')::uuid",
    "household_id": "md5(:n::text || 'h')::uuid", "status": "'queued'", "urgency_level": "'acuut'",
    "urgency_score": "60", "urgency_reasons": _REASONS,
    "respond_before": "now() + interval '24 hours'", "callback_required": "false",
    "rules_version": "'pgbench'", "dedup_decision": "'new_case'",
    "dedup_matched_case_id": "NULL::uuid", "dedup_score": "NULL::real",
    "dedup_detail": """'{"method": "pgbench"}'::jsonb""",
    "client_id": "(SELECT id FROM api_clients LIMIT 1)", "user_id": "NULL::uuid",
    "actor_kind": "'client'", "actor_role": "'client'", "persons": _PERSONS,
    "endpoint": "'POST /api/v1/meldingen'", "request_id": "'pgbench'",
    "profile_persons": _PROFILE_PERSONS,
    "profile_recent": "jsonb_build_object('received_at', now(), 'level', 'acuut')",
}  # fmt: skip


def _substitute(sql: str, params: dict[int, str]) -> str:
    return re.sub(r"\$(\d+)", lambda m: params[int(m.group(1))], sql)


def _one_line(sql: str) -> str:
    # pgbench reads one SQL command per line; strip comments and join the lines.
    lines = [line.split("--", 1)[0].rstrip() for line in sql.splitlines()]
    return " ".join(line.strip() for line in lines if line.strip()) + ";"


def build_script() -> str:
    q = load_queries("triage.intake", "intake.sql")
    lookup = _substitute(
        q["cases_by_keys"],
        {1: "ARRAY['a' || chr(58) || 'PGB|' || :n::text, 'b' || chr(58) || :n::text]"},
    )
    melding = ", ".join(f"'{key}', {value}" for key, value in _MELDING.items())
    store = _substitute(
        q["store_batch"],
        {
            1: f"jsonb_build_array(jsonb_build_object({melding}))",
            2: "ARRAY[:lk::integer]",
            3: "now()",
        },
    )
    return "\n".join(
        [
            r"\set n random(1, 9000000000000000)",
            r"\set hn random(1, 999)",
            r"\set lk random(-2147483648, 2147483647)",
            _one_line(lookup),
            _one_line(store),
            "",
        ]
    )


if __name__ == "__main__":
    print(build_script())
