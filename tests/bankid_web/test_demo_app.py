"""The embedded demo relying party: a real code flow with PKCE against this provider."""

import html
import json
import re

import pytest

from idp.app import create_app
from idp.store.memory import MemoryTTLStore
from tests.bankid_web.conftest import make_settings
from tests.bankid_web.support import ISSUER, Browser, poll_until, scan

pytestmark = pytest.mark.anyio


def demo_client():
    return {
        "client_id": "demo",
        "client_name": "Demo app",
        "token_endpoint_auth_method": "none",
        "redirect_uris": [f"{ISSUER}/demo/callback"],
        "post_logout_redirect_uris": [f"{ISSUER}/demo"],
        "scope": "openid profile ssn bankid_evidence",
    }


@pytest.fixture
async def demo(sqlite_url, clock):
    settings = make_settings(sqlite_url, demo={"enabled": True}, clients=[demo_client()])
    app = create_app(settings, clock=clock, store=MemoryTTLStore(clock))
    async with app.router.lifespan_context(app):
        yield app


async def test_demo_logs_in_with_bankid_and_shows_claims_and_userinfo(demo, clock):
    b = Browser(demo, lang="en")
    page = await b.http.get("/demo/")
    assert page.status_code == 200 and "Log in with BankID" in page.text
    assert 'href="/bankid-simulator/?lang=en"' in page.text

    start = await b.http.post("/demo/login", data={"flow": "qr"})
    assert start.status_code == 303
    authorize = start.headers["location"]
    assert authorize.startswith(f"{ISSUER}/authorize?")
    for part in ("code_challenge_method=S256", "acr_values=urn", "ui_locales=en", "client_id=demo"):
        assert part in authorize
    first = await b.http.get(authorize.removeprefix(ISSUER))
    b.txn = first.headers["location"].split("txn=")[1]
    page = await b.get(first.headers["location"])
    assert 'data-autosubmit="1"' in page.text  # one way: the page's script starts it (POST)
    page = await b.submit("/bankid/start")
    assert 'id="qr-img"' in page.text and '<html lang="en">' in page.text

    await scan(demo, b)
    done = await poll_until(b, clock, "complete")
    callback = await b.finish(done)
    assert callback.startswith(f"{ISSUER}/demo/callback?")
    result = await b.http.get(callback.removeprefix(ISSUER))
    assert result.status_code == 200, result.text
    assert "Logged in as Anna Andersson" in result.text
    assert "urn:grn:authn:se:bankid:qr" in result.text and 'id="userinfo"' in result.text
    userinfo = json.loads(
        html.unescape(re.search(r'<pre id="userinfo">(.*?)</pre>', result.text, re.S)[1])
    )
    assert userinfo["given_name"] == "Anna" and userinfo["sub"]

    replay = await b.http.get(callback.removeprefix(ISSUER))
    assert replay.status_code == 400 and "invalid_state" in replay.text


async def test_demo_shows_the_error_when_the_login_is_cancelled(demo):
    b = Browser(demo)
    start = await b.http.post("/demo/login", data={"flow": "qr"})
    first = await b.http.get(start.headers["location"].removeprefix(ISSUER))
    await b.get(first.headers["location"])
    cancelled = await b.submit("/bankid/cancel")
    back = await b.http.get(cancelled.headers["location"])
    result = await b.http.get(back.headers["location"].removeprefix(ISSUER))
    assert result.status_code == 400 and "access_denied" in result.text
    assert "Inloggningen lyckades inte" in result.text


async def test_demo_is_off_unless_enabled(wired_app):
    b = Browser(wired_app)
    assert (await b.http.get("/demo/")).status_code == 404


async def test_demo_without_a_trailing_slash_is_found(demo):
    r = await Browser(demo).http.get("/demo")
    assert r.status_code in (307, 308) and r.headers["location"].endswith("/demo/")
