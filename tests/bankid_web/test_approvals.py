"""Approvals through OAuth (RFC 9396 authorization_details of type se.bankid.sign and
se.bankid.payment), in-process: the request is pushed (PAR), the summary page shows what is to
be approved before anything starts at BankID, BankID /sign or /payment runs with the QR code as
a login does, and the token response carries the granted details and the ID token the
signature. Single sign-on never stands in for an approval, and an approval leaves the SSO
session as it was."""

from __future__ import annotations

import base64
import hashlib
import json

import jwt
import pytest

from idp.authn.approval import AUTHN_EVIDENCE, USER_SIGNATURE
from tests.bankid_web.conftest import build_app, make_settings
from tests.bankid_web.support import (
    ANNA,
    ISSUER,
    RP_CB,
    RP_SECRET,
    Browser,
    client_settings,
    pkce_pair,
    poll_until,
    query,
    scan,
    simulator_book,
)

pytestmark = pytest.mark.anyio

SIGN = "se.bankid.sign"
PAYMENT = "se.bankid.payment"
TEXT = "Jag godkänner låneavtalet nr 4711.\nBelopp: 25 000 kr."
DIGEST = base64.b64encode(hashlib.sha256(b"the loan agreement").digest()).decode()


@pytest.fixture
def settings(sqlite_url):
    clients = client_settings()
    clients[0]["authorization_details_types"] = [SIGN, PAYMENT]
    plain = {**client_settings()[0], "client_id": "plain"}
    return make_settings(sqlite_url, clients=[*clients, plain])


@pytest.fixture
async def app(settings, clock):
    application = build_app(settings, clock)
    async with application.router.lifespan_context(application):
        yield application


def sign_detail(**extra):
    return {"type": SIGN, "text": TEXT, "nonVisibleData": DIGEST, **extra}


def payment_detail(**extra):
    return {
        "type": PAYMENT,
        "transactionType": "card",
        "recipient": {"name": "Kaffebaren AB"},
        "money": {"amount": "49,50", "currency": "SEK"},
        **extra,
    }


async def push(b: Browser, details, *, client_id="rp", **params):
    """PAR as the client; returns the request_uri (or the error response)."""
    verifier, challenge = pkce_pair()
    b.verifier = verifier
    b.state = "st-" + client_id
    form = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": RP_CB,
        "scope": "openid profile",
        "state": b.state,
        "nonce": "n-0S6_WzA2Mj",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "authorization_details": json.dumps(details),
        **params,
    }
    return await b.http.post("/par", data=form, auth=(client_id, RP_SECRET))


async def open_approval(app, b: Browser, details, **params):
    r = await push(b, details, **params)
    assert r.status_code == 201, r.text
    r = await b.http.get(
        "/authorize", params={"client_id": "rp", "request_uri": r.json()["request_uri"]}
    )
    assert r.status_code == 303, r.text
    b.txn = query(r.headers["location"])["txn"]
    return await b.get(r.headers["location"])


async def approve(app, clock, b: Browser, flow="qr"):
    """Approve on the summary page, scan the QR code with the simulator's app, and follow the
    result back to the client; returns the token response."""
    await b.submit("/bankid/start", {"flow": flow})
    assert b.page.status_code == 200 and "/bankid/status" in b.page.text
    await scan(app, b)
    done = await poll_until(b, clock, "complete")
    callback = query(await b.finish(done))
    assert callback["state"] == b.state and callback["iss"] == ISSUER
    return await b.token(callback["code"])


def the_only_order(app):
    book = simulator_book(app)
    (order,) = book._orders.values()
    return order


