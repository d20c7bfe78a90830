"""Pushed authorization requests end to end in headless Chromium, with relying-party libraries
that are not ours (tests/bankid_web/rp/par_login.mjs):

* oauth4webapi pushes a signed request object (RFC 9101), and another one encrypted to the
  provider's `use: enc` key, authenticating with private_key_jwt (RFC 9126 §2);
* openid-client pushes plain parameters with its client secret (`buildAuthorizationUrlWithPAR`).

The person logs in with BankID (the QR code read from the screen's pixels and scanned through the
simulator's app API); the library then exchanges the code and validates the ID token. A
personal number in the pushed request (`login_hint`) restricts the BankID order to that person;
the Swedish `userMessage` parameter is what the app shows, in the page's language. The refusals
at the end show that each success depends on the right keys and secrets."""

from __future__ import annotations

import base64
import json
import secrets

import httpx
import pytest
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
from tests.bankid_web.support import ANNA, DESKTOP_UA, RP_SECRET, query
from tests.services import require_service

pytestmark = [pytest.mark.browser, pytest.mark.node]

BJORN = "197203152397"
CECILIA = "199311242409"
UNCERTIFIED_LOA3 = "http://id.swedenconnect.se/loa/1.0/uncertified-loa3"
ACR_QR = "urn:grn:authn:se:bankid:qr"
NATURAL_PERSON_NUMBER = "https://id.oidc.se/scope/naturalPersonNumber"
PERSONAL_IDENTITY_NUMBER = "https://id.oidc.se/claim/personalIdentityNumber"
USER_MESSAGE = "https://id.oidc.se/param/userMessage"
PAR_CLIENT = "par-rp"
PAR_SCOPE = f"openid {NATURAL_PERSON_NUMBER}"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _private(key: RSAKey | ECKey) -> dict:
    return dict(key.as_dict(private=True))


def _public(key: RSAKey | ECKey) -> dict:
    return dict(key.as_dict(private=False))


class ClientKeys:
    """The par-rp client's key pairs: PS256 and ES256 for request objects, ES256 for
    private_key_jwt. Only the public halves are in the provider's configuration."""

    def __init__(self) -> None:
        sig = {"use": "sig"}
        self.ps256 = RSAKey.generate_key(2048, {**sig, "kid": "ro-ps256", "alg": "PS256"}, True)
        self.es256 = ECKey.generate_key("P-256", {**sig, "kid": "ro-es256", "alg": "ES256"}, True)
        self.auth = ECKey.generate_key("P-256", {**sig, "kid": "auth-es256", "alg": "ES256"}, True)

    def jwks(self) -> dict:
        return {"keys": [_public(k) for k in (self.ps256, self.es256, self.auth)]}


@pytest.fixture(scope="module")
def keys():
    return ClientKeys()


@pytest.fixture(scope="module")
def live(tmp_path_factory, keys):
    need_browser_tools()

    def par_client(redirect_uri: str) -> list[dict]:
        return [
            {
                "client_id": PAR_CLIENT,
                "client_name": "PAR test RP",
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": keys.jwks(),
                "redirect_uris": [redirect_uri],
                "grant_types": ["authorization_code"],
                "scope": PAR_SCOPE,
            }
        ]

    with LiveProvider(tmp_path_factory.mktemp("live-par"), extra_clients=par_client) as provider:
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


def new_page(chromium, lang):
    return new_browser_page(
        chromium, lang, viewport={"width": 1280, "height": 800}, user_agent=DESKTOP_UA
    )


def show_qr(page) -> None:
    """From the authorization URL to the QR code: a request whose acr does not name the way to
    log in gets the choice first (a computer: "Mobile BankID")."""
    page.locator("#qr-img, button[value=qr]").first.wait_for()
    if page.locator("button[value=qr]").count():
        page.click("button[value=qr]")


def scan(live, qr: str, **extra) -> httpx.Response:
    return httpx.post(f"{live.url}/bankid-simulator/app/scan", json={"qr": qr, **extra}, timeout=10)


