"""Request objects (RFC 9101): signed by the client, optionally encrypted to us, used once.

Every test builds the verifier from its parts (our keys on SQLite, the in-process TTL store, a
fixed clock, the client's jwks_uri behind httpx.MockTransport) and asserts the one description
the caller would send back as `invalid_request_object`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import warnings

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwe
from joserfc.jwk import RSAKey

from idp.clock import FixedClock
from idp.config import ClientSettings, KeySettings
from idp.keys import SigningKeys
from idp.oidc import request_object as ro
from idp.oidc.client_keys import ClientKeys
from idp.oidc.errors import InvalidRequestObject
from idp.oidc.request_object import RequestObjects
from idp.store.db import make_engine, make_sessionmaker
from idp.store.memory import MemoryTTLStore
from idp.store.migrate import upgrade

pytestmark = pytest.mark.anyio

ISSUER = "https://op.example"
AUTHZ = f"{ISSUER}/authorize"
CLIENT_ID = "rp"
JWKS_URI = "https://rp.example/jwks"
PUBLIC_ADDRESS = "93.184.216.34"


# --------------------------------------------------------------------------- helpers


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(private, kid: str, alg: str) -> dict:
    if isinstance(private, rsa.RSAPrivateKey):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    else:
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "use": "sig", "alg": alg})
    return jwk


class ClientKey:
    def __init__(self, alg: str, kid: str) -> None:
        self.alg, self.kid = alg, kid
        self.private = (
            ec.generate_private_key(ec.SECP256R1())
            if alg.startswith("ES")
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        self.jwk = public_jwk(self.private, kid, alg)

    def sign(self, claims: dict, **header) -> str:
        headers = {"kid": self.kid, "typ": "oauth-authz-req+jwt", **header}
        return jwt.encode(claims, self.private, algorithm=self.alg, headers=headers)


@pytest.fixture(scope="module")
def rs256():
    return ClientKey("RS256", "rp-rs")


@pytest.fixture(scope="module")
def es256():
    return ClientKey("ES256", "rp-es")


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    """Our keys, made once for the module on a fixed clock's start."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('keys')}/idp.db")
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    SigningKeys(sessions, FixedClock(), KeySettings()).ensure()
    yield sessions
    engine.dispose()


@pytest.fixture
def clock():
    return FixedClock()


@pytest.fixture
def keys(sessions, clock):
    return SigningKeys(sessions, clock, KeySettings())


class JwksServer:
    """The client's jwks_uri: serves `jwks`, counts the fetches, and records the last one."""

    def __init__(self, jwks: dict) -> None:
        self.jwks = jwks
        self.fetches = 0
        self.last: httpx.Request | None = None
        self.body: bytes | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        self.last = request
        if self.body is not None:
            return httpx.Response(200, content=self.body)
        return httpx.Response(200, json=self.jwks)


async def resolve_public(host: str, port: int) -> list[str]:
    return [PUBLIC_ADDRESS]


def make_verifier(keys, clock, server=None, **client_keys_kw) -> RequestObjects:
    transport = httpx.MockTransport(server or JwksServer({"keys": []}))
    client_keys = ClientKeys(clock, transport=transport, resolver=resolve_public, **client_keys_kw)
    return RequestObjects(
        issuer=ISSUER,
        authorization_endpoint=AUTHZ,
        client_keys=client_keys,
        keys=keys,
        store=MemoryTTLStore(clock),
        clock=clock,
    )


def client_with(*client_keys: ClientKey, jwks_uri: str | None = None) -> ClientSettings:
    if jwks_uri:
        return ClientSettings(client_id=CLIENT_ID, jwks_uri=jwks_uri)
    return ClientSettings(client_id=CLIENT_ID, jwks={"keys": [k.jwk for k in client_keys]})


