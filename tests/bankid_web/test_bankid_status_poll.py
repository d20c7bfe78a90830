"""The status poll of a waiting page: the QR frame as text (the page draws it; never the
qrStartSecret) with the next frames ahead, when to poll next (just past the next collect: a QR
page has its frames ahead and needs an answer only for the order's state, which changes only
with a collect), and the collect lease tried only when a collect is due, so most polls write
nothing. A fixed clock makes every number exact; nothing here measures wall-clock time."""

from __future__ import annotations

import collections
import re

import pytest

from idp.bankid.authenticator import FRAMES_AHEAD, POLL_MAX_MS, POLL_MAX_QR_MS
from idp.bankid.orders import COLLECT_INTERVAL, LEASE
from idp.bankid.qr import parse_qr_payload, qr_payload
from idp.store.memory import MemoryTTLStore
from tests.bankid_web.conftest import build_app
from tests.bankid_web.support import Browser, order_record, poll_until, scan

pytestmark = pytest.mark.anyio

ACR_QR = "urn:grn:authn:se:bankid:qr"
ACR_SAME = "urn:grn:authn:se:bankid:same-device"
WRITES = ("put", "update", "add", "claim", "incr", "consume", "delete")


class CountingStore(MemoryTTLStore):
    """The in-process store, counting its operations (and `add` by kind)."""

    def __init__(self, clock):
        super().__init__(clock)
        self.ops: collections.Counter[str] = collections.Counter()
        self.adds: collections.Counter[str] = collections.Counter()

    async def get(self, kind, key):
        self.ops["get"] += 1
        return await super().get(kind, key)

    async def get_many(self, items):
        self.ops["get_many"] += 1
        return await super().get_many(items)

    async def get_linked(self, kind, key, field, kinds):
        self.ops["get_linked"] += 1
        return await super().get_linked(kind, key, field, kinds)

    async def get_linked_claim(self, kind, key, field, kinds, claim):
        """Counted as a read, and as a write ("claim", and `adds` of its kind) when it took
        the lease."""
        self.ops["get_linked_claim"] += 1
        value, linked, claimed = await super().get_linked_claim(kind, key, field, kinds, claim)
        if claimed:
            self.ops["claim"] += 1
            self.adds[claim.kind] += 1
        return value, linked, claimed

    async def put(self, kind, key, value, ttl, *, grant_id=None):
        self.ops["put"] += 1
        return await super().put(kind, key, value, ttl, grant_id=grant_id)

    async def update(self, kind, key, value):
        self.ops["update"] += 1
        return await super().update(kind, key, value)

    async def add(self, kind, key, value, ttl):
        self.ops["add"] += 1
        self.adds[kind] += 1
        return await super().add(kind, key, value, ttl)

    def writes(self) -> int:
        return sum(self.ops[w] for w in WRITES)


@pytest.fixture
async def counted(settings, clock):
    store = CountingStore(clock)
    application = build_app(settings, clock, store)
    async with application.router.lifespan_context(application):
        yield application, store


async def test_the_status_carries_the_frame_text_of_the_clock_never_the_secret(app, clock):
    b = Browser(app)
    page = await b.open_login(acr_values=ACR_QR)
    rec = await order_record(app, b)
    start = rec["received_at"]
    first = re.search(r'data-qr="([^"]+)"', page.text)[1]
    assert first == qr_payload(rec["qr_start_token"], rec["qr_start_secret"], 0)
    for elapsed, t in ((0.0, 0), (0.5, 0), (0.999, 0), (1.0, 1), (2.5, 2), (7.25, 7)):
        clock.set(start + elapsed)
        r = await b.status()
        s = r.json()
        assert s["state"] == "pending" and s["rfa"] == "RFA1"
        assert s["qr"] == qr_payload(rec["qr_start_token"], rec["qr_start_secret"], t)
        assert parse_qr_payload(s["qr"]).t == t
        assert rec["qr_start_secret"] not in r.text and rec["order_ref"] not in r.text
        assert r.headers["cache-control"] == "no-store"


async def test_next_poll_ms_of_a_qr_code_is_just_past_the_next_collect(app, clock):
    """The frames come ahead, so a QR page polls for the order's state: just past the next
    collect (30 ms margin), at most two seconds away; no poll for a frame."""
    assert POLL_MAX_QR_MS == COLLECT_INTERVAL * 1000 == 2000
    b = Browser(app)
    page = await b.open_login(acr_values=ACR_QR)  # the page view collects at the order's t=0
    start = (await order_record(app, b))["received_at"]
    assert 'data-next-poll-ms="2000"' in page.text  # the next collect: 2 s (+30 ms, at most 2 s)

    async def next_poll_at(elapsed: float) -> int:
        clock.set(start + elapsed)
        return (await b.status()).json()["next_poll_ms"]

    assert await next_poll_at(0.25) == 1780  # the collect is due at 2.0 s; 30 ms margin
    assert await next_poll_at(0.9) == 1130  # not at the frame at 1.0 s: the page has it
    assert await next_poll_at(1.5) == 530
    assert await next_poll_at(1.9) == 200  # never sooner than 200 ms
    # At 2.05 s this poll collects; the next collect is due at 4.05 s.
    assert await next_poll_at(2.05) == 2000
    assert await next_poll_at(3.5) == 580
    assert await next_poll_at(4.2) == 2000  # collects; the next is due at 6.2 s
    assert await next_poll_at(5.5) == 730


