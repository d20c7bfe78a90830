"""A client in FAPI 2.0 Security Profile mode (`fapi2: true`): every non-conforming request is
refused, a conforming one runs end to end, refresh tokens are not rotated (FAPI 2.0 §5.3.2.1)
while other clients keep rotation with reuse detection, and `idp check-config` refuses an entry
that contradicts the mode, naming the field."""

import json
import secrets

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from idp.cli import main
from idp.config import ConfigError, parse_settings
from tests.oidc.conftest import running_provider
from tests.oidc.dpop_proof import Prover
from tests.oidc.harness import (
    ISSUER,
    JWT_BEARER,
    RP_CB,
    SECRETS,
    assert_json_error,
    assert_redirect_error,
    basic,
    location,
    query,
    verify_id_token,
)

pytestmark = pytest.mark.anyio

FAPI = "fapi-client"
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(public, kid):
    algorithm = jwt.algorithms.ECAlgorithm if kid == "fapi-ec" else jwt.algorithms.RSAAlgorithm
    return {**json.loads(algorithm.to_jwk(public)), "kid": kid, "use": "sig"}


FAPI_JWKS = {
    "keys": [_jwk(EC_KEY.public_key(), "fapi-ec"), _jwk(RSA_KEY.public_key(), "fapi-rsa")]
}


def fapi_entry(**kw):
    entry = {
        "client_id": FAPI,
        "fapi2": True,
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": FAPI_JWKS,
        "redirect_uris": [RP_CB],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid profile",
        "id_token_signed_response_alg": "ES256",
    }
    entry.update(kw)
    return {k: v for k, v in entry.items() if v is not None}


def confidential_entry():
    return {
        "client_id": "confidential",
        "client_secret": SECRETS["confidential"],
        "redirect_uris": [RP_CB],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid profile",
    }


@pytest.fixture
def fapi_settings(oidc_settings):
    # A server-wide code lifetime over 60 s: the fapi2 client's codes are capped all the same.
    raw = {
        "issuer": ISSUER,
        "database_url": oidc_settings.database_url,
        "tokens": {"authorization_code_ttl_seconds": 300},
        "clients": [fapi_entry(), confidential_entry()],
    }
    return parse_settings(raw, source="test", environ={})


@pytest.fixture
async def oidc(fapi_settings):
    async with running_provider(fapi_settings) as harness:
        yield harness


def assertion(h, alg="ES256", aud=ISSUER):
    """A private_key_jwt client assertion (RFC 7523 §3) of the fapi2 client."""
    key, kid = (EC_KEY, "fapi-ec") if alg.startswith("ES") else (RSA_KEY, "fapi-rsa")
    now = int(h.clock.now())
    claims = {"iss": FAPI, "sub": FAPI, "aud": aud, "iat": now, "exp": now + 60,
              "jti": secrets.token_urlsafe(16)}  # fmt: skip
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def client_auth(h, alg="ES256"):
    return {"client_assertion_type": JWT_BEARER, "client_assertion": assertion(h, alg)}


async def push(h, prover=None, alg="ES256", **overrides):
    params, verifier = h.auth_params(FAPI, **overrides)
    headers = {} if prover is None else {"DPoP": prover.proof(htu=ISSUER + "/par")}
    r = await h.http.post("/par", data={**params, **client_auth(h, alg)}, headers=headers)
    return r, params, verifier


async def fapi_code(h, prover):
    r, params, verifier = await push(h, prover)
    assert r.status_code == 201, r.text
    final = await h.login({"client_id": FAPI, "request_uri": r.json()["request_uri"]})
    q = query(location(final))
    assert location(final).startswith(RP_CB) and q["state"] == params["state"], q
    assert q["iss"] == ISSUER  # RFC 9207, FAPI 2.0 §5.3.2.2
    return q["code"], verifier, params


async def exchange(h, code, verifier, proof=None, alg="ES256"):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": RP_CB,
            "code_verifier": verifier, **client_auth(h, alg)}  # fmt: skip
    headers = {} if proof is None else {"DPoP": proof}
    return await h.http.post("/token", data=data, headers=headers)


