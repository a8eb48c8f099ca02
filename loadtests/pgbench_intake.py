"""Build a pgbench script that runs the intake's own SQL, for a database-only baseline.

The statements are taken from ``src/triage/intake/intake.sql`` at run time and their
parameters replaced by pgbench variables, so the baseline cannot drift from the service:
BEGIN with the household lock, the open-case lookup, the one-statement store, COMMIT.
"""

from __future__ import annotations

import re

from triage.store.sql import load_queries

_PERSON_ARRAYS = {
    36: "ARRAY[md5(:n || 'p1')::uuid, md5(:n || 'p2')::uuid]",
    37: "ARRAY['slachtoffer', 'pleger']",
    38: "ARRAY['111222333', NULL]",
    39: "ARRAY['Anna', 'Bram']",
    40: "ARRAY[NULL, 'van']",
    41: "ARRAY['Jansen', 'Dijk']",
    42: "ARRAY['1990-01-01'::date, NULL]",
}
_PARAMS: dict[int, str] = {
    1: "md5(:n || 'm')::uuid", 2: "'politie'", 3: "'PGB-' || :n",
    4: "decode(md5(:n || 'r'), 'hex')", 5: "now()", 6: "'melding'", 7: "'huiselijk_geweld'",
    8: "ARRAY['geweld_nu']", 9: "'pgbench-melding, fictief'", 10: "'5038AB'", 11: ":hn",
    12: "''", 13: "'Teststraat'", 14: "'Tilburg'", 15: "NULL", 16: "'tilburg'",
    17: "md5(:n || 'h')::uuid", 18: "md5(:n || 'c')::uuid", 19: "true",
    20: "'PGB|' || :n", 21: "'queued'", 22: "'acuut'", 23: "60",
    24: """'[{"rule": "signaal.geweld_nu", "text": "Geweld.", "contribution": 40}]'::jsonb""",
    25: "now() + interval '24 hours'", 26: "false", 27: "'pgbench'", 28: "'new_case'",
    29: "NULL::uuid", 30: "NULL::real", 31: """'{"method": "pgbench"}'::jsonb""",
    32: "(SELECT id FROM api_clients LIMIT 1)", 33: "NULL::uuid", 34: "'client'",
    35: "now()", 43: "'client'", 44: "'POST /api/v1/meldingen'", 45: "'pgbench'",
    **_PERSON_ARRAYS,
}  # fmt: skip


def _substitute(sql: str, params: dict[int, str]) -> str:
    return re.sub(r"\$(\d+)", lambda m: params[int(m.group(1))], sql)


def _one_line(sql: str) -> str:
    # pgbench reads one SQL command per line unless continued; strip comments and join.
    lines = [line.split("--", 1)[0].rstrip() for line in sql.splitlines()]
    return " ".join(line.strip() for line in lines if line.strip()) + ";"


def build_script() -> str:
    q = load_queries("triage.intake", "intake.sql")
    lookup = _substitute(q["open_case_by_address"], {1: "'PGB|' || :n"})
    store = _substitute(q["store_melding"], _PARAMS)
    return "\n".join(
        [
            r"\set n random(1, 9000000000000000)",
            r"\set lk random(-2147483648, 2147483647)",
            r"\set hn random(1, 999)",
            # One round trip, as the service sends it (\; makes a compound statement).
            r"BEGIN \; SELECT pg_advisory_xact_lock(1, :lk);",
            _one_line(lookup),
            _one_line(store),
            "COMMIT;",
            "",
        ]
    )


if __name__ == "__main__":
    print(build_script())
