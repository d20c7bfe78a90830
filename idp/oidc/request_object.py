"""Request objects (RFC 9101, "JAR"): the `request` parameter, verified into its claims.

A request object is a JWT signed by the client (RFC 9101 §4: "The Request Object MUST be
signed"), optionally then encrypted to this provider (§6.1, nested: JWS inside JWE). OIDC Core
§6.1 allowed `alg: none`; RFC 9101 does not, and neither do we (RFC 9101 §10.5). The Swedish
OIDC Profile §2.1.7 requires accepting request objects "signed and/or encrypted" with `iss` and
`aud`, and "the OP MUST accept its issuer identifier or its authorization endpoint URL as the
audience"; its §7.1 names RSA-OAEP with A128GCM and A256GCM for encryption.

`verify` returns the claims; the caller uses only them and discards the outer parameters
(RFC 9101 §6.3: "the authorization server MUST only use the parameters in the Request
Object"). Each failure is an `InvalidRequestObject` (§7: `invalid_request_object`) with a fixed
description that echoes nothing the client sent.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from typing import Any, Final

from joserfc import jws
from joserfc.errors import JoseError

from idp.authn import safejson
from idp.clock import Clock
from idp.config import ENCRYPTION_ALGS, FAPI2_SIGNING_ALGS, ClientSettings, Settings
from idp.keys import DecryptionError, SigningKeys, UnknownDecryptionKey
from idp.oidc.client_keys import (
    AddressNotAllowed,
    ClientKeys,
    ClientKeysError,
    JwksTooLarge,
    NoClientKeys,
    UnknownKey,
)
from idp.oidc.errors import InvalidRequestObject
from idp.store.ttl import TTLStore

__all__ = [
    "REQUEST_OBJECT_ENCRYPTION_ALGS",
    "REQUEST_OBJECT_ENCRYPTION_ENCS",
    "REQUEST_OBJECT_SIGNING_ALGS",
    "RequestObjects",
]

#: `request_object_signing_alg_values_supported`: asymmetric only. Never `none` (RFC 9101
#: §10.5), never HMAC (a shared secret is not the client's registered key), RS256 and ES256
#: for the Swedish OIDC Profile §7.1, PS256 and ES256 for FAPI 2.0 §5.4.1.
REQUEST_OBJECT_SIGNING_ALGS: Final = ("RS256", "PS256", "ES256")
#: `request_object_encryption_alg_values_supported`: what our encryption keys can be made for
#: (`keys.encryption_algorithms` says which are; `RequestObjects.metadata` publishes those).
#: What request objects may be encrypted with: every encryption algorithm the keys offer.
REQUEST_OBJECT_ENCRYPTION_ALGS: Final = ENCRYPTION_ALGS
#: `request_object_encryption_enc_values_supported` (Swedish OIDC Profile §7.1).
REQUEST_OBJECT_ENCRYPTION_ENCS: Final = ("A128GCM", "A256GCM")
#: RFC 9101 §4 and §10.8: the explicit type, or the generic one older clients send.
ACCEPTED_TYPES: Final = ("oauth-authz-req+jwt", "jwt")
#: A request object is a few kilobytes, unless it carries what a person is to approve (a text
#: to sign, non-visible data: see MAX_PAR_BODY); anything larger is refused before any crypto.
MAX_LENGTH: Final = 512 * 1024
MAX_JTI_LENGTH: Final = 256
#: The TTL-store kind that remembers used `jti`s until their request object expires.
JTI_KIND: Final = "request_object_jti"
#: A compact JWS: three base64url parts, the signature possibly empty (then `alg` is none).
_COMPACT_JWS: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

# Fixed descriptions (error_description): they never echo what the client sent.
MALFORMED = "the request object is not a valid JWT"
TOO_LARGE = "the request object is too large"
NOT_SIGNED = "the request object must be signed"
ALG_NOT_ALLOWED = "the request object's signing algorithm is not allowed"
TYP_NOT_ALLOWED = "the request object's type is not accepted"
ENC_ALG_NOT_ALLOWED = "the request object's encryption algorithm is not allowed"
UNKNOWN_ENC_KEY = "the request object is encrypted to a key this provider does not have"
NOT_DECRYPTED = "the request object cannot be decrypted"
UNKNOWN_KID = "unknown key id"
KEYS_UNAVAILABLE = "the client's keys cannot be fetched"
KEYS_NOT_PUBLIC = "the client's jwks_uri is not on a public address"
KEYS_TOO_LARGE = "the client's jwks_uri answered with too much data"
NO_KEYS = "the client has no registered keys"
BAD_SIGNATURE = "the request object's signature is invalid"
NOT_AN_OBJECT = "the request object's claims are not a JSON object"
WRONG_ISS = "the request object's issuer is not the client"
WRONG_AUD = "the request object's audience is not this provider"
WRONG_CLIENT_ID = "the request object's client_id is not the client's"
NESTED_REQUEST = "the request object must not contain request or request_uri"
NO_EXP = "the request object has no expiry"
EXPIRED = "the request object has expired"
NOT_YET_VALID = "the request object is not yet valid"
ISSUED_IN_FUTURE = "the request object was issued in the future"
TOO_LONG_LIVED = "the request object's lifetime is too long"
NO_JTI = "the request object has no jti"
REPLAYED = "the request object was already used"


def _invalid(description: str) -> InvalidRequestObject:
    return InvalidRequestObject(description)


def _header(segment: str) -> dict[str, Any]:
    try:
        header = safejson.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise _invalid(MALFORMED) from None
    if not isinstance(header, dict):
        raise _invalid(MALFORMED)
    return header


def _number(value: Any) -> float | None:
    """A JSON number (NumericDate, RFC 7519 §2), or None; booleans are not numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _is_type(typ: Any) -> bool:
    """RFC 7515 §4.1.9: compared case-insensitively, the "application/" prefix optional."""
    if not isinstance(typ, str):
        return False
    name = typ.lower().removeprefix("application/")
    return name in ACCEPTED_TYPES


