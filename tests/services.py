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

import os
from typing import NoReturn

import pytest

REQUIRE_SERVICES_ENV = "IDP_REQUIRE_SERVICES"


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
