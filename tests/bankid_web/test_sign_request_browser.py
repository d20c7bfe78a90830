"""The OIDC Sweden Signature Extension 1.1 end to end in headless Chromium, with a
relying-party library that is not ours (oauth4webapi, tests/bankid_web/rp/sign_request.mjs):

the library signs a request object with the sign scope and the signRequest parameter (the
SHA-256 of a document as tbs_data, a Swedish and an English sign_message) and pushes it
(PAR, private_key_jwt) → the browser shows the summary of what is to be signed → "Mobilt
BankID" → the QR code, read from the screen's pixels and scanned through the simulator's app
API, which answers what the app showed → the browser lands on the app's callback → the
library exchanges the code (PKCE) and validates the ID token → the ID token carries the
signature and its OCSP response (§5.2), which `idp evidence verify` (the installed command)
checks offline, the document's digest inside the signed non-visible data.

The refusal at the end shows the provider's checklist (§5.1) holds for a live client too."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

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
from tests.bankid_web.support import DESKTOP_UA, pkce_pair, query
from tests.services import require_service

pytestmark = [pytest.mark.browser, pytest.mark.node]

SIGN_SCOPE = "https://id.oidc.se/scope/sign"
SIGN_REQUEST = "https://id.oidc.se/param/signRequest"
USER_SIGNATURE = "https://id.oidc.se/claim/userSignature"
AUTHN_EVIDENCE = "https://id.oidc.se/claim/authnEvidence"
SIGN_SCRIPT = Path(__file__).parent / "rp" / "sign_request.mjs"
IDP = Path(sys.executable).parent / "idp"
CLIENT = "sign-rp"
SCOPE = f"openid {SIGN_SCOPE}"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class ClientKeys:
    """The sign-rp client's key pairs: PS256 for request objects, ES256 for private_key_jwt.
    Only the public halves are in the provider's configuration."""

    def __init__(self) -> None:
        sig = {"use": "sig"}
        self.request = RSAKey.generate_key(2048, {**sig, "kid": "ro-ps256", "alg": "PS256"}, True)
        self.auth = ECKey.generate_key("P-256", {**sig, "kid": "auth-es256", "alg": "ES256"}, True)

    def jwks(self) -> dict:
        return {"keys": [dict(k.as_dict(private=False)) for k in (self.request, self.auth)]}


@pytest.fixture(scope="module")
def keys():
    return ClientKeys()


@pytest.fixture(scope="module")
def live(tmp_path_factory, keys):
    need_browser_tools()

    def sign_client(redirect_uri: str) -> list[dict]:
        return [
            {
                "client_id": CLIENT,
                "client_name": "Avtalstjänsten",
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": keys.jwks(),
                "redirect_uris": [redirect_uri],
                "grant_types": ["authorization_code"],
                "scope": SCOPE,
            }
        ]

    tmp = tmp_path_factory.mktemp("live-sign-request")
    with LiveProvider(tmp, think_time=1.0, extra_clients=sign_client) as provider:
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


# ------------------------------------------------------------------------ signing


