"""Two instances sharing a real Redis: a given auth_req_id's tokens are handed out exactly
once, the poll interval is enforced across them, and only one follows the BankID order."""

import anyio
import pytest

from idp.clock import FixedClock
from idp.store.redis import RedisTTLStore
from tests.asgi import app_client
from tests.ciba.conftest import build_app
from tests.ciba.harness import ANNA, ISSUER, CibaHarness, error_of
from tests.services import REDIS_URL
from tests.services import redis_prefix as shared_prefix

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


@pytest.fixture
async def redis_prefix():
    async with shared_prefix("ciba") as prefix:
        yield prefix


@pytest.fixture
async def two_instances(ciba_settings, redis_prefix):
    clock = FixedClock()
    a = build_app(
        ciba_settings, clock, store=RedisTTLStore.from_url(REDIS_URL, prefix=redis_prefix)
    )
    b = build_app(
        ciba_settings, clock, store=RedisTTLStore.from_url(REDIS_URL, prefix=redis_prefix)
    )
    async with (
        app_client(a, base_url=ISSUER) as http_a,
        app_client(b, base_url=ISSUER) as http_b,
    ):
        yield CibaHarness(http_a, clock, a), CibaHarness(http_b, clock, b)


async def test_tokens_are_handed_out_exactly_once_across_instances(two_instances):
    a, b = two_instances
    ack = await a.start(login_hint=ANNA)
    rid = ack["auth_req_id"]
    error_of(await b.token(rid), 400, "authorization_pending")  # b sees a's request
    await a.phone(ANNA)  # the order lives in instance a's simulator; a follows it
    assert await a.settle(rid) == "approved"
    assert await b.status(rid) == "approved"
    assert b.service.following == 0

    answers = []

    async def redeem(h):
        answers.append(await h.token(rid))

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(redeem, a if i % 2 else b)
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] + [400] * 19, [r.text for r in answers if r.status_code != 400]
    assert {r.json()["error"] for r in answers if r.status_code == 400} == {"invalid_grant"}
    (winner,) = [r.json() for r in answers if r.status_code == 200]
    claims = await a.verify(winner["id_token"], audience="cs-poll")
    assert claims["name"] == "Anna Andersson"
    (entry,) = a.service.audit.entries()
    assert entry.outcome == "approved" and entry.tokens_issued_at is not None


async def test_slow_down_is_enforced_across_instances(two_instances):
    a, b = two_instances
    ack = await a.start(login_hint=ANNA)
    error_of(await a.token(ack["auth_req_id"]), 400, "authorization_pending")
    error_of(await b.token(ack["auth_req_id"]), 400, "slow_down")
    error_of(await a.token(ack["auth_req_id"]), 400, "slow_down")


async def test_only_the_accepting_instance_follows(two_instances):
    a, b = two_instances
    ack = await a.start(login_hint=ANNA)
    for _ in range(3):
        await b.token(ack["auth_req_id"])
    assert a.service.following == 1 and b.service.following == 0
