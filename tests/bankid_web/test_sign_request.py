"""The OIDC Sweden Signature Extension 1.1 in-process: the sign scopes and the signed
signRequest parameter (in a pushed, signed request object, or as a JWT of its own), its
checklist (§5.1) with the error each rule gives, and the signature in the ID token (§5.2),
made through the same summary page and BankID /sign as an authorization_details approval."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from idp.authn.approval import AUTHN_EVIDENCE, USER_SIGNATURE
from idp.bankid.evidence import Trust, verify
from tests.bankid_web.conftest import build_app, make_settings
from tests.bankid_web.support import (
    ISSUER,
    RP_CB,
    RP_SECRET,
    Browser,
    pkce_pair,
    poll_until,
    query,
    scan,
)

pytestmark = pytest.mark.anyio

SIGN = "https://id.oidc.se/scope/sign"
APPROVAL = "https://id.oidc.se/scope/signApproval"
SIGN_REQUEST = "https://id.oidc.se/param/signRequest"
KEY = ec.generate_private_key(ec.SECP256R1())
TBS = base64.b64encode(hashlib.sha256(b"the document").digest()).decode()
MESSAGE_SV = "Jag skriver under avtalet."
MESSAGE_EN = "I sign the agreement."


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def public_jwk() -> dict:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key()))
    return {**jwk, "kid": "k1", "use": "sig", "alg": "ES256"}


def client(client_id: str, scope: str) -> dict:
    return {
        "client_id": client_id,
        "client_name": "Avtalstjänsten",
        "client_secret": RP_SECRET,
        "redirect_uris": [RP_CB],
        "grant_types": ["authorization_code"],
        "scope": scope,
        "jwks": {"keys": [public_jwk()]},
    }


@pytest.fixture
def settings(sqlite_url):
    return make_settings(
        sqlite_url,
        clients=[
            client("rp", f"openid profile {SIGN} {APPROVAL}"),
            client("nosign", "openid profile"),
        ],
    )


@pytest.fixture
async def app(settings, clock):
    application = build_app(settings, clock)
    async with application.router.lifespan_context(application):
        yield application


NOW = {"t": 0.0}


@pytest.fixture(autouse=True)
def _now(clock):
    NOW["t"] = clock.now()  # request objects are dated by the provider's (fixed) clock


def signed(claims: dict, client_id: str = "rp", typ: str = "oauth-authz-req+jwt") -> str:
    now = int(NOW["t"])
    body = {
        "iss": client_id,
        "aud": ISSUER,
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(12),
        **claims,
    }
    return jwt.encode(body, KEY, algorithm="ES256", headers={"kid": "k1", "typ": typ})


def sign_request(**extra) -> dict:
    message = {"message#sv": b64(MESSAGE_SV), "message#en": b64(MESSAGE_EN)}
    return {"tbs_data": TBS, "sign_message": message, **extra}


def authorization(b: Browser, client_id="rp", **params) -> dict:
    b.verifier, challenge = pkce_pair()
    b.state = "st"
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": RP_CB,
        "scope": f"openid {SIGN}",
        "state": b.state,
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "prompt": "login consent",
        "ui_locales": "sv",
        **params,
    }


async def push_object(b: Browser, claims: dict, client_id="rp"):
    """PAR with a signed request object carrying the request (and the signRequest)."""
    form = {"client_id": client_id, "request": signed(claims, client_id)}
    return await b.http.post("/par", data=form, auth=(client_id, RP_SECRET))


async def sign_through(app, clock, b: Browser, request_uri: str) -> dict:
    r = await b.http.get("/authorize", params={"client_id": "rp", "request_uri": request_uri})
    assert r.status_code == 303, r.text
    b.txn = query(r.headers["location"])["txn"]
    page = await b.get(r.headers["location"])
    assert "Signera med BankID" in page.text and MESSAGE_SV in page.text
    await b.submit("/bankid/start", {"flow": "qr"})
    await scan(app, b)
    callback = query(await b.finish(await poll_until(b, clock, "complete")))
    return await b.token(callback["code"])


async def test_a_signed_request_object_with_a_sign_request_is_signed_in_bankid(app, clock):
    b = Browser(app)
    claims = authorization(b, **{SIGN_REQUEST: sign_request()})
    r = await push_object(b, claims)
    assert r.status_code == 201, r.text
    tokens = await sign_through(app, clock, b, r.json()["request_uri"])
    assert app.state.link.calls["sign"] == 1
    assert "authorization_details" not in tokens  # the signRequest is not RFC 9396
    id_token = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    evidence = verify(id_token[USER_SIGNATURE], id_token[AUTHN_EVIDENCE], trust=Trust.builtin())
    assert evidence.visible_text == MESSAGE_SV  # the request's language, as shown
    bound = json.loads(base64.b64decode(evidence.non_visible_data))
    assert bound["data"] == TBS  # the data to be signed, inside the request's binding
    await b.aclose()


async def test_the_sign_request_may_be_a_jwt_of_its_own_next_to_pushed_parameters(app, clock):
    b = Browser(app)
    form = {
        **authorization(b),
        SIGN_REQUEST: signed(sign_request(), typ="JWT"),
    }
    r = await b.http.post("/par", data=form, auth=("rp", RP_SECRET))
    assert r.status_code == 201, r.text
    tokens = await sign_through(app, clock, b, r.json()["request_uri"])
    id_token = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert id_token[USER_SIGNATURE]


async def test_an_approval_only_signs_without_tbs_data(app, clock):
    b = Browser(app)
    claims = authorization(
        b, scope=f"openid {APPROVAL}", **{SIGN_REQUEST: sign_request(tbs_data=None)}
    )
    claims[SIGN_REQUEST].pop("tbs_data")
    r = await push_object(b, claims)
    assert r.status_code == 201, r.text
    tokens = await sign_through(app, clock, b, r.json()["request_uri"])
    id_token = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert id_token[USER_SIGNATURE]


@pytest.mark.parametrize(
    ("change", "error", "description"),
    [
        ({SIGN_REQUEST: None}, "invalid_request", "the sign scopes need"),
        ({"scope": "openid profile"}, "invalid_request", "needs the sign or signApproval scope"),
        ({"prompt": "login"}, "invalid_request", "prompt=login consent"),
        ({SIGN_REQUEST: {"sign_message": {"message": b64("x")}}}, "invalid_request", "tbs_data"),
        ({"scope": f"openid {APPROVAL}"}, "invalid_request", "must not carry tbs_data"),
        ({SIGN_REQUEST: {"tbs_data": TBS}}, "invalid_request", "needs a sign_message"),
        (
            {SIGN_REQUEST: sign_request(sign_message={"message": b64("x"), "mime_type": "a/b"})},
            "invalid_request",
            "mime_type",
        ),
        ({SIGN_REQUEST: sign_request(tbs_data="not base64!")}, "invalid_request", "base64"),
    ],
)
async def test_the_providers_checklist(app, change, error, description):
    b = Browser(app)
    claims = authorization(b, **{SIGN_REQUEST: sign_request()})
    claims.update(change)
    claims = {k: v for k, v in claims.items() if v is not None}
    r = await push_object(b, claims)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == error and description in r.json()["error_description"]


async def test_an_unsigned_sign_request_is_refused(app):
    b = Browser(app)
    form = {**authorization(b), SIGN_REQUEST: json.dumps(sign_request())}
    r = await b.http.post("/par", data=form, auth=("rp", RP_SECRET))
    assert r.status_code == 400 and "must be signed by the client" in r.text


async def test_a_client_not_allowed_to_sign_is_unauthorized(app):
    b = Browser(app)
    r = await push_object(b, authorization(b, "nosign", **{SIGN_REQUEST: sign_request()}), "nosign")
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"


async def test_discovery_lists_the_sign_scopes(app):
    b = Browser(app)
    doc = (await b.http.get("/.well-known/openid-configuration")).json()
    assert {SIGN, APPROVAL} <= set(doc["scopes_supported"])
    assert doc["request_parameter_supported"] is True
    assert "https://id.oidc.se/claim/userSignature" in doc["claims_supported"]
