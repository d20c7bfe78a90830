"""The intent of each FAPI-CIBA conformance module (reference 4.4) that applies to a CIBA
provider without signed request objects, as our own tests; named after the modules.

The provider runs in-process with BankID phone authentication against the in-process
simulator, a fixed clock and the in-process store; the person acts through /app/phone.
"""

import base64

import pytest

from tests.ciba.harness import (
    AGNES,
    ANNA,
    BJORN,
    CIBA,
    ISSUER,
    SECRETS,
    basic,
    error_of,
)

pytestmark = pytest.mark.anyio


async def test_fapi_ciba_id1_discovery_end_point_verification(ciba):
    doc = (await ciba.http.get("/.well-known/openid-configuration")).json()
    assert doc["backchannel_authentication_endpoint"] == ISSUER + "/backchannel-authentication"
    # Push is not offered: FAPI-CIBA forbids it, node-oidc-provider and Keycloak leave it out.
    assert doc["backchannel_token_delivery_modes_supported"] == ["poll", "ping"]
    assert doc["backchannel_user_code_parameter_supported"] is False
    assert CIBA in doc["grant_types_supported"]
    assert "authorization_code" in doc["grant_types_supported"]
    # Signed authentication requests are not offered, so their algorithms are not listed.
    assert "backchannel_authentication_request_signing_alg_values_supported" not in doc


async def test_fapi_ciba_id1(ciba):
    """Happy path: acknowledgement, pending while the person confirms, then tokens once."""
    ack = await ciba.start(login_hint=BJORN, binding_message="Ärende 4711", scope="openid profile")
    assert set(ack) == {"auth_req_id", "expires_in", "interval"}
    assert (
        len(ack["auth_req_id"]) >= 27
        and ack["auth_req_id"].replace("-", "").replace("_", "").isalnum()
    )  # ≥ 160 bits, only A-Z a-z 0-9 . - _ (§7.3)
    assert ack["expires_in"] == 120 and ack["interval"] == 5

    pending = await ciba.token(ack["auth_req_id"])
    error_of(pending, 400, "authorization_pending")

    picked = await ciba.phone(BJORN)
    assert picked.status_code == 200, picked.text
    assert picked.json()["hintCodes"] == ["userCallConfirm", "userSign"]
    assert await ciba.settle(ack["auth_req_id"]) == "approved"
    ciba.clock.advance(5)
    r = await ciba.token(ack["auth_req_id"])
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "openid profile"
    claims = await ciba.verify(tokens["id_token"], audience="cs-poll")
    assert claims["name"] == "Björn Berglund"
    assert claims["given_name"] == "Björn" and claims["family_name"] == "Berglund"
    assert claims["birthdate"] == "1972-03-15"
    assert "ssn" not in claims  # the personal number only under the ssn scope
    assert claims["acr"] == "urn:grn:authn:se:bankid:phone"
    assert claims["amr"] == ["swk", "mfa"]
    assert claims["auth_time"] == int(ciba.clock.now()) - 5
    assert claims["sub"] != BJORN and BJORN not in claims["sub"]
    access = await ciba.verify(tokens["access_token"])
    assert access["sub"] == claims["sub"] and access["client_id"] == "cs-poll"
    assert "refresh_token" in tokens  # cs-poll's entry has the refresh_token grant

    info = await ciba.http.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert info.status_code == 200 and info.json()["name"] == "Björn Berglund"

    # The order was a phone/auth with the binding message as userVisibleData, callInitiator RP.
    order = next(o for o in ciba.sim._orders.values() if o.required_personal_number == BJORN)
    assert order.kind.value == "phone/auth"
    assert base64.b64decode(order.user_visible_data).decode() == "Ärende 4711"


async def test_fapi_ciba_id1_user_rejects_authentication(ciba):
    ack = await ciba.start(login_hint=ANNA)
    assert (await ciba.phone(ANNA, "cancel")).status_code == 200
    assert await ciba.settle(ack["auth_req_id"]) == "denied"
    ciba.clock.advance(5)
    body = error_of(await ciba.token(ack["auth_req_id"]), 400, "access_denied")
    assert "cancelled" in body["error_description"]


