"""The BankID phone authenticator on its own: what it sends, and how every BankID outcome maps
to a neutral result (and so to a CIBA answer)."""

import json

import httpx
import pytest

from idp.authn import Authentication, BackchannelRequest, Failure, FailureReason, Pending
from idp.bankid import BankIDClient
from idp.bankid.phone import ACR_PHONE, PhoneAuthenticator
from idp.bankid.simulator import Fault, create_simulator_app
from idp.clock import FixedClock
from idp.store.memory import MemoryTTLStore
from tests.ciba.harness import AGNES, ANNA, BJORN, STURE, TOVE

pytestmark = pytest.mark.anyio


async def no_sleep(seconds):
    return None


def request(person=ANNA, message=None, **options):
    return BackchannelRequest(
        request_id="r1",
        client_id="cs",
        client_name="Customer service",
        subject="se-pnr:" + person,
        binding_message=message,
        options={"call_initiator": "RP", **options},
    )


@pytest.fixture
async def phone():
    """The authenticator against a simulator, and the simulator's user app."""
    clock = FixedClock()
    sim = create_simulator_app(clock=clock, think_time=0)
    transport = httpx.ASGITransport(app=sim)
    async with (
        BankIDClient("http://sim/rp/v6.0", clock=clock, transport=transport) as client,
        httpx.AsyncClient(transport=transport, base_url="http://sim") as app,
    ):
        authn = PhoneAuthenticator(client, MemoryTTLStore(clock), clock, sleep=no_sleep)
        authn.app, authn.sim_clock = app, clock
        yield authn


def test_login_hints():
    authn = PhoneAuthenticator(None, None, FixedClock())
    assert authn.resolve_login_hint(ANNA) == "se-pnr:" + ANNA
    assert authn.resolve_login_hint("19850101-2382") == "se-pnr:" + ANNA
    assert authn.resolve_login_hint("sub:ssn:" + ANNA) == "se-pnr:" + ANNA
    for bad in ("198501012383", "198513012380", "8501012382", "sub:ssn:x", "", "anna"):
        assert authn.resolve_login_hint(bad) is None


async def test_approved_phone_auth_gives_the_person_and_claims(phone):
    assert await phone.start(request(BJORN, "Ärende 1")) is None
    assert isinstance(await phone.poll("r1"), Pending)  # outstandingTransaction
    await phone.app.post("/app/phone", json={"personalNumber": BJORN})
    result = await phone.poll("r1")
    assert isinstance(result, Authentication)
    assert result.subject == "se-pnr:" + BJORN and result.acr == ACR_PHONE
    assert result.claims["ssn"] == BJORN and result.claims["name"] == "Björn Berglund"
    assert result.claims["birthdate"] == "1972-03-15"
    assert "Björn" not in repr(result.claims.keys())


@pytest.mark.parametrize(
    ("person", "action", "reason"),
    [
        (ANNA, "cancel", FailureReason.CANCELLED),  # userCancel
        (ANNA, "decline_call", FailureReason.DECLINED),  # userDeclinedCall
        (AGNES, "approve", FailureReason.CANCELLED),  # a person who always cancels
        (STURE, "approve", FailureReason.REJECTED),  # certificateErr
    ],
)
async def test_failed_orders_map_to_neutral_reasons(phone, person, action, reason):
    await phone.start(request(person))
    await phone.app.post("/app/phone", json={"personalNumber": person, "action": action})
    assert await phone.poll("r1") == Failure(reason)


async def test_an_order_nobody_acts_on_expires(phone):
    await phone.start(request(TOVE))
    phone.sim_clock.advance(181)  # the simulator's phone-order lifetime
    assert await phone.poll("r1") == Failure(FailureReason.EXPIRED)


async def test_already_in_progress_is_in_progress(phone):
    await phone.start(request(ANNA))
    second = request(ANNA)
    assert await phone.start(second) == Failure(FailureReason.IN_PROGRESS)


async def test_cancel_stops_the_order(phone):
    await phone.start(request(ANNA))
    await phone.cancel("r1")
    r = await phone.app.post("/app/phone", json={"personalNumber": ANNA})
    assert r.status_code == 404


async def test_bankid_maintenance_is_unavailable_after_retries():
    clock = FixedClock()
    sim = create_simulator_app(clock=clock, fault_rate=1.0, faults=(Fault.MAINTENANCE,))
    async with BankIDClient(
        "http://sim/rp/v6.0", clock=clock, transport=httpx.ASGITransport(app=sim)
    ) as client:
        authn = PhoneAuthenticator(client, MemoryTTLStore(clock), clock, sleep=no_sleep)
        assert await authn.start(request()) == Failure(FailureReason.UNAVAILABLE)


class Recorder:
    """A BankID stand-in that records request bodies and answers from a script."""

    def __init__(self, answers):
        self.bodies = []
        self.answers = list(answers)

    def __call__(self, http_request):
        self.bodies.append((http_request.url.path, json.loads(http_request.content)))
        status, body = self.answers.pop(0)
        return httpx.Response(status, json=body)


async def test_wire_fields_call_initiator_and_user_visible_data():
    clock = FixedClock()
    rec = Recorder([(200, {"orderRef": "o1"}), (200, {"orderRef": "o2"})])
    async with BankIDClient(
        "http://bankid/rp/v6.0", clock=clock, transport=httpx.MockTransport(rec)
    ) as client:
        authn = PhoneAuthenticator(client, MemoryTTLStore(clock), clock)
        await authn.start(request(ANNA, "Hej", call_initiator="user"))
        await authn.start(request(BJORN, "Signera", sign=True))
    (path1, body1), (path2, body2) = rec.bodies
    assert path1.endswith("/phone/auth") and body1["callInitiator"] == "user"
    assert body1["personalNumber"] == ANNA and body1["userVisibleData"] == "SGVq"
    assert path2.endswith("/phone/sign") and body2["callInitiator"] == "RP"


async def test_transient_collect_errors_are_tolerated_then_fail():
    clock = FixedClock()
    maintenance = (503, {"errorCode": "maintenance", "details": "down"})
    rec = Recorder([(200, {"orderRef": "o1"})] + [maintenance] * 5)
    async with BankIDClient(
        "http://bankid/rp/v6.0", clock=clock, transport=httpx.MockTransport(rec)
    ) as client:
        authn = PhoneAuthenticator(client, MemoryTTLStore(clock), clock)
        await authn.start(request())
        results = [await authn.poll("r1") for _ in range(5)]
    assert results[:4] == [Pending()] * 4
    assert results[4] == Failure(FailureReason.UNAVAILABLE)


async def test_a_completion_for_another_person_is_refused():
    clock = FixedClock()
    completion = {
        "orderRef": "o1",
        "status": "complete",
        "completionData": {
            "user": {"personalNumber": BJORN, "name": "B B", "givenName": "B", "surname": "B"},
            "device": {"ipAddress": "192.0.2.1"},
            "bankIdIssueDate": "2020-01-01",
            "signature": "c2ln",
            "ocspResponse": "b2NzcA==",
        },
    }
    rec = Recorder([(200, {"orderRef": "o1"}), (200, completion)])
    async with BankIDClient(
        "http://bankid/rp/v6.0", clock=clock, transport=httpx.MockTransport(rec)
    ) as client:
        authn = PhoneAuthenticator(client, MemoryTTLStore(clock), clock)
        await authn.start(request(ANNA))
        assert await authn.poll("r1") == Failure(FailureReason.REJECTED)
