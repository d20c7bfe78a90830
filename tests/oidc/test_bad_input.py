"""Bad input on every endpoint gets the protocol's error shape and a 4xx, never a 5xx.

JSON `{"error": ...}` on /token, /introspect, /revoke and /userinfo (a 401 from /userinfo may
have an empty body but carries `WWW-Authenticate: Bearer`); an HTML page or an error redirect
on /authorize and /logout. A 500 would surface here as an exception from the in-process
transport, so "never 5xx" is also checked by every request simply returning.
"""

import base64
import json
import string
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.oidc.harness import (
    ISSUER,
    LOGGED_OUT,
    RP_CB,
    SECRETS,
    assert_html_page,
    assert_json_error,
    assert_redirect_error,
    basic,
    location,
    query,
    userinfo,
)

pytestmark = pytest.mark.anyio

BIG = "x" * 100_000  # in a form body; a URL carries at most httpx's 64 kB
LONG = "y" * 2049


def fits_url(params):
    """The same parameters with values cut to what fits in a URL (60 kB)."""
    if isinstance(params, dict):
        return {k: v[:60_000] if isinstance(v, str) else v for k, v in params.items()}
    return [(k, v[:60_000]) for k, v in params]


# --------------------------------------------------------------------------- /authorize


BAD_CLIENT_OR_REDIRECT = {
    "no-client": lambda p: p.pop("client_id"),
    "huge-client": lambda p: p.update(client_id=BIG),
    "nul-client": lambda p: p.update(client_id="conf\x00idential"),
    "no-redirect": lambda p: p.pop("redirect_uri"),
    "huge-redirect": lambda p: p.update(redirect_uri=BIG),
    "bad-redirect": lambda p: p.update(redirect_uri="not a url"),
    "js-redirect": lambda p: p.update(redirect_uri="javascript:alert(1)"),
}


async def test_authorize_bad_client_or_redirect_gets_an_html_page(oidc, subtests):
    for case, mutate in BAD_CLIENT_OR_REDIRECT.items():
        with subtests.test(case=case):
            params, _ = oidc.auth_params()
            mutate(params)
            assert_html_page(await oidc.authorize(fits_url(params)), 400)
            assert_html_page(await oidc.authorize(params, method="POST"), 400)


@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
async def test_authorize_repeated_client_or_redirect_gets_an_html_page(oidc, name):
    params, _ = oidc.auth_params()
    pairs = [*params.items(), (name, params[name])]
    r = await oidc.http.get("/authorize", params=pairs)
    assert_html_page(r, 400)


async def test_authorize_repeated_parameter_is_invalid_request(oidc, subtests):
    for name in ("response_type", "scope", "nonce", "code_challenge", "prompt", "max_age"):
        with subtests.test(name=name):
            params, _ = oidc.auth_params(prompt="login", max_age="10")
            pairs = [*params.items(), (name, params[name])]
            r = await oidc.http.get("/authorize", params=pairs)
            assert_redirect_error(r, "invalid_request", state=params["state"])
    # A repeated state: whether either copy is echoed is not pinned down; the error and iss are.
    params, _ = oidc.auth_params()
    r = await oidc.http.get("/authorize", params=[*params.items(), ("state", params["state"])])
    assert r.status_code == 303 and location(r).startswith(RP_CB + "?"), r.status_code
    q = query(location(r))
    assert q["error"] == "invalid_request" and q["iss"] == ISSUER and "code" not in q


async def test_authorize_oversized_parameter_is_invalid_request(oidc, subtests):
    for name in ("nonce", "login_hint", "code_challenge", "acr_values", "ui_locales", "claims"):
        for size, value in (("2049", LONG), ("100k", BIG)):
            with subtests.test(name=name, size=size):
                params, _ = oidc.auth_params(**{name: value})
                assert_redirect_error(await oidc.authorize(fits_url(params)), "invalid_request",
                                      state=params["state"])
                assert_redirect_error(await oidc.authorize(params, method="POST"),
                                      "invalid_request", state=params["state"])


