"""RFC 9449 end to end: DPoP-bound tokens at the resource (§7) and introspection (§6.2), the
client metadata (§5.2), server nonces (§8), refresh tokens of public clients (§5), and the
binding of the authorization code with dpop_jkt (§10) and at PAR (§10.1)."""

import httpx
import jwt
import pytest

from idp.oidc.dpop import NONCE_PERIOD
from tests.oidc.conftest import client_entries, running_provider, settings_with
from tests.oidc.dpop_proof import Prover, thumbprint
from tests.oidc.harness import ISSUER, basic, query

pytestmark = pytest.mark.anyio

NONCE_SECRET = "nonce-client-secret-0123456789"
BOUND_SECRET = "bound-client-secret-0123456789"


async def exchange(oidc, code, verifier, params, proof=None, client_id="confidential"):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": params["redirect_uri"],
        "code_verifier": verifier,
    }
    headers = {} if proof is None else {"DPoP": proof}
    if client_id == "public":
        return await oidc.http.post("/token", data={**data, "client_id": "public"}, headers=headers)
    return await oidc.http.post("/token", data=data, auth=basic(client_id), headers=headers)


async def bound_tokens(oidc, prover, client_id="confidential"):
    code, verifier, params = await oidc.code(client_id)
    r = await exchange(oidc, code, verifier, params, prover.proof(), client_id)
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"
    return r.json()


async def userinfo(oidc, token, scheme="DPoP", proof=None):
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return await oidc.http.get("/userinfo", headers=headers)


def dpop_challenge(r, error):
    assert r.status_code == 401, (r.status_code, r.text)
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith("DPoP "), challenge
    assert f'error="{error}"' in challenge, challenge
    assert 'algs="' in challenge, challenge
    return challenge


# ---------------------------------------------------------------- §7 resource access (userinfo)


async def test_rfc9449_7_1_a_bound_token_with_a_proof_of_its_key_reads_userinfo(oidc):
    prover = Prover(oidc.clock)
    tokens = await bound_tokens(oidc, prover)
    at = tokens["access_token"]
    r = await userinfo(oidc, at, proof=prover.for_resource(at))
    assert r.status_code == 200, r.text
    assert r.json()["sub"]


async def test_rfc9449_7_2_a_bound_token_presented_as_bearer_is_refused(oidc):
    prover = Prover(oidc.clock)
    at = (await bound_tokens(oidc, prover))["access_token"]
    dpop_challenge(await userinfo(oidc, at, "Bearer"), "invalid_token")
    # ... even with a valid proof alongside.
    dpop_challenge(await userinfo(oidc, at, "Bearer", prover.for_resource(at)), "invalid_token")


async def test_rfc9449_7_1_a_proof_by_another_key_than_the_tokens_is_refused(oidc):
    prover, thief = Prover(oidc.clock), Prover(oidc.clock)
    at = (await bound_tokens(oidc, prover))["access_token"]
    dpop_challenge(await userinfo(oidc, at, proof=thief.for_resource(at)), "invalid_dpop_proof")


async def test_rfc9449_7_1_the_dpop_scheme_without_a_proof_is_refused(oidc):
    at = (await bound_tokens(oidc, Prover(oidc.clock)))["access_token"]
    dpop_challenge(await userinfo(oidc, at), "invalid_dpop_proof")


async def test_rfc9449_4_3_step_12_ath_must_be_the_hash_of_the_access_token(oidc):
    prover = Prover(oidc.clock)
    at = (await bound_tokens(oidc, prover))["access_token"]
    dpop_challenge(
        await userinfo(oidc, at, proof=prover.proof("GET", ISSUER + "/userinfo")),
        "invalid_dpop_proof",
    )
    for ath in ("A" * 43, "\u00e5" * 43, 7):
        wrong = prover.proof("GET", ISSUER + "/userinfo", ath=ath)
        dpop_challenge(await userinfo(oidc, at, proof=wrong), "invalid_dpop_proof")


async def test_rfc9449_7_1_a_proof_for_another_uri_or_method_is_refused_at_userinfo(oidc):
    prover = Prover(oidc.clock)
    at = (await bound_tokens(oidc, prover))["access_token"]
    wrong_uri = prover.for_resource(at, htu=ISSUER + "/token")
    dpop_challenge(await userinfo(oidc, at, proof=wrong_uri), "invalid_dpop_proof")
    wrong_method = prover.for_resource(at, htm="POST")
    dpop_challenge(await userinfo(oidc, at, proof=wrong_method), "invalid_dpop_proof")


async def test_rfc9449_7_1_a_resource_proof_is_used_once(oidc):
    prover = Prover(oidc.clock)
    at = (await bound_tokens(oidc, prover))["access_token"]
    proof = prover.for_resource(at)
    assert (await userinfo(oidc, at, proof=proof)).status_code == 200
    dpop_challenge(await userinfo(oidc, at, proof=proof), "invalid_dpop_proof")


