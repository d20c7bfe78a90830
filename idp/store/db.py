"""The durable database: one SQLAlchemy engine per process, sync sessions used off the loop.

SQLite by default, PostgreSQL (``postgresql+psycopg://``) in production. Repository calls are
synchronous and short; async code calls them through `run_db` so the event loop stays free.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

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


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 15},
            pool_pre_ping=True,
            hide_parameters=True,  # SQL logs and errors never show values (personal data)
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=15000")
            cur.close()

        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        hide_parameters=True,
        pool_size=10,
        max_overflow=20,
        pool_timeout=5,
        connect_args={"connect_timeout": 3} if parsed.get_backend_name() == "postgresql" else {},
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def ping(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(type(exc).__name__) from None


async def run_db(fn: Callable[..., T], *args: Any) -> T:
    """Run a synchronous repository call in a worker thread; map driver errors."""
    try:
        return await anyio.to_thread.run_sync(fn, *args)
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(type(exc).__name__) from None
