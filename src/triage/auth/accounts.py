"""Creating and disabling API clients and users (the ``triage clients`` / ``users`` commands)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg
import structlog

from triage.auth import sessions
from triage.auth.passwords import WeakPassword, hash_password
from triage.auth.principal import Principal, person
from triage.auth.tokens import hash_token, new_token
from triage.ids import uuid7
from triage.region import REGIONAL_POOL
from triage.routing.network import NetworkConfig
from triage.store.sql import load_queries
from triage.vocabulary import Source, UserRole

_Q = load_queries("triage.auth", "auth.sql")
log = structlog.get_logger(__name__)
#: How long a person's API token is valid unless said otherwise (``--expires``).
USER_TOKEN_DAYS = 30


#: What the console says when a specialist or coordinator is given no gebied.
ONE_GEBIED = "een specialist of coördinator werkt in één gebied"


#: A username is what a person types to log in and what the network file names them by:
#: 1 to 64 printable characters without spaces (one with a space inside reads as two).
USERNAME_RULE = ("1 to 64 printable characters, no spaces",
                 "1 tot 64 leesbare tekens, zonder spaties")  # fmt: skip
#: A display name is shown on every page that names the person.
DISPLAY_NAME_RULE = ("at most 100 printable characters", "hoogstens 100 leesbare tekens")


def valid_username(username: str) -> bool:
    return (1 <= len(username) <= 64 and username.isprintable()
            and not any(c.isspace() for c in username))  # fmt: skip


def valid_display_name(display_name: str) -> bool:
    return len(display_name) <= 100 and display_name.isprintable()


class AccountError(Exception):
    """An account that cannot be made or changed: the English for the command line, the
    Dutch (``tekst``) for the console's admin page, and the HTTP status it is there: 422
    for what was typed wrong, 404 for nobody of that name, 409 for a clash with what
    exists (a name taken, the network file)."""

    def __init__(self, detail: str, tekst: str = "", *, status: int = 409) -> None:
        super().__init__(detail)
        self.tekst = tekst
        self.status = status


@dataclass(frozen=True)
class IssuedToken:
    id: UUID
    name: str
    token: str | None  # None: a person who logs in with a password
    expires_at: datetime | None = None  # a person's; a source system's does not expire


async def add_client(
    conn: asyncpg.Connection, name: str, source: Source, now: datetime
) -> IssuedToken:
    token = new_token()
    client_id = uuid7()
    try:
        await conn.execute(
            _Q["insert_client"], client_id, name, source.value, hash_token(token), now
        )
    except asyncpg.UniqueViolationError as exc:
        raise AccountError(
            f'an API client named "{name}" exists; use "triage clients rotate {name}" '
            "for a new token",
            "er is al een bronsysteem met deze naam; geef het daar een nieuw token",
        ) from exc
    return IssuedToken(client_id, name, token)


async def rotate_client(conn: asyncpg.Connection, name: str) -> IssuedToken:
    token = new_token()
    client_id = await conn.fetchval(_Q["rotate_client_token"], name, hash_token(token))
    if client_id is None:
        raise AccountError(f'no API client named "{name}"', "geen bronsysteem met deze naam",
                           status=404)  # fmt: skip
    return IssuedToken(client_id, name, token)


async def add_user(
    conn: asyncpg.Connection,
    username: str,
    role: UserRole,
    now: datetime,
    *,
    display_name: str | None = None,
    gebied: str | None = None,
    valid_for: timedelta = timedelta(days=USER_TOKEN_DAYS),
    password: str | None = None,
) -> IssuedToken:
    """Create the user, or update it when it exists. With ``password`` it logs in with
    that (its token, if it has one, stays as it is); without, it gets a new token that
    expires after ``valid_for``."""
    if not valid_username(username):
        raise AccountError(f"a username has {USERNAME_RULE[0]}",
                           f"een gebruikersnaam heeft {USERNAME_RULE[1]}",
                           status=422)  # fmt: skip
    if display_name is not None and not valid_display_name(display_name):
        raise AccountError(f"a display name has {DISPLAY_NAME_RULE[0]}",
                           f"een weergavenaam heeft {DISPLAY_NAME_RULE[1]}",
                           status=422)  # fmt: skip
    if role in (UserRole.specialist, UserRole.coordinator) and gebied is None:
        raise AccountError(
            f"a {role.value} works in one gebied: give --gebied",
            f"{ONE_GEBIED}: kies het gebied",
            status=422,
        )
    try:
        password_hash = None if password is None else await hash_password(password)
    except WeakPassword as exc:
        raise AccountError(str(exc), exc.tekst, status=422) from None
    token = new_token() if password is None else None
    expires_at = now + valid_for
    user_id = await conn.fetchval(
        _Q["upsert_user"],
        uuid7(),
        username,
        display_name or username,
        role.value,
        gebied,
        hash_token(token) if token else None,
        now,
        expires_at if token else None,
        password_hash,
    )
    return IssuedToken(user_id, username, token, expires_at if token else None)


async def renew_user(
    conn: asyncpg.Connection, username: str, now: datetime, *, password: str | None = None
) -> IssuedToken:
    """A new way in for a person who lost theirs (or whose token was exposed): the
    ``password`` given, else a new token (the old one stops); enabled again, and every
    session they had ends. Refused for a person of the identity provider."""
    try:
        password_hash = None if password is None else await hash_password(password)
    except WeakPassword as exc:
        raise AccountError(str(exc), exc.tekst, status=422) from None
    token = new_token() if password is None else None
    expires_at = now + timedelta(days=USER_TOKEN_DAYS)
    user_id = await conn.fetchval(_Q["renew_user"], username,
                                  hash_token(token) if token else None, expires_at,
                                  password_hash)  # fmt: skip
    if user_id is None:
        raise AccountError(f'no user named "{username}" that logs in here (one of the '
                           "identity provider logs in there)",
                           "geen gebruiker met deze naam die hier inlogt (wie via de "
                           "identiteitsprovider inlogt, doet dat daar)", status=404)  # fmt: skip
    await sessions.end_all(conn, user_id, now)
    return IssuedToken(user_id, username, token, expires_at if token else None)


async def disable_client(conn: asyncpg.Connection, name: str, now: datetime) -> None:
    if await conn.fetchval(_Q["disable_client"], name, now) is None:
        raise AccountError(
            f'no active API client named "{name}"',
            "geen actief bronsysteem met deze naam",
            status=404,
        )


async def disable_user(conn: asyncpg.Connection, username: str, now: datetime) -> None:
    if await conn.fetchval(_Q["disable_user"], username, now) is None:
        raise AccountError(
            f'no active user named "{username}"',
            "geen actieve gebruiker met deze naam",
            status=404,
        )


def check_network(
    network: NetworkConfig, username: str, role: UserRole, gebied: str | None
) -> None:
    """A gebied's specialist or coordinator works there by the network file: routing
    offers to them by its rosters, and need-to-know follows it. An account for someone
    who is not in it would read the gebied's cases and never be offered one. Nor does
    an account of another role that an admin makes take the id of someone the file
    names: offers, events and "their work" go to that name. The same rules hold for an
    account made on the command line and, for a network role, one that the identity
    provider's claims make (auth/oidc.py)."""
    known = [*network.networks, REGIONAL_POOL]
    if gebied is not None and gebied not in known:
        raise AccountError(
            f"unknown gebied; known: {', '.join(known)}",
            f"onbekend gebied; kies uit {', '.join(known)}",
            status=422,
        )
    if role not in (UserRole.specialist, UserRole.coordinator):
        if username in network.by_id:
            raise AccountError(
                f'"{username}" is someone of the network file, whose offers and events go '
                f"to this name; give the {role.value} account another name",
                "deze naam is die van iemand uit het netwerkbestand (diens aanbod en "
                "meldingen gaan naar deze naam); kies een andere naam",
            )
        return
    if gebied is None:  # refused by the caller's own check, which says how to give it
        return
    team = network.network_of(gebied)
    members = list(team.members) if team is not None else []
    coordinators = list(team.coordinators) if team is not None else []
    # A coordinator reads all of the gebied without a reason: only whom the file names so.
    if role == UserRole.coordinator:
        people = coordinators
        where, waar = f"among the coordinators of {gebied}", f"bij de coördinatoren van {gebied}"
    else:
        people = [*members, *coordinators]
        where, waar = f"in the network of {gebied}", f"in het netwerk van {gebied}"
    if username not in people:
        raise AccountError(
            f'"{username}" is not {where} in the network file; add them there (with their '
            "roster) first, then make their account with the same id",
            f"deze persoon staat niet {waar} in het netwerkbestand; zet hem of haar daar "
            "eerst in (met rooster), maak dan het account met dezelfde id",
        )


