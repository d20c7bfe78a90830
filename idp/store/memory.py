"""In-process `TTLStore` for the single-process embedded default and for tests.

Every operation runs under one `threading.Lock` and never awaits while holding it, so it is
atomic both for asyncio tasks on one event loop and for worker threads (anyio.from_thread).
Values are stored as JSON text, so what goes in and what comes out are always fresh copies and
only JSON-representable values are accepted, exactly as with Redis.

Expiry is read from the injected clock: lazily on every access, plus a sweep of the whole map
at most every `SWEEP_INTERVAL` seconds of clock time or every `SWEEP_EVERY_WRITES` writes, so
entries that are never read again do not pile up.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from idp.clock import Clock, SystemClock
from idp.store.ttl import ConsumeResult, LinkedClaim, Value

__all__ = ["MemoryTTLStore"]

# The grant index lives at "grant:{grant_id}" in the Redis store; the kind is reserved in both
# implementations so they accept exactly the same kinds.
_RESERVED_KINDS = frozenset({"grant"})

SWEEP_INTERVAL = 60.0
SWEEP_EVERY_WRITES = 1024


@dataclass(slots=True)
class _Entry:
    data: str  # JSON text
    expires_at: float
    grant_id: str | None = None
    consumed: bool = False


def _check_kind(kind: str) -> None:
    if not kind or ":" in kind or kind in _RESERVED_KINDS:
        raise ValueError(f"invalid kind {kind!r}: must be non-empty, without ':', not 'grant'")


def _ttl_seconds(ttl: float) -> float:
    if not math.isfinite(ttl):
        raise ValueError("ttl must be a finite number of seconds")
    # Same resolution as Redis (whole milliseconds, at least 1 ms).
    return max(1, math.ceil(ttl * 1000)) / 1000


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


class MemoryTTLStore:
    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._grants: dict[str, set[tuple[str, str]]] = {}
        self._writes = 0
        self._next_sweep = self._clock.now() + SWEEP_INTERVAL
        # Bounded sets of expiring members (acquire_slot), and acquires since their sweep.
        self._slots: dict[tuple[str, str], dict[str, float]] = {}
        self._slot_writes = 0
        # Due queues (DueQueue): per kind, each queued key and when it falls due.
        self._queues: dict[str, dict[str, float]] = {}

    # -- helpers; all called with self._lock held ---------------------------------------------

    def _live(self, k: tuple[str, str], now: float) -> _Entry | None:
        entry = self._entries.get(k)
        if entry is None:
            return None
        if entry.expires_at <= now:
            self._remove(k, entry)
            return None
        return entry

    def _remove(self, k: tuple[str, str], entry: _Entry) -> None:
        del self._entries[k]
        if entry.grant_id is not None:
            members = self._grants.get(entry.grant_id)
            if members is not None:
                members.discard(k)
                if not members:
                    del self._grants[entry.grant_id]

    def _wrote(self, now: float) -> None:
        self._writes += 1
        if self._writes >= SWEEP_EVERY_WRITES or now >= self._next_sweep:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        self._writes = 0
        self._next_sweep = now + SWEEP_INTERVAL
        expired = [(k, e) for k, e in self._entries.items() if e.expires_at <= now]
        for k, e in expired:
            self._remove(k, e)

    # -- TTLStore -----------------------------------------------------------------------------

    async def put(
        self, kind: str, key: str, value: Value, ttl: float, *, grant_id: str | None = None
    ) -> None:
        _check_kind(kind)
        data = _dumps(value)
        seconds = _ttl_seconds(ttl)
        k = (kind, key)
        with self._lock:
            now = self._clock.now()
            old = self._entries.get(k)
            if old is not None:
                self._remove(k, old)
            self._entries[k] = _Entry(data, now + seconds, grant_id)
            if grant_id is not None:
                self._grants.setdefault(grant_id, set()).add(k)
            self._wrote(now)

    async def get(self, kind: str, key: str) -> Value | None:
        _check_kind(kind)
        with self._lock:
            entry = self._live((kind, key), self._clock.now())
            data = None if entry is None else entry.data
        return None if data is None else json.loads(data)

    async def get_many(self, items: Sequence[tuple[str, str]]) -> list[Value | None]:
        for kind, _ in items:
            _check_kind(kind)
        with self._lock:
            now = self._clock.now()
            found = [self._live((kind, key), now) for kind, key in items]
            texts = [None if entry is None else entry.data for entry in found]
        return [None if data is None else json.loads(data) for data in texts]

    async def get_linked(
        self, kind: str, key: str, field: str, kinds: Sequence[str]
    ) -> tuple[Value | None, list[Value | None]]:
        with self._lock:
            return self._read_linked(kind, key, field, kinds)

    def _read_linked(
        self, kind: str, key: str, field: str, kinds: Sequence[str]
    ) -> tuple[Value | None, list[Value | None]]:
        _check_kind(kind)
        for k in kinds:
            _check_kind(k)
        now = self._clock.now()
        entry = self._live((kind, key), now)
        if entry is None:
            return None, [None] * len(kinds)
        value = json.loads(entry.data)
        link = value.get(field) if isinstance(value, dict) else None
        found = [self._live((k, link), now) if isinstance(link, str) else None for k in kinds]
        return value, [None if e is None else json.loads(e.data) for e in found]

    async def get_linked_claim(
        self, kind: str, key: str, field: str, kinds: Sequence[str], claim: LinkedClaim
    ) -> tuple[Value | None, list[Value | None], bool]:
        _check_kind(claim.kind)
        seconds = _ttl_seconds(claim.ttl)
        with self._lock:  # the read and the claim at once, as Redis's script
            value, linked = self._read_linked(kind, key, field, kinds)
            link = value.get(field) if isinstance(value, dict) else None
            if not isinstance(link, str) or not claim.holds(value, linked):
                return value, linked, False
            return value, linked, self._add((claim.kind, link), _dumps({}), seconds)

    async def update(self, kind: str, key: str, value: Value) -> bool:
        _check_kind(kind)
        data = _dumps(value)
        with self._lock:
            entry = self._live((kind, key), self._clock.now())
            if entry is None:
                return False
            entry.data = data
            return True

    async def consume(
        self, kind: str, key: str, *, keep: Sequence[str] | None = None
    ) -> ConsumeResult | None:
        _check_kind(kind)
        with self._lock:
            entry = self._live((kind, key), self._clock.now())
            if entry is None:
                return None
            first = not entry.consumed
            entry.consumed = True
            data = entry.data
            if first and keep is not None:
                value = json.loads(data)
                entry.data = _dumps({f: value[f] for f in keep if f in value})
                return ConsumeResult(value, first)
        return ConsumeResult(json.loads(data), first)

    async def delete(self, kind: str, key: str) -> None:
        _check_kind(kind)
        k = (kind, key)
        with self._lock:
            entry = self._entries.get(k)
            if entry is not None:
                self._remove(k, entry)

    async def add(self, kind: str, key: str, value: Value, ttl: float) -> bool:
        _check_kind(kind)
        data = _dumps(value)
        seconds = _ttl_seconds(ttl)
        with self._lock:
            return self._add((kind, key), data, seconds)

    def _add(self, k: tuple[str, str], data: str, seconds: float) -> bool:
        """`add`, with the lock held: the entry unless a live one exists."""
        now = self._clock.now()
        if self._live(k, now) is not None:
            return False
        self._entries[k] = _Entry(data, now + seconds)
        self._wrote(now)
        return True

    async def incr_read(
        self, kind: str, key: str, ttl: float, read: str
    ) -> tuple[int, Value | None]:
        n = await self.incr(kind, key, ttl)
        return n, await self.get(kind, read)

    async def incr(self, kind: str, key: str, ttl: float) -> int:
        _check_kind(kind)
        seconds = _ttl_seconds(ttl)
        k = (kind, key)
        with self._lock:
            now = self._clock.now()
            entry = self._live(k, now)
            if entry is None:
                self._entries[k] = _Entry("1", now + seconds)
                self._wrote(now)
                return 1
            current = json.loads(entry.data)
            if type(current) is not int:
                raise ValueError(f"{kind} entry is not a counter")
            entry.data = str(current + 1)
            return current + 1

    async def acquire_slot(
        self, kind: str, key: str, member: str, *, limit: int, ttl: float
    ) -> bool:
        """A slot in a set of at most `limit` members, each expiring `ttl` seconds after its
        last acquire (the same member again: the same slot). False when the set is full."""
        _check_kind(kind)
        seconds = _ttl_seconds(ttl)
        with self._lock:
            now = self._clock.now()
            slots = self._slots
            self._slot_writes += 1
            if self._slot_writes >= SWEEP_EVERY_WRITES:
                self._slot_writes = 0
                for k in list(slots):
                    live = {m: t for m, t in slots[k].items() if t > now}
                    if live:
                        slots[k] = live
                    else:
                        del slots[k]
            members = {m: t for m, t in slots.get((kind, key), {}).items() if t > now}
            if member not in members and len(members) >= limit:
                slots[(kind, key)] = members
                return False
            members[member] = now + seconds
            slots[(kind, key)] = members
            return True

    async def release_slot(self, kind: str, key: str, member: str) -> None:
        _check_kind(kind)
        with self._lock:
            slots = self._slots
            members = slots.get((kind, key))
            if members is not None:
                members.pop(member, None)
                if not members:
                    del slots[(kind, key)]

    # -- DueQueue (idp.store.ttl) -------------------------------------------------------------

    async def schedule(self, kind: str, key: str, value: Value, ttl: float, due: float) -> bool:
        _check_kind(kind)
        data = _dumps(value)
        seconds = _ttl_seconds(ttl)
        with self._lock:
            now = self._clock.now()
            if self._live((kind, key), now) is not None:
                return False
            self._entries[(kind, key)] = _Entry(data, now + seconds)
            self._queues.setdefault(kind, {})[key] = float(due)
            self._wrote(now)
            return True

    async def claim_due(
        self, kind: str, now: float, lease_until: float, limit: int
    ) -> list[tuple[str, Value]]:
        _check_kind(kind)
        out: list[tuple[str, Value]] = []
        with self._lock:
            queue = self._queues.get(kind, {})
            clock_now = self._clock.now()
            for key, when in sorted(queue.items(), key=lambda item: item[1]):
                if when > now or len(out) >= limit:
                    break
                entry = self._live((kind, key), clock_now)
                if entry is None:
                    del queue[key]
                    continue
                queue[key] = float(lease_until)
                out.append((key, json.loads(entry.data)))
        return out

    async def reschedule(self, kind: str, key: str, value: Value, due: float) -> bool:
        _check_kind(kind)
        data = _dumps(value)
        with self._lock:
            entry = self._live((kind, key), self._clock.now())
            if entry is None:
                return False
            entry.data = data
            self._queues.setdefault(kind, {})[key] = float(due)
            return True

    async def finish(self, kind: str, key: str) -> None:
        _check_kind(kind)
        with self._lock:
            self._queues.get(kind, {}).pop(key, None)
            k = (kind, key)
            entry = self._entries.get(k)
            if entry is not None:
                self._remove(k, entry)

    async def revoke_by_grant(self, grant_id: str) -> int:
        with self._lock:
            now = self._clock.now()
            deleted = 0
            for k in list(self._grants.get(grant_id, ())):
                entry = self._entries[k]
                if entry.expires_at > now:
                    deleted += 1
                self._remove(k, entry)
            return deleted

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        """Nothing to release; the entries stay usable (and are freed with the store)."""

    def __len__(self) -> int:
        """Number of entries held, expired or not (for tests and metrics)."""
        with self._lock:
            return len(self._entries)
