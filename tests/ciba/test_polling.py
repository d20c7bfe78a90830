"""Polling rules of the token endpoint with a fixed clock: interval, slow_down and its growth,
expired_token; the authenticator is followed once per request at its own cadence."""

import anyio
import pytest

from idp.clock import FixedClock
from idp.store.memory import MemoryTTLStore
from tests.asgi import app_client
from tests.ciba.conftest import build_app
from tests.ciba.fake_backchannel import FakeBackchannel
from tests.ciba.harness import ISSUER, CibaHarness, error_of

pytestmark = pytest.mark.anyio


@pytest.fixture
async def core(ciba_settings):
    clock = FixedClock()
    fake = FakeBackchannel(clock)
    app = build_app(ciba_settings, clock, backchannel=fake)
    async with app_client(app, base_url=ISSUER) as http:
        h = CibaHarness(http, clock, app)
        h.fake = fake
        yield h


async def wait_for(predicate):
    with anyio.fail_after(5):
        while not predicate():  # noqa: ASYNC110 - watching another task's counters
            await anyio.sleep(0.01)


async def test_slow_down_when_polling_faster_than_the_interval_and_the_interval_grows(core):
    ack = await core.start(login_hint="person-1")
    rid, interval = ack["auth_req_id"], ack["interval"]
    assert interval == 5

    async def poll():
        return (await core.token(rid)).json()["error"]

    assert await poll() == "authorization_pending"  # t=0: the first poll is never too early
    core.clock.advance(1)
    assert await poll() == "slow_down"  # t=1: 1 s < 5 s; the interval is now 10 s
    core.clock.advance(9)
    assert await poll() == "slow_down"  # t=10: 9 s after the last poll < 10 s; now 15 s
    core.clock.advance(15)
    assert await poll() == "authorization_pending"  # t=25: waited the grown 15 s
    core.clock.advance(14.5)
    assert await poll() == "slow_down"  # t=39.5: 14.5 s < 15 s; now 20 s
    core.clock.advance(20)
    assert await poll() == "authorization_pending"  # t=59.5


async def test_polling_at_the_interval_never_gets_slow_down(core):
    ack = await core.start(login_hint="person-1", requested_expiry="100")
    for _ in range(10):
        error_of(await core.token(ack["auth_req_id"]), 400, "authorization_pending")
        core.clock.advance(5)


async def test_a_result_is_handed_out_even_to_a_fast_poll(core):
    """slow_down is a variant of authorization_pending: once there is a result, it is given."""
    ack = await core.start(login_hint="person-1")
    error_of(await core.token(ack["auth_req_id"]), 400, "authorization_pending")
    core.fake.approve(core.fake.only())
    await core.settle(ack["auth_req_id"])
    assert (await core.token(ack["auth_req_id"])).status_code == 200  # 2 s after the last poll


async def test_expired_token_after_expires_in_and_the_authentication_is_cancelled(core):
    ack = await core.start(login_hint="person-1")
    rid = ack["auth_req_id"]
    core.clock.advance(ack["expires_in"] - 1)
    error_of(await core.token(rid), 400, "authorization_pending")
    core.clock.advance(1)
    error_of(await core.token(rid), 400, "expired_token")
    core.clock.advance(2)  # the follower's next beat notices
    await wait_for(lambda: core.fake.cancelled == [core.fake.only()])
    assert await core.status(rid) == "expired"
    # A result that comes too late changes nothing.
    core.fake.approve(core.fake.only())
    core.clock.advance(10)
    error_of(await core.token(rid), 400, "expired_token")


async def test_an_approved_request_not_fetched_in_time_expires(core):
    ack = await core.start(login_hint="person-1")
    core.fake.approve(core.fake.only())
    await core.settle(ack["auth_req_id"])
    core.clock.advance(ack["expires_in"])
    error_of(await core.token(ack["auth_req_id"]), 400, "expired_token")


async def test_the_authenticator_is_polled_at_its_cadence_however_often_the_client_polls(core):
    ack = await core.start(login_hint="person-1")
    rid = core.fake.only()
    for second in range(1, 11):
        for _ in range(3):
            await core.token(ack["auth_req_id"])
        core.clock.advance(1)
        await wait_for(lambda s=second: core.fake.polls[rid] == s // 2)
        await anyio.sleep(0.05)  # room for an (unwanted) extra poll to show up
        assert core.fake.polls[rid] == second // 2
    assert core.service.following == 1


async def test_one_follower_across_instances_and_takeover_when_it_goes_away(
    ciba_settings,
):
    """Two instances share a store and a clock: only the one that accepted the request polls
    the authenticator; when it stops, the next token poll elsewhere takes over."""
    clock = FixedClock()
    store = MemoryTTLStore(clock)
    fake = FakeBackchannel(clock)
    a = build_app(ciba_settings, clock, store=store, backchannel=fake)
    b = build_app(ciba_settings, clock, store=store, backchannel=fake)
    async with app_client(b, base_url=ISSUER) as http_b:
        hb = CibaHarness(http_b, clock, b)
        async with app_client(a, base_url=ISSUER) as http_a:
            ha = CibaHarness(http_a, clock, a)
            ack = await ha.start(login_hint="person-1")
            rid = fake.only()
            for n in range(1, 4):
                await hb.token(ack["auth_req_id"])
                clock.advance(2)
                await wait_for(lambda n=n: fake.polls[rid] == n)
            assert ha.service.following == 1 and hb.service.following == 0
        # Instance a has stopped; its lease is released. b's next poll follows the request.
        polls = fake.polls[rid]
        answer = (await hb.token(ack["auth_req_id"])).json()["error"]
        assert answer in ("authorization_pending", "slow_down")
        assert hb.service.following == 1
        fake.approve(rid)
        await hb.settle(ack["auth_req_id"])
        assert fake.polls[rid] == polls + 1
        assert (await hb.token(ack["auth_req_id"])).status_code == 200


async def test_outcomes_are_told_to_observers_in_the_metrics_vocabulary(core):
    from idp.observability.metrics import CIBA_OUTCOMES

    seen = []
    core.service.observers.append(seen.append)
    ack = await core.start(login_hint="person-1")
    error_of(await core.backchannel(login_hint="nobody"), 400, "unknown_user_id")
    error_of(await core.backchannel("web", login_hint="person-2"), 400, "unauthorized_client")
    core.fake.approve(core.fake.only())
    await core.settle(ack["auth_req_id"])
    await wait_for(lambda: len(seen) == 4)
    assert seen == ["accepted", "invalid_request", "unauthorized", "approved"]
    assert set(seen) <= CIBA_OUTCOMES
