"""DPoP proofs (RFC 9449): checked at the token, PAR and resource endpoints.

A proof is a JWT the client signs with a key whose public half it carries in the header; the
access tokens issued against it are bound to that key by its JWK SHA-256 thumbprint (`jkt`,
RFC 7638). `DPoPVerifier.verify` makes the checks of §4.3, one `_check_*` step per rule, and
remembers each proof's `jti` in the shared TTL store (`add`: atomic across instances) for as
long as its `iat` is acceptable (§11.1). Server nonces (§8) are stateless: an HMAC of a time slot
under a server secret, so every instance issues and accepts the same ones, rotating every
`nonce_period` seconds; the current and the previous slot's are accepted.

The key handling and the signature check are joserfc's, as for client assertions
(idp.oidc.client_auth); nothing here touches a private key.

While the token endpoint serves a request (idp.oidc.bridge), the proof it accepted is the
request's `current_proof()`: the grants (code binding, refresh-token binding) and the token
generator (`cnf.jkt`, `token_type: DPoP`) read it there.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry
from joserfc.jws import JWSRegistry

from idp.clock import Clock
from idp.config import FAPI2_SIGNING_ALGS, ClientSettings
from idp.oidc.client_auth import ASSERTION_SIGNING_ALGS
from idp.oidc.client_keys import strong_enough
from idp.store.ttl import TTLStore

#: §4.3 step 5: asymmetric algorithms only, never `none` or a MAC: those the provider already
#: accepts for client assertions (RS256, ES256 and PS256).
DPOP_SIGNING_ALGS: tuple[str, ...] = ASSERTION_SIGNING_ALGS
#: §4.3 step 7: "the jwk JOSE Header Parameter does not contain a private key".
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})
#: §11.1: "servers [...] SHOULD limit the size of the jti" (a UUID or 96 random bits fit).
MAX_JTI = 128
MAX_PROOF = 8192
#: §4.3 step 11 / §11.1: a proof is acceptable this many seconds after its iat...
IAT_WINDOW = 60
#: ... and this many before it (clock skew; FAPI 2.0 §5.3.2.1 accepts up to 10 s).
IAT_LEEWAY = 10
#: §8: how often the server nonce changes (every instance derives the same one).
NONCE_PERIOD = 300
#: The TTL-store kind of the replay markers.
JTI_KIND = "dpop-jti"
#: The HTTP header a proof comes in, and the one a nonce goes out in.
HEADER = "DPoP"
NONCE_HEADER = "DPoP-Nonce"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class _ProofRegistry(JWSRegistry):
    """joserfc's JWS checks, with room for a jwk header (an RSA key's is over 512 bytes)."""

    max_header_length = 4096
    max_payload_length = 4096


class DPoPError(Exception):
    """A DPoP proof that fails a check of RFC 9449 §4.3 (or §7 at a resource); `error` is the
    wire error code, `description` says which check without echoing the proof."""

    error = "invalid_dpop_proof"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class UseDPoPNonce(DPoPError):
    """The server requires a nonce (§8) and the proof has none, or a stale or unknown one: the
    client retries with the nonce of the `DPoP-Nonce` header."""

    error = "use_dpop_nonce"


@dataclass(frozen=True)
class Proof:
    """A proof that passed every check: its key's thumbprint and its jti."""

    jkt: str
    jti: str
    #: Its `alg`, for a client's own policy (FAPI 2.0 mode: `allowed_for`).
    alg: str = ""

    def allowed_for(self, client: ClientSettings) -> bool:
        """FAPI 2.0 §5.4.1: a fapi2 client's proofs "shall use PS256, ES256 or EdDSA"."""
        return not client.fapi2 or self.alg in FAPI2_SIGNING_ALGS


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def access_token_hash(token: str) -> str:
    """§4.2 `ath`: "the base64url-encoded SHA-256 hash of the ASCII encoding of the associated
    access token's value"."""
    return b64url(hashlib.sha256(token.encode("ascii", "replace")).digest())