def claims(clock, **over) -> dict:
    now = int(clock.now())
    base = {
        "iss": CLIENT_ID,
        "aud": ISSUER,
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": "https://rp.example/cb",
        "scope": "openid",
        "state": "s",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(16),
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def our_enc_jwk(keys) -> dict:
    (jwk,) = [k for k in keys.jwks()["keys"] if k["use"] == "enc"]
    return jwk


def encrypt(plaintext: str, jwk: dict, *, enc: str = "A256GCM", **header) -> str:
    protected = {"alg": jwk["alg"], "enc": enc, "kid": jwk["kid"], "cty": "JWT", **header}
    protected = {k: v for k, v in protected.items() if v is not None}
    return jwe.encrypt_compact(
        protected, plaintext.encode(), RSAKey.import_key(jwk), algorithms=[protected["alg"], enc]
    )


async def refused(verifier, request, client) -> str:
    with pytest.raises(InvalidRequestObject) as caught:
        await verifier.verify(request, client)
    assert caught.value.error == "invalid_request_object"
    return caught.value.description


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
async def test_a_signed_request_object_with_an_allowed_algorithm_gives_its_claims(keys, clock, alg):
    key = ClientKey(alg, f"k-{alg}")
    sent = claims(clock, login_hint="someone")
    got = await make_verifier(keys, clock).verify(key.sign(sent), client_with(key))
    assert got == sent


@pytest.mark.parametrize("aud", [ISSUER, AUTHZ, ["https://other.example", AUTHZ]])
async def test_audience_may_be_the_issuer_or_the_authorization_endpoint_string_or_array(
    keys, clock, rs256, aud
):
    got = await make_verifier(keys, clock).verify(
        rs256.sign(claims(clock, aud=aud)), client_with(rs256)
    )
    assert got["aud"] == aud


async def test_typ_jwt_and_no_typ_are_accepted(keys, clock, rs256):
    verifier = make_verifier(keys, clock)
    await verifier.verify(rs256.sign(claims(clock), typ="JWT"), client_with(rs256))
    untyped = jwt.encode(claims(clock), rs256.private, "RS256", headers={"kid": rs256.kid})
    await verifier.verify(untyped, client_with(rs256))


# --------------------------------------------------------------------------- time


async def test_expired_request_object_is_refused(keys, clock, rs256):
    token = rs256.sign(claims(clock, exp=int(clock.now()) + 60))
    clock.advance(70)  # exp plus the full ten seconds of skew
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == ro.EXPIRED


async def test_expiry_tolerates_ten_seconds_of_clock_skew(keys, clock, rs256):
    token = rs256.sign(claims(clock, exp=int(clock.now()) + 60))
    clock.advance(69)
    assert await make_verifier(keys, clock).verify(token, client_with(rs256))


async def test_missing_exp_is_refused(keys, clock, rs256):
    token = rs256.sign(claims(clock, exp=None))
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == ro.NO_EXP


async def test_not_yet_valid_request_object_nbf_is_refused(keys, clock, rs256):
    now = int(clock.now())
    token = rs256.sign(claims(clock, nbf=now + 11, iat=now, exp=now + 300))
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == (
        ro.NOT_YET_VALID
    )


async def test_lifetime_over_sixty_minutes_is_refused(keys, clock, rs256):
    now = int(clock.now())
    verifier = make_verifier(keys, clock)
    too_long = rs256.sign(claims(clock, nbf=now, exp=now + 3601))
    assert await refused(verifier, too_long, client_with(rs256)) == ro.TOO_LONG_LIVED
    just_right = rs256.sign(claims(clock, nbf=now, exp=now + 3600))
    assert await verifier.verify(just_right, client_with(rs256))


async def test_lifetime_without_nbf_counts_from_iat(keys, clock, rs256):
    now = int(clock.now())
    token = rs256.sign(claims(clock, nbf=None, iat=now - 100, exp=now + 3550))
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == (
        ro.TOO_LONG_LIVED
    )


# --------------------------------------------------------------------------- replay


async def test_replayed_jti_is_refused(keys, clock, rs256):
    verifier = make_verifier(keys, clock)
    token = rs256.sign(claims(clock))
    await verifier.verify(token, client_with(rs256))
    assert await refused(verifier, token, client_with(rs256)) == ro.REPLAYED


async def test_jti_is_remembered_until_the_request_object_expires(keys, clock, rs256):
    verifier = make_verifier(keys, clock)
    now = int(clock.now())
    first = claims(clock, exp=now + 600)
    await verifier.verify(rs256.sign(first), client_with(rs256))
    clock.advance(599)  # the same jti in a new object, just before the first one expires
    again = rs256.sign({**claims(clock), "jti": first["jti"]})
    assert await refused(verifier, again, client_with(rs256)) == ro.REPLAYED


async def test_missing_jti_is_refused(keys, clock, rs256):
    token = rs256.sign(claims(clock, jti=None))
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == ro.NO_JTI


# --------------------------------------------------------------------------- claims


async def test_wrong_audience_is_refused(keys, clock, rs256):
    token = rs256.sign(claims(clock, aud="https://op.example.evil"))
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == ro.WRONG_AUD


async def test_missing_audience_is_refused(keys, clock, rs256):
    token = rs256.sign(claims(clock, aud=None))
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == ro.WRONG_AUD


async def test_issuer_other_than_the_client_is_refused(keys, clock, rs256):
    token = rs256.sign(claims(clock, iss="someone-else"))
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == ro.WRONG_ISS


async def test_client_id_claim_other_than_the_client_is_refused(keys, clock, rs256):
    token = rs256.sign(claims(clock, client_id="other-rp"))
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == (
        ro.WRONG_CLIENT_ID
    )


@pytest.mark.parametrize("member", ["request", "request_uri"])
async def test_request_object_must_not_contain_request_or_request_uri(keys, clock, rs256, member):
    token = rs256.sign(claims(clock, **{member: "x"}))
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == (
        ro.NESTED_REQUEST
    )


# --------------------------------------------------------------------------- signature


async def test_alg_none_is_refused(keys, clock, rs256):
    header = b64(json.dumps({"alg": "none", "typ": "oauth-authz-req+jwt"}).encode())
    token = f"{header}.{b64(json.dumps(claims(clock)).encode())}."
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == ro.NOT_SIGNED


async def test_hs256_is_refused_even_keyed_with_the_clients_public_key(keys, clock, rs256):
    """The algorithm-confusion attack: an HMAC keyed with the client's public modulus."""
    header = b64(json.dumps({"alg": "HS256", "kid": rs256.kid}).encode())
    payload = b64(json.dumps(claims(clock)).encode())
    secret = base64.urlsafe_b64decode(rs256.jwk["n"] + "==")
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{b64(mac)}"
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == (
        ro.ALG_NOT_ALLOWED
    )


async def test_a_changed_claim_breaks_the_signature(keys, clock, rs256):
    head, _, sig = rs256.sign(claims(clock)).split(".")
    forged = b64(json.dumps(claims(clock, scope="openid ssn")).encode())
    token = f"{head}.{forged}.{sig}"
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == ro.BAD_SIGNATURE


async def test_a_type_other_than_a_request_object_is_refused(keys, clock, rs256):
    token = rs256.sign(claims(clock), typ="dpop+jwt")
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == (
        ro.TYP_NOT_ALLOWED
    )


async def test_a_key_of_another_client_is_an_unknown_key_id(keys, clock, rs256):
    stranger = ClientKey("RS256", "stranger")
    token = stranger.sign(claims(clock))
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == ro.UNKNOWN_KID


# --------------------------------------------------------------------------- jwks_uri


async def test_unknown_kid_refetches_a_rotated_jwks_uri_and_then_verifies(keys, clock, rs256):
    server = JwksServer({"keys": [rs256.jwk]})
    verifier = make_verifier(keys, clock, server)
    client = client_with(jwks_uri=JWKS_URI)
    await verifier.verify(rs256.sign(claims(clock)), client)
    assert server.fetches == 1
    # The client rotates: its jwks_uri now serves only a new key, still inside our cache time.
    rotated = ClientKey("RS256", "rp-rs-2")
    server.jwks = {"keys": [rotated.jwk]}
    clock.advance(31)
    got = await verifier.verify(rotated.sign(claims(clock)), client)
    assert got["iss"] == CLIENT_ID and server.fetches == 2


async def test_unknown_kid_refetches_at_most_once_per_interval(keys, clock, rs256):
    server = JwksServer({"keys": [rs256.jwk]})
    verifier = make_verifier(keys, clock, server, refetch_interval_seconds=30)
    client = client_with(jwks_uri=JWKS_URI)
    await verifier.verify(rs256.sign(claims(clock)), client)  # first fetch
    made_up = [ClientKey("ES256", f"made-up-{i}") for i in range(3)]
    clock.advance(31)
    for key in made_up:  # only the first unknown kid refetches
        assert await refused(verifier, key.sign(claims(clock)), client) == ro.UNKNOWN_KID
    assert server.fetches == 2


async def test_jwks_uri_is_fetched_from_the_checked_address_with_the_name_kept(keys, clock, rs256):
    server = JwksServer({"keys": [rs256.jwk]})
    await make_verifier(keys, clock, server).verify(
        rs256.sign(claims(clock)), client_with(jwks_uri=JWKS_URI)
    )
    assert server.last.url.host == PUBLIC_ADDRESS
    assert server.last.headers["host"] == "rp.example"
    assert server.last.extensions["sni_hostname"] == "rp.example"


async def test_jwks_uri_on_127_0_0_1_is_refused_unless_private_addresses_are_allowed(
    keys, clock, rs256
):
    server = JwksServer({"keys": [rs256.jwk]})
    client = client_with(jwks_uri="http://127.0.0.1:8081/jwks")
    refusing = make_verifier(keys, clock, server)
    assert await refused(refusing, rs256.sign(claims(clock)), client) == ro.KEYS_NOT_PUBLIC
    assert server.fetches == 0
    allowing = make_verifier(keys, clock, server, allow_private_addresses=True)
    assert await allowing.verify(rs256.sign(claims(clock)), client)
    assert server.fetches == 1 and server.last.url.host == "127.0.0.1"


async def test_oversize_jwks_response_is_refused(keys, clock, rs256):
    server = JwksServer({})
    server.body = json.dumps({"keys": [rs256.jwk], "pad": "x" * 70_000}).encode()
    verifier = make_verifier(keys, clock, server, max_bytes=64 * 1024)
    token = rs256.sign(claims(clock))
    assert await refused(verifier, token, client_with(jwks_uri=JWKS_URI)) == ro.KEYS_TOO_LARGE


# --------------------------------------------------------------------------- encryption


@pytest.mark.parametrize("enc", ["A256GCM", "A128GCM"])
async def test_encrypted_nested_request_object_decrypts_and_verifies(keys, clock, rs256, enc):
    sent = claims(clock)
    token = encrypt(rs256.sign(sent), our_enc_jwk(keys), enc=enc)
    assert len(token.split(".")) == 5
    assert await make_verifier(keys, clock).verify(token, client_with(rs256)) == sent


async def test_encrypted_to_an_unknown_kid_is_refused(keys, clock, rs256):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(stranger.public_key()))
    jwk.update({"kid": "not-ours", "alg": "RSA-OAEP", "use": "enc"})
    jwk.pop("key_ops", None)
    token = encrypt(rs256.sign(claims(clock)), jwk)
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == (
        ro.UNKNOWN_ENC_KEY
    )


