"""The whole provider (OIDC, PAR, CIBA, the BankID pages and the mounted simulator) and the
standalone simulator, for input that must never get a 5xx or a traceback."""

import contextlib
import json
import logging
import random
import shutil

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from idp.app import create_app
from idp.bankid.simulator import create_simulator_app
from idp.clock import FixedClock
from idp.config import CIBA_GRANT, parse_settings
from idp.store.memory import MemoryTTLStore
from tests.fuzz.support import ISSUER, RP_CB, SECRETS, Tracebacks


@pytest.fixture(scope="session")
def fuzz_client_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def fuzz_template_db(tmp_path_factory):
    """A migrated database with signing keys, made once; each test gets a copy."""
    from idp.config import KeySettings
    from idp.keys import SigningKeys
    from idp.store.db import make_engine, make_sessionmaker
    from idp.store.migrate import upgrade

    path = tmp_path_factory.mktemp("fuzz-template") / "idp.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    SigningKeys(make_sessionmaker(engine), FixedClock(), KeySettings()).ensure()
    engine.dispose()
    return path


@pytest.fixture
def fuzz_settings(tmp_path, fuzz_template_db, fuzz_client_key):
    shutil.copy(fuzz_template_db, tmp_path / "idp.db")
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(fuzz_client_key.public_key()))
    jwk.update({"kid": "fuzz-key", "use": "sig", "alg": "RS256"})
    clients = [
        {
            "client_id": "web",
            "client_secret": SECRETS["web"],
            "redirect_uris": [RP_CB],
            "post_logout_redirect_uris": ["https://rp.example/logged-out"],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid profile ssn",
        },
        {
            "client_id": "cs",
            "client_name": "Customer service",
            "client_secret": SECRETS["cs"],
            "grant_types": [CIBA_GRANT, "refresh_token"],
            "backchannel_token_delivery_mode": "poll",
            "scope": "openid profile ssn",
        },
        {
            "client_id": "jwt",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [jwk]},
            "redirect_uris": [RP_CB],
            "grant_types": ["authorization_code", CIBA_GRANT],
            "backchannel_token_delivery_mode": "poll",
            "scope": "openid profile",
        },
    ]
    raw = {
        "issuer": ISSUER,
        "database_url": f"sqlite:///{tmp_path}/idp.db",
        "bankid": {"environment": "simulator", "simulator": {"think_time_seconds": 0}},
        "clients": clients,
        "demo": {"enabled": True},
    }
    return parse_settings(raw, source="test", environ={})


@contextlib.asynccontextmanager
async def _client(app, base_url):
    async with app.router.lifespan_context(app):
        # A 500 is answered (and logged) rather than raised, so that the test can say which
        # request got it.
        transport = httpx.ASGITransport(
            app=app, client=("198.51.100.7", 50000), raise_app_exceptions=False
        )
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
            yield http


@pytest.fixture
async def provider(fuzz_settings):
    """The provider as `create_app` wires it, with BankID against the mounted simulator and the
    demo relying party."""
    clock = FixedClock()
    app = create_app(fuzz_settings, clock=clock, store=MemoryTTLStore(clock))
    async with _client(app, ISSUER) as http:
        yield app, http


@pytest.fixture
async def simulator():
    """The simulator on its own, as `idp simulator` serves it."""
    app = create_simulator_app(clock=FixedClock(), rng=random.Random(4711))
    async with _client(app, "http://simulator.test") as http:
        yield app, http


@pytest.fixture
def tracebacks(log_check):
    """No traceback, and nothing the session's log check flags (a personal number, a token,
    a secret), while the test runs: asserted after each request with `clean()`; `clean.reset()`
    forgets what an earlier (failed) example left behind."""
    handler = Tracebacks()
    root = logging.getLogger()
    root.addHandler(handler)
    before = len(log_check.findings)

    def clean(what: str = "") -> None:
        found = handler.take()
        assert not found, f"tracebacks or errors logged for {what}: {found}"
        new = log_check.report()[2 * before :]
        assert not new, f"log check findings for {what}: {new}"

    clean.reset = handler.take
    try:
        yield clean
    finally:
        root.removeHandler(handler)
