"""Pushed authorization requests (RFC 9126) and the checks that only authenticated requests
pass: each test is named after the rule it enforces."""

import pytest

from tests.oidc.conftest import running_provider, settings_with
from tests.oidc.harness import (
    ISSUER,
    JWT_BEARER,
    RP_CB,
    SECRETS,
    assert_html_page,
    assert_json_error,
    assert_redirect_error,
    basic,
    client_assertion,
    location,
    query,
)

ANNA = "198501012382"
pytestmark = pytest.mark.anyio


async def push(oidc, params, client_id="confidential", **kw):
    return await oidc.http.post("/par", data=params, auth=kw.pop("auth", basic(client_id)), **kw)


async def pushed_uri(oidc, client_id="confidential", **overrides):
    params, verifier = oidc.auth_params(client_id, **overrides)
    r = await push(oidc, params, client_id)
    assert r.status_code == 201, r.text
    return r.json()["request_uri"], params, verifier


async def test_rfc9126_2_2_push_answers_201_with_a_request_uri_and_its_lifetime(oidc):
    params, _ = oidc.auth_params()
    r = await push(oidc, params)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert len(body["request_uri"]) > 60  # unguessable (§7.1)
    assert 5 <= body["expires_in"] <= 600
    assert r.headers["cache-control"] == "no-store"


async def test_rfc9126_pushed_request_logs_in_with_only_client_id_and_request_uri(oidc):
    request_uri, params, verifier = await pushed_uri(oidc)
    final = await oidc.login({"client_id": "confidential", "request_uri": request_uri})
    q = query(location(final))
    assert location(final).startswith(RP_CB) and q["state"] == params["state"]
    assert q["iss"] == ISSUER and "code" in q
    r = await oidc.token(
        {"grant_type": "authorization_code", "code": q["code"], "redirect_uri": RP_CB,
         "code_verifier": verifier},
        auth=basic("confidential"),
    )  # fmt: skip
    assert r.status_code == 200, r.text


async def test_rfc9126_2_client_authentication_as_at_the_token_endpoint(oidc):
    params, _ = oidc.auth_params()
    r = await push(oidc, params, auth=basic("confidential", "wrong-secret-0123456789"))
    assert_json_error(r, 401, "invalid_client")
    r = await oidc.http.post("/par", data=params)  # no authentication at all
    assert_json_error(r, 401, "invalid_client")


async def test_rfc9126_2_private_key_jwt_assertion_may_name_the_issuer_or_the_par_endpoint(
    oidc, client_private_key
):
    for aud in (ISSUER, f"{ISSUER}/par", f"{ISSUER}/token"):
        params, _ = oidc.auth_params("jwt-client")
        params.update(
            client_assertion_type=JWT_BEARER,
            client_assertion=client_assertion(client_private_key, aud=aud, now=oidc.clock.now()),
        )
        r = await oidc.http.post("/par", data=params)
        assert r.status_code == 201, (aud, r.text)
        assert "client_assertion" not in r.text


async def test_rfc9126_2_1_a_pushed_request_cannot_carry_a_request_uri(oidc):
    params, _ = oidc.auth_params(request_uri="urn:ietf:params:oauth:request_uri:abc")
    assert_json_error(await push(oidc, params), 400, "invalid_request")


