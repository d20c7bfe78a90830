"""Back-channel logout with two instances sharing the machine's Redis (and one database): a
session used through both, ended through one, reaches each client once, with a receiver that
fails its first attempt; and the store's due queue hands each delivery to one caller.

Issue #16, acceptance 3: each logout token received is verified as a client would, with npm
`jose` (tests/oidc/rp/logout_token.mjs), an independent JOSE library, against /jwks, beside
the joserfc checks of tests/oidc/test_backchannel_logout.py."""

import contextlib
import json
import shutil
import time
from pathlib import Path

import anyio
import pytest
import yaml

from idp.cli import main
from idp.clock import FixedClock
from idp.config import parse_settings
from idp.oidc import backchannel
from idp.store.memory import MemoryTTLStore
from idp.store.redis import RedisTTLStore
from tests.oidc.harness import ISSUER
from tests.oidc.test_backchannel_logout import (
    CLIENTS,
    Receivers,
    bcl_settings,
    check_logout_token,
    id_token,
    logout,
    provider,
    still_logged_in,
)
from tests.services import REDIS_URL, require_service
from tests.services import redis_prefix as shared_prefix

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
JOSE_SCRIPT = Path(__file__).parent / "rp" / "logout_token.mjs"
EVENT = "http://schemas.openid.net/event/backchannel-logout"


def node_with_jose() -> str:
    node = shutil.which("node")
    if node is None:
        require_service("Node.js", "no `node` on PATH (scripts/ensure-test-deps installs it)")
    if not (ROOT / "node_modules" / "jose" / "package.json").is_file():
        require_service(
            "jose", "node_modules/jose is missing (run `npm ci`)", where=str(ROOT / "node_modules")
        )
    return node


async def verify_with_jose(h, items: list[dict]) -> list[dict]:
    """Each `{"token", "audience", "sub", "sid"}` checked by logout_token.mjs against the
    provider's /jwks at the provider's time: `{"claims", "header"}` or `{"error"}` each."""
    config = {
        "jwks": (await h.http.get("/jwks")).json(),
        "issuer": h.runtime.settings.issuer,
        "now": h.clock.now(),
        "tokens": items,
    }
    done = await anyio.run_process(
        [node_with_jose(), str(JOSE_SCRIPT), json.dumps(config)], cwd=ROOT
    )
    return list(json.loads(done.stdout)["results"])


@pytest.fixture
async def redis_prefix():
    async with shared_prefix("bcl") as prefix:
        yield prefix


async def deliver_on_both(a, b) -> None:
    """Both instances' workers look for due deliveries at the same moment."""
    async with anyio.create_task_group() as tg:
        for h in (a, b, a, b):
            tg.start_soon(h.app.state.backchannel_logout.deliver_due)


