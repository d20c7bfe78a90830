"""Discovery lists exactly what works: every value the provider advertises in
/.well-known/openid-configuration is used here, as a client would use it, and accepted.

The provider is the one `create_app` wires for BankID (no fake authenticator: the built-in
simulator, the person playing through its app API), because acr values, claims and the
userMessage MIME types only mean something with a real login. The tests read the values from
the document, so a value added to discovery without a way to use it fails here ("no client /
key / login for ..."), and so does an advertised value the provider then refuses.

Covered: token_endpoint_auth_methods_supported (a client per method gets a token),
token_endpoint_auth_signing_alg_values_supported (an assertion per alg, a key generated per
alg), introspection_/revocation_endpoint_auth_methods_supported, grant_types_supported (each
grant, CIBA in both delivery modes of backchannel_token_delivery_modes_supported),
response_types_supported, response_modes_supported, code_challenge_methods_supported,
scopes_supported (each requested and granted), claims_supported (each claim found in the ID
token or at UserInfo after a login asking for it), acr_values_supported (each requested as
essential, met by a login, and named by the ID token; the phone acr by a CIBA login),
prompt_values_supported, ui_locales_supported, subject_types_supported,
id_token_signing_alg_values_supported, userinfo_signing_alg_values_supported,
request_object_signing_alg_values_supported, request_object_encryption_alg_values_supported x
request_object_encryption_enc_values_supported, the PAR endpoint, the userMessage MIME types,
authorization_response_iss_parameter_supported, and the booleans that say what is refused
(request_uri_parameter_supported, require_pushed_authorization_requests,
require_signed_request_object). claims_locales_supported is not advertised (claims are not
localised). `test_every_discovery_member_is_proven` walks the whole document: each member is
in PROVES, with the test that proves it, here or elsewhere; a new member without one fails.

Claims that depend on BankID data the simulator lacks: none. Every claim advertised comes from
an authentication the simulator completes (coordinationNumber needs a person with a
samordningsnummer, which the simulator accepts as any valid number: it is asked for by number).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anyio
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwe
from joserfc.jwk import RSAKey

from idp.app import create_app
from idp.authn.approval import USER_SIGNATURE
from idp.ciba import PingNotifier
from idp.clock import FixedClock
from idp.config import CIBA_GRANT, parse_settings
from idp.config.schema import DEFAULT_SCOPES
from idp.oidc.sign_request import SCOPES as SIGN_SCOPES
from idp.store.memory import MemoryTTLStore
from tests.ciba.receiver import Receiver
from tests.profiles.swedish_rp import (
    ANNA,
    COORDINATION_PERSON,
    ISSUER,
    RP_CB,
    USER_MESSAGE,
    SwedishRP,
    dumps,
    query,
    redirect_error,
    user_message,
)

pytestmark = pytest.mark.anyio

SECRETS = {
    "m-basic": "m-basic-secret-0123456789abcdef",
    "m-post": "m-post-secret-0123456789abcdef",
    "m-cc": "m-cc-secret-0123456789abcdef",
    "m-ciba": "m-ciba-secret-0123456789abcdef",
    "m-ping": "m-ping-secret-0123456789abcdef",
    "m-es256": "m-es256-secret-0123456789abcdef",
    "m-rs256-ui": "m-rs256-ui-secret-0123456789ab",
    "m-pairwise": "m-pairwise-secret-0123456789ab",
}
#: The client registered with each token endpoint authentication method.
CLIENT_FOR_METHOD = {
    "client_secret_basic": "m-basic",
    "client_secret_post": "m-post",
    "private_key_jwt": "m-jwt",
    "none": "m-public",
}
#: Each grant's client.
CLIENT_FOR_GRANT = {
    "authorization_code": "m-basic",
    "refresh_token": "m-basic",
    "client_credentials": "m-cc",
    CIBA_GRANT: "m-ciba",
}
#: The client whose ID tokens / UserInfo answers are signed with each algorithm.
CLIENT_FOR_ID_TOKEN_ALG = {"RS256": "m-basic", "ES256": "m-es256"}
CLIENT_FOR_USERINFO_ALG = {"RS256": "m-rs256-ui", "ES256": "m-es256"}
CLIENT_FOR_SUBJECT_TYPE = {"public": "m-basic", "pairwise": "m-pairwise"}
#: Every JWS algorithm a client key could be made for; discovery may name any of them.
JWS_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
CURVES = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
ALL_SCOPES = " ".join(DEFAULT_SCOPES)
#: Every scope a login alone can be granted (the sign scopes need a signRequest).
LOGIN_SCOPES = " ".join(s for s in DEFAULT_SCOPES if s not in SIGN_SCOPES)
FLOW_FOR_ACR = {"urn:grn:authn:se:bankid:same-device": "same_device"}  # else the QR code
#: Acr values only a backchannel (CIBA) login carries.
CIBA_ACRS = {"urn:grn:authn:se:bankid:phone"}


# ============================================================================ the provider


@pytest.fixture(scope="session")
def alg_keys():
    """A client key per JWS algorithm: alg -> (private key, kid)."""
    keys = {}
    for alg in JWS_ALGS:
        if alg.startswith("ES"):
            keys[alg] = (ec.generate_private_key(CURVES[alg]), f"k-{alg}")
        else:
            keys[alg] = (rsa.generate_private_key(public_exponent=65537, key_size=2048), f"k-{alg}")
    return keys


def jwks_of(keys) -> dict:
    out = []
    for alg, (key, kid) in keys.items():
        cls = jwt.algorithms.ECAlgorithm if alg.startswith("ES") else jwt.algorithms.RSAAlgorithm
        jwk = json.loads(cls.to_jwk(key.public_key()))
        jwk.update({"kid": kid, "use": "sig", "alg": alg})
        out.append(jwk)
    return {"keys": out}


def clients(jwks, ping_url):
    def web(client_id, **kw):
        entry = {
            "client_id": client_id,
            "client_secret": SECRETS.get(client_id),
            "redirect_uris": [RP_CB],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": ALL_SCOPES,
        }
        entry.update(kw)
        return {k: v for k, v in entry.items() if v is not None}

    return [
        web("m-basic"),
        web("m-post", token_endpoint_auth_method="client_secret_post"),
        web("m-jwt", token_endpoint_auth_method="private_key_jwt", jwks=jwks),
        web("m-public", token_endpoint_auth_method="none"),
        web("m-es256", id_token_signed_response_alg="ES256", userinfo_signed_response_alg="ES256"),
        web("m-rs256-ui", userinfo_signed_response_alg="RS256"),
        web("m-pairwise", subject_type="pairwise", pairwise_sector="pairwise.example"),
        {
            "client_id": "m-cc",
            "client_secret": SECRETS["m-cc"],
            "grant_types": ["client_credentials"],
            "scope": "openid",
        },
        {
            "client_id": "m-ciba",
            "client_secret": SECRETS["m-ciba"],
            "grant_types": [CIBA_GRANT],
            "backchannel_token_delivery_mode": "poll",
            "scope": "openid profile",
        },
        {
            "client_id": "m-ping",
            "client_secret": SECRETS["m-ping"],
            "grant_types": [CIBA_GRANT],
            "backchannel_token_delivery_mode": "ping",
            "backchannel_client_notification_endpoint": ping_url,
            "scope": "openid profile",
        },
    ]


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
async def provider(tmp_path, template_db, alg_keys, receiver):
    """The real BankID wiring, a fixed clock, and a factory of relying parties (one browser
    each)."""
    shutil.copy(template_db, tmp_path / "idp.db")
    settings = parse_settings(
        {
            "issuer": ISSUER,
            "database_url": f"sqlite:///{tmp_path}/idp.db",
            "bankid": {"simulator": {"think_time_seconds": 1}},
            "clients": clients(jwks_of(alg_keys), receiver.url),
        },
        source="test",
        environ={},
    )
    clock = FixedClock()
    app = create_app(settings, clock=clock, store=MemoryTTLStore(clock))
    app.state.ciba.service.notifier = PingNotifier(backoff=0.01)
    made: list[SwedishRP] = []

    def rp(client_id="m-basic", **kw) -> SwedishRP:
        made.append(SwedishRP(app, clock, client_id, alg_keys, **kw))
        return made[-1]

    async with app.router.lifespan_context(app):
        doc = (await rp().server.get("/.well-known/openid-configuration")).json()
        yield doc, rp, app, clock, receiver
        for r in made:
            await r.aclose()


def client_auth(rp: SwedishRP, method: str, *, aud=ISSUER, alg="RS256"):
    """(form fields, httpx auth) for `rp`'s client authenticating with `method`."""
    cid = rp.client_id
    if method == "client_secret_basic":
        return {}, httpx.BasicAuth(cid, SECRETS[cid])
    if method == "client_secret_post":
        return {"client_id": cid, "client_secret": SECRETS[cid]}, None
    if method == "private_key_jwt":
        return rp.client_auth(alg=alg, aud=aud), None
    if method == "none":
        return {"client_id": cid}, None
    raise AssertionError(f"discovery names an auth method no test knows: {method}")


