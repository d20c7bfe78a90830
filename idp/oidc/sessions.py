"""SSO sessions and login transactions, both in the TTL store and bound to the browser.

An SSO session lets `prompt=none` succeed after a login. BankID forbids turning a login into a
lasting credential, so sessions are short (1 h absolute, 15 min idle by default). The cookie
holds a random key; the store keys the session by its SHA-256, and a separate public `sid`
goes into ID tokens (OIDC Front/Back-Channel Logout §2), never the cookie value.

A login transaction carries the validated authorization request to the authenticator's pages
and back. It is bound to the browser by the browser cookie and consumed exactly once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from idp.authn import Authentication
from idp.clock import Clock
from idp.config import SessionSettings
from idp.store.ttl import TTLStore
from idp.web.cookies import Cookies

SESSION = "session"
SID = "sid"
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
    def __init__(self, store: TTLStore, clock: Clock, settings: SessionSettings, cookies: Cookies):
        self.store = store
        self.clock = clock
        self.settings = settings
        self.cookies = cookies

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
        await self.store.put(SID, session.sid, {"key_hash": session.key_hash}, ttl)
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
        now = self.clock.now()
        if (
            now - session.created_at >= self.settings.lifetime_seconds
            or now - session.last_active >= self.settings.idle_timeout_seconds
        ):
            await self.end(session)
            return None
        await self.store.update(SESSION, session.key_hash, {**value, "last_active": now})
        return session

    async def by_sid(self, sid: str) -> SSOSession | None:
        ref = await self.store.get(SID, sid)
        if ref is None:
            return None
        value = await self.store.get(SESSION, ref["key_hash"])
        return self._load(value) if value else None

    async def end(self, session: SSOSession) -> None:
        await self.store.delete(SESSION, session.key_hash)
        await self.store.delete(SID, session.sid)

    @staticmethod
    def _dump(s: SSOSession) -> dict[str, Any]:
        return {
            "sid": s.sid,
            "subject": s.subject,
            "acr": s.acr,
            "amr": list(s.amr),
            "auth_time": s.auth_time,
            "claims": s.claims,
            "created_at": s.created_at,
            "last_active": s.last_active,
            "key_hash": s.key_hash,
        }

    @staticmethod
    def _load(v: dict[str, Any]) -> SSOSession:
        return SSOSession(
            key_hash=v["key_hash"],
            sid=v["sid"],
            subject=v["subject"],
            acr=v["acr"],
            amr=tuple(v["amr"]),
            auth_time=int(v["auth_time"]),
            claims=v["claims"],
            created_at=v["created_at"],
            last_active=v["last_active"],
        )


class LoginTransactions:
    def __init__(self, store: TTLStore, ttl: int) -> None:
        self.store = store
        self.ttl = ttl

    async def create(self, browser_id: str, request_state: dict[str, Any]) -> str:
        txn = secrets.token_urlsafe(24)
        await self.store.put(
            LOGIN,
            txn,
            {"browser": Cookies.binding(browser_id), "request": request_state, "result": None},
            self.ttl,
        )
        return txn

    async def get(self, txn: str, browser_id: str | None) -> dict[str, Any] | None:
        if not txn or len(txn) > 100 or not browser_id:
            return None
        value = await self.store.get(LOGIN, txn)
        if value is None or value["browser"] != Cookies.binding(browser_id):
            return None
        return value

    async def set_result(self, txn: str, result: dict[str, Any]) -> bool:
        value = await self.store.get(LOGIN, txn)
        if value is None:
            return False
        return await self.store.update(LOGIN, txn, {**value, "result": result})

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
        return consumed.value
