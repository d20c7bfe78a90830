"""RFC 9449 §4.3: each check a server makes of a DPoP proof, one test each, at the token
endpoint (client credentials: no login needed). A failed check is 400 invalid_dpop_proof
(§5), never a token, and the answer carries a nonce for the next proof (§8)."""

import json

import httpx
import jwt
import pytest

from idp.oidc.dpop import IAT_LEEWAY, IAT_WINDOW, MAX_JTI
from tests.oidc.dpop_proof import TOKEN_URL, Prover, b64url
from tests.oidc.harness import ISSUER, basic

pytestmark = pytest.mark.anyio

CC = {"grant_type": "client_credentials", "scope": "openid"}


async def token(oidc, proof=None, *, headers=None):
    if headers is None:
        headers = {} if proof is None else {"DPoP": proof}
    return await oidc.http.post("/token", data=CC, auth=basic("cc"), headers=headers)


def refused(r, error="invalid_dpop_proof", names=None):
    """A refusal; `names`: a word of the description (which check refused it)."""
    assert r.status_code == 400, (r.status_code, r.text)
    body = r.json()
    assert body["error"] == error, body
    assert names is None or names in body["error_description"], body
    assert "access_token" not in body
    assert r.headers.get("DPoP-Nonce"), r.headers
    assert r.headers["cache-control"] == "no-store"
    return body


def unsigned(header: dict, claims: dict) -> str:
    def part(value):
        return b64url(json.dumps(value).encode())

    return f"{part(header)}.{part(claims)}."


async def test_rfc9449_5_a_valid_proof_binds_the_access_token_to_its_key(oidc):
    prover = Prover(oidc.clock)
    r = await token(oidc, prover.proof())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "DPoP"
    assert r.headers.get("DPoP-Nonce")
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": prover.jkt}  # §6.1, thumbprint computed independently
    # Without a proof, the token stays a bearer token.
    r = await token(oidc)
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
    assert "cnf" not in jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert "DPoP-Nonce" not in r.headers


async def test_rfc9449_4_3_step_1_more_than_one_dpop_header_is_refused(oidc):
    prover = Prover(oidc.clock)
    headers = httpx.Headers([("DPoP", prover.proof()), ("DPoP", prover.proof())])
    refused(await token(oidc, headers=headers))


@pytest.mark.parametrize("value", ["not-a-jwt", "a.b.c", "e30.e30", "x" * 9000])
async def test_rfc9449_4_3_step_2_a_header_that_is_not_a_well_formed_jwt_is_refused(oidc, value):
    refused(await token(oidc, value))


@pytest.mark.parametrize("claim", ["jti", "htm", "htu", "iat"])
async def test_rfc9449_4_3_step_3_a_proof_missing_a_required_claim_is_refused(oidc, claim):
    refused(await token(oidc, Prover(oidc.clock).proof(**{claim: None})))


async def test_rfc9449_4_3_step_3_a_jti_longer_than_the_limit_is_refused(oidc):
    """§11.1: servers "SHOULD limit the size of the jti"."""
    refused(await token(oidc, Prover(oidc.clock).proof(jti="j" * (MAX_JTI + 1))))


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", None])
async def test_rfc9449_4_3_step_4_typ_must_be_dpop_jwt(oidc, typ):
    refused(await token(oidc, Prover(oidc.clock).proof(header={"typ": typ})), names="typ")


async def test_rfc9449_4_3_step_5_alg_none_is_refused(oidc):
    prover = Prover(oidc.clock)
    proof = unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": prover.jwk}, prover.claims())
    refused(await token(oidc, proof), names="alg")


async def test_rfc9449_4_3_step_5_a_symmetric_alg_is_refused(oidc):
    prover = Prover(oidc.clock)
    proof = jwt.encode(
        prover.claims(),
        "a-shared-secret-that-is-long-enough-for-hs256",
        algorithm="HS256",
        headers={"typ": "dpop+jwt", "jwk": {"kty": "oct", "k": b64url(b"x" * 32)}},
    )
    refused(await token(oidc, proof), names="alg")


async def test_rfc9449_4_3_step_5_an_asymmetric_alg_not_on_the_allow_list_is_refused(oidc):
    prover = Prover(oidc.clock, alg="RS256")
    proof = jwt.encode(
        prover.claims(),
        prover.key,
        algorithm="RS512",
        headers={"typ": "dpop+jwt", "jwk": prover.jwk},
    )
    refused(await token(oidc, proof), names="alg")