def method_of(client_id: str) -> str:
    """The registered method of a test client (the others use client_secret_basic)."""
    return next((m for m, c in CLIENT_FOR_METHOD.items() if c == client_id), "client_secret_basic")


async def exchange(rp: SwedishRP, final: httpx.Response, **kw) -> httpx.Response:
    """The code of a redirect back, at the token endpoint, authenticated as the client is."""
    q = query(final.headers["location"])
    assert "code" in q, q
    fields, auth = client_auth(rp, method_of(rp.client_id), **kw)
    data = {
        "grant_type": "authorization_code",
        "code": q["code"],
        "redirect_uri": rp.redirect_uri,
        "code_verifier": rp.verifier,
        **fields,
    }
    return await rp.server.post("/token", data=data, auth=auth)


async def tokens_of(rp: SwedishRP, params=None, **login) -> dict:
    r = await exchange(rp, await rp.login(params, **login))
    assert r.status_code == 200, r.text
    return r.json()


async def userinfo_claims(rp: SwedishRP, access_token: str) -> dict:
    r = await rp.userinfo(access_token)
    assert r.status_code == 200, r.text
    if r.headers["content-type"].startswith("application/jwt"):
        return (await rp.verify(r.text))[1]
    return r.json()


# ============================================================================ client auth


