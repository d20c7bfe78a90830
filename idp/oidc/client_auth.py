"""Client authentication (RFC 6749 §2.3, OIDC Core §9): client_secret_basic,
client_secret_post, private_key_jwt (RFC 7523) and none (public clients, client_id only).

Authlib runs the methods; this module supplies the two it does not do our way (Basic with
Appendix B decoding, private_key_jwt against the injected clock with single-use `jti`) and the
entries that authenticate a client on the event loop: `ClientAuthenticator.authenticate_client`
(the token endpoint) and `ClientAuthenticator.authenticate` (endpoints outside Authlib: CIBA,
PAR), which authenticates a client exactly as the token endpoint does. Authlib's methods run
synchronously on the loop; a private_key_jwt `jti` is recorded and checked against the TTL store
right after, before anything else is done for the request.

A client's public keys come from one hook, `KeySource`: by default the `jwks` of its entry.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote_plus

from authlib.oauth2.rfc6749 import InvalidClientError, OAuth2Error, OAuth2Request
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request

from idp.authn import safejson
from idp.clock import Clock
from idp.config import FAPI2_SIGNING_ALGS, ClientSettings
from idp.oidc.client_keys import strong_enough
from idp.oidc.clients import Client
from idp.oidc.errors import InvalidClient
from idp.oidc.http import PreparedRequest
from idp.oidc.threads import call_async, sync_step
from idp.store.ttl import TTLStore

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
CONFIDENTIAL_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
#: private_key_jwt assertion algorithms (discovery's token_endpoint_auth_signing_alg_values_
#: supported): RS256 and ES256 for the Swedish OIDC Profile §5.2, PS256 for FAPI 2.0 §5.4.1.
ASSERTION_SIGNING_ALGS = ("RS256", "ES256", "PS256")
#: The longest lifetime of an assertion (exp after iat, or after now without iat): RFC 7523
#: §3 lets the server "reject JWTs with an "exp" claim value that is unreasonably far in the
#: future"; an assertion is made for one request, and its jti is remembered until its exp.
MAX_ASSERTION_LIFETIME = 300
#: How long a used assertion `jti` is remembered at most (seconds); each one until its exp.
JTI_TTL = MAX_ASSERTION_LIFETIME + 60
#: The client authentication parameters of the request body (RFC 6749 §2.3.1, RFC 7521 §4.2).
_SECRET = "client_secret"
_ASSERTION = "client_assertion"

#: The `kid` of the assertion being checked (Authlib resolves the key from the client alone;
#: extract_assertion, called just before in the same context, records it).
_assertion_kid: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "assertion_kid", default=None
)
#: The `alg` of the assertion being checked, for the client's own policy (FAPI 2.0 mode).
_assertion_alg: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "assertion_alg", default=None
)

#: Where `PrivateKeyJWT.validate_jti` records the replay keys of an authentication run by
#: `ClientAuthenticator.authenticate_client`, which checks them against the store afterwards.
_jti_sink: contextvars.ContextVar[list[tuple[str, float]] | None] = contextvars.ContextVar(
    "jti_sink", default=None
)

#: A client's public keys as a JWK Set ({"keys": [...]}), given the `kid` the assertion names
#: (a source may refetch a jwks_uri that lacks it). Called synchronously, on the event loop or
#: in a worker thread (a source that needs the event loop reaches it with `call_async`, which
#: moves the authentication to a worker thread: idp.oidc.threads.sync_step); may raise
#: InvalidClientError when the keys cannot be had.
KeySource = Callable[[ClientSettings, str | None], Mapping[str, Any]]


def registered_jwks(client: ClientSettings, kid: str | None = None) -> Mapping[str, Any]:
    """The keys in the client's entry (`jwks`); the configuration checked it is a JWK Set."""
    return client.jwks or {}


