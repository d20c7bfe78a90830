"""UserInfo as a DPoP resource server: server-provided nonces (RFC 9449 §9, the same shared,
rotating nonces as the token endpoint's, §8) for clients whose entry sets
`dpop_nonce_required`, and a fapi2 client's proofs held to PS256/ES256 here as at the token
endpoint (FAPI 2.0 §5.4.1)."""

import httpx
import pytest

from idp.config import parse_settings
from idp.oidc.dpop import NONCE_PERIOD
from tests.oidc.conftest import client_entries, running_provider, settings_with
from tests.oidc.dpop_proof import Prover
from tests.oidc.harness import ISSUER, RP_CB
from tests.oidc.test_fapi2_mode import confidential_entry, exchange, fapi_code, fapi_entry

pytestmark = pytest.mark.anyio

NONCE_CLIENT = "nonce-web"
NONCE_SECRET = "nonce-web-secret-0123456789abcdef"


@pytest.fixture
async def provider(oidc_settings, client_jwks):
    entry = {
        "client_id": NONCE_CLIENT,
        "client_secret": NONCE_SECRET,
        "redirect_uris": [RP_CB],
        "grant_types": ["authorization_code"],
        "scope": "openid profile",
        "dpop_nonce_required": True,
    }
    settings = settings_with(oidc_settings, *client_entries(client_jwks), entry)
    async with running_provider(settings) as harness:
        yield harness


async def token_request(h, prover, code, verifier, params, nonce=None):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": params["redirect_uri"],
        "code_verifier": verifier,
    }
    return await h.http.post(
        "/token",
        data=data,
        auth=httpx.BasicAuth(NONCE_CLIENT, NONCE_SECRET),
        headers={"DPoP": prover.proof(nonce=nonce)},
    )


async def nonce_tokens(h, prover):
    """A DPoP-bound access token of the nonce client, after the token endpoint's nonce round
    trip; and the nonce it gave."""
    code, verifier, params = await h.code(NONCE_CLIENT)
    r = await token_request(h, prover, code, verifier, params)
    assert r.status_code == 400 and r.json()["error"] == "use_dpop_nonce", r.text
    nonce = r.headers["DPoP-Nonce"]
    r = await token_request(h, prover, code, verifier, params, nonce)
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text
    return r.json()["access_token"], r.headers["DPoP-Nonce"]


async def userinfo(h, at, proof):
    return await h.http.get("/userinfo", headers={"Authorization": f"DPoP {at}", "DPoP": proof})


def nonce_challenge(r):
    """§9: 401, `WWW-Authenticate: DPoP error="use_dpop_nonce"`, and the nonce to use."""
    assert r.status_code == 401, (r.status_code, r.text)
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith("DPoP ") and 'error="use_dpop_nonce"' in challenge, challenge
    assert r.headers["dpop-nonce"], r.headers
    return r.headers["dpop-nonce"]


async def test_rfc9449_9_userinfo_asks_a_nonce_client_for_a_nonce_and_accepts_it(provider):
    prover = Prover(provider.clock)
    at, _ = await nonce_tokens(provider, prover)
    nonce = nonce_challenge(await userinfo(provider, at, prover.for_resource(at)))
    r = await userinfo(provider, at, prover.for_resource(at, nonce=nonce))
    assert r.status_code == 200 and r.json()["sub"], r.text
    assert r.headers["dpop-nonce"] == nonce  # §8.2: the nonce for the next proof


async def test_rfc9449_9_the_token_endpoints_nonce_is_the_one_userinfo_accepts(provider):
    """One nonce schedule for the whole provider: what /token handed out works at /userinfo,
    also in the period after it rotated, when userinfo hands out the next one (the refusal two
    periods on is test_dpop_flows' at the token endpoint; the access token is gone by then)."""
    prover = Prover(provider.clock)
    at, nonce = await nonce_tokens(provider, prover)
    r = await userinfo(provider, at, prover.for_resource(at, nonce=nonce))
    assert r.status_code == 200, r.text
    provider.clock.advance(NONCE_PERIOD)
    r = await userinfo(provider, at, prover.for_resource(at, nonce=nonce))
    assert r.status_code == 200, r.text
    fresh = r.headers["dpop-nonce"]
    assert fresh != nonce  # rotated
    r = await userinfo(provider, at, prover.for_resource(at, nonce=fresh))
    assert r.status_code == 200, r.text


async def test_rfc9449_9_an_unknown_nonce_at_userinfo_is_answered_with_a_valid_one(provider):
    """§8: a nonce that is not ours is refused with use_dpop_nonce, for any client (here one
    not asked for nonces), and the challenge carries the nonce to retry with."""
    prover = Prover(provider.clock)
    code, verifier, params = await provider.code()
    r = await provider.http.post(
        "/token",
        data={"grant_type": "authorization_code", "code": code,
              "redirect_uri": params["redirect_uri"], "code_verifier": verifier},
        auth=httpx.BasicAuth("confidential", "confidential-secret-0123456789"),
        headers={"DPoP": prover.proof()},
    )  # fmt: skip
    at = r.json()["access_token"]
    nonce = nonce_challenge(await userinfo(provider, at, prover.for_resource(at, nonce="made-up")))
    r = await userinfo(provider, at, prover.for_resource(at, nonce=nonce))
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- fapi2 at userinfo


@pytest.fixture
async def fapi(oidc_settings):
    raw = {
        "issuer": ISSUER,
        "database_url": oidc_settings.database_url,
        "clients": [fapi_entry(), confidential_entry()],
    }
    async with running_provider(parse_settings(raw, source="test", environ={})) as harness:
        yield harness


async def test_fapi2_an_rs256_proof_of_the_bound_key_is_refused_at_userinfo(fapi):
    """The token is bound to an RSA key proved with PS256; a proof of the same key signed
    with RS256 is refused at the resource as it is at the token endpoint (FAPI 2.0 §5.4.1)."""
    prover = Prover(fapi.clock, alg="PS256")
    code, verifier, _ = await fapi_code(fapi, prover)
    r = await exchange(fapi, code, verifier, prover.proof())
    assert r.status_code == 200, r.text
    at = r.json()["access_token"]
    prover.alg = "RS256"
    r = await userinfo(fapi, at, prover.for_resource(at))
    assert r.status_code == 401, r.text
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith("DPoP ") and 'error="invalid_dpop_proof"' in challenge
    assert "PS256 or ES256" in challenge, challenge
    prover.alg = "PS256"
    r = await userinfo(fapi, at, prover.for_resource(at))
    assert r.status_code == 200, r.text
