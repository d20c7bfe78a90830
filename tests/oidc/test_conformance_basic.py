"""The OpenID conformance suite's Basic OP and RP-initiated logout modules, one test each.

The suite itself cannot run here (Java, Maven, MongoDB, a public OP); each test below has the
intent of the module it is named after (see ../shared/reference/oidc-ciba.md §4.4), adapted to
a code-flow provider with client_secret_basic and the default response mode. ID tokens are
validated fully against /jwks: signature, kid, iss, aud, exp, nonce, at_hash.
"""

import json
import secrets

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.oidc.fake_authn import ACR_BASIC, ACR_STRONG
from tests.oidc.harness import (
    ANY,
    ISSUER,
    LOGGED_OUT,
    PERSON,
    RP_CB,
    SECRETS,
    assert_html_page,
    assert_redirect_error,
    b64url,
    discovery,
    exchange,
    html_forms,
    introspect,
    jwks,
    location,
    prompt_none,
    query,
    refresh,
    unverified,
    userinfo,
    verify_access_token,
    verify_id_token,
)

pytestmark = pytest.mark.anyio

ACR_PHONE = "urn:grn:authn:se:bankid:phone"  # CIBA's logins (BankID phone), also listed

PROFILE = ("name", "given_name", "family_name", "birthdate")


async def flow(oidc, client_id="confidential", **params):
    """A whole code flow; returns (token response JSON, authorization params, ID token claims)."""
    tokens, sent = await oidc.tokens(client_id, params=params)
    claims = await verify_id_token(
        oidc, tokens["id_token"], client_id, nonce=sent.get("nonce"),
        access_token=tokens["access_token"],
    )
    return tokens, sent, claims


async def fake_page(oidc, login_location):
    r = await oidc.http.get(login_location)
    assert r.status_code == 200, r.text
    return r.json()


# --------------------------------------------------------------------------- Basic OP plan


async def test_oidcc_server(oidc):
    params, verifier = oidc.auth_params()
    first = await oidc.authorize(params)
    assert first.status_code == 303 and location(first).startswith("/fake/login?txn=")
    final = await oidc.finish_login(location(first))
    assert final.status_code == 303
    assert location(final).startswith(RP_CB + "?")
    q = query(location(final))
    assert q["state"] == params["state"] and q["iss"] == ISSUER and q["code"]

    r = await exchange(oidc, q["code"], verifier, params)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["pragma"] == "no-cache"
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert set(body["scope"].split()) == {"openid", "profile"}
    assert body["refresh_token"]
    claims = await verify_id_token(
        oidc, body["id_token"], nonce=params["nonce"], access_token=body["access_token"]
    )
    assert claims["aud"] in ("confidential", ["confidential"])
    assert claims["acr"] == ACR_BASIC and claims["amr"] == ["fake"]
    assert claims["auth_time"] == int(oidc.clock.now())


async def test_oidcc_response_type_missing(oidc):
    params, _ = oidc.auth_params(response_type=None)
    r = await oidc.authorize(params)
    assert_redirect_error(r, "invalid_request", state=params["state"])


async def test_oidcc_idtoken_signature(oidc):
    tokens, _, _ = await flow(oidc)
    header, claims = unverified(tokens["id_token"])
    assert header["alg"] == "RS256"
    published = {k["kid"]: k for k in (await jwks(oidc))["keys"]}
    assert header["kid"] in published and published[header["kid"]]["kty"] == "RSA"
    # A single changed claim breaks the signature.
    head, _payload, sig = tokens["id_token"].split(".")
    forged = b64url(json.dumps({**claims, "sub": "someone-else"}).encode())
    key = jwt.PyJWK(published[header["kid"]], algorithm="RS256").key
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(f"{head}.{forged}.{sig}", key, algorithms=["RS256"],
                   options={"verify_aud": False, "verify_exp": False, "verify_iat": False})
    # The client registered for ES256 gets ES256, with a published EC key.
    es, _, _ = await flow(oidc, "es256")
    es_header = jwt.get_unverified_header(es["id_token"])
    assert es_header["alg"] == "ES256" and published[es_header["kid"]]["kty"] == "EC"


async def test_oidcc_userinfo_get(oidc):
    tokens, _, claims = await flow(oidc)
    r = await userinfo(oidc, tokens["access_token"], "GET")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    info = r.json()
    assert info["sub"] == claims["sub"]
    assert info["name"] == PERSON["claim_name"]


