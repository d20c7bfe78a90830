"""The provider exactly as `create_app` wires it for BankID (its own in-process simulator, no
fake authenticator), with a fixed clock and the in-process store, and relying parties held to
the Swedish OIDC Profile 1.0 (`profile: swedish-oidc`, private_key_jwt with an inline jwks)."""

from __future__ import annotations

import json
import shutil

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from idp.app import create_app
from idp.clock import FixedClock
from idp.config import parse_settings
from idp.store.memory import MemoryTTLStore
from tests.profiles.swedish_rp import (
    INFO_SCOPE,
    ISSUER,
    NATIVE_CB,
    NUMBER_SCOPE,
    RP_CB,
    SwedishRP,
)

#: The server-wide ID token lifetime: longer than the profile allows, so the cap shows.
SERVER_ID_TOKEN_TTL = 3600


def public_jwk(private_key, kid: str, alg: str) -> dict:
    public = private_key.public_key()
    algorithm = jwt.algorithms.ECAlgorithm if alg.startswith("ES") else jwt.algorithms.RSAAlgorithm
    jwk = json.loads(algorithm.to_jwk(public))
    jwk.update({"kid": kid, "use": "sig", "alg": alg})
    return jwk


@pytest.fixture(scope="session")
def rp_keys():
    """The relying parties' signing keys: alg -> (private key, kid)."""
    return {
        "RS256": (rsa.generate_private_key(public_exponent=65537, key_size=2048), "rp-rsa"),
        "ES256": (ec.generate_private_key(ec.SECP256R1()), "rp-ec"),
    }


@pytest.fixture(scope="session")
def rp_jwks(rp_keys):
    return {"keys": [public_jwk(key, kid, alg) for alg, (key, kid) in rp_keys.items()]}


def swedish_client(client_id: str, jwks: dict, **kw) -> dict:
    entry = {
        "client_id": client_id,
        "client_name": f"Svensk tjänst {client_id}",
        "profile": "swedish-oidc",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": jwks,
        "redirect_uris": [RP_CB],
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": f"openid {NUMBER_SCOPE} {INFO_SCOPE}",
    }
    entry.update(kw)
    return entry


def profile_clients(jwks: dict) -> list[dict]:
    return [
        swedish_client("se-rp", jwks),
        swedish_client("se-other", jwks),
        swedish_client("se-pairwise", jwks, subject_type="pairwise", pairwise_sector="se.example"),
        swedish_client("se-es256", jwks, id_token_signed_response_alg="ES256"),
        swedish_client("se-narrow", jwks, scope="openid"),
        {
            "client_id": "se-native",
            "client_name": "Svensk app",
            "profile": "swedish-oidc",
            "token_endpoint_auth_method": "none",
            "allow_weaker_client_auth": True,
            "redirect_uris": [NATIVE_CB],
            "grant_types": ["authorization_code"],
            "scope": f"openid {NUMBER_SCOPE}",
        },
    ]


@pytest.fixture(scope="session")
def profile_template_db(tmp_path_factory):
    """A migrated database with the provider's keys, made once and copied for each test."""
    from idp.config import KeySettings
    from idp.keys import SigningKeys
    from idp.store.db import make_engine, make_sessionmaker
    from idp.store.migrate import upgrade

    path = tmp_path_factory.mktemp("profiles") / "idp.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    SigningKeys(make_sessionmaker(engine), FixedClock(), KeySettings()).ensure()
    engine.dispose()
    return path


def settings_for(tmp_path, template, clients, **extra):
    shutil.copy(template, tmp_path / "idp.db")
    raw = {
        "issuer": ISSUER,
        "database_url": f"sqlite:///{tmp_path}/idp.db",
        "bankid": {"simulator": {"think_time_seconds": 1}},
        "tokens": {"id_token_ttl_seconds": SERVER_ID_TOKEN_TTL},
        "clients": clients,
    }
    raw.update(extra)
    return parse_settings(raw, source="test", environ={})


@pytest.fixture
def clock():
    return FixedClock()


@pytest.fixture
def profile_settings(tmp_path, profile_template_db, rp_jwks):
    return settings_for(tmp_path, profile_template_db, profile_clients(rp_jwks))


@pytest.fixture
async def app(profile_settings, clock):
    """The real wiring: create_app with no authenticator given (BankID, simulator mounted)."""
    application = create_app(profile_settings, clock=clock, store=MemoryTTLStore(clock))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def rp_factory(app, clock, rp_keys):
    made: list[SwedishRP] = []

    def make(client_id: str = "se-rp", **kw) -> SwedishRP:
        rp = SwedishRP(app, clock, client_id, rp_keys, **kw)
        made.append(rp)
        return rp

    yield make
    for rp in made:
        await rp.aclose()


@pytest.fixture
async def rp(rp_factory):
    """The relying party `se-rp` held to the profile, with one browser."""
    return rp_factory("se-rp")