async def test_a_qr_answer_has_frames_until_past_its_next_poll(app, clock):
    """Each QR answer's frames run, without a gap, from the current second to at least a
    second past the poll it asks for. A page polling when told (each answer late by some
    network time, so polls come at every phase of the order's second, just before a frame
    changes too) collects at every poll: every 2 s plus that delay, never sooner."""
    b = Browser(app)
    page = await b.open_login(acr_values=ACR_QR)  # collects at the order's t=0
    start = (await order_record(app, b))["received_at"]
    wait = int(re.search(r'data-next-poll-ms="(\d+)"', page.text)[1])
    elapsed, collected_at = 0.0, 0.0
    for late in (0.0, 0.001, 0.37, 0.999, 0.5, 0.9996, 0.25, 0.75, 0.03, 0.0):  # 24 s of 30
        elapsed += wait / 1000 + late
        clock.set(start + elapsed)
        calls = app.state.link.calls["collect"]
        s = (await b.status()).json()
        assert s["state"] == "pending"
        assert app.state.link.calls["collect"] == calls + 1
        assert elapsed - collected_at >= COLLECT_INTERVAL
        collected_at = elapsed
        t = int(elapsed)
        frames = [f["t"] for f in s["frames"]]
        assert frames == list(range(t, t + 1 + FRAMES_AHEAD))
        assert s["elapsed_ms"] == round(elapsed * 1000)
        wait = s["next_poll_ms"]
        assert 200 <= wait <= POLL_MAX_QR_MS
        # The last frame shows until the second after it: past the next poll + 1 s.
        assert (frames[-1] + 1) * 1000 >= s["elapsed_ms"] + wait + 1000


async def test_next_poll_ms_without_a_qr_code_follows_the_collect(app, clock):
    b = Browser(app)
    await b.open_login(acr_values=ACR_SAME)  # collected at t=0
    start = (await order_record(app, b))["received_at"]
    clock.set(start + 0.5)
    s = (await b.status()).json()
    assert s["qr"] is None and s["next_poll_ms"] == 1000  # due at 2 s: more than a second away
    clock.set(start + 1.2)
    assert (await b.status()).json()["next_poll_ms"] == 830  # just past the collect at 2 s


async def test_a_final_order_polls_at_a_second(app, clock):
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    await scan(app, b, action="cancel")
    s = await poll_until(b, clock, "failed")
    assert s["qr"] is None and s["next_poll_ms"] == 1000


async def test_the_lease_is_tried_only_when_a_collect_is_due(counted, clock):
    app, store = counted
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    start = (await order_record(app, b))["received_at"]
    assert store.adds[LEASE] == 1 and app.state.link.calls["collect"] == 1  # the page view
    for tenth in range(5, 101, 5):  # every half second for ten seconds
        clock.set(start + tenth / 10)
        before = store.writes()
        assert (await b.status()).status_code == 200
        due = tenth % 20 == 0  # at 2, 4, 6, 8, 10 s
        assert store.writes() - before == (2 if due else 0)  # lease + record, or nothing
    assert store.adds[LEASE] == 6 and app.state.link.calls["collect"] == 6
    # Each due poll took the lease in its one read (get_linked_claim), not in a second call.
    assert store.ops["claim"] == 5 and store.ops["add"] == 1  # the add: the page view's


async def test_a_poll_between_collects_is_two_reads_and_no_write(counted, clock):
    app, store = counted
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    clock.advance(0.5)
    store.ops.clear()
    assert (await b.status()).status_code == 200
    # Our login record with its order and final result, in one round trip; no lease (not due).
    assert store.ops == {"get_linked_claim": 1}


async def test_a_due_poll_that_loses_the_lease_does_not_collect(counted, clock):
    """Another instance holds the lease (it is collecting right now, its record not yet
    written): the record says due, the lease says no, and the lease wins."""
    app, store = counted
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    login = await store.get("bankid_login", b.txn)
    clock.advance(2)
    assert await store.add(LEASE, login["oid"], {}, 2.0)  # the other instance's lease
    calls = app.state.link.calls["collect"]
    s = (await b.status()).json()
    assert s["state"] == "pending"
    assert app.state.link.calls["collect"] == calls
    # The collect is overdue (running elsewhere): ask again in a second, not at once.
    assert s["next_poll_ms"] == POLL_MAX_MS