def test_a_pushed_sign_request_is_shown_signed_in_the_app_and_its_evidence_verifies(
    live, keys, chromium, shots, tmp_path, node_rp
):
    """A PS256 request object with the sign scope, prompt=login consent and a signRequest in
    Swedish and English, pushed with private_key_jwt: the summary page and the app show the
    Swedish message (the request's ui_locales), the ID token carries userSignature and
    authnEvidence (no authorization_details in the token response: a signRequest is not
    RFC 9396), and the signature holds the message and, inside its binding, the tbs_data."""
    document = f"Köpeavtal för båten Älvsö, {secrets.token_hex(4)}".encode()
    tbs_data = base64.b64encode(hashlib.sha256(document).digest()).decode()
    case = secrets.token_hex(3)
    message_sv = f"Jag skriver under köpeavtalet för båten Älvsö.\nÄrende {case}, årsmöte"
    message_en = f"I sign the purchase agreement for the boat Älvsö.\nCase {case}"
    params = {
        "prompt": "login consent",
        "ui_locales": "sv",
        SIGN_REQUEST: {
            "tbs_data": tbs_data,
            "sign_message": {
                "message#sv": b64(message_sv),
                "message#en": b64(message_en),
                "mime_type": "text/plain",
            },
        },
    }
    config = {
        "issuer": live.url,
        "client_id": CLIENT,
        "redirect_uri": live.rp_callback,
        "scope": SCOPE,
        "params": params,
        "auth_key": dict(keys.auth.as_dict(private=True)),
        "signing_key": dict(keys.request.as_dict(private=True)),
    }
    rp = ScriptedRelyingParty(config, SIGN_SCRIPT)
    page = new_browser_page(
        chromium, "sv", viewport={"width": 1280, "height": 800}, user_agent=DESKTOP_UA
    )
    try:
        url = rp.authorization_url()
        assert set(query(url)) == {"client_id", "request_uri"}  # the request was pushed
        assert rp.pushed["jws"] == {"alg": "PS256", "typ": "oauth-authz-req+jwt", "kid": "ro-ps256"}
        page.goto(url)
        # The summary first; nothing started at BankID until the person chooses a way.
        page.locator("section.approval").wait_for()
        assert page.locator("#qr-img").count() == 0
        assert page.locator("#heading").inner_text() == "Signera med BankID"
        assert "Avtalstjänsten" in page.locator("main").inner_text()
        assert page.locator("#approval-text").text_content() == message_sv
        assert page.locator("#approval-text").inner_text().strip() == message_sv  # two lines
        page.screenshot(path=str(shots / "sv-desktop-sign-request-01-summary.png"), full_page=True)

        page.get_by_role("button", name="Mobilt BankID").click()
        qr = read_qr(page, tmp_path)
        page.screenshot(path=str(shots / "sv-desktop-sign-request-02-qr.png"), full_page=True)
        seen = live.phone("scan", {"qr": qr})
        assert seen["outcome"] == "complete", seen
        page.wait_for_url(f"{live.rp_callback}?**", timeout=30_000)
        callback = query(page.url)
        assert callback["code"] and callback["state"] and callback["iss"] == live.url
        message = rp.finish(page.url)
    finally:
        rp.close()
        page.context.close()
    # What the app showed: the Swedish message, as plain text.
    assert seen["userVisibleData"] == message_sv
    assert seen["userVisibleDataFormat"] == "plaintext"

    assert "result" in message, message
    result = message["result"]
    claims = result["claims"]
    assert claims["aud"] == CLIENT and claims["iss"] == live.url
    assert isinstance(claims[USER_SIGNATURE], str) and claims[USER_SIGNATURE]
    assert isinstance(claims[AUTHN_EVIDENCE], str) and claims[AUTHN_EVIDENCE]
    assert "authorization_details" not in result["token_response"]
    assert USER_SIGNATURE not in result["token_response"]  # only inside the ID token

    verified = evidence_verify(result["id_token"], "--expect-text", message_sv, "--json")
    assert verified.returncode == 0, verified.stderr
    evidence = json.loads(verified.stdout)
    assert evidence["ok"] is True and evidence["environment"] == "simulator"
    assert evidence["function"] == "Signing"
    assert evidence["visibleText"] == message_sv
    bound = json.loads(base64.b64decode(evidence["nonVisibleData"]))
    assert bound["data"] == tbs_data  # the document's digest, inside the request's binding


# ------------------------------------------------------------------------ refusals


def _signed(keys: ClientKeys, live, claims: dict, typ: str) -> str:
    """A JWT from sign-rp: the request object (PS256) or the client assertion (ES256)."""
    key = keys.request if typ == "oauth-authz-req+jwt" else keys.auth
    now = int(time.time())
    header = {"alg": key.alg, "kid": key.kid, "typ": typ}
    body = {
        "iss": CLIENT,
        "aud": live.url,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(12),
        **claims,
    }
    return jwt.encode(header, body, key, algorithms=[key.alg])


def test_a_sign_request_without_prompt_consent_is_refused_at_par(live, keys):
    """§5.1: a signature request needs prompt=login consent; `login` alone is refused."""
    _, challenge = pkce_pair()
    request = {
        "client_id": CLIENT,
        "response_type": "code",
        "redirect_uri": live.rp_callback,
        "scope": SCOPE,
        "state": "st",
        "nonce": "n",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "prompt": "login",
        "ui_locales": "sv",
        SIGN_REQUEST: {
            "tbs_data": base64.b64encode(hashlib.sha256(b"avtalet").digest()).decode(),
            "sign_message": {"message#sv": b64("Jag skriver under avtalet.")},
        },
    }
    form = {
        "client_id": CLIENT,
        "request": _signed(keys, live, request, "oauth-authz-req+jwt"),
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": _signed(keys, live, {"sub": CLIENT}, "JWT"),
    }
    r = httpx.post(f"{live.url}/par", data=form, timeout=10)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"
    assert "prompt=login consent" in r.json()["error_description"]