async def fapi_refresh(h, refresh_token, proof):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **client_auth(h)}
    return await h.http.post("/token", data=data, headers={"DPoP": proof})


# ---------------------------------------------------------------- a conforming flow


async def test_fapi2_conforming_flow_par_private_key_jwt_dpop_login_token_userinfo(oidc):
    prover = Prover(oidc.clock)
    code, verifier, params = await fapi_code(oidc, prover)
    r = await exchange(oidc, code, verifier, prover.proof())
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert tokens["token_type"] == "DPoP"
    await verify_id_token(oidc, tokens["id_token"], FAPI, nonce=params["nonce"], alg="ES256")
    at = tokens["access_token"]
    r = await oidc.http.get(
        "/userinfo", headers={"Authorization": f"DPoP {at}", "DPoP": prover.for_resource(at)}
    )
    assert r.status_code == 200, r.text
    assert r.json()["sub"]
    # The same token as a bearer token is refused.
    r = await oidc.http.get("/userinfo", headers={"Authorization": f"Bearer {at}"})
    assert r.status_code == 401


async def test_fapi2_ps256_assertions_and_proofs_are_accepted(oidc):
    prover = Prover(oidc.clock, alg="PS256")
    r, _, _ = await push(oidc, prover, alg="PS256")
    assert r.status_code == 201, r.text


# ---------------------------------------------------------------- non-conforming requests


async def test_fapi2_plain_authorize_without_par_is_refused(oidc):
    params, _ = oidc.auth_params(FAPI)
    assert_redirect_error(await oidc.authorize(params), "invalid_request", state=params["state"])


async def test_fapi2_client_secret_basic_is_refused(oidc):
    params, _ = oidc.auth_params(FAPI)
    r = await oidc.http.post("/par", data=params, auth=basic(FAPI, "a-secret-of-16-chars-or-more"))
    assert_json_error(r, 401, "invalid_client")


async def test_fapi2_rs256_client_assertion_is_refused(oidc):
    r, _, _ = await push(oidc, alg="RS256")
    assert_json_error(r, 401, "invalid_client")
    assert "PS256 or ES256" in r.json()["error_description"]


async def test_fapi2_rs256_request_object_is_refused(oidc):
    params, _ = oidc.auth_params(FAPI)
    now = int(oidc.clock.now())
    claims = {**params, "iss": FAPI, "aud": ISSUER, "iat": now, "exp": now + 60, "nbf": now}
    for alg, key, kid, status in (("RS256", RSA_KEY, "fapi-rsa", 400),
                                  ("ES256", EC_KEY, "fapi-ec", 201)):  # fmt: skip
        claims["jti"] = secrets.token_urlsafe(16)
        request = jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})
        data = {"client_id": FAPI, "request": request, **client_auth(oidc)}
        r = await oidc.http.post("/par", data=data)
        assert r.status_code == status, (alg, r.text)


async def test_fapi2_token_request_without_a_dpop_proof_is_refused(oidc):
    code, verifier, _ = await fapi_code(oidc, Prover(oidc.clock))
    r = await exchange(oidc, code, verifier)  # a bearer token would be issued
    assert_json_error(r, 400, "invalid_dpop_proof")


async def test_fapi2_rs256_dpop_proof_is_refused(oidc):
    rs256 = Prover(oidc.clock, alg="RS256")
    r, _, _ = await push(oidc, rs256)
    assert_json_error(r, 400, "invalid_dpop_proof")
    code, verifier, _ = await fapi_code(oidc, None)
    r = await exchange(oidc, code, verifier, rs256.proof())
    assert_json_error(r, 400, "invalid_dpop_proof")


async def test_fapi2_code_older_than_60_seconds_is_refused(oidc):
    prover = Prover(oidc.clock)
    code, verifier, _ = await fapi_code(oidc, prover)
    oidc.clock.advance(61)
    r = await exchange(oidc, code, verifier, prover.proof())
    assert_json_error(r, 400, "invalid_grant")
    # Another client's code lives as long as the server says (300 s here).
    code, verifier, _ = await oidc.code("confidential")
    oidc.clock.advance(61)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": RP_CB,
            "code_verifier": verifier}  # fmt: skip
    r = await oidc.token(data, auth=basic("confidential"))
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- refresh tokens


