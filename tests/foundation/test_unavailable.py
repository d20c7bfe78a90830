"""Redis or the database unavailable, in-process: every endpoint answers with the protocol's
own error (a redirect with temporarily_unavailable where the redirect URI is validated, 503
temporarily_unavailable JSON on the back channel, the friendly page in a browser), never a
traceback; /readyz names the part; signing goes on with the keys in hand; and everything works
again once the service is back. The same against real services and processes:
tests/scaleout/test_outages.py."""

import logging

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from idp.app import create_app
from idp.clock import FixedClock
from idp.store.memory import MemoryTTLStore
from idp.store.ttl import StoreUnavailable
from tests.bankid_web.conftest import make_settings
from tests.bankid_web.support import (
    ISSUER,
    RP_CB,
    RP_SECRET,
    Browser,
    poll_until,
    query,
    scan,
)

pytestmark = pytest.mark.anyio


class SwitchableStore(MemoryTTLStore):
    """The in-process store, with a switch that makes every operation fail as Redis would."""

    down = False

    def __getattribute__(self, name):
        attr = super().__getattribute__(name)
        if name in (
            "put",
            "get",
            "get_many",
            "get_linked",
            "get_linked_claim",
            "update",
            "consume",
            "delete",
            "add",
            "incr",
            "ping",
        ) and (super().__getattribute__("down")):

            async def refuse(*args, **kwargs):
                raise StoreUnavailable(f"Redis {name} failed: ConnectionError")

            return refuse
        return attr


class DatabaseSwitch:
    """Every statement fails as with PostgreSQL gone, while `down`."""

    def __init__(self, engine):
        self.down = False
        event.listen(engine, "before_cursor_execute", self._check)

    def _check(self, *args):
        if self.down:
            raise OperationalError("SELECT", {}, ConnectionError("connection refused"))


@pytest.fixture
async def env(sqlite_url):
    clock = FixedClock()
    store = SwitchableStore(clock)
    app = create_app(make_settings(sqlite_url), clock=clock, store=store)
    db = DatabaseSwitch(app.state.runtime.engine)
    async with app.router.lifespan_context(app):
        yield app, clock, store, db


def no_tracebacks(caplog):
    assert not [r for r in caplog.records if r.exc_info or r.exc_text], [
        r.getMessage() for r in caplog.records if r.exc_info
    ]


async def login_until_code(app, clock):
    b = Browser(app)
    await b.open_login(acr_values="urn:grn:authn:se:bankid:qr")
    await scan(app, b)
    clock.advance(2)
    location = await b.finish(await poll_until(b, clock, "complete"))
    return b, query(location)["code"]


async def test_redis_down_gives_protocol_errors_everywhere_then_recovers(env, caplog):
    app, clock, store, _ = env
    caplog.set_level(logging.DEBUG)
    b, code = await login_until_code(app, clock)
    pending = Browser(app)
    await pending.authorize(acr_values="urn:grn:authn:se:bankid:qr")

    store.down = True
    # The authorization endpoint knows the redirect URI is valid: back to the client.
    r = await Browser(app).http.get(
        "/authorize",
        params={
            "response_type": "code",
            "client_id": "rp",
            "redirect_uri": RP_CB,
            "scope": "openid",
            "state": "s1",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert r.status_code == 303
    assert query(r.headers["location"]) == {
        "error": "temporarily_unavailable",
        "error_description": "please try again shortly",
        "state": "s1",
        "iss": ISSUER,
    }
    # Back channel: 503 temporarily_unavailable JSON.
    token = await b.http.post(
        "/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": RP_CB},
        auth=("rp", RP_SECRET),
    )
    status = await pending.http.get("/bankid/status", params={"txn": pending.txn})
    for answer in (token, status):
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "temporarily_unavailable"
    # A person's browser: the friendly page, in Swedish or English.
    page = await pending.http.get("/bankid/login", params={"txn": pending.txn})
    english = await pending.http.get(
        "/bankid/login", params={"txn": pending.txn}, headers={"accept-language": "en"}
    )
    assert page.status_code == 503 and "Tjänsten är tillfälligt otillgänglig" in page.text
    assert "temporarily unavailable" in english.text and page.headers["retry-after"]
    for answer in (token, status, page, english):
        assert "Traceback" not in answer.text and "StoreUnavailable" not in answer.text
    ready = await b.http.get("/readyz")
    assert ready.status_code == 503 and ready.json()["failing"] == ["store"]
    no_tracebacks(caplog)
    warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(warnings) == 1  # one warning for the burst, not one per request

    store.down = False
    assert (await b.http.get("/readyz")).status_code == 200
    tokens = await b.token(code)  # the code was never consumed while Redis was down
    assert tokens["id_token"]
    again = Browser(app)
    await again.open_login(acr_values="urn:grn:authn:se:bankid:qr")
    assert (await again.status()).json()["state"] == "pending"


async def test_database_down_gives_protocol_errors_keeps_signing_then_recovers(env, caplog):
    app, clock, _, db = env
    caplog.set_level(logging.DEBUG)
    b, code = await login_until_code(app, clock)
    keys = app.state.runtime.keys
    jwks_before = (await b.http.get("/jwks")).json()

    db.down = True
    token = await b.http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP_CB,
            "code_verifier": b.verifier,
        },
        auth=("rp", RP_SECRET),
    )
    assert token.status_code == 503 and token.json()["error"] == "temporarily_unavailable"
    # With an SSO session, /authorize needs the database for the grant: back to the client.
    again = await b.http.get(
        "/authorize",
        params={
            "response_type": "code",
            "client_id": "rp",
            "redirect_uri": RP_CB,
            "scope": "openid",
            "state": "s2",
            "code_challenge": "y" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert again.status_code == 303
    assert query(again.headers["location"])["error"] == "temporarily_unavailable"
    # Keys: a reread fails (logged once), signing and JWKS go on with the keys in hand.
    assert keys.refresh() is False and keys.refresh() is False
    assert keys.sign({"sub": "x"}, "ES256")
    assert (await b.http.get("/jwks")).json() == jwks_before
    ready = await b.http.get("/readyz")
    assert ready.status_code == 503 and ready.json()["failing"] == ["database"]
    no_tracebacks(caplog)
    assert (
        len([r for r in caplog.records if "cannot reread the signing keys" in r.getMessage()]) == 1
    )

    db.down = False
    assert keys.refresh() is True
    assert (await b.http.get("/readyz")).status_code == 200
    fresh = await b.http.get(
        "/authorize",
        params={
            "response_type": "code",
            "client_id": "rp",
            "redirect_uri": RP_CB,
            "scope": "openid",
            "state": "s3",
            "code_challenge": "z" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert fresh.status_code == 303 and "code" in query(fresh.headers["location"])
