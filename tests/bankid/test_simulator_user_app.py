"""The /app/* contract, exactly as written in docs/bankid-simulator.md, 4xx answers included."""

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idp.authn.personal_number import with_check_digit
from idp.bankid.client import BankIDClient
from idp.bankid.models import CallInitiator, Requirement, Status
from idp.bankid.qr import current_qr_payload, qr_payload
from idp.bankid.simulator import DEFAULT_PERSON, TEST_PERSONS, create_simulator_app
from idp.clock import FixedClock

pytestmark = pytest.mark.anyio

IP = "192.0.2.10"
BJORN = TEST_PERSONS[1].personal_number


async def refused(response, status, error, detail=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"} and body["error"] == error, body
    if detail is not None:
        assert detail in body["detail"], body
    return body


async def test_scan_success_answer_describes_what_happened(sim):
    order = await sim.client.auth(end_user_ip=IP)
    response = await sim.app_call("scan", {"qr": current_qr_payload(order, sim.clock)})
    assert response.status_code == 200
    assert response.json() == {
        "orderRef": order.order_ref,
        "flow": "qr",
        "action": "approve",
        "person": {"name": DEFAULT_PERSON.name, "scenario": "complete"},
        "hintCodes": ["userSign"],
        "outcome": "complete",
        "finalAt": sim.clock.now() + 1,
    }


async def test_scan_as_a_named_person_with_a_dash(sim):
    order = await sim.client.auth(end_user_ip=IP)
    number = BJORN[:8] + "-" + BJORN[8:]
    response = await sim.app_call("scan", {"qr": current_qr_payload(order, sim.clock),
                                           "personalNumber": number, "action": "cancel"})
    assert response.json()["person"]["name"] == "Björn Berglund"
    assert response.json()["outcome"] == "userCancel"


async def test_any_valid_personal_number_is_a_generic_person(sim):
    order = await sim.client.auth(end_user_ip=IP)
    number = with_check_digit("20000101238")
    response = await sim.app_call("scan", {"qr": current_qr_payload(order, sim.clock),
                                           "personalNumber": number})
    assert response.status_code == 200
    assert response.json()["person"] == {"name": "Test Testsson", "scenario": "complete"}
    sim.clock.advance(1)
    result = await sim.client.collect(order.order_ref)
    assert result.completion_data.user.personal_number == number


async def test_scan_refusals(sim):
    order = await sim.client.auth(end_user_ip=IP)
    good = current_qr_payload(order, sim.clock)
    token, secret = order.qr_start_token, order.qr_start_secret
    await refused(await sim.app_call("scan", {}), 400, "missing_field", "qr")
    await refused(await sim.app_call("scan", {"qr": "hello"}), 400, "invalid_qr")
    await refused(await sim.app_call("scan", {"qr": good, "personalnumber": BJORN}), 400,
                  "unknown_field", "personalnumber")
    await refused(await sim.app_call("scan", {"qr": good, "action": "decline_call"}), 400,
                  "invalid_action", "approve | cancel")
    await refused(await sim.app_call("scan", {"qr": good, "personalNumber": "199001011234"}),
                  400, "invalid_personal_number")
    await refused(await sim.app_call("scan", {"qr": good, "personalNumber": 199001011234}),
                  400, "invalid_personal_number")
    other = qr_payload("00000000-0000-4000-8000-000000000000", secret, 0)
    await refused(await sim.app_call("scan", {"qr": other}), 404, "unknown_token")
    forged = qr_payload(token, "not-the-secret", 0)
    await refused(await sim.app_call("scan", {"qr": forged}), 400, "bad_hmac")
    sim.clock.advance(5)
    body = await refused(await sim.app_call("scan", {"qr": good}), 400, "stale_frame", "t=0")
    assert "t=3..5" in body["detail"]
    future = qr_payload(token, secret, 6)
    await refused(await sim.app_call("scan", {"qr": future}), 400, "stale_frame", "t=6")
    response = await sim.app_call("scan", {"qr": current_qr_payload(order, sim.clock)})
    assert response.status_code == 200
    await refused(await sim.app_call("scan", {"qr": current_qr_payload(order, sim.clock)}),
                  409, "no_pending_order", "pending/userSign")


async def test_non_json_bodies_are_refused(sim):
    response = await sim.http.post("/app/scan", content=b"qr=1",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    await refused(response, 415, "unsupported_media_type")
    response = await sim.http.post("/app/scan", content=b"{",
                                   headers={"Content-Type": "application/json"})
    await refused(response, 400, "invalid_json")
    await refused(await sim.app_call("phone", ["x"]), 400, "invalid_json")


async def test_a_required_person_is_used_by_default_and_others_are_refused(sim):
    order = await sim.client.auth(end_user_ip=IP, requirement=Requirement(personal_number=BJORN))
    qr = current_qr_payload(order, sim.clock)
    await refused(await sim.app_call("scan", {"qr": qr, "personalNumber":
                                              DEFAULT_PERSON.personal_number}),
                  403, "personal_number_mismatch")
    response = await sim.app_call("scan", {"qr": qr})
    assert response.json()["person"]["name"] == "Björn Berglund"


async def test_autostart_contract(sim):
    order = await sim.client.auth(end_user_ip=IP)
    await refused(await sim.app_call("autostart", {}), 400, "missing_field", "autoStartToken")
    await refused(await sim.app_call("autostart", {"autoStartToken": "nope"}), 404,
                  "unknown_token")
    await refused(await sim.app_call("autostart", {"autoStartToken": order.qr_start_token}), 404,
                  "unknown_token")
    response = await sim.app_call("autostart", {"autoStartToken": order.auto_start_token,
                                                "personalNumber": BJORN})
    assert response.status_code == 200
    assert "returnUrl" not in response.json()  # the order has none
    assert response.json()["flow"] == "autostart"
    await refused(await sim.app_call("autostart", {"autoStartToken": order.auto_start_token}),
                  409, "no_pending_order")


async def test_phone_contract(sim):
    await refused(await sim.app_call("phone", {}), 400, "missing_field", "personalNumber")
    await refused(await sim.app_call("phone", {"personalNumber": BJORN}), 404,
                  "no_pending_order")
    order = await sim.client.phone_auth(personal_number=BJORN, call_initiator=CallInitiator.RP)
    await refused(await sim.app_call("phone", {"personalNumber": BJORN, "action": "maybe"}), 400,
                  "invalid_action", "approve | cancel | decline_call")
    # A QR order is not a phone order.
    await sim.client.auth(end_user_ip=IP)
    await refused(await sim.app_call("phone", {"personalNumber": DEFAULT_PERSON.personal_number}),
                  404, "no_pending_order")
    response = await sim.app_call("phone", {"personalNumber": BJORN})
    assert response.status_code == 200 and response.json()["orderRef"] == order.order_ref
    await refused(await sim.app_call("phone", {"personalNumber": BJORN}), 404,
                  "no_pending_order")


# --- the property: the simulator accepts exactly the generator's current frames -------------

TOLERANCE = 2


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    eighths=st.integers(min_value=0, max_value=239),  # 0 .. 29.875 s, exact in binary
    t=st.integers(min_value=0, max_value=40),
    forged=st.booleans(),
    use_generator=st.booleans(),
)
def test_simulator_accepts_exactly_the_current_frames(eighths, t, forged, use_generator):
    async def run():
        clock = FixedClock()
        app = create_simulator_app(clock=clock, qr_tolerance=TOLERANCE)
        transport = httpx.ASGITransport(app=app)
        async with BankIDClient("http://s/rp/v6.0", clock=clock, transport=transport) as client, \
                httpx.AsyncClient(transport=transport, base_url="http://s") as http:
            order = await client.auth(end_user_ip=IP)
            clock.advance(eighths / 8)
            now_t = eighths // 8
            if use_generator:
                frame, frame_t = current_qr_payload(order, clock), now_t
            else:
                secret = "forged-secret" if forged else order.qr_start_secret
                frame, frame_t = qr_payload(order.qr_start_token, secret, t), t
            response = await http.post("/app/scan", json={"qr": frame})
            genuine = use_generator or not forged
            expected = genuine and now_t - TOLERANCE <= frame_t <= now_t
            assert (response.status_code == 200) is expected, response.json()
            if not expected:
                assert response.json()["error"] == ("stale_frame" if genuine else "bad_hmac")
            else:
                assert (await client.collect(order.order_ref)).status is Status.PENDING

    anyio.run(run)