class RequestObjects:
    """Verifies request objects for the authorization and PAR endpoints."""

    def __init__(
        self,
        *,
        issuer: str,
        authorization_endpoint: str,
        client_keys: ClientKeys,
        keys: SigningKeys,
        store: TTLStore,
        clock: Clock,
        max_lifetime_seconds: int = 3600,
        clock_skew_seconds: int = 10,
    ) -> None:
        self._audiences = frozenset({issuer, authorization_endpoint})
        self._client_keys = client_keys
        self._keys = keys
        self._store = store
        self._clock = clock
        self._max_lifetime = max_lifetime_seconds
        self._skew = clock_skew_seconds

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        client_keys: ClientKeys,
        keys: SigningKeys,
        store: TTLStore,
        clock: Clock,
        authorization_endpoint: str | None = None,
    ) -> RequestObjects:
        return cls(
            issuer=settings.issuer,
            authorization_endpoint=authorization_endpoint or settings.issuer + "/authorize",
            client_keys=client_keys,
            keys=keys,
            store=store,
            clock=clock,
            max_lifetime_seconds=settings.request_objects.max_lifetime_seconds,
            clock_skew_seconds=settings.request_objects.clock_skew_seconds,
        )

    def metadata(self) -> dict[str, Any]:
        """Discovery fields (OIDC Discovery §3, RFC 9101 §9.1): encryption only while our
        encryption keys are on (`keys.encryption_algorithms`)."""
        doc: dict[str, Any] = {
            "request_parameter_supported": True,
            "request_object_signing_alg_values_supported": list(REQUEST_OBJECT_SIGNING_ALGS),
        }
        algs = [a for a in self._keys.encryption_algorithms if a in REQUEST_OBJECT_ENCRYPTION_ALGS]
        if algs:
            doc["request_object_encryption_alg_values_supported"] = algs
            doc["request_object_encryption_enc_values_supported"] = list(
                REQUEST_OBJECT_ENCRYPTION_ENCS
            )
        return doc

    async def verify(self, request: str, client: ClientSettings) -> dict[str, Any]:
        """The claims of the `request` parameter of `client`, verified; raises
        InvalidRequestObject. A `StoreUnavailable` from the replay check passes through (the
        caller answers temporarily_unavailable)."""
        if len(request) > MAX_LENGTH:
            raise _invalid(TOO_LARGE)
        parts = request.split(".")
        if len(parts) == 5:
            token = self._decrypt(request)
        elif len(parts) == 3:
            token = request
        else:
            raise _invalid(MALFORMED)
        claims = await self._verify_signature(token, client)
        self.check_claims(claims, client)
        await self._check_replay(claims, client)
        return claims

    # ---------------------------------------------------------------- decryption

    def _decrypt(self, request: str) -> str:
        """RFC 9101 §6.1: decrypt with our key; the content must be a signed request object
        (a nested JWT, RFC 7519 §5.2: `cty: JWT`), never bare claims."""
        header = _header(request.split(".", 1)[0])
        if (
            header.get("alg") not in self._keys.encryption_algorithms
            or header.get("enc") not in REQUEST_OBJECT_ENCRYPTION_ENCS
            or "zip" in header
        ):
            raise _invalid(ENC_ALG_NOT_ALLOWED)
        cty = header.get("cty")
        if cty is not None and not (isinstance(cty, str) and cty.upper() == "JWT"):
            raise _invalid(NOT_SIGNED)
        try:
            decrypted = self._keys.decrypt(request, encryptions=REQUEST_OBJECT_ENCRYPTION_ENCS)
        except UnknownDecryptionKey:
            raise _invalid(UNKNOWN_ENC_KEY) from None
        except DecryptionError:
            raise _invalid(NOT_DECRYPTED) from None
        try:
            inner = decrypted.plaintext.decode("ascii")
        except UnicodeDecodeError:
            raise _invalid(NOT_SIGNED) from None
        if not _COMPACT_JWS.fullmatch(inner):
            raise _invalid(NOT_SIGNED)
        return inner

    # ---------------------------------------------------------------- signature

    async def _verify_signature(self, token: str, client: ClientSettings) -> dict[str, Any]:
        header = _header(token.split(".", 1)[0])
        alg = header.get("alg")
        # RFC 9101 §4 "MUST be signed"; §10.5 no `none`; RFC 8725 §3.1 an explicit allow-list.
        if alg == "none":
            raise _invalid(NOT_SIGNED)
        if not isinstance(alg, str) or alg not in REQUEST_OBJECT_SIGNING_ALGS:
            raise _invalid(ALG_NOT_ALLOWED)
        if client.fapi2 and alg not in FAPI2_SIGNING_ALGS:
            # FAPI 2.0 §5.4.1: "shall use PS256, ES256 or EdDSA".
            raise _invalid(ALG_NOT_ALLOWED)
        # RFC 9101 §10.8: `typ` explicit typing; when present it must name a request object.
        if "typ" in header and not _is_type(header["typ"]):
            raise _invalid(TYP_NOT_ALLOWED)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _invalid(MALFORMED)
        try:
            candidates = await self._client_keys.verification_keys(client, alg=alg, kid=kid)
        except UnknownKey:
            raise _invalid(UNKNOWN_KID) from None
        except AddressNotAllowed:
            raise _invalid(KEYS_NOT_PUBLIC) from None
        except JwksTooLarge:
            raise _invalid(KEYS_TOO_LARGE) from None
        except NoClientKeys:
            raise _invalid(NO_KEYS) from None
        except ClientKeysError:
            raise _invalid(KEYS_UNAVAILABLE) from None
        for key in candidates:
            try:
                obj = jws.deserialize_compact(token, key, algorithms=[alg])
            except (JoseError, ValueError, TypeError):
                continue
            try:
                claims = safejson.loads(obj.payload)
            except (ValueError, UnicodeDecodeError):
                raise _invalid(NOT_AN_OBJECT) from None
            if not isinstance(claims, dict):
                raise _invalid(NOT_AN_OBJECT)
            return claims
        raise _invalid(BAD_SIGNATURE)

    # ---------------------------------------------------------------- claims

    def check_claims(self, claims: dict[str, Any], client: ClientSettings) -> None:
        """The claim rules, in order; raises InvalidRequestObject at the first broken one."""
        self.check_issuer(claims, client)
        self.check_audience(claims)
        self.check_client_id(claims, client)
        self.check_no_nested_request(claims)
        self.check_time(claims)
        self.check_jti(claims)

    def check_issuer(self, claims: dict[str, Any], client: ClientSettings) -> None:
        """RFC 9101 §4 / Swedish OIDC Profile §2.1.7: a signed object carries `iss`, the
        client_id of the client that signed it."""
        if claims.get("iss") != client.client_id:
            raise _invalid(WRONG_ISS)

    def check_audience(self, claims: dict[str, Any]) -> None:
        """Swedish OIDC Profile §2.1.7: "the OP MUST accept its issuer identifier or its
        authorization endpoint URL as the audience"; RFC 7519 §4.1.3: a string or an array."""
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(a, str) and a in self._audiences for a in audiences):
            raise _invalid(WRONG_AUD)

    def check_client_id(self, claims: dict[str, Any], client: ClientSettings) -> None:
        """RFC 9101 §5: the `client_id` parameter MUST equal the object's `client_id`."""
        if "client_id" in claims and claims["client_id"] != client.client_id:
            raise _invalid(WRONG_CLIENT_ID)

    def check_no_nested_request(self, claims: dict[str, Any]) -> None:
        """RFC 9101 §4: "The Request Object MUST NOT include the request or request_uri
        parameters"."""
        if "request" in claims or "request_uri" in claims:
            raise _invalid(NESTED_REQUEST)

    def check_time(self, claims: dict[str, Any]) -> None:
        """`exp` required, `nbf` and `iat` honoured, each with `clock_skew_seconds` of
        tolerance (FAPI 2.0 §5.3.2.1: 10 s); and a lifetime of at most
        `max_lifetime_seconds` (60 minutes, FAPI 1.0 Advanced §5.2.2-13), from `nbf` (or
        `iat`, or now) to `exp`."""
        now = self._clock.now()
        exp = _number(claims.get("exp"))
        if exp is None:
            raise _invalid(NO_EXP)
        if now - self._skew >= exp:
            raise _invalid(EXPIRED)
        nbf = _number(claims["nbf"]) if "nbf" in claims else None
        if "nbf" in claims and nbf is None:
            raise _invalid(MALFORMED)
        if nbf is not None and now + self._skew < nbf:
            raise _invalid(NOT_YET_VALID)
        iat = _number(claims["iat"]) if "iat" in claims else None
        if "iat" in claims and iat is None:
            raise _invalid(MALFORMED)
        if iat is not None and now + self._skew < iat:
            raise _invalid(ISSUED_IN_FUTURE)
        start = nbf if nbf is not None else iat if iat is not None else now
        if exp - start > self._max_lifetime:
            raise _invalid(TOO_LONG_LIVED)

    def check_jti(self, claims: dict[str, Any]) -> None:
        """A `jti` is required, so that a used object can be recognised (RFC 7519 §4.1.7)."""
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise _invalid(NO_JTI)

    async def _check_replay(self, claims: dict[str, Any], client: ClientSettings) -> None:
        """A request object is used once: its `jti` is remembered (atomically, on every
        instance) until the object expires, and a second use is refused."""
        digest = hashlib.sha256(str(claims["jti"]).encode()).hexdigest()
        ttl = max(1.0, float(claims["exp"]) - self._clock.now() + self._skew)
        if not await self._store.add(JTI_KIND, f"{client.client_id}|{digest}", {}, ttl):
            raise _invalid(REPLAYED)