async def test_every_token_endpoint_auth_method_gets_a_token(provider):
    doc, rp, *_ = provider
    methods = doc["token_endpoint_auth_methods_supported"]
    assert methods
    for method in methods:
        assert method in CLIENT_FOR_METHOD, f"no client registered with {method}"
        client = rp(CLIENT_FOR_METHOD[method])
        tokens = await tokens_of(client)
        assert tokens["access_token"] and tokens["id_token"], method


async def test_every_token_endpoint_auth_signing_alg_signs_an_accepted_assertion(provider):
    doc, rp, *_ = provider
    algs = doc["token_endpoint_auth_signing_alg_values_supported"]
    assert algs and "none" not in algs
    client = rp("m-jwt")
    for alg in algs:
        assert alg in JWS_ALGS, f"no client key can be made for {alg}"
        final = await client.login()  # the first logs in with BankID, the rest from the session
        r = await exchange(client, final, alg=alg)
        assert r.status_code == 200, (alg, r.text)


@pytest.mark.parametrize("endpoint", ["introspection", "revocation"])
async def test_every_introspection_and_revocation_auth_method_is_accepted(provider, endpoint):
    doc, rp, *_ = provider
    for method in doc[f"{endpoint}_endpoint_auth_methods_supported"]:
        assert method in CLIENT_FOR_METHOD, f"no client registered with {method}"
        client = rp(CLIENT_FOR_METHOD[method])
        tokens = await tokens_of(client)
        fields, auth = client_auth(client, method)
        url = doc[f"{endpoint}_endpoint"].removeprefix(ISSUER)
        r = await client.server.post(
            url, data={"token": tokens["access_token"], **fields}, auth=auth
        )
        assert r.status_code == 200, (method, r.text)
        if endpoint == "introspection":
            assert r.json()["active"] is True, (method, r.json())


# ============================================================================ grants


