"""The embedded demo relying party: a real code flow with PKCE against this provider."""

import html
import json
import re

import pytest

from idp.app import create_app
from idp.config.embedded import embedded_default
from idp.store.memory import MemoryTTLStore
from tests.bankid_web.conftest import make_settings
from tests.bankid_web.support import ISSUER, Browser, poll_until, query, scan

pytestmark = pytest.mark.anyio


def demo_client():
    return {
        "client_id": "demo",
        "client_name": "Demo app",
        "token_endpoint_auth_method": "none",
        "redirect_uris": [f"{ISSUER}/demo/callback"],
        "post_logout_redirect_uris": [f"{ISSUER}/demo"],
        "scope": "openid profile ssn bankid_evidence",
        "authorization_details_types": ["se.bankid.sign", "se.bankid.payment"],
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


def granted_details(page_html):
    found = re.search(r'<pre id="authorization-details">(.*?)</pre>', page_html, re.S)
    return json.loads(html.unescape(found[1]))


def evidence_line(page_html):
    found = re.search(r'<p id="evidence-verified" class="verified">(.*?)</p>', page_html, re.S)
    assert found, page_html[:4000]
    return html.unescape(found[1])


async def approve_in_demo(app, clock, b, what):
    """Press the demo's button, approve on the summary page, scan with the simulator's app and
    follow the answer back to the demo; returns (summary page, scan answer, result page)."""
    start = await b.http.post("/demo/approve", data={"what": what})
    assert start.status_code == 303, start.text
    authorize = start.headers["location"]
    # Pushed: the browser carries only a request_uri, never the details themselves.
    assert authorize.startswith(f"{ISSUER}/authorize?") and set(query(authorize)) == {
        "client_id",
        "request_uri",
    }
    first = await b.http.get(authorize.removeprefix(ISSUER))
    assert first.status_code == 303, first.text
    b.txn = query(first.headers["location"])["txn"]
    summary = await b.get(first.headers["location"])
    assert summary.status_code == 200 and "data-autosubmit" not in summary.text
    await b.submit("/bankid/start", {"flow": "qr"})
    answer = await scan(app, b)
    callback = await b.finish(await poll_until(b, clock, "complete"))
    assert callback.startswith(f"{ISSUER}/demo/callback?")
    result = await b.http.get(callback.removeprefix(ISSUER))
    assert result.status_code == 200, result.text
    return summary, answer, result


async def test_demo_offers_sign_and_payment_in_both_languages(demo):
    english = await Browser(demo, lang="en").http.get("/demo/")
    assert "Sign a text" in english.text and "Approve a payment" in english.text
    assert 'action="/demo/approve"' in english.text
    swedish = await Browser(demo, lang="sv").http.get("/demo/")
    assert "Signera en text" in swedish.text and "Godkänn en betalning" in swedish.text


async def test_demo_signs_a_text_and_verifies_the_signature_in_the_id_token(demo, clock):
    b = Browser(demo, lang="en")
    summary, answer, result = await approve_in_demo(demo, clock, b, "sign")
    assert "<h3>Membership agreement</h3>" in summary.text  # the markdown, rendered
    # What the BankID app showed: the agreement, as simpleMarkdownV1.
    assert answer["userVisibleData"].startswith("# Membership agreement\n")
    assert answer["userVisibleDataFormat"] == "simpleMarkdownV1"

    assert "Signed by Anna Andersson" in result.text
    (detail,) = granted_details(result.text)
    assert detail["type"] == "se.bankid.sign" and detail["format"] == "text/markdown"
    assert detail["text"] == answer["userVisibleData"]
    line = evidence_line(result.text)
    assert line.startswith("Signature verified: “# Membership agreement\n")
    assert "signed by Anna Andersson at " in line and line.endswith(" UTC")
    assert "OCSP response says the certificate was valid" in result.text
    assert 'id="evidence-error"' not in result.text


async def test_demo_approves_a_card_payment_and_shows_amount_recipient_and_evidence(demo, clock):
    b = Browser(demo, lang="sv")
    summary, answer, result = await approve_in_demo(demo, clock, b, "payment")
    assert 'id="approval-amount">249,00 SEK' in summary.text
    assert 'id="approval-recipient">Exempelbutiken AB' in summary.text
    assert answer["userVisibleTransaction"] == {
        "transactionType": "card",
        "recipient": {"name": "Exempelbutiken AB"},
        "money": {"amount": "249,00", "currency": "SEK"},
    }

    assert "Betalning godkänd av Anna Andersson" in result.text
    assert 'id="demo-payment-line">Betalning: 249,00 SEK till Exempelbutiken AB' in result.text
    (detail,) = granted_details(result.text)
    assert detail["type"] == "se.bankid.payment" and detail["money"]["amount"] == "249,00"
    line = evidence_line(result.text)
    assert line.startswith("Signaturen är kontrollerad: ”Köp av hörlurar, order 1042”")
    assert "signerades av Anna Andersson " in line


async def test_demo_hides_approvals_its_client_may_not_ask_for(sqlite_url, clock):
    client = {**demo_client(), "authorization_details_types": []}
    settings = make_settings(sqlite_url, demo={"enabled": True}, clients=[client])
    app = create_app(settings, clock=clock, store=MemoryTTLStore(clock))
    async with app.router.lifespan_context(app):
        b = Browser(app, lang="en")
        page = await b.http.get("/demo/")
        assert "Sign a text" not in page.text
        refused = await b.http.post("/demo/approve", data={"what": "sign"})
        assert refused.status_code == 400


def test_the_embedded_default_lets_the_demo_client_ask_for_both_approvals():
    demo_entry = next(c for c in embedded_default().clients if c.client_id == "demo")
    assert set(demo_entry.authorization_details_types) == {"se.bankid.sign", "se.bankid.payment"}


async def test_demo_shows_the_verifiers_error_when_the_evidence_does_not_hold(
    demo, clock, monkeypatch
):
    import idp.demo
    from idp.bankid.evidence import Trust

    class ProductionOnly:
        @staticmethod
        def builtin(*names):
            return Trust.builtin("production")  # the simulator's signature cannot chain here

    monkeypatch.setattr(idp.demo, "Trust", ProductionOnly)
    b = Browser(demo, lang="en")
    _, _, result = await approve_in_demo(demo, clock, b, "sign")
    assert 'id="evidence-verified"' not in result.text
    error = re.search(r'<p role="alert" id="evidence-error">(.*?)</p>', result.text, re.S)
    assert error and "The signature could not be verified" in error[1] and "<code>" in error[1]


def test_demo_refuses_evidence_for_another_text_or_another_request():
    import base64
    import datetime as dt

    from idp.bankid.evidence import Verified
    from idp.demo import _shown_digest, check_evidence, sample_details

    (detail,) = sample_details("sign", "sv")

    def signed(text, shown):
        data = base64.b64encode(json.dumps({"binding": "b", "shown": shown}).encode()).decode()
        return Verified(
            visible_text=text,
            visible_format="simpleMarkdownV1",
            non_visible_data=data,
            function="Signing",
            name="Anna Andersson",
            given_name="Anna",
            surname="Andersson",
            personal_number="198501012382",
            signed_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            ocsp_checked=True,
            issuer="CA",
            environment="simulator",
        )

    assert check_evidence(signed(detail["text"], _shown_digest(detail)), detail) is None
    assert check_evidence(signed("något annat", _shown_digest(detail)), detail) == (
        "demo.wrong_text"
    )
    assert check_evidence(signed(detail["text"], "another"), detail) == "demo.wrong_binding"