def normalize_uri(uri: str) -> str | None:
    """An HTTP URI without query and fragment, normalised as §4.3 step 9 asks (RFC 3986
    §6.2.2 syntax-based, §6.2.3 scheme-based): case of scheme and host, default port, empty
    path; None when it is not an absolute http(s) URI."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host or parts.username or parts.password:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", "", ""))


def _public_jwk(header: Mapping[str, Any]) -> dict[str, Any]:
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise DPoPError("the proof has no jwk header")
    if PRIVATE_MEMBERS & jwk.keys():
        raise DPoPError("the proof's jwk must be a public key")
    if jwk.get("kty") not in ("RSA", "EC") or not strong_enough(jwk):
        raise DPoPError("the proof's jwk is not an acceptable key")
    return jwk


#: The proof the token endpoint accepted for the request being served (None: no proof).
_current: contextvars.ContextVar[Proof | None] = contextvars.ContextVar("dpop_proof", default=None)


def current_proof() -> Proof | None:
    """The DPoP proof of the token request being served (set by idp.oidc.bridge)."""
    return _current.get()


@contextmanager
def serving(proof: Proof | None) -> Iterator[None]:
    token = _current.set(proof)
    try:
        yield
    finally:
        _current.reset(token)


class DPoPVerifier:
    """The checks of RFC 9449 §4.3 and the server nonces of §8, for one issuer."""

    def __init__(
        self,
        issuer: str,
        store: TTLStore,
        clock: Clock,
        secret: bytes,
        *,
        algorithms: Sequence[str] = DPOP_SIGNING_ALGS,
        nonce_period: int = NONCE_PERIOD,
        window: int = IAT_WINDOW,
        leeway: int = IAT_LEEWAY,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.store = store
        self.clock = clock
        self._nonce_key = hmac.new(secret, b"dpop-nonce", hashlib.sha256).digest()
        self.algorithms = tuple(algorithms)
        self._registry = _ProofRegistry(algorithms=list(self.algorithms))
        self.nonce_period = nonce_period
        self.window = window
        self.leeway = leeway

    # ------------------------------------------------------------------ nonces (§8)

    def _nonce_of(self, slot: int) -> str:
        mac = hmac.new(self._nonce_key, str(slot).encode(), hashlib.sha256).digest()
        return b64url(mac[:24])

    def nonce(self) -> str:
        """The nonce of the current slot: what `DPoP-Nonce` carries (§8: unpredictable)."""
        return self._nonce_of(math.floor(self.clock.now() / self.nonce_period))

    def nonce_valid(self, value: str) -> bool:
        """The current slot's nonce, or the previous one's (a client that just fetched it)."""
        slot = math.floor(self.clock.now() / self.nonce_period)
        given = value.encode("utf-8", "replace")
        return any(hmac.compare_digest(given, self._nonce_of(s).encode()) for s in (slot, slot - 1))

    # ------------------------------------------------------------------ proofs (§4.3)

    def url(self, path: str) -> str:
        """The URI a proof's htu must name for one of our endpoints: the issuer's configured
        external URL and the path, as discovery advertises it (never the Host header)."""
        return self.issuer + path

    async def verify(
        self,
        headers: Any,
        method: str,
        path: str,
        *,
        access_token: str | None = None,
        require_nonce: bool = False,
    ) -> Proof | None:
        """The proof of a request to `path` (None when it carries no DPoP header), or
        DPoPError. `headers` is Starlette's Headers (its `getlist`); with `access_token`
        (resource access, §7.1) the proof's `ath` must match it."""
        values = headers.getlist(HEADER.lower())
        if not values:
            return None
        # §4.3 step 1: "There is not more than one DPoP HTTP request header field."
        if len(values) != 1:
            raise DPoPError("send exactly one DPoP header")
        claims, jwk, alg = self._check_jwt(values[0])
        self._check_claims(claims, method, path)
        self._check_nonce(claims, require_nonce)
        self._check_iat(claims)
        if access_token is not None:
            self._check_ath(claims, access_token)
        proof = Proof(jkt=self.thumbprint(jwk), jti=claims["jti"], alg=alg)
        await self._check_replay(proof)
        return proof

    @staticmethod
    def thumbprint(jwk: dict[str, Any]) -> str:
        """RFC 7638 JWK SHA-256 thumbprint (§6.1 `jkt`)."""
        return str(JWKRegistry.import_key(jwk).thumbprint())

    def _check_jwt(self, value: str) -> tuple[dict[str, Any], dict[str, Any], str]:
        """§4.3 steps 2-8: one well-formed JWT, typ, alg, a public jwk, a valid signature."""
        if not value or len(value) > MAX_PROOF or value.count(".") != 2:
            raise DPoPError("the DPoP header is not a JWT")  # step 2
        try:
            unverified = jws.extract_compact(value.encode("ascii"), registry=self._registry)
            header = dict(unverified.headers())
        except (JoseError, ValueError, TypeError, UnicodeError):
            raise DPoPError("the DPoP header is not a JWT") from None
        # Step 4: "The typ JOSE Header Parameter has the value dpop+jwt."
        if header.get("typ") != "dpop+jwt":
            raise DPoPError("the proof's typ must be dpop+jwt")
        # Step 5: "The alg JOSE Header Parameter indicates a registered asymmetric digital
        # signature algorithm [...], is not none, is supported by the application, and is
        # acceptable per local policy."
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise DPoPError("the proof's alg is not accepted")
        jwk = _public_jwk(header)  # step 7
        # Step 6: "The JWT signature verifies with the public key contained in the jwk JOSE
        # Header Parameter."
        try:
            key = JWKRegistry.import_key(jwk)
            verified = jws.deserialize_compact(value, key, registry=self._registry)
            claims = json.loads(verified.payload)
        except (JoseError, ValueError, TypeError):
            raise DPoPError("the proof's signature does not verify") from None
        if not isinstance(claims, dict):
            raise DPoPError("the proof's claims are not a JSON object")  # step 3
        return claims, jwk, str(alg)

    def _check_claims(self, claims: dict[str, Any], method: str, path: str) -> None:
        """§4.3 step 3 (required claims), 8 (htm), 9 (htu)."""
        jti, htm, htu = claims.get("jti"), claims.get("htm"), claims.get("htu")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI:
            raise DPoPError("the proof's jti is missing or too long")
        iat = claims.get("iat")
        if not isinstance(iat, (int, float)) or isinstance(iat, bool) or not math.isfinite(iat):
            raise DPoPError("the proof's iat is missing")
        # Step 8: "The htm claim matches the HTTP method of the current request."
        if not isinstance(htm, str) or htm != method.upper():
            raise DPoPError("the proof's htm does not match the request method")
        # Step 9: "The htu claim matches the HTTP URI value for the HTTP request in which the
        # JWT was received, ignoring any query and fragment parts."
        if not isinstance(htu, str) or normalize_uri(htu) != normalize_uri(self.url(path)):
            raise DPoPError("the proof's htu does not match the request URI")

    def _check_nonce(self, claims: dict[str, Any], required: bool) -> None:
        """§4.3 step 10: "If the server provided a nonce value to the client, the nonce claim
        matches the server-provided nonce value." A proof that carries one is checked even
        where none is demanded (§8: "MUST reject" a mismatch)."""
        nonce = claims.get("nonce")
        if nonce is None:
            if required:
                raise UseDPoPNonce("a DPoP nonce is required: use the DPoP-Nonce header")
            return
        if not isinstance(nonce, str) or len(nonce) > 256 or not self.nonce_valid(nonce):
            raise UseDPoPNonce("the DPoP nonce is stale or unknown: use the DPoP-Nonce header")

    def _check_iat(self, claims: dict[str, Any]) -> None:
        """§4.3 step 11: "The creation time of the JWT, as determined by [...] the iat claim,
        is within an acceptable window (see Section 11.1)."""
        now = self.clock.now()
        iat = float(claims["iat"])
        if iat < now - self.window or iat > now + self.leeway:
            raise DPoPError("the proof's iat is outside the acceptable window")

    @staticmethod
    def _check_ath(claims: dict[str, Any], access_token: str) -> None:
        """§4.3 step 12 (resource access): "the value of the ath claim equals the hash of that
        access token"."""
        ath = claims.get("ath")
        expected = access_token_hash(access_token).encode()
        if not isinstance(ath, str) or not hmac.compare_digest(
            ath.encode("utf-8", "replace"), expected
        ):
            raise DPoPError("the proof's ath does not match the access token")

    async def _check_replay(self, proof: Proof) -> None:
        """§11.1: a jti is accepted once, on every instance, while its iat is acceptable."""
        key = hashlib.sha256(f"{proof.jkt}:{proof.jti}".encode()).hexdigest()
        if not await self.store.add(JTI_KIND, key, {}, self.window + self.leeway + 5):
            raise DPoPError("the proof was used before")


__all__ = [
    "DPOP_SIGNING_ALGS",
    "HEADER",
    "NONCE_HEADER",
    "DPoPError",
    "DPoPVerifier",
    "Proof",
    "UseDPoPNonce",
    "access_token_hash",
    "current_proof",
    "normalize_uri",
    "serving",
]