async def test_rfc9126_2_1_the_whole_pipeline_runs_at_push_time(oidc):
    for bad, error in (
        ({"redirect_uri": "https://attacker.example/cb"}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ):
        params, _ = oidc.auth_params(**bad)
        assert_json_error(await push(oidc, params), 400, error)


async def test_rfc9126_2_client_id_must_be_the_authenticated_client(oidc):
    """Refused at client authentication, as at every endpoint (RFC 7521 §4.2: a client_id
    present "MUST identify the client"): invalid_client."""
    params, _ = oidc.auth_params("post-client")
    assert_json_error(await push(oidc, params, "confidential"), 401, "invalid_client")


async def test_rfc9126_7_3_a_request_uri_is_used_once(oidc):
    request_uri, _, _ = await pushed_uri(oidc)
    first = await oidc.authorize({"client_id": "confidential", "request_uri": request_uri})
    assert first.status_code == 303 and location(first).startswith("/fake/login")
    again = await oidc.authorize({"client_id": "confidential", "request_uri": request_uri})
    assert_html_page(again, 400)
    assert "invalid_request_uri" in again.text


async def test_rfc9126_4_an_expired_request_uri_must_be_rejected(oidc):
    request_uri, _, _ = await pushed_uri(oidc)
    oidc.clock.advance(oidc.runtime.settings.par.request_uri_lifetime_seconds + 1)
    r = await oidc.authorize({"client_id": "confidential", "request_uri": request_uri})
    assert_html_page(r, 400)
    assert "invalid_request_uri" in r.text


async def test_rfc9126_7_1_a_request_uri_is_bound_to_the_client_that_pushed_it(oidc):
    request_uri, _, _ = await pushed_uri(oidc)
    r = await oidc.authorize({"client_id": "post-client", "request_uri": request_uri})
    assert_html_page(r, 400)
    assert "invalid_request_uri" in r.text


async def test_rfc9126_6_a_par_only_client_cannot_use_plain_authorize(oidc_par_only):
    oidc = oidc_par_only
    params, _ = oidc.auth_params("par-only")
    assert_redirect_error(await oidc.authorize(params), "invalid_request", state=params["state"])
    request_uri, _, _ = await pushed_uri(oidc, "par-only")
    r = await oidc.authorize({"client_id": "par-only", "request_uri": request_uri})
    assert r.status_code == 303 and location(r).startswith("/fake/login"), r.text


async def test_rfc9126_discovery_names_the_endpoint(oidc):
    doc = (await oidc.http.get("/.well-known/openid-configuration")).json()
    assert doc["pushed_authorization_request_endpoint"] == f"{ISSUER}/par"
    assert doc["require_pushed_authorization_requests"] is False


# --------------------------------------------------------------- a person named in a request


async def test_a_personal_number_in_an_unauthenticated_request_is_refused_and_starts_nothing(
    oidc,
):
    for hint in (ANNA, f"sub:{ANNA}"):
        params, _ = oidc.auth_params(login_hint=hint)
        r = await oidc.authorize(params)
        assert_redirect_error(r, "invalid_request", state=params["state"])
        assert ANNA not in location(r)
    claims = '{"id_token":{"https://id.oidc.se/claim/personalIdentityNumber":'
    claims += f'{{"essential":true,"value":"{ANNA}"}}}}}}'
    params, _ = oidc.auth_params(claims=claims)
    assert_redirect_error(await oidc.authorize(params), "invalid_request", state=params["state"])
    assert oidc.authn.started == []


async def test_a_login_hint_that_names_nobody_is_only_a_hint(oidc):
    params, _ = oidc.auth_params(login_hint="anna@example.com")
    r = await oidc.authorize(params)
    assert r.status_code == 303 and location(r).startswith("/fake/login")


async def test_a_pushed_request_may_name_the_person(oidc):
    request_uri, _, _ = await pushed_uri(oidc, login_hint=ANNA)
    r = await oidc.authorize({"client_id": "confidential", "request_uri": request_uri})
    assert r.status_code == 303 and location(r).startswith("/fake/login")
    assert ANNA not in location(r)
    assert oidc.authn.started[-1].login_hint == ANNA


def provider_with(oidc_settings, *entries):
    """A provider like the `oidc` fixture's, on the same database, with these clients."""
    return running_provider(settings_with(oidc_settings, *entries))


@pytest.fixture
async def oidc_par_only(oidc_settings):
    SECRETS.setdefault("par-only", "par-only-secret-0123456789")
    entry = {
        "client_id": "par-only",
        "client_secret": SECRETS["par-only"],
        "redirect_uris": [RP_CB],
        "scope": "openid profile",
        "require_pushed_authorization_requests": True,
    }
    async with provider_with(oidc_settings, entry) as oidc:
        yield oidc


async def test_rfc9101_5_request_and_request_uri_are_alternatives(oidc):
    request_uri, _, _ = await pushed_uri(oidc)
    r = await oidc.authorize(
        {"client_id": "confidential", "request_uri": request_uri, "request": "a.b.c"}
    )
    assert_html_page(r, 400)
    assert "invalid_request" in r.text


async def test_a_public_client_cannot_name_a_person_through_par(oidc):
    """Method none proves nothing about who pushed: the person rule still refuses the hint."""
    params, _ = oidc.auth_params("public", login_hint=ANNA)
    r = await oidc.http.post("/par", data=params)
    assert_json_error(r, 400, "invalid_request")
    plain, _ = oidc.auth_params("public")
    assert (await oidc.http.post("/par", data=plain)).status_code == 201  # PAR itself works
    assert oidc.authn.started == []


async def test_rfc9126_7_1_another_clients_attempt_does_not_use_up_a_request_uri(oidc):
    request_uri, _, _ = await pushed_uri(oidc)
    foreign = await oidc.authorize({"client_id": "post-client", "request_uri": request_uri})
    assert_html_page(foreign, 400)
    owner = await oidc.authorize({"client_id": "confidential", "request_uri": request_uri})
    assert owner.status_code == 303 and location(owner).startswith("/fake/login"), owner.text


async def test_a_used_request_uri_keeps_no_parameters(oidc):
    request_uri, _, _ = await pushed_uri(oidc, login_hint=ANNA)
    await oidc.authorize({"client_id": "confidential", "request_uri": request_uri})
    ref = request_uri.removeprefix("urn:ietf:params:oauth:request_uri:")
    kept = await oidc.runtime.store.get("par", ref)
    assert kept is not None and ANNA not in str(kept) and "params" not in kept
