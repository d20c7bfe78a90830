"""Rate limits and quotas shared by every instance, through the TTL store.

Counters are fixed windows: the key names the window (``floor(now / window)``), `incr` creates
it with a TTL reaching just past the window's end, so every counter expires by itself and
`Retry-After` is the time left in the window. A cap on concurrent pending logins is a set of
slots with one expiry each (`SlotStore`), released when a login ends and gone when it is
abandoned. Keys hold an HMAC of what they count (an address, a client_id, a personal number),
never the value itself: a dump of the store shows no personal number and no address.

Answers (RFC 6585 §4: 429 with Retry-After) are in each endpoint's shape; the JSON one is here,
the redirect and the page are the authorization endpoint's and the BankID pages'.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idp.clock import Clock
from idp.store.ttl import TTLStore
from idp.web.client_address import ClientAddress

COUNTER = "rl"
PENDING = "pending"
TOTAL = "all"

#: Limit names: the `limit` label of `idp_rate_limited_total`, and the keys of `Rules`.
AUTHORIZE = "authorize"
BANKID_START = "bankid_start"
TOKEN = "token"
PAR = "par"
CIBA = "ciba"
CLIENT_AUTH_FAILURES = "client_auth_failures"
PERSON = "person"
PENDING_PER_ADDRESS = "pending_per_address"
PENDING_TOTAL = "pending_total"
LIMIT_NAMES = frozenset(
    {
        AUTHORIZE,
        BANKID_START,
        TOKEN,
        PAR,
        CIBA,
        CLIENT_AUTH_FAILURES,
        PERSON,
        PENDING_PER_ADDRESS,
        PENDING_TOTAL,
    }
)


class SlotStore(Protocol):
    """Bounded sets whose members expire one by one (Redis and the in-process store)."""

    async def acquire_slot(
        self, kind: str, key: str, member: str, *, limit: int, ttl: float
    ) -> bool: ...

    async def release_slot(self, kind: str, key: str, member: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Rule:
    count: int
    window: float


@dataclass(frozen=True, slots=True)
class Limited:
    """A request refused by limit `name`; the client may try again in `retry_after` seconds."""

    name: str
    retry_after: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}

    @property
    def description(self) -> str:
        return f"too many requests; try again in {self.retry_after} s"


class RateLimiter:
    def __init__(
        self,
        store: TTLStore,
        clock: Clock,
        secret: bytes,
        rules: Mapping[str, Rule],
        *,
        slots: SlotStore | None = None,
        pending_per_address: int = 20,
        pending_total: int = 5000,
        client_address: ClientAddress | None = None,
        on_limited: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.rules = dict(rules)
        self.slots = slots
        self.pending_per_address = pending_per_address
        self.pending_total = pending_total
        self.client_address = client_address or ClientAddress()
        self.on_limited = on_limited
        self._secret = hashlib.sha256(b"idp rate limits\x00" + secret).digest()

    @classmethod
    def from_settings(
        cls,
        limits: Any,
        store: TTLStore,
        clock: Clock,
        secret: bytes,
        *,
        client_address: ClientAddress | None = None,
        on_limited: Callable[[str], None] | None = None,
    ) -> RateLimiter:
        """From `LimitsSettings`; the store is also the slot store when it has slots."""
        rules = {
            name: Rule(limit.count, float(limit.window_seconds))
            for name, limit in limits.rules().items()
        }
        return cls(
            store,
            clock,
            secret,
            rules,
            slots=store if _has_slots(store) else None,  # type: ignore[arg-type]
            pending_per_address=limits.pending_logins_per_address,
            pending_total=limits.pending_logins_total,
            client_address=client_address,
            on_limited=on_limited,
        )

    def key(self, subject: str) -> str:
        """What a key holds instead of `subject`: a keyed hash, never the value."""
        return hmac.new(self._secret, subject.encode(), hashlib.sha256).hexdigest()[:32]

    def _refused(self, name: str, retry_after: float) -> Limited:
        if self.on_limited is not None:
            self.on_limited(name)
        return Limited(name, max(1, math.ceil(retry_after)))

    def _window(self, rule: Rule) -> tuple[int, float]:
        now = self.clock.now()
        index = math.floor(now / rule.window)
        return index, (index + 1) * rule.window - now

    async def hit(self, name: str, subject: str) -> Limited | None:
        """Count one request of `subject` against limit `name`; a `Limited` past the count."""
        rule = self.rules.get(name)
        if rule is None:
            return None
        index, left = self._window(rule)
        n = await self.store.incr(COUNTER, f"{name}.{self.key(subject)}.{index}", left + 1)
        return self._refused(name, left) if n > rule.count else None

    async def over(self, name: str, subject: str) -> Limited | None:
        """Whether `subject` has used up limit `name` already, without counting a request."""
        rule = self.rules.get(name)
        if rule is None:
            return None
        index, left = self._window(rule)
        value: object = await self.store.get(COUNTER, f"{name}.{self.key(subject)}.{index}")
        n = value if isinstance(value, int) else 0
        return self._refused(name, left) if n >= rule.count else None

    async def address(self, name: str, request: Request) -> Limited | None:
        return await self.hit(name, "ip " + self.client_address(request))

    async def person(self, personal_number: str) -> Limited | None:
        """Per person (a client cannot push-bomb someone's phone): keyed by an HMAC."""
        return await self.hit(PERSON, "person " + personal_number)

    # -- clients at the back channel ---------------------------------------------------------

    async def client(self, name: str, request: Request, form: Mapping[str, str]) -> Limited | None:
        """Before a back-channel request: refused while its address failed client
        authentication too often, or past limit `name` for the client it names from this
        address. The client is named before it is authenticated, so every count is per
        address too: nobody can use up another client's quota or failures from elsewhere."""
        address = "ip " + self.client_address(request)
        named = claimed_client_id(request, form)
        subject = address if named is None else f"client {named} {address}"
        rule, failures = self.rules.get(name), self.rules.get(CLIENT_AUTH_FAILURES)
        if rule is None or failures is None:
            return await self.over(CLIENT_AUTH_FAILURES, address) or await self.hit(name, subject)
        # One store round trip on the token endpoint's path: count this request and read the
        # address's failures at once.
        index, left = self._window(rule)
        f_index, f_left = self._window(failures)
        n, failed = await self.store.incr_read(
            COUNTER,
            f"{name}.{self.key(subject)}.{index}",
            left + 1,
            f"{CLIENT_AUTH_FAILURES}.{self.key(address)}.{f_index}",
        )
        if isinstance(failed, int) and failed >= failures.count:
            return self._refused(CLIENT_AUTH_FAILURES, f_left)
        return self._refused(name, left) if n > rule.count else None

    async def client_auth_failed(self, request: Request, form: Mapping[str, str]) -> None:
        await self.hit(CLIENT_AUTH_FAILURES, "ip " + self.client_address(request))

    # -- pending logins ----------------------------------------------------------------------

    async def hold_pending(self, request: Request, login: str, ttl: float) -> Limited | None:
        """A slot for pending login `login` (again for the same login: the same slot), per
        address and in total, for at most `ttl` seconds."""
        if self.slots is None:
            return None
        address = self.key("ip " + self.client_address(request))
        member = self.key("login " + login)
        if not await self.slots.acquire_slot(
            PENDING, address, member, limit=self.pending_per_address, ttl=ttl
        ):
            return self._refused(PENDING_PER_ADDRESS, min(ttl, 60))
        if not await self.slots.acquire_slot(
            PENDING, TOTAL, member, limit=self.pending_total, ttl=ttl
        ):
            await self.slots.release_slot(PENDING, address, member)
            return self._refused(PENDING_TOTAL, min(ttl, 60))
        return None

    async def release_pending(self, request: Request, login: str) -> None:
        if self.slots is None:
            return
        member = self.key("login " + login)
        address = self.key("ip " + self.client_address(request))
        await self.slots.release_slot(PENDING, address, member)
        await self.slots.release_slot(PENDING, TOTAL, member)


def too_many_json(limited: Limited) -> Response:
    """429 at the back channel (token, PAR, CIBA). RFC 6749 §5.2 defines no error code for rate
    limiting; `temporarily_unavailable` is what this provider already answers (with 503) when
    it cannot serve a back-channel request now, and what clients retry; RFC 6585 §4 gives the
    status and Retry-After."""
    return JSONResponse(
        {"error": "temporarily_unavailable", "error_description": limited.description},
        status_code=429,
        headers={**limited.headers, "Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def claimed_client_id(request: Request, form: Mapping[str, str]) -> str | None:
    """The client a back-channel request names, unverified: HTTP Basic's user, `client_id`,
    or the `sub` of a client assertion. Only for counting; authentication decides who it is."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            user = base64.b64decode(header[6:].strip(), validate=True).decode().split(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            user = ""
        if user:
            return unquote(user)[:200]
    client_id = form.get("client_id")
    if client_id:
        return client_id[:200]
    assertion = form.get("client_assertion", "")
    parts = assertion.split(".")
    if len(parts) == 3 and len(parts[1]) < 8192:
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except (ValueError, binascii.Error, RecursionError):
            return None
        sub = claims.get("sub") if isinstance(claims, dict) else None
        if isinstance(sub, str) and sub:
            return sub[:200]
    return None


def _has_slots(store: object) -> bool:
    return callable(getattr(store, "acquire_slot", None)) and callable(
        getattr(store, "release_slot", None)
    )


__all__ = [
    "LIMIT_NAMES",
    "Limited",
    "RateLimiter",
    "Rule",
    "SlotStore",
    "claimed_client_id",
    "too_many_json",
]