async def test_oidcc_userinfo_post_header(oidc):
    tokens, _, claims = await flow(oidc)
    r = await userinfo(oidc, tokens["access_token"], "POST")
    assert r.status_code == 200, r.text
    assert r.json()["sub"] == claims["sub"]


async def test_oidcc_userinfo_post_body(oidc):
    """Optional in the suite; our contract refuses a token in the body (RFC 9700 §4.3.2)."""
    tokens, _, _ = await flow(oidc)
    r = await oidc.http.post("/userinfo", data={"access_token": tokens["access_token"]})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"


async def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(oidc):
    _tokens, sent, claims = await flow(oidc, nonce=None)
    assert "nonce" not in sent and "nonce" not in claims


async def test_oidcc_scope_profile(oidc):
    tokens, _, claims = await flow(oidc, scope="openid profile")
    assert set(tokens["scope"].split()) == {"openid", "profile"}
    info = (await userinfo(oidc, tokens["access_token"])).json()
    for name in PROFILE:
        assert claims[name] == PERSON[f"claim_{name}"], name
        assert info[name] == PERSON[f"claim_{name}"], name
    assert "ssn" not in claims and "ssn" not in info


@pytest.mark.parametrize(
    ("scope", "claims_absent"),
    [
        ("openid email", ("email", "email_verified")),
        ("openid address", ("address",)),
        ("openid phone", ("phone_number", "phone_number_verified")),
    ],
    ids=["email", "address", "phone"],
)
async def test_oidcc_scope_email_address_phone_are_not_granted(oidc, scope, claims_absent):
    """oidcc-scope-email/-address/-phone: unsupported scopes are not granted (the suite skips)."""
    doc = await discovery(oidc)
    unsupported = scope.split()[1]
    assert unsupported not in doc["scopes_supported"]
    tokens, _, claims = await flow(oidc, scope=scope)
    assert tokens["scope"].split() == ["openid"]
    info = (await userinfo(oidc, tokens["access_token"])).json()
    for name in claims_absent:
        assert name not in claims and name not in info


async def test_oidcc_scope_all(oidc):
    tokens, _, claims = await flow(oidc, scope="openid profile email address phone")
    assert set(tokens["scope"].split()) == {"openid", "profile"}
    assert claims["name"] == PERSON["claim_name"]


async def test_oidcc_alternate_happy_flow(oidc):
    """Parameter order and scope order must not matter."""
    params, verifier = oidc.auth_params(scope="profile openid")
    reordered = dict(reversed(list(params.items())))
    final = await oidc.login(reordered)
    q = query(location(final))
    assert q["state"] == params["state"] and q["iss"] == ISSUER
    r = await exchange(oidc, q["code"], verifier, params)
    assert r.status_code == 200, r.text
    assert set(r.json()["scope"].split()) == {"openid", "profile"}
    await verify_id_token(oidc, r.json()["id_token"], nonce=params["nonce"],
                          access_token=r.json()["access_token"])


async def test_oidcc_display_page(oidc):
    await flow(oidc, display="page")


async def test_oidcc_display_popup(oidc):
    await flow(oidc, display="popup")


async def test_oidcc_prompt_login(oidc):
    _, _, first = await flow(oidc)
    oidc.clock.advance(30)
    params, verifier = oidc.auth_params(prompt="login")
    r = await oidc.authorize(params)
    assert r.status_code == 303 and location(r).startswith("/fake/login?"), location(r)
    assert (await fake_page(oidc, location(r)))["prompt"] == ["login"]
    final = await oidc.finish_login(location(r))
    q = query(location(final))
    t = await exchange(oidc, q["code"], verifier, params)
    second = await verify_id_token(oidc, t.json()["id_token"], nonce=params["nonce"],
                                   access_token=t.json()["access_token"])
    assert second["auth_time"] == first["auth_time"] + 30
    assert second["sub"] == first["sub"]


async def test_oidcc_prompt_none_not_logged_in(oidc):
    r = await prompt_none(oidc, state="s-1")
    assert_redirect_error(r, "login_required", state="s-1")