async def test_fapi_ciba_id1_user_rejects_authentication_by_declining_the_call(ciba):
    """BankID's userDeclinedCall: the person says they are not on a call with us."""
    ack = await ciba.start(login_hint=BJORN)
    picked = await ciba.phone(BJORN, "decline_call")
    assert picked.json()["hintCodes"] == ["userCallConfirm"]
    assert await ciba.settle(ack["auth_req_id"]) == "denied"
    ciba.clock.advance(5)
    body = error_of(await ciba.token(ack["auth_req_id"]), 400, "access_denied")
    assert "not on a call" in body["error_description"]


async def test_fapi_ciba_id1_user_rejects_authentication_scenario_person(ciba):
    ack = await ciba.start(login_hint=AGNES)  # a simulator person whose orders end userCancel
    await ciba.phone(AGNES)
    assert await ciba.settle(ack["auth_req_id"]) == "denied"
    ciba.clock.advance(5)
    error_of(await ciba.token(ack["auth_req_id"]), 400, "access_denied")


async def test_fapi_ciba_id1_multiple_call_to_token_endpoint(ciba):
    """Calling the token endpoint many times in a short space of time: authorization_pending
    or slow_down while the person has not answered; tokens exactly once afterwards."""
    ack = await ciba.start()
    answers = [(await ciba.token(ack["auth_req_id"])).json()["error"] for _ in range(5)]
    assert answers == ["authorization_pending"] + ["slow_down"] * 4

    await ciba.phone(ANNA)
    await ciba.settle(ack["auth_req_id"], advance=40)  # past every grown interval
    first = await ciba.token(ack["auth_req_id"])
    assert first.status_code == 200, first.text
    for _ in range(3):
        error_of(await ciba.token(ack["auth_req_id"]), 400, "invalid_grant")


async def test_fapi_ciba_id1_auth_req_id_expired(ciba):
    """requested_expiry of 30 s; the person never answers; the token endpoint says
    expired_token, and the BankID order is cancelled."""
    ack = await ciba.start(login_hint=BJORN, requested_expiry="30")
    assert ack["expires_in"] == 30
    ciba.clock.advance(31)
    error_of(await ciba.token(ack["auth_req_id"]), 400, "expired_token")
    assert await ciba.settle(ack["auth_req_id"], advance=2) == "expired"
    error_of(await ciba.token(ack["auth_req_id"]), 400, "expired_token")
    order = next(o for o in ciba.sim._orders.values() if o.required_personal_number == BJORN)
    assert ciba.sim.state(order, ciba.clock.now()).hint_code == "cancelled"
    # The person can no longer approve it.
    assert (await ciba.phone(BJORN)).status_code == 404


async def test_fapi_ciba_id1_ensure_authorization_request_with_binding_message_succeeds(ciba):
    tokens = await ciba.approved_tokens(binding_message="1234", scope="openid bankid_evidence")
    claims = await ciba.verify(tokens["id_token"], audience="cs-poll")
    signed = base64.b64decode(claims["bankid_signature"]).decode()
    assert base64.b64encode(b"1234").decode() in signed  # what the app showed


@pytest.mark.parametrize(
    "message",
    [
        # The conformance suite's own: long, with emoji and CJK characters.
        "1234 \U0001f44d\U0001f3ff 品川 Lorem ipsum dolor sit amet, consectetur adipiscing elit, "
        "sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.",
        "x" * 65,
        "line one\nline two",
        "<b>bold</b>",
        "   ",
        "",
        "smile \U0001f600",
        "tab\tbed",
    ],
)
async def test_fapi_ciba_id1_ensure_authorization_request_with_potentially_bad_binding_message(
    ciba, message
):
    r = await ciba.backchannel(binding_message=message)
    error_of(r, 400, "invalid_binding_message")
    assert ciba.sim._orders == {}  # nothing was started at BankID


async def test_fapi_ciba_id1_ensure_other_scope_order_succeeds(ciba):
    tokens = await ciba.approved_tokens(scope="ssn profile openid")
    claims = await ciba.verify(tokens["id_token"], audience="cs-poll")
    assert claims["ssn"] == ANNA and claims["name"] == "Anna Andersson"
    assert set(tokens["scope"].split()) == {"openid", "profile", "ssn"}


async def test_fapi_ciba_id1_ensure_requested_expiry_as_string_succeeds(ciba):
    # A form value is always a string; "60" (and a value above the maximum, capped) work.
    ack = await ciba.start(requested_expiry="60")
    assert ack["expires_in"] == 60
    capped = await ciba.start("cs-other", login_hint=BJORN, requested_expiry="100000")
    assert capped["expires_in"] == 300
    for bad in ("0", "-5", "1.5", "soon", "١٢"):
        error_of(await ciba.backchannel(requested_expiry=bad), 400, "invalid_request")