async def test_every_grant_type_works(provider):
    doc, rp, app, clock, receiver = provider
    for grant in doc["grant_types_supported"]:
        assert grant in CLIENT_FOR_GRANT, f"no test client uses {grant}"
    grants = set(doc["grant_types_supported"])
    if "authorization_code" in grants or "refresh_token" in grants:
        client = rp(CLIENT_FOR_GRANT["authorization_code"])
        tokens = await tokens_of(client, client.auth_params(scope="openid profile"))
        if "refresh_token" in grants:
            assert tokens.get("refresh_token"), tokens
            _, auth = client_auth(client, "client_secret_basic")
            r = await client.server.post(
                "/token",
                data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                auth=auth,
            )
            assert r.status_code == 200 and r.json()["access_token"], r.text
    if "client_credentials" in grants:
        client = rp(CLIENT_FOR_GRANT["client_credentials"])
        r = await client.server.post(
            "/token",
            data={"grant_type": "client_credentials"},
            auth=httpx.BasicAuth("m-cc", SECRETS["m-cc"]),
        )
        assert r.status_code == 200 and r.json()["access_token"], r.text
    if CIBA_GRANT in grants:
        for mode in doc["backchannel_token_delivery_modes_supported"]:
            await ciba_login(rp(), app, clock, receiver, mode)


async def ciba_login(rp: SwedishRP, app, clock, receiver, mode: str, **asked) -> dict:
    """A backchannel login approved on the phone; the ID token's claims."""
    client_id = {"poll": "m-ciba", "ping": "m-ping"}[mode]
    auth = httpx.BasicAuth(client_id, SECRETS[client_id])
    extra = {"client_notification_token": "note-" + "x" * 20} if mode == "ping" else {}
    extra |= asked
    r = await rp.server.post(
        "/backchannel-authentication",
        data={"scope": "openid profile", "login_hint": ANNA, **extra},
        auth=auth,
    )
    assert r.status_code == 200, (mode, r.text)
    ack = r.json()
    phone = await rp.server.post(
        "/bankid-simulator/app/phone", json={"personalNumber": ANNA, "action": "approve"}
    )
    assert phone.status_code == 200, phone.text
    data = {"grant_type": CIBA_GRANT, "auth_req_id": ack["auth_req_id"]}
    with anyio.fail_after(10):
        while True:
            clock.advance(ack.get("interval", 5))
            if mode == "ping" and not receiver.received:
                await anyio.sleep(0.02)
                continue
            r = await rp.server.post("/token", data=data, auth=auth)
            if r.status_code == 200:
                break
            assert r.json()["error"] in ("authorization_pending", "slow_down"), (mode, r.text)
            await anyio.sleep(0.02)
    claims = unverified_claims(r.json()["id_token"])
    assert claims["acr"] and claims["sub"], claims
    if mode == "ping":
        assert receiver.received[-1]["body"] == {"auth_req_id": ack["auth_req_id"]}
    return claims


def unverified_claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


# ============================================================================ the request


async def test_every_response_type_mode_and_code_challenge_method_is_accepted(provider):
    doc, rp, *_ = provider
    assert doc["authorization_response_iss_parameter_supported"] is True
    for response_type in doc["response_types_supported"]:
        for mode in doc["response_modes_supported"]:
            for method in doc["code_challenge_methods_supported"]:
                client = rp()
                params = client.auth_params(
                    response_type=response_type, response_mode=mode, code_challenge_method=method
                )
                final = await client.login(params)
                q = query(final.headers["location"])  # query: the one mode offered
                assert q["iss"] == ISSUER and q["state"] == params["state"]
                r = await exchange(client, final)
                assert r.status_code == 200, (response_type, mode, method, r.text)


async def test_every_scope_is_accepted_and_granted(provider):
    doc, rp, *_ = provider
    allowed = set(ALL_SCOPES.split())
    for scope in doc["scopes_supported"]:
        if scope in SIGN_SCOPES:
            continue  # need a signed signRequest: tests/bankid_web/test_sign_request.py
        assert scope in allowed, f"the test client is not allowed {scope}"
        client = rp()
        tokens = await tokens_of(client, client.auth_params(scope=f"openid {scope}"))
        assert scope in tokens["scope"].split(), (scope, tokens["scope"])
        access = unverified_claims(tokens["access_token"])
        assert scope in access["scope"].split(), (scope, access)