async def test_oidcc_prompt_none_logged_in(oidc):
    _, _, first = await flow(oidc)
    oidc.clock.advance(10)
    params, verifier = oidc.auth_params(prompt="none")
    r = await oidc.authorize(params)
    assert r.status_code == 303 and location(r).startswith(RP_CB + "?"), location(r)
    q = query(location(r))
    assert q["state"] == params["state"] and q["iss"] == ISSUER
    t = await exchange(oidc, q["code"], verifier, params)
    assert t.status_code == 200, t.text
    second = await verify_id_token(oidc, t.json()["id_token"], nonce=params["nonce"],
                                   access_token=t.json()["access_token"])
    assert second["auth_time"] == first["auth_time"]
    assert second["sid"] == first["sid"]
    assert second["sub"] == first["sub"]


async def test_oidcc_max_age_1(oidc):
    _, _, first = await flow(oidc)
    oidc.clock.advance(2)
    params, verifier = oidc.auth_params(max_age="1")
    r = await oidc.authorize(params)
    assert r.status_code == 303 and location(r).startswith("/fake/login?"), location(r)
    assert (await fake_page(oidc, location(r)))["max_age"] == 1
    final = await oidc.finish_login(location(r))
    t = await exchange(oidc, query(location(final))["code"], verifier, params)
    second = await verify_id_token(oidc, t.json()["id_token"], nonce=params["nonce"],
                                   access_token=t.json()["access_token"])
    assert second["auth_time"] == first["auth_time"] + 2


async def test_oidcc_max_age_10000(oidc):
    _, _, first = await flow(oidc)
    oidc.clock.advance(2)
    params, verifier = oidc.auth_params(max_age="10000")
    r = await oidc.authorize(params)
    assert r.status_code == 303 and location(r).startswith(RP_CB + "?"), location(r)
    t = await exchange(oidc, query(location(r))["code"], verifier, params)
    second = await verify_id_token(oidc, t.json()["id_token"], nonce=params["nonce"],
                                   access_token=t.json()["access_token"])
    assert second["auth_time"] == first["auth_time"]


async def test_oidcc_ensure_request_with_unknown_parameter_succeeds(oidc):
    await flow(oidc, extra="foobar", **{"x-unknown": "1"})


async def test_oidcc_id_token_hint(oidc):
    tokens, _, first = await flow(oidc)
    oidc.clock.advance(5)
    params, verifier = oidc.auth_params(prompt="none", id_token_hint=tokens["id_token"])
    r = await oidc.authorize(params)
    assert r.status_code == 303 and location(r).startswith(RP_CB + "?"), location(r)
    t = await exchange(oidc, query(location(r))["code"], verifier, params)
    second = await verify_id_token(oidc, t.json()["id_token"], nonce=params["nonce"],
                                   access_token=t.json()["access_token"])
    assert second["sub"] == first["sub"]


async def test_oidcc_login_hint(oidc):
    params, _ = oidc.auth_params(login_hint="anna@example.com")
    r = await oidc.authorize(params)
    assert (await fake_page(oidc, location(r)))["login_hint"] == "anna@example.com"
    final = await oidc.finish_login(location(r))
    assert "code" in query(location(final))


async def test_oidcc_ui_locales(oidc):
    params, _ = oidc.auth_params(ui_locales="en sv")
    r = await oidc.authorize(params)
    assert (await fake_page(oidc, location(r)))["ui_locales"] == ["en", "sv"]
    final = await oidc.finish_login(location(r))
    assert "code" in query(location(final))


async def test_oidcc_claims_locales(oidc):
    await flow(oidc, claims_locales="sv")


async def test_oidcc_ensure_request_with_acr_values_succeeds(oidc):
    doc = await discovery(oidc)
    assert set(doc["acr_values_supported"]) == {ACR_BASIC, ACR_STRONG, ACR_PHONE}
    params, verifier = oidc.auth_params(acr_values=f"{ACR_STRONG} {ACR_BASIC}")
    r = await oidc.authorize(params)
    assert (await fake_page(oidc, location(r)))["acr_values"] == [ACR_STRONG, ACR_BASIC]
    final = await oidc.finish_login(location(r), acr=ACR_STRONG)
    t = await exchange(oidc, query(location(final))["code"], verifier, params)
    claims = await verify_id_token(oidc, t.json()["id_token"], nonce=params["nonce"],
                                   access_token=t.json()["access_token"])
    assert claims["acr"] == ACR_STRONG


