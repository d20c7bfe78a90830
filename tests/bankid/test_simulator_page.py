"""The human page: pending orders, approve/cancel as a test person, Swedish and English."""

import re

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from idp.bankid.client import BankIDClient
from idp.bankid.models import CallInitiator, HintCode, Status
from idp.bankid.simulator import SCENARIO_PERSONS, TEST_PERSONS, Outcome, create_simulator_app

pytestmark = pytest.mark.anyio

IP = "192.0.2.10"


def form_action(html: str, order_ref: str) -> str:
    match = re.search(rf'action="([^"]*{order_ref})"', html)
    assert match, html
    return match.group(1)


async def test_page_lists_pending_orders_in_swedish_by_default(sim):
    empty = await sim.http.get("/")
    assert empty.status_code == 200 and "Inga väntande order." in empty.text
    order = await sim.client.auth(end_user_ip=IP)
    page = await sim.http.get("/")
    assert '<html lang="sv">' in page.text and "Godkänn" in page.text
    assert order.order_ref in page.text and "pending/outstandingTransaction" in page.text
    for person in TEST_PERSONS + SCENARIO_PERSONS:
        assert person.name in page.text
    assert order.qr_start_secret not in page.text


async def test_page_in_english_has_no_script_and_no_external_resources(sim):
    await sim.client.auth(end_user_ip=IP)
    page = await sim.http.get("/?lang=en")
    assert '<html lang="en">' in page.text and "Approve" in page.text and "Cancel" in page.text
    assert "<script" not in page.text.lower() and "http://" not in page.text
    assert "https://" not in page.text and " on" + "click" not in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "form-action 'self'" in csp


async def test_approving_as_a_chosen_person_redirects_with_303_and_completes(sim):
    order = await sim.client.auth(end_user_ip=IP, return_risk=True)
    page = await sim.http.get("/?lang=en")
    risky = next(p for p in SCENARIO_PERSONS if p.outcome is Outcome.HIGH_RISK)
    response = await sim.http.post(
        form_action(page.text, order.order_ref),
        data={"personalNumber": risky.personal_number, "action": "approve", "lang": "en"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/?lang=en&done=complete"
    assert (await sim.client.collect(order.order_ref)).hint_code is HintCode.USER_SIGN
    sim.clock.advance(1)
    result = await sim.client.collect(order.order_ref)
    assert result.status is Status.COMPLETE and result.completion_data.risk == "high"
    follow = await sim.http.get(response.headers["location"])
    assert "Done" in follow.text and order.order_ref not in follow.text


async def test_cancel_and_decline_call_from_the_page(sim):
    order = await sim.client.auth(end_user_ip=IP)
    page = await sim.http.get("/")
    response = await sim.http.post(form_action(page.text, order.order_ref),
                                   data={"action": "cancel"})
    assert response.status_code == 303 and "done=userCancel" in response.headers["location"]
    phone = await sim.client.phone_auth(personal_number=TEST_PERSONS[2].personal_number,
                                        call_initiator=CallInitiator.RP)
    page = await sim.http.get("/")
    assert "decline_call" in page.text
    response = await sim.http.post(form_action(page.text, phone.order_ref),
                                   data={"personalNumber": TEST_PERSONS[2].personal_number,
                                         "action": "decline_call"})
    assert "done=userDeclinedCall" in response.headers["location"]


async def test_page_errors_come_back_as_a_notice(sim):
    order = await sim.client.auth(end_user_ip=IP)
    page = await sim.http.get("/")
    action = form_action(page.text, order.order_ref)
    response = await sim.http.post(action, data={"action": "explode"})
    assert "error=invalid_action" in response.headers["location"]
    await sim.http.post(action, data={"action": "approve"})
    response = await sim.http.post(action, data={"action": "approve", "lang": "en"})
    assert "error=no_pending_order" in response.headers["location"]
    follow = await sim.http.get(response.headers["location"])
    assert "Could not do that" in follow.text


async def test_mounted_under_a_prefix_everything_keeps_working(clock):
    outer = Starlette(routes=[Mount("/bankid-simulator", app=create_simulator_app(clock=clock))])
    transport = httpx.ASGITransport(app=outer)
    async with BankIDClient("http://idp.test/bankid-simulator/rp/v6.0", clock=clock,
                            transport=transport) as client, \
            httpx.AsyncClient(transport=transport, base_url="http://idp.test") as http:
        order = await client.auth(end_user_ip=IP)
        response = await http.post("/bankid-simulator/app/autostart",
                                   json={"autoStartToken": order.auto_start_token})
        assert response.status_code == 200
        second = await client.auth(end_user_ip=IP)
        page = await http.get("/bankid-simulator/")
        action = form_action(page.text, second.order_ref)
        assert action.startswith("/bankid-simulator/orders/")
        response = await http.post(action, data={"action": "approve"})
        assert response.headers["location"].startswith("/bankid-simulator/?")
        response = await http.get("/bankid-simulator/rp/v6.0/collect")
        assert response.json()["errorCode"] == "methodNotAllowed"
