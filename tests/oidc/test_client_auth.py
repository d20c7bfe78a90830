"""Client authentication as at the token endpoint, for endpoints Authlib does not serve (PAR,
CIBA): `ClientAuthenticator.authenticate` on a request whose form was already read."""

import json

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from idp.oidc import ClientAuthenticationFailed, OAuthBridge, oauth_json, read_form
from tests.oidc.harness import (
    ISSUER,
    JWT_BEARER,
    SECRETS,
    assert_json_error,
    basic,
    client_assertion,
)

pytestmark = pytest.mark.anyio


def probe_app(bridge):
    """A stand-in for the PAR endpoint: authenticate, then say who."""

    async def par(request):
        form = await read_form(request)
        try:
            client = await bridge.client_auth.authenticate(request, form, "par")
        except ClientAuthenticationFailed as exc:
            return oauth_json(exc.status_code, exc.json(), exc.headers)
        return JSONResponse({"client_id": client.client_id})

    return Starlette(routes=[Route("/par", par, methods=["POST"])])


@pytest.fixture
async def probe(oidc):
    app = probe_app(oidc.app.state.provider.bridge)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        yield http


async def push(http, form, auth=None):
    """POST /par with `form` and a request parameter (so the body is never empty)."""
    return await http.post("/par", data={"scope": "openid", **form}, auth=auth)


def assertion_form(key, now, **kw):
    return {
        "client_assertion_type": JWT_BEARER,
        "client_assertion": client_assertion(key, now=now, **kw),
    }


async def test_each_registered_method_authenticates(oidc, probe, client_private_key):
    now = oidc.clock.now()
    cases = [
        ("confidential", {}, basic("confidential")),
        (
            "post-client",
            {"client_id": "post-client", "client_secret": SECRETS["post-client"]},
            None,
        ),
        ("public", {"client_id": "public"}, None),
        ("jwt-client", assertion_form(client_private_key, now), None),
    ]
    for client_id, form, auth in cases:
        r = await push(probe, form, auth=auth)
        assert r.status_code == 200, (client_id, r.text)
        assert r.json() == {"client_id": client_id}


async def test_rfc9126_2_the_assertion_may_name_the_issuer_token_or_par_endpoint(
    oidc, probe, client_private_key
):
    now = oidc.clock.now()
    for aud in (ISSUER, f"{ISSUER}/token", f"{ISSUER}/par", [f"{ISSUER}/par", "https://x"]):
        r = await push(probe, assertion_form(client_private_key, now, aud=aud))
        assert r.status_code == 200, (aud, r.text)
    r = await push(probe, assertion_form(client_private_key, now, aud="https://elsewhere.example"))
    assert_json_error(r, 401, "invalid_client")


async def test_an_assertion_is_single_use(oidc, probe, client_private_key):
    form = assertion_form(client_private_key, oidc.clock.now(), jti="once")
    assert (await push(probe, form)).status_code == 200
    assert_json_error(await push(probe, form), 401, "invalid_client")


async def test_failures_are_invalid_client_401(probe):
    for form, auth in [
        ({}, None),  # no authentication at all
        ({"client_id": "confidential"}, None),  # a confidential client must authenticate
        ({"client_id": "nobody", "client_secret": "x" * 20}, None),
        ({"client_id": "public", "client_secret": "x" * 20}, None),
        ({}, basic("post-client")),  # not its registered method
    ]:
        r = await push(probe, form, auth=auth)
        assert_json_error(r, 401, "invalid_client")
        assert r.headers["cache-control"] == "no-store"


async def test_the_answer_is_the_token_endpoints(oidc, probe):
    """RFC 6749 §5.2: a client that tried Basic gets 401 with WWW-Authenticate, as at /token."""
    auth = basic("confidential", "wrong-secret-0123456789")
    at_par = await push(probe, {}, auth=auth)
    at_token = await oidc.token({"grant_type": "authorization_code", "code": "c"}, auth=auth)
    assert at_par.status_code == at_token.status_code == 401
    assert at_par.json() == at_token.json()
    assert at_par.headers["www-authenticate"] == at_token.headers["www-authenticate"]
    assert at_par.headers["www-authenticate"] == 'Basic realm="idp"'


