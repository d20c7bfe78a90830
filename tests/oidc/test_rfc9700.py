"""RFC 9700 (OAuth 2.0 Security BCP): one test per item of the reference's §6 that applies.

Items 10 (sender-constrained tokens, optional) and 16 (TLS termination, a deployment matter)
have no black-box test here; 16's configuration half is checked below.
"""

import base64
from urllib.parse import quote

import httpx
import pytest

from idp.config import ConfigError, parse_settings
from tests.oidc.harness import (
    ISSUER,
    LOGGED_OUT,
    PUBLIC_CB,
    RP_CB,
    SECRETS,
    assert_frame_protection,
    assert_html_page,
    assert_json_error,
    assert_redirect_error,
    basic,
    discovery,
    exchange,
    html_forms,
    introspect,
    location,
    pkce_pair,
    prompt_none,
    query,
    refresh,
    unverified,
    userinfo,
    verify_access_token,
    verify_id_token,
)

pytestmark = pytest.mark.anyio


# --------------------------------------------------------------------------- 1, 2 redirect URIs


NOT_EXACTLY_REGISTERED = {
    "query": RP_CB + "?x=1",
    "slash": RP_CB + "/",
    "fragment": RP_CB + "#frag",
    "path-case": "https://rp.example/CB",
    "host-case": "https://RP.EXAMPLE/cb",
    "http": "http://rp.example/cb",
    "port": "https://rp.example:443/cb",
    "dotdot": "https://rp.example/cb/../cb",
    "prefix": "https://rp.example/cbx",
    "suffix-host": "https://rp.example.attacker.example/cb",
    "other-host": "https://attacker.example/cb",
    "empty": "",
}


async def test_redirect_uri_exact_string_match(oidc, subtests):
    for case, redirect_uri in NOT_EXACTLY_REGISTERED.items():
        with subtests.test(case=case):
            for method in ("GET", "POST"):
                params, _ = oidc.auth_params(redirect_uri=redirect_uri)
                assert_html_page(await oidc.authorize(params, method), 400)


async def test_redirect_uri_missing_is_an_error_page(oidc):
    params, _ = oidc.auth_params(redirect_uri=None)
    assert_html_page(await oidc.authorize(params), 400)


async def test_redirect_uri_of_another_client_is_refused(oidc):
    params, _ = oidc.auth_params("confidential", redirect_uri=PUBLIC_CB)
    assert_html_page(await oidc.authorize(params), 400)


async def test_no_open_redirect_for_unknown_or_missing_client(oidc, subtests):
    for client_id in ("unknown-client", "", None):
        with subtests.test(client_id=client_id):
            params, _ = oidc.auth_params(client_id, redirect_uri="https://attacker.example/cb")
            if client_id is None:
                params.pop("client_id", None)
            assert_html_page(await oidc.authorize(params), 400)


async def test_no_open_redirect_even_when_the_request_has_other_errors(oidc, subtests):
    """The redirect URI is validated first; nothing is ever sent to an unregistered one."""
    for extra in ({"prompt": "none"}, {"response_type": "token"}, {"scope": "profile"},
                  {"request_uri": "https://x"}):
        with subtests.test(extra=extra):
            params, _ = oidc.auth_params(redirect_uri="https://attacker.example/cb", **extra)
            assert_html_page(await oidc.authorize(params), 400)
            params, _ = oidc.auth_params("no-such-client", **extra)
            assert_html_page(await oidc.authorize(params), 400)


# --------------------------------------------------------------------------- 3, 4 PKCE


async def test_pkce_required_for_every_client_that_did_not_opt_out(oidc, subtests):
    for client_id in ("confidential", "public", "jwt-client", "post-client"):
        with subtests.test(client_id=client_id):
            params, _ = oidc.auth_params(client_id, code_challenge=None,
                                         code_challenge_method=None)
            r = await oidc.authorize(params)
            assert_redirect_error(r, "invalid_request", state=params["state"],
                                  redirect_uri=params["redirect_uri"])


