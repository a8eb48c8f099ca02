"""Build a pgbench script that runs the intake's own SQL, for a database-only baseline.

The statements are taken from ``src/triage/intake/intake.sql`` at run time and their
parameters replaced by pgbench values, so the baseline cannot drift from the service:
the open-case lookup, then intake_store() (household lock, re-check, all inserts, audit),
two round trips as the service makes them.
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

# intake_store() parameters, in order (src/triage/intake/intake_functions.sql).
_PARAMS: dict[int, str] = {
    1: "md5(:n || 'm')::uuid", 2: "'politie'", 3: "'PGB-' || :n",
    4: "decode(md5(:n || 'r'), 'hex')", 5: "now()", 6: "'melding'", 7: "'huiselijk_geweld'",
    8: "ARRAY['geweld_nu']", 9: "'pgbench-melding, fictief'", 10: "'5038AB'", 11: ":hn",
    12: "''", 13: "'Teststraat'", 14: "'Tilburg'", 15: "NULL", 16: "'tilburg'",
    17: "'PGB|' || :n", 18: "NULL::uuid", 19: "md5(:n || 'c')::uuid",
    20: "md5(:n || 'h')::uuid", 21: "'queued'", 22: "'acuut'", 23: "60::smallint",
    24: _REASONS, 25: "now() + interval '24 hours'", 26: "false", 27: "'pgbench'",
    28: "'new_case'", 29: "NULL::uuid", 30: "NULL::real", 31: """'{"method": "pgbench"}'::jsonb""",
    32: "(SELECT id FROM api_clients LIMIT 1)", 33: "NULL::uuid", 34: "'client'",
    35: "'client'", 36: "now()", 37: _PERSONS, 38: "'POST /api/v1/meldingen'",
    39: "'pgbench'",
}  # fmt: skip


def _substitute(sql: str, params: dict[int, str]) -> str:
    return re.sub(r"\$(\d+)", lambda m: params[int(m.group(1))], sql)


def _one_line(sql: str) -> str:
    # pgbench reads one SQL command per line; strip comments and join the lines.
    lines = [line.split("--", 1)[0].rstrip() for line in sql.splitlines()]
    return " ".join(line.strip() for line in lines if line.strip()) + ";"


def build_script() -> str:
    q = load_queries("triage.intake", "intake.sql")
    lookup = _substitute(q["open_case_by_address"], {1: "'PGB|' || :n"})
    store = _substitute(q["store_melding"], _PARAMS)
    return "\n".join(
        [
            r"\set n random(1, 9000000000000000)",
            r"\set hn random(1, 999)",
            _one_line(lookup),
            _one_line(store),
            "",
        ]
    )


if __name__ == "__main__":
    print(build_script())