MALFORMED_AUTHORIZE = [
    ({"response_type": None}, "invalid_request"),
    ({"response_type": ""}, ("invalid_request", "unsupported_response_type")),
    ({"response_type": "bogus"}, "unsupported_response_type"),
    ({"scope": None}, ("invalid_scope", "invalid_request")),
    ({"scope": "profile"}, "invalid_scope"),
    ({"scope": ""}, ("invalid_scope", "invalid_request")),
    ({"max_age": "-1"}, "invalid_request"),
    ({"max_age": "abc"}, "invalid_request"),
    ({"max_age": "1.5"}, "invalid_request"),
    ({"max_age": ""}, "invalid_request"),
    ({"max_age": "9" * 40}, None),
    ({"claims": "{not json"}, "invalid_request"),
    ({"claims": '{"userinfo": '}, "invalid_request"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"prompt": "login none"}, "invalid_request"),
    ({"request": "e30.e30."}, "invalid_request_object"),
    ({"request_uri": "urn:x"}, "request_uri_not_supported"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": None}, "invalid_request"),
    # Without a session, login_required may be decided before the hint is read.
    ({"id_token_hint": "garbage", "prompt": "none"}, ("invalid_request", "login_required")),
    ({"id_token_hint": "a.b.c", "prompt": "none"}, ("invalid_request", "login_required")),
]


async def test_authorize_malformed_parameters_redirect_an_error(oidc, subtests):
    for extra, error in MALFORMED_AUTHORIZE:
        with subtests.test(params=json.dumps(extra)[:80]):
            params, _ = oidc.auth_params(**extra)
            r = await oidc.authorize(params)
            if error is None:  # a huge max_age: any sensible answer, never a 500
                assert r.status_code in (303, 400), r.status_code
                continue
            errors = (error,) if isinstance(error, str) else error
            got = query(location(r)).get("error")
            assert got in errors, (r.status_code, location(r))
            assert_redirect_error(r, got, state=params["state"])


async def test_authorize_garbage_id_token_hint_with_a_session_is_invalid_request(oidc):
    await oidc.tokens()
    for hint in ("garbage", "a.b.c", "e30.e30.", BIG[:3000]):
        params, _ = oidc.auth_params(prompt="none", id_token_hint=hint)
        assert_redirect_error(await oidc.authorize(params), "invalid_request",
                              state=params["state"])


ODD_AUTHORIZE_VALUES = [
    {"prompt": "bogus"}, {"display": "bogus"}, {"ui_locales": "xx-YY"},
    {"acr_values": "urn:unknown"}, {"claims": '{"userinfo": {"name": 5}}'}, {"claims": "[]"},
    {"claims": '{"id_token": null}'}, {"login_hint": "\u202e\U0001f600"}, {"max_age": "0"},
]


async def test_authorize_odd_values_never_break_the_provider(oidc, subtests):
    """Values the contract does not pin down: an error redirect or a login, never a 500."""
    for extra in ODD_AUTHORIZE_VALUES:
        with subtests.test(params=json.dumps(extra)):
            params, _ = oidc.auth_params(**extra)
            r = await oidc.authorize(params)
            assert r.status_code == 303, (r.status_code, r.text[:200])
            loc = location(r)
            assert loc.startswith(("/fake/login?", RP_CB + "?")), loc
            if loc.startswith(RP_CB):
                q = query(loc)
                assert q["iss"] == ISSUER and q["state"] == params["state"] and "error" in q


