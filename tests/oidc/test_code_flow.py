"""The code flow end to end through the fake authenticator: the core's own happy path."""

import jwt
import pytest

from tests.oidc.harness import ISSUER, basic, query

pytestmark = pytest.mark.anyio


async def test_code_flow_issues_verifiable_tokens_and_userinfo(oidc):
    tokens, params = await oidc.tokens("confidential", params={"scope": "openid profile ssn"})
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"]
    jwks = (await oidc.http.get("/jwks")).json()
    header = jwt.get_unverified_header(tokens["id_token"])
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(
        tokens["id_token"],
        jwt.PyJWK(key).key,
        algorithms=["RS256"],
        audience="confidential",
        issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["nonce"] == params["nonce"] and claims["sid"] and claims["at_hash"]
    assert claims["name"] == "Anna Andersson" and claims["ssn"] == "199001012392"
    assert "person-1" not in claims["sub"]
    info = await oidc.http.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == claims["sub"] and info.json()["ssn"] == "199001012392"
    refreshed = await oidc.token(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=basic("confidential"),
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] != tokens["refresh_token"]


async def test_sso_session_answers_prompt_none(oidc):
    await oidc.tokens("confidential")
    params, _ = oidc.auth_params("confidential", prompt="none")
    again = await oidc.authorize(params)
    assert again.status_code == 303
    assert "code" in query(again.headers["location"])
