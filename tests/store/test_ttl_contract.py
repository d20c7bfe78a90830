"""The contract every `TTLStore` honours; each case runs against memory and Redis.

Expiry uses a `FixedClock` for the memory store and short real TTLs (a few hundred ms at
most) for Redis, via `backend.elapse`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from ttl_backends import Backend

from idp.store.memory import MemoryTTLStore
from idp.store.redis import RedisTTLStore
from idp.store.ttl import ConsumeResult, LinkedClaim, StoreUnavailable, TTLStore

pytestmark = pytest.mark.anyio

CONCURRENCY = 24
PEERS = 4


async def _gone(backend: Backend, read: Callable[[], Awaitable[Any]], bound: float = 0.3) -> bool:
    """True once `read()` returns None; a real server gets at most `bound` extra seconds."""
    polls = 0 if backend.name == "memory" else round(bound / 0.01)
    for _ in range(polls):
        if await read() is None:
            return True
        await anyio.sleep(0.01)
    return await read() is None


async def _close_all(stores: list[TTLStore]) -> None:
    for s in stores:
        await s.close()


# -- basics ------------------------------------------------------------------------------------


async def test_put_get_delete_round_trip(store: TTLStore) -> None:
    value = {"sub": "197001011234", "n": 1, "ok": True, "none": None, "list": [1, "å", 2.5]}
    await store.put("code", "abc", value, 60)
    assert await store.get("code", "abc") == value
    await store.put("code", "abc", {"replaced": 1}, 60)
    assert await store.get("code", "abc") == {"replaced": 1}
    await store.delete("code", "abc")
    assert await store.get("code", "abc") is None
    await store.delete("code", "abc")  # deleting an absent entry is fine


async def test_get_absent_is_none(store: TTLStore) -> None:
    assert await store.get("code", "nope") is None


async def test_kinds_are_separate_namespaces(store: TTLStore) -> None:
    await store.put("code", "k", {"kind": "code"}, 60)
    await store.put("txn", "k", {"kind": "txn"}, 60)
    assert await store.get("code", "k") == {"kind": "code"}
    assert await store.get("txn", "k") == {"kind": "txn"}


async def test_values_are_copies(store: TTLStore) -> None:
    value: dict[str, Any] = {"scopes": ["openid"], "nested": {"a": 1}}
    await store.put("code", "k", value, 60)
    value["scopes"].append("profile")
    value["nested"]["a"] = 2

    got = await store.get("code", "k")
    assert got == {"scopes": ["openid"], "nested": {"a": 1}}
    assert got is not None
    got["scopes"].append("email")
    assert await store.get("code", "k") == {"scopes": ["openid"], "nested": {"a": 1}}

    consumed = await store.consume("code", "k")
    assert consumed is not None
    consumed.value["nested"]["a"] = 3
    assert await store.get("code", "k") == {"scopes": ["openid"], "nested": {"a": 1}}


async def test_values_have_json_semantics(store: TTLStore) -> None:
    await store.put("code", "k", {"t": (1, 2), "i": {1: "x"}}, 60)
    assert await store.get("code", "k") == {"t": [1, 2], "i": {"1": "x"}}
    with pytest.raises(TypeError):
        await store.put("code", "bad", {"s": {1, 2}}, 60)
    with pytest.raises(ValueError):
        await store.put("code", "nan", {"x": float("nan")}, 60)
    assert await store.get("code", "bad") is None


@pytest.mark.parametrize("kind", ["", "a:b", "grant"])
async def test_invalid_kinds_are_rejected(store: TTLStore, kind: str) -> None:
    with pytest.raises(ValueError):
        await store.put(kind, "k", {}, 60)
    with pytest.raises(ValueError):
        await store.get(kind, "k")


async def test_get_many_reads_several_entries_in_order(store: TTLStore) -> None:
    await store.put("code", "a", {"v": 1}, 60)
    await store.put("txn", "a", {"v": "txn"}, 60)
    await store.add("lease", "b", {}, 60)
    got = await store.get_many([("txn", "a"), ("code", "missing"), ("code", "a"), ("lease", "b")])
    assert got == [{"v": "txn"}, None, {"v": 1}, {}]
    assert await store.get_many([]) == []
    assert await store.get_many([("code", "a"), ("code", "a")]) == [{"v": 1}, {"v": 1}]


async def test_get_many_values_are_copies(store: TTLStore) -> None:
    await store.put("code", "k", {"list": [1]}, 60)
    (first,) = await store.get_many([("code", "k")])
    assert first is not None
    first["list"].append(2)
    assert await store.get_many([("code", "k")]) == [{"list": [1]}]


async def test_get_many_skips_expired_entries(backend: Backend) -> None:
    store = backend.store
    await store.put("code", "short", {"v": 1}, 0.2)
    await store.put("code", "long", {"v": 2}, 60)
    await backend.elapse(0.25)

    async def short() -> Any:
        return (await store.get_many([("code", "short"), ("code", "long")]))[0]

    assert await _gone(backend, short)
    assert await store.get_many([("code", "short"), ("code", "long")]) == [None, {"v": 2}]


@pytest.mark.parametrize("kind", ["", "a:b", "grant"])
async def test_get_many_rejects_invalid_kinds(store: TTLStore, kind: str) -> None:
    with pytest.raises(ValueError):
        await store.get_many([("code", "k"), (kind, "k")])


async def test_get_linked_reads_an_entry_and_the_entries_it_names(store: TTLStore) -> None:
    await store.put("login", "t1", {"oid": "o1", "lang": "sv"}, 60)
    await store.put("order", "o1", {"ref": "r"}, 60)
    await store.add("final", "o1", {"status": "complete"}, 60)
    assert await store.get_linked("login", "t1", "oid", ["order", "final"]) == (
        {"oid": "o1", "lang": "sv"},
        [{"ref": "r"}, {"status": "complete"}],
    )
    await store.delete("final", "o1")
    assert await store.get_linked("login", "t1", "oid", ["order", "final"]) == (
        {"oid": "o1", "lang": "sv"},
        [{"ref": "r"}, None],
    )
    assert await store.get_linked("login", "t1", "oid", []) == ({"oid": "o1", "lang": "sv"}, [])


async def test_get_linked_without_the_entry_or_its_link(store: TTLStore) -> None:
    assert await store.get_linked("login", "absent", "oid", ["order", "final"]) == (
        None,
        [None, None],
    )
    await store.put("order", "o1", {"ref": "r"}, 60)
    for value in ({}, {"oid": None}, {"oid": 7}, {"oid": ["o1"]}, {"other": "o1"}):
        await store.put("login", "t", value, 60)
        assert await store.get_linked("login", "t", "oid", ["order"]) == (value, [None])
    await store.put("login", "t", {"oid": "elsewhere"}, 60)
    assert await store.get_linked("login", "t", "oid", ["order"]) == ({"oid": "elsewhere"}, [None])
    await store.incr("rate", "n", 60)  # a counter is not an object: nothing linked
    assert await store.get_linked("rate", "n", "oid", ["order"]) == (1, [None])


async def test_get_linked_skips_expired_entries(backend: Backend) -> None:
    store = backend.store
    await store.put("login", "t", {"oid": "o"}, 60)
    await store.put("order", "o", {"ref": "r"}, 0.2)
    await backend.elapse(0.25)

    async def order() -> Any:
        return (await store.get_linked("login", "t", "oid", ["order"]))[1][0]

    assert await _gone(backend, order)


@pytest.mark.parametrize("kind", ["", "a:b", "grant"])
async def test_get_linked_rejects_invalid_kinds(store: TTLStore, kind: str) -> None:
    with pytest.raises(ValueError):
        await store.get_linked(kind, "k", "oid", ["order"])
    with pytest.raises(ValueError):
        await store.get_linked("login", "k", "oid", ["order", kind])


def lease(due_by: float = 100.0, binding: str = "b1") -> LinkedClaim:
    return LinkedClaim(
        kind="lease", ttl=60, match=("binding", binding), needs="ref", due="at", due_by=due_by
    )


async def test_get_linked_claim_takes_the_lease_only_when_it_holds(store: TTLStore) -> None:
    await store.put("login", "t1", {"oid": "o1", "binding": "b1"}, 60)
    await store.put("order", "o1", {"ref": "r", "at": 100.0}, 60)
    login, order = {"oid": "o1", "binding": "b1"}, {"ref": "r", "at": 100.0}
    kinds = ["order", "final"]
    # Not due yet, or another browser's login: read, no lease.
    assert await store.get_linked_claim("login", "t1", "oid", kinds, lease(99.5)) == (
        login,
        [order, None],
        False,
    )
    assert not (await store.get_linked_claim("login", "t1", "oid", kinds, lease(binding="b2")))[2]
    assert await store.get("lease", "o1") is None
    # Due (at most due_by): the lease, once; a second claim finds it taken.
    assert await store.get_linked_claim("login", "t1", "oid", kinds, lease(100.0)) == (
        login,
        [order, None],
        True,
    )
    assert await store.get("lease", "o1") == {}
    assert not (await store.get_linked_claim("login", "t1", "oid", kinds, lease(200.0)))[2]
    await store.delete("lease", "o1")
    # Never collected (no number in `due`): due.
    for at in (None, "soon", True):
        await store.put("order", "o1", {"ref": "r", "at": at}, 60)
        assert (await store.get_linked_claim("login", "t1", "oid", kinds, lease(0.0)))[2]
        await store.delete("lease", "o1")
    # No `needs` (the order not started at BankID yet), or a final result: no lease.
    for order_value in ({"at": 1.0}, {"ref": "", "at": 1.0}, {"ref": 7}):
        await store.put("order", "o1", order_value, 60)
        assert not (await store.get_linked_claim("login", "t1", "oid", kinds, lease()))[2]
    await store.put("order", "o1", {"ref": "r"}, 60)
    await store.add("final", "o1", {"status": "complete"}, 60)
    assert not (await store.get_linked_claim("login", "t1", "oid", kinds, lease()))[2]
    assert await store.get("lease", "o1") is None


async def test_get_linked_claim_without_the_entry_or_its_link(store: TTLStore) -> None:
    assert await store.get_linked_claim("login", "absent", "oid", ["order"], lease()) == (
        None,
        [None],
        False,
    )
    await store.put("login", "t", {"oid": "o9", "binding": "b1"}, 60)  # no order o9
    assert await store.get_linked_claim("login", "t", "oid", ["order"], lease()) == (
        {"oid": "o9", "binding": "b1"},
        [None],
        False,
    )
    await store.incr("rate", "n", 60)
    claimed = await store.get_linked_claim("rate", "n", "oid", ["order"], lease())
    assert claimed == (1, [None], False)
    assert await store.get("lease", "o9") is None


async def test_the_claimed_lease_expires(backend: Backend) -> None:
    store = backend.store
    await store.put("login", "t", {"oid": "o", "binding": "b1"}, 60)
    await store.put("order", "o", {"ref": "r"}, 60)
    short = dataclasses.replace(lease(), ttl=0.2)
    assert (await store.get_linked_claim("login", "t", "oid", ["order"], short))[2]
    await backend.elapse(0.25)

    async def taken_again() -> Any:
        claimed = (await store.get_linked_claim("login", "t", "oid", ["order"], short))[2]
        return None if claimed else "still leased"

    assert await _gone(backend, taken_again)


# -- expiry ------------------------------------------------------------------------------------


async def test_entries_expire(backend: Backend) -> None:
    store = backend.store
    await store.put("code", "short", {"v": 1}, 0.2)
    await store.put("code", "long", {"v": 2}, 60)
    assert await store.get("code", "short") == {"v": 1}
    await backend.elapse(0.25)
    assert await _gone(backend, lambda: store.get("code", "short"))
    assert await store.consume("code", "short") is None
    assert await store.update("code", "short", {"v": 3}) is False
    assert await store.get("code", "long") == {"v": 2}


async def test_put_replaces_ttl(backend: Backend) -> None:
    store = backend.store
    await store.put("code", "k", {"v": 1}, 60)
    await store.put("code", "k", {"v": 2}, 0.1)
    await backend.elapse(0.15)
    assert await _gone(backend, lambda: store.get("code", "k"))


async def test_update_keeps_ttl(backend: Backend) -> None:
    store = backend.store
    await store.put("txn", "k", {"state": "pending"}, 0.3)
    await backend.elapse(0.1)
    assert await store.update("txn", "k", {"state": "complete"}) is True
    assert await store.get("txn", "k") == {"state": "complete"}
    await backend.elapse(0.25)
    assert await _gone(backend, lambda: store.get("txn", "k"))


async def test_update_absent_returns_false(store: TTLStore) -> None:
    assert await store.update("txn", "nope", {"x": 1}) is False
    assert await store.get("txn", "nope") is None


# -- consume -----------------------------------------------------------------------------------


async def test_consume_first_then_replay(store: TTLStore) -> None:
    await store.put("code", "c", {"client_id": "rp"}, 60)
    first = await store.consume("code", "c")
    again = await store.consume("code", "c")
    assert isinstance(first, ConsumeResult)
    assert isinstance(again, ConsumeResult)
    assert (first.first, first.value) == (True, {"client_id": "rp"})
    assert (again.first, again.value) == (False, {"client_id": "rp"})
    # Consuming does not delete: the entry is still readable until it expires.
    assert await store.get("code", "c") == {"client_id": "rp"}


async def test_consume_absent_is_none(store: TTLStore) -> None:
    assert await store.consume("code", "nope") is None


async def test_consume_expired_is_none(backend: Backend) -> None:
    store = backend.store
    await store.put("code", "c", {"v": 1}, 0.1)
    await backend.elapse(0.15)
    assert await _gone(backend, lambda: store.consume("code", "c"))


async def test_update_keeps_consumed_marker_and_put_resets_it(store: TTLStore) -> None:
    await store.put("code", "c", {"v": 1}, 60)
    assert (await store.consume("code", "c")).first is True  # type: ignore[union-attr]
    assert await store.update("code", "c", {"v": 2}) is True
    replay = await store.consume("code", "c")
    assert replay is not None
    assert (replay.first, replay.value) == (False, {"v": 2})

    await store.put("code", "c", {"v": 3}, 60)
    fresh = await store.consume("code", "c")
    assert fresh is not None
    assert (fresh.first, fresh.value) == (True, {"v": 3})


async def test_concurrent_consumers_exactly_one_wins(backend: Backend) -> None:
    store = backend.store
    peers = [backend.peer() for _ in range(PEERS)]
    try:
        for round_ in range(3):
            key = f"race-{round_}"
            await store.put("code", key, {"round": round_}, 60)
            results = await asyncio.gather(
                *(peers[i % PEERS].consume("code", key) for i in range(CONCURRENCY))
            )
            assert all(r is not None and r.value == {"round": round_} for r in results)
            assert sum(1 for r in results if r is not None and r.first) == 1
    finally:
        await _close_all([p for p in peers if p is not store])


async def test_concurrent_consumers_in_threads_exactly_one_wins(backend: Backend) -> None:
    """Several threads, each with its own event loop (and its own connection for Redis)."""
    threads, keys = 6, 40
    for i in range(keys):
        await backend.store.put("code", f"t{i}", {"i": i}, 60)
    barrier = threading.Barrier(threads)
    firsts: list[list[bool]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        async def run() -> None:
            peer = backend.peer()
            try:
                barrier.wait(timeout=10)
                for i in range(keys):
                    result = await peer.consume("code", f"t{i}")
                    assert result is not None and result.value == {"i": i}
                    firsts[n].append(result.first)
            finally:
                if peer is not backend.store:
                    await peer.close()

        try:
            asyncio.run(run())
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)

    def run_threads() -> None:
        pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(timeout=30)

    await anyio.to_thread.run_sync(run_threads)
    assert not errors, errors
    assert all(len(f) == keys for f in firsts), "a worker thread did not finish"
    for i in range(keys):
        assert sum(firsts[n][i] for n in range(threads)) == 1, f"key t{i}"


# -- add ---------------------------------------------------------------------------------------


async def test_add_only_if_absent(backend: Backend) -> None:
    store = backend.store
    assert await store.add("lease", "k", {"owner": "a"}, 0.2) is True
    assert await store.add("lease", "k", {"owner": "b"}, 0.2) is False
    assert await store.get("lease", "k") == {"owner": "a"}
    await backend.elapse(0.25)
    assert await _gone(backend, lambda: store.get("lease", "k"))
    assert await store.add("lease", "k", {"owner": "b"}, 60) is True
    assert await store.get("lease", "k") == {"owner": "b"}


async def test_concurrent_add_wins_once(backend: Backend) -> None:
    peers = [backend.peer() for _ in range(PEERS)]
    try:
        won = await asyncio.gather(
            *(peers[i % PEERS].add("lease", "race", {"i": i}, 60) for i in range(CONCURRENCY))
        )
        assert won.count(True) == 1
        assert await backend.store.get("lease", "race") == {"i": won.index(True)}
    finally:
        await _close_all([p for p in peers if p is not backend.store])


# -- incr --------------------------------------------------------------------------------------


async def test_incr_counts_and_expires(backend: Backend) -> None:
    store = backend.store
    assert [await store.incr("rate", "ip", 0.3) for _ in range(3)] == [1, 2, 3]
    assert await store.incr("rate", "other", 0.3) == 1
    await backend.elapse(0.1)
    assert await store.incr("rate", "ip", 0.3) == 4  # does not extend the window
    await backend.elapse(0.25)
    assert await store.incr("rate", "ip", 60) == 1  # 0.35 s > 0.3 s: a new window


async def test_incr_read_counts_one_counter_and_reads_another(backend: Backend) -> None:
    store = backend.store
    assert await store.incr_read("rate", "requests", 60, "failures") == (1, None)
    await store.incr("rate", "failures", 60)
    await store.incr("rate", "failures", 60)
    assert await store.incr_read("rate", "requests", 60, "failures") == (2, 2)
    assert await store.get("rate", "requests") == 2


async def test_concurrent_incr_counts_every_call(backend: Backend) -> None:
    peers = [backend.peer() for _ in range(PEERS)]
    try:
        counts = await asyncio.gather(
            *(peers[i % PEERS].incr("rate", "race", 60) for i in range(CONCURRENCY))
        )
        assert sorted(counts) == list(range(1, CONCURRENCY + 1))
    finally:
        await _close_all([p for p in peers if p is not backend.store])


# -- revoke_by_grant ---------------------------------------------------------------------------


async def test_revoke_by_grant_deletes_exactly_the_grants_entries(store: TTLStore) -> None:
    await store.put("code", "a", {"n": 1}, 60, grant_id="g1")
    await store.put("token", "b", {"n": 2}, 120, grant_id="g1")
    await store.put("code", "c", {"n": 3}, 60, grant_id="g2")
    await store.put("code", "d", {"n": 4}, 60)
    await store.put("token", "a", {"n": 5}, 60)  # same key, other kind, no grant

    assert await store.revoke_by_grant("g1") == 2
    assert await store.get("code", "a") is None
    assert await store.get("token", "b") is None
    assert await store.get("code", "c") == {"n": 3}
    assert await store.get("code", "d") == {"n": 4}
    assert await store.get("token", "a") == {"n": 5}
    assert await store.revoke_by_grant("g1") == 0
    assert await store.revoke_by_grant("unknown") == 0
    assert await store.revoke_by_grant("g2") == 1


async def test_revoke_by_grant_counts_only_live_members(backend: Backend) -> None:
    store = backend.store
    await store.put("code", "long", {}, 60, grant_id="g")
    await store.put("code", "short", {}, 0.1, grant_id="g")  # must not shrink the index TTL
    await store.put("code", "deleted", {}, 60, grant_id="g")
    await store.delete("code", "deleted")
    await store.put("code", "moved", {}, 60, grant_id="g")
    await store.put("code", "moved", {}, 60, grant_id="other")
    await store.put("code", "ungranted", {}, 60, grant_id="g")
    await store.put("code", "ungranted", {}, 60)
    await backend.elapse(0.15)
    assert await _gone(backend, lambda: store.get("code", "short"))

    assert await store.revoke_by_grant("g") == 1
    assert await store.get("code", "long") is None
    assert await store.get("code", "moved") == {}
    assert await store.get("code", "ungranted") == {}
    assert await store.revoke_by_grant("other") == 1


async def test_revoke_by_grant_after_consume(store: TTLStore) -> None:
    """The RFC 6749 §4.1.2 flow: a replayed code revokes what its first use issued."""
    await store.put("code", "c", {"sub": "x"}, 60, grant_id="g")
    assert (await store.consume("code", "c")).first is True  # type: ignore[union-attr]
    await store.put("token", "t", {"sub": "x"}, 3600, grant_id="g")
    replay = await store.consume("code", "c")
    assert replay is not None and replay.first is False
    assert await store.revoke_by_grant("g") == 2
    assert await store.get("token", "t") is None


# -- namespacing -------------------------------------------------------------------------------


async def test_separate_namespaces_do_not_see_each_other(backend: Backend) -> None:
    store, other = backend.store, backend.sibling()
    try:
        await store.put("code", "k", {"who": "a"}, 60, grant_id="g")
        assert await other.get("code", "k") is None
        assert await other.consume("code", "k") is None
        assert await other.update("code", "k", {"who": "b"}) is False
        assert await other.add("code", "k", {"who": "b"}, 60) is True
        assert await other.revoke_by_grant("g") == 0
        assert await other.incr("rate", "k", 60) == 1
        assert await store.incr("rate", "k", 60) == 1
        assert await store.get("code", "k") == {"who": "a"}
        await other.delete("code", "k")
        assert await store.get("code", "k") == {"who": "a"}
    finally:
        await other.close()


async def test_ping(store: TTLStore) -> None:
    await store.ping()


# -- Redis layout ------------------------------------------------------------------------------


@pytest.mark.redis
async def test_redis_layout(redis_admin: Any) -> None:
    prefix = f"idp-test:layout-{secrets.token_hex(4)}:"
    store = RedisTTLStore(redis_admin, prefix=prefix)
    try:
        await store.put("code", "k", {"a": 1}, 10, grant_id="g")
        await store.put("code", "k2", {"a": 2}, 0.0001, grant_id="g")  # at least 1 ms
        await store.put("token", "t", {"a": 3}, 100, grant_id="g")
        await store.put("code", "k3", {"a": 4}, 5, grant_id="g")
        assert await redis_admin.hget(f"{prefix}code:k", "v") == b'{"a":1}'
        assert 9_000 < await redis_admin.pttl(f"{prefix}code:k") <= 10_000
        assert 99_000 < await redis_admin.pttl(f"{prefix}grant:g") <= 100_000
        members = await redis_admin.smembers(f"{prefix}grant:g")
        assert {f"{prefix}code:k".encode(), f"{prefix}token:t".encode()} <= members
    finally:
        async for key in redis_admin.scan_iter(match=f"{prefix}*"):
            await redis_admin.delete(key)


# -- unavailability (no server needed) ---------------------------------------------------------


async def test_memory_store_ignores_close() -> None:
    store = MemoryTTLStore()
    await store.put("code", "k", {}, 60)
    await store.close()
    assert await store.get("code", "k") == {}


async def test_unreachable_redis_raises_store_unavailable() -> None:
    store = RedisTTLStore.from_url("redis://127.0.0.1:1/0", prefix="idp-test:down:", timeout=1)
    secret = "s3cr3t-value"
    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("ping", lambda: store.ping()),
        ("put", lambda: store.put("code", "k", {"secret": secret}, 60, grant_id="g")),
        ("get", lambda: store.get("code", "k")),
        ("get_many", lambda: store.get_many([("code", "k"), ("txn", "k")])),
        ("get_linked", lambda: store.get_linked("txn", "k", "oid", ["code"])),
        (
            "get_linked_claim",
            lambda: store.get_linked_claim("txn", "k", "oid", ["code"], lease()),
        ),
        ("update", lambda: store.update("code", "k", {"secret": secret})),
        ("consume", lambda: store.consume("code", "k")),
        ("delete", lambda: store.delete("code", "k")),
        ("add", lambda: store.add("code", "k", {"secret": secret}, 60)),
        ("incr", lambda: store.incr("rate", "k", 60)),
        ("revoke_by_grant", lambda: store.revoke_by_grant("g")),
    ]
    try:
        with anyio.fail_after(20):
            for name, call in calls:
                with pytest.raises(StoreUnavailable) as info:
                    await call()
                assert name in str(info.value)
                assert secret not in str(info.value)
    finally:
        await store.close()
