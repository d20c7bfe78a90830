"""The rest of the wire contract, as a client and a browser see it: the login hand-off, SSO
session lifetime, subjects and claims, RFC 9068 access tokens, private_key_jwt, introspection,
revocation and logout side effects."""

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.oidc.harness import (
    ISSUER,
    JWT_BEARER,
    LOGGED_OUT,
    PERSON,
    RP_CB,
    assert_html_page,
    assert_json_error,
    assert_redirect_error,
    basic,
    client_assertion,
    exchange,
    introspect,
    location,
    other_browser,
    prompt_none,
    query,
    refresh,
    revoke,
    unverified,
    userinfo,
    verify_access_token,
    verify_id_token,
)

pytestmark = pytest.mark.anyio


async def sub_of(oidc, client_id="confidential", **params):
    tokens, sent = await oidc.tokens(client_id, params=params)
    claims = await verify_id_token(oidc, tokens["id_token"], client_id, nonce=sent["nonce"],
                                   access_token=tokens["access_token"])
    return claims["sub"], tokens, claims


# --------------------------------------------------------------------------- login hand-off


async def test_resume_url_is_bound_to_the_browser_and_works_once(oidc):
    params, _ = oidc.auth_params()
    first = await oidc.authorize(params)
    txn = query(location(first))["txn"]
    async with other_browser(oidc) as thief:
        # The authenticator's page does not show another browser's transaction...
        assert (await thief.http.get(location(first))).status_code == 404
        done = await oidc.http.post("/fake/login", data={"txn": txn})
        assert done.status_code == 303
        resume = location(done)
        # ...and the resume URL does nothing in another browser.
        assert_html_page(await thief.http.get(resume), 400)
    final = await oidc.http.get(resume)
    assert final.status_code == 303 and "code" in query(location(final)), location(final)
    assert_html_page(await oidc.http.get(resume), 400)


async def test_login_transaction_cannot_be_finished_twice(oidc):
    params, _ = oidc.auth_params()
    first = await oidc.authorize(params)
    txn = query(location(first))["txn"]
    assert (await oidc.http.post("/fake/login", data={"txn": txn})).status_code == 303
    assert (await oidc.http.get(f"/authorize/resume?txn={txn}")).status_code == 303
    again = await oidc.http.post("/fake/login", data={"txn": txn})
    assert again.status_code == 404


async def test_prompt_select_account_forces_a_new_login(oidc):
    _, _, first = await sub_of(oidc)
    oidc.clock.advance(20)
    params, verifier = oidc.auth_params(prompt="select_account")
    r = await oidc.authorize(params)
    assert location(r).startswith("/fake/login?"), location(r)
    final = await oidc.finish_login(location(r))
    t = await exchange(oidc, query(location(final))["code"], verifier, params)
    claims = await verify_id_token(oidc, t.json()["id_token"], nonce=params["nonce"],
                                   access_token=t.json()["access_token"])
    assert claims["auth_time"] == first["auth_time"] + 20


async def test_authorization_without_prompt_reuses_the_session(oidc):
    _, _, first = await sub_of(oidc)
    oidc.clock.advance(5)
    params, verifier = oidc.auth_params()
    r = await oidc.authorize(params)
    assert location(r).startswith(RP_CB + "?"), location(r)
    t = await exchange(oidc, query(location(r))["code"], verifier, params)
    claims = await verify_id_token(oidc, t.json()["id_token"], nonce=params["nonce"],
                                   access_token=t.json()["access_token"])
    assert (claims["auth_time"], claims["sid"]) == (first["auth_time"], first["sid"])


async def test_id_token_hint_of_another_subject_is_login_required(oidc):
    await sub_of(oidc)  # this browser: person-1
    async with other_browser(oidc) as other:
        tokens, _ = await other_tokens(other)  # another browser: person-2
    r = await prompt_none(oidc, id_token_hint=tokens["id_token"], state="h")
    assert_redirect_error(r, "login_required", state="h")


async def other_tokens(browser):
    params, verifier = browser.auth_params()
    first = await browser.authorize(params)
    final = await browser.finish_login(location(first), subject="person-2")
    t = await exchange(browser, query(location(final))["code"], verifier, params)
    return t.json(), params


async def test_id_token_hint_with_a_bad_signature_is_invalid_request(oidc):
    _, tokens, _ = await sub_of(oidc)
    head, payload, sig = tokens["id_token"].split(".")
    tampered = f"{head}.{payload}.{sig[:-4]}AAAA"
    r = await prompt_none(oidc, id_token_hint=tampered, state="t")
    assert_redirect_error(r, "invalid_request", state="t")


# --------------------------------------------------------------------------- SSO session


async def test_session_idle_timeout(oidc):
    await sub_of(oidc)
    oidc.clock.advance(899)
    assert "code" in query(location(await prompt_none(oidc)))
    oidc.clock.advance(901)
    assert_redirect_error(await prompt_none(oidc, state="i"), "login_required", state="i")


