"""Approvals through OAuth end to end in headless Chromium (RFC 9396 `authorization_details` of
type se.bankid.sign and se.bankid.payment), with a relying-party library that is not ours
(oauth4webapi, tests/bankid_web/rp/approve.mjs):

the library pushes the details (PAR) → the browser shows the summary of what is to be
approved → "Mobilt BankID" → the QR code, read from the screen's pixels and scanned through
the simulator's app API, which answers what the app showed → the browser lands on the app's
callback → the library exchanges the code (PKCE) and validates the ID token → the token
response carries the granted details and the ID token the signature and its OCSP response,
which `idp evidence verify` (the installed command) checks offline.

The refusals at the end show the details are accepted only from a client whose entry lists the
type, and only pushed."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import ECKey

from tests.bankid_web.live import (
    ROOT,
    LiveProvider,
    ScriptedRelyingParty,
    launch_chromium,
    need_browser_tools,
    need_node_rp,
    new_browser_page,
    read_qr,
    screenshots,
)
from tests.bankid_web.support import DESKTOP_UA, RP_SECRET, pkce_pair, query
from tests.services import require_service

pytestmark = [pytest.mark.browser, pytest.mark.node]

SIGN = "se.bankid.sign"
PAYMENT = "se.bankid.payment"
USER_SIGNATURE = "https://id.oidc.se/claim/userSignature"
AUTHN_EVIDENCE = "https://id.oidc.se/claim/authnEvidence"
APPROVE_SCRIPT = Path(__file__).parent / "rp" / "approve.mjs"
IDP = Path(sys.executable).parent / "idp"
JWT_CLIENT = "approve-jwt"  # private_key_jwt
SECRET_CLIENT = "approve-secret"  # client_secret_basic
SCOPE = "openid profile"


@pytest.fixture(scope="module")
def auth_key():
    return ECKey.generate_key("P-256", {"use": "sig", "kid": "auth-es256", "alg": "ES256"}, True)


@pytest.fixture(scope="module")
def live(tmp_path_factory, auth_key):
    need_browser_tools()

    def approval_clients(redirect_uri: str) -> list[dict]:
        common = {
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code"],
            "scope": SCOPE,
            "authorization_details_types": [SIGN, PAYMENT],
        }
        return [
            {
                "client_id": JWT_CLIENT,
                "client_name": "Båtmäklarna",
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [dict(auth_key.as_dict(private=False))]},
                **common,
            },
            {
                "client_id": SECRET_CLIENT,
                "client_name": "Kaffebaren",
                "client_secret": RP_SECRET,
                **common,
            },
        ]

    tmp = tmp_path_factory.mktemp("live-approval")
    with LiveProvider(tmp, think_time=1.0, extra_clients=approval_clients) as provider:
        yield provider


@pytest.fixture(scope="module")
def chromium(live):
    with launch_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def shots():
    return screenshots()


@pytest.fixture
def node_rp():
    need_node_rp()
    for package in ("oauth4webapi", "jose"):
        if not (ROOT / "node_modules" / package / "package.json").exists():
            require_service(package, "not installed (npm ci)", where=str(ROOT / "node_modules"))


def rp_config(live, details: list[dict], *, auth_key=None) -> dict:
    """approve.mjs's argument: private_key_jwt with `auth_key`, else client_secret_basic."""
    config = {
        "issuer": live.url,
        "redirect_uri": live.rp_callback,
        "scope": SCOPE,
        "authorization_details": details,
        "params": {"ui_locales": "sv"},
    }
    if auth_key is not None:
        return {**config, "client_id": JWT_CLIENT, "auth_key": dict(auth_key.as_dict(private=True))}
    return {**config, "client_id": SECRET_CLIENT, "client_secret": RP_SECRET}


def open_summary(rp: ScriptedRelyingParty, page) -> None:
    """The browser goes where the RP sends it: the summary of what is to be approved, and
    nothing started at BankID yet (no QR code until the person chooses a way)."""
    url = rp.authorization_url()
    assert set(query(url)) == {"client_id", "request_uri"}  # the details were pushed
    page.goto(url)
    page.locator("section.approval").wait_for()
    assert page.locator("#qr-img").count() == 0


