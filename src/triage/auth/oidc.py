"""People log in through the region's identity provider: OpenID Connect.

Two ways in, one account each:

- **In a browser**, the Authorization Code flow with PKCE (S256), a state and a nonce.
  ``GET /auth/oidc/login`` puts the three in a cookie of the browser that starts the
  login (nothing is stored here: a flood of login starts costs the service nothing) and
  sends the person to the provider; it sends them back to ``GET /auth/oidc/callback``,
  which takes the state only from that browser's cookie, exchanges the code with the
  verifier, checks the ID token, and starts a session as a password does
  (auth/sessions.py). A code is good once, at the provider.
- **From a script or another system acting for a person**, ``Authorization: Bearer``
  with a JWT that the provider signed for this service's audience, checked against the
  provider's published keys (JWKS) on every request.

The provider's claims say who the person is: a username, a role (a claim's values mapped
to this service's roles by configuration) and, for a gebied's network, the gebied.
Every such person has an account here all the same (accounts.provider_person), found by
the issuer and subject: the audit names them, need-to-know works as for everyone, the
network file's rule holds (a specialist is in their gebied's network), and disabling the
account here ends their access at once, whatever the provider says. The username is the
one of the first login (a name changed at the provider takes over nobody's); role and
gebied follow the newest claims seen (an older token cannot set back what a newer one
said), and a change ends the person's sessions.

joserfc (the JOSE library of the Authlib project) checks keys, signatures and claims.
The flow is two HTTP calls besides discovery, made with aiohttp, which the service has
anyway (Authlib's asynchronous client would bring a second HTTP library).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import asyncpg
import structlog
from joserfc import jws, jwt
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError
from joserfc.jwk import KeySet
from pydantic import BaseModel, ConfigDict, Field, field_validator

from triage.auth.accounts import AccountError, provider_person
from triage.auth.principal import Principal
from triage.auth.sessions import Audit
from triage.problems import Problem, forbidden, unauthorized
from triage.routing.network import NetworkConfig
from triage.vocabulary import UserRole
from triage.yamlconfig import load_model

log = structlog.get_logger(__name__)

#: The cookie of a login under way: its state, PKCE verifier and nonce, in the browser
#: that started it. ``__Host-``: only this host can set it (not a sibling subdomain).
FLOW_COOKIE = "__Host-triage_login_flow"
#: How long a person has at the provider before the login must start again.
FLOW_SECONDS = 600
NOT_STARTED_HERE = ("this login was not started in this browser, or took longer than ten "
                    "minutes; start again at /auth/oidc/login")  # fmt: skip
#: A key the provider's set does not hold makes the service fetch the set again, at most
#: this often: tokens with made-up key ids cannot make it hammer the provider.
_KEYS_REFETCH_SECONDS = 60.0
#: The discovery document and the keys are fetched again after this long: endpoints
#: rarely move, and a key the provider withdrew must stop being trusted.
_METADATA_SECONDS = 3600.0
_KEYS_MAX_AGE_SECONDS = 3600.0
#: After the provider failed to answer, requests that need it fail at once for this long
#: (503) instead of each waiting for the provider in turn.
_DOWN_SECONDS = 30.0
_HTTP_TIMEOUT = aiohttp.ClientTimeout(total=5)

#: Asymmetric signatures only: a shared-secret (HS*) or unsigned ("none") token is never
#: taken, whatever its header says.
Algorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
]
_SIGNED_WITH: tuple[Algorithm, ...] = ("RS256", "ES256")
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_NETWORK_ROLES = frozenset({UserRole.specialist, UserRole.coordinator})


class RoleMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim: str = Field(
        default="groups", min_length=1,
        description="The claim that holds the person's groups or roles: a string or a list.",
    )  # fmt: skip
    values: dict[str, UserRole] = Field(
        min_length=1,
        description="A value of the claim -> the role it gives here. A person whose values "
        "give two different roles is refused: everyone has one role.",
    )


class OidcConfig(BaseModel):
    """The identity provider (``TRIAGE_OIDC_FILE``, YAML). The client secret is not in
    the file: it comes from ``TRIAGE_OIDC_CLIENT_SECRET``."""

    model_config = ConfigDict(extra="forbid")

    issuer: str = Field(description="The provider's issuer, exactly as its tokens name it.")
    client_id: str = Field(min_length=1, description="This service's client at the provider.")
    audience: str | None = Field(
        default=None,
        description="The audience (aud) a bearer JWT must name; unset: the client id.",
    )
    redirect_url: str | None = Field(
        default=None,
        description="Where the provider sends people back: https://<this service>/auth/oidc/"
        "callback. Unset: made from the request, which is right unless a proxy in front "
        "changes the host or the scheme.",
    )
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile"])
    algorithms: list[Algorithm] = Field(default_factory=lambda: list(_SIGNED_WITH), min_length=1)
    username_claim: str = Field(default="preferred_username", min_length=1)
    role: RoleMapping
    gebied_claim: str = Field(
        default="gebied", min_length=1,
        description="The claim with a specialist's or coordinator's gebied code.",
    )  # fmt: skip
    leeway_seconds: int = Field(
        default=60, ge=0, le=300, description="Clock difference allowed with the provider."
    )
    reauthenticate: bool = Field(
        default=True,
        description="Ask the provider to have the person log in again at every login "
        "here (prompt=login): at a shared desk, the next person does not log in as the one "
        "before because the provider still knew them.",
    )

    @field_validator("issuer", "redirect_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        local = parts.hostname in _LOCAL_HOSTS
        if not parts.hostname or not (
            parts.scheme == "https" or (parts.scheme == "http" and local)
        ):
            raise ValueError(
                "use an https:// address (http:// only for a provider on this machine)"
            )
        return value

    @field_validator("scopes")
    @classmethod
    def _openid(cls, value: list[str]) -> list[str]:
        if "openid" not in value:
            raise ValueError('must include "openid"')
        return value


def load_oidc(path: Path) -> OidcConfig:
    return load_model(OidcConfig, path.read_text(encoding="utf-8"), str(path))


class Refused(Exception):
    """Not a person of this service: the message says why, for that person, and holds
    nothing of the token. ``status``: 401 for the token, 403 for who it names."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status

    def problem(self) -> Problem:
        if self.status == 400:
            return Problem(400, "Login not started here", str(self))
        return (unauthorized if self.status == 401 else forbidden)(str(self))