async def test_a_pushed_sign_detail_is_shown_then_signed_in_bankid_and_returned_with_evidence(
    app, clock
):
    b = Browser(app)
    page = await open_approval(app, b, [sign_detail()])
    # The summary page: the text as the person will sign it, Approve (one of the ways) and
    # Cancel; nothing has started at BankID, and nothing starts by itself.
    assert page.status_code == 200
    assert "Signera med BankID" in page.text and "Test RP ber dig att signera" in page.text
    assert "Jag godkänner låneavtalet nr 4711." in page.text
    assert "data-autosubmit" not in page.text and 'action="/bankid/cancel"' in page.text
    assert app.state.link.calls["sign"] == 0 and app.state.link.calls["auth"] == 0

    tokens = await approve(app, clock, b)
    assert app.state.link.calls["sign"] == 1 and app.state.link.calls["auth"] == 0
    order = the_only_order(app)
    assert str(order.kind) == "sign" and order.visible_text == TEXT
    # The non-visible data names this request and what was shown, and carries the client's.
    bound = json.loads(base64.b64decode(order.user_non_visible_data))
    assert bound["data"] == DIGEST and ISSUER in bound["binding"] and "rp" in bound["binding"]

    assert tokens["authorization_details"] == [{**sign_detail(), "format": "text/plain"}]
    id_token = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert id_token[USER_SIGNATURE] and id_token[AUTHN_EVIDENCE]
    xml = base64.b64decode(id_token[USER_SIGNATURE]).decode()
    assert order.user_visible_data in xml  # the signature is over exactly what was shown
    access = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert access["authorization_details"] == tokens["authorization_details"]
    assert USER_SIGNATURE not in access and AUTHN_EVIDENCE not in access
    userinfo = await b.http.get(
        "/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 200 and USER_SIGNATURE not in userinfo.text
    await b.aclose()


async def test_a_payment_shows_amount_and_recipient_and_runs_bankid_payment(app, clock):
    b = Browser(app)
    detail = payment_detail(riskWarning="Kontrollera mottagaren.", riskFlags=["newCard"])
    page = await open_approval(app, b, [detail])
    assert "Godkänn med BankID" in page.text
    assert 'id="approval-amount">49,50 SEK' in page.text
    assert 'id="approval-recipient">Kaffebaren AB' in page.text
    assert "Kontrollera mottagaren." in page.text
    tokens = await approve(app, clock, b)
    assert app.state.link.calls["payment"] == 1
    assert str(the_only_order(app).kind) == "payment"
    assert tokens["authorization_details"][0]["money"] == {"amount": "49,50", "currency": "SEK"}
    id_token = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert id_token[USER_SIGNATURE]
    await b.aclose()


async def test_markdown_is_rendered_without_markup_links_or_script(app, clock):
    b = Browser(app)
    text = "# Avtal\n*Viktigt:* <script>alert(1)</script>"
    r = await push(b, [sign_detail(text=text, format="text/markdown")])
    assert r.status_code == 400  # raw HTML is refused up front
    assert r.json()["error"] == "invalid_authorization_details"
    text = "# Avtal\n*Viktigt:* se [villkoren](https://evil.example)\n\n+ ett\n+ två"
    page = await open_approval(app, b, [sign_detail(text=text, format="text/markdown")])
    assert "<h3>Avtal</h3>" in page.text and "<em>Viktigt:</em>" in page.text
    assert "<li>ett</li>" in page.text and "<a " not in page.text.split("approval-text")[1]
    await approve(app, clock, b)
    assert the_only_order(app).user_visible_data_format == "simpleMarkdownV1"


async def test_cancel_on_the_summary_page_starts_nothing_and_denies_access(app, clock):
    b = Browser(app)
    await open_approval(app, b, [sign_detail()])
    r = await b.http.post("/bankid/cancel", data={"txn": b.txn, **_csrf(b.page.text)})
    assert r.status_code == 303
    r = await b.http.get(r.headers["location"])
    assert query(r.headers["location"])["error"] == "access_denied"
    assert app.state.link.calls["sign"] == 0


def _csrf(html: str) -> dict:
    from tests.bankid_web.support import form

    return {"csrf": form(html, "/bankid/cancel")["fields"]["csrf"]}


async def test_authorization_details_in_a_bare_query_string_are_refused(app):
    b = Browser(app)
    _, challenge = pkce_pair()
    r = await b.http.get(
        "/authorize",
        params={
            "response_type": "code",
            "client_id": "rp",
            "redirect_uri": RP_CB,
            "scope": "openid",
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "authorization_details": json.dumps([sign_detail()]),
        },
    )
    assert r.status_code == 303
    err = query(r.headers["location"])
    assert (
        err["error"] == "invalid_request" and "pushed (PAR) or signed" in err["error_description"]
    )


async def test_a_client_without_the_type_in_its_entry_is_refused(app):
    b = Browser(app)
    r = await push(b, [sign_detail()], client_id="plain")
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_authorization_details"
    assert SIGN in r.json()["error_description"]


async def test_an_invalid_detail_is_invalid_authorization_details_at_par(app):
    b = Browser(app)
    r = await push(b, [payment_detail(money={"amount": "49.50", "currency": "SEK"})])
    assert r.status_code == 400 and r.json()["error"] == "invalid_authorization_details"
    assert "amount" in r.json()["error_description"]


async def test_prompt_none_cannot_approve(app):
    b = Browser(app)
    r = await push(b, [sign_detail()], prompt="none")
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


async def test_single_sign_on_never_stands_in_for_an_approval_and_is_left_as_it_was(app, clock):
    b = Browser(app)
    # An ordinary login first: the browser has an SSO session.
    await b.open_login(acr_values="urn:grn:authn:se:bankid:qr")
    await scan(app, b)
    await b.finish(await poll_until(b, clock, "complete"))
    session = b.http.cookies.get("__Host-idp_session") or next(
        (c.value for c in b.http.cookies.jar if "session" in c.name), None
    )
    assert session
    page = await open_approval(app, b, [sign_detail()])
    assert "Signera med BankID" in page.text  # asked again, not answered from the session
    await approve(app, clock, b)
    after = b.http.cookies.get("__Host-idp_session") or next(
        (c.value for c in b.http.cookies.jar if "session" in c.name), None
    )
    assert after == session  # the approval neither replaced nor ended the session
    # A plain login through SSO afterwards carries no evidence of the approval.
    b.verifier, challenge = pkce_pair()
    r = await b.http.get(
        "/authorize",
        params={
            "response_type": "code",
            "client_id": "rp",
            "redirect_uri": RP_CB,
            "scope": "openid profile",
            "state": "again",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert r.status_code == 303 and r.headers["location"].startswith(RP_CB)  # SSO
    code = query(r.headers["location"])["code"]
    tokens = await b.token(code)
    id_token = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert USER_SIGNATURE not in id_token and "authorization_details" not in tokens
    await b.aclose()


async def test_a_replayed_code_of_an_approval_is_refused(app, clock):
    b = Browser(app)
    await open_approval(app, b, [sign_detail()])
    await b.submit("/bankid/start", {"flow": "qr"})
    await scan(app, b)
    callback = query(await b.finish(await poll_until(b, clock, "complete")))
    await b.token(callback["code"])
    again = await b.http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": RP_CB,
            "code_verifier": b.verifier,
        },
        auth=("rp", RP_SECRET),
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


async def test_a_named_person_is_identified_before_anything_is_shown_to_approve(app, clock):
    """Signature Extension §5.1, for any approval of a named person: BankID first identifies
    that person (/auth with the personal number as requirement); only then does the summary
    page show the text, and the signature order is restricted to the same person."""
    b = Browser(app)
    page = await open_approval(app, b, [sign_detail()], login_hint=ANNA)
    assert 'id="identify-first"' in page.text
    assert "låneavtalet" not in page.text and 'id="approval-text"' not in page.text
    await b.submit("/bankid/start", {"flow": "qr"})
    assert "låneavtalet" not in b.page.text  # the wait page of the identification neither
    await scan(app, b)
    done = await poll_until(b, clock, "complete")
    page = await b.get(done["next"])  # identified: on to the summary page
    assert page.status_code == 200 and "låneavtalet" in page.text
    assert 'id="identify-first"' not in page.text
    assert app.state.link.calls["auth"] == 1 and app.state.link.calls["sign"] == 0
    tokens = await approve(app, clock, b)
    assert app.state.link.calls["sign"] == 1
    kinds = {str(o.kind): o for o in simulator_book(app)._orders.values()}
    assert set(kinds) == {"auth", "sign"}
    assert kinds["auth"].required_personal_number == ANNA
    assert kinds["sign"].required_personal_number == ANNA
    id_token = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert id_token[USER_SIGNATURE]
    await b.aclose()
