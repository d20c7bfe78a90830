"""Every hint code of the order lifecycle, reached through the BankID client over HTTP."""

import base64

import pytest
from cryptography import x509
from cryptography.x509 import ocsp

from idp.bankid.errors import AlreadyInProgress, InvalidParameters
from idp.bankid.models import (
    CallInitiator,
    HintCode,
    Money,
    Requirement,
    RiskLevel,
    Status,
    TransactionType,
    UserVisibleTransaction,
)
from idp.bankid.qr import current_qr_payload
from idp.bankid.simulator import DEFAULT_PERSON, SCENARIO_PERSONS, TEST_PERSONS, Outcome

pytestmark = pytest.mark.anyio

IP = "192.0.2.10"
BJORN = TEST_PERSONS[1].personal_number
SCENARIO = {p.outcome: p.personal_number for p in SCENARIO_PERSONS}


async def hint(sim, order_ref):
    result = await sim.client.collect(order_ref)
    return result.status, result.hint_code


async def scan(sim, order, **extra):
    response = await sim.app_call("scan", {"qr": current_qr_payload(order, sim.clock), **extra})
    assert response.status_code == 200, response.json()
    return response.json()


async def test_qr_auth_passes_outstanding_then_user_sign_then_completes(sim):
    order = await sim.client.auth(end_user_ip=IP, user_visible_data="Logga in",
                                  user_non_visible_data="n-1")
    assert await hint(sim, order.order_ref) == (Status.PENDING, HintCode.OUTSTANDING_TRANSACTION)
    sim.clock.advance(4)
    answer = await scan(sim, order)
    assert answer["hintCodes"] == ["userSign"] and answer["outcome"] == "complete"
    assert await hint(sim, order.order_ref) == (Status.PENDING, HintCode.USER_SIGN)
    sim.clock.advance(1)  # the default think time
    result = await sim.client.collect(order.order_ref)
    assert result.status is Status.COMPLETE
    data = result.completion_data
    assert data.user.personal_number == DEFAULT_PERSON.personal_number
    assert data.user.name == "Anna Andersson" and data.user.surname == "Andersson"
    assert data.device.ip_address == "198.51.100.7"  # the app's address, not endUserIp
    assert data.device.uhi and data.bank_id_issue_date == "2023-01-01"
    assert data.risk is None and data.step_up is None  # neither was asked for
    xml = base64.b64decode(data.signature).decode()
    assert xml.startswith("<?xml") and "<usrVisibleData" in xml
    assert base64.b64encode(b"Logga in").decode() in xml and "<funcId>Identification" in xml
    response = ocsp.load_der_ocsp_response(base64.b64decode(data.ocsp_response))
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    nonce = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    assert len(nonce) == 32


async def test_autostart_passes_started_and_user_sign_and_answers_the_return_url(sim):
    order = await sim.client.auth(end_user_ip=IP, return_url="https://idp.test/r?n=abc",
                                  return_risk=True)
    response = await sim.app_call("autostart", {"autoStartToken": order.auto_start_token})
    assert response.status_code == 200
    assert response.json()["returnUrl"] == "https://idp.test/r?n=abc"
    assert response.json()["hintCodes"] == ["started", "userSign"]
    assert await hint(sim, order.order_ref) == (Status.PENDING, HintCode.STARTED)
    sim.clock.advance(1)
    assert await hint(sim, order.order_ref) == (Status.PENDING, HintCode.USER_SIGN)
    sim.clock.advance(1)
    result = await sim.client.collect(order.order_ref)
    assert result.status is Status.COMPLETE and result.completion_data.risk is RiskLevel.LOW


async def test_mrtd_requirement_adds_user_mrtd_and_step_up(sim):
    order = await sim.client.auth(end_user_ip=IP, requirement=Requirement(mrtd=True))
    await scan(sim, order)
    sim.clock.advance(1)
    assert await hint(sim, order.order_ref) == (Status.PENDING, HintCode.USER_MRTD)
    sim.clock.advance(1)
    result = await sim.client.collect(order.order_ref)
    assert result.completion_data.step_up.mrtd is True


@pytest.mark.parametrize("start", ["nothing", "autostart"])
async def test_not_picked_up_within_30_seconds_is_start_failed(sim, start):
    order = await sim.client.auth(end_user_ip=IP)
    sim.clock.advance(29.9)
    assert await hint(sim, order.order_ref) == (Status.PENDING, HintCode.OUTSTANDING_TRANSACTION)
    sim.clock.advance(0.1)
    assert await hint(sim, order.order_ref) == (Status.FAILED, HintCode.START_FAILED)
    response = await sim.app_call("autostart", {"autoStartToken": order.auto_start_token})
    assert response.status_code == 409 and response.json()["error"] == "no_pending_order"


