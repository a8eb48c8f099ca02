"""Beheer: the admin's accounts (people and source systems) and ops' webhook deliveries.

The same functions as ``triage users``/``triage clients`` on the command line, and the
dead-letter replay of the API; a change made here is audited with the admin who made it
(the command line is for those who run the database, and is not). A new token is shown
once, on the answer to the form that made it, and never stored but as its digest.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from triage.api import handlers as h
from triage.api.keys import PRINCIPAL, RUNTIME
from triage.auth import accounts
from triage.auth.principal import Principal
from triage.console.pages import form_fields, parsed, see_other
from triage.console.render import page
from triage.notify import webhooks
from triage.problems import FieldError, Problem, conflict, forbidden, invalid
from triage.problems_nl import said
from triage.request_body import ID_MAX
from triage.vocabulary import Source, UserRole

U = UserRole


async def _page(request: web.Request, *, status: int = 200, error: str | None = None,
                issued: dict[str, str] | None = None,
                given: dict[str, str] | None = None) -> web.Response:  # fmt: skip
    runtime = request.app[RUNTIME]
    me: Principal = request[PRINCIPAL]
    admin = me.role == U.admin
    async with h.connection(request) as conn:
        users = await accounts.listed_users(conn, runtime.clock.now()) if admin else []
        clients = await accounts.listed_clients(conn) if admin else []
        hooks = await webhooks.listed(conn)
        dead = await webhooks.dead_letters(conn, me, None, 50)
    return page(
        request, "beheer.html", status, echo=given is None, admin=admin, users=users,
        clients=clients, hooks=hooks, dead=dead.dead_letters, error=error, issued=issued,
        given=given or {}, roles=list(UserRole), sources=list(Source),
        gebieden=[*runtime.region.gebied_codes, "regio"],
    )  # fmt: skip


async def get_beheer(request: web.Request) -> web.Response:
    return await _page(request)


def _admin(request: web.Request) -> Principal:
    me: Principal = request[PRINCIPAL]
    if me.role != U.admin:
        raise forbidden("accounts are managed by the admin")
    return me


async def _audit(request: web.Request, action: str, whom: dict[str, str], conn: Any) -> None:
    await accounts.audit_change(conn, request[PRINCIPAL], action, whom,
                                **h.request_context(request))  # fmt: skip


async def _account_change(
    request: web.Request, change: Any, done: str, given: dict[str, str] | None = None
) -> web.Response:
    """Run an account change; its answer is a page (a token is shown once), or a refusal
    with the form as it was filled in (``given``; never a password)."""
    try:
        async with h.connection(request) as conn, conn.transaction():
            issued = await change(conn)
    except accounts.AccountError as exc:
        return await _page(request, status=exc.status, error=exc.tekst or str(exc), given=given)
    except Problem as problem:
        if problem.status >= 500:
            raise
        return await _page(request, status=problem.status, error=said(problem), given=given)
    if issued is not None:
        return await _page(request, issued=issued)
    return see_other(f"/beheer?gedaan={done}")


async def post_add_user(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    _admin(request)
    fields = await form_fields(request)

    async def change(conn: Any) -> dict[str, str] | None:
        username = fields.get("username", "").strip()
        role_code = fields.get("role", "")
        display_name = fields.get("display_name", "").strip() or None
        if not accounts.valid_username(username):
            raise invalid([FieldError("/username", *accounts.USERNAME_RULE)])
        if display_name is not None and not accounts.valid_display_name(display_name):
            raise invalid([FieldError("/display_name", *accounts.DISPLAY_NAME_RULE)])
        if role_code not in list(UserRole):
            raise invalid(
                [FieldError("/role", "one of " + ", ".join(UserRole), "kies een rol uit de lijst")]
            )
        role = UserRole(role_code)
        gebied = fields.get("gebied") or None
        if role in (U.specialist, U.coordinator):
            if gebied is None:
                raise invalid([FieldError(
                    "/gebied", f"a {role.value} works in one gebied", accounts.ONE_GEBIED
                )])  # fmt: skip
        else:
            gebied = None
        accounts.check_network(runtime.network, username, role, gebied)
        if await accounts.user_exists(conn, username):
            raise conflict(
                f'a user named "{username}" exists; disable it, or choose another',
                "er is al een gebruiker met deze naam; schakel die uit of kies een andere naam",
            )
        password = fields.get("password") or None
        issued = await accounts.add_user(
            conn, username, role, runtime.clock.now(), gebied=gebied, password=password,
            display_name=display_name,
        )  # fmt: skip
        await _audit(request, "account.create", {"username": username, "role": role.value},
                     conn)  # fmt: skip
        if issued.token is None:
            return None
        return {"what": f"token van {username}", "token": issued.token}

    kept = {k: fields.get(k, "") for k in ("username", "display_name", "role", "gebied")}
    return await _account_change(request, change, "gebruiker+aangemaakt", kept)


async def post_disable_user(request: web.Request) -> web.Response:
    me = _admin(request)
    fields = await form_fields(request)
    username = fields.get("username", "")
    if username == me.name:  # one click would lock the only admin at hand out
        return await _page(request, status=409, error="Je kunt je eigen account niet "
                           "uitschakelen; laat een andere beheerder dat doen.")  # fmt: skip

    async def change(conn: Any) -> None:
        await accounts.disable_user(conn, username, request.app[RUNTIME].clock.now())
        await _audit(request, "account.disable", {"username": username}, conn)

    return await _account_change(request, change, "gebruiker+uitgeschakeld")


async def post_renew_user(request: web.Request) -> web.Response:
    """A person's way in made new: the password typed, else a new token shown once."""
    _admin(request)
    fields = await form_fields(request)
    username = fields.get("username", "")

    async def change(conn: Any) -> dict[str, str] | None:
        issued = await accounts.renew_user(conn, username, request.app[RUNTIME].clock.now(),
                                           password=fields.get("password") or None)  # fmt: skip
        how = "token" if issued.token else "password"
        await _audit(request, "account.renew", {"username": username, "way_in": how}, conn)
        if issued.token is None:
            return None
        return {"what": f"nieuw token van {username}", "token": issued.token}

    return await _account_change(request, change, "toegang+vernieuwd")


