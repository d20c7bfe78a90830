"""Drive the console in-process: a staff member's browser through the provider's own BankID
login (the simulator's QR scan), the console's pages and forms, and the caller's BankID app
(the simulator's /app/phone)."""

from __future__ import annotations

import hashlib
import re

import anyio

from idp.config import CIBA_GRANT, staff_hmac
from idp.console.app import REQUEST, SESSION
from tests.bankid_web.support import ISSUER, Browser, form, phone, poll_until, query, scan

CONSOLE_SECRET = "console-secret-0123456789abcdef"
STAFF_KEY = "console-staff-key-0123456789abcdef"
ANNA = "198501012382"  # the simulator's default person: staff here
BJORN = "197203152397"  # a caller
CECILIA = "199311242409"  # not staff
BAD_CHECK_DIGIT = "198501012383"


def console_client(**extra):
    entry = {
        "client_id": "console",
        "client_name": "Console",
        "client_secret": CONSOLE_SECRET,
        "redirect_uris": [f"{ISSUER}/console/callback"],
        "post_logout_redirect_uris": [f"{ISSUER}/console/?out=1"],
        "grant_types": ["authorization_code", CIBA_GRANT],
        "backchannel_token_delivery_mode": "poll",
        "scope": "openid profile ssn",
        "ciba_allow_call_initiator_override": True,
        "authorization_details_types": ["se.bankid.sign"],
    }
    entry.update(extra)
    return entry


def console_block(**extra):
    block = {
        "enabled": True,
        "client_id": "console",
        "client_secret": CONSOLE_SECRET,
        "staff_key": STAFF_KEY,
        "staff": [{"personal_number_hmac": staff_hmac(STAFF_KEY, ANNA), "name": "Anna Staff"}],
        "operators": [],
        "scopes": "openid profile",
    }
    block.update(extra)
    return block


class StaffBrowser(Browser):
    """A staff member's browser at the console."""

    async def sign_in(self, person=ANNA, clock=None):
        """The console's sign-in button, the provider's BankID page, the simulator's scan as
        `person`, and the way back; returns the console's answer to the callback."""
        start = await self.http.post("/console/login")
        assert start.status_code == 303, start.text
        authorize = start.headers["location"]
        assert authorize.startswith(f"{ISSUER}/authorize?")
        first = await self.http.get(authorize.removeprefix(ISSUER))
        assert first.status_code == 303, first.text
        self.txn = query(first.headers["location"])["txn"]
        page = await self.get(first.headers["location"])
        if 'data-autosubmit="1"' in page.text:
            await self.submit("/bankid/start")
        else:
            await self.submit("/bankid/start", {"flow": "qr"})
        await scan(self.app, self, personalNumber=person)
        callback = await self.finish(await poll_until(self, clock, "complete"))
        assert callback.startswith(f"{ISSUER}/console/callback?"), callback
        return await self.http.get(callback.removeprefix(ISSUER))

    async def csrf(self):
        page = await self.http.get("/console/")
        assert page.status_code == 200, page.text
        return form(page.text, "/console/requests")["fields"]["csrf"]

    async def ask(self, pnr=BJORN, *, csrf=None, **fields):
        data = {"pnr": pnr, "initiator": "RP", "csrf": csrf or await self.csrf(), **fields}
        return await self.http.post("/console/requests", data=data)

    async def state(self, path):
        r = await self.http.get(f"{path}/state")
        return r

    def session_record(self):
        raw = self.http.cookies.get("__Host-idp_console")
        assert raw, self.http.cookies
        return SESSION, hashlib.sha256(raw.encode()).hexdigest()


async def follow(b, clock, path, until, *, step=1.0, limit=60):
    """Ask the console for the request's state (as console.js does) once a (test-clock) second
    until it is one of `until`; the provider's background follower gets a moment of real time
    between polls."""
    seen = []
    with anyio.fail_after(10):
        for _ in range(limit):
            r = await b.state(path)
            assert r.status_code == 200, r.text
            body = r.json()
            seen.append(body["state"])
            if body["state"] in until:
                return body, seen
            clock.advance(step)
            await anyio.sleep(0.02)
    raise AssertionError(f"never reached {until}: {seen}")


async def caller(app, person, action="approve"):
    r = await phone(app, "phone", {"personalNumber": person, "action": action})
    assert r.status_code == 200, r.text
    return r.json()


def request_path(response):
    assert response.status_code == 303, response.text
    path = response.headers["location"]
    assert re.fullmatch(r"/console/requests/[A-Za-z0-9_-]{16,}", path), path
    return path


__all__ = ["REQUEST", "StaffBrowser"]
