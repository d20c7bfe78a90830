"""The durable database: one SQLAlchemy engine per process, sync sessions used off the loop.

SQLite by default, PostgreSQL (``postgresql+psycopg://``) in production. Repository calls are
synchronous and short; async code calls them through `run_db` (or `in_db_thread`) so the event
loop stays free: in anyio's worker threads for PostgreSQL, and for an SQLite file in that
database's one thread (`make_engine`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


class DatabaseUnavailable(Exception):
    """Raised when the database cannot be reached or a statement fails for a server reason."""


#: Driver errors that mean the database is unreachable or gone away (not a bug in a statement),
#: as raised by repository code that runs without `run_db` (Authlib's grants in their thread).
DRIVER_UNAVAILABLE: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeout,
)


#: Connections a process keeps to its database: as many as statements can run at once, which is
#: the worker threads they run in (anyio's default thread limiter, 40 tokens). They are opened
#: as needed; no overflow, so no connection is opened for one request and closed after it.
POOL_SIZE = 40
#: Connections older than this are replaced when next checked out (server-side idle limits,
#: a failover behind a fixed address).
POOL_RECYCLE_SECONDS = 1800

#: The one thread of each SQLite file database (see `make_engine`).
_SERIAL: weakref.WeakKeyDictionary[Engine, ThreadPoolExecutor] = weakref.WeakKeyDictionary()


def make_engine(url: str) -> Engine:
    """The engine for `url`. No ping per checkout: after the database restarts, the first
    statement on a stale connection fails (a 503 `temporarily_unavailable` for that one
    request), SQLAlchemy sees a disconnect and invalidates the whole pool, and the next
    checkout connects afresh."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        pool: dict[str, Any] = {}
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # Created readable by its owner only: it holds grants and server secrets.
            with contextlib.suppress(FileExistsError):
                os.close(os.open(parsed.database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            # As for PostgreSQL: no connection (and its PRAGMAs) opened for one request.
            pool = {"pool_size": POOL_SIZE, "max_overflow": 0}
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 15},
            hide_parameters=True,  # SQL logs and errors never show values (personal data)
            **pool,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # The usual setting in WAL mode: a commit writes the WAL without waiting for an
            # fsync (the WAL is synced at checkpoints). The database stays consistent and
            # durable against the application crashing or being killed; a power loss or an
            # operating-system crash may lose the last transactions committed before it (a
            # refresh token just rotated, a grant just revoked), never corrupt the file.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=15000")
            cur.close()

        if pool:
            # SQLite lets one connection write at a time, and one that finds the file locked
            # sleeps and tries again (1, 2, 5, 10... ms). Statements from many threads at once
            # mostly waited on each other: under 16 concurrent token requests the code
            # exchange's p99 was 70-100 ms and the refresh grant's 140-190 ms. So this
            # process's calls take turns on one thread instead (`in_db_thread`): p99 about
            # 27 ms, 25% more exchanges per second, and less CPU per exchange (benchmarks/
            # compare.py). Other processes (the CLI, a second server) still meet the lock and
            # its busy timeout.
            _SERIAL[engine] = ThreadPoolExecutor(1, thread_name_prefix="idp-sqlite")
        return engine
    return create_engine(
        url,
        hide_parameters=True,
        pool_size=POOL_SIZE,
        max_overflow=0,
        pool_timeout=5,
        pool_recycle=POOL_RECYCLE_SECONDS,
        pool_use_lifo=True,  # the few connections in use stay warm; the rest stay idle
        connect_args={"connect_timeout": 3} if parsed.get_backend_name() == "postgresql" else {},
    )


def schema_is_current(engine: Engine) -> bool:
    """True when the database is at the migrations' heads (idp.resources.migration_heads),
    checked with one query and without loading Alembic; False when it is not, or cannot be
    told this way (then Alembic decides)."""
    from idp.resources import migration_heads

    heads = migration_heads()
    if heads is None:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError:
        return False  # no table yet (a new database), or no database: Alembic says which
    return set(rows) == heads


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def ping(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(type(exc).__name__) from None


def engine_of(sessions: sessionmaker[Session]) -> Engine | None:
    """The engine a repository's sessions are bound to."""
    bind = sessions.kw.get("bind")
    return bind if isinstance(bind, Engine) else None


async def in_db_thread(engine: Engine | None, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` off the event loop: on the one thread of `engine` when it is an SQLite
    file, else in one of anyio's worker threads. As with anyio's, the call runs to its end even
    when the awaiting task is cancelled (a statement is never left half-done by it)."""
    executor = None if engine is None else _SERIAL.get(engine)
    if executor is None:
        return await anyio.to_thread.run_sync(fn, *args)
    future = asyncio.get_running_loop().run_in_executor(executor, functools.partial(fn, *args))
    with anyio.CancelScope(shield=True):  # as anyio's own: a cancelled scope waits for the call
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:  # a task cancelled outside anyio: the same, then go on
            await asyncio.wait({future})
            raise
    return future.result()


async def run_db(fn: Callable[..., T], *args: Any, engine: Engine | None = None) -> T:
    """Run a synchronous repository call off the loop (`in_db_thread`); map driver errors."""
    try:
        return await in_db_thread(engine, fn, *args)
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(type(exc).__name__) from None