async def test_pkce_s256_only(oidc, subtests):
    for method in ("plain", "S512", "s256", ""):
        with subtests.test(method=method):
            params, _ = oidc.auth_params(code_challenge_method=method)
            if method == "plain":
                params["code_challenge"] = "a" * 43
            r = await oidc.authorize(params)
            assert_redirect_error(r, "invalid_request", state=params["state"])


async def test_pkce_plain_refused_even_for_the_opt_out_client(oidc):
    params, _ = oidc.auth_params("no-pkce", code_challenge="a" * 43, code_challenge_method="plain")
    assert_redirect_error(await oidc.authorize(params), "invalid_request", state=params["state"])


async def test_pkce_metadata_lists_s256_only(oidc):
    assert (await discovery(oidc))["code_challenge_methods_supported"] == ["S256"]


async def test_pkce_wrong_verifier_is_invalid_grant(oidc):
    code, _, params = await oidc.code()
    other, _ = pkce_pair()
    r = await exchange(oidc, code, other, params)
    assert_json_error(r, 400, "invalid_grant")


async def test_pkce_missing_verifier_is_invalid_grant(oidc):
    code, _, params = await oidc.code()
    r = await exchange(oidc, code, None, params)
    assert_json_error(r, 400, "invalid_grant")


async def test_pkce_public_client_flow_with_verifier(oidc):
    tokens, params = await oidc.tokens("public")
    await verify_id_token(oidc, tokens["id_token"], "public", nonce=params["nonce"],
                          access_token=tokens["access_token"])


async def test_pkce_opt_out_client_may_omit_pkce(oidc):
    code, _, params = await oidc.code(
        "no-pkce", params={"code_challenge": None, "code_challenge_method": None}
    )
    r = await exchange(oidc, code, None, params)
    assert r.status_code == 200, r.text


async def test_pkce_downgrade_verifier_without_challenge_is_refused(oidc):
    """RFC 9700 §4.8: a code_verifier when the authorization request had no code_challenge."""
    code, _, params = await oidc.code(
        "no-pkce", params={"code_challenge": None, "code_challenge_method": None}
    )
    verifier, _ = pkce_pair()
    r = await exchange(oidc, code, verifier, params)
    assert_json_error(r, 400, "invalid_grant")


# --------------------------------------------------------------------------- 5 no implicit


async def test_no_implicit_or_hybrid_response_types(oidc, subtests):
    for response_type in ("token", "id_token", "code id_token", "code token", "id_token token",
                          "code id_token token", "none"):
        with subtests.test(response_type=response_type):
            params, _ = oidc.auth_params(response_type=response_type)
            r = await oidc.authorize(params)
            assert_redirect_error(r, "unsupported_response_type", state=params["state"])
            assert "#" not in location(r)


async def test_no_implicit_in_metadata(oidc):
    doc = await discovery(oidc)
    assert doc["response_types_supported"] == ["code"]
    assert "implicit" not in doc.get("grant_types_supported", [])
    assert set(doc.get("response_modes_supported", ["query"])) <= {"query", "form_post"}


# --------------------------------------------------------------------------- 6 state and nonce


async def test_state_and_nonce_round_trip_unchanged(oidc):
    state = "s t&a=t/e?é+%20~"
    nonce = "n o&n=c/e?é+%20~"
    code, verifier, params = await oidc.code(params={"state": state, "nonce": nonce})
    r = await exchange(oidc, code, verifier, params)
    claims = await verify_id_token(oidc, r.json()["id_token"], nonce=nonce,
                                   access_token=r.json()["access_token"])
    assert claims["nonce"] == nonce


async def test_state_round_trips_in_silent_authentication(oidc):
    await oidc.tokens()
    r = await prompt_none(oidc, state="silent state ✓")
    assert query(location(r))["state"] == "silent state ✓"


# --------------------------------------------------------------------------- 7 mix-up: iss


