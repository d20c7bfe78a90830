"""What the BankID integration tells its observers (metrics): every call with its result, the
lag of each collect, and logins started, completed and failed by path; and an outage is logged
once per burst, not once per request."""

import logging

import httpx
import pytest

from idp.authn import BackchannelRequest, FailureReason
from idp.bankid.client import BankIDClient
from idp.bankid.launch import Platform
from idp.bankid.messages import Flow
from idp.bankid.orders import LoginOrders
from idp.bankid.phone import PhoneAuthenticator
from idp.bankid.qr import elapsed_seconds, qr_payload
from idp.bankid.simulator import Fault
from idp.clock import FixedClock
from idp.store.memory import MemoryTTLStore
from tests.bankid.conftest import BASE

pytestmark = pytest.mark.anyio

ANNA = "198501012382"
AGNES_CANCELS = "196006072414"


class Recorder:
    def __init__(self):
        self.events = []

    def bankid_call(self, endpoint, result, seconds):
        assert seconds is None or seconds >= 0
        self.events.append(("call", endpoint, result))

    def collect_lag(self, seconds):
        self.events.append(("lag", round(seconds, 3)))

    def login_started(self, path):
        self.events.append(("started", path))

    def login_completed(self, path):
        self.events.append(("completed", path))

    def login_failed(self, path, reason):
        self.events.append(("failed", path, reason))

    def of(self, kind):
        return [e for e in self.events if e[0] == kind]


class Broken:
    def __getattr__(self, name):
        def boom(*args):
            raise RuntimeError("observer bug")

        return boom


async def no_sleep(seconds):
    return None


def orders_for(sim, clock, recorder):
    sim.client.observers.extend([Broken(), recorder])  # a broken observer changes nothing
    return LoginOrders(sim.client, MemoryTTLStore(clock), clock, ttl=600, sleep=no_sleep)


async def start(orders, flow=Flow.QR):
    return await orders.start(
        txn="t",
        binding="b",
        flow=flow,
        platform=Platform.DESKTOP,
        end_user_ip="192.0.2.1",
        personal_number=None,
        return_url=None,
        web=None,
    )


async def test_a_qr_login_reports_its_calls_lag_start_and_completion(make_sim, clock, caplog):
    sim = make_sim(think_time=3)
    recorder = Recorder()
    orders = orders_for(sim, clock, recorder)
    oid = await start(orders)
    snap = await orders.poll(oid)
    rec = snap.record
    t = elapsed_seconds(rec["received_at"], clock.now())
    qr = qr_payload(rec["qr_start_token"], rec["qr_start_secret"], t)
    scan = {"qr": qr, "personalNumber": ANNA}
    assert (await sim.app_call("scan", scan)).status_code == 200
    clock.advance(2.5)  # due after 2 s, ran 0.5 s late
    await orders.poll(oid)
    clock.advance(3)
    assert (await orders.poll(oid)).completion is not None
    assert recorder.of("started") == [("started", "qr")]
    assert recorder.of("completed") == [("completed", "qr")]
    assert recorder.of("call") == [("call", "auth", "ok")] + [("call", "collect", "ok")] * 3
    assert recorder.of("lag") == [("lag", 0.5), ("lag", 1.0)]  # never the first collect
    assert "observer bug" not in caplog.text  # logged by class name only
    assert any("BankID observer" in r.getMessage() for r in caplog.records)


async def test_a_cancelled_login_fails_once_with_its_neutral_reason(sim, clock):
    recorder = Recorder()
    orders = orders_for(sim, clock, recorder)
    oid = await start(orders, Flow.SAME_DEVICE)
    await orders.poll(oid)
    await orders.cancel(oid)
    await orders.cancel(oid)
    assert recorder.of("failed") == [("failed", "same_device", FailureReason.CANCELLED)]


async def test_bankid_errors_are_reported_by_error_code(make_sim, clock):
    sim = make_sim(fault_rate=1.0, faults=(Fault.MAINTENANCE,))
    recorder = Recorder()
    orders = orders_for(sim, clock, recorder)
    snap = await orders.get(await start(orders))
    assert snap.message_key == "RFA5"
    assert recorder.of("call") == [("call", "auth", "maintenance")] * 3  # retried quietly
    assert recorder.of("failed") == [("failed", "qr", FailureReason.UNAVAILABLE)]


async def test_a_phone_login_reports_start_lag_and_outcome(sim, clock):
    recorder = Recorder()
    sim.client.observers.append(recorder)
    phone = PhoneAuthenticator(sim.client, MemoryTTLStore(clock), clock, sleep=no_sleep)
    request = BackchannelRequest("r1", "cs", "CS", f"se-pnr:{AGNES_CANCELS}", "Hej")
    assert await phone.start(request) is None
    await phone.poll("r1")
    assert (await sim.app_call("phone", {"personalNumber": AGNES_CANCELS})).status_code == 200
    clock.advance(2)
    await phone.poll("r1")  # due now: no lag; the person cancelled
    assert recorder.of("started") == [("started", "phone")]
    assert recorder.of("failed") == [("failed", "phone", FailureReason.CANCELLED)]
    assert recorder.of("lag") == [("lag", 0.0)]
    expiring = BackchannelRequest("r2", "cs", "CS", f"se-pnr:{ANNA}", None)
    assert await phone.start(expiring) is None
    await phone.cancel("r2")  # the core gave up: the request expired
    assert recorder.of("failed")[-1] == ("failed", "phone", FailureReason.EXPIRED)


def unreachable(request):
    raise httpx.ConnectError("connection refused")


async def test_an_outage_is_logged_once_per_burst_and_every_login_shows_rfa5(caplog):
    clock = FixedClock()
    answers = {"down": True}

    def transport(request):
        if answers["down"]:
            return unreachable(request)
        return httpx.Response(
            200,
            json={
                "orderRef": "o1",
                "autoStartToken": "a",
                "qrStartToken": "q",
                "qrStartSecret": "s",
            },
        )

    client = BankIDClient(f"{BASE}/rp/v6.0", clock=clock, transport=httpx.MockTransport(transport))
    recorder = Recorder()
    client.observers.append(recorder)
    orders = LoginOrders(client, MemoryTTLStore(clock), clock, ttl=600, sleep=no_sleep)
    caplog.set_level(logging.DEBUG, logger="idp.bankid")

    def outage_lines():
        return [r for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith("idp")]

    for _ in range(20):
        snap = await orders.get(await start(orders))
        assert snap.message_key == "RFA5" and snap.reason is FailureReason.UNAVAILABLE
    (warning,) = outage_lines()
    assert warning.levelno == logging.WARNING and "BankID unavailable" in warning.getMessage()
    assert "BankIDConnectionError on auth" in warning.getMessage()
    assert {e[2] for e in recorder.of("call")} == {"connection"}

    answers["down"] = False
    clock.advance(42)
    await start(orders)
    await start(orders)
    back = outage_lines()[1:]
    assert [r.getMessage() for r in back] == [
        "BankID answers again after 60 failed call(s) over 42 s"
    ]
    answers["down"] = True
    await start(orders)
    assert len(outage_lines()) == 3  # a new burst: one more warning
    await client.aclose()
