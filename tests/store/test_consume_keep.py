"""`consume(..., keep=...)`: the first consumer gets the whole value and, in the same atomic
step, the entry keeps only the named fields (an authorization code keeps what replay
detection needs, not the claims); later consumers get that reduced value. Both backends."""

from __future__ import annotations

import pytest
from ttl_backends import Backend

from idp.store.ttl import TTLStore

pytestmark = pytest.mark.anyio

CODE = {"grant_id": "g1", "client_id": "rp", "claims": {"name": "A"}, "expires_at": 1.5}


async def test_first_consume_keeps_only_the_named_fields(store: TTLStore) -> None:
    await store.put("code", "c", CODE, 60)
    first = await store.consume("code", "c", keep=("grant_id", "client_id"))
    assert first is not None and (first.first, first.value) == (True, CODE)
    assert await store.get("code", "c") == {"grant_id": "g1", "client_id": "rp"}
    replay = await store.consume("code", "c", keep=("grant_id", "client_id"))
    assert replay is not None
    assert (replay.first, replay.value) == (False, {"grant_id": "g1", "client_id": "rp"})


async def test_missing_fields_are_left_out_and_no_keep_changes_nothing(store: TTLStore) -> None:
    await store.put("code", "c", {"client_id": "rp"}, 60)
    assert (await store.consume("code", "c", keep=("grant_id", "client_id"))) is not None
    assert await store.get("code", "c") == {"client_id": "rp"}
    await store.put("code", "d", CODE, 60)
    assert (await store.consume("code", "d")) is not None
    assert await store.get("code", "d") == CODE
    await store.put("code", "e", CODE, 60)
    assert (await store.consume("code", "e", keep=())) is not None
    assert await store.get("code", "e") == {}


async def test_keep_leaves_the_ttl(backend: Backend) -> None:
    store = backend.store
    await store.put("code", "c", CODE, 0.3)
    assert (await store.consume("code", "c", keep=("grant_id",))) is not None
    await backend.elapse(0.4)
    await backend.settle()
    assert await store.get("code", "c") is None
