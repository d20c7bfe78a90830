"""Authlib's synchronous code and the async app: on the event loop where it can be, in a worker
thread where it must be.

The token endpoint runs Authlib's grant logic on the event loop (idp.oidc.bridge): the grants
await the TTL store and the database before and after the synchronous Authlib steps, so the hot
path has no thread hop. Other Authlib calls (introspection, revocation) still run in a worker
thread, and a hook there that needs the async TTL store calls it with `call_async`, which runs
the coroutine on the app's event loop and waits for its result.

A synchronous step that usually needs nothing async but sometimes does (client authentication,
whose key source may have to fetch a client's jwks_uri) runs with `sync_step`: on the loop, and
again in a worker thread only if it reached `call_async` on the loop.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, TypeVarTuple

import anyio.from_thread
import anyio.to_thread

T = TypeVar("T")
Args = TypeVarTuple("Args")

#: True while `sync_step` runs its function on the event loop.
_on_loop: contextvars.ContextVar[bool] = contextvars.ContextVar("idp_on_loop", default=False)


class NeedsWorkerThread(BaseException):
    """Raised by `call_async` when called on the event loop inside `sync_step`: the step is
    run again in a worker thread. A BaseException, so no `except Exception` in Authlib or a
    hook swallows it."""


def call_async(fn: Callable[[*Args], Coroutine[Any, Any, T]], *args: *Args) -> T:
    """Run the coroutine function `fn(*args)` on the event loop and return its result; from a
    worker thread that anyio started (`anyio.to_thread.run_sync`), or inside `sync_step`."""
    if _on_loop.get():
        raise NeedsWorkerThread
    return anyio.from_thread.run(fn, *args)


async def sync_step(fn: Callable[[*Args], T], *args: *Args) -> T:
    """`fn(*args)` on the event loop; if it needs the loop itself (`call_async`), once more in
    a worker thread. So `fn` must do nothing that matters before its first `call_async` (it
    may read, check and compute; it must not write)."""
    token = _on_loop.set(True)
    try:
        return fn(*args)
    except NeedsWorkerThread:
        pass
    finally:
        _on_loop.reset(token)
    return await anyio.to_thread.run_sync(fn, *args)


__all__ = ["NeedsWorkerThread", "call_async", "sync_step"]
