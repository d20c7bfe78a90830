"""What only the in-process store has to promise: bounded memory without reads."""

from __future__ import annotations

import pytest

from idp.clock import FixedClock
from idp.store import memory
from idp.store.memory import MemoryTTLStore

pytestmark = pytest.mark.anyio


async def test_expired_entries_are_swept_without_being_read() -> None:
    clock = FixedClock()
    store = MemoryTTLStore(clock)
    for i in range(100):
        await store.put("code", f"k{i}", {"i": i}, 1, grant_id=f"g{i}")
    await store.put("code", "keep", {}, 3600, grant_id="g0")
    assert len(store) == 101
    clock.advance(memory.SWEEP_INTERVAL + 1)
    await store.add("lease", "x", {}, 3600)  # any write past the interval sweeps
    assert len(store) == 2
    assert await store.revoke_by_grant("g0") == 1
    assert await store.revoke_by_grant("g1") == 0


async def test_many_writes_sweep_even_when_the_clock_stands_still() -> None:
    clock = FixedClock()
    store = MemoryTTLStore(clock)
    await store.put("code", "old", {}, 0.001)
    clock.advance(0.01)
    for i in range(memory.SWEEP_EVERY_WRITES):
        await store.put("rate", f"k{i % 10}", {}, 3600)
    assert len(store) == 10