async def test_user_cancel_by_action_and_by_scenario_person(sim):
    first = await sim.client.auth(end_user_ip=IP)
    await scan(sim, first, action="cancel")
    sim.clock.advance(1)
    assert await hint(sim, first.order_ref) == (Status.FAILED, HintCode.USER_CANCEL)
    second = await sim.client.auth(end_user_ip=IP)
    answer = await scan(sim, second, personalNumber=SCENARIO[Outcome.USER_CANCEL])
    assert answer["outcome"] == "userCancel"
    sim.clock.advance(1)
    assert await hint(sim, second.order_ref) == (Status.FAILED, HintCode.USER_CANCEL)


@pytest.mark.parametrize(
    ("outcome", "hint_code"),
    [
        (Outcome.CERTIFICATE_ERR, HintCode.CERTIFICATE_ERR),
        (Outcome.RISK_BLOCKED, HintCode.TRANSACTION_RISK_BLOCKED),
        (Outcome.NOT_SUPPORTED, HintCode.NOT_SUPPORTED_BY_USER_APP),
    ],
)
async def test_scenario_persons_fail_their_way(sim, outcome, hint_code):
    order = await sim.client.auth(end_user_ip=IP)
    await scan(sim, order, personalNumber=SCENARIO[outcome])
    sim.clock.advance(5)
    assert await hint(sim, order.order_ref) == (Status.FAILED, hint_code)


async def test_expiry_scenario_hangs_in_user_sign_until_expired_transaction(sim):
    order = await sim.client.auth(end_user_ip=IP)
    await scan(sim, order, personalNumber=SCENARIO[Outcome.EXPIRED])
    sim.clock.advance(179)
    assert await hint(sim, order.order_ref) == (Status.PENDING, HintCode.USER_SIGN)
    sim.clock.advance(1)
    assert await hint(sim, order.order_ref) == (Status.FAILED, HintCode.EXPIRED_TRANSACTION)


async def test_high_risk_scenario_completes_with_risk_high(sim):
    order = await sim.client.auth(end_user_ip=IP, return_risk=True)
    await scan(sim, order, personalNumber=SCENARIO[Outcome.HIGH_RISK])
    sim.clock.advance(1)
    result = await sim.client.collect(order.order_ref)
    assert result.status is Status.COMPLETE and result.completion_data.risk is RiskLevel.HIGH


async def test_rp_cancel_gives_cancelled_and_cancelling_twice_is_invalid_parameters(sim):
    order = await sim.client.auth(end_user_ip=IP)
    await sim.client.cancel(order.order_ref)
    assert await hint(sim, order.order_ref) == (Status.FAILED, HintCode.CANCELLED)
    with pytest.raises(InvalidParameters):
        await sim.client.cancel(order.order_ref)


async def test_second_order_for_the_same_person_is_already_in_progress_and_cancels_the_first(sim):
    first = await sim.client.auth(end_user_ip=IP, requirement=Requirement(personal_number=BJORN))
    with pytest.raises(AlreadyInProgress) as info:
        await sim.client.auth(end_user_ip=IP, requirement=Requirement(personal_number=BJORN))
    assert info.value.rfa == "RFA4" and BJORN not in str(info.value)
    assert await hint(sim, first.order_ref) == (Status.FAILED, HintCode.CANCELLED)
    # Once the first order has ended, the person can start again.
    await sim.client.auth(end_user_ip=IP, requirement=Requirement(personal_number=BJORN))


async def test_picking_up_a_new_order_cancels_the_users_order_in_progress(sim):
    first = await sim.client.auth(end_user_ip=IP)
    second = await sim.client.auth(end_user_ip=IP)
    await scan(sim, first)
    await scan(sim, second)
    assert await hint(sim, first.order_ref) == (Status.FAILED, HintCode.CANCELLED)
    assert await hint(sim, second.order_ref) == (Status.PENDING, HintCode.USER_SIGN)


async def test_phone_auth_passes_user_call_confirm_and_completes(sim):
    order = await sim.client.phone_auth(personal_number=BJORN, call_initiator=CallInitiator.RP)
    assert await hint(sim, order.order_ref) == (Status.PENDING, HintCode.OUTSTANDING_TRANSACTION)
    response = await sim.app_call("phone", {"personalNumber": BJORN})
    assert response.status_code == 200
    assert response.json()["hintCodes"] == ["userCallConfirm", "userSign"]
    assert await hint(sim, order.order_ref) == (Status.PENDING, HintCode.USER_CALL_CONFIRM)
    sim.clock.advance(1)
    assert await hint(sim, order.order_ref) == (Status.PENDING, HintCode.USER_SIGN)
    sim.clock.advance(1)
    result = await sim.client.collect(order.order_ref)
    assert result.status is Status.COMPLETE
    assert result.completion_data.user.personal_number == BJORN