async def post_add_client(request: web.Request) -> web.Response:
    _admin(request)
    fields = await form_fields(request)

    async def change(conn: Any) -> dict[str, str]:
        name = fields.get("name", "").strip()
        if not name or len(name) > 64 or not name.isprintable():
            raise invalid(
                [FieldError("/name", "1 to 64 printable characters", "1 tot 64 leesbare tekens")]
            )
        if fields.get("source") not in list(Source):
            raise invalid(
                [FieldError("/source", "one of " + ", ".join(Source), "kies een bron uit de lijst")]
            )
        issued = await accounts.add_client(conn, name, Source(fields["source"]),
                                           request.app[RUNTIME].clock.now())  # fmt: skip
        await _audit(request, "client.create", {"client": name}, conn)
        assert issued.token is not None
        return {"what": f"token van {name}", "token": issued.token}

    return await _account_change(request, change, "bron+aangemaakt")


async def post_rotate_client(request: web.Request) -> web.Response:
    _admin(request)
    fields = await form_fields(request)
    name = fields.get("name", "")

    async def change(conn: Any) -> dict[str, str]:
        issued = await accounts.rotate_client(conn, name)
        await _audit(request, "client.rotate", {"client": name}, conn)
        assert issued.token is not None
        return {"what": f"nieuwe token van {name} (de oude werkt niet meer)", "token": issued.token}

    return await _account_change(request, change, "token+vernieuwd")


async def post_disable_client(request: web.Request) -> web.Response:
    _admin(request)
    fields = await form_fields(request)
    name = fields.get("name", "")

    async def change(conn: Any) -> None:
        await accounts.disable_client(conn, name, request.app[RUNTIME].clock.now())
        await _audit(request, "client.disable", {"client": name}, conn)

    return await _account_change(request, change, "bron+uitgeschakeld")


async def post_replay(request: web.Request) -> web.Response:
    fields = await form_fields(request)
    try:
        webhook = h.whole_number(fields.get("webhook_id", ""), "webhook_id", most=ID_MAX)
        body = parsed(webhooks.ReplayIn, {"webhook_id": webhook})
        async with h.connection(request) as conn:
            await webhooks.replay(conn, body, request[PRINCIPAL],
                                  **h.request_context(request))  # fmt: skip
    except Problem as problem:
        return await _page(request, status=problem.status, error=said(problem))
    return see_other("/beheer?gedaan=opnieuw+verstuurd")
