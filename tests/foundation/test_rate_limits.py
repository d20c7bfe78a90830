"""Rate limits and quotas (idp.web.ratelimit), in process with a fixed clock; BankID's 429."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.requests import Request

from idp.bankid.client import BankIDClient
from idp.bankid.errors import BackingOff, RateLimited
from idp.clock import FixedClock
from idp.store.memory import MemoryTTLStore
from idp.web.ratelimit import (
    AUTHORIZE,
    CLIENT_AUTH_FAILURES,
    PERSON,
    TOKEN,
    RateLimiter,
    Rule,
    too_many_json,
)

pytestmark = pytest.mark.anyio

PNR = "199001011234"


def _request(ip: str = "198.51.100.7", headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    return Request(
        {"type": "http", "method": "POST", "path": "/", "headers": headers or [], "client": (ip, 1)}
    )


def _limiter(clock: FixedClock, store: MemoryTTLStore, **kw: int) -> RateLimiter:
    rules = {
        AUTHORIZE: Rule(3, 60.0),
        TOKEN: Rule(2, 60.0),
        CLIENT_AUTH_FAILURES: Rule(2, 60.0),
        PERSON: Rule(2, 600.0),
    }
    return RateLimiter(store, clock, b"k" * 32, rules, slots=store, **kw)


async def test_limit_is_reached_at_the_count_and_the_counter_expires() -> None:
    clock = FixedClock(1_000_020.0)  # the start of a 60 s window
    store = MemoryTTLStore(clock)
    limiter = _limiter(clock, store)
    for _ in range(3):
        assert await limiter.address(AUTHORIZE, _request()) is None
    refused = await limiter.address(AUTHORIZE, _request())
    assert refused is not None and refused.retry_after == 60
    assert await limiter.address(AUTHORIZE, _request("198.51.100.8")) is None  # per address
    clock.advance(60)
    assert await limiter.address(AUTHORIZE, _request()) is None
    clock.advance(61)  # every counter has a TTL that has run out
    assert all(entry.expires_at <= clock.now() for entry in store._entries.values())


async def test_429_json_carries_retry_after() -> None:
    clock = FixedClock(1_000_030.0)
    limiter = _limiter(clock, MemoryTTLStore(clock))
    form = {"client_id": "rp"}
    assert await limiter.client(TOKEN, _request(), form) is None
    assert await limiter.client(TOKEN, _request(), form) is None
    refused = await limiter.client(TOKEN, _request(), form)
    assert refused is not None
    response = too_many_json(refused)
    assert response.status_code == 429
    assert response.headers["retry-after"] == str(refused.retry_after)
    assert json.loads(bytes(response.body))["error"] == "temporarily_unavailable"


async def test_failed_client_authentication_refuses_the_address_not_the_client_named() -> None:
    """Failures count per address: the address that failed is refused, whatever client it
    names next; the client it named is not locked out elsewhere (else anyone could lock a
    client out by naming it with a wrong secret)."""
    clock = FixedClock(1_000_000.0)
    limiter = _limiter(clock, MemoryTTLStore(clock))
    form = {"client_id": "victim"}
    await limiter.client_auth_failed(_request(), form)
    await limiter.client_auth_failed(_request(), form)
    refused = await limiter.client(TOKEN, _request(), {"client_id": "other"})
    assert refused is not None and refused.name == CLIENT_AUTH_FAILURES
    assert await limiter.client(TOKEN, _request("203.0.113.9"), form) is None


async def test_a_clients_quota_counts_per_address_too() -> None:
    clock = FixedClock(1_000_000.0)
    limiter = _limiter(clock, MemoryTTLStore(clock))
    form = {"client_id": "victim"}
    for _ in range(50):
        await limiter.client(TOKEN, _request("198.51.100.66"), form)  # someone naming it
    assert await limiter.client(TOKEN, _request("203.0.113.9"), form) is None


async def test_per_person_keys_hold_no_personal_number() -> None:
    clock = FixedClock(1_000_000.0)
    store = MemoryTTLStore(clock)
    limiter = _limiter(clock, store)
    assert await limiter.person(PNR) is None
    assert await limiter.person(PNR) is None
    assert await limiter.person(PNR) is not None
    dump = repr(store._entries)
    assert PNR not in dump and PNR[2:] not in dump and "198.51.100.7" not in dump


async def test_pending_logins_are_capped_per_address_and_in_total_and_released() -> None:
    clock = FixedClock(1_000_000.0)
    store = MemoryTTLStore(clock)
    limiter = _limiter(clock, store, pending_per_address=2, pending_total=3)
    a, b = _request("192.0.2.1"), _request("192.0.2.2")
    assert await limiter.hold_pending(a, "t1", 600) is None
    assert await limiter.hold_pending(a, "t1", 600) is None  # the same login: the same slot
    assert await limiter.hold_pending(a, "t2", 600) is None
    refused = await limiter.hold_pending(a, "t3", 600)
    assert refused is not None and refused.name == "pending_per_address"
    assert await limiter.hold_pending(b, "t4", 600) is None
    refused = await limiter.hold_pending(b, "t5", 600)
    assert refused is not None and refused.name == "pending_total"
    await limiter.release_pending(a, "t1")
    assert await limiter.hold_pending(b, "t5", 600) is None
    clock.advance(601)  # abandoned logins free their slots by themselves
    assert await limiter.hold_pending(a, "t6", 600) is None


async def test_bankid_429_backs_off_every_order_until_its_reset() -> None:
    clock = FixedClock(1_000_000.0)
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(
            429, json={"errorCode": "tooManyRequests"}, headers={"RateLimit-Reset": "30"}
        )

    client = BankIDClient(
        "https://bankid.test/rp/v6.0/", clock=clock, transport=httpx.MockTransport(answer)
    )
    with pytest.raises(RateLimited):
        await client.auth(end_user_ip="192.0.2.1")
    assert len(calls) == 1
    with pytest.raises(BackingOff) as caught:
        await client.auth(end_user_ip="192.0.2.1")
    assert caught.value.rfa.value == "RFA5" or str(caught.value.rfa) == "RFA5"
    assert len(calls) == 1  # nothing sent during the backoff
    clock.advance(31)
    with pytest.raises(RateLimited):
        await client.auth(end_user_ip="192.0.2.1")
    assert len(calls) == 2
