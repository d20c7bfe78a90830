"""BankID `collect` runs at most once per 2 s per order, however many browser polls and
instances there are, and stops at the first final status; the result is stored once
(reference 6 and 2.4). A fixed clock makes this exact; nothing here measures wall-clock time."""

import anyio
import httpx
import pytest

from idp.bankid.client import BankIDClient
from idp.bankid.launch import Platform
from idp.bankid.messages import Flow
from idp.bankid.orders import FINAL, LoginOrders
from idp.store.memory import MemoryTTLStore
from tests.bankid_web.conftest import SimulatorLink, build_app
from tests.bankid_web.support import Browser, poll_until, query, scan

pytestmark = pytest.mark.anyio

ACR_QR = "urn:grn:authn:se:bankid:qr"
SIM_URL = "http://sim.test/bankid-simulator/rp/v6.0"


async def test_many_polls_in_one_second_make_one_collect(app, clock):
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)  # the page view collects once
    calls = app.state.link.calls
    assert calls["collect"] == 1
    for _ in range(50):
        assert (await b.status()).status_code == 200
    assert calls["collect"] == 1
    clock.advance(1.9)
    await b.status()
    assert calls["collect"] == 1
    clock.advance(0.1)
    for _ in range(10):
        await b.status()
    assert calls["collect"] == 2


async def test_concurrent_polls_share_one_collect(app, clock):
    browsers = []
    for i in range(20):
        b = Browser(app, ip=f"203.0.113.{i + 10}")
        await b.open_login(acr_values=ACR_QR)
        browsers.append(b)
    app.state.link.calls.clear()
    clock.advance(2)

    async def hammer(b):
        for _ in range(5):
            await b.status()

    async with anyio.create_task_group() as tg:
        for b in browsers:
            for _ in range(4):
                tg.start_soon(hammer, b)
    assert app.state.link.calls["collect"] == len(browsers)  # one per order, not 20 per order


async def test_instances_sharing_a_store_share_the_throttle(settings, clock):
    store = MemoryTTLStore(clock)
    link = SimulatorLink()
    one = build_app(settings, clock, store, link=link)
    two = build_app(settings, clock, store, link=SimulatorLink())
    two.state.link.app = one  # both instances use the simulator of instance one
    async with one.router.lifespan_context(one), two.router.lifespan_context(two):
        b = Browser(one)
        await b.open_login(acr_values=ACR_QR)
        same_browser_other_instance = Browser(two)
        same_browser_other_instance.http.cookies = b.http.cookies
        same_browser_other_instance.txn = b.txn
        total = lambda: link.calls["collect"] + two.state.link.calls["collect"]  # noqa: E731
        for second in range(10):
            for _ in range(3):
                await b.status()
                await same_browser_other_instance.status()
            assert total() == 1 + second // 2  # at t0 (page view), t0+2, t0+4, ...
            clock.advance(1)
        r = await same_browser_other_instance.status()
        assert r.json()["qr"], r.text


async def test_collect_stops_at_the_first_final_status_and_the_result_is_stored_once(app, clock):
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    await scan(app, b)
    done = await poll_until(b, clock, "complete")
    calls = app.state.link.calls["collect"]
    for _ in range(10):
        clock.advance(2)
        assert (await b.status()).json()["state"] == "complete"
    assert app.state.link.calls["collect"] == calls
    login = await app.state.runtime.store.get("bankid_login", b.txn)
    final = await app.state.runtime.store.get(FINAL, login["oid"])
    # Stored sealed (issue 14: personal data at rest); the order reads it back.
    assert isinstance(final["completion"], str) and "Anna" not in final["completion"]
    assert "code" in query(await b.finish(done))


async def test_a_failed_order_is_never_collected_again(app, clock):
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    await scan(app, b, action="cancel")
    await poll_until(b, clock, "failed")
    calls = app.state.link.calls["collect"]
    clock.advance(30)
    await b.status()
    assert app.state.link.calls["collect"] == calls


async def test_the_throttle_itself_with_a_fixed_clock(app, clock):
    """LoginOrders without pages: 100 concurrent polls of one order are one collect."""
    link = app.state.link
    client = BankIDClient(SIM_URL, clock=clock, transport=link)
    orders = LoginOrders(client, MemoryTTLStore(clock), clock, ttl=600)
    oid = await start_order(orders)
    link.calls.clear()
    for _round in range(5):
        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(orders.poll, oid)
        clock.advance(2)
    assert link.calls["collect"] == 5
    await client.aclose()


class GatedLink(httpx.AsyncBaseTransport):
    """The simulator's link, with every `collect` held until `gate` is set (a slow BankID)."""

    def __init__(self, link):
        self.link = link
        self.gate = anyio.Event()

    async def handle_async_request(self, request):
        if request.url.path.endswith("/collect"):
            await self.gate.wait()
        return await self.link.handle_async_request(request)


async def start_order(orders: LoginOrders) -> str:
    return await orders.start(
        txn="t",
        binding="b",
        flow=Flow.QR,
        platform=Platform.DESKTOP,
        end_user_ip="192.0.2.1",
        personal_number=None,
        return_url=None,
        web=None,
    )


async def test_a_slow_collect_does_not_hold_up_the_poll_that_started_it(app, clock):
    """Over the network, a poll waits `collect_wait` for the collect it started, then answers
    with the order as stored; the collect finishes on its own, under the same lease, and the
    next poll sees what it stored. No poll in between starts another collect."""
    gated = GatedLink(app.state.link)
    client = BankIDClient(SIM_URL, clock=clock, transport=gated)
    orders = LoginOrders(client, MemoryTTLStore(clock), clock, ttl=600, collect_wait=0.0)
    oid = await start_order(orders)
    snap = await orders.poll(oid)  # the collect is due at once, and BankID does not answer
    # The answer is the order as stored, as of a collect begun now: the page comes back at
    # the usual cadence (2 s with a QR code), not sooner. Nothing of that is stored yet.
    assert snap is not None and snap.final is None and snap.record["collected_at"] == clock.now()
    assert orders.collect_due_at(snap) == clock.now() + 2
    stored = await orders.get(oid)
    assert stored is not None and "collected_at" not in stored.record
    for _ in range(5):
        await orders.poll(oid)  # the lease is held: no second collect is started
    clock.advance(3)
    await orders.poll(oid)  # the lease expired, but this process still waits for BankID
    assert len(orders._background) == 1
    gated.gate.set()
    await orders.settle()
    assert app.state.link.calls["collect"] == 1
    stored = await orders.get(oid)
    # The next collect counts from BankID's answer (3 s after the request left), not from
    # when it was sent: a late request is never followed by the next within the interval.
    assert stored is not None and stored.record["collected_at"] == clock.now()
    assert orders.collect_due_at(stored) == clock.now() + 2
    assert stored.record["hint"] == "outstandingTransaction"
    await client.aclose()


async def test_a_collect_that_answers_in_time_is_the_polls_answer(app, clock):
    client = BankIDClient(SIM_URL, clock=clock, transport=app.state.link)
    orders = LoginOrders(client, MemoryTTLStore(clock), clock, ttl=600, collect_wait=60.0)
    oid = await start_order(orders)
    snap = await orders.poll(oid)
    assert snap is not None and snap.record["collected_at"] == clock.now()
    assert not orders._background
    await client.aclose()
