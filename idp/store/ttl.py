"""Short-lived shared state behind one small interface, shaped like node-oidc-provider's adapter.

Authorization codes, login transactions, BankID orders, CIBA requests, leases and rate-limit
counters live here. Every entry has a kind (a namespace such as ``"code"``), a key, a JSON
object as value and a time to live. Two implementations: Redis, shared by every instance, and
an in-process one for the single-process embedded default. Both pass the same contract suite
(``tests/store/test_ttl_contract.py``).

The TTL only bounds how long an entry is kept. Protocol expiry (a code older than 60 s) is
checked by the caller against its injected clock, using a timestamp stored in the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

Value = dict[str, Any]


class StoreUnavailable(Exception):
    """Raised when the backing service (Redis) cannot be reached or answers with an error.

    Callers turn it into `temporarily_unavailable` or a friendly error page.
    """


class StoreBusy(StoreUnavailable):
    """Every connection to the store stayed in use for the whole timeout: this process has
    more work than it can do, the store itself is fine. Answered as StoreUnavailable, but
    reported as overload (idp.web.errors), not as an outage."""


class Consumed(Protocol):
    value: Value
    first: bool


class TTLStore(Protocol):
    async def put(
        self, kind: str, key: str, value: Value, ttl: float, *, grant_id: str | None = None
    ) -> None:
        """Create or replace an entry that lives `ttl` seconds.

        With `grant_id`, the entry is also indexed under that grant so `revoke_by_grant` can
        remove it (RFC 6749 §4.1.2: a replayed code revokes what the first use issued).
        """
        ...

    async def get(self, kind: str, key: str) -> Value | None:
        """The entry's value, or None when absent or expired."""
        ...

    async def get_many(self, items: Sequence[tuple[str, str]]) -> list[Value | None]:
        """The values of several entries, each given as ``(kind, key)``, in one round trip.

        Position by position what `get` would return (None when absent or expired). Not a
        snapshot across entries: another instance may write between two of them, exactly as
        between two `get` calls.
        """
        ...

    async def get_linked(
        self, kind: str, key: str, field: str, kinds: Sequence[str]
    ) -> tuple[Value | None, list[Value | None]]:
        """An entry and, in the same round trip, the entries of `kinds` whose key is the
        string in the entry's `field` (a login and its order, say).

        ``(None, [None, ...])`` when the entry is absent; a linked value is None when the
        entry's `field` is not a string or that entry is absent.
        """
        ...

    async def get_linked_claim(
        self, kind: str, key: str, field: str, kinds: Sequence[str], claim: LinkedClaim
    ) -> tuple[Value | None, list[Value | None], bool]:
        """`get_linked`, and in the same round trip `add` of an entry of `claim.kind` keyed by
        the link, for `claim.ttl` seconds, when `claim` holds for what was read (see
        `LinkedClaim`). The third value: whether this call took it."""
        ...

    async def update(self, kind: str, key: str, value: Value) -> bool:
        """Replace the value of an existing entry, keeping its remaining TTL; False if absent."""
        ...

    async def consume(
        self, kind: str, key: str, *, keep: Sequence[str] | None = None
    ) -> ConsumeResult | None:
        """Atomically mark an entry consumed and return it.

        `first` is True for exactly one caller, however many call at once and on however many
        instances; later callers get the same value with `first=False`, so a replay can be
        detected and punished. None when the entry is absent or expired.

        With `keep`, the first consume also reduces the stored value to those of its fields
        (top-level, string values: what replay detection needs), in the same atomic step and
        keeping the TTL; the first caller gets the whole value, later callers the reduced one.
        """
        ...

    async def delete(self, kind: str, key: str) -> None: ...

    async def add(self, kind: str, key: str, value: Value, ttl: float) -> bool:
        """Create the entry only if absent (a lease, a replay marker); True if this call won."""
        ...

    async def incr(self, kind: str, key: str, ttl: float) -> int:
        """Increment a counter, creating it with `ttl` if absent; returns the new value."""
        ...

    async def incr_read(
        self, kind: str, key: str, ttl: float, read: str
    ) -> tuple[int, Value | None]:
        """`incr` of `key`, and the entry `read` of the same kind, in one round trip (a rate
        limit counts a request and reads another counter at once)."""
        ...

    async def revoke_by_grant(self, grant_id: str) -> int:
        """Delete every entry put with this grant_id; returns how many were deleted."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable when the store cannot serve requests (for /readyz)."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class LinkedClaim:
    """A lease taken with a `get_linked_claim` read, on what it read: the entry's `match` field
    equals the given string; the first linked entry has a non-empty string in `needs`, and in
    `due` no number or one at most `due_by`; no other linked entry exists. (A BankID login's
    collect lease: this browser's login, an order started at BankID, its collect due, no final
    result: one round trip for the poll instead of two.)"""

    kind: str
    ttl: float
    match: tuple[str, str]
    needs: str
    due: str
    due_by: float

    def holds(self, value: Value | None, linked: Sequence[Value | None]) -> bool:
        """The condition, in Python (the in-process store's, and the reference for Lua)."""
        if not isinstance(value, dict) or not linked or any(v is not None for v in linked[1:]):
            return False
        first = linked[0]
        if value.get(self.match[0]) != self.match[1] or not isinstance(first, dict):
            return False
        needed, due = first.get(self.needs), first.get(self.due)
        if not isinstance(needed, str) or not needed:
            return False
        return not isinstance(due, int | float) or isinstance(due, bool) or due <= self.due_by


class ConsumeResult:
    __slots__ = ("first", "value")

    def __init__(self, value: Value, first: bool) -> None:
        self.value = value
        self.first = first

    def __repr__(self) -> str:
        return f"ConsumeResult(first={self.first})"


@runtime_checkable
class DueQueue(Protocol):
    """Entries of one kind that fall due at a time and are claimed by one caller at a time,
    across instances (a delivery queue: back-channel logout). Both stores implement it beside
    `TTLStore`. Times are seconds on the caller's clock. The queue of a kind is kept under the
    key ``"~due"`` of that kind, so entries of a queued kind never use that key."""

    async def schedule(self, kind: str, key: str, value: Value, ttl: float, due: float) -> bool:
        """Create the entry, only if absent, and make it due at `due`; True if this call did
        (scheduling the same key again changes nothing)."""
        ...

    async def claim_due(
        self, kind: str, now: float, lease_until: float, limit: int
    ) -> list[tuple[str, Value]]:
        """Atomically: up to `limit` entries due at `now`, each made due again only at
        `lease_until`, so no other caller, on any instance, gets it before then. Entries that
        expired meanwhile leave the queue."""
        ...

    async def reschedule(self, kind: str, key: str, value: Value, due: float) -> bool:
        """Replace a queued entry's value (keeping its TTL) and make it due at `due`; False if
        it is gone."""
        ...

    async def finish(self, kind: str, key: str) -> None:
        """Remove the entry and its place in the queue."""
        ...
