"""Back-channel logout with two instances sharing the machine's Redis (and one database): a
session used through both, ended through one, reaches each client once, with a receiver that
fails its first attempt; and the store's due queue hands each delivery to one caller."""

import contextlib

import anyio
import pytest

from idp.clock import FixedClock
from idp.oidc import backchannel
from idp.store.memory import MemoryTTLStore
from idp.store.redis import RedisTTLStore
from tests.oidc.test_backchannel_logout import (
    Receivers,
    bcl_settings,
    check_logout_token,
    id_token,
    logout,
    provider,
)
from tests.services import REDIS_URL
from tests.services import redis_prefix as shared_prefix

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


@pytest.fixture
async def redis_prefix():
    async with shared_prefix("bcl") as prefix:
        yield prefix


async def deliver_on_both(a, b) -> None:
    """Both instances' workers look for due deliveries at the same moment."""
    async with anyio.create_task_group() as tg:
        for h in (a, b, a, b):
            tg.start_soon(h.app.state.backchannel_logout.deliver_due)


async def test_two_instances_deliver_each_logout_token_once_with_a_retry(
    oidc_settings, redis_prefix
):
    settings = bcl_settings(oidc_settings)
    receivers = Receivers()
    receivers.answers["rp-b.example"] = [503]  # the first attempt fails
    clock = FixedClock()
    async with contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            provider(
                settings,
                receivers,
                clock=clock,
                store=RedisTTLStore.from_url(REDIS_URL, prefix=redis_prefix),
            )
        )
        b = await stack.enter_async_context(
            provider(
                settings,
                receivers,
                clock=clock,
                store=RedisTTLStore.from_url(REDIS_URL, prefix=redis_prefix),
            )
        )
        id_a = await id_token(a, "bcl-a")  # logs in through instance a
        b.http.cookies.update(a.http.cookies)  # the same browser, behind a load balancer
        id_b = await id_token(b, "bcl-b")  # single sign-on through instance b
        assert len(b.authn.started) == 0
        await logout(b, id_a["raw"])  # ended through instance b
        await deliver_on_both(a, b)
        assert len(receivers.tokens("rp-a.example")) == 1
        assert len(receivers.tokens("rp-b.example")) == 1  # the failed attempt
        await deliver_on_both(a, b)  # not due again before the pause
        assert len(receivers.received) == 2
        clock.advance(backchannel.BACKOFF)
        await deliver_on_both(a, b)
        (token_a,) = receivers.tokens("rp-a.example")
        failed, token_b = receivers.tokens("rp-b.example")
        await check_logout_token(a, token_a, "bcl-a", id_a)
        claims_b = await check_logout_token(b, token_b, "bcl-b", id_b)
        assert (await check_logout_token(b, failed, "bcl-b", id_b))["jti"] == claims_b["jti"]
        # Delivered once: nothing more, on either instance, for the rest of its lifetime.
        for _ in range(3):
            clock.advance(backchannel.LIFETIME / 3)
            await deliver_on_both(a, b)
        assert len(receivers.received) == 3


@pytest.fixture(params=["memory", "redis"])
async def queue(request):
    clock = FixedClock()
    if request.param == "memory":
        yield MemoryTTLStore(clock), clock
        return
    async with shared_prefix("bcl") as prefix:
        store = RedisTTLStore.from_url(REDIS_URL, prefix=prefix)
        try:
            yield store, clock
        finally:
            await store.close()


async def test_the_due_queue_hands_each_entry_to_one_caller(queue):
    store, clock = queue
    now = clock.now()
    for i in range(30):
        assert await store.schedule("job", f"k{i}", {"n": i}, 600, now + (i % 3))
    assert not await store.schedule("job", "k0", {"n": -1}, 600, now)  # once per key
    claims: list[list] = []

    async def claim():
        claims.append(await store.claim_due("job", now + 1, now + 30, 7))

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(claim)
    got = [key for batch in claims for key, _ in batch]
    assert sorted(got) == sorted(f"k{i}" for i in range(30) if i % 3 < 2)  # each once
    assert sorted(await store.claim_due("job", now + 29, now + 60, 100)) == sorted(
        (f"k{i}", {"n": i}) for i in range(30) if i % 3 == 2
    )
    # A failed attempt: a new value, due later; a finished entry is gone.
    assert await store.reschedule("job", "k0", {"n": 0, "attempts": 1}, now + 45)
    await store.finish("job", "k1")
    assert await store.get("job", "k1") is None
    due = dict(await store.claim_due("job", now + 45, now + 90, 100))
    assert due["k0"] == {"n": 0, "attempts": 1} and "k1" not in due
    assert not await store.reschedule("job", "k1", {"n": 1}, now)
    # An entry that expired leaves the queue.
    await store.schedule("job", "short", {"n": 0}, 1, now)
    if isinstance(store, MemoryTTLStore):
        clock.advance(2)
    else:
        await store.delete("job", "short")
    assert "short" not in dict(await store.claim_due("job", now + 1000, now + 2000, 100))
