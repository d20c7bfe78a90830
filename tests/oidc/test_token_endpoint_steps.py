"""The token endpoint on the event loop (idp.oidc.grants.loop), and the one transaction per
grant behind it (idp.oidc.tokens): single use of codes and refresh tokens, on SQLite and on
PostgreSQL.

RFC 6749 §4.1.2: a code used twice revokes what it issued. RFC 9700 §4.14.2: a rotated-away
refresh token that comes back revokes the grant; of two concurrent uses of one refresh token
exactly one wins, and the loser is taken for a thief (the grant is revoked).
"""

import functools
import threading
from concurrent.futures import ThreadPoolExecutor

import anyio
import anyio.to_thread
import pytest

from idp.clock import FixedClock
from idp.config import KeySettings, parse_settings
from idp.keys import SigningKeys
from idp.oidc.threads import call_async, sync_step
from idp.oidc.tokens import AuthContext, Rotation, TokenService
from idp.store import db as store_db
from idp.store.db import make_engine, make_sessionmaker
from idp.store.migrate import upgrade
from tests.oidc.conftest import client_entries, running_provider
from tests.oidc.harness import (
    ISSUER,
    assert_json_error,
    basic,
    exchange,
    introspect,
    refresh,
    revoke,
    userinfo,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/idp.db"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def backend_settings(database_url, client_jwks):
    settings = parse_settings(
        {"issuer": ISSUER, "database_url": database_url, "clients": client_entries(client_jwks)},
        source="test",
        environ={},
    )
    engine = make_engine(database_url)
    SigningKeys(make_sessionmaker(engine), FixedClock(), KeySettings()).ensure()
    engine.dispose()
    return settings


@pytest.fixture
async def provider(backend_settings):
    async with running_provider(backend_settings) as harness:
        yield harness


# --------------------------------------------------------------------------- over HTTP


async def test_code_replay_revokes_the_grant(provider):
    code, verifier, params = await provider.code()
    first = await exchange(provider, code, verifier, params)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert_json_error(await exchange(provider, code, verifier, params), 400, "invalid_grant")
    assert await introspect(provider, tokens["refresh_token"]) == {"active": False}
    assert (await userinfo(provider, tokens["access_token"])).status_code == 401
    assert_json_error(await refresh(provider, tokens["refresh_token"]), 400, "invalid_grant")


async def test_reuse_after_rotation_revokes_the_grant(provider):
    tokens, _ = await provider.tokens()
    rotated = await refresh(provider, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    successor = rotated.json()
    assert (await userinfo(provider, successor["access_token"])).status_code == 200
    assert_json_error(await refresh(provider, tokens["refresh_token"]), 400, "invalid_grant")
    assert (await userinfo(provider, successor["access_token"])).status_code == 401
    assert_json_error(await refresh(provider, successor["refresh_token"]), 400, "invalid_grant")


async def test_two_concurrent_refreshes_one_wins_and_the_grant_is_revoked(provider):
    tokens, _ = await provider.tokens()
    responses = []

    async def use() -> None:
        responses.append(await refresh(provider, tokens["refresh_token"]))

    async with anyio.create_task_group() as tg:
        tg.start_soon(use)
        tg.start_soon(use)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 400], [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 200).json()
    loser = next(r for r in responses if r.status_code == 400)
    assert_json_error(loser, 400, "invalid_grant")
    assert_json_error(await refresh(provider, winner["refresh_token"]), 400, "invalid_grant")
    assert (await userinfo(provider, winner["access_token"])).status_code == 401


async def test_refresh_of_another_client_or_wider_scope_leaves_the_token_usable(provider):
    tokens, _ = await provider.tokens(params={"scope": "openid profile"})
    rt = tokens["refresh_token"]
    assert_json_error(await refresh(provider, rt, "no-pkce"), 400, "invalid_grant")
    assert_json_error(await refresh(provider, rt, scope="openid profile ssn"), 400, "invalid_scope")
    again = await refresh(provider, rt)
    assert again.status_code == 200, again.text


def watch_worker_threads(monkeypatch, seen) -> None:
    """Call `seen(fn)` for each function sent off the loop: to one of anyio's worker threads,
    or to the one thread of an SQLite database (idp.store.db.in_db_thread)."""
    real_run_sync = anyio.to_thread.run_sync
    real_submit = ThreadPoolExecutor.submit

    async def run_sync(fn, *args, **kwargs):
        seen(fn)
        return await real_run_sync(fn, *args, **kwargs)

    def submit(self, fn, /, *args, **kwargs):
        if any(self is serial for serial in store_db._SERIAL.values()):
            seen(fn.func if isinstance(fn, functools.partial) else fn)
        return real_submit(self, fn, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", run_sync)
    monkeypatch.setattr(ThreadPoolExecutor, "submit", submit)


async def test_client_credentials_uses_no_worker_thread(provider, monkeypatch):
    def no_thread(fn):
        raise AssertionError(f"a worker thread was used: {fn!r}")

    watch_worker_threads(monkeypatch, no_thread)
    r = await provider.token({"grant_type": "client_credentials"}, auth=basic("cc"))
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"


@pytest.fixture
def thread_calls(monkeypatch):
    """The names of the functions sent to a worker thread, in order (clear it where counting
    starts)."""
    calls = []
    watch_worker_threads(monkeypatch, lambda fn: calls.append(getattr(fn, "__name__", repr(fn))))
    return calls


async def test_code_exchange_and_refresh_use_one_worker_thread_call_each(provider, thread_calls):
    code, verifier, params = await provider.code()
    calls = thread_calls
    calls.clear()  # from here on
    r = await exchange(provider, code, verifier, params)
    assert r.status_code == 200, r.text
    assert calls == ["redeem_grant"]
    calls.clear()
    assert (await refresh(provider, r.json()["refresh_token"])).status_code == 200
    assert calls == ["rotate_refresh_token"]


async def test_introspection_and_revocation_use_at_most_one_worker_thread_call(
    provider, thread_calls
):
    """Client authentication, JWT checks and the TTL store on the loop; one database call."""
    tokens, _ = await provider.tokens()
    calls = thread_calls
    calls.clear()  # from here on
    live = await introspect(provider, tokens["refresh_token"])
    assert live["active"] is True and "token_type" not in live
    assert calls == ["live_refresh_token"]
    calls.clear()
    live = await introspect(provider, tokens["access_token"])
    assert live["active"] is True and live["token_type"] == "Bearer"
    assert calls == ["grant_active"]
    calls.clear()
    assert await introspect(provider, tokens["access_token"], "no-pkce") == {"active": False}
    assert calls == ["grant_active"]
    calls.clear()
    assert await introspect(provider, "not.a.jwt") == {"active": False}
    assert calls == []
    assert (await revoke(provider, tokens["access_token"])).status_code == 200
    assert calls == ["grant_active"]
    calls.clear()
    assert await introspect(provider, tokens["access_token"]) == {"active": False}
    assert calls == []  # revoked: known from the TTL store alone
    assert (await revoke(provider, tokens["refresh_token"], "no-pkce")).status_code == 200
    assert calls == ["revoke_refresh_token_grant"]
    assert (await introspect(provider, tokens["refresh_token"]))["active"] is True
    calls.clear()
    assert (await revoke(provider, tokens["refresh_token"])).status_code == 200
    assert calls == ["revoke_refresh_token_grant"]
    assert await introspect(provider, tokens["refresh_token"]) == {"active": False}


# --------------------------------------------------------------------------- the transactions


@pytest.fixture
def tokens(backend_settings):
    engine = make_engine(backend_settings.database_url)
    sessions = make_sessionmaker(engine)
    clock = FixedClock()
    keys = SigningKeys(sessions, clock, KeySettings())
    yield TokenService(backend_settings, keys, sessions, clock, b"x" * 32)
    engine.dispose()


def grant_with_refresh_token(tokens: TokenService) -> tuple[str, str]:
    client = next(c for c in tokens.settings.clients if c.client_id == "confidential")
    auth = AuthContext("loa3", ("bankid",), 1, {"name": "A"}, {})
    refresh_token = tokens.create_grant(
        grant_id="g1",
        client=client,
        sub="s",
        sid=None,
        scope="openid",
        auth=auth,
        refresh_scope="openid",
    )
    assert refresh_token is not None
    return "g1", refresh_token


#: A rotation's successor scope: asked for (a function of the token's), or the token's own
#: (None; on PostgreSQL the rotation is then one statement).
NEW_SCOPES = [pytest.param(lambda s: s, id="scope-asked"), pytest.param(None, id="scope-kept")]


@pytest.mark.parametrize("new_scope", NEW_SCOPES)
def test_concurrent_rotations_exactly_one_wins(tokens, new_scope):
    grant_id, token = grant_with_refresh_token(tokens)
    barrier = threading.Barrier(4)
    outcomes = []

    def rotate() -> None:
        barrier.wait()
        outcomes.append(tokens.rotate_refresh_token(token, "confidential", new_scope).outcome)

    threads = [threading.Thread(target=rotate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o.value for o in outcomes) == ["reused", "reused", "reused", "rotated"]
    assert not tokens.grant_active(grant_id)


def test_a_refused_rotation_writes_nothing(tokens):
    grant_id, token = grant_with_refresh_token(tokens)
    assert tokens.rotate_refresh_token(token, "other", lambda s: s).outcome is Rotation.REFUSED
    assert tokens.rotate_refresh_token(token, "confidential", lambda s: None).outcome is (
        Rotation.REFUSED
    )
    row = tokens.find_refresh_token(token)
    assert row is not None and row.used_at is None
    use = tokens.rotate_refresh_token(token, "confidential", lambda s: s)
    assert use.outcome is Rotation.ROTATED and use.issued is not None
    assert use.issued.grant.auth.claims == {"name": "A"}
    successor = tokens.find_refresh_token(use.issued.refresh_token or "")
    assert successor is not None and successor.grant_id == grant_id
    assert tokens.rotate_refresh_token("unknown", "confidential", lambda s: s).outcome is (
        Rotation.UNKNOWN
    )


@pytest.mark.parametrize("new_scope", NEW_SCOPES)
def test_every_outcome_of_a_rotation(tokens, new_scope):
    grant_id, token = grant_with_refresh_token(tokens)
    assert tokens.rotate_refresh_token(token, "other", new_scope).outcome is Rotation.REFUSED
    assert tokens.find_refresh_token(token).used_at is None  # another client's: unchanged
    use = tokens.rotate_refresh_token(token, "confidential", new_scope)
    assert use.outcome is Rotation.ROTATED and use.issued is not None
    assert (use.grant_id, use.client_id, use.scope) == (grant_id, "confidential", "openid")
    assert use.issued.grant.sub == "s" and use.issued.grant.auth.claims == {"name": "A"}
    old = tokens.find_refresh_token(token)
    successor = tokens.find_refresh_token(use.issued.refresh_token or "")
    assert old.used_at is not None
    assert (successor.grant_id, successor.client_id, successor.scope) == (
        grant_id,
        "confidential",
        "openid",
    )
    assert successor.used_at is None and successor.expires_at <= old.expires_at
    # The old token again: a reuse, and the grant with every token of it revoked.
    again = tokens.rotate_refresh_token(token, "confidential", new_scope)
    assert again.outcome is Rotation.REUSED and not tokens.grant_active(grant_id)
    assert tokens.live_refresh_token(use.issued.refresh_token or "") is None
    # The successor of a revoked grant: not rotated, and no successor of its own.
    gone = tokens.rotate_refresh_token(use.issued.refresh_token or "", "confidential", new_scope)
    assert gone.outcome is Rotation.UNKNOWN and gone.issued is None
    assert tokens.rotate_refresh_token("unknown", "confidential", new_scope).outcome is (
        Rotation.UNKNOWN
    )


@pytest.mark.parametrize("new_scope", NEW_SCOPES)
def test_a_rotation_keeps_the_dpop_binding(tokens, new_scope):
    grant_id, _ = grant_with_refresh_token(tokens)
    bound = tokens.redeem_grant(grant_id, "confidential", "openid", jkt="key-1").refresh_token
    wrong = tokens.rotate_refresh_token(bound, "confidential", new_scope, "key-2")
    assert wrong.outcome is Rotation.WRONG_KEY
    assert tokens.find_refresh_token(bound).used_at is None
    use = tokens.rotate_refresh_token(bound, "confidential", new_scope, "key-1")
    assert use.outcome is Rotation.ROTATED
    assert tokens.find_refresh_token(use.issued.refresh_token).jkt == "key-1"


def test_redeem_grant_reads_the_grant_and_stores_the_refresh_token_once(tokens):
    grant_id, _ = grant_with_refresh_token(tokens)
    issued = tokens.redeem_grant(grant_id, "confidential", "openid")
    assert issued is not None and issued.refresh_token and issued.grant.sub == "s"
    assert tokens.redeem_grant(grant_id, "confidential", None).refresh_token is None
    tokens.revoke_grant(grant_id)
    assert tokens.redeem_grant(grant_id, "confidential", "openid") is None
    assert tokens.redeem_grant("unknown", "confidential", "openid") is None


def test_live_refresh_token_and_revoking_its_grant(tokens):
    grant_id, token = grant_with_refresh_token(tokens)
    live = tokens.live_refresh_token(token)
    assert live is not None and (live.grant_id, live.client_id, live.sub) == (
        grant_id,
        "confidential",
        "s",
    )
    assert tokens.live_refresh_token("unknown") is None
    assert not tokens.revoke_refresh_token_grant(token, "other")
    assert tokens.grant_active(grant_id)
    assert tokens.revoke_refresh_token_grant(token, "confidential")
    assert not tokens.grant_active(grant_id)
    assert tokens.live_refresh_token(token) is None
    assert not tokens.revoke_refresh_token_grant(token, "confidential")


# --------------------------------------------------------------------------- sync_step


async def test_sync_step_stays_on_the_loop_unless_it_needs_the_loop():
    loop_thread = threading.get_ident()
    runs = []

    async def answer() -> int:
        return 42

    def plain() -> str:
        runs.append(threading.get_ident())
        return "done"

    def needs_the_loop() -> int:
        runs.append(threading.get_ident())
        return call_async(answer)

    assert await sync_step(plain) == "done"
    assert runs == [loop_thread]
    runs.clear()
    assert await sync_step(needs_the_loop) == 42
    assert runs[0] == loop_thread and runs[1] != loop_thread and len(runs) == 2