async def test_encrypted_but_unsigned_request_object_is_refused(keys, clock, rs256):
    token = encrypt(json.dumps(claims(clock)), our_enc_jwk(keys), cty=None)
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == ro.NOT_SIGNED


async def test_encrypted_alg_none_inside_is_refused(keys, clock, rs256):
    header = b64(json.dumps({"alg": "none"}).encode())
    unsigned = f"{header}.{b64(json.dumps(claims(clock)).encode())}."
    token = encrypt(unsigned, our_enc_jwk(keys))
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == ro.NOT_SIGNED


@pytest.mark.parametrize("alg", ["RSA1_5", "RSA-OAEP-256"])
async def test_encryption_algorithm_outside_the_allow_list_is_refused(keys, clock, rs256, alg):
    """RSA1_5 never; RSA-OAEP-256 only with a key made for it (keys.encryption_algorithms)."""
    jwk = {**our_enc_jwk(keys), "alg": alg}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc warns that RSA1_5 is deprecated
        token = encrypt(rs256.sign(claims(clock)), jwk)
    assert await refused(make_verifier(keys, clock), token, client_with(rs256)) == (
        ro.ENC_ALG_NOT_ALLOWED
    )


# --------------------------------------------------------------------------- discovery


def test_metadata_lists_the_allow_lists_and_never_none_or_hmac(keys, clock):
    doc = make_verifier(keys, clock).metadata()
    assert doc["request_parameter_supported"] is True
    assert doc["request_object_signing_alg_values_supported"] == ["RS256", "PS256", "ES256"]
    assert doc["request_object_encryption_alg_values_supported"] == ["RSA-OAEP"]
    assert doc["request_object_encryption_enc_values_supported"] == ["A128GCM", "A256GCM"]


def test_metadata_leaves_out_encryption_when_our_encryption_keys_are_off(sessions, clock):
    keys = SigningKeys(sessions, clock, KeySettings(encryption_algorithms=[]))
    doc = make_verifier(keys, clock).metadata()
    assert "request_object_encryption_alg_values_supported" not in doc


async def test_a_client_without_registered_keys_cannot_send_a_signed_request_object(
    keys, clock, rs256
):
    token = rs256.sign(claims(clock))
    bare = ClientSettings(client_id=CLIENT_ID)
    assert await refused(make_verifier(keys, clock), token, bare) == ro.NO_KEYS


async def test_a_failing_jwks_uri_is_refused_as_unavailable(keys, clock, rs256):
    verifier = RequestObjects(
        issuer=ISSUER,
        authorization_endpoint=AUTHZ,
        client_keys=ClientKeys(
            clock,
            transport=httpx.MockTransport(lambda request: httpx.Response(500)),
            resolver=resolve_public,
        ),
        keys=keys,
        store=MemoryTTLStore(clock),
        clock=clock,
    )
    token = rs256.sign(claims(clock))
    assert await refused(verifier, token, client_with(jwks_uri=JWKS_URI)) == ro.KEYS_UNAVAILABLE