async def test_rfc9449_7_1_an_unbound_token_is_not_accepted_under_the_dpop_scheme(oidc):
    tokens, _ = await oidc.tokens()
    at = tokens["access_token"]
    prover = Prover(oidc.clock)
    dpop_challenge(await userinfo(oidc, at, proof=prover.for_resource(at)), "invalid_token")
    assert (await userinfo(oidc, at, "Bearer")).status_code == 200  # as before


# ---------------------------------------------------------------- §6.2 introspection


async def test_rfc9449_6_2_introspection_returns_the_binding_and_token_type(oidc):
    prover = Prover(oidc.clock)
    at = (await bound_tokens(oidc, prover))["access_token"]
    r = await oidc.http.post("/introspect", data={"token": at}, auth=basic("confidential"))
    body = r.json()
    assert body["active"] is True
    assert body["token_type"] == "DPoP"
    assert body["cnf"] == {"jkt": prover.jkt}


# ---------------------------------------------------------------- §5 refresh tokens


async def refresh(oidc, rt, proof=None, client_id="public"):
    data = {"grant_type": "refresh_token", "refresh_token": rt}
    headers = {} if proof is None else {"DPoP": proof}
    if client_id == "public":
        return await oidc.http.post("/token", data={**data, "client_id": "public"}, headers=headers)
    return await oidc.http.post("/token", data=data, auth=basic(client_id), headers=headers)


async def test_rfc9449_5_a_public_clients_refresh_token_needs_a_proof_of_the_same_key(oidc):
    prover, thief = Prover(oidc.clock), Prover(oidc.clock)
    rt = (await bound_tokens(oidc, prover, "public"))["refresh_token"]
    r = await refresh(oidc, rt)  # no proof
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    r = await refresh(oidc, rt, thief.proof())  # another key
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    r = await refresh(oidc, rt, prover.proof())  # the key: still usable, not used up above
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "DPoP"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": prover.jkt}
    # The successor is bound to the same key.
    r = await refresh(oidc, body["refresh_token"], thief.proof())
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    assert (await refresh(oidc, body["refresh_token"], prover.proof())).status_code == 200


async def test_rfc9449_5_a_confidential_clients_refresh_token_is_not_bound_to_the_key(oidc):
    prover = Prover(oidc.clock)
    rt = (await bound_tokens(oidc, prover))["refresh_token"]
    r = await refresh(oidc, rt, client_id="confidential")
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer", r.text


# ---------------------------------------------------------------- §5.2 client metadata, §8 nonces


def extra_clients(oidc_settings, client_jwks):
    entries = client_entries(client_jwks)
    entries += [
        {
            "client_id": "nonce-client",
            "client_secret": NONCE_SECRET,
            "grant_types": ["client_credentials"],
            "scope": "openid",
            "dpop_nonce_required": True,
        },
        {
            "client_id": "bound-client",
            "client_secret": BOUND_SECRET,
            "grant_types": ["client_credentials"],
            "scope": "openid",
            "dpop_bound_access_tokens": True,
        },
    ]
    return settings_with(oidc_settings, *entries)


@pytest.fixture
async def provider(oidc_settings, client_jwks):
    async with running_provider(extra_clients(oidc_settings, client_jwks)) as harness:
        yield harness


async def cc_token(h, client_id, secret, proof=None):
    headers = {} if proof is None else {"DPoP": proof}
    return await h.http.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "openid"},
        auth=httpx.BasicAuth(client_id, secret),
        headers=headers,
    )


async def test_rfc9449_5_2_dpop_bound_access_tokens_refuses_a_request_without_a_proof(provider):
    r = await cc_token(provider, "bound-client", BOUND_SECRET)
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    r = await cc_token(provider, "bound-client", BOUND_SECRET, Prover(provider.clock).proof())
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text


async def test_rfc9449_8_nonce_round_trip(provider):
    prover = Prover(provider.clock)
    r = await cc_token(provider, "nonce-client", NONCE_SECRET, prover.proof())
    assert r.status_code == 400 and r.json()["error"] == "use_dpop_nonce", r.text
    nonce = r.headers["DPoP-Nonce"]
    r = await cc_token(provider, "nonce-client", NONCE_SECRET, prover.proof(nonce=nonce))
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text
    assert r.headers["DPoP-Nonce"]


