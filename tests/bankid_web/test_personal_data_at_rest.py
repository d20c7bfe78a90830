"""Personal data at rest (issue 14): a dump of the real Redis during a BankID login and an SSO
session shows no personal number in any written form, no name and no BankID evidence."""

import os
import re
import secrets

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from idp.app import create_app
from idp.store.redis import RedisTTLStore
from tests.bankid_web.support import ANNA, RP_CB, Browser, query, scan
from tests.services import require_service

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

#: Anna's personal number as 12 digits, with a dash, and as 10 digits (with and without one).
NUMBER_FORMS = (ANNA, f"{ANNA[:8]}-{ANNA[8:]}", ANNA[2:], f"{ANNA[2:8]}-{ANNA[8:]}")


@pytest.fixture
async def redis_prefix():
    """A prefix of this test's own on the test Redis; its keys are deleted afterwards."""
    admin = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        await admin.ping()
    except (RedisError, OSError) as exc:
        await admin.aclose()
        require_service("Redis", f"{type(exc).__name__}: {exc}", where=REDIS_URL)
    prefix = f"idp-test:{secrets.token_hex(6)}:"
    try:
        yield admin, prefix
    finally:
        async for key in admin.scan_iter(match=f"{prefix}*", count=500):
            await admin.delete(key)
        await admin.aclose()


async def dump(admin: aioredis.Redis, prefix: str) -> bytes:
    """Every key under `prefix` and everything stored in it, whatever its Redis type."""
    out = []
    async for key in admin.scan_iter(match=f"{prefix}*", count=500):
        kind = (await admin.type(key)).decode()
        if kind == "string":
            value = [await admin.get(key)]
        elif kind == "hash":
            value = [b for kv in (await admin.hgetall(key)).items() for b in kv]
        elif kind == "set":
            value = list(await admin.smembers(key))
        elif kind == "zset":
            value = list(await admin.zrange(key, 0, -1))
        elif kind == "list":
            value = list(await admin.lrange(key, 0, -1))
        else:
            value = []
        out.append(key + b"\n" + b"\n".join(v or b"" for v in value))
    return b"\n\n".join(out)


def assert_no_personal_data(data: bytes, evidence: list[str]) -> None:
    assert data, "nothing was dumped: the test would prove nothing"
    for written in NUMBER_FORMS:
        assert written.encode() not in data, f"personal number written as {written}"
    for name in ("Anna", "Andersson"):
        # As a word: a sealed value is base64 and could hold these letters by chance.
        assert not re.search(rb"(?<![A-Za-z0-9_=-])" + name.encode() + rb"(?![A-Za-z0-9_=-])", data)
    for value in evidence:
        assert value[:48].encode() not in data, "BankID evidence in clear"


async def poll_until_complete(b, clock, admin, prefix):
    """Poll once a fixed-clock second. The collect lease lives in real Redis time, so it is
    dropped before each poll (else the fixed clock would run past the order's life)."""
    for _ in range(60):
        async for key in admin.scan_iter(match=f"{prefix}bankid_collect*", count=500):
            await admin.delete(key)
        status = (await b.status()).json()
        if status["state"] != "pending":
            assert status["state"] == "complete", status
            return status
        clock.advance(1.0)
    raise AssertionError(f"never complete: {status}")


async def test_a_redis_dump_during_a_login_and_an_sso_session_holds_no_personal_data(
    settings, clock, redis_prefix
):
    admin, prefix = redis_prefix
    store = RedisTTLStore.from_url(REDIS_URL, prefix=prefix)
    app = create_app(settings, clock=clock, store=store)
    async with app.router.lifespan_context(app):
        b = Browser(app)
        await b.open_login(acr_values="urn:grn:authn:se:bankid:qr")
        await scan(app, b)
        done = await poll_until_complete(b, clock, admin, prefix)  # completionData stored
        dumps = [await dump(admin, prefix)]

        handed = await b.http.get(done["next"])  # the result handed to the login transaction
        assert handed.status_code == 303
        dumps.append(await dump(admin, prefix))
        resumed = await b.http.get(handed.headers["location"])  # SSO session, code
        assert resumed.status_code == 303
        dumps.append(await dump(admin, prefix))

        tokens = await b.token(query(resumed.headers["location"])["code"])
        assert tokens["id_token"]
        again = await b.http.get(
            "/authorize",
            params={
                "response_type": "code",
                "client_id": "rp",
                "redirect_uri": RP_CB,
                "scope": "openid",
                "prompt": "none",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256",
            },
        )
        assert "code" in query(again.headers["location"])  # the sealed session still serves
        dumps.append(await dump(admin, prefix))

        info = await b.http.get(
            "/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"}
        )
        claims = info.json()
        assert claims["ssn"] == ANNA  # the login did carry the data looked for below
        evidence = [claims["bankid_signature"], claims["bankid_ocsp_response"]]
        for data in dumps:
            assert_no_personal_data(data, evidence)
