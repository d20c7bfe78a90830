import logging

import pytest

from idp.app import create_app
from idp.clock import FixedClock
from idp.config import parse_settings
from idp.store.db import make_engine
from idp.store.memory import MemoryTTLStore
from idp.store.migrate import upgrade
from tests.bankid_web.support import ISSUER
from tests.console.harness import console_block, console_client


def make_settings(sqlite_url, console=None, clients=None, **extra):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    engine.dispose()
    raw = {
        "issuer": ISSUER,
        "database_url": sqlite_url,
        "bankid": {"simulator": {"think_time_seconds": 0}},
        "clients": clients if clients is not None else [console_client()],
        "console": console if console is not None else console_block(),
        **extra,
    }
    return parse_settings(raw, source="test", environ={})


@pytest.fixture
def clock():
    return FixedClock()


@pytest.fixture
def console_settings(sqlite_url):
    return make_settings(sqlite_url)


@pytest.fixture
async def console_app(console_settings, clock):
    app = create_app(console_settings, clock=clock, store=MemoryTTLStore(clock))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(autouse=True)
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    yield