async def test_session_lifetime_caps_an_active_session(oidc):
    await sub_of(oidc)
    for _ in range(4):  # active every 800 s: never idle, up to 3200 s old
        oidc.clock.advance(800)
        r = await prompt_none(oidc)
        assert "code" in query(location(r)), location(r)
    oidc.clock.advance(401)  # 3601 s after the login
    assert_redirect_error(await prompt_none(oidc, state="l"), "login_required", state="l")


async def test_session_cookie_is_not_a_lasting_credential(oidc):
    params, _ = oidc.auth_params()
    final = await oidc.login(params)
    cookies = final.headers.get_list("set-cookie")
    lifetimes = [int(part.split("=")[1]) for c in cookies for part in c.split("; ")
                 if part.lower().startswith("max-age=")]
    assert all(age <= 3600 for age in lifetimes), cookies


# --------------------------------------------------------------------------- subjects and claims


async def test_sub_is_a_stable_pseudonym_for_public_subject_clients(oidc):
    sub1, _, _claims = await sub_of(oidc)
    sub2, _, _ = await sub_of(oidc, prompt="login")
    sub3, _, _ = await sub_of(oidc, "es256")
    assert sub1 == sub2 == sub3
    for secret in ("person-1", PERSON["claim_ssn"], PERSON["claim_ssn"][2:]):
        assert secret not in sub1
    async with other_browser(oidc) as other:
        tokens, _ = await other_tokens(other)
        assert unverified(tokens["id_token"])[1]["sub"] != sub1


async def test_pairwise_subjects_differ_per_sector_and_are_stable(oidc):
    public, _, _ = await sub_of(oidc)
    a1, _, _ = await sub_of(oidc, "pairwise-a")
    a2, _, _ = await sub_of(oidc, "pairwise-a", prompt="login")
    b, _, _ = await sub_of(oidc, "pairwise-b")
    assert a1 == a2
    assert len({public, a1, b}) == 3
    for sub in (a1, b):
        assert "person-1" not in sub and PERSON["claim_ssn"] not in sub


async def test_ssn_released_only_with_the_ssn_scope(oidc):
    _, tokens, claims = await sub_of(oidc, scope="openid ssn")
    assert set(tokens["scope"].split()) == {"openid", "ssn"}
    assert claims["ssn"] == PERSON["claim_ssn"]
    assert (await userinfo(oidc, tokens["access_token"])).json()["ssn"] == PERSON["claim_ssn"]
    assert "name" not in claims

    _, tokens, claims = await sub_of(oidc, scope="openid profile")
    assert "ssn" not in claims
    assert "ssn" not in (await userinfo(oidc, tokens["access_token"])).json()


async def test_ssn_not_released_through_the_claims_parameter(oidc):
    asked = '{"userinfo": {"ssn": {"essential": true}}, "id_token": {"ssn": {"essential": true}}}'
    _, tokens, claims = await sub_of(oidc, scope="openid profile", claims=asked)
    assert "ssn" not in claims
    info = (await userinfo(oidc, tokens["access_token"])).json()
    assert "ssn" not in info and info["name"] == PERSON["claim_name"]


async def test_profile_claims_of_the_person(oidc):
    _, _tokens, claims = await sub_of(oidc)
    for name in ("name", "given_name", "family_name", "birthdate"):
        assert claims[name] == PERSON[f"claim_{name}"]


async def test_access_token_is_an_rfc9068_jwt(oidc):
    sub, tokens, _ = await sub_of(oidc)
    header, _ = unverified(tokens["access_token"])
    at = await verify_access_token(oidc, tokens["access_token"])
    assert header["kid"]
    assert at["iss"] == ISSUER and at["sub"] == sub and at["client_id"] == "confidential"
    assert set(at["scope"].split()) == {"openid", "profile"}
    assert at["exp"] - at["iat"] == tokens["expires_in"]
    _, other, _ = await sub_of(oidc)
    assert unverified(other["access_token"])[1]["jti"] != at["jti"]


# --------------------------------------------------------------------------- private_key_jwt


async def jwt_client_exchange(oidc, assertion, code=None, verifier=None, params=None):
    if code is None:
        code, verifier, params = await oidc.code("jwt-client")
    return await oidc.token({
        "grant_type": "authorization_code", "code": code, "redirect_uri": params["redirect_uri"],
        "code_verifier": verifier, "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
    })


async def test_private_key_jwt_client_authentication(oidc, client_private_key):
    now = oidc.clock.now()
    code, verifier, params = await oidc.code("jwt-client")
    good = client_assertion(client_private_key, now=now)
    r = await jwt_client_exchange(oidc, good, code, verifier, params)
    assert r.status_code == 200, r.text
    await verify_id_token(oidc, r.json()["id_token"], "jwt-client", nonce=params["nonce"],
                          access_token=r.json()["access_token"])
    # The issuer is also accepted as audience.
    r = await jwt_client_exchange(oidc, client_assertion(client_private_key, now=now,
                                                         aud=ISSUER))
    assert r.status_code == 200, r.text