class ProviderUnavailable(Exception):
    """The identity provider did not answer as it should (a 503 for the caller)."""


@dataclass(frozen=True, slots=True)
class Identity:
    subject: str  # the issuer and the provider's subject: unique across issuers
    username: str
    role: UserRole
    gebied: str | None
    issued_at: datetime  # of the claims: newer ones win


def code_challenge(verifier: str) -> str:
    """PKCE's S256 challenge (RFC 7636, 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def looks_like_jwt(credentials: str) -> bool:
    return credentials.count(".") == 2 and len(credentials) <= 16_384


class Provider:
    """One identity provider, its discovery document and keys cached in the process."""

    def __init__(
        self,
        config: OidcConfig,
        client_secret: str | None,
        *,
        network: NetworkConfig,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._secret = client_secret
        self._network = network
        # Token times are the provider's wall clock against ours (never a shifted test
        # clock); injectable for the tests of expiry.
        self._wall = wall
        self._http: aiohttp.ClientSession | None = None
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._key_set: KeySet | None = None
        self._keys_at = float("-inf")
        self._down_until = float("-inf")
        self._metadata_lock = asyncio.Lock()
        self._keys_lock = asyncio.Lock()

    @property
    def audience(self) -> str:
        return self.config.audience or self.config.client_id

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=_HTTP_TIMEOUT)
        return self._http

    def _check_up(self) -> None:
        if time.monotonic() < self._down_until:
            raise ProviderUnavailable("it failed a moment ago")

    def _went_down(self, why: str) -> ProviderUnavailable:
        self._down_until = time.monotonic() + _DOWN_SECONDS
        return ProviderUnavailable(why)

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._session().get(url, allow_redirects=False) as response:
                if response.status != 200:
                    raise self._went_down(f"{url} answered {response.status}")
                found = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise self._went_down(f"{url}: {type(exc).__name__}") from exc
        if not isinstance(found, dict):
            raise self._went_down(f"{url} did not answer with a JSON object")
        return found

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (its endpoints), checked once fetched."""
        cached = self._metadata
        if cached is not None and time.monotonic() - cached[0] < _METADATA_SECONDS:
            return cached[1]
        self._check_up()
        async with self._metadata_lock:
            if self._metadata is not None and self._metadata is not cached:
                return self._metadata[1]
            self._check_up()  # the one before us found it down
            found = await self._get_json(
                self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            )
            if found.get("issuer") != self.config.issuer:
                raise self._went_down("the discovery document names another issuer")
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(found.get(name), str):
                    raise self._went_down(f"the discovery document has no {name}")
            self._metadata = (time.monotonic(), found)
            return found

    def _current_keys(self, kid: str | None, again: bool) -> KeySet | None:
        """The keys held, unless they must be fetched again: an hour old, or (at most once
        a minute) lacking the token's key id or failing its signature."""
        age = time.monotonic() - self._keys_at
        if self._key_set is None or age >= _KEYS_MAX_AGE_SECONDS:
            return None
        if age < _KEYS_REFETCH_SECONDS or (
            not again and (kid is None or _holds(self._key_set, kid))
        ):
            return self._key_set
        return None

    async def _keys_for(self, kid: str | None, *, again: bool = False) -> KeySet:
        """The provider's keys: fetched again when they are an hour old, and when a token
        names a key they lack or fails on them (``again``: the provider rotated its keys),
        the latter at most once a minute."""
        current = self._current_keys(kid, again)
        if current is not None:
            return current
        async with self._keys_lock:
            current = self._current_keys(kid, again)  # fetched while this one waited
            if current is not None:
                return current
            self._check_up()
            document = await self._get_json((await self.metadata())["jwks_uri"])
            try:
                self._key_set = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except Exception as exc:  # whatever a malformed document makes joserfc raise
                raise self._went_down("the provider's JWKS could not be read") from exc
            self._keys_at = time.monotonic()
            return self._key_set

    async def claims(self, token: str, audience: str, nonce: str | None = None) -> dict[str, Any]:
        """The claims of a JWT this provider signed for ``audience``, still valid."""
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError, UnicodeError):
            raise Refused("the token is not a JWT of the identity provider") from None
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        algorithms = list(self.config.algorithms)
        try:
            decoded = jwt.decode(token, await self._keys_for(kid), algorithms=algorithms)
        except (JoseError, ValueError):
            try:  # perhaps signed with a key the provider has since added
                decoded = jwt.decode(token, await self._keys_for(kid, again=True),
                                     algorithms=algorithms)  # fmt: skip
            except (JoseError, ValueError):
                raise Refused("the token is not signed by the identity provider's keys") \
                    from None  # fmt: skip
        expected: dict[str, Any] = {
            "iss": {"essential": True, "value": self.config.issuer},
            "aud": {"essential": True, "value": audience},
            "exp": {"essential": True},
            "sub": {"essential": True},
        }
        if nonce is not None:
            expected["nonce"] = {"essential": True, "value": nonce}
        registry = jwt.JWTClaimsRegistry(
            now=int(self._wall()), leeway=self.config.leeway_seconds, **expected
        )
        try:
            registry.validate(decoded.claims)
        except ExpiredTokenError:
            raise Refused("the token has expired; get a new one from the identity provider") \
                from None  # fmt: skip
        except MissingClaimError as exc:
            raise Refused(f"the token has no {exc.claim} claim") from None
        except InvalidClaimError as exc:
            hint = "; check the clocks" if exc.claim in ("nbf", "iat") else ""
            raise Refused(f"the token's {exc.claim} claim is not one this service takes{hint}") \
                from None  # fmt: skip
        except JoseError:
            raise Refused("the token's claims are not valid") from None
        return decoded.claims

    def identity(self, claims: dict[str, Any]) -> Identity:
        """Who the claims name, in this service's terms; Refused (403) when they name
        nobody it may let in."""
        config = self.config
        username = claims.get(config.username_claim)
        if (
            not isinstance(username, str)
            or not 1 <= len(username) <= 100
            or not username.isprintable()
        ):
            raise Refused(f"the identity provider sent no usable {config.username_claim} "
                          "claim (1-100 printable characters)", 403)  # fmt: skip
        given = claims.get(config.role.claim)
        values = [given] if isinstance(given, str) else given if isinstance(given, list) else []
        roles = {config.role.values[v] for v in values if isinstance(v, str) and v in
                 config.role.values}  # fmt: skip
        if len(roles) != 1:
            which = "no role" if not roles else "more than one role"
            raise Refused(f"the {config.role.claim} claim gives {which} of this service; the "
                          "identity provider's administrator grants exactly one", 403)  # fmt: skip
        role = roles.pop()
        gebied = claims.get(config.gebied_claim) if role in _NETWORK_ROLES else None
        if role in _NETWORK_ROLES and not isinstance(gebied, str):
            raise Refused(f"a {role.value} works in one gebied: the identity provider "
                          f"sent no {config.gebied_claim} claim", 403)  # fmt: skip
        issued = claims.get("iat")
        issued_at = datetime.fromtimestamp(
            issued if isinstance(issued, int | float) else self._wall(), UTC
        )
        return Identity(f"{config.issuer} {claims['sub']}", username, role, gebied, issued_at)

    async def account(
        self, pool: asyncpg.Pool, who: Identity, now: datetime, *, audit: Audit
    ) -> Principal:
        """The account here of a person the provider vouches for; Refused (403) when the
        network file does not list them where the claims put them, when it is disabled
        here, or when its username is another account's."""
        try:
            principal = await provider_person(
                pool, who.subject, username=who.username, role=who.role, gebied=who.gebied,
                issued_at=who.issued_at, now=now, network=self._network, audit=audit,
            )  # fmt: skip
        except AccountError as exc:
            raise Refused(str(exc), 403) from None
        if principal is None:
            raise Refused("this account is disabled here; an admin of this service enables it",
                          403)  # fmt: skip
        return principal

    async def begin(self, redirect_uri: str) -> tuple[str, str]:
        """A login at the provider: (the flow, for the browser's cookie; where to send it)."""
        endpoint = (await self.metadata())["authorization_endpoint"]
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)  # 64 characters: RFC 7636 asks 43-128
        nonce = secrets.token_urlsafe(24)
        asked = {
            "response_type": "code", "client_id": self.config.client_id,
            "redirect_uri": redirect_uri, "scope": " ".join(self.config.scopes),
            "state": state, "nonce": nonce,
            "code_challenge": code_challenge(verifier), "code_challenge_method": "S256",
        }  # fmt: skip
        if self.config.reauthenticate:
            asked["prompt"] = "login"
        query = urlencode(asked)
        return f"{state}.{verifier}.{nonce}", f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def finish(self, flow: str, state: str, code: str, redirect_uri: str) -> Identity:
        """The person a login that came back with ``state`` and ``code`` names; ``flow``
        is the cookie of the browser it came back to."""
        parts = flow.split(".")
        if len(parts) != 3 or not secrets.compare_digest(parts[0].encode(), state.encode()):
            raise Refused(NOT_STARTED_HERE, 400)
        _, verifier, nonce = parts
        form = {
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }  # fmt: skip
        headers = {}
        if self._secret is None:  # a public client, which PKCE alone protects
            form["client_id"] = self.config.client_id
        else:  # client_secret_basic, its parts form-encoded first (RFC 6749, 2.3.1)
            pair = f"{quote(self.config.client_id, safe='')}:{quote(self._secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        endpoint = (await self.metadata())["token_endpoint"]
        try:
            async with self._session().post(endpoint, data=form, headers=headers,
                                             allow_redirects=False) as response:  # fmt: skip
                status = response.status
                answer = await response.json(content_type=None) if status < 500 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise self._went_down(f"token endpoint: {type(exc).__name__}") from exc
        if status >= 500:
            raise self._went_down(f"token endpoint answered {status}")
        if status != 200 or not isinstance(answer, dict):
            error = answer.get("error") if isinstance(answer, dict) else None
            named = error if isinstance(error, str) and error.isidentifier() else None
            log.warning("oidc_code_refused", status=status, error=named)
            raise Refused("the identity provider did not take this login's code; start again "
                          "at /auth/oidc/login")  # fmt: skip
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise Refused("the identity provider sent no ID token; is the openid scope on?")
        claims = await self.claims(id_token, self.config.client_id, nonce)
        audiences = claims["aud"]
        if (
            isinstance(audiences, list)
            and len(audiences) > 1
            and (claims.get("azp") != self.config.client_id)
        ):
            raise Refused("the ID token's azp claim is not this service's client")
        return self.identity(claims)


def _holds(key_set: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in key_set.keys)