async def test_authorize_odd_encodings(oidc):
    for raw in ("client_id=%ff%fe&redirect_uri=%C0%AF", "%%%", "a=b&&&=&c", "client_id"):
        r = await oidc.http.get(f"/authorize?{raw}")
        assert_html_page(r, 400)
    params, _ = oidc.auth_params()
    r = await oidc.http.post("/authorize", json=params)
    assert r.status_code == 400 or location(r).startswith(RP_CB + "?"), r.status_code
    r = await oidc.http.post("/authorize", content=b"\xff\xfe\x00",
                             headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400


async def test_resume_with_unknown_or_missing_transaction_is_an_html_page(oidc):
    for params in ({}, {"txn": "nope"}, {"txn": BIG[:60_000]}):
        assert_html_page(await oidc.http.get("/authorize/resume", params=params), 400)


# --------------------------------------------------------------------------- /token


async def token_error(oidc, data=None, *, auth=None, status=400, error=None, **kw):
    r = await oidc.http.post("/token", data=data, auth=auth, **kw)
    body = assert_json_error(r, status, error)
    assert r.headers["cache-control"] == "no-store"
    return body


async def test_token_wrong_content_types(oidc):
    code, verifier, _params = await oidc.code()
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": RP_CB,
            "code_verifier": verifier}
    await token_error(oidc, json=data, auth=basic("confidential"), error="invalid_request")
    await token_error(oidc, content=json.dumps(data).encode(), auth=basic("confidential"),
                      headers={"content-type": "text/plain"}, error="invalid_request")
    await token_error(oidc, content=b"", auth=basic("confidential"), error="invalid_request")
    await token_error(oidc, content=b"\xff\xfe=\xff", auth=basic("confidential"),
                      headers={"content-type": "application/x-www-form-urlencoded"})
    await token_error(oidc, files={"grant_type": ("a", b"authorization_code")},
                      auth=basic("confidential"))


async def test_token_get_is_not_allowed(oidc):
    r = await oidc.http.get("/token", params={"grant_type": "client_credentials"},
                            headers={"accept": "application/json"})
    assert r.status_code in (400, 405), r.status_code


MALFORMED_TOKEN = [
    ({}, "invalid_request"),
    ({"grant_type": ""}, ("invalid_request", "unsupported_grant_type")),
    ({"grant_type": "bogus"}, "unsupported_grant_type"),
    ({"grant_type": "implicit"}, "unsupported_grant_type"),
    ({"grant_type": "urn:ietf:params:oauth:grant-type:device_code"},
     "unsupported_grant_type"),
    ({"grant_type": "authorization_code"}, "invalid_request"),
    ({"grant_type": "authorization_code", "code": ""}, ("invalid_request", "invalid_grant")),
    ({"grant_type": "authorization_code", "code": "garbage", "redirect_uri": RP_CB,
      "code_verifier": "v" * 43}, "invalid_grant"),
    ({"grant_type": "authorization_code", "code": BIG, "redirect_uri": RP_CB,
      "code_verifier": "v" * 43}, ("invalid_grant", "invalid_request")),
    ({"grant_type": "refresh_token"}, "invalid_request"),
    ({"grant_type": "refresh_token", "refresh_token": "garbage"}, "invalid_grant"),
    ({"grant_type": "refresh_token", "refresh_token": BIG}, ("invalid_grant",
                                                              "invalid_request")),
    ({"grant_type": "refresh_token", "refresh_token": "a.b.c"}, "invalid_grant"),
]


async def test_token_missing_or_malformed_parameters(oidc, subtests):
    for data, error in MALFORMED_TOKEN:
        with subtests.test(data=",".join(f"{k}={str(x)[:12]}" for k, x in data.items())):
            body = await token_error(oidc, data, auth=basic("confidential"))
            assert body["error"] in ((error,) if isinstance(error, str) else error), body


async def test_token_repeated_parameter_is_invalid_request(oidc, subtests):
    for name in ("grant_type", "code", "redirect_uri", "code_verifier"):
        with subtests.test(name=name):
            code, verifier, _params = await oidc.code()
            data = {"grant_type": "authorization_code", "code": code, "redirect_uri": RP_CB,
                    "code_verifier": verifier}
            body = "&".join(f"{k}={v}" for k, v in [*data.items(), (name, data[name])])
            await token_error(oidc, content=body.encode(), auth=basic("confidential"),
                              headers={"content-type": "application/x-www-form-urlencoded"},
                              error="invalid_request")


