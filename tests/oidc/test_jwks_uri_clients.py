"""A client registered with a jwks_uri: its keys are fetched (and refetched when it rotates)
for private_key_jwt at the token endpoint and for its request objects. Before, the
configuration accepted jwks_uri but nothing fetched it, so such a client could never
authenticate."""

import json
import secrets

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.oidc.conftest import running_provider, settings_with
from tests.oidc.harness import (
    JWT_BEARER,
    RP_CB,
    assert_json_error,
    client_assertion,
    location,
    query,
)

pytestmark = pytest.mark.anyio
JWKS_URI = "https://rp.example/jwks.json"


def public_jwk(private_key, kid):
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


class RelyingPartyKeys:
    """The client's jwks_uri, served through a mock transport; `rotate` swaps its key."""

    def __init__(self) -> None:
        self.rotate()
        self.fetches = 0

    def rotate(self) -> None:
        self.kid = secrets.token_hex(4)
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["host"] == "rp.example"
        self.fetches += 1
        return httpx.Response(200, json={"keys": [public_jwk(self.private_key, self.kid)]})


async def resolve_to_a_public_address(host, port):
    return ["93.184.215.14"]  # a public address (the transport is a mock)


def provider(oidc_settings, rp_keys):
    entry = {
        "client_id": "uri-client",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": JWKS_URI,
        "redirect_uris": [RP_CB],
        "scope": "openid profile",
    }
    return running_provider(
        settings_with(oidc_settings, entry),
        jwks_transport=httpx.MockTransport(rp_keys.handler),
        jwks_resolver=resolve_to_a_public_address,
    )


def assertion(oidc, rp_keys, **kw):
    return client_assertion(
        rp_keys.private_key, client_id="uri-client", kid=rp_keys.kid, now=oidc.clock.now(), **kw
    )


async def code_for(oidc):
    params, verifier = oidc.auth_params("uri-client")
    final = await oidc.login(params)
    return query(location(final))["code"], verifier


async def test_private_key_jwt_with_keys_from_the_clients_jwks_uri(oidc_settings):
    rp_keys = RelyingPartyKeys()
    async with provider(oidc_settings, rp_keys) as oidc:
        code, verifier = await code_for(oidc)
        r = await oidc.token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": RP_CB,
             "code_verifier": verifier, "client_assertion_type": JWT_BEARER,
             "client_assertion": assertion(oidc, rp_keys)},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        assert rp_keys.fetches == 1


async def test_a_rotated_jwks_uri_is_refetched_for_an_unknown_kid(oidc_settings):
    rp_keys = RelyingPartyKeys()
    async with provider(oidc_settings, rp_keys) as oidc:
        params, _ = oidc.auth_params("uri-client")
        form = {**params, "client_assertion_type": JWT_BEARER}
        r = await oidc.http.post(
            "/par", data={**form, "client_assertion": assertion(oidc, rp_keys)}
        )
        assert r.status_code == 201, r.text
        rp_keys.rotate()  # the client publishes a new key and signs with it at once
        oidc.clock.advance(60)  # past the refetch interval for unknown kids
        params, _ = oidc.auth_params("uri-client")
        form = {**params, "client_assertion_type": JWT_BEARER}
        r = await oidc.http.post(
            "/par", data={**form, "client_assertion": assertion(oidc, rp_keys)}
        )
        assert r.status_code == 201, r.text
        assert rp_keys.fetches == 2


async def test_an_assertion_signed_with_a_key_the_jwks_uri_does_not_hold_is_refused(
    oidc_settings,
):
    rp_keys = RelyingPartyKeys()
    async with provider(oidc_settings, rp_keys) as oidc:
        stranger = RelyingPartyKeys()
        params, _ = oidc.auth_params("uri-client")
        form = {
            **params,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion(oidc, stranger),
        }
        assert_json_error(await oidc.http.post("/par", data=form), 401, "invalid_client")