async def provider_person(
    pool: asyncpg.Pool,
    subject: str,
    *,
    username: str,
    role: UserRole,
    gebied: str | None,
    issued_at: datetime,
    now: datetime,
    network: NetworkConfig,
    audit: sessions.Audit,
) -> Principal | None:
    """The account of a person whom the identity provider vouches for, made at their
    first login. Its username stays that of the first login: a name changed at the
    provider (where people may be able to change it themselves) takes over nobody's
    account or place in the network file. Role and gebied follow the provider's claims,
    the newest issued ones only: an older token, still valid, cannot set back what a
    newer one said. A change ends the person's sessions and is audited (``audit``:
    endpoint, request id, origin). None: the account is disabled here, which wins over
    the provider at once."""
    row = await pool.fetchrow(_Q["provider_user"], subject)
    if row is not None and row["username"] != username:
        log.warning("oidc_username_differs", user_id=str(row["id"]))
    known = username if row is None else row["username"]
    # Only a network role's gebied is checked: the provider vouches for who someone is,
    # and a coordinator it moves to the desk keeps their name.
    if gebied is not None:
        check_network(network, known, role, gebied)
    if row is None or (row["role"], row["gebied"]) != (role.value, gebied):
        async with pool.acquire() as conn, conn.transaction():
            try:
                changed = await conn.fetchrow(
                    _Q["upsert_provider_user"], uuid7(), username, role.value, gebied, now,
                    subject, issued_at,
                )  # fmt: skip
            except asyncpg.UniqueViolationError:
                raise AccountError(
                    f'the username "{username}" belongs to another account of this '
                    "service; an admin renames or disables that one first",
                    "deze gebruikersnaam hoort bij een ander account van deze dienst; een "
                    "beheerder hernoemt of schakelt dat eerst uit",
                ) from None
            if changed is None:  # older claims than the account's: it keeps the newer
                row = await conn.fetchrow(_Q["provider_user"], subject)
            else:
                if row is not None:
                    await sessions.end_all(conn, changed["id"], now)
                    await sessions.audited(conn, now, changed["id"], "account.provider_change",
                                           audit)  # fmt: skip
                row = changed
    assert row is not None
    if row["disabled_at"] is not None:
        return None
    return person(row)


async def listed_users(conn: asyncpg.Connection, now: datetime) -> list[asyncpg.Record]:
    """Every account, how it logs in (password, token, identity provider); no secrets."""
    return list(await conn.fetch(_Q["list_users"], now))


async def listed_clients(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await conn.fetch(_Q["list_clients"]))


async def user_exists(conn: asyncpg.Connection, username: str) -> bool:
    return bool(await conn.fetchval(_Q["user_exists"], username))


async def audit_change(
    conn: asyncpg.Connection, actor: Principal, action: str, whom: dict[str, str], *,
    now: datetime, endpoint: str, request_id: str,
) -> None:  # fmt: skip
    """An account made, disabled or given a new token by an admin, in the audit log."""
    await conn.execute(_Q["audit_account"], now, actor.id, actor.role, action, whom, endpoint,
                       request_id)  # fmt: skip