@pytest.mark.parametrize(
    "hints",
    [
        {"login_hint": ANNA, "id_token_hint": "x.y.z"},
        {"login_hint": ANNA, "login_hint_token": "abc"},
        {"login_hint": None},
    ],
)
async def test_fapi_ciba_id1_ensure_authorization_request_with_multiple_hints_fails(ciba, hints):
    r = await ciba.backchannel(**hints)
    error_of(r, 400, "invalid_request")


async def test_fapi_ciba_id1_ensure_wrong_auth_req_id_in_token_endpoint_request(ciba):
    ack = await ciba.start()
    for wrong in ("nope", ack["auth_req_id"] + "x", ack["auth_req_id"][:-1], "a" * 300, "é"):
        error_of(await ciba.token(wrong), 400, "invalid_grant")
    error_of(await ciba.token(None), 400, "invalid_request")


async def test_fapi_ciba_id1_ensure_wrong_client_id_in_token_endpoint_request(ciba):
    ack = await ciba.start()
    await ciba.phone(ANNA)
    await ciba.settle(ack["auth_req_id"], advance=10)
    # Another client, authenticating correctly, cannot use it: it looks unknown.
    error_of(await ciba.token(ack["auth_req_id"], "cs-other"), 400, "invalid_grant")
    # Another client_id with this client's secret is not authenticated at all.
    r = await ciba.token(ack["auth_req_id"], auth=basic("cs-other", SECRETS["cs-poll"]))
    error_of(r, 401, "invalid_client")
    assert r.headers["www-authenticate"].startswith("Basic")
    # None of that used it up.
    assert (await ciba.token(ack["auth_req_id"])).status_code == 200


async def test_fapi_ciba_id1_ensure_wrong_client_id_in_backchannel_authorization_request(ciba):
    r = await ciba.backchannel(auth=basic("cs-poll", "wrong-secret-0123456789"))
    error_of(r, 401, "invalid_client")
    r = await ciba.backchannel(auth=basic("no-such-client", "whatever-0123456789"))
    error_of(r, 401, "invalid_client")
    assert ciba.sim._orders == {}


async def test_fapi_ciba_id1_ensure_without_client_assertion_in_backchannel_authorization_request_fails(  # noqa: E501
    ciba,
):
    r = await ciba.backchannel("cs-jwt", auth=None, form={"client_id": "cs-jwt"})
    error_of(r, 401, "invalid_client")
    r = await ciba.backchannel(auth=None)  # no authentication at all
    error_of(r, 401, "invalid_client")
    assert ciba.sim._orders == {}


async def test_fapi_ciba_id1_ensure_without_client_assertion_in_token_endpoint_fails(ciba):
    ack = await ciba.start()
    error_of(await ciba.token(ack["auth_req_id"], auth=None), 401, "invalid_client")
    r = await ciba.token(ack["auth_req_id"], auth=None, client_id="cs-poll")
    error_of(r, 401, "invalid_client")


async def test_fapi_ciba_id1_refresh_token(ciba):
    tokens = await ciba.approved_tokens(scope="openid profile")
    r = await ciba.http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=basic("cs-poll"),
    )
    assert r.status_code == 200, r.text
    refreshed = r.json()
    claims = await ciba.verify(refreshed["id_token"], audience="cs-poll")
    first = await ciba.verify(tokens["id_token"], audience="cs-poll")
    assert claims["sub"] == first["sub"] and claims["acr"] == first["acr"]
    assert claims["name"] == "Anna Andersson"
    # Bound to the client it was issued to.
    r = await ciba.http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
        auth=basic("cs-other"),
    )
    error_of(r, 400, "invalid_grant", described=False)


async def test_fapi_ciba_id1_refresh_token_only_when_the_entry_allows_it(ciba):
    tokens = await ciba.approved_tokens("cs-noref", person=BJORN)
    assert "refresh_token" not in tokens and "id_token" in tokens


async def test_fapi_ciba_id1_ensure_unsigned_request_object_is_refused_as_unsupported(ciba):
    """Signed authentication requests are not offered; a `request` parameter is refused."""
    r = await ciba.backchannel(request="eyJhbGciOiJub25lIn0.e30.")
    error_of(r, 400, "invalid_request")
