"""The backchannel authentication endpoint: who may call it, what it accepts, what it starts."""

import base64
import time

import jwt
import pytest

from idp.ciba.audit import audit_id_for
from tests.ciba.harness import (
    ANNA,
    BAD_CHECK_DIGIT,
    BAD_DATE,
    BJORN,
    ISSUER,
    STURE,
    basic,
    error_of,
)

pytestmark = pytest.mark.anyio


def audit(ciba, client_id=None):
    return ciba.service.audit.entries(client_id)


@pytest.mark.parametrize("hint", [ANNA, "19850101-2382", "sub:ssn:198501012382", " 198501012382 "])
async def test_login_hint_forms_of_a_personal_number(ciba, hint):
    ack = await ciba.start(login_hint=hint)
    assert (await ciba.phone(ANNA)).status_code == 200
    assert await ciba.settle(ack["auth_req_id"]) == "approved"


@pytest.mark.parametrize(
    "hint", [BAD_CHECK_DIGIT, BAD_DATE, "12345", "sub:ssn:", "anna@example.com", "8501012382"]
)
async def test_unknown_user_id_for_a_hint_that_is_no_valid_personal_number(ciba, hint):
    body = error_of(await ciba.backchannel(login_hint=hint), 400, "unknown_user_id")
    assert hint.strip() not in body["error_description"]
    assert ciba.sim._orders == {}
    (entry,) = audit(ciba)
    assert (entry.outcome, entry.detail, entry.subject) == ("rejected", "unknown_user_id", None)


async def test_client_must_be_allowed_the_ciba_grant(ciba):
    r = await ciba.backchannel("web")
    error_of(r, 400, "unauthorized_client")


async def test_scope_must_include_openid(ciba):
    error_of(await ciba.backchannel(scope="profile"), 400, "invalid_scope")
    error_of(await ciba.backchannel(scope=None), 400, "invalid_request")
    # Scopes the client may not have are dropped (RFC 6749 §3.3), not refused.
    tokens = await ciba.approved_tokens("cs-noref", scope="openid ssn")
    assert tokens["scope"] == "openid"


async def test_login_hint_token_is_not_supported(ciba):
    error_of(await ciba.backchannel(login_hint=None, login_hint_token="x"), 400, "invalid_request")


async def test_repeated_parameters_are_refused(ciba):
    r = await ciba.http.post(
        "/backchannel-authentication",
        content=f"scope=openid&login_hint={ANNA}&login_hint={BJORN}",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=basic("cs-poll"),
    )
    body = error_of(r, 400, "invalid_request")
    assert ANNA not in r.text and BJORN not in body["error_description"]


async def test_get_and_json_bodies_are_refused(ciba):
    r = await ciba.http.get("/backchannel-authentication")
    assert r.status_code == 405
    r = await ciba.http.post(
        "/backchannel-authentication",
        json={"scope": "openid", "login_hint": ANNA},
        auth=basic("cs-poll"),
    )
    error_of(r, 400, "invalid_request")