BAD_AUTHORIZATION_HEADERS = {
    "not-b64": "Basic !!!not-base64!!!",
    "no-colon": "Basic " + base64.b64encode(b"no-colon").decode(),
    "empty": "Basic " + base64.b64encode(b":").decode(),
    "unknown": "Basic " + base64.b64encode(b"unknown:secret-0123456789").decode(),
    "not-utf8": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
    "huge-secret": "Basic " + base64.b64encode(b"confidential:" + b"x" * 10_000).decode(),
    "bare": "Basic",
    "bearer": "Bearer abc",
    "digest": "Digest username=confidential",
}


async def test_token_bad_client_credentials(oidc, subtests):
    for case, authorization in BAD_AUTHORIZATION_HEADERS.items():
        with subtests.test(case=case):
            r = await oidc.http.post("/token", data={"grant_type": "client_credentials"},
                                     headers={"Authorization": authorization})
            body = assert_json_error(r, r.status_code)
            assert (r.status_code, body["error"]) in ((401, "invalid_client"),
                                                      (400, "invalid_request"))
            if r.status_code == 401 and authorization.startswith("Basic"):
                assert r.headers["www-authenticate"].lower().startswith("basic")


BAD_FORM_CREDENTIALS = [
    {"client_id": "confidential", "client_secret": "wrong-secret-0123456789"},
    {"client_id": "unknown", "client_secret": "wrong-secret-0123456789"},
    {"client_id": "post-client"},
    {"client_id": "post-client", "client_secret": ""},
    {"client_id": "jwt-client", "client_assertion": "garbage",
     "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
    {"client_id": "jwt-client", "client_assertion": "a.b.c",
     "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
    {"client_assertion": "e30.e30.",
     "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
    {"client_id": "jwt-client", "client_assertion": "x", "client_assertion_type": "bogus"},
    {"client_id": "jwt-client"},
]


async def test_token_wrong_client_credentials_in_the_form(oidc, subtests):
    for i, data in enumerate(BAD_FORM_CREDENTIALS):
        with subtests.test(i=i, data=str(data)[:70]):
            r = await oidc.http.post("/token", data={"grant_type": "authorization_code",
                                                     "code": "x", "redirect_uri": RP_CB, **data})
            body = assert_json_error(r, r.status_code)
            assert (r.status_code, body["error"]) in ((401, "invalid_client"),
                                                      (400, "invalid_request"))


async def test_token_two_authentication_methods_at_once(oidc):
    """RFC 6749 §2.3 forbids it to the client; the server may refuse or use the registered one."""
    r = await oidc.http.post(
        "/token",
        data={"grant_type": "client_credentials", "client_id": "cc",
              "client_secret": SECRETS["cc"]},
        auth=basic("cc"),
    )
    if r.status_code != 200:
        body = assert_json_error(r, r.status_code)
        assert (r.status_code, body["error"]) in ((401, "invalid_client"),
                                                  (400, "invalid_request"))


# --------------------------------------------------------------------------- /userinfo


async def test_userinfo_without_token_is_401_bearer_without_error(oidc):
    for method in ("GET", "POST"):
        r = await oidc.http.request(method, "/userinfo")
        assert r.status_code == 401
        challenge = r.headers["www-authenticate"]
        assert challenge.startswith("Bearer") and "error=" not in challenge


async def test_userinfo_garbage_token_is_invalid_token(oidc, subtests):
    for token in ("garbage", "a.b.c", "x" * 20_000, "e30.e30."):
        with subtests.test(token=token[:20]):
            r = await oidc.http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401
            assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_userinfo_other_schemes_are_refused(oidc, subtests):
    for authorization in ("Basic Y29uZmlkZW50aWFsOng=", "Bearer", "Bearer  ", "Token abc", "abc",
                          "bearer garbage"):
        with subtests.test(authorization=authorization):
            r = await oidc.http.get("/userinfo", headers={"Authorization": authorization})
            assert r.status_code in (400, 401), r.status_code
            if r.status_code == 401:
                assert r.headers["www-authenticate"].startswith("Bearer")
            else:
                assert_json_error(r, 400, "invalid_request")


async def test_userinfo_refuses_an_id_token_as_access_token(oidc):
    tokens, _ = await oidc.tokens()
    r = await userinfo(oidc, tokens["id_token"])
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_userinfo_expired_token(oidc):
    tokens, _ = await oidc.tokens()
    assert (await userinfo(oidc, tokens["access_token"])).status_code == 200
    oidc.clock.advance(tokens["expires_in"] + 1)
    r = await userinfo(oidc, tokens["access_token"])
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_userinfo_token_in_header_and_query_at_once(oidc):
    tokens, _ = await oidc.tokens()
    r = await oidc.http.get("/userinfo", params={"access_token": tokens["access_token"]},
                            headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert_json_error(r, 400, "invalid_request")



# --------------------------------------------------------------------------- /introspect /revoke


@pytest.mark.parametrize("path", ["/introspect", "/revoke"])
async def test_introspect_and_revoke_bad_requests(oidc, path):
    auth = basic("confidential")
    assert_json_error(await oidc.http.post(path, data={}, auth=auth), 400, "invalid_request")
    assert_json_error(await oidc.http.post(path, json={"token": "x"}, auth=auth), 400,
                      "invalid_request")
    r = await oidc.http.post(path, content=b"token=a&token=b", auth=auth,
                             headers={"content-type": "application/x-www-form-urlencoded"})
    if r.status_code != 200:
        assert_json_error(r, 400, "invalid_request")
    for auth in (None, basic("confidential", "wrong-secret-0123456789"), basic("nobody", "x")):
        assert_json_error(await oidc.http.post(path, data={"token": "x"}, auth=auth), 401,
                          "invalid_client")
    r = await oidc.http.post(path, data={"token": "x"}, headers={"Authorization": "Basic !!"})
    body = assert_json_error(r, r.status_code)
    assert (r.status_code, body["error"]) in ((401, "invalid_client"), (400, "invalid_request"))


async def test_introspect_garbage_is_inactive(oidc, subtests):
    for token in ("garbage", "a.b.c", "e30.e30.", BIG, "", " "):
        with subtests.test(token=token[:10]):
            r = await oidc.http.post("/introspect", data={"token": token},
                                     auth=basic("confidential"))
            if r.status_code == 400 and (not token.strip() or token is BIG):
                # An empty token may count as missing; 100 kB may be over the body size limit.
                assert_json_error(r, 400, "invalid_request")
            else:
                assert r.status_code == 200 and r.json() == {"active": False}, r.text


async def test_revoke_garbage_with_any_hint_is_200(oidc, subtests):
    for hint in ("access_token", "refresh_token", "bogus", ""):
        with subtests.test(hint=hint):
            r = await oidc.http.post("/revoke", data={"token": "garbage", "token_type_hint": hint},
                                     auth=basic("confidential"))
            if r.status_code != 200:  # RFC 7009 §2.2.1: unsupported_token_type, with a 400
                assert_json_error(r, 400, "unsupported_token_type")
                assert hint not in ("access_token", "refresh_token")


# --------------------------------------------------------------------------- /logout


BAD_LOGOUT = [
    {"id_token_hint": "garbage"},
    {"id_token_hint": "a.b.c"},
    {"id_token_hint": BIG},
    {"id_token_hint": "e30.e30.", "post_logout_redirect_uri": LOGGED_OUT},
    {"post_logout_redirect_uri": "javascript:alert(1)"},
    {"post_logout_redirect_uri": BIG},
    [("post_logout_redirect_uri", LOGGED_OUT), ("post_logout_redirect_uri", LOGGED_OUT)],
    [("state", "a"), ("state", "b")],
]


async def test_logout_bad_input_is_an_html_page(oidc, subtests):
    for params in BAD_LOGOUT:
        for method in ("GET", "POST"):
            with subtests.test(method=method, params=str(params)[:60]):
                if method == "GET":
                    r = await oidc.http.get("/logout", params=fits_url(params))
                else:
                    r = await oidc.http.post("/logout", content=urlencode(params).encode(),
                                             headers={"content-type":
                                                      "application/x-www-form-urlencoded"})
                # A POST may be taken for a confirmation without its CSRF field (403).
                assert r.status_code in (200, 400, 403), r.status_code
                assert_html_page(r, r.status_code)


async def test_logout_confirmation_without_csrf_token_is_refused(oidc):
    await oidc.tokens()
    r = await oidc.http.post("/logout", data={"confirm": "yes", "logout": "yes"})
    # Either shown the confirmation page again or refused; never logged out silently.
    assert r.status_code in (200, 400, 403), r.status_code
    assert_html_page(r, r.status_code)
    again, _ = oidc.auth_params(prompt="none")
    still = await oidc.authorize(again)
    assert "code" in query(location(still)), location(still)


# --------------------------------------------------------------------------- fuzzing

FIELD_NAMES = [
    "grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "client_id",
    "client_secret", "client_assertion", "client_assertion_type", "scope", "token",
    "token_type_hint", "access_token", "resource", "audience",
]
GRANTS = ["authorization_code", "refresh_token", "client_credentials", "password", "implicit",
          "urn:openid:params:grant-type:ciba"]
HEADER_TEXT = st.text(
    alphabet=st.sampled_from(string.ascii_letters + string.digits + string.punctuation + " "),
    max_size=200,
)
values = st.one_of(
    st.sampled_from(["", "confidential", "cc", "public", "jwt-client", RP_CB, "openid",
                     "openid profile ssn", "a.b.c", "e30.e30.", SECRETS["confidential"],
                     "access_token", "refresh_token", *GRANTS]),
    st.text(max_size=80),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=2000, max_size=3000),
)
form = st.dictionaries(
    st.one_of(st.sampled_from(FIELD_NAMES), st.text(min_size=1, max_size=20)), values,
    max_size=8,
)
authorization = st.one_of(
    st.none(),
    st.just("basic-good"),
    st.just("basic-cc"),
    st.builds(lambda t: "Basic " + base64.b64encode(t.encode()).decode(), HEADER_TEXT),
    st.builds(lambda t: "Bearer " + t, HEADER_TEXT),
    HEADER_TEXT,
)
content_type = st.sampled_from([
    "application/x-www-form-urlencoded", "application/json", "text/plain",
    "multipart/form-data", "application/x-www-form-urlencoded; charset=latin-1", None,
])
body_kind = st.sampled_from(["form", "form", "form", "json", "raw"])


def basic_header(client_id):
    pair = f"{client_id}:{SECRETS[client_id]}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def build_request(fields, auth, ctype, kind, raw):
    headers = {}
    if auth == "basic-good":
        headers["Authorization"] = basic_header("confidential")
    elif auth == "basic-cc":
        headers["Authorization"] = basic_header("cc")
    elif auth is not None:
        headers["Authorization"] = auth
    if kind == "form":
        content = urlencode(fields).encode()
        ctype = ctype or "application/x-www-form-urlencoded"
    elif kind == "json":
        content = json.dumps(fields).encode()
    else:
        content = raw
    if ctype:
        headers["Content-Type"] = ctype
    return headers, content


@pytest.mark.parametrize("path", ["/token", "/userinfo", "/introspect", "/revoke"])
@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(fields=form, auth=authorization, ctype=content_type, kind=body_kind,
       raw=st.binary(max_size=300), get=st.booleans())
async def test_fuzz_protocol_endpoints(oidc, path, fields, auth, ctype, kind, raw, get):
    headers, content = build_request(fields, auth, ctype, kind, raw)
    if path == "/userinfo" and get:
        headers.pop("Content-Type", None)
        r = await oidc.http.get(path, params=fields if kind == "form" else None,
                                headers=headers)
    else:
        r = await oidc.http.post(path, content=content, headers=headers)
    assert r.status_code < 500, r.text
    if r.status_code < 400:
        if path != "/revoke":  # RFC 7009 §2.2: the body of a revocation 200 is ignored
            assert r.headers["content-type"].startswith("application/json"), r.headers
        return
    if path == "/userinfo" and r.status_code == 401:
        # RFC 6750 §3: the challenge is what counts; a bare 401 needs no error body.
        assert r.headers["www-authenticate"].startswith("Bearer"), r.headers
        if "error=" not in r.headers["www-authenticate"]:
            return
    body = r.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