async def test_phone_decline_call_and_cancel(sim):
    order = await sim.client.phone_sign(personal_number=BJORN, call_initiator=CallInitiator.USER,
                                        user_visible_data="Avtal")
    response = await sim.app_call("phone", {"personalNumber": BJORN, "action": "decline_call"})
    assert response.json()["outcome"] == "userDeclinedCall"
    sim.clock.advance(1)
    assert await hint(sim, order.order_ref) == (Status.FAILED, HintCode.USER_DECLINED_CALL)
    second = await sim.client.phone_auth(personal_number=BJORN, call_initiator=CallInitiator.RP)
    await sim.app_call("phone", {"personalNumber": BJORN, "action": "cancel"})
    sim.clock.advance(2)
    assert await hint(sim, second.order_ref) == (Status.FAILED, HintCode.USER_CANCEL)


async def test_untouched_phone_order_expires(sim):
    order = await sim.client.phone_auth(personal_number=BJORN, call_initiator=CallInitiator.RP)
    sim.clock.advance(60)
    assert await hint(sim, order.order_ref) == (Status.PENDING, HintCode.OUTSTANDING_TRANSACTION)
    sim.clock.advance(120)
    assert await hint(sim, order.order_ref) == (Status.FAILED, HintCode.EXPIRED_TRANSACTION)


async def test_sign_order_completes_end_to_end_with_signed_data(sim):
    order = await sim.client.sign(end_user_ip=IP, user_visible_data="Jag godkänner **avtalet**",
                                  user_visible_data_format="simpleMarkdownV1")
    await scan(sim, order, personalNumber=BJORN)
    sim.clock.advance(1)
    result = await sim.client.collect(order.order_ref)
    xml = base64.b64decode(result.completion_data.signature).decode()
    assert "<funcId>Signing" in xml and 'format="simpleMarkdownV1"' in xml
    expected = base64.b64encode("Jag godkänner **avtalet**".encode()).decode()
    assert expected in xml


async def test_payment_order_completes(sim):
    order = await sim.client.payment(
        end_user_ip=IP,
        user_visible_transaction=UserVisibleTransaction(
            TransactionType.CARD, "Butik AB", Money("199,00", "SEK")),
        risk_flags=("newCard",),
    )
    await scan(sim, order)
    sim.clock.advance(1)
    assert (await sim.client.collect(order.order_ref)).status is Status.COMPLETE


async def test_think_time_zero_completes_at_once(make_sim):
    sim = make_sim(think_time=0)
    order = await sim.client.auth(end_user_ip=IP)
    await scan(sim, order)
    assert (await sim.client.collect(order.order_ref)).status is Status.COMPLETE


@pytest.mark.parametrize(("final", "retention"), [("complete", 180), ("failed", 300)])
async def test_final_orders_stay_collectable_for_their_retention_window(sim, final, retention):
    order = await sim.client.auth(end_user_ip=IP)
    await scan(sim, order, action="approve" if final == "complete" else "cancel")
    sim.clock.advance(1)
    first = await sim.client.collect(order.order_ref)
    assert first.status == final
    sim.clock.advance(retention)
    assert (await sim.client.collect(order.order_ref)).status == final  # repeatable within
    sim.clock.advance(0.5)
    with pytest.raises(InvalidParameters) as info:
        await sim.client.collect(order.order_ref)
    assert "too old" in info.value.details


async def test_a_second_phone_order_for_the_same_person_is_already_in_progress(sim):
    first = await sim.client.phone_auth(personal_number=BJORN, call_initiator=CallInitiator.RP)
    with pytest.raises(AlreadyInProgress):
        await sim.client.phone_sign(personal_number=BJORN, call_initiator=CallInitiator.RP,
                                    user_visible_data="x")
    assert await hint(sim, first.order_ref) == (Status.FAILED, HintCode.CANCELLED)


async def test_order_internals_keep_personal_numbers_out_of_repr(sim):
    await sim.client.auth(end_user_ip=IP, requirement=Requirement(personal_number=BJORN))
    (order, _state), = sim.app.state.simulator.pending_orders()
    assert BJORN not in repr(order)
