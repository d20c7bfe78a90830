"""The console checks an ID token with the algorithm of the provider's key, never the one the
token names for itself (RFC 8725 §3.1)."""

import json
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from idp.clock import SystemClock
from idp.console.provider import Provider, ProviderError

pytestmark = pytest.mark.anyio

ISSUER = "https://op.example"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def transport() -> httpx.MockTransport:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    jwk.update({"kid": "k1", "alg": "RS256", "use": "sig"})

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks"})
        return httpx.Response(200, json={"keys": [jwk]})

    return httpx.MockTransport(answer)


def token(alg: str) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "console", "sub": "s", "iat": now, "exp": now + 60}
    return jwt.encode(claims, KEY, algorithm=alg, headers={"kid": "k1"})


@pytest.fixture
def provider() -> Provider:
    return Provider(ISSUER, "console", "secret", SystemClock(), transport=transport())


async def test_a_token_signed_with_the_keys_algorithm_is_accepted(provider):
    assert (await provider.verify_id_token(token("RS256")))["sub"] == "s"


async def test_a_token_naming_another_algorithm_for_the_same_key_is_refused(provider):
    with pytest.raises(ProviderError) as refused:
        await provider.verify_id_token(token("PS256"))  # the key is registered for RS256
    assert refused.value.error == "invalid_id_token"