def oauth4webapi_config(live, keys, *, params, signing_key, encrypt=None, **extra) -> dict:
    return {
        "library": "oauth4webapi",
        "issuer": live.url,
        "client_id": PAR_CLIENT,
        "redirect_uri": live.rp_callback,
        "scope": PAR_SCOPE,
        "params": params,
        "auth_key": _private(keys.auth),
        "signing_key": _private(signing_key),
        "encrypt": encrypt,
        **extra,
    }


def openid_client_config(live, *, params, secret=RP_SECRET) -> dict:
    return {
        "library": "openid-client",
        "issuer": live.url,
        "client_id": "rp",
        "client_secret": secret,
        "redirect_uri": live.rp_callback,
        "scope": "openid profile ssn",
        "params": params,
    }


def login(rp, page, live, tmp_path):
    """The browser goes where the RP sends it, the person scans the QR code; answers the RP's
    last message and the simulator's answer to the scan."""
    page.goto(rp.authorization_url())
    show_qr(page)
    scanned = scan(live, read_qr(page, tmp_path))
    assert scanned.status_code == 200, scanned.text
    page.wait_for_url(f"{live.rp_callback}?**", timeout=30_000)
    callback = query(page.url)
    assert callback["code"] and callback["state"] and callback["iss"] == live.url
    return rp.finish(page.url), scanned.json()


# ------------------------------------------------------------------------ successful logins


def test_oauth4webapi_pushes_a_signed_request_object_naming_the_person(
    live, keys, chromium, shots, tmp_path, node_rp
):
    """PAR + a PS256 request object with the naturalPersonNumber scope, a voluntary acr, the
    person's number as login_hint and a Markdown userMessage in Swedish and English: the order
    is Björn's only (Anna's phone is refused), the app shows the Swedish Markdown, and the ID
    token carries Björn's personal identity number and the acr that was met."""
    case = secrets.token_hex(3)
    markdown = {"sv": f"# Inloggning\n*Ärende* {case}", "en": f"# Log in\n*Case* {case}"}
    params = {
        "acr_values": UNCERTIFIED_LOA3,
        "login_hint": BJORN,
        "ui_locales": "sv",
        USER_MESSAGE: {
            "message#sv": b64(markdown["sv"]),
            "message#en": b64(markdown["en"]),
            "mime_type": "text/markdown",
        },
    }
    rp = ScriptedRelyingParty(
        oauth4webapi_config(live, keys, params=params, signing_key=keys.ps256)
    )
    page = new_page(chromium, "sv")
    try:
        url = rp.authorization_url()
        # The browser carries only the client and the reference to the pushed request.
        assert set(query(url)) == {"client_id", "request_uri"}
        assert rp.pushed["jws"] == {"alg": "PS256", "typ": "oauth-authz-req+jwt", "kid": "ro-ps256"}
        assert "jwe" not in rp.pushed
        page.goto(url)
        show_qr(page)
        qr = read_qr(page, tmp_path)
        page.screenshot(path=str(shots / "sv-desktop-par-01-qr.png"), full_page=True)

        # Another person's app cannot take the order; it stays pending for the named person.
        refused = scan(live, qr, personalNumber=ANNA)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "personal_number_mismatch"
        # The simulator's page says so too: the order requires this person, and shows the text.
        sim = page.context.new_page()
        sim.goto(f"{live.url}/bankid-simulator/?lang=en")
        row = sim.locator("tr", has=sim.locator("pre.visible-data", has_text=case))
        assert row.locator("input[name=personalNumber]").get_attribute("value") == BJORN
        assert "The order requires this person" in row.inner_text()
        assert row.locator("pre.visible-data").inner_text() == markdown["sv"]
        assert "(simpleMarkdownV1)" in row.locator("figcaption").inner_text()
        sim.screenshot(path=str(shots / "en-desktop-par-02-simulator-required-person.png"))
        sim.close()

        scanned = scan(live, read_qr(page, tmp_path))  # the phone of the person it is for
        assert scanned.status_code == 200, scanned.text
        seen = scanned.json()
        assert seen["person"]["name"] == "Björn Berglund"
        assert seen["userVisibleData"] == markdown["sv"]
        assert seen["userVisibleDataFormat"] == "simpleMarkdownV1"
        page.wait_for_url(f"{live.rp_callback}?**", timeout=30_000)
        message = rp.finish(page.url)
    finally:
        rp.close()
        page.context.close()
    assert "result" in message, message
    claims = message["result"]["claims"]
    assert claims[PERSONAL_IDENTITY_NUMBER] == BJORN
    assert claims["acr"] == UNCERTIFIED_LOA3
    assert claims["iss"] == live.url and claims["aud"] == PAR_CLIENT
    assert message["result"]["userinfo"][PERSONAL_IDENTITY_NUMBER] == BJORN