async def test_every_claim_can_be_obtained(provider):
    doc, rp, *_ = provider
    # The signature claim comes only from a signature (tests/bankid_web/test_sign_request.py).
    supported = set(doc["claims_supported"]) - {USER_SIGNATURE}
    wanted = {name: None for name in sorted(supported)}
    asked = dumps({"id_token": wanted, "userinfo": wanted})
    found: set[str] = set()
    for person in (ANNA, COORDINATION_PERSON):  # a personnummer, then a samordningsnummer
        client = rp()
        params = client.auth_params(scope=LOGIN_SCOPES, claims=asked)
        tokens = await tokens_of(client, params, person=person)
        found |= set(unverified_claims(tokens["id_token"]))
        found |= set(await userinfo_claims(client, tokens["access_token"]))
    missing = supported - found
    assert not missing, f"advertised but never released: {sorted(missing)}"


async def test_every_acr_value_requested_as_essential_is_met_and_named(provider):
    doc, rp, app, clock, receiver = provider
    assert doc["acr_values_supported"]
    if CIBA_GRANT in doc["grant_types_supported"]:
        assert CIBA_ACRS <= set(doc["acr_values_supported"]), doc["acr_values_supported"]
    for acr in doc["acr_values_supported"]:
        if acr in CIBA_ACRS:
            claims = await ciba_login(rp(), app, clock, receiver, "poll", acr_values=acr)
            assert claims["acr"] == acr, (acr, claims["acr"])
            continue
        client = rp()
        asked = {"id_token": {"acr": {"essential": True, "value": acr}}}
        params = client.auth_params(claims=dumps(asked))
        tokens = await tokens_of(client, params, flow=FLOW_FOR_ACR.get(acr, "qr"))
        claims = (await client.verify(tokens["id_token"]))[1]
        assert claims["acr"] == acr, (acr, claims["acr"])
        # The same value as acr_values (voluntary) is accepted too.
        voluntary = rp()
        first = await voluntary.authorize(voluntary.auth_params(acr_values=acr))
        assert first.headers["location"].startswith("/bankid/login?"), (acr, first.headers)


async def test_every_prompt_value_is_accepted(provider):
    doc, rp, *_ = provider
    for prompt in doc["prompt_values_supported"]:
        client = rp()
        if prompt == "none":
            params = client.auth_params(prompt="none")
            redirect_error(await client.authorize(params), "login_required", state=params["state"])
            await tokens_of(client)  # now a session
            again = await client.authorize(client.auth_params(prompt="none"))
            assert query(again.headers["location"]).get("code"), again.headers
            continue
        await tokens_of(client)  # a session the prompt must not simply reuse
        params = client.auth_params(prompt=prompt)
        first = await client.authorize(params)
        assert first.headers["location"].startswith("/bankid/login?"), (prompt, first.headers)
        await client.open_bankid(first)
        await client.app_scan()
        r = await exchange(client, await client.finish())
        assert r.status_code == 200, (prompt, r.text)


async def test_every_ui_locale_shows_the_login_in_that_language(provider):
    doc, rp, *_ = provider
    for locale in doc["ui_locales_supported"]:
        client = rp()
        first = await client.authorize(client.auth_params(ui_locales=locale))
        page = await client.get(first.headers["location"])
        assert page.status_code == 200 and f'<html lang="{locale}">' in page.text, locale


async def test_claims_locales_are_not_advertised_since_claims_are_not_localised(provider):
    doc, *_ = provider
    # OIDC Discovery §3: "Languages and scripts supported for values in Claims being
    # returned". BankID's names come as they are, in no language: nothing to advertise.
    assert "claims_locales_supported" not in doc, doc["claims_locales_supported"]


