"""SSO sessions and login transactions, both in the TTL store and bound to the browser.

An SSO session lets `prompt=none` succeed after a login. BankID forbids turning a login into a
lasting credential, so sessions are short (1 h absolute, 15 min idle by default). The cookie
holds a random key; the store keys the session by its SHA-256, and a separate public `sid`
goes into ID tokens (OIDC Front/Back-Channel Logout §2), never the cookie value; a pairwise
client sees its own sid derived from it (idp.oidc.subject.sid_for). Logout ends only the
browser's own session; only the sweep and an operator find a session by its sid (its watch,
below).

Whatever must follow the end of a session (Back-Channel Logout §2.3: telling the clients that
took part, idp.oidc.backchannel) registers in `Sessions.ended`; it runs before the session is
removed, so a failure leaves the session in place for the person to end again. Which clients
took part, with the `sub` and `sid` each got, is the OP's record of the codes it issued: each
grant row holds the session's sid, the client and that client's `sub` (idp.oidc.tokens). A
session is ended by logout, by a new login in the same browser, by its idle timeout when the
browser comes back, by an operator (`end_sid`, `idp sessions revoke`), and by the sweep.

The sweep: nothing else notices a session that simply runs out its lifetime, or one whose
browser never comes back after the idle timeout, and Back-Channel Logout §2 counts "session
expiration" among the ends the clients are told of. So each session has a watch in the store's
due queue (`DueQueue`), keyed by its sid, due at the session's first deadline (the idle
timeout). `expire_due` (run by the back-channel logout worker every few seconds) claims the
watches that are due, a bounded batch at a time and each by one instance, and either ends the
session or makes its watch due again at the next deadline (the browser came back meanwhile):
a session costs a handful of claims in its life, and a quiet store one claim per poll. The
session's entry lives `GRACE` past its lifetime so the sweep still finds it to end. The watch,
keyed by the sid, is also how an operator's revocation finds a session. Ending is claimed once
across instances (`add` of an `ENDING` marker), so a session that ends on two instances at the
same moment (the sweep on one, the browser on another) tells its clients once.

A login transaction carries the validated authorization request to the authenticator's pages
and back. It is bound to the browser by the browser cookie and consumed exactly once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from idp.authn import Authentication
from idp.clock import Clock
from idp.config import SessionSettings
from idp.store.sealed import Seal
from idp.store.ttl import DueQueue, TTLStore
from idp.web.cookies import Cookies

SESSION = "session"
LOGIN = "login"
#: The due queue of session deadlines (keyed by sid), and the marker that claims an ending.
WATCH = "sso-watch"
ENDING = "sso-ending"
#: How long a session's entry outlives its lifetime, for the sweep to end it: the sweep runs
#: every 2 s on every instance, and a watch claimed by an instance that died is due again after
#: WATCH_LEASE; short, so that what a session leaves in the store is gone soon after it.
GRACE = 60.0
#: How long a claimed watch stays with the instance that claimed it; how long a claimed
#: ending holds off the others (a failed ending is released at once).
WATCH_LEASE = 30.0
ENDING_TTL = 30.0
#: Watches claimed at most per sweep.
SWEEP_BATCH = 100


def _h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class SSOSession:
    key_hash: str
    sid: str
    subject: str
    acr: str
    amr: tuple[str, ...]
    auth_time: int
    claims: dict[str, Any]
    created_at: float
    last_active: float


class Sessions:
    def __init__(
        self,
        store: TTLStore,
        clock: Clock,
        settings: SessionSettings,
        cookies: Cookies,
        *,
        seal: Seal | None = None,
    ):
        self.store = store
        #: The subject and claims (personal number, name, BankID evidence) are sealed at rest.
        self.seal = seal or Seal.ephemeral()
        self.clock = clock
        self.settings = settings
        self.cookies = cookies
        #: Where session deadlines are watched (both stores have a due queue).
        self.queue = store if isinstance(store, DueQueue) else None
        #: Called with each session about to end (before it is removed).
        self.ended: list[Callable[[SSOSession], Awaitable[None]]] = []

    async def create(self, auth: Authentication) -> tuple[str, SSOSession]:
        """A new session; returns the cookie value and the session."""
        key = secrets.token_urlsafe(32)
        now = self.clock.now()
        session = SSOSession(
            key_hash=_h(key),
            sid=secrets.token_urlsafe(16),
            subject=auth.subject,
            acr=auth.acr,
            amr=tuple(auth.amr),
            auth_time=int(auth.auth_time),
            claims=dict(auth.claims),
            created_at=now,
            last_active=now,
        )
        ttl = self.settings.lifetime_seconds + GRACE
        await self.store.put(SESSION, session.key_hash, self._dump(session), ttl)
        if self.queue is not None:
            watch = {"key_hash": session.key_hash}
            await self.queue.schedule(WATCH, session.sid, watch, ttl, self._deadline(session))
        return key, session

    async def current(self, request: Request) -> SSOSession | None:
        """The live session of this browser, touching its idle timer; None if none or expired."""
        key = request.cookies.get(self.cookies.session)
        if not key or len(key) > 100:
            return None
        value = await self.store.get(SESSION, _h(key))
        if value is None:
            return None
        session = self._load(value)
        if session is None:
            return None
        now = self.clock.now()
        if now >= self._deadline(session):
            await self.end(session)
            return None
        await self.store.update(SESSION, session.key_hash, {**value, "last_active": now})
        return session

    def _deadline(self, session: SSOSession) -> float:
        """When the session ends unless used again: its idle timeout or its lifetime."""
        return min(
            session.created_at + self.settings.lifetime_seconds,
            session.last_active + self.settings.idle_timeout_seconds,
        )

    async def end(self, session: SSOSession) -> None:
        """Tell the observers, then remove the session; once, whichever instance asks first
        (another ending it at the same moment returns at once)."""
        if not await self.store.add(ENDING, session.sid, {}, ENDING_TTL):
            return
        try:
            for observer in self.ended:
                await observer(session)
        except BaseException:
            await self.store.delete(ENDING, session.sid)  # to be ended again
            raise
        await self.store.delete(SESSION, session.key_hash)
        if self.queue is not None:
            await self.queue.finish(WATCH, session.sid)

    async def _watched(self, sid: str, watch: dict[str, Any] | None) -> SSOSession | None:
        if watch is None or not isinstance(watch.get("key_hash"), str):
            return None
        value = await self.store.get(SESSION, watch["key_hash"])
        session = self._load(value) if value is not None else None
        return session if session is not None and session.sid == sid else None

    async def expire_due(self) -> int:
        """End the sessions whose idle timeout or lifetime has run out (the sweep, above);
        how many were ended. A watch whose session is gone is dropped; one whose session was
        used meanwhile is due again at its new deadline."""
        if self.queue is None:
            return 0
        now = self.clock.now()
        claimed = await self.queue.claim_due(WATCH, now, now + WATCH_LEASE, SWEEP_BATCH)
        ended = 0
        for sid, watch in claimed:
            session = await self._watched(sid, watch)
            if session is None:
                await self.queue.finish(WATCH, sid)
            elif now < self._deadline(session):
                await self.queue.reschedule(WATCH, sid, watch, self._deadline(session))
            else:
                await self.end(session)  # a failure: the lease runs out, and it is tried again
                ended += 1
        return ended

    async def end_sid(self, sid: str) -> bool:
        """End the session with this sid, if it is live (an operator's revocation); whether
        one was ended."""
        if self.queue is None:
            return False
        session = await self._watched(sid, await self.store.get(WATCH, sid))
        if session is None:
            return False
        await self.end(session)
        return True

    def _dump(self, s: SSOSession) -> dict[str, Any]:
        return {
            "sid": s.sid,
            "person": self.seal.seal({"subject": s.subject, "claims": s.claims}),
            "acr": s.acr,
            "amr": list(s.amr),
            "auth_time": s.auth_time,
            "created_at": s.created_at,
            "last_active": s.last_active,
            "key_hash": s.key_hash,
        }

    def _load(self, v: dict[str, Any]) -> SSOSession | None:
        person = self.seal.open(v.get("person"))
        if person is None:  # sealed under another secret: no session
            return None
        return SSOSession(
            key_hash=v["key_hash"],
            sid=v["sid"],
            subject=person["subject"],
            acr=v["acr"],
            amr=tuple(v["amr"]),
            auth_time=int(v["auth_time"]),
            claims=person["claims"],
            created_at=v["created_at"],
            last_active=v["last_active"],
        )


class LoginTransactions:
    def __init__(self, store: TTLStore, ttl: int, *, seal: Seal | None = None) -> None:
        self.store = store
        self.ttl = ttl
        #: The request (a login_hint may name a person) and the result (the person's claims)
        #: are sealed at rest.
        self.seal = seal or Seal.ephemeral()

    def _open(self, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """A stored transaction with its request and result opened; None if they cannot be."""
        if value is None:
            return None
        request = self.seal.open(value.get("request"))
        if request is None:
            return None
        result = value.get("result")
        if result is not None:
            result = self.seal.open(result)
            if result is None:
                return None
        return {**value, "request": request, "result": result}

    async def create(self, browser_id: str, request_state: dict[str, Any]) -> str:
        txn = secrets.token_urlsafe(24)
        await self.store.put(
            LOGIN,
            txn,
            {
                "browser": Cookies.binding(browser_id),
                "request": self.seal.seal(request_state),
                "result": None,
            },
            self.ttl,
        )
        return txn

    async def get(self, txn: str, browser_id: str | None) -> dict[str, Any] | None:
        if not txn or len(txn) > 100 or not browser_id:
            return None
        value = await self.store.get(LOGIN, txn)
        if value is None or value["browser"] != Cookies.binding(browser_id):
            return None
        return self._open(value)

    async def set_result(self, txn: str, result: dict[str, Any]) -> bool:
        value = await self.store.get(LOGIN, txn)
        if value is None:
            return False
        return await self.store.update(LOGIN, txn, {**value, "result": self.seal.seal(result)})

    async def rebind(self, txn: str, browser_id: str | None) -> bool:
        """Bind an unfinished transaction to another browser (`LoginHandoff.rebind`)."""
        if not txn or len(txn) > 100 or not browser_id:
            return False
        value = await self.store.get(LOGIN, txn)
        if value is None or value.get("result") is not None:
            return False
        return await self.store.update(
            LOGIN, txn, {**value, "browser": Cookies.binding(browser_id)}
        )

    async def consume(self, txn: str, browser_id: str | None) -> dict[str, Any] | None:
        """The finished transaction, exactly once, and only for the browser that started it."""
        if not txn or len(txn) > 100 or not browser_id:
            return None
        value = await self.store.get(LOGIN, txn)
        if value is None or value["browser"] != Cookies.binding(browser_id):
            return None
        if value.get("result") is None:
            return None  # not finished yet: leave it for the real resume
        consumed = await self.store.consume(LOGIN, txn)
        if consumed is None or not consumed.first or consumed.value.get("result") is None:
            return None
        await self.store.delete(LOGIN, txn)
        return self._open(consumed.value)
