"""Where database calls run (idp.store.db.in_db_thread): an SQLite file's one at a time on its
own thread, since SQLite lets one connection write at a time; anything else in anyio's worker
threads. Off the event loop either way, and never cut short by a cancelled caller."""

from __future__ import annotations

import threading
import time

import anyio
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from idp.store.db import DatabaseUnavailable, in_db_thread, make_engine, run_db

pytestmark = pytest.mark.anyio


class Tracker:
    """Which threads ran the calls, and how many ran at once at most."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = self.most = 0
        self.threads: set[int] = set()

    def call(self, seconds: float) -> int:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.get_ident())
        time.sleep(seconds)  # a statement's time in SQLite (the GIL is free meanwhile)
        with self.lock:
            self.running -= 1
        return threading.get_ident()


async def run_many(engine, tracker: Tracker, n: int = 8) -> None:
    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(in_db_thread, engine, tracker.call, 0.02)


async def test_an_sqlite_file_takes_its_calls_one_at_a_time_on_one_thread(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/idp.db")
    tracker = Tracker()
    await run_many(engine, tracker)
    assert tracker.most == 1
    assert len(tracker.threads) == 1 and threading.get_ident() not in tracker.threads

    def one() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT 1")).scalar_one())

    assert await run_db(one, engine=engine) == 1


async def test_other_databases_and_plain_calls_use_anyio_worker_threads(tmp_path):
    for engine in (None, make_engine("sqlite://")):  # no engine; an in-memory SQLite
        tracker = Tracker()
        await run_many(engine, tracker)
        assert tracker.most > 1 and threading.get_ident() not in tracker.threads


async def test_a_cancelled_caller_waits_for_its_call_to_finish(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/idp.db")
    started, finished = threading.Event(), threading.Event()
    order: list[str] = []

    def statement() -> None:
        started.set()
        time.sleep(0.2)
        finished.set()
        order.append("statement done")

    async def caller() -> None:
        try:
            await in_db_thread(engine, statement)
        finally:
            order.append("caller unwound")  # only once the statement is over

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller)
        await anyio.to_thread.run_sync(started.wait)
        tg.cancel_scope.cancel()
    assert finished.is_set()
    assert order == ["statement done", "caller unwound"]


async def test_driver_errors_on_the_sqlite_thread_are_database_unavailable(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/idp.db")

    def broken() -> None:
        raise OperationalError("SELECT 1", {}, Exception("disk I/O error"))

    with pytest.raises(DatabaseUnavailable):
        await run_db(broken, engine=engine)