async def test_iss_in_success_and_error_authorization_responses(oidc):
    assert (await discovery(oidc))["authorization_response_iss_parameter_supported"] is True
    await oidc.code()
    ok = await prompt_none(oidc)
    assert query(location(ok))["iss"] == ISSUER
    bad, _ = oidc.auth_params(scope="profile")
    assert_redirect_error(await oidc.authorize(bad), "invalid_scope", state=bad["state"])


@pytest.mark.parametrize(
    ("action", "error"), [("cancel", "access_denied"), ("fail", "temporarily_unavailable")]
)
async def test_iss_and_state_on_authenticator_failures(oidc, action, error):
    params, _ = oidc.auth_params()
    first = await oidc.authorize(params)
    final = await oidc.finish_login(location(first), action=action)
    assert_redirect_error(final, error, state=params["state"])


# --------------------------------------------------------------------------- 8 authorization codes


async def test_code_single_use_and_replay_revokes_tokens(oidc):
    code, verifier, params = await oidc.code()
    first = await exchange(oidc, code, verifier, params)
    tokens = first.json()
    replay = await exchange(oidc, code, verifier, params)
    assert_json_error(replay, 400, "invalid_grant")
    assert await introspect(oidc, tokens["access_token"]) == {"active": False}
    assert await introspect(oidc, tokens["refresh_token"]) == {"active": False}
    denied = await userinfo(oidc, tokens["access_token"])
    assert denied.status_code == 401
    assert 'error="invalid_token"' in denied.headers["www-authenticate"]
    assert_json_error(await refresh(oidc, tokens["refresh_token"]), 400, "invalid_grant")


async def test_code_lives_60_seconds(oidc):
    code, verifier, params = await oidc.code()
    oidc.clock.advance(61)
    assert_json_error(await exchange(oidc, code, verifier, params), 400, "invalid_grant")
    code, verifier, params = await oidc.code()
    oidc.clock.advance(55)
    assert (await exchange(oidc, code, verifier, params)).status_code == 200


async def test_code_bound_to_client(oidc):
    code, verifier, params = await oidc.code("confidential")
    stolen = await exchange(oidc, code, verifier, params, client_id="no-pkce")
    assert_json_error(stolen, 400, "invalid_grant")
    stolen = await exchange(oidc, code, verifier, {**params, "redirect_uri": PUBLIC_CB},
                            client_id="public")
    assert_json_error(stolen, 400, "invalid_grant")


async def test_code_bound_to_redirect_uri(oidc, subtests):
    for redirect_uri in (RP_CB + "/", "https://rp.example/other", None):
        with subtests.test(redirect_uri=redirect_uri):
            code, verifier, params = await oidc.code()
            r = await exchange(oidc, code, verifier, {**params, "redirect_uri": redirect_uri})
            body = assert_json_error(r, 400)
            allowed = ("invalid_grant",) if redirect_uri else ("invalid_grant", "invalid_request")
            assert body["error"] in allowed, body


# --------------------------------------------------------------------------- 9 refresh tokens


@pytest.mark.parametrize("client_id", ["confidential", "public"])
async def test_refresh_rotation_and_reuse_revokes_the_family(oidc, client_id):
    tokens, _ = await oidc.tokens(client_id)
    rt0 = tokens["refresh_token"]
    r1 = await refresh(oidc, rt0, client_id)
    assert r1.status_code == 200, r1.text
    rt1 = r1.json()["refresh_token"]
    r2 = await refresh(oidc, rt1, client_id)
    assert r2.status_code == 200, r2.text
    rt2, at2 = r2.json()["refresh_token"], r2.json()["access_token"]
    assert len({rt0, rt1, rt2}) == 3
    assert (await userinfo(oidc, at2)).status_code == 200
    # An old refresh token comes back: refused, and the whole family dies.
    assert_json_error(await refresh(oidc, rt0, client_id), 400, "invalid_grant")
    assert_json_error(await refresh(oidc, rt2, client_id), 400, "invalid_grant")
    assert (await userinfo(oidc, at2)).status_code == 401
    if client_id != "public":
        assert await introspect(oidc, at2, client_id) == {"active": False}
        assert await introspect(oidc, rt2, client_id) == {"active": False}