async def test_oidcc_codereuse(oidc):
    code, verifier, params = await oidc.code()
    assert (await exchange(oidc, code, verifier, params)).status_code == 200
    again = await exchange(oidc, code, verifier, params)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


async def test_oidcc_codereuse_30seconds(oidc):
    code, verifier, params = await oidc.code()
    first = await exchange(oidc, code, verifier, params)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert (await userinfo(oidc, tokens["access_token"])).status_code == 200
    oidc.clock.advance(30)
    again = await exchange(oidc, code, verifier, params)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # RFC 6749 §4.1.2: the tokens issued from the first use are revoked.
    assert (await introspect(oidc, tokens["access_token"])) == {"active": False}
    assert (await introspect(oidc, tokens["refresh_token"])) == {"active": False}
    denied = await userinfo(oidc, tokens["access_token"])
    assert denied.status_code == 401
    assert 'error="invalid_token"' in denied.headers["www-authenticate"]
    r = await refresh(oidc, tokens["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_oidcc_ensure_registered_redirect_uri(oidc):
    params, _ = oidc.auth_params(redirect_uri="https://rp.example/not-registered")
    assert_html_page(await oidc.authorize(params), 400)


async def test_oidcc_ensure_post_request_succeeds(oidc):
    params, verifier = oidc.auth_params()
    first = await oidc.authorize(params, method="POST")
    assert first.status_code == 303, first.text
    final = await oidc.finish_login(location(first))
    q = query(location(final))
    assert q["state"] == params["state"]
    r = await exchange(oidc, q["code"], verifier, params)
    assert r.status_code == 200, r.text


async def test_oidcc_server_client_secret_post(oidc):
    code, verifier, params = await oidc.code("post-client")
    r = await oidc.token({
        "grant_type": "authorization_code", "code": code, "redirect_uri": params["redirect_uri"],
        "code_verifier": verifier, "client_id": "post-client",
        "client_secret": SECRETS["post-client"],
    })
    assert r.status_code == 200, r.text
    await verify_id_token(oidc, r.json()["id_token"], "post-client", nonce=params["nonce"],
                          access_token=r.json()["access_token"])


async def test_oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(oidc):
    assert (await discovery(oidc))["request_uri_parameter_supported"] is False
    params, _ = oidc.auth_params(request_uri="https://rp.example/request.jwt")
    r = await oidc.authorize(params)
    assert_redirect_error(r, "request_uri_not_supported", state=params["state"])


def unsigned_request_object(**claims):
    head = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{head}.{b64url(json.dumps(claims).encode())}."


async def test_oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(oidc):
    """Request objects are supported, signed ones only (RFC 9101 §10.5; alg none is never
    accepted): an unsigned one is refused as invalid_request_object."""
    assert (await discovery(oidc))["request_parameter_supported"] is True
    params, _ = oidc.auth_params()
    params["request"] = unsigned_request_object(**params)
    r = await oidc.authorize(params)
    assert_redirect_error(r, "invalid_request_object", state=params["state"])


async def test_oidcc_ensure_request_object_with_redirect_uri(oidc):
    """A request object naming another redirect_uri: rejected, and never sent there."""
    params, _ = oidc.auth_params()
    params["request"] = unsigned_request_object(
        **{**params, "redirect_uri": "https://attacker.example/cb"}
    )
    r = await oidc.authorize(params)
    assert "attacker.example" not in location(r)
    assert_redirect_error(r, "invalid_request_object", state=params["state"])


async def test_oidcc_claims_essential(oidc):
    claims_param = json.dumps({"userinfo": {"name": {"essential": True}}})
    tokens, _, _ = await flow(oidc, scope="openid", claims=claims_param)
    assert tokens["scope"].split() == ["openid"]
    info = (await userinfo(oidc, tokens["access_token"])).json()
    assert info["name"] == PERSON["claim_name"]


async def test_oidcc_refresh_token(oidc):
    tokens, _, first = await flow(oidc)
    oidc.clock.advance(60)
    r = await refresh(oidc, tokens["refresh_token"])
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    new = r.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["access_token"] != tokens["access_token"]
    claims = await verify_id_token(oidc, new["id_token"], access_token=new["access_token"],
                                   nonce=ANY)
    assert claims["sub"] == first["sub"] and claims["auth_time"] == first["auth_time"]
    assert (await userinfo(oidc, new["access_token"])).status_code == 200
    # Bound to the client: another, authenticated client cannot use it (RFC 6749 §6).
    stolen = await oidc.token({
        "grant_type": "refresh_token", "refresh_token": new["refresh_token"],
        "client_id": "post-client", "client_secret": SECRETS["post-client"],
    })
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"


async def test_oidcc_ensure_request_with_valid_pkce_succeeds(oidc):
    tokens, sent, _ = await flow(oidc)
    assert sent["code_challenge_method"] == "S256"
    assert (await verify_access_token(oidc, tokens["access_token"]))["client_id"] == "confidential"


async def test_oidcc_discovery_endpoint_verification(oidc):
    r = await oidc.http.get("/.well-known/openid-configuration")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["issuer"] == ISSUER
    endpoints = {
        "authorization_endpoint": "/authorize",
        "token_endpoint": "/token",
        "userinfo_endpoint": "/userinfo",
        "jwks_uri": "/jwks",
        "introspection_endpoint": "/introspect",
        "revocation_endpoint": "/revoke",
        "end_session_endpoint": "/logout",
    }
    for name, path in endpoints.items():
        assert doc[name] == ISSUER + path, name
    assert doc["response_types_supported"] == ["code"]
    assert {"authorization_code", "refresh_token"} <= set(doc["grant_types_supported"])
    assert not {"password", "implicit"} & set(doc["grant_types_supported"])
    assert sorted(doc["token_endpoint_auth_methods_supported"]) == sorted(
        ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
    )
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["claims_parameter_supported"] is True
    assert doc["request_parameter_supported"] is True
    assert doc["request_uri_parameter_supported"] is False  # only PAR's request_uri values
    assert "none" not in doc["request_object_signing_alg_values_supported"]
    assert set(doc["acr_values_supported"]) == {ACR_BASIC, ACR_STRONG, ACR_PHONE}
    assert {"openid", "profile", "ssn"} <= set(doc["scopes_supported"])
    assert {"sub", "name", "given_name", "family_name", "birthdate", "ssn"} <= set(
        doc["claims_supported"]
    )
    assert {"sv", "en"} <= set(doc["ui_locales_supported"])
    assert sorted(doc["id_token_signing_alg_values_supported"]) == ["ES256", "RS256"]
    assert "public" in doc["subject_types_supported"]
    assert {"none", "login"} <= set(doc["prompt_values_supported"])
    # Every key the ID token algorithms need is published.
    kty = {k["kty"] for k in (await jwks(oidc))["keys"]}
    assert {"RSA", "EC"} <= kty


# --------------------------------------------------------------------------- RP-initiated logout


async def logged_in(oidc, client_id="confidential"):
    tokens, _, claims = await flow(oidc, client_id)
    return tokens, claims


async def assert_logged_out(oidc):
    r = await prompt_none(oidc, state="after-logout")
    assert_redirect_error(r, "login_required", state="after-logout")


async def assert_still_logged_in(oidc):
    r = await prompt_none(oidc)
    assert r.status_code == 303 and "code" in query(location(r)), location(r)


async def confirm(oidc, page):
    """Submit the logout confirmation form the page contains; returns the final response."""
    forms = [f for f in html_forms(page.text) if f["method"].lower() == "post"]
    assert forms, page.text
    form = forms[0]
    fields = dict(form["fields"])
    if form["buttons"]:
        fields.setdefault(*form["buttons"][0])
    action = form["action"] or "/logout"
    r = await oidc.http.post(action, data=fields)
    assert r.status_code in (200, 303), (r.status_code, r.text[:300])
    if r.status_code == 303:
        assert not location(r).startswith("https://rp.example"), location(r)
        r = await oidc.http.get(location(r))
    return r


async def test_oidcc_rp_initiated_logout(oidc):
    tokens, _ = await logged_in(oidc)
    r = await oidc.http.get("/logout", params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": LOGGED_OUT,
        "state": "bye-1",
    })
    assert r.status_code == 303, r.text
    assert location(r) == f"{LOGGED_OUT}?state=bye-1"
    await assert_logged_out(oidc)
    assert (await introspect(oidc, tokens["refresh_token"])) == {"active": False}
    assert (await refresh(oidc, tokens["refresh_token"])).json()["error"] == "invalid_grant"


async def test_oidcc_rp_initiated_logout_bad_logout_redirect_uri(oidc):
    tokens, _ = await logged_in(oidc)
    r = await oidc.http.get("/logout", params={
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": "https://rp.example/not-registered", "state": "s",
    })
    assert_html_page(r, 400)
    await assert_still_logged_in(oidc)


async def test_oidcc_rp_initiated_logout_modified_id_token_hint(oidc):
    """The hint changed to alg none (unsigned): an error page, no redirect."""
    tokens, _claims = await logged_in(oidc)
    head = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    unsigned = f"{head}.{tokens['id_token'].split('.')[1]}."
    r = await oidc.http.get("/logout", params={
        "id_token_hint": unsigned, "post_logout_redirect_uri": LOGGED_OUT, "state": "s",
    })
    assert_html_page(r, 400)


async def test_oidcc_rp_initiated_logout_bad_id_token_hint(oidc):
    """A hint signed by somebody else (same kid, other key): an error page, no redirect."""
    tokens, claims = await logged_in(oidc)
    header = jwt.get_unverified_header(tokens["id_token"])
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fake = jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": header["kid"]})
    r = await oidc.http.get("/logout", params={
        "id_token_hint": fake, "post_logout_redirect_uri": LOGGED_OUT, "state": "s",
    })
    assert_html_page(r, 400)
    await assert_still_logged_in(oidc)


async def test_oidcc_rp_initiated_logout_no_id_token_hint(oidc):
    """post_logout_redirect_uri without a hint: never redirected; an error or a confirmation."""
    await logged_in(oidc)
    r = await oidc.http.get("/logout", params={
        "post_logout_redirect_uri": LOGGED_OUT, "state": "s",
    })
    assert r.status_code in (200, 400), r.status_code
    assert_html_page(r, r.status_code)
    if r.status_code == 200:
        assert html_forms(r.text)
    await assert_still_logged_in(oidc)


async def test_oidcc_rp_initiated_logout_no_params(oidc):
    await logged_in(oidc)
    page = await oidc.http.get("/logout")
    assert_html_page(page, 200)
    await assert_still_logged_in(oidc)  # showing the page logs nobody out
    done = await confirm(oidc, page)
    assert_html_page(done, 200)
    await assert_logged_out(oidc)


async def test_oidcc_rp_initiated_logout_no_post_logout_redirect_uri(oidc):
    """id_token_hint only: the session ends (perhaps after a confirmation); no redirect."""
    tokens, _ = await logged_in(oidc)
    r = await oidc.http.get("/logout", params={"id_token_hint": tokens["id_token"]})
    assert_html_page(r, 200)
    if [f for f in html_forms(r.text) if f["method"].lower() == "post"]:
        r = await confirm(oidc, r)
        assert_html_page(r, 200)
    await assert_logged_out(oidc)


async def test_oidcc_rp_initiated_logout_no_state(oidc):
    tokens, _ = await logged_in(oidc)
    r = await oidc.http.get("/logout", params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": LOGGED_OUT,
    })
    assert r.status_code == 303, r.text
    assert location(r) == LOGGED_OUT
    await assert_logged_out(oidc)


async def test_oidcc_rp_initiated_logout_only_state(oidc):
    await logged_in(oidc)
    r = await oidc.http.get("/logout", params={"state": "only"})
    assert_html_page(r, 200)
    assert html_forms(r.text)


async def test_oidcc_rp_initiated_logout_query_added_to_logout_redirect_uri(oidc):
    tokens, _ = await logged_in(oidc)
    r = await oidc.http.get("/logout", params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": LOGGED_OUT + "?foo=bar",
        "state": "s",
    })
    assert_html_page(r, 400)
    await assert_still_logged_in(oidc)


async def test_rp_initiated_logout_accepts_an_expired_id_token_hint(oidc):
    tokens, _ = await logged_in(oidc)
    oidc.clock.advance(700)  # past the ID token's lifetime, within the session's idle timeout
    r = await oidc.http.post("/logout", data={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": LOGGED_OUT,
        "state": secrets.token_urlsafe(8),
    })
    assert r.status_code == 303, r.text
    assert location(r).startswith(LOGGED_OUT + "?state=")
    await assert_logged_out(oidc)
