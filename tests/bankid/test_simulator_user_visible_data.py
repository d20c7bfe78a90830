"""What the person saw: the simulator's user app answers and human page show an order's
userVisibleData, decoded, with its format, so a test can check the text of a login."""

import pytest

from idp.bankid import UserVisibleDataFormat
from idp.bankid.qr import current_qr_payload

pytestmark = pytest.mark.anyio

BJORN = "197203152397"


async def test_scan_answer_shows_the_decoded_text_and_its_format(sim):
    order = await sim.client.auth(
        end_user_ip="192.0.2.1",
        user_visible_data="# Rubrik\n*Åre*",
        user_visible_data_format=UserVisibleDataFormat.SIMPLE_MARKDOWN_V1,
    )
    r = await sim.app_call("scan", {"qr": current_qr_payload(order, sim.clock)})
    assert r.status_code == 200, r.text
    assert r.json()["userVisibleData"] == "# Rubrik\n*Åre*"
    assert r.json()["userVisibleDataFormat"] == "simpleMarkdownV1"


async def test_autostart_and_phone_answers_show_the_text_as_plaintext_by_default(sim):
    order = await sim.client.auth(end_user_ip="192.0.2.1", user_visible_data="Hej")
    r = await sim.app_call("autostart", {"autoStartToken": order.auto_start_token})
    assert (r.json()["userVisibleData"], r.json()["userVisibleDataFormat"]) == ("Hej", "plaintext")
    await sim.client.phone_auth(
        personal_number=BJORN, call_initiator="RP", user_visible_data="Samtal från banken"
    )
    r = await sim.app_call("phone", {"personalNumber": BJORN})
    assert r.json()["userVisibleData"] == "Samtal från banken"


async def test_an_order_without_text_has_none_in_the_answer(sim):
    order = await sim.client.auth(end_user_ip="192.0.2.1")
    r = await sim.app_call("autostart", {"autoStartToken": order.auto_start_token})
    assert "userVisibleData" not in r.json() and "userVisibleDataFormat" not in r.json()


async def test_the_human_page_shows_the_text_of_each_pending_order(sim):
    await sim.client.auth(end_user_ip="192.0.2.1", user_visible_data="Rad 1\nRad <2>")
    await sim.client.auth(
        end_user_ip="192.0.2.1",
        user_visible_data="**fet**",
        user_visible_data_format=UserVisibleDataFormat.SIMPLE_MARKDOWN_V1,
    )
    page = await sim.http.get("/", params={"lang": "en"})
    assert "Rad 1\nRad &lt;2&gt;</pre>" in page.text
    assert "Text in the app (simpleMarkdownV1)" in page.text and "**fet**" in page.text