async def test_private_key_jwt_replayed_jti_is_invalid_client(oidc, client_private_key):
    assertion = client_assertion(client_private_key, now=oidc.clock.now())
    assert (await jwt_client_exchange(oidc, assertion)).status_code == 200
    replay = await jwt_client_exchange(oidc, assertion)
    assert_json_error(replay, 401, "invalid_client")


async def test_private_key_jwt_bad_assertions_are_invalid_client(oidc, client_private_key,
                                                                 subtests):
    for variant in ("other-key", "expired", "wrong-aud", "wrong-iss", "wrong-sub", "no-jti",
                    "hs256", "none"):
        with subtests.test(variant=variant):
            assertion = bad_assertion(variant, client_private_key, oidc.clock.now())
            r = await jwt_client_exchange(oidc, assertion)
            assert_json_error(r, 401, "invalid_client")


def bad_assertion(variant, client_private_key, now):
    key, kw = client_private_key, {"now": now}
    if variant == "other-key":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif variant == "expired":
        kw = {"now": now - 300}
    elif variant == "wrong-aud":
        kw["aud"] = "https://other.example/token"
    elif variant == "wrong-iss":
        kw["iss"] = "confidential"
    elif variant == "wrong-sub":
        kw["sub"] = "someone"
    assertion = client_assertion(key, **kw)
    claims = unverified(assertion)[1]
    if variant == "no-jti":
        del claims["jti"]
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "client-key-1"})
    if variant == "hs256":
        return jwt.encode(claims, "a-guessable-shared-secret-value!", algorithm="HS256")
    if variant == "none":
        return jwt.encode(claims, None, algorithm="none")
    return assertion


# --------------------------------------------------------------------------- introspect / revoke


async def test_introspection_of_live_tokens(oidc):
    sub, tokens, _ = await sub_of(oidc)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        info = await introspect(oidc, token)
        assert info["active"] is True, info
        assert info["client_id"] == "confidential" and info["sub"] == sub
        assert info["iss"] == ISSUER and set(info["scope"].split()) == {"openid", "profile"}
        for name in ("exp", "iat"):
            assert name in info, (name, info)
        # RFC 7662 §2.2: the RFC 6749 type; a refresh token has none.
        assert info.get("token_type") == ("Bearer" if token == tokens["access_token"] else None)
        assert info["exp"] > oidc.clock.now()
    r = await oidc.http.post("/introspect", data={"token": tokens["access_token"]},
                             auth=basic("confidential"))
    assert r.headers["cache-control"] == "no-store"


async def test_introspection_of_an_expired_access_token(oidc):
    _, tokens, _ = await sub_of(oidc)
    oidc.clock.advance(tokens["expires_in"] + 1)
    assert await introspect(oidc, tokens["access_token"]) == {"active": False}
    assert (await introspect(oidc, tokens["refresh_token"]))["active"] is True


async def test_revoking_a_refresh_token_revokes_the_grant(oidc):
    _, tokens, _ = await sub_of(oidc)
    r = await revoke(oidc, tokens["refresh_token"], token_type_hint="refresh_token")
    assert r.status_code == 200
    assert await introspect(oidc, tokens["access_token"]) == {"active": False}
    assert await introspect(oidc, tokens["refresh_token"]) == {"active": False}
    assert (await userinfo(oidc, tokens["access_token"])).status_code == 401
    assert_json_error(await refresh(oidc, tokens["refresh_token"]), 400, "invalid_grant")


async def test_revoking_an_access_token(oidc):
    _, tokens, _ = await sub_of(oidc)
    assert (await revoke(oidc, tokens["access_token"])).status_code == 200
    assert await introspect(oidc, tokens["access_token"]) == {"active": False}
    denied = await userinfo(oidc, tokens["access_token"])
    assert denied.status_code == 401 and 'error="invalid_token"' in denied.headers[
        "www-authenticate"]


async def test_revoking_another_clients_token_does_nothing(oidc):
    _, tokens, _ = await sub_of(oidc)
    r = await revoke(oidc, tokens["refresh_token"], "no-pkce")
    assert r.status_code in (200, 400), r.status_code
    assert (await introspect(oidc, tokens["refresh_token"]))["active"] is True
    assert (await userinfo(oidc, tokens["access_token"])).status_code == 200


async def test_revoke_unknown_token_is_200(oidc):
    r = await revoke(oidc, "never-issued")
    assert r.status_code == 200


# --------------------------------------------------------------------------- logout side effects


async def test_logout_ends_only_its_own_session(oidc):
    mine, _ = await oidc.tokens()
    async with other_browser(oidc) as other:
        theirs, _ = await other_tokens(other)
        r = await oidc.http.get("/logout", params={
            "id_token_hint": mine["id_token"], "post_logout_redirect_uri": LOGGED_OUT,
        })
        assert r.status_code == 303
        assert_json_error(await refresh(oidc, mine["refresh_token"]), 400, "invalid_grant")
        assert (await refresh(other, theirs["refresh_token"])).status_code == 200
        still = await prompt_none(other)
        assert "code" in query(location(still)), location(still)
