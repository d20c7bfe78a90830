"""What the person approves in a payment: the simulator keeps a /payment order's
userVisibleTransaction and riskFlags, returns them in the user app's answers and shows them on
the human page, next to the text."""

import pytest

from idp.bankid.models import Money, TransactionType, UserVisibleTransaction
from idp.bankid.qr import current_qr_payload

pytestmark = pytest.mark.anyio

IP = "192.0.2.10"


def card(recipient="Exempelbutiken AB", **extra):
    return UserVisibleTransaction(TransactionType.CARD, recipient, Money("249,00", "SEK"), **extra)


async def test_a_payment_scan_answer_carries_the_transaction_and_risk_flags(sim):
    order = await sim.client.payment(
        end_user_ip=IP,
        user_visible_transaction=card(risk_warning="Kontrollera mottagaren."),
        risk_flags=("newCard", "largeAmount"),
        user_visible_data="Ordernummer 1042",
        user_non_visible_data="aGVtbGln",
    )
    r = await sim.app_call("scan", {"qr": current_qr_payload(order, sim.clock)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["userVisibleTransaction"] == {
        "transactionType": "card",
        "recipient": {"name": "Exempelbutiken AB"},
        "money": {"amount": "249,00", "currency": "SEK"},
        "riskWarning": "Kontrollera mottagaren.",
    }
    assert body["riskFlags"] == ["newCard", "largeAmount"]
    assert body["userVisibleData"] == "Ordernummer 1042"
    assert "userNonVisibleData" not in body  # the app never shows it


async def test_an_npa_payment_without_flags_answers_with_the_transaction_only(sim):
    order = await sim.client.payment(
        end_user_ip=IP,
        user_visible_transaction=UserVisibleTransaction(TransactionType.NPA, "Kortutgivaren AB"),
    )
    r = await sim.app_call("autostart", {"autoStartToken": order.auto_start_token})
    body = r.json()
    assert body["userVisibleTransaction"] == {
        "transactionType": "npa",
        "recipient": {"name": "Kortutgivaren AB"},
    }
    assert "riskFlags" not in body and "userVisibleData" not in body


async def test_a_login_answer_has_no_transaction(sim):
    order = await sim.client.auth(end_user_ip=IP)
    r = await sim.app_call("scan", {"qr": current_qr_payload(order, sim.clock)})
    assert "userVisibleTransaction" not in r.json() and "riskFlags" not in r.json()


async def test_a_risk_warning_that_is_not_text_is_refused(sim):
    r = await sim.rp(
        "payment",
        {
            "endUserIp": IP,
            "userVisibleTransaction": {
                "transactionType": "card",
                "recipient": {"name": "A"},
                "riskWarning": 7,
            },
        },
    )
    assert r.status_code == 400 and "riskWarning" in r.json()["details"]


async def test_the_human_page_shows_amount_recipient_warning_and_flags_escaped(sim):
    await sim.client.payment(
        end_user_ip=IP,
        user_visible_transaction=card("<b>Skurk</b> AB", risk_warning="Ny <mottagare>"),
        risk_flags=("newRecipient",),
        user_visible_data="Faktura 7",
    )
    page = await sim.http.get("/", params={"lang": "en"})
    assert page.status_code == 200
    text = page.text
    assert "Transaction in the app" in text and "Card payment (card)" in text
    assert '<dd class="recipient">&lt;b&gt;Skurk&lt;/b&gt; AB</dd>' in text
    assert "<b>Skurk" not in text
    assert '<dd class="amount">249,00 SEK</dd>' in text
    assert '<dd class="risk-warning">Ny &lt;mottagare&gt;</dd>' in text
    assert "<code>newRecipient</code>" in text and "Faktura 7" in text

    swedish = (await sim.http.get("/")).text
    assert "Transaktion i appen" in swedish and "Mottagare" in swedish and "Belopp" in swedish
    assert "Riskvarning" in swedish and "Riskflaggor" in swedish and "Kortbetalning" in swedish
