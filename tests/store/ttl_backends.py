"""The implementations under test, wrapped with what a contract test needs around them."""

from __future__ import annotations

import os
import secrets

import anyio
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from services import require_service

from idp.clock import FixedClock
from idp.store.memory import MemoryTTLStore
from idp.store.redis import RedisTTLStore
from idp.store.ttl import TTLStore

REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# Set once Redis was found unreachable, so later tests do not each wait for a timeout.
_redis_unreachable: str | None = None


class Backend:
    """One implementation under test, plus the few things a contract test needs around it."""

    name: str
    store: TTLStore

    def peer(self) -> TTLStore:
        """Another handle on the same data (a separate connection for Redis); close it."""
        raise NotImplementedError

    def sibling(self) -> TTLStore:
        """A store in a separate namespace (another prefix, another process); close it."""
        raise NotImplementedError

    async def elapse(self, seconds: float) -> None:
        """Let `seconds` pass for the store's expiry."""
        raise NotImplementedError

    async def settle(self, seconds: float = 0.3) -> None:
        """Upper bound of extra wall-clock time a real server may need to show an expiry."""


class MemoryBackend(Backend):
    name = "memory"

    def __init__(self) -> None:
        self.clock = FixedClock()
        self.store = MemoryTTLStore(self.clock)

    def peer(self) -> TTLStore:
        return self.store

    def sibling(self) -> TTLStore:
        return MemoryTTLStore(self.clock)

    async def elapse(self, seconds: float) -> None:
        self.clock.advance(seconds)


class RedisBackend(Backend):
    name = "redis"

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = f"idp-test:{secrets.token_hex(6)}:"
        self.prefixes = [self.prefix]
        self.store = RedisTTLStore.from_url(url, prefix=self.prefix)

    def peer(self) -> TTLStore:
        return RedisTTLStore.from_url(self.url, prefix=self.prefix)

    def sibling(self) -> TTLStore:
        prefix = f"idp-test:{secrets.token_hex(6)}:"
        self.prefixes.append(prefix)
        return RedisTTLStore.from_url(self.url, prefix=prefix)

    async def elapse(self, seconds: float) -> None:
        await anyio.sleep(seconds)


async def open_admin(url: str) -> aioredis.Redis:
    global _redis_unreachable
    if _redis_unreachable is not None:
        require_service("Redis", _redis_unreachable, where=url)
    admin = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await admin.ping()
    except (RedisError, OSError) as exc:
        await admin.aclose()
        _redis_unreachable = f"{type(exc).__name__}: {exc}"
        require_service("Redis", _redis_unreachable, where=url)
    return admin


async def purge(admin: aioredis.Redis, prefix: str) -> list[bytes]:
    """Delete every key under `prefix`; return those that had no TTL (a leak)."""
    immortal = []
    async for key in admin.scan_iter(match=f"{prefix}*", count=500):
        if await admin.pttl(key) == -1:
            immortal.append(key)
        await admin.delete(key)
    return immortal