def approve_with_mobile_bankid(live, rp, page, tmp_path, shot: Path) -> tuple[dict, dict]:
    """Choose "Mobilt BankID", read the QR code from the screen and scan it with the
    simulator's app; answers the RP's result and the simulator's answer to the scan."""
    page.get_by_role("button", name="Mobilt BankID").click()
    qr = read_qr(page, tmp_path)
    page.screenshot(path=str(shot), full_page=True)
    seen = live.phone("scan", {"qr": qr})
    assert seen["outcome"] == "complete", seen
    page.wait_for_url(f"{live.rp_callback}?**", timeout=30_000)
    callback = query(page.url)
    assert callback["code"] and callback["state"] and callback["iss"] == live.url
    message = rp.finish(page.url)
    assert "result" in message, message
    return message["result"], seen


def evidence_verify(id_token: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`idp evidence verify` as installed, the compact ID token on stdin."""
    return subprocess.run(
        [str(IDP), "evidence", "verify", "--environment", "simulator", *args],
        input=id_token,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def assert_evidence_in_id_token(result: dict) -> None:
    claims = result["claims"]
    assert isinstance(claims[USER_SIGNATURE], str) and claims[USER_SIGNATURE]
    assert isinstance(claims[AUTHN_EVIDENCE], str) and claims[AUTHN_EVIDENCE]
    assert USER_SIGNATURE not in result["token_response"]  # only inside the ID token


# ------------------------------------------------------------------------ approvals


def test_a_swedish_text_is_shown_signed_in_the_app_returned_and_its_evidence_verifies(
    live, auth_key, chromium, shots, tmp_path, node_rp
):
    """se.bankid.sign, pushed with private_key_jwt: the summary page shows the two-line
    Swedish text, the app shows the same text, the token response grants the detail (with
    the default format) and the ID token's signature is over that text."""
    text = f"Jag godkänner köpeavtalet för båten Älvsö.\nÄrende {secrets.token_hex(3)}, årsmöte"
    detail = {"type": SIGN, "text": text, "nonVisibleData": "ZGlnZXN0IG9mIGF2dGFsZXQ="}
    rp = ScriptedRelyingParty(rp_config(live, [detail], auth_key=auth_key), APPROVE_SCRIPT)
    page = new_browser_page(
        chromium, "sv", viewport={"width": 1280, "height": 800}, user_agent=DESKTOP_UA
    )
    try:
        open_summary(rp, page)
        assert page.locator("#heading").inner_text() == "Signera med BankID"
        assert "Båtmäklarna" in page.locator("main").inner_text()
        assert page.locator("#approval-text").text_content() == text
        page.screenshot(path=str(shots / "sv-desktop-approval-01-sign-summary.png"), full_page=True)
        result, seen = approve_with_mobile_bankid(
            live, rp, page, tmp_path, shots / "sv-desktop-approval-02-sign-qr.png"
        )
    finally:
        rp.close()
        page.context.close()
    # The simulator's answer: what the app showed (decoded), as plain text.
    assert seen["userVisibleData"] == text
    assert seen["userVisibleDataFormat"] == "plaintext"

    assert result["token_response"]["authorization_details"] == [{**detail, "format": "text/plain"}]
    assert result["claims"]["aud"] == JWT_CLIENT and result["claims"]["iss"] == live.url
    assert_evidence_in_id_token(result)

    verified = evidence_verify(result["id_token"], "--expect-text", text)
    assert verified.returncode == 0, verified.stderr
    out = verified.stdout.splitlines()
    assert "What:  Signing" in out  # BankID's funcId
    shown = out.index("  visible text:") + 1
    assert out[shown : shown + 2] == [f"    {line}" for line in text.splitlines()]
    assert out[-1] == "OK" and "(simulator)" in verified.stdout
    other = evidence_verify(result["id_token"], "--expect-text", text.replace("Älvsö", "Alvsö"))
    assert other.returncode == 1
    assert "differs from --expect-text" in other.stderr


def test_a_card_payment_shows_amount_and_recipient_and_its_evidence_verifies(
    live, chromium, shots, tmp_path, node_rp
):
    """se.bankid.payment (card), pushed with client_secret_basic: amount and recipient on the
    summary page and in the app (when the simulator reports the transaction), the detail
    granted as pushed, and the ID token's evidence verifies (BankID funcId Signing)."""
    recipient = f"Kaffebaren Åre {secrets.token_hex(2)}"
    detail = {
        "type": PAYMENT,
        "transactionType": "card",
        "recipient": {"name": recipient},
        "money": {"amount": "49,50", "currency": "SEK"},
    }
    rp = ScriptedRelyingParty(rp_config(live, [detail]), APPROVE_SCRIPT)
    page = new_browser_page(
        chromium, "sv", viewport={"width": 1280, "height": 800}, user_agent=DESKTOP_UA
    )
    try:
        open_summary(rp, page)
        assert page.locator("#heading").inner_text() == "Godkänn med BankID"
        assert page.locator("#approval-amount").inner_text() == "49,50 SEK"
        assert page.locator("#approval-recipient").inner_text() == recipient
        assert page.locator("#approval-text").count() == 0
        page.screenshot(
            path=str(shots / "sv-desktop-approval-03-payment-summary.png"), full_page=True
        )
        result, seen = approve_with_mobile_bankid(
            live, rp, page, tmp_path, shots / "sv-desktop-approval-04-payment-qr.png"
        )
    finally:
        rp.close()
        page.context.close()
    assert "userVisibleData" not in seen  # a payment without text shows only the transaction
    # The simulator's app shows the transaction BankID got: the amount and recipient asked.
    assert seen["userVisibleTransaction"] == {
        "transactionType": "card",
        "recipient": {"name": recipient},
        "money": {"amount": "49,50", "currency": "SEK"},
    }

    assert result["token_response"]["authorization_details"] == [detail]
    assert result["claims"]["aud"] == SECRET_CLIENT
    assert_evidence_in_id_token(result)

    verified = evidence_verify(result["id_token"], "--json")
    assert verified.returncode == 0, verified.stderr
    evidence = json.loads(verified.stdout)
    assert evidence["ok"] is True and evidence["environment"] == "simulator"
    assert evidence["function"] == "Signing"  # BankID's funcId for /sign and /payment
    assert evidence["visibleText"] is None


def test_the_summary_page_keeps_the_line_breaks_of_a_plain_text(live, chromium, node_rp):
    """The person reads the text as the app will show it: two lines stay two lines on the
    screen (the rendered text, not only the DOM's)."""
    text = "Jag godkänner avtalet.\nÅterbetalning sker månadsvis."
    rp = ScriptedRelyingParty(rp_config(live, [{"type": SIGN, "text": text}]), APPROVE_SCRIPT)
    page = new_browser_page(chromium, "sv", viewport={"width": 1280, "height": 800})
    try:
        open_summary(rp, page)
        rendered = page.locator("#approval-text").inner_text()
    finally:
        rp.close()
        page.context.close()
    assert rendered.strip() == text


# ------------------------------------------------------------------------ refusals


def _par_form(live, client_id: str, details: list[dict]) -> dict:
    _, challenge = pkce_pair()
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": live.rp_callback,
        "scope": "openid",
        "state": "st",
        "nonce": "n",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "authorization_details": json.dumps(details),
    }


def test_a_client_whose_entry_lacks_the_type_is_refused_at_par(live):
    """The test RP `rp` lists no authorization_details_types."""
    detail = {"type": SIGN, "text": "Jag godkänner."}
    r = httpx.post(
        f"{live.url}/par", data=_par_form(live, "rp", [detail]), auth=("rp", RP_SECRET), timeout=10
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_authorization_details"
    assert SIGN in r.json()["error_description"]


def test_an_approval_in_a_bare_authorization_url_is_refused(live):
    """Not pushed, not signed: the browser is sent back to the client with invalid_request,
    and nothing is shown for approval."""
    detail = {"type": SIGN, "text": "Jag godkänner."}
    r = httpx.get(
        f"{live.url}/authorize", params=_par_form(live, SECRET_CLIENT, [detail]), timeout=10
    )
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert location.startswith(f"{live.rp_callback}?")
    error = query(location)
    assert error["error"] == "invalid_request" and error["state"] == "st"
    assert "pushed (PAR) or signed" in error["error_description"]
