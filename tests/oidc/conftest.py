import contextlib
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from idp.app import create_app
from idp.clock import FixedClock
from idp.config import parse_settings
from idp.store.db import make_engine
from idp.store.memory import MemoryTTLStore
from idp.store.migrate import upgrade
from tests.asgi import app_client
from tests.oidc.fake_authn import FakeAuthenticator
from tests.oidc.harness import ISSUER, PUBLIC_CB, RP_CB, SECRETS, Harness


@pytest.fixture(scope="session")
def client_private_key():
    """The private key of the private_key_jwt client `jwt-client`."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def client_jwks(client_private_key):
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(client_private_key.public_key()))
    jwk.update({"kid": "client-key-1", "use": "sig", "alg": "RS256"})
    return {"keys": [jwk]}


def client_entries(client_jwks):
    def conf(cid, **kw):
        entry = {
            "client_id": cid,
            "client_secret": SECRETS[cid],
            "redirect_uris": [RP_CB],
            "post_logout_redirect_uris": ["https://rp.example/logged-out"],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid profile ssn",
        }
        entry.update(kw)
        return entry

    return [
        conf("confidential", client_name="Confidential RP"),
        conf("post-client", token_endpoint_auth_method="client_secret_post"),
        conf("no-pkce", require_pkce=False),
        conf("pairwise-a", subject_type="pairwise", pairwise_sector="a.example"),
        conf("pairwise-b", subject_type="pairwise", pairwise_sector="b.example"),
        conf("es256", id_token_signed_response_alg="ES256"),
        conf("narrow", scope="openid", grant_types=["authorization_code"]),
        conf("cc", grant_types=["client_credentials"], redirect_uris=[], scope="openid"),
        {
            "client_id": "public",
            "token_endpoint_auth_method": "none",
            "redirect_uris": [PUBLIC_CB],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid profile",
        },
        {
            "client_id": "jwt-client",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": client_jwks,
            "redirect_uris": [RP_CB],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid profile",
        },
    ]


@pytest.fixture(scope="session")
def template_db(tmp_path_factory):
    """A migrated database with signing keys, made once; each test gets a copy (key
    generation dominates fixture time otherwise)."""
    from idp.config import KeySettings
    from idp.keys import SigningKeys
    from idp.store.db import make_sessionmaker

    path = tmp_path_factory.mktemp("template") / "idp.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    SigningKeys(make_sessionmaker(engine), FixedClock(), KeySettings()).ensure()
    engine.dispose()
    return path


@pytest.fixture
def oidc_settings(tmp_path, template_db, client_jwks):
    import shutil

    shutil.copy(template_db, tmp_path / "idp.db")
    sqlite_url = f"sqlite:///{tmp_path}/idp.db"
    return parse_settings(
        {"issuer": ISSUER, "database_url": sqlite_url, "clients": client_entries(client_jwks)},
        source="test",
        environ={},
    )


@contextlib.asynccontextmanager
async def running_provider(settings, *, authenticator=FakeAuthenticator, **create_app_kwargs):
    """A provider on `settings` with a fake authenticator, a fixed clock and the in-process
    store, driven through a Harness; `create_app_kwargs` go to create_app (e.g. a jwks
    transport)."""
    clock = FixedClock()
    made = {}

    def factory(handoff):
        made["authn"] = authenticator(handoff, clock)
        return made["authn"]

    app = create_app(
        settings,
        clock=clock,
        store=MemoryTTLStore(clock),
        authenticator=factory,
        **create_app_kwargs,
    )
    async with app_client(app, base_url=ISSUER) as http:
        yield Harness(http, clock, app, made["authn"])


def settings_with(oidc_settings, *entries):
    """Settings on the same database as `oidc_settings`, with only these clients."""
    return parse_settings(
        {"issuer": ISSUER, "database_url": oidc_settings.database_url, "clients": list(entries)},
        source="test",
        environ={},
    )


@pytest.fixture
async def oidc(oidc_settings):
    """A provider with the fake authenticator, a fixed clock and the in-process store."""
    async with running_provider(oidc_settings) as harness:
        yield harness