async def test_every_user_message_mime_type_is_shown_in_the_bankid_app(provider):
    doc, rp, *_ = provider
    formats = {"text/plain": "plaintext", "text/markdown": "simpleMarkdownV1"}
    types = (
        doc["https://id.oidc.se/disco/userMessageSupported"]
        and doc["https://id.oidc.se/disco/userMessageSupportedMimeTypes"]
    )
    assert types
    for mime in types:
        assert mime in formats, f"no BankID format known for {mime}"
        client = rp()
        shown = []
        params = client.auth_params(**{USER_MESSAGE: user_message(mime, default="Hej *du*")})
        await client.login(params, shown=shown)
        assert shown[0]["userVisibleData"] == "Hej *du*", shown
        assert shown[0]["userVisibleDataFormat"] == formats[mime], (mime, shown)


# ============================================================================ tokens, keys


async def test_every_id_token_signing_alg_signs_a_verifiable_id_token(provider):
    doc, rp, *_ = provider
    for alg in doc["id_token_signing_alg_values_supported"]:
        assert alg in CLIENT_FOR_ID_TOKEN_ALG, f"no client asks for {alg} ID tokens"
        client = rp(CLIENT_FOR_ID_TOKEN_ALG[alg])
        header, _ = await client.verify((await tokens_of(client))["id_token"])
        assert header["alg"] == alg


async def test_every_userinfo_signing_alg_signs_a_verifiable_answer(provider):
    doc, rp, *_ = provider
    for alg in doc["userinfo_signing_alg_values_supported"]:
        assert alg in CLIENT_FOR_USERINFO_ALG, f"no client asks for {alg} UserInfo"
        client = rp(CLIENT_FOR_USERINFO_ALG[alg])
        tokens = await tokens_of(client)
        r = await client.userinfo(tokens["access_token"])
        assert r.headers["content-type"].startswith("application/jwt"), r.headers
        header, claims = await client.verify(r.text)
        assert header["alg"] == alg and claims["sub"]


async def test_every_subject_type_is_served(provider):
    doc, rp, *_ = provider
    subs = {}
    for subject_type in doc["subject_types_supported"]:
        assert subject_type in CLIENT_FOR_SUBJECT_TYPE, f"no client of type {subject_type}"
        client = rp(CLIENT_FOR_SUBJECT_TYPE[subject_type])
        subs[subject_type] = unverified_claims((await tokens_of(client))["id_token"])["sub"]
    assert len(set(subs.values())) == len(subs), subs


async def test_every_request_object_signing_alg_is_accepted_at_authorize(provider):
    doc, rp, *_ = provider
    assert doc["request_parameter_supported"] is True
    algs = doc["request_object_signing_alg_values_supported"]
    assert algs and "none" not in algs
    client = rp("m-jwt")
    for alg in algs:
        assert alg in JWS_ALGS, f"no client key can be made for {alg}"
        inner = client.auth_params()
        request = client.request_object(inner, alg=alg)
        r = await client.authorize({"client_id": "m-jwt", "request": request})
        assert r.headers.get("location", "").startswith("/bankid/login?"), (alg, r.text[:300])
    # And one all the way, the object's state coming back.
    inner = client.auth_params()
    final = await client.login({"client_id": "m-jwt", "request": client.request_object(inner)})
    assert query(final.headers["location"])["state"] == inner["state"]


async def test_every_request_object_encryption_alg_and_enc_is_accepted(provider):
    doc, rp, *_ = provider
    algs = doc["request_object_encryption_alg_values_supported"]
    encs = doc["request_object_encryption_enc_values_supported"]
    assert bool(algs) == bool(encs)
    client = rp("m-jwt")
    keys = (await client.jwks())["keys"]
    for alg in algs:
        ours = [k for k in keys if k.get("use") == "enc" and k.get("alg") == alg]
        assert ours, f"no published key to encrypt to with {alg}"
        for enc in encs:
            signed = client.request_object(client.auth_params())
            token = jwe.encrypt_compact(
                {"alg": alg, "enc": enc, "kid": ours[0]["kid"], "cty": "JWT"},
                signed.encode(),
                RSAKey.import_key(ours[0]),
            )
            r = await client.authorize({"client_id": "m-jwt", "request": token})
            assert r.headers.get("location", "").startswith("/bankid/login?"), (alg, enc, r.text)