# --------------------------------------------------------------------------- 11 least privilege


async def test_scope_capped_at_client_registration(oidc):
    tokens, params = await oidc.tokens("narrow", params={"scope": "openid profile ssn"})
    assert tokens["scope"].split() == ["openid"]
    assert "refresh_token" not in tokens
    claims = await verify_id_token(oidc, tokens["id_token"], "narrow", nonce=params["nonce"],
                                   access_token=tokens["access_token"])
    assert not {"name", "ssn", "birthdate"} & set(claims)
    at = await verify_access_token(oidc, tokens["access_token"])
    assert at["scope"].split() == ["openid"] and at["client_id"] == "narrow"
    info = (await userinfo(oidc, tokens["access_token"])).json()
    assert not {"name", "ssn", "birthdate"} & set(info)


async def test_unknown_scopes_are_dropped_not_granted(oidc):
    tokens, _ = await oidc.tokens(params={"scope": "openid profile admin offline_access"})
    assert set(tokens["scope"].split()) == {"openid", "profile"}


async def test_refresh_may_narrow_scope_never_widen(oidc):
    tokens, _ = await oidc.tokens(params={"scope": "openid profile"})
    wider = await refresh(oidc, tokens["refresh_token"], scope="openid profile ssn")
    assert_json_error(wider, 400, "invalid_scope")
    narrower = await refresh(oidc, tokens["refresh_token"], scope="openid")
    assert narrower.status_code == 200, narrower.text
    body = narrower.json()
    assert body["scope"].split() == ["openid"]
    at = await verify_access_token(oidc, body["access_token"])
    assert at["scope"].split() == ["openid"]
    info = (await userinfo(oidc, body["access_token"])).json()
    assert "name" not in info


async def test_access_token_is_audience_restricted_and_client_bound(oidc):
    tokens, _ = await oidc.tokens()
    at = await verify_access_token(oidc, tokens["access_token"])
    assert at["aud"] and at["client_id"] == "confidential"
    # Another client learns nothing about it (RFC 7662 §4: active false for other clients).
    assert await introspect(oidc, tokens["access_token"], "no-pkce") == {"active": False}
    r = await oidc.http.post(
        "/introspect", data={"token": tokens["access_token"], "client_id": "post-client",
                             "client_secret": SECRETS["post-client"]},
    )
    assert r.status_code == 200 and r.json() == {"active": False}


# --------------------------------------------------------------------------- 12 no ROPC


async def test_no_resource_owner_password_grant(oidc):
    doc = await discovery(oidc)
    assert "password" not in doc["grant_types_supported"]
    r = await oidc.token({"grant_type": "password", "username": "anna", "password": "x",
                          "scope": "openid"}, auth=basic("confidential"))
    assert_json_error(r, 400, "unsupported_grant_type")


async def test_grant_not_registered_for_client_is_unauthorized_client(oidc):
    r = await oidc.token({"grant_type": "client_credentials"}, auth=basic("confidential"))
    assert_json_error(r, 400, "unauthorized_client")
    r = await oidc.token({"grant_type": "refresh_token", "refresh_token": "x"},
                         auth=basic("narrow"))
    assert_json_error(r, 400, "unauthorized_client")


# --------------------------------------------------------------------------- 13 client auth


NEAR_MISS_SECRETS = {
    "prefix": SECRETS["confidential"][:-1],
    "extended": SECRETS["confidential"] + "x",
    "case": SECRETS["confidential"].upper(),
    "space": SECRETS["confidential"] + " ",
    "empty": "",
    "other-clients-secret": SECRETS["post-client"],
}