@pytest.mark.parametrize("enc", ["A256GCM", "A128GCM"])
def test_oauth4webapi_pushes_an_encrypted_request_object(
    live, keys, chromium, tmp_path, node_rp, enc
):
    """PAR + an ES256 request object encrypted with RSA-OAEP to the provider's `use: enc` key,
    acr as an essential claim and a plain userMessage: the English text in the app, and the ID
    token of the default person with the acr that was asked for."""
    case = secrets.token_hex(3)
    texts = {"sv": f"Logga in hos Testbolaget, ärende {case}", "en": f"Log in at Testco, {case}"}
    params = {
        "ui_locales": "en",
        "claims": {"id_token": {"acr": {"essential": True, "values": [UNCERTIFIED_LOA3]}}},
        USER_MESSAGE: {"message#sv": b64(texts["sv"]), "message#en": b64(texts["en"])},
    }
    config = oauth4webapi_config(
        live, keys, params=params, signing_key=keys.es256, encrypt={"enc": enc}
    )
    rp = ScriptedRelyingParty(config)
    page = new_page(chromium, "en")
    try:
        message, seen = login(rp, page, live, tmp_path)
    finally:
        rp.close()
        page.context.close()
    ours = [k for k in httpx.get(f"{live.url}/jwks").json()["keys"] if k.get("use") == "enc"]
    assert rp.pushed["jwe"] == {
        "alg": "RSA-OAEP",
        "enc": enc,
        "cty": "JWT",
        "kid": rp.pushed["jwe"]["kid"],
    }
    assert rp.pushed["jwe"]["kid"] in {k["kid"] for k in ours}
    assert rp.pushed["jws"]["alg"] == "ES256"
    assert seen["userVisibleData"] == texts["en"]
    assert seen["userVisibleDataFormat"] == "plaintext"
    assert "result" in message, message
    claims = message["result"]["claims"]
    assert claims[PERSONAL_IDENTITY_NUMBER] == ANNA
    assert claims["acr"] == UNCERTIFIED_LOA3


def test_openid_client_pushes_the_request_and_the_hint_restricts_the_order(
    live, chromium, shots, tmp_path, node_rp
):
    """openid-client's buildAuthorizationUrlWithPAR (client_secret_basic) with a personal
    number as login_hint and an untagged plain userMessage as form parameters: only Cecilia
    can take the order, and the ID token is hers."""
    case = secrets.token_hex(3)
    text = f"Inloggning {case}"
    params = {
        "acr_values": ACR_QR,
        "ui_locales": "en",
        "login_hint": CECILIA,
        USER_MESSAGE: {"message": b64(text), "mime_type": "text/plain"},
    }
    rp = ScriptedRelyingParty(openid_client_config(live, params=params))
    page = new_page(chromium, "en")
    try:
        url = rp.authorization_url()
        assert set(query(url)) == {"client_id", "request_uri"}
        page.goto(url)
        show_qr(page)
        qr = read_qr(page, tmp_path)
        refused = scan(live, qr, personalNumber=ANNA)
        assert refused.status_code == 403 and refused.json()["error"] == "personal_number_mismatch"
        page.screenshot(path=str(shots / "en-desktop-par-03-openid-client-qr.png"), full_page=True)
        scanned = scan(live, read_qr(page, tmp_path), personalNumber=CECILIA)
        assert scanned.status_code == 200, scanned.text
        assert scanned.json()["userVisibleData"] == text
        page.wait_for_url(f"{live.rp_callback}?**", timeout=30_000)
        message = rp.finish(page.url)
    finally:
        rp.close()
        page.context.close()
    assert "result" in message, message
    claims = message["result"]["claims"]
    assert claims["ssn"] == CECILIA and claims["name"] == "Cecilia Carlsson"
    assert claims["acr"] == ACR_QR and claims["aud"] == "rp"