async def test_the_par_endpoint_and_the_refusals_discovery_declares(provider):
    doc, rp, *_ = provider
    client = rp("m-jwt")
    # pushed_authorization_request_endpoint: a pushed request is accepted and used.
    params = client.auth_params()
    pushed = await client.server.post(
        doc["pushed_authorization_request_endpoint"].removeprefix(ISSUER),
        data={**params, **client.client_auth(aud=ISSUER)},
    )
    assert pushed.status_code == 201, pushed.text
    final = await client.login({"client_id": "m-jwt", "request_uri": pushed.json()["request_uri"]})
    assert query(final.headers["location"])["state"] == params["state"]
    # require_pushed_authorization_requests / require_signed_request_object false: a plain
    # request is taken (every other test sends them).
    assert doc["require_pushed_authorization_requests"] is False
    assert doc["require_signed_request_object"] is False
    # request_uri_parameter_supported false: a request_uri of the client's own is not fetched.
    assert doc["request_uri_parameter_supported"] is False
    params = client.auth_params(request_uri="https://rp.example/request.jwt")
    redirect_error(
        await client.authorize(params), "request_uri_not_supported", state=params["state"]
    )


# ============================================================================ introspection


async def test_introspection_names_the_rfc6749_token_type(provider):
    doc, rp, *_ = provider
    client = rp()
    tokens = await tokens_of(client)
    url = doc["introspection_endpoint"].removeprefix(ISSUER)
    auth = httpx.BasicAuth("m-basic", SECRETS["m-basic"])
    access = await client.server.post(url, data={"token": tokens["access_token"]}, auth=auth)
    # RFC 7662 §2.2: "the type of the token as defined in Section 5.1 of OAuth 2.0".
    assert access.json()["token_type"] == tokens["token_type"] == "Bearer", access.json()
    # RFC 6749 §5.1 types access tokens only: a refresh token is introspected without one.
    refresh = await client.server.post(url, data={"token": tokens["refresh_token"]}, auth=auth)
    assert refresh.json()["active"] is True and "token_type" not in refresh.json()


# ============================================================================ every member