async def test_two_instances_deliver_each_logout_token_once_with_a_retry(
    oidc_settings, redis_prefix
):
    settings = bcl_settings(oidc_settings)
    receivers = Receivers()
    receivers.answers["rp-b.example"] = [503]  # the first attempt fails
    clock = FixedClock()
    async with contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            provider(
                settings,
                receivers,
                clock=clock,
                store=RedisTTLStore.from_url(REDIS_URL, prefix=redis_prefix),
            )
        )
        b = await stack.enter_async_context(
            provider(
                settings,
                receivers,
                clock=clock,
                store=RedisTTLStore.from_url(REDIS_URL, prefix=redis_prefix),
            )
        )
        id_a = await id_token(a, "bcl-a")  # logs in through instance a
        b.http.cookies.update(a.http.cookies)  # the same browser, behind a load balancer
        id_b = await id_token(b, "bcl-b")  # single sign-on through instance b
        assert len(b.authn.started) == 0
        await logout(b, id_a["raw"])  # ended through instance b
        await deliver_on_both(a, b)
        assert len(receivers.tokens("rp-a.example")) == 1
        assert len(receivers.tokens("rp-b.example")) == 1  # the failed attempt
        await deliver_on_both(a, b)  # not due again before the pause
        assert len(receivers.received) == 2
        clock.advance(backchannel.BACKOFF)
        await deliver_on_both(a, b)
        (token_a,) = receivers.tokens("rp-a.example")
        failed, token_b = receivers.tokens("rp-b.example")
        await check_logout_token(a, token_a, "bcl-a", id_a)
        claims_b = await check_logout_token(b, token_b, "bcl-b", id_b)
        assert (await check_logout_token(b, failed, "bcl-b", id_b))["jti"] == claims_b["jti"]
        # The same tokens through npm jose, as each client would check them (§2.6), and a
        # token that is not the provider's (another audience, a broken signature) refused.
        expected = [
            {"token": token_a, "audience": "bcl-a", "sub": id_a["sub"], "sid": id_a["sid"]},
            {"token": token_b, "audience": "bcl-b", "sub": id_b["sub"], "sid": id_b["sid"]},
            {"token": failed, "audience": "bcl-b", "sub": id_b["sub"], "sid": id_b["sid"]},
        ]
        forged = token_a[:-4] + ("AAAA" if not token_a.endswith("AAAA") else "BBBB")
        refused = [
            {**expected[0], "audience": "bcl-b"},
            {**expected[0], "token": forged},
        ]
        results = await verify_with_jose(a, expected + refused)
        for item, result in zip(expected, results, strict=False):
            assert "claims" in result, result
            assert result["header"]["typ"] == "logout+jwt" and result["header"]["kid"], result
            assert result["claims"]["events"] == {EVENT: {}}, result
            assert result["claims"]["sub"] == item["sub"] and result["claims"]["sid"] == item["sid"]
            assert "nonce" not in result["claims"], result
        assert results[1]["claims"]["jti"] == results[2]["claims"]["jti"] == claims_b["jti"]
        assert results[0]["claims"]["jti"] != claims_b["jti"]
        assert [list(r) for r in results[3:]] == [["error"], ["error"]], results[3:]
        assert "aud" in results[3]["error"] and "signature" in results[4]["error"], results[3:]
        # Delivered once: nothing more, on either instance, for the rest of its lifetime.
        for _ in range(3):
            clock.advance(backchannel.LIFETIME / 3)
            await deliver_on_both(a, b)
        assert len(receivers.received) == 3


async def test_an_expired_session_logs_its_clients_out_once_across_instances(
    oidc_settings, redis_prefix
):
    """Both instances sweep, and the browser comes back to one of them, at the same moment:
    the session ends once, and each client is told once."""
    settings = bcl_settings(oidc_settings)
    receivers = Receivers()
    clock = FixedClock()
    async with contextlib.AsyncExitStack() as stack:
        a, b = [
            await stack.enter_async_context(
                provider(
                    settings,
                    receivers,
                    clock=clock,
                    store=RedisTTLStore.from_url(REDIS_URL, prefix=redis_prefix),
                )
            )
            for _ in range(2)
        ]
        id_a = await id_token(a, "bcl-a")
        b.http.cookies.update(a.http.cookies)
        id_b = await id_token(b, "bcl-b")
        clock.advance(settings.session.lifetime_seconds)
        async with anyio.create_task_group() as tg:
            for h in (a, b, a, b):
                tg.start_soon(h.app.state.provider.sessions.expire_due)
            tg.start_soon(still_logged_in, b, "bcl-b")
        await deliver_on_both(a, b)
        (token_a,) = receivers.tokens("rp-a.example")
        (token_b,) = receivers.tokens("rp-b.example")
        await check_logout_token(a, token_a, "bcl-a", id_a)
        await check_logout_token(b, token_b, "bcl-b", id_b)
        for _ in range(3):
            clock.advance(backchannel.LIFETIME / 3)
            for h in (a, b):
                await h.app.state.provider.sessions.expire_due()
            await deliver_on_both(a, b)
        assert len(receivers.received) == 2


