"""The recognition model learned from meldingen without labels (households/train.py), and
the command that does it for a region."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import date, timedelta
from importlib import resources
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from helpers import TEST_CLOCK, household_name, melding_body, migrated_database
from triage import cli
from triage.app import create_app
from triage.auth.accounts import add_client
from triage.config import Settings
from triage.households.match import Address, Person
from triage.households.model import dump_model, load_model, parse_model
from triage.households.rekey import rekey
from triage.households.train import Record, train
from triage.queue.keys import forget
from triage.runtime import Runtime, open_runtime
from triage.vocabulary import Source
from triage.yamlconfig import ConfigError

_FIRST = [
    "anna",
    "bram",
    "cor",
    "daan",
    "eva",
    "fleur",
    "gijs",
    "hanna",
    "ivo",
    "joris",
    "kim",
    "lars",
    "mila",
    "noor",
    "olaf",
    "pien",
    "ruben",
    "sara",
    "tim",
    "vera",
]
_LETTERS = "ABCDEFGHJKLMNPRTUVWXYZ"


def _records(households: int, seed: int) -> list[Record]:
    """Households of two to four people, each reported two to four times by sources that
    leave out or mistype a field now and then: a region's meldingen in miniature, with
    the case each is in (as the service decided)."""
    rng = random.Random(seed)
    records = []
    for h in range(households):
        surname = "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(4))
        postcode = f"{rng.randint(1000, 9999)}{rng.choice(_LETTERS)}{rng.choice(_LETTERS)}"
        number = rng.randint(1, 300)
        people = [
            (rng.choice(_FIRST), date(1950, 1, 1) + timedelta(days=rng.randrange(25000)),
             f"{rng.randrange(10**9):09d}")
            for _ in range(rng.randint(2, 4))
        ]  # fmt: skip
        for _ in range(rng.randint(2, 4)):
            named = rng.sample(people, k=rng.randint(1, len(people)))
            persons = tuple(
                Person.of(
                    bsn=bsn if rng.random() < 0.5 else None,
                    voornaam=first if rng.random() > 0.1 else first[0],
                    tussenvoegsel=None,
                    achternaam=surname if rng.random() > 0.05 else surname[:-1] + "x",
                    geboortedatum=born if rng.random() < 0.8 else None,
                )
                for first, born, bsn in named
            )  # fmt: skip
            at_home = rng.random() < 0.9
            address = Address(postcode if at_home else None, number if at_home else None,
                              "", "tilburg")  # fmt: skip
            records.append(Record(persons, address, h))
    rng.shuffle(records)
    return records


def _weight(model: Any, field: str, level: str) -> float:
    return float(model.weights().level[field][level])


def test_em_learns_what_agreement_means_from_unlabelled_meldingen() -> None:
    start = load_model()
    records = _records(400, seed=3)
    model, seen = train(records, start, described_as="a test region", now=TEST_CLOCK.now(),
                        random_pairs=20_000)  # fmt: skip
    assert seen.meldingen == len(records)
    assert seen.candidate_pairs > 500
    # Identifiers agreeing are strong evidence, disagreeing surnames evidence against.
    assert _weight(model, "bsn", "exact") > 8
    assert _weight(model, "address", "dwelling") > 8
    assert _weight(model, "born", "exact") > 5
    assert _weight(model, "surname", "different") < 0
    assert 0 < model.prior < 1
    # What people fixed stays as they set it.
    assert _weight(model, "address", "other_unit") == pytest.approx(
        _weight(start, "address", "other_unit")
    )
    # Only names seen at least min_count times are written into the file.
    surnames = model.term_frequencies["surname"]
    assert all(share * sum(len(r.persons) for r in records) >= surnames.min_count - 1e-9
               for share in surnames.names.values())  # fmt: skip
    # Trained twice on the same meldingen with the same seed: the same model.
    again, _ = train(records, start, described_as="a test region", now=TEST_CLOCK.now(),
                     random_pairs=20_000)  # fmt: skip
    assert again.version == model.version
    assert parse_model(dump_model(model), "round trip").model_dump() == model.model_dump()


def test_a_field_the_region_never_sends_keeps_what_the_start_model_knows() -> None:
    """Sources that never send a BSN teach nothing about it: trained on them, a BSN that
    matches must still weigh what it weighed (it was +0.9 once: u estimated as an even
    split of nothing)."""
    start = load_model()
    records = [
        Record(tuple(replace(p, bsn=None) for p in r.persons), r.address, r.case)
        for r in _records(300, seed=5)
    ]
    model, _ = train(records, start, described_as="a region without BSNs",
                     now=TEST_CLOCK.now(), random_pairs=20_000)  # fmt: skip
    for level in ("exact", "different"):
        assert _weight(model, "bsn", level) == pytest.approx(_weight(start, "bsn", level))
    assert _weight(model, "born", "exact") != pytest.approx(_weight(start, "born", "exact"))


def test_a_model_file_missing_a_level_is_refused_with_its_place() -> None:
    body = load_model().model_dump(mode="json")
    del body["fields"]["born"]["swapped"]
    with pytest.raises(ConfigError) as refused:
        parse_model(orjson.dumps(body), "region-model.json")
    assert "fields.born" in str(refused.value)
    assert "swapped" in str(refused.value)


async def test_the_command_refuses_too_few_meldingen_and_audits_its_read(
    servers: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    async with migrated_database(servers["admin_url"], "triage_train") as url:
        monkeypatch.setenv("TRIAGE_DATABASE_URL", url)
        monkeypatch.setattr(cli, "configure_logging", lambda *_, **__: None)
        out = tmp_path / "model.json"
        # main() runs its own event loop: in a thread of its own here.
        code = await asyncio.to_thread(cli.main, ["recognition", "train", "--out", str(out)])
        assert code == 2
        assert "at least 500 are needed" in capsys.readouterr().err
        assert not out.exists()
        conn = await asyncpg.connect(url)
        try:
            audited = await conn.fetchval(
                "SELECT detail->>'meldingen' FROM audit_log WHERE action = 'recognition.train'"
            )
        finally:
            await conn.close()
        assert audited == "0"
        described = await asyncio.to_thread(cli.main, ["recognition", "describe"])
        assert described == 0
        assert "address  dwelling" in capsys.readouterr().out


async def test_cases_that_exist_get_the_new_keys_from_the_migrations_and_rekey(
    servers: dict[str, str], settings: Settings, redis_url: str
) -> None:
    """0032, 0033, 0039, 0040 and 0041 give existing cases the keys SQL can make (0033
    also takes away the kinds no longer used; 0040 shortens p: and makes m: and w: again;
    0041 shortens f:, m: and d:, adds d: with the first name's letter, q: and u:, and
    takes g: away);
    ``rekey`` makes every key again from the meldingen, the street's sound too. In a
    database of its own: rekey rebuilds every case there is."""
    async with migrated_database(servers["admin_url"], "triage_rekey") as url:
        conn = await asyncpg.connect(url)
        token = (await add_client(conn, "rekey-test", Source.politie, TEST_CLOCK.now())).token
        await conn.close()
        own = settings.model_copy(update={"redis_prefix": f"{settings.redis_prefix}-rekey"})
        runtime = await open_runtime(own, url, redis_url, clock=TEST_CLOCK)
        try:
            app = create_app(runtime, background=False)
            app.cleanup_ctx.clear()  # the runtime outlives the app: closed below
            async with TestClient(TestServer(app)) as client:
                await _migrated_and_rekeyed(client, runtime, token)
        finally:
            await forget(runtime.redis, runtime.keys)
            await runtime.close()


async def _migrated_and_rekeyed(client: Any, runtime: Runtime, token: str) -> None:
    person = {"role": "slachtoffer", "voornaam": "Fenna", "achternaam": household_name(),
              "geboortedatum": "1984-05-06"}  # fmt: skip
    at_home = melding_body(persons=[person])
    # Accents folded off and apostrophes left out, in Python as in the migration's SQL.
    at_home["address"] |= {"straat": "Élisabethstraat", "woonplaats": "Wâlterswâld"}
    bodies = [at_home,
              melding_body(persons=[{**person, "voornaam": "Jet", "geboortedatum": "1986-07-08"}],
                           address={"woonplaats": " \u2019s-Hertogenbosch"})]  # fmt: skip
    # Someone without a birth date (u:), someone known by an initial, someone without a
    # surname: what SQL and Python make of them is compared below, not counted here.
    other = household_name()
    undated = melding_body(persons=[
        {"role": "pleger", "voornaam": "Mirte", "achternaam": other},
        {"role": "kind", "voornaam": "S.", "achternaam": other, "geboortedatum": "2015-01-02"},
        {"role": "melder", "voornaam": "Rikske", "geboortedatum": "1950-03-04"},
    ])  # fmt: skip
    undated["address"] |= {"woonplaats": "Den Haag"}
    for body in [*bodies, undated]:
        resp = await client.post("/api/v1/meldingen", json=body,
                                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert resp.status == 201, await resp.text()
    keys = "SELECT key FROM match_keys ORDER BY key"
    written = [r["key"] for r in await runtime.pool.fetch(keys)]
    undated_case = await runtime.pool.fetchval(
        "SELECT case_id FROM meldingen WHERE external_id = $1", undated["external_id"]
    )
    theirs = {r["key"] for r in await runtime.pool.fetch(
        "SELECT key FROM match_keys WHERE case_id = $1", undated_case
    )}  # fmt: skip
    assert "u" in {k[0] for k in theirs}
    ours = [k for k in written if k not in theirs]  # the two meldingen about Fenna's
    kinds = [k[0] for k in ours]
    # a (dwelling), s and t (street), b none, n, f, m (the names in the town) and d (the
    # birth date in the town) per person, p and q (names at the postcode), w once (the
    # surname in the town, without an address). Nobody without a birth date: no u.
    assert sorted(k for k in kinds if k != "d") == [
        "a", "f", "f", "m", "m", "n", "n", "p", "q", "s", "t", "w"
    ], ours  # fmt: skip
    # d: with each name's first letter (one key where the two letters are the same).
    # Letters only ("Den Haag" and "Denhaag" are one place); the first four in m: and d:
    # (a typo later in the town's name is the same key).
    surname = person["achternaam"][0].lower()
    assert {k for k in ours if k.startswith("d:")} == {
        f"d:1984-05-06|walt|{surname}", "d:1984-05-06|walt|f",
        f"d:1986-07-08|sher|{surname}", "d:1986-07-08|sher|j",
    }  # fmt: skip
    assert any(k.endswith("|shertogenbosch") for k in ours if k.startswith("w:"))
    assert any(k.endswith("|sher") for k in ours if k.startswith("m:"))
    assert any(k.endswith("|walt") for k in ours if k.startswith("m:"))
    home = at_home["address"]
    assert [k for k in written if k.startswith("t:")] == [
        f"t:{home['postcode'][:4]}|{home['huisnummer']}|el"  # the street's first letters
    ]
    # Cases from before the migrations: the keys of the kinds they added missing (f, g
    # by 0032; w by 0033; m by 0039; d and t by 0040; q, u by 0041; s by rekey), p: with
    # all of the surname's sound as before 0040, and kinds since taken away present (y:,
    # and g: which 0041 takes away).
    await runtime.pool.execute("DELETE FROM match_keys WHERE key ~ '^[fgswmdtqu]:'")
    await runtime.pool.execute("UPDATE match_keys SET key = key || 'sen' WHERE key LIKE 'p:%'")
    await runtime.pool.execute(
        "INSERT INTO match_keys (key, case_id, household_id, open) "
        "SELECT 'y:' || substr(key, 3, length(key) - 8), case_id, household_id, open "
        "FROM match_keys WHERE key LIKE 'n:%'"
    )
    for migration in (
        "0032_recognition_keys.sql",
        "0033_recognition_place_key.sql",
        "0039_recognition_name_keys.sql",
        "0040_recognition_typo_keys.sql",
        "0041_recognition_prefix_keys.sql",
    ):
        sql = resources.files("triage.store.migrations").joinpath(migration)
        await runtime.pool.execute(sql.read_text("utf-8"))
    migrated = [r["key"] for r in await runtime.pool.fetch(keys)]
    assert migrated == [k for k in written if not k.startswith("s:")]  # no sound in SQL
    async with runtime.pool.acquire() as conn:
        assert await rekey(conn, TEST_CLOCK.now(), page=1) == 3
        audited = await conn.fetchval(
            "SELECT detail->>'cases' FROM audit_log WHERE action = 'recognition.rekey'"
        )
    assert [r["key"] for r in await runtime.pool.fetch(keys)] == written
    assert audited == "3"