async def test_rfc9449_4_3_step_6_a_signature_by_another_key_than_the_jwk_is_refused(oidc):
    prover, other = Prover(oidc.clock), Prover(oidc.clock)
    refused(await token(oidc, prover.proof(key=other.key)), names="signature")


async def test_rfc9449_4_3_step_6_a_tampered_payload_is_refused(oidc):
    header, _, signature = Prover(oidc.clock).proof().split(".")
    other_claims = Prover(oidc.clock).proof().split(".")[1]
    refused(await token(oidc, f"{header}.{other_claims}.{signature}"), names="signature")


async def test_rfc9449_4_3_step_6_a_proof_without_a_jwk_is_refused(oidc):
    refused(await token(oidc, Prover(oidc.clock).proof(header={"jwk": None})))


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi"])
async def test_rfc9449_4_3_step_7_a_jwk_with_a_private_member_is_refused(oidc, member):
    prover = Prover(oidc.clock, alg="RS256")
    private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(prover.key))
    jwk = {**prover.jwk, member: private[member]}
    refused(await token(oidc, prover.proof(header={"jwk": jwk})), names="public key")


@pytest.mark.parametrize("htm", ["GET", "post", "PUT"])
async def test_rfc9449_4_3_step_8_htm_must_be_the_request_method(oidc, htm):
    refused(await token(oidc, Prover(oidc.clock).proof(htm=htm)), names="htm")


@pytest.mark.parametrize(
    "htu",
    [
        ISSUER + "/userinfo",
        "https://other.example.com/token",
        "http://id.example.com/token",
        "https://id.example.com:8443/token",
        "/token",
    ],
)
async def test_rfc9449_4_3_step_9_htu_must_be_the_request_uri(oidc, htu):
    refused(await token(oidc, Prover(oidc.clock).proof(htu=htu)), names="htu")


@pytest.mark.parametrize(
    "htu",
    [
        TOKEN_URL + "?a=b",
        TOKEN_URL + "#frag",
        "HTTPS://ID.EXAMPLE.COM/token",
        "https://id.example.com:443/token",
    ],
)
async def test_rfc9449_4_3_step_9_htu_is_compared_without_query_and_fragment_normalised(oidc, htu):
    """Step 9 ignores query and fragment; RFC 3986 §6.2.2-3 normalisation (case, port)."""
    r = await token(oidc, Prover(oidc.clock).proof(htu=htu))
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text


async def test_rfc9449_4_3_step_10_an_unknown_nonce_is_refused_with_use_dpop_nonce(oidc):
    refused(await token(oidc, Prover(oidc.clock).proof(nonce="made-up")), "use_dpop_nonce")


@pytest.mark.parametrize("iat", [float("nan"), float("inf"), "1767225600", True])
async def test_rfc9449_4_3_step_3_an_iat_that_is_not_a_finite_number_is_refused(oidc, iat):
    refused(await token(oidc, Prover(oidc.clock).proof(iat=iat)), names="iat")


@pytest.mark.parametrize("nonce", ["\u00f6", 42, "n" * 300])
async def test_rfc9449_4_3_step_10_a_malformed_nonce_is_refused_with_use_dpop_nonce(oidc, nonce):
    refused(await token(oidc, Prover(oidc.clock).proof(nonce=nonce)), "use_dpop_nonce")


@pytest.mark.parametrize("offset", [-(IAT_WINDOW + 1), IAT_LEEWAY + 1, -3600, 3600])
async def test_rfc9449_4_3_step_11_iat_outside_the_window_is_refused(oidc, offset):
    prover = Prover(oidc.clock)
    refused(await token(oidc, prover.proof(iat=int(oidc.clock.now()) + offset)), names="iat")


@pytest.mark.parametrize("offset", [-IAT_WINDOW + 1, IAT_LEEWAY - 1])
async def test_rfc9449_4_3_step_11_iat_inside_the_window_is_accepted(oidc, offset):
    prover = Prover(oidc.clock)
    r = await token(oidc, prover.proof(iat=int(oidc.clock.now()) + offset))
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text


async def test_rfc9449_11_1_a_replayed_proof_is_refused(oidc):
    proof = Prover(oidc.clock).proof()
    assert (await token(oidc, proof)).status_code == 200
    body = refused(await token(oidc, proof))
    assert "used before" in body["error_description"]


async def test_rfc9449_4_3_a_proof_is_never_echoed_in_the_error(oidc):
    proof = Prover(oidc.clock).proof(htm="GET")
    body = refused(await token(oidc, proof))
    assert proof not in json.dumps(body)
    assert "htm" in body["error_description"]
