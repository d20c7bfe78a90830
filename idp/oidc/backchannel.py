"""OpenID Connect Back-Channel Logout 1.0: telling the clients of an ended session.

When an SSO session ends (idp.oidc.sessions: logout, a new login in the browser, the idle
timeout or the lifetime running out, an operator's `idp sessions revoke`), every client that
got a code in it and registered a `backchannel_logout_uri` gets a logout token. Sessions that
simply run out are found by the sessions' sweep (`Sessions.expire_due`), which this module's
worker runs before each look at its queue.

§2.3: the OP keeps "the RPs ... and the sid values" of each session; here those are the grant
rows, which hold the session's sid and each client's `sub` (the same value its ID token
carried); the `sid` is the one its ID tokens carried (`TokenService.client_sid`).

Each delivery is one entry in a due queue of the shared store (`DueQueue`): scheduled under a
key made of the session and the client, so ending a session twice (a retried logout) schedules
nothing new; claimed by one instance at a time with a lease; and taken off the queue once the
client answered 200 or 204 (§2.8), so one token reaches each client once, whichever instance
runs the worker. A failure is retried with a growing pause until `LIFETIME` after the session
ended; retries carry the same `jti`. The address rules are those of the other outgoing calls:
https (http only on loopback, as the configuration allows), no redirects followed, no proxies
from the environment, and, unless `client_jwks.allow_private_addresses` is set, only public
addresses, checked after resolving the name and connected to directly (idp.oidc.client_keys).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import Enum
from typing import Any
from urllib.parse import urlencode

import anyio
import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from idp.clock import Clock, SystemClock
from idp.config import ClientSettings, Registry, Settings, is_loopback_url
from idp.keys import SigningKeys
from idp.oidc.client_keys import NotPublic, Resolver, outbound_address, pinned, system_resolver
from idp.oidc.sessions import SSOSession
from idp.store import (
    DatabaseUnavailable,
    DueQueue,
    Grant,
    Seal,
    StoreUnavailable,
    engine_of,
    run_db,
)

log = logging.getLogger("idp.oidc.backchannel")

KIND = "bclogout"
#: §2.4: "the Logout Token MUST contain an events Claim ... with this member".
EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: §2.4 (IANA application/logout+jwt): explicit typing, so no other token passes for one.
TYP = "logout+jwt"
#: §4: "short expiration times ... preferably at most two minutes in the future".
TOKEN_SECONDS = 120
#: How long a delivery is tried after the session ended.
LIFETIME = 600.0
#: How long a claimed delivery stays with the instance that claimed it (longer than a POST).
LEASE = 30.0
#: The pause before the n-th retry: BACKOFF * 2**(n-1), at most MAX_BACKOFF.
BACKOFF = 5.0
MAX_BACKOFF = 60.0
#: How often the worker looks for due deliveries, and how many it takes at once.
POLL_SECONDS = 2.0
BATCH = 20
TICK = 0.01  # how often the worker looks at an injected (non-system) clock
DEFAULT_TIMEOUT = 5.0


class Outcome(Enum):
    DELIVERED = "delivered"
    FAILED = "failed"  # retried
    REFUSED = "refused"  # the address is not allowed: never retried


def participants(db: sessionmaker[Session], sid: str) -> list[tuple[str, str]]:
    """The clients that got a code in the session, each with the `sub` it got."""
    with db() as s:
        rows = s.execute(select(Grant.client_id, Grant.sub).where(Grant.sid == sid).distinct())
        return [(row.client_id, row.sub) for row in rows]


def delivery_key(sid: str, client_id: str) -> str:
    return hashlib.sha256(f"{sid}|{client_id}".encode()).hexdigest()


class BackchannelLogout:
    def __init__(
        self,
        *,
        settings: Settings,
        registry: Registry,
        store: DueQueue,
        db: sessionmaker[Session],
        keys: SigningKeys,
        clock: Clock,
        client_sid: Callable[[ClientSettings, str], str],
        seal: Seal,
        new_id: Callable[[], str] = lambda: secrets.token_urlsafe(24),
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        sweep: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self.issuer = settings.issuer
        self.allow_private = settings.client_jwks.allow_private_addresses
        self.registry = registry
        self.store = store
        self.db = db
        self.keys = keys
        self.clock = clock
        self.client_sid = client_sid
        #: The subject is personal data (a public `sub` may be the person's own id): sealed.
        self.seal = seal
        self.new_id = new_id
        self.transport = transport
        self.resolve = resolver or system_resolver
        self.timeout = timeout
        #: Ends the sessions that ran out (`Sessions.expire_due`), every poll.
        self.sweep = sweep
        # Made in the event loop, on first use.
        self._lock: anyio.Lock | None = None
        self._wake: anyio.Event | None = None

    def metadata(self) -> dict[str, Any]:
        """§2.1: logout tokens are sent, and carry `sid` (as the ID tokens do)."""
        return {"backchannel_logout_supported": True, "backchannel_logout_session_supported": True}

    # ------------------------------------------------------------------ scheduling

    async def session_ended(self, session: SSOSession) -> None:
        """Schedule a logout token for each client of the session that registered a
        `backchannel_logout_uri` (a `Sessions.ended` observer)."""
        if not session.sid:
            return
        now = self.clock.now()
        found = await run_db(participants, self.db, session.sid, engine=engine_of(self.db))
        for client_id, sub in found:
            client = self.registry.client(client_id)
            if client is None or not client.backchannel_logout_uri:
                continue
            job = {
                "client_id": client_id,
                "person": self.seal.seal({"sub": sub, "sid": self.client_sid(client, session.sid)}),
                "jti": self.new_id(),
                "created_at": now,
                "attempts": 0,
            }
            key = delivery_key(session.sid, client_id)
            await self.store.schedule(KIND, key, job, LIFETIME + LEASE, now)
        if self._wake is not None:
            self._wake.set()

    def logout_token(self, client: ClientSettings, sub: str, sid: str, jti: str) -> str:
        """§2.4: signed like the client's ID tokens; `sub` and `sid` always (so a client that
        honours `sid` ends only that session; `backchannel_logout_session_required` is thus
        always met); never a `nonce`."""
        now = int(self.clock.now())
        claims = {
            "iss": self.issuer,
            "sub": sub,
            "aud": client.client_id,
            "iat": now,
            "exp": now + TOKEN_SECONDS,
            "jti": jti,
            "events": {EVENT: {}},
            "sid": sid,
        }
        return self.keys.sign(claims, client.id_token_signed_response_alg, typ=TYP)

    # ------------------------------------------------------------------ delivering

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the worker for the app's lifetime (entered from the app's lifespan)."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.run)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    async def run(self) -> None:
        while True:
            try:
                if self.sweep is not None:
                    await self.sweep()
                await self.deliver_due()
            except (StoreUnavailable, DatabaseUnavailable) as exc:
                log.warning("back-channel logout delivery paused: %s", type(exc).__name__)
            except Exception:
                log.exception("back-channel logout delivery failed")
            await self._wait(self.clock.now() + POLL_SECONDS)

    async def _wait(self, when: float) -> None:
        """Until clock time `when`, or a session ended on this instance."""
        if self._wake is None:
            self._wake = anyio.Event()
        if isinstance(self.clock, SystemClock):
            with anyio.move_on_after(max(0.0, when - self.clock.now())):
                await self._wake.wait()
        else:
            while self.clock.now() < when and not self._wake.is_set():  # noqa: ASYNC110
                await anyio.sleep(TICK)  # an injected clock has no event
        self._wake = anyio.Event()

    async def deliver_due(self) -> int:
        """Deliver what is due now (claimed by this instance); how many were claimed."""
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            now = self.clock.now()
            claimed = await self.store.claim_due(KIND, now, now + LEASE, BATCH)
            async with anyio.create_task_group() as tg:
                for key, job in claimed:
                    tg.start_soon(self._deliver, key, job)
            return len(claimed)

    async def _deliver(self, key: str, job: dict[str, Any]) -> None:
        try:
            await self._attempt(key, job)
        except (StoreUnavailable, DatabaseUnavailable) as exc:
            # The lease runs out and the delivery is claimed again.
            log.warning("back-channel logout delivery interrupted: %s", type(exc).__name__)

    async def _attempt(self, key: str, job: dict[str, Any]) -> None:
        client_id = str(job.get("client_id"))
        client = self.registry.client(client_id)
        person = self.seal.open(job.get("person"))
        if client is None or not client.backchannel_logout_uri or not isinstance(person, dict):
            await self.store.finish(KIND, key)
            return
        now = self.clock.now()
        created = float(job["created_at"])
        if now - created >= LIFETIME:
            log.warning("back-channel logout to client %s given up: too late", client_id)
            await self.store.finish(KIND, key)
            return
        token = self.logout_token(client, person["sub"], person["sid"], str(job["jti"]))
        outcome = await self.post(client.backchannel_logout_uri, token)
        if outcome is Outcome.DELIVERED:
            log.info("back-channel logout delivered to client %s", client_id)
            await self.store.finish(KIND, key)
            return
        if outcome is Outcome.REFUSED:
            log.warning(
                "back-channel logout to client %s refused: its address is not allowed", client_id
            )
            await self.store.finish(KIND, key)
            return
        attempts = int(job.get("attempts", 0)) + 1
        due = now + min(BACKOFF * 2 ** (attempts - 1), MAX_BACKOFF)
        if due - created >= LIFETIME:
            log.warning(
                "back-channel logout to client %s given up after %d attempts", client_id, attempts
            )
            await self.store.finish(KIND, key)
            return
        log.info("back-channel logout to client %s failed (attempt %d)", client_id, attempts)
        await self.store.reschedule(KIND, key, {**job, "attempts": attempts}, due)

    async def post(self, uri: str, token: str) -> Outcome:
        """§2.5: POST `logout_token` form-encoded; §2.8: 200 (or 204) means done. Redirects
        are not followed (a 3xx is a failure)."""
        url = httpx.URL(uri)
        if (
            not url.host
            or url.userinfo
            or not (url.scheme == "https" or (url.scheme == "http" and is_loopback_url(uri)))
        ):
            return Outcome.REFUSED
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            with anyio.fail_after(self.timeout):
                address = await self._address(url.host, port)
                if address is None:
                    return Outcome.REFUSED
                return await self._send(url, address, token)
        except (TimeoutError, OSError, httpx.HTTPError) as exc:
            log.info("back-channel logout POST failed: %s", type(exc).__name__)
            return Outcome.FAILED

    async def _address(self, host: str, port: int) -> str | None:
        """The address to connect to (`outbound_address`); None when one the name resolves to
        is not public and private addresses are not allowed."""
        try:
            return await outbound_address(
                host, port, self.resolve, allow_private=self.allow_private
            )
        except NotPublic:
            return None

    async def _send(self, url: httpx.URL, address: str, token: str) -> Outcome:
        target, headers, extensions = pinned(
            url, address, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        async with httpx.AsyncClient(
            transport=self.transport,
            timeout=self.timeout,
            follow_redirects=False,
            trust_env=False,
        ) as http:
            async with http.stream(
                "POST",
                target,
                content=urlencode({"logout_token": token}).encode(),
                headers=headers,
                extensions=extensions,
            ) as response:
                status = response.status_code
        if status in (200, 204):
            return Outcome.DELIVERED
        log.info("back-channel logout POST answered %d", status)
        return Outcome.FAILED