async def test_private_key_jwt_keys_come_from_the_one_injected_source(
    oidc, client_private_key, client_jwks
):
    """The key source is one hook (by default the entry's `jwks`); a jwks_uri source plugs in
    here."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(other.public_key()))
    served = {"keys": [{**other_jwk, "kid": "client-key-1"}]}
    asked = []

    def source(client, kid):
        asked.append((client.client_id, kid))
        return served

    p, rt = oidc.app.state.provider, oidc.runtime
    bridge = OAuthBridge(p.settings, p.registry, p.tokens, rt.store, rt.clock, client_keys=source)
    transport = httpx.ASGITransport(app=probe_app(bridge))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        now = oidc.clock.now()
        r = await push(http, assertion_form(client_private_key, now))
        assert_json_error(r, 401, "invalid_client")  # not the key the source serves
        served = client_jwks
        r = await push(http, assertion_form(client_private_key, now))
        assert r.status_code == 200, r.text
    assert asked == [("jwt-client", "client-key-1")] * 2  # the assertion's kid is passed on


# ------------------------------------------------ RFC 7523 §3 and RFC 6749 §2.3 (issue 14)


async def test_an_assertion_jti_is_remembered_until_the_assertion_expires(
    oidc, probe, client_private_key
):
    """A jti is refused again for as long as its assertion could be replayed: its own exp (not
    a fixed hour). Seen failing first: the jti was forgotten after JTI_TTL."""
    now = oidc.clock.now()
    form = assertion_form(client_private_key, now, jti="long-lived", lifetime=240)
    assert (await push(probe, form)).status_code == 200
    oidc.clock.advance(200)  # still within the assertion's lifetime
    assert_json_error(await push(probe, form), 401, "invalid_client")


@pytest.mark.parametrize(
    ("claims", "description"),
    [
        ({"lifetime": 3600}, "lifetime"),  # an hour-long assertion
        ({"iat": 10_000_000_000}, "issued in the future"),
    ],
)
async def test_long_lived_or_future_assertions_are_refused(
    oidc, probe, client_private_key, claims, description
):
    now = oidc.clock.now()
    r = await push(probe, assertion_form(client_private_key, now, **claims))
    assert_json_error(r, 401, "invalid_client")
    assert description in r.json()["error_description"]


async def test_a_client_id_naming_another_client_than_the_credentials_is_refused(
    oidc, probe, client_private_key
):
    now = oidc.clock.now()
    form = {**assertion_form(client_private_key, now), "client_id": "confidential"}
    r = await push(probe, form)
    assert_json_error(r, 401, "invalid_client")
    r = await push(probe, {"client_id": "post-client"}, auth=basic("confidential"))
    assert_json_error(r, 401, "invalid_client")


async def test_more_than_one_authentication_method_is_refused(oidc, probe, client_private_key):
    """RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each
    request." """
    now = oidc.clock.now()
    both = [
        ({"client_secret": SECRETS["confidential"]}, basic("confidential")),
        (assertion_form(client_private_key, now), basic("confidential")),
        (
            {**assertion_form(client_private_key, now), "client_secret": "x" * 20},
            None,
        ),
    ]
    for form, auth in both:
        r = await push(probe, form, auth=auth)
        assert r.status_code in (400, 401), r.text
        assert r.json()["error"] in ("invalid_request", "invalid_client")
        assert "more than one" in r.json()["error_description"]


async def test_every_advertised_assertion_algorithm_is_accepted(
    oidc, probe, client_private_key, monkeypatch
):
    """Discovery's token_endpoint_auth_signing_alg_values_supported is what verifies: each RSA
    algorithm with the client's RSA key registered for it, ES256 with an EC key."""
    from cryptography.hazmat.primitives.asymmetric import ec

    doc = (await oidc.http.get("/.well-known/openid-configuration")).json()
    advertised = doc["token_endpoint_auth_signing_alg_values_supported"]
    assertions = oidc.app.state.provider.bridge.client_auth.assertions
    now = oidc.clock.now()
    for alg in advertised:
        key = ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else client_private_key
        algorithm = jwt.algorithms.ECAlgorithm if alg == "ES256" else jwt.algorithms.RSAAlgorithm
        jwk = json.loads(algorithm.to_jwk(key.public_key()))
        jwk.update({"kid": f"k-{alg}", "use": "sig", "alg": alg})
        monkeypatch.setattr(assertions, "keys", lambda client, kid, jwk=jwk: {"keys": [jwk]})
        payload = jwt.decode(
            client_assertion(client_private_key, now=now), options={"verify_signature": False}
        )
        token = jwt.encode(payload, key, algorithm=alg, headers={"kid": f"k-{alg}"})
        form = {"client_assertion_type": JWT_BEARER, "client_assertion": token}
        r = await push(probe, form)
        assert r.status_code == 200, (alg, r.text)
