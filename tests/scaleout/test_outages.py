"""Issue 7, acceptance 3: Redis and then PostgreSQL stop during a run of two `idp serve`
processes. Requests fail cleanly with the protocol's own errors, /readyz says which part is
down, and once each comes back everything works again without restarting idp.

These stop and start servers, so they use a private redis-server and a private PostgreSQL
cluster (initdb, pg_ctl) on free ports, never the machine's shared ones."""

from __future__ import annotations

import httpx
import pytest

from tests.scaleout.people import (
    BJORN,
    Browser,
    Store,
    backchannel,
    metric,
    qr_login,
    query,
    token,
)
from tests.scaleout.processes import (
    RP_CALLBACK,
    RP_SECRET,
    Fleet,
    PrivatePostgres,
    PrivateRedis,
    check_logs,
    fleet_config,
    free_port,
    migrate,
    wait_until,
)

pytestmark = [pytest.mark.scaleout, pytest.mark.redis, pytest.mark.postgres]

UNAVAILABLE = "Tjänsten är tillfälligt otillgänglig"
CECILIA = "199311242409"


@pytest.fixture
def private(tmp_path, simulator, log_check):
    redis = PrivateRedis(tmp_path)
    postgres = PrivatePostgres()
    fleet = None
    try:
        redis.start()
        postgres.init()
        postgres.start()
        database_url = postgres.create_database("idp")
        migrate(database_url, tmp_path)
        config = fleet_config(
            secret_key="private-outage-secret-key-0123456789abcdef",
            issuer=f"http://localhost:{free_port()}",
            database_url=database_url,
            redis_url=redis.url,
            prefix="idp-outage:",
            simulator_url=simulator.url,
        )
        fleet = Fleet(tmp_path, config)
        fleet.start()
        fleet.store = Store(redis.url, fleet.prefix)
        yield fleet, redis, postgres
    finally:
        if fleet is not None:
            fleet.stop()
            check_logs(fleet, log_check)
            if getattr(fleet, "store", None) is not None:
                fleet.store.close()
        redis.process.stop()
        postgres.cleanup()


def ready(fleet, name):
    r = httpx.get(fleet.url(name, "/readyz"), timeout=10)
    return r.status_code, r.json()


def authorize(fleet, name, state):
    return httpx.get(
        fleet.url(name, "/authorize"),
        params={
            "response_type": "code",
            "client_id": "rp",
            "redirect_uri": RP_CALLBACK,
            "scope": "openid",
            "state": state,
            "code_challenge": "c" * 43,
            "code_challenge_method": "S256",
        },
        timeout=10,
    )


def refresh(fleet, name, refresh_token):
    return httpx.post(
        fleet.url(name, "/token"),
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=("rp", RP_SECRET),
        timeout=10,
    )


def userinfo(fleet, name, access_token):
    return httpx.get(
        fleet.url(name, "/userinfo"),
        headers={"authorization": f"Bearer {access_token}"},
        timeout=10,
    )


def temporarily_unavailable(response, status=503):
    assert response.status_code == status, (response.status_code, response.text)
    assert response.json()["error"] == "temporarily_unavailable"
    assert "Traceback" not in response.text


def redirected_unavailable(response, state, issuer):
    assert response.status_code == 303, response.text
    q = query(response.headers["location"])
    assert response.headers["location"].startswith(RP_CALLBACK)
    assert q["error"] == "temporarily_unavailable" and q["state"] == state and q["iss"] == issuer


def full_login(fleet, simulator):
    b = Browser(fleet)
    try:
        code = qr_login(fleet, simulator, b)
        r = token(fleet, "a", code, b.verifier)
        assert r.status_code == 200, r.text
        return r.json()
    finally:
        b.close()


def test_redis_then_postgresql_stop_and_come_back(private, simulator):
    fleet, redis, postgres = private
    pids = {n: fleet[n].process.pid for n in "ab"}
    tokens = full_login(fleet, simulator)
    pending = Browser(fleet)
    pending.follow("a", pending.authorize("a"))

    # --- Redis stops.
    redis.stop()
    for name in "ab":
        assert ready(fleet, name) == (503, {"status": "unavailable", "failing": ["redis"]})
    redirected_unavailable(authorize(fleet, "a", "r1"), "r1", fleet.issuer)
    temporarily_unavailable(token(fleet, "b", "some-code-of-the-past", "v" * 43))
    temporarily_unavailable(pending.get("b", "/bankid/status", params={"txn": pending.txn}))
    temporarily_unavailable(backchannel(fleet, "b", BJORN))
    temporarily_unavailable(userinfo(fleet, "a", tokens["access_token"]))
    page = pending.get("a", "/bankid/wait", params={"txn": pending.txn})
    assert page.status_code == 503 and UNAVAILABLE in page.text
    assert "Traceback" not in page.text and "StoreUnavailable" not in page.text
    assert metric(fleet, "a", "idp_http_requests_total", status="503") >= 3

    # --- Redis is back (empty: it keeps nothing on disk). No idp restart.
    redis.start()
    for name in "ab":
        wait_until(lambda n=name: ready(fleet, n)[0] == 200, 15, f"{name} to be ready again")
    tokens = full_login(fleet, simulator)

    # --- PostgreSQL stops.
    postgres.stop()
    for name in "ab":
        assert ready(fleet, name) == (503, {"status": "unavailable", "failing": ["database"]})
    b = Browser(fleet)
    # The login itself needs only Redis and BankID; issuing the code needs the database, and
    # the answer goes back to the client by its validated redirect URI.
    page = b.follow("a", b.authorize("a"))
    assert page.status_code == 200
    simulator.app("scan", {"qr": fleet.store.qr_frame(b.txn), "personalNumber": BJORN})
    done = b.poll_until("complete")
    redirected_unavailable(b.follow("a", b.get("b", done["next"])), b.state, fleet.issuer)
    b.close()
    temporarily_unavailable(refresh(fleet, "b", tokens["refresh_token"]))
    temporarily_unavailable(backchannel(fleet, "a", BJORN))
    temporarily_unavailable(userinfo(fleet, "b", tokens["access_token"]))
    for name in "ab":  # signing and encryption keys stay in hand
        jwks = httpx.get(fleet.url(name, "/jwks"), timeout=10)
        assert jwks.status_code == 200 and len(jwks.json()["keys"]) == 3

    # --- PostgreSQL is back. No idp restart.
    postgres.start()
    for name in "ab":
        wait_until(lambda n=name: ready(fleet, n)[0] == 200, 20, f"{name} to be ready again")
    tokens = full_login(fleet, simulator)
    assert refresh(fleet, "b", tokens["refresh_token"]).status_code == 200
    accepted = backchannel(fleet, "b", CECILIA)  # not BJORN: the simulator is shared
    assert accepted.status_code == 200, accepted.text

    pending.close()
    assert pids == {n: fleet[n].process.pid for n in "ab"}
    assert all(fleet[n].process.running for n in "ab")
    for name, text in fleet.logs().items():
        assert "Traceback" not in text, name
        assert text.count("Redis unavailable") <= 2, name  # once per burst, not per request