async def test_client_secret_post_and_private_key_jwt_authenticate(ciba, ciba_client_key):
    assert (await ciba.backchannel("cs-post", auth="post")).status_code == 200
    now = ciba.clock.now()
    assertion = jwt.encode(
        {
            "iss": "cs-jwt",
            "sub": "cs-jwt",
            "aud": ISSUER + "/backchannel-authentication",
            "iat": int(now),
            "exp": int(now) + 60,
            "jti": f"j-{time.monotonic_ns()}",
        },
        ciba_client_key,
        algorithm="RS256",
        headers={"kid": "cs-jwt-key"},
    )
    form = {
        "client_id": "cs-jwt",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    r = await ciba.backchannel("cs-jwt", auth=None, login_hint=BJORN, form=form)
    assert r.status_code == 200, r.text
    # The same assertion again is a replay.
    r = await ciba.backchannel("cs-jwt", auth=None, login_hint=BJORN, form=form)
    error_of(r, 401, "invalid_client")


async def test_ping_client_must_send_a_bearer_notification_token(ciba):
    error_of(await ciba.backchannel("cs-ping"), 400, "invalid_request")
    bad = {"client_notification_token": "has space"}
    error_of(await ciba.backchannel("cs-ping", **bad), 400, "invalid_request")
    long = {"client_notification_token": "a" * 1025}
    error_of(await ciba.backchannel("cs-ping", **long), 400, "invalid_request")
    ok = {"client_notification_token": "a" * 1024}
    assert (await ciba.backchannel("cs-ping", **ok)).status_code == 200


async def test_call_initiator_from_the_entry_with_override_only_where_allowed(ciba):
    await ciba.start("cs-poll", login_hint=ANNA)
    await ciba.start("cs-inbound", login_hint=BJORN)
    # What callInitiator each order carried is checked on the wire in test_phone.py.
    assert {o.required_personal_number for o in ciba.sim._orders.values()} == {ANNA, BJORN}
    error_of(
        await ciba.backchannel("cs-poll", login_hint=STURE, call_initiator="user"),
        400,
        "invalid_request",
    )
    error_of(
        await ciba.backchannel("cs-inbound", login_hint=STURE, call_initiator="someone"),
        400,
        "invalid_request",
    )
    assert (
        await ciba.backchannel("cs-inbound", login_hint=STURE, call_initiator="RP")
    ).status_code == 200
    same = await ciba.backchannel("cs-poll", login_hint="199311242409", call_initiator="RP")
    assert same.status_code == 200


async def test_a_signing_client_gets_phone_sign_with_the_message(ciba):
    error_of(await ciba.backchannel("cs-sign"), 400, "invalid_request")  # no message to sign
    ack = await ciba.start("cs-sign", binding_message="Jag godkänner ärende 12")
    (order,) = ciba.sim._orders.values()
    assert order.kind.value == "phone/sign"
    assert base64.b64decode(order.user_visible_data).decode() == "Jag godkänner ärende 12"
    await ciba.phone(ANNA)
    assert await ciba.settle(ack["auth_req_id"]) == "approved"


async def test_already_in_progress_refuses_and_stops_the_earlier_request(ciba):
    """BankID alreadyInProgress: a second order for a person cancels both (reference 3)."""
    first = await ciba.start(login_hint=ANNA)
    r = await ciba.backchannel("cs-other", login_hint=ANNA)
    body = error_of(r, 403, "access_denied")
    assert "in progress" in body["error_description"]
    assert await ciba.settle(first["auth_req_id"]) == "denied"
    ciba.clock.advance(5)
    error_of(await ciba.token(first["auth_req_id"]), 400, "access_denied")
    outcomes = {(e.client_id, e.outcome, e.detail) for e in audit(ciba)}
    assert outcomes == {("cs-poll", "denied", "cancelled"), ("cs-other", "failed", "in_progress")}


async def test_a_failed_bankid_order_is_access_denied(ciba):
    ack = await ciba.start(login_hint=STURE)  # certificateErr
    await ciba.phone(STURE)
    assert await ciba.settle(ack["auth_req_id"]) == "denied"
    ciba.clock.advance(5)
    body = error_of(await ciba.token(ack["auth_req_id"]), 400, "access_denied")
    assert "refused" in body["error_description"]


async def test_id_token_hint_names_the_person_of_an_earlier_id_token(ciba):
    tokens = await ciba.approved_tokens(person=BJORN)
    ack = await ciba.start(login_hint=None, id_token_hint=tokens["id_token"])
    picked = await ciba.phone(BJORN)  # the new order is for the same person
    assert picked.status_code == 200, picked.text
    assert await ciba.settle(ack["auth_req_id"]) == "approved"
    ciba.clock.advance(5)
    again = (await ciba.token(ack["auth_req_id"])).json()
    first = await ciba.verify(tokens["id_token"], audience="cs-poll")
    second = await ciba.verify(again["id_token"], audience="cs-poll")
    assert first["sub"] == second["sub"]
    # Not for another client, not an access token, not garbage.
    r = await ciba.backchannel("cs-other", login_hint=None, id_token_hint=tokens["id_token"])
    error_of(r, 400, "invalid_request")
    r = await ciba.backchannel(login_hint=None, id_token_hint=tokens["access_token"])
    error_of(r, 400, "invalid_request")
    r = await ciba.backchannel(login_hint=None, id_token_hint="a.b.c")
    error_of(r, 400, "invalid_request")


async def test_audit_records_each_request_with_a_pseudonymous_subject(ciba):
    tokens = await ciba.approved_tokens(person=BJORN, binding_message="Ärende 9")
    claims = await ciba.verify(tokens["id_token"], audience="cs-poll")
    ack = await ciba.start("cs-other", login_hint=ANNA)
    await ciba.phone(ANNA, "decline_call")
    await ciba.settle(ack["auth_req_id"])
    error_of(await ciba.backchannel(login_hint=BAD_CHECK_DIGIT), 400, "unknown_user_id")

    entries = {e.client_id + ":" + e.outcome: e for e in audit(ciba)}
    approved = entries["cs-poll:approved"]
    assert approved.subject == claims["sub"]
    assert approved.acr == "urn:grn:authn:se:bankid:phone" and approved.delivery_mode == "poll"
    assert approved.tokens_issued_at is not None and approved.finished_at is not None
    denied = entries["cs-other:denied"]
    assert denied.detail == "declined" and denied.tokens_issued_at is None
    assert denied.id == audit_id_for(ack["auth_req_id"])  # the bearer value is not stored
    assert entries["cs-poll:rejected"].detail == "unknown_user_id"
    # The personal number is nowhere in the table.
    with ciba.app.state.runtime.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT * FROM ciba_audit").fetchall()
        links = conn.exec_driver_sql("SELECT * FROM subject_links").fetchall()
    dump = repr(rows) + repr(links)
    for number in (ANNA, BJORN, BAD_CHECK_DIGIT, ANNA[2:], BJORN[2:]):
        assert number not in dump
    assert len(links) == 1  # the approved person, encrypted
