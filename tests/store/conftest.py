"""Fixtures for the TTL-store contract suite: one `backend` per implementation.

The Redis backend connects to ``IDP_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``),
gives every test a fresh random prefix and deletes that prefix's keys afterwards. Without a
reachable Redis its cases are skipped, or failed when ``IDP_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from ttl_backends import REDIS_URL, Backend, MemoryBackend, RedisBackend, open_admin, purge

from idp.store.ttl import TTLStore


@pytest.fixture
async def redis_admin(anyio_backend: str) -> AsyncIterator[aioredis.Redis]:
    """A raw client on the test database, for tests that inspect the layout."""
    admin = await open_admin(REDIS_URL)
    try:
        yield admin
    finally:
        await admin.aclose()


@pytest.fixture(
    params=["memory", pytest.param("redis", marks=pytest.mark.redis)],
)
async def backend(request: pytest.FixtureRequest, anyio_backend: str) -> AsyncIterator[Backend]:
    if request.param == "memory":
        memory = MemoryBackend()
        yield memory
        await memory.store.close()
        return

    admin = await open_admin(REDIS_URL)
    try:
        redis_backend = RedisBackend(REDIS_URL)
        try:
            yield redis_backend
        finally:
            await redis_backend.store.close()
            immortal: list[bytes] = []
            for prefix in redis_backend.prefixes:
                immortal += await purge(admin, prefix)
    finally:
        await admin.aclose()
    assert not immortal, f"keys left without a TTL: {immortal!r}"


@pytest.fixture
def store(backend: Backend) -> TTLStore:
    return backend.store
