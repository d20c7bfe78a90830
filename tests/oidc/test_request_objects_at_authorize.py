"""Signed and encrypted request objects (RFC 9101) at /authorize and inside PAR, through the
real pipeline. The verification rules one by one are in test_request_object.py; here: what a
client sees at the endpoints."""

import secrets

import jwt
import pytest
from joserfc import jwe
from joserfc.jwk import RSAKey

from tests.oidc.harness import (
    ISSUER,
    JWT_BEARER,
    RP_CB,
    assert_html_page,
    assert_json_error,
    assert_redirect_error,
    client_assertion,
    location,
    query,
)

pytestmark = pytest.mark.anyio
ANNA = "198501012382"


def request_object(oidc, key, *, iss="jwt-client", **params):
    now = int(oidc.clock.now())
    claims = {
        "iss": iss,
        "aud": ISSUER,
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(16),
        "client_id": iss,
        **params,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(
        claims,
        key,
        algorithm="RS256",
        headers={"kid": "client-key-1", "typ": "oauth-authz-req+jwt"},
    )


async def test_rfc9101_6_3_only_the_request_objects_parameters_count(oidc, client_private_key):
    inner, verifier = oidc.auth_params("jwt-client")
    outer = {
        "client_id": "jwt-client",
        "scope": "openid",  # the object asks for openid profile
        "state": "outer-state",
        "request": request_object(oidc, client_private_key, **inner),
    }
    first = await oidc.authorize(outer)
    assert first.status_code == 303 and location(first).startswith("/fake/login"), first.text
    final = await oidc.finish_login(location(first))
    q = query(location(final))
    assert q["state"] == inner["state"] and "code" in q
    r = await oidc.token(
        {"grant_type": "authorization_code", "code": q["code"], "redirect_uri": RP_CB,
         "code_verifier": verifier, "client_id": "jwt-client", "client_assertion_type": JWT_BEARER,
         "client_assertion": client_assertion(client_private_key, now=oidc.clock.now())},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["scope"].split() == ["openid", "profile"]


async def test_rfc9101_5_the_objects_client_id_must_be_the_requests(oidc, client_private_key):
    inner, _ = oidc.auth_params("jwt-client")
    obj = request_object(oidc, client_private_key, **{**inner, "client_id": "confidential"})
    r = await oidc.authorize({"client_id": "jwt-client", "redirect_uri": RP_CB, "request": obj})
    assert_redirect_error(r, "invalid_request_object")


async def test_rfc9101_a_replayed_request_object_is_refused(oidc, client_private_key):
    inner, _ = oidc.auth_params("jwt-client")
    obj = request_object(oidc, client_private_key, **inner)
    outer = {"client_id": "jwt-client", "redirect_uri": RP_CB, "request": obj}
    assert (await oidc.authorize(outer)).status_code == 303
    assert_redirect_error(await oidc.authorize(outer), "invalid_request_object")


async def test_rfc9101_an_expired_request_object_is_refused(oidc, client_private_key):
    inner, _ = oidc.auth_params("jwt-client")
    obj = request_object(oidc, client_private_key, **inner)
    oidc.clock.advance(301 + 10)
    r = await oidc.authorize({"client_id": "jwt-client", "redirect_uri": RP_CB, "request": obj})
    assert_redirect_error(r, "invalid_request_object")


async def test_rfc9101_a_request_object_without_a_known_redirect_is_a_page(
    oidc, client_private_key
):
    """A bad object whose outer request names no registered redirect_uri: never redirected."""
    inner, _ = oidc.auth_params("jwt-client")
    obj = request_object(oidc, client_private_key, **{**inner, "aud": "https://other.example"})
    r = await oidc.authorize({"client_id": "jwt-client", "request": obj})
    assert_html_page(r, 400)


async def test_a_signed_request_object_may_name_the_person(oidc, client_private_key):
    inner, _ = oidc.auth_params("jwt-client", login_hint=ANNA)
    obj = request_object(oidc, client_private_key, **inner)
    r = await oidc.authorize({"client_id": "jwt-client", "request": obj})
    assert r.status_code == 303 and location(r).startswith("/fake/login"), r.text
    assert oidc.authn.started[-1].login_hint == ANNA


async def test_rfc9126_3_par_with_a_signed_request_object(oidc, client_private_key):
    inner, _ = oidc.auth_params("jwt-client", login_hint=ANNA)
    form = {
        "client_id": "jwt-client",
        "request": request_object(oidc, client_private_key, **inner),
        "client_assertion_type": JWT_BEARER,
        "client_assertion": client_assertion(client_private_key, aud=ISSUER, now=oidc.clock.now()),
    }
    r = await oidc.http.post("/par", data=form)
    assert r.status_code == 201, r.text
    first = await oidc.authorize(
        {"client_id": "jwt-client", "request_uri": r.json()["request_uri"]}
    )
    assert first.status_code == 303 and location(first).startswith("/fake/login"), first.text
    assert oidc.authn.started[-1].login_hint == ANNA


async def test_rfc9126_3_par_refuses_an_object_of_another_client(oidc, client_private_key):
    inner, _ = oidc.auth_params("jwt-client")
    obj = request_object(oidc, client_private_key, **{**inner, "client_id": "confidential"})
    form = {
        "client_id": "jwt-client",
        "request": obj,
        "client_assertion_type": JWT_BEARER,
        "client_assertion": client_assertion(client_private_key, aud=ISSUER, now=oidc.clock.now()),
    }
    assert_json_error(await oidc.http.post("/par", data=form), 400, "invalid_request_object")


async def test_an_encrypted_request_object_is_decrypted_with_our_published_key(
    oidc, client_private_key
):
    keys = (await oidc.http.get("/jwks")).json()["keys"]
    enc = next(k for k in keys if k.get("use") == "enc")
    assert enc["alg"] == "RSA-OAEP"
    inner, _ = oidc.auth_params("jwt-client")
    signed = request_object(oidc, client_private_key, **inner)
    for encryption in ("A128GCM", "A256GCM"):
        if encryption == "A256GCM":
            signed = request_object(oidc, client_private_key, **inner)  # a fresh jti
        token = jwe.encrypt_compact(
            {"alg": "RSA-OAEP", "enc": encryption, "kid": enc["kid"], "cty": "JWT"},
            signed.encode(),
            RSAKey.import_key(enc),
        )
        r = await oidc.authorize({"client_id": "jwt-client", "request": token})
        assert r.status_code == 303 and location(r).startswith("/fake/login"), (encryption, r.text)


async def test_rfc9101_10_5_a_client_requiring_signed_objects_cannot_send_plain_parameters(
    oidc_settings, client_private_key
):
    from tests.oidc.test_par import provider_with

    entry = {
        "client_id": "signed-only",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": next(c for c in oidc_settings.clients if c.client_id == "jwt-client").jwks,
        "redirect_uris": [RP_CB],
        "scope": "openid profile",
        "require_signed_request_object": True,
    }
    async with provider_with(oidc_settings, entry) as oidc:
        params, _ = oidc.auth_params("signed-only")
        assert_redirect_error(await oidc.authorize(params), "invalid_request",
                              state=params["state"])  # fmt: skip
        obj = request_object(oidc, client_private_key, iss="signed-only", **params)
        r = await oidc.authorize({"client_id": "signed-only", "request": obj})
        assert r.status_code == 303 and location(r).startswith("/fake/login"), r.text