async def test_an_operator_ends_every_session_of_a_person(
    oidc_settings, redis_prefix, tmp_path, capsys
):
    """`idp sessions revoke --sub` (another process, here a thread with its own app): the
    person's session ends as by logout, its clients get logout tokens from the serving
    instance, and the grants issued in it are revoked."""
    raw = {
        "issuer": ISSUER,
        "database_url": oidc_settings.database_url,
        "redis_url": REDIS_URL,
        "redis_key_prefix": redis_prefix,
        "clients": CLIENTS,
    }
    settings = parse_settings(raw, source="test", environ={})
    path = tmp_path / "idp.yaml"
    path.write_text(yaml.safe_dump(raw))
    receivers = Receivers()
    clock = FixedClock(time.time())  # the command runs on the system clock
    store = RedisTTLStore.from_url(REDIS_URL, prefix=redis_prefix)
    async with provider(settings, receivers, clock=clock, store=store) as h:
        id_a = await id_token(h, "bcl-a")
        id_b = await id_token(h, "bcl-b")
        argv = ["sessions", "revoke", "--config", str(path), "--client", "bcl-b"]
        # A sub no client received: nothing ends.
        assert await anyio.to_thread.run_sync(main, [*argv, "--sub", id_a["sub"]]) == 0
        assert "ended 0 live session(s), revoked 0 grant(s)" in capsys.readouterr().out
        await h.app.state.backchannel_logout.deliver_due()
        assert receivers.received == [] and await still_logged_in(h, "bcl-a")
        # bcl-b's (pairwise) sub for the person: the session and its three grants.
        assert await anyio.to_thread.run_sync(main, [*argv, "--sub", id_b["sub"]]) == 0
        assert "ended 1 live session(s), revoked 3 grant(s)" in capsys.readouterr().out
        clock.advance(time.time() - clock.now())  # to when the command scheduled them
        await h.app.state.backchannel_logout.deliver_due()
        (token_a,) = receivers.tokens("rp-a.example")
        (token_b,) = receivers.tokens("rp-b.example")
        await check_logout_token(h, token_a, "bcl-a", id_a)
        await check_logout_token(h, token_b, "bcl-b", id_b)
        assert not await still_logged_in(h, "bcl-a")


@pytest.fixture(params=["memory", "redis"])
async def queue(request):
    clock = FixedClock()
    if request.param == "memory":
        yield MemoryTTLStore(clock), clock
        return
    async with shared_prefix("bcl") as prefix:
        store = RedisTTLStore.from_url(REDIS_URL, prefix=prefix)
        try:
            yield store, clock
        finally:
            await store.close()


async def test_the_due_queue_hands_each_entry_to_one_caller(queue):
    store, clock = queue
    now = clock.now()
    for i in range(30):
        assert await store.schedule("job", f"k{i}", {"n": i}, 600, now + (i % 3))
    assert not await store.schedule("job", "k0", {"n": -1}, 600, now)  # once per key
    claims: list[list] = []

    async def claim():
        claims.append(await store.claim_due("job", now + 1, now + 30, 7))

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(claim)
    got = [key for batch in claims for key, _ in batch]
    assert sorted(got) == sorted(f"k{i}" for i in range(30) if i % 3 < 2)  # each once
    assert sorted(await store.claim_due("job", now + 29, now + 60, 100)) == sorted(
        (f"k{i}", {"n": i}) for i in range(30) if i % 3 == 2
    )
    # A failed attempt: a new value, due later; a finished entry is gone.
    assert await store.reschedule("job", "k0", {"n": 0, "attempts": 1}, now + 45)
    await store.finish("job", "k1")
    assert await store.get("job", "k1") is None
    due = dict(await store.claim_due("job", now + 45, now + 90, 100))
    assert due["k0"] == {"n": 0, "attempts": 1} and "k1" not in due
    assert not await store.reschedule("job", "k1", {"n": 1}, now)
    # An entry that expired leaves the queue.
    await store.schedule("job", "short", {"n": 0}, 1, now)
    if isinstance(store, MemoryTTLStore):
        clock.advance(2)
    else:
        await store.delete("job", "short")
    assert "short" not in dict(await store.claim_due("job", now + 1000, now + 2000, 100))