async def test_rfc9449_8_nonces_rotate_and_the_previous_one_is_still_accepted(provider):
    prover = Prover(provider.clock)
    nonce = (await cc_token(provider, "nonce-client", NONCE_SECRET, prover.proof())).headers[
        "DPoP-Nonce"
    ]
    provider.clock.advance(NONCE_PERIOD)
    r = await cc_token(provider, "nonce-client", NONCE_SECRET, prover.proof(nonce=nonce))
    assert r.status_code == 200, r.text  # the previous slot's
    assert r.headers["DPoP-Nonce"] != nonce  # rotated
    provider.clock.advance(NONCE_PERIOD)
    r = await cc_token(provider, "nonce-client", NONCE_SECRET, prover.proof(nonce=nonce))
    assert r.status_code == 400 and r.json()["error"] == "use_dpop_nonce", r.text


async def test_rfc9449_8_a_nonce_is_optional_for_a_client_that_is_not_asked_for_one(provider):
    r = await cc_token(
        provider, "cc", "client-credentials-secret-0123", Prover(provider.clock).proof()
    )
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text


# ---------------------------------------------------------------- §10 code binding


async def test_rfc9449_10_dpop_jkt_binds_the_code_to_the_key(oidc):
    prover, thief = Prover(oidc.clock), Prover(oidc.clock)
    code, verifier, params = await oidc.code(params={"dpop_jkt": prover.jkt})
    r = await exchange(oidc, code, verifier, params, thief.proof())
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text

    code, verifier, params = await oidc.code(params={"dpop_jkt": prover.jkt})
    r = await exchange(oidc, code, verifier, params)  # no proof at all
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text

    code, verifier, params = await oidc.code(params={"dpop_jkt": prover.jkt})
    r = await exchange(oidc, code, verifier, params, prover.proof())
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text


async def test_rfc9449_10_a_malformed_dpop_jkt_is_refused_at_authorize(oidc):
    params, _ = oidc.auth_params(dpop_jkt="not-a-thumbprint")
    r = await oidc.authorize(params)
    assert r.status_code == 303, r.text
    q = query(r.headers["location"])
    assert q["error"] == "invalid_request" and "code" not in q


async def push(oidc, params, proof=None):
    headers = {} if proof is None else {"DPoP": proof}
    return await oidc.http.post("/par", data=params, auth=basic("confidential"), headers=headers)


async def code_via_par(oidc, params):
    final = await oidc.login({"client_id": "confidential", "request_uri": params["request_uri"]})
    return query(final.headers["location"])["code"]


@pytest.mark.parametrize("how", ["header", "parameter", "both"])
async def test_rfc9449_10_1_par_binds_the_code_by_header_or_dpop_jkt(oidc, how):
    prover, thief = Prover(oidc.clock), Prover(oidc.clock)
    params, verifier = oidc.auth_params()
    if how != "header":
        params["dpop_jkt"] = prover.jkt
    proof = prover.proof(htu=ISSUER + "/par") if how != "parameter" else None
    r = await push(oidc, params, proof)
    assert r.status_code == 201, r.text
    assert ("DPoP-Nonce" in r.headers) == (proof is not None)
    code = await code_via_par(oidc, {"request_uri": r.json()["request_uri"]})
    r = await exchange(oidc, code, verifier, params, thief.proof())
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text

    r = await push(oidc, params, prover.proof(htu=ISSUER + "/par") if proof else None)
    code = await code_via_par(oidc, {"request_uri": r.json()["request_uri"]})
    r = await exchange(oidc, code, verifier, params, prover.proof())
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text


async def test_rfc9449_10_1_par_refuses_a_dpop_jkt_that_is_not_the_proofs_key(oidc):
    prover, other = Prover(oidc.clock), Prover(oidc.clock)
    params, _ = oidc.auth_params(dpop_jkt=other.jkt)
    r = await push(oidc, params, prover.proof(htu=ISSUER + "/par"))
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    assert r.headers["DPoP-Nonce"]


async def test_rfc9449_10_1_an_invalid_proof_at_par_is_refused(oidc):
    params, _ = oidc.auth_params()
    r = await push(oidc, params, Prover(oidc.clock).proof())  # htu names /token
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text


# ---------------------------------------------------------------- §5.1 discovery


async def test_every_dpop_signing_alg_binds_a_token(oidc):
    """§5.1 dpop_signing_alg_values_supported: a proof in each advertised alg is accepted."""
    doc = (await oidc.http.get("/.well-known/openid-configuration")).json()
    algs = doc["dpop_signing_alg_values_supported"]
    assert set(algs) == {"RS256", "ES256", "PS256"}
    for alg in algs:
        prover = Prover(oidc.clock, alg=alg)
        r = await cc_token(oidc, "cc", "client-credentials-secret-0123", prover.proof())
        assert r.status_code == 200 and r.json()["token_type"] == "DPoP", (alg, r.text)
        claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
        assert claims["cnf"]["jkt"] == thumbprint(prover.jwk)