#: Proven by `test_every_discovery_member_is_proven` itself.
HERE = "here"
#: Which members of the discovery document each test proves, as a client uses them: a test of
#: this module, a "path::test" elsewhere, or HERE. A member discovery gains that no test here
#: claims fails `test_every_discovery_member_is_proven`.
PROVES: dict[object, tuple[str, ...]] = {
    HERE: ("issuer", "jwks_uri", "backchannel_user_code_parameter_supported"),
    test_every_response_type_mode_and_code_challenge_method_is_accepted: (
        "authorization_endpoint",
        "response_types_supported",
        "response_modes_supported",
        "code_challenge_methods_supported",
        "authorization_response_iss_parameter_supported",
    ),
    test_every_grant_type_works: (
        "token_endpoint",
        "grant_types_supported",
        "backchannel_authentication_endpoint",
        "backchannel_token_delivery_modes_supported",
    ),
    test_every_token_endpoint_auth_method_gets_a_token: ("token_endpoint_auth_methods_supported",),
    test_every_token_endpoint_auth_signing_alg_signs_an_accepted_assertion: (
        "token_endpoint_auth_signing_alg_values_supported",
    ),
    test_every_introspection_and_revocation_auth_method_is_accepted: (
        "introspection_endpoint",
        "revocation_endpoint",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ),
    "tests/oidc/test_dpop_flows.py::test_every_dpop_signing_alg_binds_a_token": (
        "dpop_signing_alg_values_supported",
    ),
    "tests/oidc/test_introspection_jwt.py::"
    "test_every_introspection_signing_alg_signs_a_verifiable_answer": (
        "introspection_signing_alg_values_supported",
    ),
    "tests/oidc/test_conformance_basic.py::test_oidcc_rp_initiated_logout": (
        "end_session_endpoint",
    ),
    "tests/ciba/test_console_interfaces.py::"
    "test_requested_by_is_in_the_clients_own_audit_trail": (
        "backchannel_authentication_audit_endpoint",
    ),
    test_every_scope_is_accepted_and_granted: ("scopes_supported",),
    test_every_claim_can_be_obtained: (
        "claims_supported",
        "claims_parameter_supported",
        "claim_types_supported",
    ),
    test_every_acr_value_requested_as_essential_is_met_and_named: ("acr_values_supported",),
    test_every_prompt_value_is_accepted: ("prompt_values_supported",),
    test_every_ui_locale_shows_the_login_in_that_language: ("ui_locales_supported",),
    test_every_user_message_mime_type_is_shown_in_the_bankid_app: (
        "https://id.oidc.se/disco/userMessageSupported",
        "https://id.oidc.se/disco/userMessageSupportedMimeTypes",
    ),
    test_every_id_token_signing_alg_signs_a_verifiable_id_token: (
        "id_token_signing_alg_values_supported",
    ),
    test_every_userinfo_signing_alg_signs_a_verifiable_answer: (
        "userinfo_endpoint",
        "userinfo_signing_alg_values_supported",
    ),
    test_every_subject_type_is_served: ("subject_types_supported",),
    "tests/oidc/test_backchannel_logout.py::"
    "test_rp_initiated_logout_sends_each_client_of_the_session_one_logout_token": (
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
    ),
    test_every_request_object_signing_alg_is_accepted_at_authorize: (
        "request_parameter_supported",
        "request_object_signing_alg_values_supported",
    ),
    test_every_request_object_encryption_alg_and_enc_is_accepted: (
        "request_object_encryption_alg_values_supported",
        "request_object_encryption_enc_values_supported",
    ),
    test_the_par_endpoint_and_the_refusals_discovery_declares: (
        "pushed_authorization_request_endpoint",
        "request_uri_parameter_supported",
        "require_pushed_authorization_requests",
        "require_signed_request_object",
    ),
    # One test per type (the values are checked against these two below).
    "tests/bankid_web/test_approvals.py::"
    "test_a_pushed_sign_detail_is_shown_then_signed_in_bankid_and_returned_with_evidence": (
        "authorization_details_types_supported",
    ),
    "tests/bankid_web/test_approvals.py::"
    "test_a_payment_shows_amount_and_recipient_and_runs_bankid_payment": (
        "authorization_details_types_supported",
    ),
}


def _test_exists(test: object) -> bool:
    if test == HERE or callable(test):
        return True
    path, name = str(test).split("::")
    source = Path(__file__).resolve().parents[2] / path
    return source.is_file() and f"def {name}(" in source.read_text(encoding="utf-8")


async def test_every_discovery_member_is_proven(provider):
    doc, rp, app, clock, receiver = provider
    proven = {member for members in PROVES.values() for member in members}
    unproven = sorted(set(doc) - proven)
    assert not unproven, f"advertised, but no test proves it works (add it to PROVES): {unproven}"
    missing = [test for test in PROVES if not _test_exists(test)]
    assert not missing, f"PROVES names tests that do not exist: {missing}"
    # The ones proven here: the issuer is this provider's, its keys are served, and every
    # advertised endpoint is one of ours and routed.
    client = rp()
    assert doc["issuer"] == ISSUER
    keys = (await client.server.get(doc["jwks_uri"].removeprefix(ISSUER))).json()["keys"]
    assert keys and all(k["kid"] for k in keys)
    for member, url in doc.items():
        if member.endswith("_endpoint"):
            assert url.startswith(ISSUER + "/"), (member, url)
            r = await client.server.post(url.removeprefix(ISSUER))
            assert r.status_code != 404, (member, url)
    # The values proven elsewhere, one test each: no other may appear unproven.
    assert set(doc["authorization_details_types_supported"]) <= {
        "se.bankid.sign",
        "se.bankid.payment",
    }, doc["authorization_details_types_supported"]
    # No user_code (CIBA Core §4: false): one sent is not checked, the login goes on as without.
    if "backchannel_user_code_parameter_supported" in doc:
        assert doc["backchannel_user_code_parameter_supported"] is False
        claims = await ciba_login(rp(), app, clock, receiver, "poll", user_code="not-checked")
        assert claims["sub"]