async def test_fapi2_refresh_token_is_not_rotated_and_stays_bound_to_the_dpop_key(oidc):
    prover = Prover(oidc.clock)
    code, verifier, _ = await fapi_code(oidc, prover)
    first = (await exchange(oidc, code, verifier, prover.proof())).json()
    rt = first["refresh_token"]
    for _ in range(2):
        r = await fapi_refresh(oidc, rt, prover.proof())
        assert r.status_code == 200, r.text
        assert r.json()["refresh_token"] == rt
        assert r.json()["token_type"] == "DPoP"
    # Another key cannot use it.
    r = await fapi_refresh(oidc, rt, Prover(oidc.clock).proof())
    assert_json_error(r, 400, "invalid_grant")
    r = await fapi_refresh(oidc, rt, prover.proof())
    assert r.status_code == 200, r.text


async def test_an_ordinary_clients_refresh_token_is_still_rotated_with_reuse_detection(oidc):
    tokens, _ = await oidc.tokens("confidential")
    rt = tokens["refresh_token"]
    data = {"grant_type": "refresh_token", "refresh_token": rt}
    r = await oidc.token(data, auth=basic("confidential"))
    assert r.status_code == 200, r.text
    successor = r.json()["refresh_token"]
    assert successor != rt
    r = await oidc.token(data, auth=basic("confidential"))  # reused: the grant is revoked
    assert_json_error(r, 400, "invalid_grant")
    r = await oidc.token({**data, "refresh_token": successor}, auth=basic("confidential"))
    assert_json_error(r, 400, "invalid_grant")


# ---------------------------------------------------------------- check-config


def problems(*clients, **top):
    raw = {"issuer": ISSUER, "clients": list(clients), **top}
    with pytest.raises(ConfigError) as info:
        parse_settings(raw, source="idp.yaml", environ={})
    return {i.path: i.message for i in info.value.issues}


def test_fapi2_entry_is_accepted_and_implies_par_and_dpop():
    s = parse_settings({"issuer": ISSUER, "clients": [fapi_entry()]}, source="t", environ={})
    (c,) = s.clients
    assert c.fapi2 and c.require_pushed_authorization_requests and c.dpop_bound_access_tokens


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"token_endpoint_auth_method": "client_secret_basic", "jwks": None,
          "client_secret": SECRETS["confidential"]}, "token_endpoint_auth_method",
         "private_key_jwt"),
        ({"token_endpoint_auth_method": "none", "jwks": None}, "token_endpoint_auth_method",
         "private_key_jwt"),
        ({"dpop_bound_access_tokens": False}, "dpop_bound_access_tokens", "must be true"),
        ({"require_pushed_authorization_requests": False},
         "require_pushed_authorization_requests", "must be true"),
        ({"id_token_signed_response_alg": "RS256"}, "id_token_signed_response_alg", "RS256"),
        ({"userinfo_signed_response_alg": "RS256"}, "userinfo_signed_response_alg", "RS256"),
        ({"require_pkce": False}, "require_pkce", "S256"),
    ],
)  # fmt: skip
def test_check_config_refuses_a_fapi2_entry_that_contradicts_the_mode(change, key, words):
    found = problems(fapi_entry(**change))
    assert f"clients[0].{key}" in found, found
    assert words in found[f"clients[0].{key}"], found


def test_check_config_refuses_fapi2_when_the_provider_has_no_es256_key():
    found = problems(fapi_entry(), keys={"algorithms": ["RS256"]})
    assert "no PS256 or ES256 signing key" in found["clients[0].fapi2"], found


def test_idp_check_config_names_the_field(tmp_path, capsys):
    path = tmp_path / "idp.yaml"
    entry = fapi_entry(id_token_signed_response_alg="RS256", dpop_bound_access_tokens=False)
    path.write_text(yaml.safe_dump({"issuer": ISSUER, "clients": [entry]}))
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    for key in ("id_token_signed_response_alg", "dpop_bound_access_tokens"):
        assert f"idp.yaml: clients[0].{key}: " in err, err
