"""DPoP proofs as a client makes them (RFC 9449 §4.2), signed with pyjwt, and the JWK
thumbprint computed here independently of the provider (RFC 7638 §3)."""

import base64
import hashlib
import json
import secrets

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.oidc.harness import ISSUER

TOKEN_URL = ISSUER + "/token"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: dict) -> str:
    """RFC 7638 §3.2: the required members, in lexicographic order, no whitespace."""
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def ath(token: str) -> str:
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


class Prover:
    """A client's DPoP key and the proofs it signs; `clock` gives iat."""

    def __init__(self, clock, alg: str = "ES256") -> None:
        self.clock = clock
        self.alg = alg
        if alg.startswith("ES"):
            self.key = ec.generate_private_key(ec.SECP256R1())
            self.jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        else:
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jkt = thumbprint(self.jwk)

    def claims(self, htm="POST", htu=TOKEN_URL, **extra):
        claims = {
            "jti": secrets.token_urlsafe(16),
            "htm": htm,
            "htu": htu,
            "iat": int(self.clock.now()),
        }
        claims.update(extra)
        return {k: v for k, v in claims.items() if v is not None}

    def proof(self, htm="POST", htu=TOKEN_URL, *, header=None, key=None, **claims):
        """A proof; `header` overrides JOSE header members, `claims` claims (None drops one)."""
        headers = {"typ": "dpop+jwt", "jwk": self.jwk}
        headers.update(header or {})
        headers = {k: v for k, v in headers.items() if v is not None}
        return jwt.encode(
            self.claims(htm, htu, **claims),
            key if key is not None else self.key,
            algorithm=self.alg,
            headers=headers,
        )

    def for_resource(self, token, htm="GET", htu=ISSUER + "/userinfo", **claims):
        return self.proof(htm, htu, ath=ath(token), **claims)
