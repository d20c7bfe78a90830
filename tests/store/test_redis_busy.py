"""A process whose Redis connections are all in use is busy, not cut off from Redis: a command
that waited the whole timeout for a free connection raises StoreBusy (answered as overload,
idp.web.errors), and nothing is dropped or retried; once a connection is free, it works."""

from __future__ import annotations

import secrets

import pytest
from ttl_backends import REDIS_URL, open_admin

from idp.store.redis import RedisTTLStore
from idp.store.ttl import StoreBusy, StoreUnavailable

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


async def test_every_connection_in_use_is_busy_not_unavailable(anyio_backend: str) -> None:
    admin = await open_admin(REDIS_URL)  # skips or fails as the suite's Redis policy says
    await admin.aclose()
    store = RedisTTLStore.from_url(
        REDIS_URL, prefix=f"busy-{secrets.token_hex(4)}:", timeout=0.2, max_connections=1
    )
    try:
        await store.put("code", "c", {"v": 1}, 30)
        pool = store._client.connection_pool
        held = await pool.get_connection()  # the only connection, in use elsewhere
        with pytest.raises(StoreBusy) as caught:
            await store.get("code", "c")
        assert isinstance(caught.value, StoreUnavailable)  # still answered as 503
        await pool.release(held)
        assert await store.get("code", "c") == {"v": 1}
        await store.delete("code", "c")
    finally:
        await store.close()
