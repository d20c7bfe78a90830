"""From Authlib's worker thread back to the event loop.

Authlib's grant code is synchronous and runs in a worker thread (idp.oidc.bridge); the TTL store
is async. A hook that needs the store calls it with `call_async`, which runs the coroutine on
the app's event loop and waits for its result. The CIBA grant (idp.ciba.grant) does the same.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, TypeVarTuple

import anyio.from_thread

T = TypeVar("T")
Args = TypeVarTuple("Args")


def call_async(fn: Callable[[*Args], Coroutine[Any, Any, T]], *args: *Args) -> T:
    """Run the coroutine function `fn(*args)` on the event loop and return its result; only
    from a worker thread that anyio started (`anyio.to_thread.run_sync`)."""
    return anyio.from_thread.run(fn, *args)


__all__ = ["call_async"]