# ------------------------------------------------------------------------ refusals


def _refused(config: dict) -> dict:
    rp = ScriptedRelyingParty(config)
    try:
        message = rp.first()
        rp.proc.wait(timeout=10)
    finally:
        rp.close()
    assert "fatal" in message, message
    assert rp.proc.returncode == 1
    return message["fatal"]


def test_a_request_object_signed_with_a_key_the_client_never_registered_is_refused(
    live, keys, node_rp
):
    stranger = RSAKey.generate_key(2048, {"use": "sig", "kid": "ro-ps256", "alg": "PS256"}, True)
    fatal = _refused(
        oauth4webapi_config(live, keys, params={"login_hint": BJORN}, signing_key=stranger)
    )
    assert (fatal["status"], fatal["error"]) == (400, "invalid_request_object"), fatal
    assert fatal["error_description"] == "the request object's signature is invalid"


def test_a_request_object_encrypted_to_another_key_is_refused(live, keys, node_rp):
    ours = next(k for k in httpx.get(f"{live.url}/jwks").json()["keys"] if k.get("use") == "enc")
    other = RSAKey.generate_key(2048, {"use": "enc", "kid": ours["kid"], "alg": "RSA-OAEP"})
    config = oauth4webapi_config(
        live,
        keys,
        params={},
        signing_key=keys.es256,
        encrypt={"enc": "A256GCM"},
        encryption_key=_public(other),
    )
    fatal = _refused(config)
    assert (fatal["status"], fatal["error"]) == (400, "invalid_request_object"), fatal
    assert fatal["error_description"] == "the request object cannot be decrypted"


def test_private_key_jwt_with_another_key_is_refused_at_par(live, keys, node_rp):
    config = oauth4webapi_config(live, keys, params={}, signing_key=keys.ps256)
    config["auth_key"] = _private(
        ECKey.generate_key("P-256", {"use": "sig", "kid": "auth-es256", "alg": "ES256"}, True)
    )
    fatal = _refused(config)
    assert (fatal["status"], fatal["error"]) == (401, "invalid_client"), fatal


def test_openid_client_with_a_wrong_secret_is_refused_at_par(live, node_rp):
    fatal = _refused(openid_client_config(live, params={}, secret="not-" + RP_SECRET))
    assert (fatal["status"], fatal["error"]) == (401, "invalid_client"), fatal


@pytest.mark.parametrize("library", ["oauth4webapi", "openid-client"])
def test_the_libraries_refuse_a_callback_that_is_not_the_answer_to_their_request(
    live, keys, library, node_rp
):
    """The RP side checks too: a callback with another state never reaches the token
    endpoint."""
    config = (
        oauth4webapi_config(live, keys, params={}, signing_key=keys.es256)
        if library == "oauth4webapi"
        else openid_client_config(live, params={})
    )
    rp = ScriptedRelyingParty(config)
    try:
        rp.authorization_url()
        forged = f"{live.rp_callback}?code=abc&state=forged&iss={live.url}"
        message = rp.finish(forged)
    finally:
        rp.close()
    assert "fatal" in message, message
    assert "state" in json.dumps(message["fatal"]).lower()


def test_oauth4webapi_notices_an_id_token_whose_signature_does_not_verify(
    live, keys, chromium, tmp_path, node_rp
):
    """The RP verifies the ID token's signature with the provider's JWKS: the same login with
    one byte of the signature changed on the way from the token endpoint is refused."""
    config = oauth4webapi_config(live, keys, params={"ui_locales": "en"}, signing_key=keys.es256)
    config["tamper_id_token_signature"] = True
    rp = ScriptedRelyingParty(config)
    page = new_page(chromium, "en")
    try:
        message, _ = login(rp, page, live, tmp_path)
    finally:
        rp.close()
        page.context.close()
    assert "fatal" in message, message
    assert "signature verification failed" in message["fatal"]["message"], message
