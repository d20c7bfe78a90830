import json
import logging
import socket
import threading
import time

import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa

from idp.app import create_app
from idp.clock import FixedClock, SystemClock
from idp.config import CIBA_GRANT, parse_settings
from idp.store.db import make_engine
from idp.store.memory import MemoryTTLStore
from idp.store.migrate import upgrade
from tests.asgi import app_client
from tests.ciba.harness import ISSUER, PERSONS, SECRETS, CibaHarness
from tests.oidc.fake_authn import FakeAuthenticator


@pytest.fixture(scope="session")
def ciba_client_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ciba_client_jwks(ciba_client_key):
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(ciba_client_key.public_key()))
    jwk.update({"kid": "cs-jwt-key", "use": "sig", "alg": "RS256"})
    return {"keys": [jwk]}


def ciba_clients(jwks, ping_endpoint="http://127.0.0.1:9/notify"):
    def cs(cid, **kw):
        entry = {
            "client_id": cid,
            "client_name": f"Customer service {cid}",
            "client_secret": SECRETS[cid],
            "grant_types": [CIBA_GRANT, "refresh_token"],
            "backchannel_token_delivery_mode": "poll",
            "scope": "openid profile ssn bankid_evidence",
        }
        entry.update(kw)
        return entry

    return [
        cs("cs-poll"),
        cs("cs-other"),
        cs("cs-noref", grant_types=[CIBA_GRANT], scope="openid profile"),
        cs("cs-sign", ciba_sign_binding_message=True),
        cs("cs-inbound", ciba_call_initiator="user", ciba_allow_call_initiator_override=True),
        cs("cs-post", token_endpoint_auth_method="client_secret_post"),
        cs(
            "cs-ping",
            backchannel_token_delivery_mode="ping",
            backchannel_client_notification_endpoint=ping_endpoint,
        ),
        {
            "client_id": "cs-jwt",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": jwks,
            "grant_types": [CIBA_GRANT],
            "backchannel_token_delivery_mode": "poll",
            "scope": "openid profile",
        },
        {
            "client_id": "web",
            "client_secret": SECRETS["web"],
            "redirect_uris": ["https://web.example/cb"],
            "grant_types": ["authorization_code"],
            "scope": "openid profile",
        },
    ]


def make_settings(url, jwks, *, issuer=ISSUER, ping_endpoint="http://127.0.0.1:9/notify", **extra):
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    raw = {
        "issuer": issuer,
        "database_url": url,
        "bankid": {"environment": "simulator", "simulator": {"think_time_seconds": 0}},
        "clients": ciba_clients(jwks, ping_endpoint),
        **extra,
    }
    return parse_settings(raw, source="test", environ={})


@pytest.fixture
def ciba_settings(sqlite_url, ciba_client_jwks):
    return make_settings(sqlite_url, ciba_client_jwks)


def build_app(settings, clock, store=None, **kw):
    return create_app(
        settings,
        clock=clock,
        store=store if store is not None else MemoryTTLStore(clock),
        authenticator=lambda handoff: FakeAuthenticator(handoff, clock),
        **kw,
    )


@pytest.fixture
async def ciba(ciba_settings):
    """The provider with BankID phone authentication against the in-process simulator."""
    clock = FixedClock()
    app = build_app(ciba_settings, clock)
    async with app_client(app, base_url=ISSUER) as http:
        yield CibaHarness(http, clock, app)


@pytest.fixture(autouse=True)
def no_personal_numbers_in_logs(caplog):
    """Every CIBA test runs with every logger at DEBUG; no line may carry a personal number."""
    caplog.set_level(logging.DEBUG)
    yield
    leaks = [
        r.getMessage()
        for r in caplog.records
        if any(p in r.getMessage() or p in (r.exc_text or "") for p in PERSONS)
    ]
    assert not leaks, f"personal numbers in logs: {leaks}"


@pytest.fixture
def live_provider(sqlite_url, ciba_client_jwks):
    """The provider under uvicorn in a background thread on a loopback port, real time."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(
        sqlite_url, ciba_client_jwks, issuer=issuer, ciba={"interval_seconds": 1}
    )
    clock = SystemClock()
    app = build_app(settings, clock, store=MemoryTTLStore(clock))
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, lifespan="on", ws="none", http="h11")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = time.monotonic()
    while not server.started:  # waiting for a real server to bind
        assert thread.is_alive() and time.monotonic() - started < 20, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield issuer
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
