"""SSO sessions and login transactions, both in the TTL store and bound to the browser.

An SSO session lets `prompt=none` succeed after a login. BankID forbids turning a login into a
lasting credential, so sessions are short (1 h absolute, 15 min idle by default). The cookie
holds a random key; the store keys the session by its SHA-256, and a separate public `sid`
goes into ID tokens (OIDC Front/Back-Channel Logout §2), never the cookie value; a pairwise
client sees its own sid derived from it (idp.oidc.subject.sid_for). Logout ends only the
browser's own session, so nothing looks a session up by its sid.

Whatever must follow the end of a session (Back-Channel Logout §2.3: telling the clients that
took part, idp.oidc.backchannel) registers in `Sessions.ended`; it runs before the session is
removed, so a failure leaves the session in place for the person to end again. Which clients
took part, with the `sub` and `sid` each got, is the OP's record of the codes it issued: each
grant row holds the session's sid, the client and that client's `sub` (idp.oidc.tokens). A
session is ended by logout, by a new login in the same browser, and by its idle timeout when
the browser comes back; one that simply runs out its lifetime leaves the store unnoticed.

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
from idp.store.ttl import TTLStore
from idp.web.cookies import Cookies

SESSION = "session"
LOGIN = "login"


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
        ttl = self.settings.lifetime_seconds
        await self.store.put(SESSION, session.key_hash, self._dump(session), ttl)
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
        if (
            now - session.created_at >= self.settings.lifetime_seconds
            or now - session.last_active >= self.settings.idle_timeout_seconds
        ):
            await self.end(session)
            return None
        await self.store.update(SESSION, session.key_hash, {**value, "last_active": now})
        return session

    async def end(self, session: SSOSession) -> None:
        for observer in self.ended:
            await observer(session)
        await self.store.delete(SESSION, session.key_hash)

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
