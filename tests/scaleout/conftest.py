"""Fixtures for the scale-out tests: the standalone simulator, the shared stores, and a fleet of
two `idp serve` processes on one configuration with a key prefix of its own."""

from __future__ import annotations

import os
import secrets

import pytest

from tests.conftest import POSTGRES_URL
from tests.scaleout.people import Store
from tests.scaleout.processes import (
    Fleet,
    Simulator,
    check_logs,
    fleet_config,
    free_port,
    migrate,
)
from tests.services import require_service

REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def simulator(tmp_path_factory):
    """`idp simulator`: the one BankID every instance talks to (bankid.base_url)."""
    sim = Simulator(tmp_path_factory.mktemp("simulator"))
    sim.start()
    yield sim
    sim.process.stop()


@pytest.fixture(scope="module")
def shared_stores(tmp_path_factory):
    """The machine's Redis, and a fresh, migrated database on its PostgreSQL."""
    import redis
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", type(exc).__name__, where=REDIS_URL)
    finally:
        client.close()
    admin = create_engine(
        POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"idp_scaleout_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        require_service("PostgreSQL", type(exc).__name__, where=POSTGRES_URL)
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    migrate(url, tmp_path_factory.mktemp("migrate"))
    # One secret_key for the database's life: it encrypts the signing keys stored there.
    yield REDIS_URL, url, secrets.token_urlsafe(36)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def fleet(shared_stores, simulator, tmp_path, log_check):
    redis_url, database_url, secret_key = shared_stores
    config = fleet_config(
        secret_key=secret_key,
        issuer=f"http://localhost:{free_port()}",  # the proxy's address: no instance's own
        database_url=database_url,
        redis_url=redis_url,
        prefix=f"idp-scaleout:{secrets.token_hex(4)}:",
        simulator_url=simulator.url,
    )
    f = Fleet(tmp_path, config)
    f.start()
    store = Store(redis_url, f.prefix)
    f.store = store
    try:
        yield f
    finally:
        f.stop()
        check_logs(f, log_check)
        store.clear()
        store.close()
