import os
import secrets

import pytest

from tests.logcheck import SessionLogCheck

# ---------------------------------------------------------------------------- the log check
# Every log record of the session is checked for personal numbers, tokens, codes and client
# secrets (tests/logcheck.py); any found fail the run at the end, with the records shown.

LOG_CHECK = pytest.StashKey[SessionLogCheck]()


def pytest_sessionstart(session):
    session.config.stash[LOG_CHECK] = check = SessionLogCheck()
    check.install()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    check = item.config.stash.get(LOG_CHECK, None)
    if check is not None:
        check.enter_test(item.nodeid, item.get_closest_marker("secrets_in_logs") is not None)
    try:
        return (yield)
    finally:
        if check is not None:
            check.leave_test()


def pytest_sessionfinish(session, exitstatus):
    check = session.config.stash.get(LOG_CHECK, None)
    if check is None:
        return
    check.uninstall()
    found = check.check.report()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write("\n")
        reporter.write_sep(
            "=" if found else "-",
            f"log check: {check.check.records} records and {check.check.lines} lines of process "
            f"logs, {len(found) // 2} with personal data or secrets",
            red=bool(found),
        )
        for line in found:
            reporter.write_line(line)
    if found and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def log_check(request):
    """The session's log check, for tests that start processes: hand it their log files."""
    return request.config.stash[LOG_CHECK].check


@pytest.fixture
def anyio_backend():
    return "asyncio"


POSTGRES_URL = os.environ.get(
    "IDP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_server_url():
    """A fresh, empty PostgreSQL database for this test session; dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from tests.services import require_service

    admin = create_engine(
        POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"idp_test_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        require_service("PostgreSQL", f"cannot reach {POSTGRES_URL}: {type(exc).__name__}")
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def postgres_url(postgres_server_url):
    """The session database, emptied of every table before the test."""
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_server_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return postgres_server_url


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path}/idp.db"