async def test_client_secret_compared_exactly(oidc, subtests):
    code, verifier, params = await oidc.code()
    for case, secret in NEAR_MISS_SECRETS.items():
        with subtests.test(case=case):
            r = await exchange(oidc, code, verifier, params, auth=basic("confidential", secret))
            assert_json_error(r, 401, "invalid_client")
            assert r.headers["www-authenticate"].lower().startswith("basic")


async def test_token_endpoint_requires_client_authentication(oidc):
    code, verifier, _params = await oidc.code()
    r = await oidc.token({"grant_type": "authorization_code", "code": code,
                          "redirect_uri": RP_CB, "code_verifier": verifier,
                          "client_id": "confidential"})
    assert_json_error(r, 401, "invalid_client")


async def test_client_must_use_its_registered_auth_method(oidc):
    code, verifier, _params = await oidc.code()
    r = await oidc.token({"grant_type": "authorization_code", "code": code,
                          "redirect_uri": RP_CB, "code_verifier": verifier,
                          "client_id": "confidential",
                          "client_secret": SECRETS["confidential"]})
    assert_json_error(r, 401, "invalid_client")


async def test_client_secret_basic_credentials_are_form_decoded(oidc):
    """RFC 6749 §2.3.1 / Appendix B: id and secret are form-urlencoded before base64."""
    code, verifier, _params = await oidc.code()
    enc_id = "".join(f"%{b:02X}" for b in b"confidential")
    enc_secret = quote(SECRETS["confidential"], safe="").replace("-", "%2D")
    header = base64.b64encode(f"{enc_id}:{enc_secret}".encode()).decode()
    r = await oidc.token(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": RP_CB,
         "code_verifier": verifier},
        headers={"Authorization": f"Basic {header}"},
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", ["/introspect", "/revoke"])
async def test_introspection_and_revocation_require_client_authentication(oidc, path):
    tokens, _ = await oidc.tokens()
    for auth in (None, basic("confidential", "wrong-secret-0123456789")):
        r = await oidc.http.post(path, data={"token": tokens["access_token"]}, auth=auth)
        assert_json_error(r, 401, "invalid_client")
    assert (await userinfo(oidc, tokens["access_token"])).status_code == 200


# --------------------------------------------------------------------------- 14 metadata


async def test_metadata_endpoints_exist_and_share_the_issuer(oidc):
    doc = await discovery(oidc)
    assert doc["issuer"] == ISSUER
    for key, url in doc.items():
        if key.endswith(("_endpoint", "_uri")) and isinstance(url, str):
            assert url.startswith(ISSUER + "/"), (key, url)
            r = await oidc.http.get(url[len(ISSUER):])
            assert r.status_code not in (404, 500), (key, r.status_code)


# --------------------------------------------------------------------------- 15 303 after POST


async def test_303_never_307_after_posts_carrying_user_input(oidc):
    params, _ = oidc.auth_params()
    first = await oidc.authorize(params, method="POST")
    assert first.status_code == 303
    txn = query(location(first))["txn"]
    login = await oidc.http.post("/fake/login", data={"txn": txn, "action": "approve",
                                                      "subject": "person-1"})
    assert login.status_code == 303
    resume = await oidc.http.get(location(login))
    assert resume.status_code == 303
    # With an SSO session, POST /authorize answers the client with a 303 too.
    again, _ = oidc.auth_params()
    direct = await oidc.authorize(again, method="POST")
    assert direct.status_code == 303 and location(direct).startswith(RP_CB + "?")
    # The logout confirmation form.
    page = await oidc.http.get("/logout")
    form = next(f for f in html_forms(page.text) if f["method"].lower() == "post")
    fields = dict(form["fields"])
    if form["buttons"]:
        fields.setdefault(*form["buttons"][0])
    done = await oidc.http.post(form["action"] or "/logout", data=fields)
    assert done.status_code in (200, 303), done.status_code
    # And a logout POST that redirects to the client.
    tokens, _ = await oidc.tokens()
    bye = await oidc.http.post("/logout", data={"id_token_hint": tokens["id_token"],
                                                "post_logout_redirect_uri": LOGGED_OUT})
    assert bye.status_code == 303