def basic_auth(
    query_client: Callable[[str], Client | None], request: OAuth2Request
) -> Client | None:
    """client_secret_basic with RFC 6749 Appendix B decoding (form-urlencoded, so '+' is ' ')."""
    header = request.headers.get("Authorization") or request.headers.get("authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    client = query_client(unquote_plus(client_id))
    if client is None:
        raise InvalidClientError(
            status_code=401, description="The client does not exist on this server."
        )
    return client if client.check_client_secret(unquote_plus(secret)) else None


class PrivateKeyJWT(JWTBearerClientAssertion):
    """private_key_jwt (OIDC Core §9, RFC 7523 §3) with single-use `jti`."""

    CLIENT_AUTH_METHOD = "private_key_jwt"
    #: Where assertions may be sent; each of these URLs (and the issuer) is an accepted `aud`.
    PATHS = ("/token", "/introspect", "/revoke", "/backchannel-authentication", "/par", "/evidence")

    def __init__(self, issuer: str, clock: Clock, store: TTLStore, keys: KeySource) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self.issuer = issuer
        self.clock = clock
        self.store = store
        self.keys = keys

    def get_audiences(self) -> list[str]:
        """RFC 7523 §3: "The JWT MUST contain an "aud" (audience) claim containing a value that
        identifies the authorization server as an intended audience. The token endpoint URL
        of the authorization server MAY be used"; RFC 9126 §2: at the PAR endpoint "the
        authorization server MUST accept its issuer identifier, token endpoint URL, or pushed
        authorization request endpoint URL as values that identify it as an intended
        audience"."""
        return [self.issuer, *(self.issuer + path for path in self.PATHS)]

    def verify_claims(self, claims: Any) -> None:
        """RFC 7523 §3 claim checks against the injected clock (joserfc would use the wall
        clock): iss = sub = a client id, aud names us, exp in the future, jti single use."""
        now = self.clock.now()
        iss, sub, aud, exp = (claims.get(k) for k in ("iss", "sub", "aud", "exp"))
        if not isinstance(iss, str) or iss != sub:
            raise InvalidClientError(description="iss and sub must both be the client_id")
        audiences = aud if isinstance(aud, list) else [aud]
        if not set(self.get_audiences()) & {a for a in audiences if isinstance(a, str)}:
            raise InvalidClientError(description="aud does not name this server")
        if not isinstance(exp, int | float) or exp + self.leeway <= now:
            raise InvalidClientError(description="the assertion has expired")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf - self.leeway > now:
            raise InvalidClientError(description="the assertion is not yet valid")
        iat = claims.get("iat")
        if iat is not None and not isinstance(iat, int | float):
            raise InvalidClientError(description="iat must be a number")
        if iat is not None and iat - self.leeway > now:
            raise InvalidClientError(description="the assertion is issued in the future")
        start = now if iat is None else min(float(iat), now)
        if exp - start > MAX_ASSERTION_LIFETIME:
            raise InvalidClientError(
                description=f"the assertion's lifetime is over {MAX_ASSERTION_LIFETIME} seconds"
            )
        jti = claims.get("jti")
        if jti is None:
            raise InvalidClientError(description="Missing JWT ID.")
        if not self.validate_jti(claims, jti):
            raise InvalidClientError(description="JWT ID is used before.")

    def validate_jti(self, claims: Any, jti: str) -> bool:
        if not isinstance(jti, str) or len(jti) > 200:
            return False
        key = f"{claims['iss']}|{jti}"
        # Remembered for as long as the assertion could be presented again: until its exp
        # (with the leeway), never beyond JTI_TTL (the lifetime is capped above).
        ttl = max(1.0, min(float(JTI_TTL), float(claims["exp"]) + self.leeway - self.clock.now()))
        sink = _jti_sink.get()
        if sink is not None:  # ClientAuthenticator.authenticate_client checks it right after
            sink.append((key, ttl))
            return True
        return call_async(self.store.add, "jti", key, {}, ttl)

    async def check_jtis(self, keys: Sequence[tuple[str, float]]) -> None:
        """Each recorded assertion `jti` is used for the first time, or InvalidClientError."""
        for key, ttl in keys:
            if not await self.store.add("jti", key, {}, ttl):
                raise InvalidClientError(description="JWT ID is used before.")

    def extract_assertion(self, assertion: str) -> Any:
        # Authlib reads the payload with json.loads, which a deeply nested payload turns into a
        # RecursionError (a 500): the bounded decoder reads it first.
        parts = assertion.split(".")
        if len(parts) == 3:
            try:
                payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
            except ValueError:
                payload = b""  # Authlib refuses it below
            if payload:
                safejson.loads(
                    payload, error=lambda _: InvalidClientError(description="Invalid JWT payload.")
                )
        headers, claims = super().extract_assertion(assertion)
        kid = headers.get("kid") if isinstance(headers, Mapping) else None
        _assertion_kid.set(kid if isinstance(kid, str) else None)
        alg = headers.get("alg") if isinstance(headers, Mapping) else None
        _assertion_alg.set(alg if isinstance(alg, str) else None)
        return headers, claims

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        """As Authlib's, with the algorithms we advertise (joserfc's default list would refuse
        PS256 as "not recommended")."""
        try:
            algs = list(ASSERTION_SIGNING_ALGS)
            token = jose_jwt.decode(assertion, resolve_key, algorithms=algs)
        except JoseError as exc:
            raise InvalidClientError(description=exc.description) from exc
        self.verify_claims(token.claims)
        return token.claims

    def resolve_client_public_key(self, client: Client) -> KeySet:
        keys = self.keys(client.settings, _assertion_kid.get()).get("keys")
        if isinstance(keys, list):
            # Swedish OIDC Profile §7.1: RSA keys of at least 2048 bits (as for request objects).
            keys = [k for k in keys if strong_enough(k)]
        if not isinstance(keys, list) or not keys:
            # None registered, or its jwks_uri could not be fetched: the assertion cannot be
            # checked (joserfc refuses an empty set with an exception of its own).
            raise InvalidClientError(description="no usable keys for this client")
        return KeySet.import_key_set({"keys": keys})

    def authenticate_client(self, client: Client) -> Client:
        settings = client.settings
        if settings.token_endpoint_auth_method != self.CLIENT_AUTH_METHOD:
            raise InvalidClientError(description="the client does not use private_key_jwt")
        if settings.fapi2 and _assertion_alg.get() not in FAPI2_SIGNING_ALGS:
            # FAPI 2.0 §5.4.1: "shall use PS256, ES256 or EdDSA".
            raise InvalidClientError(
                description="this client's assertions must be signed with PS256 or ES256"
            )
        return client


def _one_method(request: OAuth2Request) -> None:
    """RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each
    request": HTTP Basic, a client_secret in the body and a client assertion exclude each
    other."""
    header = request.headers.get("Authorization") or request.headers.get("authorization") or ""
    used = [
        header.split(" ", 1)[0].lower() == "basic",
        request.form.get(_SECRET) is not None,
        request.form.get(_ASSERTION) is not None,
    ]
    if sum(used) > 1:
        raise InvalidClientError(description="more than one client authentication method")


def with_client_challenge(
    status: int, body: Any, headers: dict[str, str], request_headers: Mapping[str, str]
) -> tuple[int, Any, dict[str, str]]:
    """RFC 6749 §5.2 invalid_client: "If the client attempted to authenticate via the
    "Authorization" request header field, the authorization server MUST respond with an HTTP
    401 (Unauthorized) status code and include the "WWW-Authenticate" response header field
    matching the authentication scheme used by the client." We answer 401 always."""
    if isinstance(body, dict) and body.get("error") == "invalid_client":
        status = 401
        if "authorization" in {k.lower() for k in request_headers}:
            headers["WWW-Authenticate"] = 'Basic realm="idp"'
    return status, body, headers


class ClientAuthenticationFailed(InvalidClient):
    """Raised by `ClientAuthenticator.authenticate` when the client is unknown, sent no or
    wrong credentials, used a method other than its registered one, or sent an assertion that
    does not verify. It carries what the token endpoint would answer: `status_code` 401,
    `json()` ({"error": "invalid_client", ...}) and `headers` (WWW-Authenticate when the
    client tried the Authorization header)."""

    def __init__(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        super().__init__(str(body.get("error_description") or ""))
        self.body = {**body, "error": self.error}
        self.headers = headers

    def json(self) -> dict[str, str]:
        return dict(self.body)


class ClientAuthenticator:
    """Client authentication as at the token endpoint, for endpoints Authlib does not serve."""

    def __init__(self, server: Any, assertions: PrivateKeyJWT) -> None:
        self.server = server  # the OAuthBridge: Authlib's authenticate_client and its errors
        self.assertions = assertions

    async def authenticate_client(
        self, request: OAuth2Request, methods: Sequence[str], endpoint: str = "token"
    ) -> Client:
        """Authlib's client authentication of `request`, on the event loop (in a worker thread
        only when a key source must reach the loop), then the private_key_jwt `jti` check.
        Raises OAuth2Error (invalid_client); StoreUnavailable passes through."""
        _one_method(request)
        sink: list[tuple[str, float]] = []

        def run() -> Client:
            sink.clear()  # a second run (in a worker thread) records afresh
            client: Client = self.server.authenticate_client(request, list(methods), endpoint)
            return client

        token = _jti_sink.set(sink)
        try:
            client = await sync_step(run)
        finally:
            _jti_sink.reset(token)
        named = request.form.get("client_id")
        if named is not None and named != client.client_id:
            # The credentials are another client's than the one the request names.
            raise InvalidClientError(description="client_id is not the authenticated client")
        if sink:
            await self.assertions.check_jtis(sink)
        return client

    async def authenticate(
        self,
        request: Request,
        form: Mapping[str, str],
        endpoint: str = "token",
        methods: Sequence[str] = AUTH_METHODS,
    ) -> ClientSettings:
        """The client that `request` (whose `form` was already read with `read_form`)
        authenticates as, by its registered method among `methods`. `endpoint` ("par",
        "backchannel_authentication") goes to Authlib's checks; a client has one registered
        method (`token_endpoint_auth_method`) and uses it at every endpoint.

        Raises ClientAuthenticationFailed; StoreUnavailable or DatabaseUnavailable (a `jti`
        could not be checked) pass through, for a 503 temporarily_unavailable.
        """
        prepared = PreparedRequest.of(request, dict(form))
        try:
            client = await self.authenticate_client(prepared, methods, endpoint)
        except OAuth2Error as exc:
            status, body, headers = self.server.handle_error_response(prepared, exc)
            _, body, headers = with_client_challenge(status, body, headers, prepared.headers)
            raise ClientAuthenticationFailed(body, headers) from None
        settings: ClientSettings = client.settings
        return settings


__all__ = [
    "ASSERTION_SIGNING_ALGS",
    "AUTH_METHODS",
    "CONFIDENTIAL_METHODS",
    "JTI_TTL",
    "ClientAuthenticationFailed",
    "ClientAuthenticator",
    "KeySource",
    "PrivateKeyJWT",
    "basic_auth",
    "registered_jwks",
    "with_client_challenge",
]
