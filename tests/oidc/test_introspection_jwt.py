"""Signed introspection answers (RFC 9701), verified with joserfc against /jwks: a client whose
entry sets `introspection_signed_response_alg` and asks with `Accept:
application/token-introspection+jwt` gets a JWT typed `token-introspection+jwt` with `iss`,
`aud`, `iat` and the RFC 7662 answer as `token_introspection` (§4, §5); without that Accept it
gets JSON as before; a client without the setting gets JSON when it accepts JSON too and 406
when it accepts only the JWT; a fapi2 entry may sign only with PS256 or ES256."""

import httpx
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from tests.oidc.conftest import client_entries, running_provider, settings_with
from tests.oidc.harness import ISSUER, basic
from tests.oidc.test_fapi2_mode import fapi_entry, problems

pytestmark = pytest.mark.anyio

JWT_TYPE = "application/token-introspection+jwt"
#: The client signed with each algorithm, and its secret.
CLIENT_FOR_ALG = {"RS256": "ij-rs256", "ES256": "ij-es256"}
IJ_SECRETS = {
    "ij-rs256": "ij-rs256-secret-0123456789abcdef",
    "ij-es256": "ij-es256-secret-0123456789abcdef",
}


def signing_entry(client_id, alg):
    return {
        "client_id": client_id,
        "client_secret": IJ_SECRETS[client_id],
        "redirect_uris": ["https://rp.example/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid profile",
        "introspection_signed_response_alg": alg,
    }


@pytest.fixture
async def provider(oidc_settings, client_jwks):
    entries = client_entries(client_jwks)
    entries += [signing_entry(cid, alg) for alg, cid in CLIENT_FOR_ALG.items()]
    async with running_provider(settings_with(oidc_settings, *entries)) as harness:
        yield harness


def auth_of(client_id):
    if client_id in IJ_SECRETS:
        return httpx.BasicAuth(client_id, IJ_SECRETS[client_id])
    return basic(client_id)


async def tokens_of(h, client_id):
    code, verifier, params = await h.code(client_id)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": params["redirect_uri"],
        "code_verifier": verifier,
    }
    r = await h.http.post("/token", data=data, auth=auth_of(client_id))
    assert r.status_code == 200, r.text
    return r.json()


async def introspect(h, token, client_id, accept=JWT_TYPE):
    headers = {} if accept is None else {"Accept": accept}
    return await h.http.post(
        "/introspect", data={"token": token}, auth=auth_of(client_id), headers=headers
    )


async def verified(h, response, client_id, alg):
    """The JWT answer checked as a resource server would (RFC 9701 §5), with joserfc."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JWT_TYPE, response.headers
    assert response.headers["cache-control"] == "no-store"
    keys = KeySet.import_key_set((await h.http.get("/jwks")).json())
    token = jose_jwt.decode(response.text, keys, algorithms=[alg])
    assert token.header["alg"] == alg and token.header["kid"], token.header
    assert token.header["typ"] == "token-introspection+jwt", token.header
    claims = token.claims
    assert claims["iss"] == ISSUER and claims["aud"] == client_id, claims
    assert claims["iat"] == int(h.clock.now()), claims
    # Not an access token or an ID token: no subject or expiry at the top.
    assert set(claims) == {"iss", "aud", "iat", "token_introspection"}, claims
    return claims["token_introspection"]


async def test_rfc9701_5_a_registered_client_asking_for_a_jwt_gets_a_signed_answer(provider):
    tokens = await tokens_of(provider, "ij-rs256")
    r = await introspect(provider, tokens["access_token"], "ij-rs256")
    answer = await verified(provider, r, "ij-rs256", "RS256")
    plain = (await introspect(provider, tokens["access_token"], "ij-rs256", None)).json()
    assert answer == plain and answer["active"] is True, (answer, plain)
    assert answer["client_id"] == "ij-rs256" and answer["token_type"] == "Bearer", answer


async def test_every_introspection_signing_alg_signs_a_verifiable_answer(provider):
    doc = (await provider.http.get("/.well-known/openid-configuration")).json()
    algs = doc["introspection_signing_alg_values_supported"]
    assert algs, doc
    for alg in algs:
        assert alg in CLIENT_FOR_ALG, f"no client asks for {alg} introspection answers"
        client_id = CLIENT_FOR_ALG[alg]
        tokens = await tokens_of(provider, client_id)
        for token in (tokens["access_token"], tokens["refresh_token"]):
            r = await introspect(provider, token, client_id)
            answer = await verified(provider, r, client_id, alg)
            assert answer["active"] is True, answer


async def test_rfc9701_5_an_inactive_token_is_answered_signed_too(provider):
    tokens = await tokens_of(provider, "ij-es256")
    for token in ("not-a-token", tokens["access_token"]):
        # ... unknown, or another client's (ij-rs256 may not learn about ij-es256's token).
        r = await introspect(provider, token, "ij-rs256")
        assert await verified(provider, r, "ij-rs256", "RS256") == {"active": False}


async def test_rfc9701_4_without_the_accept_header_the_answer_is_json(provider):
    tokens = await tokens_of(provider, "ij-es256")
    for accept in (None, "application/json", "*/*", f"{JWT_TYPE};q=0.5, application/json"):
        r = await introspect(provider, tokens["access_token"], "ij-es256", accept)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json"), (accept, r.headers)
        assert r.json()["active"] is True
    r = await introspect(provider, tokens["access_token"], "ij-es256", f"{JWT_TYPE}, */*;q=0.1")
    assert (await verified(provider, r, "ij-es256", "ES256"))["active"] is True


async def test_rfc9701_6_a_client_not_registered_for_signed_answers_is_not_given_one(provider):
    """Signing is opt-in per entry: accepting JSON as well gets JSON; accepting only the JWT
    is answered 406 Not Acceptable (RFC 9110 §15.5.7), with a JSON error naming the setting."""
    tokens, _ = await provider.tokens("confidential")
    at = tokens["access_token"]
    r = await introspect(provider, at, "confidential", f"{JWT_TYPE}, application/json;q=0.9")
    assert r.status_code == 200 and r.json()["active"] is True, r.text
    r = await introspect(provider, at, "confidential", JWT_TYPE)
    assert r.status_code == 406, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    assert r.json()["error"] == "invalid_request", r.json()
    assert "introspection_signed_response_alg" in r.json()["error_description"]


async def test_rfc9701_errors_stay_json_and_authentication_comes_first(provider):
    r = await provider.http.post(
        "/introspect",
        data={"token": "x"},
        auth=httpx.BasicAuth("ij-rs256", "wrong-secret-0123456789abcdef"),
        headers={"Accept": JWT_TYPE},
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    r = await provider.http.post(
        "/introspect", data={}, auth=auth_of("ij-rs256"), headers={"Accept": JWT_TYPE}
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text


def test_check_config_refuses_rs256_introspection_answers_for_a_fapi2_client():
    found = problems(fapi_entry(introspection_signed_response_alg="RS256"))
    key = "clients[0].introspection_signed_response_alg"
    assert key in found and "RS256" in found[key], found


def test_introspection_signed_response_alg_is_one_of_the_providers_signing_algs():
    found = problems(signing_entry("ij-rs256", "HS256"))
    key = "clients[0].introspection_signed_response_alg"
    assert found.get(key) == "expected 'RS256' or 'ES256'", found