# --------------------------------------------------------------------------- 16 TLS (config)


@pytest.mark.parametrize(
    ("where", "value"),
    [("redirect_uris", ["http://rp.example/cb"]),
     ("post_logout_redirect_uris", ["http://rp.example/out"])],
)
def test_http_redirect_uris_only_for_loopback(sqlite_url, where, value):
    entry = {"client_id": "c", "client_secret": "s" * 20, "redirect_uris": [RP_CB], where: value}
    with pytest.raises(ConfigError):
        parse_settings({"issuer": ISSUER, "database_url": sqlite_url, "clients": [entry]},
                       source="test", environ={})


# --------------------------------------------------------------------------- 17 clickjacking


async def test_frame_protection_on_every_html_page(oidc):
    # First, in a fresh browser: every cookie the provider sets is HttpOnly and Secure.
    params, _ = oidc.auth_params()
    first = await oidc.authorize(params)
    login = await oidc.http.post("/fake/login", data={"txn": query(location(first))["txn"]})
    final = await oidc.http.get(location(login))
    assert final.status_code == 303 and "code" in query(location(final))
    set_cookies = [c for r in (first, login, final) for c in r.headers.get_list("set-cookie")]
    assert first.headers.get_list("set-cookie"), "the login is bound to the browser by a cookie"
    for cookie in set_cookies:
        assert "httponly" in cookie.lower() and "secure" in cookie.lower(), cookie
    pages = []
    bad, _ = oidc.auth_params(redirect_uri="https://attacker.example/")
    pages.append(await oidc.authorize(bad))
    pages.append(await oidc.http.get("/logout"))
    pages.append(await oidc.http.get("/logout", params={"id_token_hint": "garbage"}))
    pages.append(await oidc.http.get("/authorize/resume", params={"txn": "nope"}))
    for page in pages:
        assert page.headers["content-type"].startswith("text/html"), page.status_code
        assert_frame_protection(page)


# --------------------------------------------------------------------------- 18 no token in query


async def test_access_token_never_accepted_in_the_query(oidc):
    tokens, _ = await oidc.tokens()
    at = tokens["access_token"]
    r = await oidc.http.get("/userinfo", params={"access_token": at})
    assert_json_error(r, 400, "invalid_request")
    r = await oidc.http.post("/userinfo", params={"access_token": at})
    assert_json_error(r, 400, "invalid_request")
    r = await oidc.http.post("/userinfo", data={"access_token": at})
    assert_json_error(r, 400, "invalid_request")


# --------------------------------------------------------------------------- 19 sub collisions


async def test_client_credentials_subject_never_collides_with_a_user(oidc):
    users = set()
    for client_id in ("confidential", "pairwise-a"):
        tokens, _ = await oidc.tokens(client_id)
        users.add(unverified(tokens["id_token"])[1]["sub"])
    r = await oidc.token({"grant_type": "client_credentials"}, auth=basic("cc"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert "id_token" not in body and "refresh_token" not in body
    assert body["token_type"] == "Bearer"
    at = await verify_access_token(oidc, body["access_token"])
    assert at["client_id"] == "cc"
    assert at["sub"] not in users
    # A token that stands for no person gets no person's claims.
    info = await userinfo(oidc, body["access_token"])
    assert info.status_code in (401, 403), info.text


async def test_client_id_cannot_pose_as_a_subject(oidc):
    """A client cannot pick an identifier that becomes a user's sub (sub is a server pseudonym)."""
    tokens, _ = await oidc.tokens()
    sub = unverified(tokens["id_token"])[1]["sub"]
    assert sub not in ("confidential", "person-1") and "person-1" not in sub
    other = httpx.BasicAuth(sub, "whatever-secret-0123456")
    r = await oidc.token({"grant_type": "client_credentials"}, auth=other)
    assert_json_error(r, 401, "invalid_client")
