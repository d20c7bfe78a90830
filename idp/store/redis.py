"""Redis `TTLStore`, shared by every instance.

Layout (``P`` is the prefix, ``"idp:"`` by default):

* ``P{kind}:{key}`` — a hash with field ``v`` (the value as JSON text), ``c`` (present once
  consumed) and ``g`` (the grant id, when put with one). The key's TTL is the entry's TTL, in
  milliseconds, at least 1 ms. Counters from `incr` are the same hash with ``v`` an integer.
* ``Pgrant:{grant_id}`` — a set of the full keys put with that grant; its TTL is extended to
  cover its longest-lived member. The kind ``"grant"`` is therefore reserved.

Every operation that reads and then writes is one Lua script, so it is atomic across processes;
in particular `consume` relies on HSETNX of ``c``, which keeps the key's TTL. Any Redis or socket
error is raised as `StoreUnavailable` with a short message that never contains a value.

After Redis restarts, the pooled connections are dead. The first one found dead drops every idle
connection of the pool, and an idempotent operation (the reads, put, update, delete, ping) is
tried once more on a fresh connection, so service resumes by itself. `consume`, `add` and
`incr` are never retried: a lost reply would make the real first caller look like a replay.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from idp.store.ttl import ConsumeResult, LinkedClaim, StoreBusy, StoreUnavailable, Value

__all__ = ["RedisTTLStore"]

T = TypeVar("T")

_RESERVED_KINDS = frozenset({"grant"})
_IDEMPOTENT = frozenset(
    {
        "get",
        "get_many",
        "get_linked",
        "put",
        "update",
        "delete",
        "ping",
        "revoke_by_grant",
        "reschedule",
        "finish",
    }
)

# KEYS[1] entry, KEYS[2] grant set or "" | ARGV[1] json, ARGV[2] ttl ms, ARGV[3] grant id,
# ARGV[4] grant-set key prefix ("P" .. "grant:")
_PUT = """
local old = redis.call('HGET', KEYS[1], 'g')
if old and old ~= ARGV[3] then
  redis.call('SREM', ARGV[4] .. old, KEYS[1])
