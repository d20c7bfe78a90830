"""The simulator's order book does a bounded amount of work per call however many orders are
live: a load test keeps thousands pending and collects each one every 2 s.

The work is counted, never timed: a counter wrapped around `OrderBook.state` (how the book
looks at an order) and around `OrderBook._forget` (how a purge drops one)."""

import random

import pytest

from idp.bankid.qr import qr_payload
from idp.bankid.simulator.orders import Action, AppError, Kind, OrderBook
from idp.bankid.simulator.persons import TEST_PERSONS
from idp.bankid.simulator.settings import SimulatorSettings
from idp.clock import FixedClock

LIVE = 10_000
IP = "192.0.2.10"
ANNA = TEST_PERSONS[0].personal_number
BJORN = TEST_PERSONS[1].personal_number


class Counted:
    """An order book whose looks at orders are counted: `touched` holds each order's ref as
    often as the book evaluated its state, `forgotten` the refs a purge dropped."""

    def __init__(self, clock: FixedClock, **settings) -> None:
        self.clock = clock
        self.book = OrderBook(SimulatorSettings(**settings), clock, random.Random(7))
        self.touched: list[str] = []
        self.forgotten: list[str] = []
        state, forget = self.book.state, self.book._forget

        def counting_state(order, now):
            self.touched.append(order.order_ref)
            return state(order, now)

        def counting_forget(order):
            self.forgotten.append(order.order_ref)
            forget(order)

        self.book.state = counting_state
        self.book._forget = counting_forget

    def reset(self) -> None:
        self.touched.clear()
        self.forgotten.clear()


def fill(counted: Counted, n: int, step: float = 0.0) -> list:
    orders = []
    for _ in range(n):
        orders.append(counted.book.create(Kind.AUTH, end_user_ip=IP, required_personal_number=None))
        counted.clock.advance(step)
    counted.reset()
    return orders


def frame(order, clock) -> str:
    return qr_payload(
        order.qr_start_token, order.qr_start_secret, int(clock.now() - order.created_at)
    )


def test_every_call_looks_at_a_bounded_number_of_orders_among_ten_thousand_live_ones():
    c = Counted(FixedClock())
    live = fill(c, LIVE)
    book, bound = c.book, 4  # the order itself, and a clash or two for the same person

    def check(what: str) -> None:
        assert len(c.touched) <= bound, (what, len(c.touched))
        assert c.forgotten == [], what
        c.reset()

    order = book.find(live[-1].order_ref)
    book.collect(order)
    check("collect")
    assert book.cancel(book.find(live[0].order_ref))
    check("cancel")
    new = book.create(Kind.AUTH, end_user_ip=IP, required_personal_number=None)
    check("auth")
    book.create(Kind.SIGN, end_user_ip=IP, required_personal_number=ANNA)
    check("sign for a named person")
    book.create(Kind.PHONE_AUTH, end_user_ip=None, required_personal_number=BJORN)
    check("phone/auth")
    assert book.phone(BJORN, Action.APPROVE, IP).flow == "phone"
    check("the phone app")
    assert book.scan(frame(live[5], c.clock), None, Action.APPROVE, IP).outcome == "complete"
    check("a QR scan")
    assert book.autostart(new.auto_start_token, None, Action.CANCEL, IP).outcome == "userCancel"
    check("autostart")
    assert book.act(live[6].order_ref, BJORN, Action.APPROVE, IP).outcome == "complete"
    check("the human page's act")
    with pytest.raises(AppError):
        book.autostart("no-such-token", None, Action.APPROVE, IP)
    check("an unknown token")
    assert len(book._orders) == LIVE + 3


def test_a_purge_drops_the_orders_that_are_due_and_looks_at_no_other():
    c = Counted(FixedClock())
    live = fill(c, LIVE, step=0.01)  # created 10 ms apart
    book = c.book
    first = live[0].created_at
    # Unpicked orders fail after start_timeout (30 s) and are kept for failed_retention (300 s).
    c.clock.set(first + 330 + 0.055)  # past the retention of the first six (0 .. 50 ms)
    assert book.find(live[-1].order_ref) is not None
    assert c.forgotten == [o.order_ref for o in live[:6]]
    assert len(c.touched) == 0
    assert len(book._orders) == LIVE - 6
    assert book.was_issued(live[0].order_ref) and not book.was_issued(live[6].order_ref)
    c.reset()
    c.clock.advance(0.02)  # two more are due
    book.collect(book.find(live[-1].order_ref))
    assert c.forgotten == [live[6].order_ref, live[7].order_ref] and len(c.touched) <= 1


def test_a_changed_timeline_moves_the_order_forward_in_the_purge():
    """Picked up or cancelled, an order is forgotten its retention after its final state,
    not when the untouched order would have been."""
    c = Counted(FixedClock())
    book = c.book
    cancelled, scanned, untouched = fill(c, 3)
    c.clock.advance(5)
    book.cancel(cancelled)  # failed/cancelled at +5: forgotten after +305
    book.scan(frame(scanned, c.clock), None, Action.APPROVE, IP)  # complete at +6: after +186
    c.clock.advance(181)  # +186
    book.find(untouched.order_ref)
    assert c.forgotten == []
    c.clock.advance(0.5)
    book.find(untouched.order_ref)
    assert c.forgotten == [scanned.order_ref]
    c.clock.advance(305 - 186)  # +305.5
    book.find(untouched.order_ref)
    assert c.forgotten == [scanned.order_ref, cancelled.order_ref]
    c.clock.advance(330 - 305)  # +330.5: the untouched one failed at +30 (startFailed)
    assert book.find(untouched.order_ref) is None and book.was_issued(untouched.order_ref)


def test_a_persons_ended_orders_do_not_pile_up_in_the_person_index():
    c = Counted(FixedClock(), think_time=0)
    book = c.book
    for _ in range(50):
        order = book.create(Kind.PHONE_AUTH, end_user_ip=None, required_personal_number=BJORN)
        book.phone(BJORN, Action.APPROVE, IP)
        assert book.collect(order).status == "complete"
        c.clock.advance(1)
    c.reset()
    book.create(Kind.PHONE_AUTH, end_user_ip=None, required_personal_number=BJORN)
    assert len(c.touched) <= 1  # one ended order looked at once, not fifty
    assert len(book._orders) == 51


@pytest.mark.anyio
async def test_stats_count_rp_calls_and_collects_per_order(sim):
    first = await sim.client.auth(end_user_ip=IP)
    second = await sim.client.auth(end_user_ip=IP)
    for gap in (2.5, 2.0, 0):
        await sim.client.collect(first.order_ref)
        sim.clock.advance(gap)
    await sim.client.collect(second.order_ref)
    await sim.client.cancel(second.order_ref)
    response = await sim.http.get("/stats")
    assert response.status_code == 200
    assert response.json() == {
        "calls": {"auth": 2, "collect": 4, "cancel": 1},
        "orders": 2,
        "collects": {first.order_ref: 3, second.order_ref: 1},
        "shortestCollectGap": {first.order_ref: 2.0},
    }
