"""Skip-or-fail for tests that need an external service (Redis, PostgreSQL, ...).

By default a test whose service is not reachable is skipped, so the suite runs on a laptop
without services. In CI set ``IDP_REQUIRE_SERVICES=1``: the same situation then fails the test,
so a missing service can never turn a green run into a hollow one.

Import it as ``from tests.services import require_service`` when the repository root is on
``sys.path`` (pytest ``pythonpath = ["."]``), or as ``from services import require_service``,
which works either way: ``tests/`` is on ``sys.path`` because ``tests/conftest.py`` is loaded in
pytest's default "prepend" import mode.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from typing import NoReturn

import pytest
import redis.asyncio as aioredis

REQUIRE_SERVICES_ENV = "IDP_REQUIRE_SERVICES"
#: The Redis the tests of the Redis backends use (a database of its own).
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def services_required() -> bool:
    return os.environ.get(REQUIRE_SERVICES_ENV, "").strip() == "1"


def require_service(name: str, reason: str, *, where: str | None = None) -> NoReturn:
    """Skip the current test because service `name` is unavailable, or fail it in CI.

    `reason` says why (usually the connection error); `where` is the address that was tried,
    e.g. ``require_service("Redis", str(exc), where="redis://127.0.0.1:6379/15")``.
    """
    at = f" at {where}" if where else ""
    message = f"{name} not reachable{at}: {reason}"
    if services_required():
        pytest.fail(f"{message} ({REQUIRE_SERVICES_ENV}=1, so this is a failure)", pytrace=False)
    pytest.skip(f"{message} (set {REQUIRE_SERVICES_ENV}=1 to fail instead)")


@contextlib.asynccontextmanager
async def redis_prefix(name: str) -> AsyncIterator[str]:
    """A key prefix of its own (``idp-test-<name>:<random>:``) on the tests' Redis, its keys
    removed afterwards; `require_service` when Redis is not reachable."""
    admin = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await admin.ping()
    except Exception as exc:
        await admin.aclose()
        require_service("Redis", type(exc).__name__, where=REDIS_URL)
    prefix = f"idp-test-{name}:{secrets.token_hex(6)}:"
    try:
        yield prefix
    finally:
        keys = [k async for k in admin.scan_iter(match=prefix + "*")]
        if keys:
            await admin.delete(*keys)
        await admin.aclose()