end
redis.call('DEL', KEYS[1])
local ttl = tonumber(ARGV[2])
if KEYS[2] ~= '' then
  redis.call('HSET', KEYS[1], 'v', ARGV[1], 'g', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('SADD', KEYS[2], KEYS[1])
  if redis.call('PTTL', KEYS[2]) < ttl then
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
else
  redis.call('HSET', KEYS[1], 'v', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
"""

# Only the value changes; the TTL, the consumed marker and the grant stay.
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1])
return 1
"""

# ARGV[1] == '1': the first consume keeps only the fields ARGV[2..] of the value.
_CONSUME = """
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return false end
local first = redis.call('HSETNX', KEYS[1], 'c', '1')
if first == 1 and ARGV[1] == '1' then
  local d = cjson.decode(v)
  local kept = {}
  for i = 2, #ARGV do kept[ARGV[i]] = d[ARGV[i]] end
  redis.call('HSET', KEYS[1], 'v', next(kept) and cjson.encode(kept) or '{}')
end
return {v, first}
"""

_DELETE = """
local g = redis.call('HGET', KEYS[1], 'g')
if g then redis.call('SREM', ARGV[1] .. g, KEYS[1]) end
return redis.call('DEL', KEYS[1])
"""

_ADD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

_INCR = """
local n = redis.call('HINCRBY', KEYS[1], 'v', 1)
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
"""

# `_INCR` of KEYS[1], and the value of KEYS[2] (nil if absent), in one call.
_INCR_READ = """
local n = redis.call('HINCRBY', KEYS[1], 'v', 1)
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return {n, redis.call('HGET', KEYS[2], 'v')}
"""

# A bounded set of expiring members (a sorted set scored by expiry, server time in ms).
# KEYS[1] the set | ARGV[1] member, ARGV[2] limit, ARGV[3] ttl ms. 1 if acquired, 0 if full.
_ACQUIRE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
end
local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
"""

# Due queues (DueQueue): a sorted set of keys scored by when each falls due, at the kind's
# key "~due", living as long as its longest-lived entry.
# KEYS[1] entry, KEYS[2] queue | ARGV[1] json, ARGV[2] ttl ms, ARGV[3] due, ARGV[4] key.
_SCHEDULE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1
"""

# KEYS[1] queue | ARGV[1] now, ARGV[2] lease until, ARGV[3] limit, ARGV[4] entry key prefix.
# A flat list: key, value, key, value, ...
_CLAIM_DUE = """
local out = {}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, m in ipairs(due) do
  local v = redis.call('HGET', ARGV[4] .. m, 'v')
  if v then
    redis.call('ZADD', KEYS[1], ARGV[2], m)
    out[#out + 1] = m
    out[#out + 1] = v
  else
    redis.call('ZREM', KEYS[1], m)
  end
end
return out
"""

# KEYS[1] entry, KEYS[2] queue | ARGV[1] json, ARGV[2] due, ARGV[3] key.
_RESCHEDULE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""

# KEYS[1] entry, KEYS[2] queue | ARGV[1] key.
_FINISH = """
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
"""

#: The key, within a kind, of that kind's due queue.
DUE = "~due"

# KEYS[1] the entry | ARGV[1] the field naming the linked key; ARGV[2..8] a `LinkedClaim`, or
# all '' for none: the lease key's prefix, its TTL in ms, the match field and value, the
# `needs` and `due` fields, `due_by`; ARGV[9..] the linked kinds' key prefixes. {} when the
# entry is absent, else its value, one value per linked kind ('' for none: values are JSON,
# never empty), and 1 when the lease was taken (its `holds`, in Lua), else 0.
_GET_LINKED = """
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return {} end
local ok, doc = pcall(cjson.decode, v)
if not ok or type(doc) ~= 'table' then doc = {} end
local link = nil
if type(doc[ARGV[1]]) == 'string' then link = doc[ARGV[1]] end
local n = #ARGV - 8
local out = {v}
for i = 1, n do
  local found = false
  if link then found = redis.call('HGET', ARGV[8 + i] .. link, 'v') end
  out[i + 1] = found or ''
end
local claimed = 0
local holds = ARGV[2] ~= '' and link ~= nil and n >= 1 and out[2] ~= ''
  and doc[ARGV[4]] == ARGV[5]
for i = 3, n + 1 do
  if out[i] ~= '' then holds = false end
end
if holds then
  local fok, first = pcall(cjson.decode, out[2])
  holds = fok and type(first) == 'table' and type(first[ARGV[6]]) == 'string'
    and first[ARGV[6]] ~= ''
  if holds then
    local due = first[ARGV[7]]
    holds = type(due) ~= 'number' or due <= tonumber(ARGV[8])
  end
end
if holds and redis.call('EXISTS', ARGV[2] .. link) == 0 then
  redis.call('HSET', ARGV[2] .. link, 'v', '{}')
  redis.call('PEXPIRE', ARGV[2] .. link, ARGV[3])
  claimed = 1
end
out[n + 2] = claimed
return out
"""

# A member counts only if it still belongs to this grant (it may have expired, or been
# replaced by a put with another grant or none, since it was indexed).
_REVOKE = """
local n = 0
for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('HGET', k, 'g') == ARGV[1] then
    n = n + redis.call('DEL', k)
  end
end
redis.call('DEL', KEYS[1])
return n
"""


#: Connections one process keeps to Redis at most. A request holds one only while a command
#: runs, so a few hundred serve the admission limit's thousand requests in progress
#: (`limits.max_in_flight`); beyond, a command waits its turn (up to the timeout).
MAX_CONNECTIONS = 256
#: What redis-py's BlockingConnectionPool raises (a ConnectionError) when none came free.
POOL_EXHAUSTED = "No connection available."


def _check_kind(kind: str) -> None:
    if not kind or ":" in kind or kind in _RESERVED_KINDS:
        raise ValueError(f"invalid kind {kind!r}: must be non-empty, without ':', not 'grant'")


def _ttl_ms(ttl: float) -> int:
    if not math.isfinite(ttl):
        raise ValueError("ttl must be a finite number of seconds")
    return max(1, math.ceil(ttl * 1000))


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _loads(data: bytes | str) -> Any:
    return json.loads(data)


class RedisTTLStore:
    def __init__(self, client: aioredis.Redis, prefix: str = "idp:") -> None:
        self._client = client
        self._prefix = prefix
        self._grant_prefix = f"{prefix}grant:"
        self._put = client.register_script(_PUT)
        self._update = client.register_script(_UPDATE)
        self._consume = client.register_script(_CONSUME)
        self._delete = client.register_script(_DELETE)
        self._add = client.register_script(_ADD)
        self._incr = client.register_script(_INCR)
        self._incr_read = client.register_script(_INCR_READ)
        self._revoke = client.register_script(_REVOKE)
        self._get_linked = client.register_script(_GET_LINKED)
        self._acquire_slot = client.register_script(_ACQUIRE_SLOT)
        self._schedule = client.register_script(_SCHEDULE)
        self._claim_due = client.register_script(_CLAIM_DUE)
        self._reschedule = client.register_script(_RESCHEDULE)
        self._finish = client.register_script(_FINISH)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "idp:",
        timeout: float = 2.0,
        health_check_interval: int = 30,
        max_connections: int = MAX_CONNECTIONS,
    ) -> RedisTTLStore:
        """A store on its own client. `timeout` bounds connecting, each command, and the wait
        for a free connection when `max_connections` are all in use (a burst waits its turn
        instead of failing as "Redis unavailable"; the admission limit keeps requests in
        progress below it: idp.web.overload)."""
        # No automatic retries: a retried consume or incr whose first reply was lost would
        # turn the real first consumer into an apparent replay, or count twice.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            health_check_interval=health_check_interval,
            retry=Retry(NoBackoff(), 0),
        )
        return cls(aioredis.Redis.from_pool(pool), prefix=prefix)

    @property
    def prefix(self) -> str:
        return self._prefix

    def _key(self, kind: str, key: str) -> str:
        _check_kind(kind)
        return f"{self._prefix}{kind}:{key}"

    async def _call(self, op: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            try:
                return await call()
            except RedisConnectionError as exc:
                if str(exc) == POOL_EXHAUSTED:  # no connection came free within the timeout
                    raise StoreBusy(f"Redis {op}: every connection stayed in use") from None
                await self._drop_idle_connections()
                if op not in _IDEMPOTENT:
                    raise
                return await call()
        except (RedisError, OSError) as exc:
            # The message names the operation and the error class only: no key, no value.
            raise StoreUnavailable(f"Redis {op} failed: {type(exc).__name__}") from exc

    async def _drop_idle_connections(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._client.connection_pool.disconnect(inuse_connections=False)

    async def put(
        self, kind: str, key: str, value: Value, ttl: float, *, grant_id: str | None = None
    ) -> None:
        k = self._key(kind, key)
        args: list[str | int] = [_dumps(value), _ttl_ms(ttl), grant_id or "", self._grant_prefix]
        gk = "" if grant_id is None else self._grant_prefix + grant_id
        await self._call("put", lambda: self._put(keys=[k, gk], args=args))

    async def get(self, kind: str, key: str) -> Value | None:
        k = self._key(kind, key)
        data = await self._call("get", lambda: self._client.hget(k, "v"))
        return None if data is None else _loads(data)

    async def get_many(self, items: Sequence[tuple[str, str]]) -> list[Value | None]:
        """One pipelined round trip of HGETs (no MULTI: a read needs no transaction)."""
        if not items:
            return []
        keys = [self._key(kind, key) for kind, key in items]

        async def fetch() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for k in keys:
                pipe.hget(k, "v")
            return list(await pipe.execute())

        found = await self._call("get_many", fetch)
        return [None if data is None else _loads(data) for data in found]

    async def get_linked(
        self, kind: str, key: str, field: str, kinds: Sequence[str]
    ) -> tuple[Value | None, list[Value | None]]:
        """One Lua script: the entry, then HGETs of the linked entries it names."""
        value, linked, _ = await self._linked(kind, key, field, kinds, None)
        return value, linked

    async def get_linked_claim(
        self, kind: str, key: str, field: str, kinds: Sequence[str], claim: LinkedClaim
    ) -> tuple[Value | None, list[Value | None], bool]:
        """The same script: `get_linked`, then the lease when `claim` holds."""
        return await self._linked(kind, key, field, kinds, claim)

    async def _linked(
        self, kind: str, key: str, field: str, kinds: Sequence[str], claim: LinkedClaim | None
    ) -> tuple[Value | None, list[Value | None], bool]:
        k = self._key(kind, key)
        prefixes = [self._key(other, "") for other in kinds]
        lease: list[str | int] = (
            [""] * 7
            if claim is None
            else [
                self._key(claim.kind, ""),
                _ttl_ms(claim.ttl),
                *claim.match,
                claim.needs,
                claim.due,
                repr(float(claim.due_by)),
            ]
        )
        args = [field, *lease, *prefixes]
        op = "get_linked" if claim is None else "get_linked_claim"  # only a read is retried
        found = await self._call(op, lambda: self._get_linked(keys=[k], args=args))
        if not found:
            return None, [None] * len(kinds), False
        linked = [None if not data else _loads(data) for data in found[1:-1]]
        return _loads(found[0]), linked, int(found[-1]) == 1

    async def update(self, kind: str, key: str, value: Value) -> bool:
        k = self._key(kind, key)
        done = await self._call("update", lambda: self._update(keys=[k], args=[_dumps(value)]))
        return bool(done)

    async def consume(
        self, kind: str, key: str, *, keep: Sequence[str] | None = None
    ) -> ConsumeResult | None:
        k = self._key(kind, key)
        args = ["0"] if keep is None else ["1", *keep]
        res = await self._call("consume", lambda: self._consume(keys=[k], args=args))
        if res is None:
            return None
        data, first = res
        return ConsumeResult(_loads(data), int(first) == 1)

    async def delete(self, kind: str, key: str) -> None:
        k = self._key(kind, key)
        await self._call("delete", lambda: self._delete(keys=[k], args=[self._grant_prefix]))

    async def add(self, kind: str, key: str, value: Value, ttl: float) -> bool:
        k = self._key(kind, key)
        won = await self._call(
            "add", lambda: self._add(keys=[k], args=[_dumps(value), _ttl_ms(ttl)])
        )
        return bool(won)

    async def incr(self, kind: str, key: str, ttl: float) -> int:
        k = self._key(kind, key)
        return int(await self._call("incr", lambda: self._incr(keys=[k], args=[_ttl_ms(ttl)])))

    async def incr_read(
        self, kind: str, key: str, ttl: float, read: str
    ) -> tuple[int, Value | None]:
        keys = [self._key(kind, key), self._key(kind, read)]
        n, data = await self._call(
            "incr_read", lambda: self._incr_read(keys=keys, args=[_ttl_ms(ttl)])
        )
        return int(n), None if data is None else _loads(data)

    async def acquire_slot(
        self, kind: str, key: str, member: str, *, limit: int, ttl: float
    ) -> bool:
        """A slot in a set of at most `limit` members, each expiring `ttl` seconds after its
        last acquire (the same member again: the same slot). False when the set is full."""
        k = self._key(kind, key)
        args: list[str | int] = [member, limit, _ttl_ms(ttl)]
        return bool(
            await self._call("acquire_slot", lambda: self._acquire_slot(keys=[k], args=args))
        )

    async def release_slot(self, kind: str, key: str, member: str) -> None:
        k = self._key(kind, key)
        await self._call("release_slot", lambda: self._client.zrem(k, member))

    # -- DueQueue (idp.store.ttl) --------------------------------------------------------

    async def schedule(self, kind: str, key: str, value: Value, ttl: float, due: float) -> bool:
        keys = [self._key(kind, key), self._key(kind, DUE)]
        args: list[str | int] = [_dumps(value), _ttl_ms(ttl), repr(float(due)), key]
        return bool(await self._call("schedule", lambda: self._schedule(keys=keys, args=args)))

    async def claim_due(
        self, kind: str, now: float, lease_until: float, limit: int
    ) -> list[tuple[str, Value]]:
        keys = [self._key(kind, DUE)]
        args: list[str | int] = [
            repr(float(now)),
            repr(float(lease_until)),
            limit,
            self._key(kind, ""),
        ]
        flat = await self._call("claim_due", lambda: self._claim_due(keys=keys, args=args))
        pairs = list(flat)
        return [
            (k.decode() if isinstance(k, bytes) else str(k), _loads(v))
            for k, v in zip(pairs[::2], pairs[1::2], strict=True)
        ]

    async def reschedule(self, kind: str, key: str, value: Value, due: float) -> bool:
        keys = [self._key(kind, key), self._key(kind, DUE)]
        args = [_dumps(value), repr(float(due)), key]
        return bool(await self._call("reschedule", lambda: self._reschedule(keys=keys, args=args)))

    async def finish(self, kind: str, key: str) -> None:
        keys = [self._key(kind, key), self._key(kind, DUE)]
        await self._call("finish", lambda: self._finish(keys=keys, args=[key]))

    async def revoke_by_grant(self, grant_id: str) -> int:
        gk = self._grant_prefix + grant_id
        return int(
            await self._call("revoke_by_grant", lambda: self._revoke(keys=[gk], args=[grant_id]))
        )

    async def ping(self) -> None:
        await self._call("ping", lambda: self._client.ping())

    async def close(self) -> None:
        await self._call("close", lambda: self._client.aclose())
