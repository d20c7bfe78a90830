"""Authlib inside Starlette: the one bridge between an async app and Authlib's sync core.

Authlib has no Starlette server integration (authlib/authlib#63, #340). This module reads the
request body with `await`, hands Authlib a pre-read request, and runs Authlib's grant code in a
worker thread; the few hooks that need the async TTL store call back into the event loop with
`call_async` (idp.oidc.threads). Protocol logic stays in Authlib's grant classes; persistence is in
small query/authenticate hooks, as Authlib intends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import anyio.to_thread
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Error,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idp.clock import Clock
from idp.config import ClientSettings, Registrations, Registry, Settings
from idp.oidc import claims as claims_mod
from idp.oidc.threads import call_async
from idp.oidc.tokens import AuthContext, TokenService
from idp.store.db import DRIVER_UNAVAILABLE, DatabaseUnavailable
from idp.store.ttl import StoreUnavailable, TTLStore

log = logging.getLogger("idp.oidc")

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
CONFIDENTIAL_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_FORM_FIELDS = 50
MAX_BODY = 64 * 1024
#: What makes a back-channel request answer 503 temporarily_unavailable.
UNAVAILABLE: tuple[type[Exception], ...] = (
    StoreUnavailable,
    DatabaseUnavailable,
    *DRIVER_UNAVAILABLE,
)


# ---------------------------------------------------------------------------- client model


class Client(ClientMixin):
    """A client entry as Authlib sees it, with the registrations it was found in."""

    def __init__(self, settings: ClientSettings, registered: Registrations) -> None:
        self.settings = settings
        self.registered = registered

    @property
    def client_id(self) -> str:
        return self.settings.client_id

    def get_client_id(self) -> str:
        return self.settings.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # OIDC requires redirect_uri on every request

    def get_allowed_scope(self, scope: str | None) -> str:
        requested = (scope or "").split() or list(self.settings.scopes)
        return " ".join(claims_mod.granted_scopes(requested, self.settings, self.registered))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.settings.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.settings.client_secret is not None and self.settings.client_secret.verify(
            client_secret
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.settings.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.settings.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.settings.grant_types


# ---------------------------------------------------------------------------- requests


class PreparedRequest(OAuth2Request):
    """An OAuth2Request built from a body that was already read on the event loop."""

    def __init__(self, method: str, uri: str, headers: dict[str, str], form: dict[str, str]):
        super().__init__(method, uri, headers=headers)
        self._form = form
        self.payload = BasicOAuth2Payload(form)

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


class BadRequest(Exception):
    def __init__(self, description: str) -> None:
        self.description = description


async def read_form(request: Request) -> dict[str, str]:
    """The form body of a back-channel request, with the checks RFC 6749 §3.2 and §4.1.3 imply."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method != "POST":
        raise BadRequest("use POST")
    if ctype != "application/x-www-form-urlencoded":
        raise BadRequest("the body must be application/x-www-form-urlencoded")
    length = request.headers.get("content-length")
    if length and (not length.isdigit() or int(length) > MAX_BODY):
        raise BadRequest("the request body is too large")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BadRequest("the request body is too large")
    try:
        form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    except Exception:  # malformed multipart/form data of any kind
        raise BadRequest("the request body is malformed") from None
    out: dict[str, str] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise BadRequest("files are not accepted")
        if key in out:
            # RFC 6749 §3.2: request parameters MUST NOT be included more than once.
            raise BadRequest(f"'{key}' was given more than once")
        out[key] = value
    return out


# ---------------------------------------------------------------------------- the user


@dataclass(frozen=True)
class TokenUser:
    """Who tokens are issued for, carried through Authlib to the token generator."""

    sub: str
    grant_id: str
    auth: AuthContext
    nonce: str | None = None
    sid: str | None = None


@dataclass(frozen=True)
class CodeRecord:
    value: dict[str, Any]

    def get_redirect_uri(self) -> str:
        return self.value["redirect_uri"]

    def get_scope(self) -> str:
        return self.value["scope"]


@dataclass(frozen=True)
class RefreshRecord:
    token: str
    grant_id: str
    client_id: str
    scope: str

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope


# ---------------------------------------------------------------------------- grants


class S256Only(CodeChallenge):
    """PKCE with S256 only (RFC 9700 §2.1.1); every verifier problem is invalid_grant."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        try:
            super().validate_code_verifier(grant, result)
        except InvalidRequestError as exc:
            # RFC 7636 §4.6 and RFC 9700 §4.8 (a verifier without a challenge): invalid_grant.
            raise InvalidGrantError(description=exc.description) from None

    def get_authorization_code_challenge(self, authorization_code: CodeRecord) -> str | None:
        return authorization_code.value.get("code_challenge")

    def get_authorization_code_challenge_method(self, authorization_code: CodeRecord) -> str | None:
        return authorization_code.value.get("code_challenge_method")


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    bridge: OAuthBridge  # set on the subclass the bridge registers

    def query_authorization_code(self, code: str, client: Client) -> CodeRecord | None:
        if not isinstance(code, str) or len(code) > 200:
            return None
        consumed = call_async(self.bridge.store.consume, "code", code)
        if consumed is None:
            return None
        value = consumed.value
        if not consumed.first:
            # RFC 6749 §4.1.2: "If an authorization code is used more than once, the
            # authorization server MUST deny the request and SHOULD revoke (when possible) all
            # tokens previously issued based on that authorization code."
            log.warning("authorization code replayed; revoking its grant")
            self.bridge.tokens.revoke_grant(value["grant_id"])
            return None
        # Keep only what replay detection needs, not the claims.
        call_async(
            self.bridge.store.update,
            "code",
            code,
            {"grant_id": value["grant_id"], "client_id": value["client_id"]},
        )
        if value["client_id"] != client.client_id:
            return None
        if self.bridge.clock.now() >= value["expires_at"]:
            return None
        return CodeRecord(value)

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        """Nothing to do: the code was consumed atomically when it was looked up."""

    def authenticate_user(self, authorization_code: CodeRecord) -> TokenUser | None:
        v = authorization_code.value
        grant = self.bridge.tokens.grant(v["grant_id"])
        if grant is None or not grant.active:
            return None
        return TokenUser(
            sub=grant.sub, grant_id=grant.id, auth=grant.auth, nonce=v.get("nonce"), sid=grant.sid
        )


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotate on every use (RFC 9700 §4.14.2)
    bridge: OAuthBridge

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        if not isinstance(refresh_token, str) or len(refresh_token) > 200:
            return None
        tokens = self.bridge.tokens
        row = tokens.find_refresh_token(refresh_token)
        if row is None:
            return None
        if row.used_at is not None:
            # RFC 9700 §4.14.2: a rotated-away token came back; revoke the whole family.
            log.warning("refresh token reused; revoking its grant")
            tokens.revoke_grant(row.grant_id)
            return None
        if row.expires_at <= self.bridge.clock.now() or not tokens.grant_active(row.grant_id):
            return None
        return RefreshRecord(refresh_token, row.grant_id, row.client_id, row.scope)

    def authenticate_user(self, refresh_token: RefreshRecord) -> TokenUser | None:
        tokens = self.bridge.tokens
        if not tokens.claim_refresh_token(refresh_token.token):
            tokens.revoke_grant(refresh_token.grant_id)  # lost a race with another use: reuse
            raise InvalidGrantError(description="the refresh token was already used")
        grant = tokens.grant(refresh_token.grant_id)
        if grant is None or not grant.active:
            raise InvalidGrantError()
        return TokenUser(sub=grant.sub, grant_id=grant.id, auth=grant.auth, sid=grant.sid)

    def revoke_old_credential(self, refresh_token: RefreshRecord) -> None:
        """Nothing more to do: authenticate_user marked it used atomically."""


class ClientCredentials(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS


# ---------------------------------------------------------------------------- client auth


class PrivateKeyJWT(JWTBearerClientAssertion):
    """private_key_jwt (OIDC Core §9, RFC 7523 §3) with single-use `jti`."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, bridge: OAuthBridge) -> None:
        super().__init__(validate_jti=True, leeway=30)
        self.bridge = bridge

    def get_audiences(self) -> list[str]:
        issuer = self.bridge.settings.issuer
        return [
            issuer + "/token",
            issuer,
            issuer + "/introspect",
            issuer + "/revoke",
            issuer + "/backchannel-authentication",
        ]

    def verify_claims(self, claims: Any) -> None:
        """RFC 7523 §3 claim checks against the injected clock (joserfc would use the wall
        clock): iss = sub = a client id, aud names us, exp in the future, jti single use."""
        now = self.bridge.clock.now()
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
        jti = claims.get("jti")
        if jti is None:
            raise InvalidClientError(description="Missing JWT ID.")
        if not self.validate_jti(claims, jti):
            raise InvalidClientError(description="JWT ID is used before.")

    def validate_jti(self, claims: Any, jti: str) -> bool:
        if not isinstance(jti, str) or len(jti) > 200:
            return False
        return call_async(self.bridge.store.add, "jti", f"{claims['iss']}|{jti}", {}, 3600)

    def resolve_client_public_key(self, client: Client) -> KeySet:
        jwks = client.settings.jwks
        if not jwks:
            raise InvalidClientError(description="the client has no registered keys")
        # The configuration checked that jwks is a JWK Set (an object with a "keys" list).
        return KeySet.import_key_set({"keys": jwks["keys"]})

    def authenticate_client(self, client: Client) -> Client:
        if client.settings.token_endpoint_auth_method == self.CLIENT_AUTH_METHOD:
            return client
        raise InvalidClientError(description="the client does not use private_key_jwt")


def basic_auth(
    query_client: Callable[[str], Client | None], request: OAuth2Request
) -> Client | None:
    """client_secret_basic with RFC 6749 Appendix B decoding (form-urlencoded, so '+' is ' ')."""
    import base64
    import binascii
    from urllib.parse import unquote_plus

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


# ---------------------------------------------------------------------------- token endpoints


@dataclass(frozen=True)
class IntrospectedToken:
    kind: str  # "access_token" | "refresh_token"
    client_id: str
    claims: dict[str, Any]
    grant_id: str | None
    raw: str

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def is_expired(self) -> bool:
        return False  # _lookup_token returns live tokens only

    def is_revoked(self) -> bool:
        return False


def _lookup_token(bridge: OAuthBridge, token: str) -> IntrospectedToken | None:
    if not isinstance(token, str) or not token or len(token) > 8192:
        return None
    if token.count(".") == 2:
        claims = bridge.tokens.verify_access_token(token)
        if (
            claims is None
            or call_async(bridge.store.get, "revoked_at", str(claims.get("jti"))) is not None
        ):
            return None
        return IntrospectedToken(
            "access_token", str(claims.get("client_id")), claims, claims.get("gid"), token
        )
    row = bridge.tokens.find_refresh_token(token)
    if row is None or row.used_at is not None or row.expires_at <= bridge.clock.now():
        return None
    grant = bridge.tokens.grant(row.grant_id)
    if grant is None or not grant.active:
        return None
    claims = {
        "iss": bridge.settings.issuer,
        "sub": grant.sub,
        "scope": row.scope,
        "exp": int(row.expires_at),
        "iat": int(row.created_at),
        "client_id": row.client_id,
    }
    return IntrospectedToken("refresh_token", row.client_id, claims, row.grant_id, token)


def _check_token_param(request: Any) -> None:
    """`token` is required; `token_type_hint` is only a hint, and we find the type ourselves
    (RFC 7009 §2.1, RFC 7662 §2.1: the server MAY ignore it), so an unknown one is ignored."""
    if not request.form.get("token"):
        raise InvalidRequestError(description="'token' is required")


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS
    bridge: OAuthBridge

    def check_params(self, request: Any, client: Client) -> None:
        _check_token_param(request)

    def query_token(
        self, token_string: str, token_type_hint: str | None
    ) -> IntrospectedToken | None:
        return _lookup_token(self.bridge, token_string)

    def check_permission(self, token: IntrospectedToken, client: Client, request: Any) -> bool:
        # Only the client a token was issued to may introspect it (no token scanning).
        return token.check_client(client)

    def introspect_token(self, token: IntrospectedToken) -> dict[str, Any]:
        c = token.claims
        out = {
            "active": True,
            "token_type": token.kind,
            "client_id": token.client_id,
            "scope": c.get("scope"),
            "sub": c.get("sub"),
            "iss": c.get("iss"),
            "exp": c.get("exp"),
            "iat": c.get("iat"),
        }
        for k in ("aud", "jti", "auth_time", "acr"):
            if k in c:
                out[k] = c[k]
        return out


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS
    bridge: OAuthBridge

    def check_params(self, request: Any, client: Client) -> None:
        _check_token_param(request)

    def authenticate_token(self, request: Any, client: Client) -> IntrospectedToken | None:
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        # RFC 7009 §2.1: only the client the token was issued to may revoke it. Another
        # client's token is answered like an unknown one, so ownership cannot be probed.
        return token if token is not None and token.check_client(client) else None

    def query_token(
        self, token_string: str, token_type_hint: str | None
    ) -> IntrospectedToken | None:
        return _lookup_token(self.bridge, token_string)

    def revoke_token(self, token: IntrospectedToken, request: Any) -> None:
        if token.kind == "refresh_token" and token.grant_id:
            # Revoking a refresh token revokes its grant (node-oidc-provider's revokeGrantPolicy).
            self.bridge.tokens.revoke_grant(token.grant_id)
            return
        exp = float(token.claims.get("exp", 0))
        ttl = max(1.0, exp - self.bridge.clock.now())
        call_async(
            self.bridge.store.put,
            "revoked_at",
            str(token.claims.get("jti")),
            {"revoked": True},
            ttl,
        )


# ---------------------------------------------------------------------------- the server


class OAuthBridge(AuthorizationServer):
    """Authlib's AuthorizationServer, adapted: pre-read requests in, (status, body, headers) out."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        tokens: TokenService,
        store: TTLStore,
        clock: Clock,
    ):
        self.settings = settings
        self.registry = registry  # clients and scopes: a reload may replace them
        super().__init__()
        self.tokens = tokens
        self.store = store
        self.clock = clock
        self.register_token_generator("default", self._generate)
        self.register_client_auth_method("client_secret_basic", basic_auth)
        self.register_client_auth_method("private_key_jwt", PrivateKeyJWT(self))
        for grant_cls, extensions in (
            (CodeGrant, [S256Only(required=True)]),
            (RefreshGrant, None),
            (ClientCredentials, None),
        ):
            bound = type(grant_cls.__name__, (grant_cls,), {"bridge": self})
            self.register_grant(bound, extensions)
        for endpoint_cls in (Introspection, Revocation):
            self.register_endpoint(
                type(endpoint_cls.__name__, (endpoint_cls,), {"bridge": self})(self)
            )

    # -- Authlib hooks

    @property
    def scopes_supported(self) -> list[str]:
        return list(self.registry.current.scopes)

    @scopes_supported.setter
    def scopes_supported(self, value: Any) -> None:
        """Authlib's constructor sets it; ours always follows the settings in service."""

    def query_client(self, client_id: str) -> Client | None:
        if not isinstance(client_id, str):
            return None
        registered = self.registry.current
        found = registered.client(client_id)
        return None if found is None else Client(found, registered)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Nothing to do: tokens are JWTs and refresh tokens are stored when generated."""

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request

    def handle_response(
        self, status: int, body: Any, headers: Any
    ) -> tuple[int, Any, dict[str, str]]:
        return status, body, dict(headers or [])

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def _generate(
        self,
        grant_type: str,
        client: Client,
        user: TokenUser | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        settings = client.settings
        scope = scope or ""
        if user is None:  # client credentials: the client acts for itself
            token, ttl = self.tokens.access_token(
                client=settings, sub=settings.client_id, scope=scope, grant_id=None, auth=None
            )
            return {
                "token_type": "Bearer",
                "access_token": token,
                "expires_in": ttl,
                "scope": scope,
            }
        token, ttl = self.tokens.access_token(
            client=settings, sub=user.sub, scope=scope, grant_id=user.grant_id, auth=user.auth
        )
        out: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": token,
            "expires_in": ttl,
            "scope": scope,
        }
        if "openid" in scope.split():
            extra = claims_mod.requested_names(user.auth.claims_request, "id_token")
            released = claims_mod.release(
                user.auth.claims, scope.split(), client.registered, settings, extra
            )
            out["id_token"] = self.tokens.id_token(
                client=settings,
                sub=user.sub,
                auth=user.auth,
                claims=released,
                nonce=user.nonce,
                sid=user.sid,
                access_token=token,
            )
        if include_refresh_token and client.check_grant_type("refresh_token"):
            out["refresh_token"] = self.tokens.issue_refresh_token(
                user.grant_id, settings.client_id, scope
            )
        return out

    # -- the async face

    def register_grant_class(self, grant_cls: type, extensions: list[Any] | None = None) -> None:
        """Register another grant (CIBA) bound to this bridge."""
        self.register_grant(type(grant_cls.__name__, (grant_cls,), {"bridge": self}), extensions)

    async def respond(
        self, request: Request, call: Callable[[PreparedRequest], tuple[int, Any, dict[str, str]]]
    ) -> Response:
        try:
            form = await read_form(request)
        except BadRequest as exc:
            return oauth_json(
                400, {"error": "invalid_request", "error_description": exc.description}
            )
        prepared = PreparedRequest(
            request.method, str(request.url), dict(request.headers.items()), form
        )
        try:
            status, body, headers = await anyio.to_thread.run_sync(call, prepared)
        except UNAVAILABLE:
            return oauth_json(
                503,
                {
                    "error": "temporarily_unavailable",
                    "error_description": "please try again shortly",
                },
            )
        except OAuth2Error as exc:  # raised outside Authlib's own handling
            status, body, headers = self.handle_error_response(prepared, exc)
        if isinstance(body, dict) and body.get("error") == "invalid_client":
            status = 401
            if "authorization" in {k.lower() for k in request.headers}:
                headers["WWW-Authenticate"] = 'Basic realm="idp"'
        return oauth_json(status, body, headers)

    async def token_endpoint(self, request: Request) -> Response:
        return await self.respond(request, self.create_token_response)

    async def introspection_endpoint(self, request: Request) -> Response:
        return await self.respond(
            request, lambda r: self.create_endpoint_response("introspection", r)
        )

    async def revocation_endpoint(self, request: Request) -> Response:
        return await self.respond(request, lambda r: self.create_endpoint_response("revocation", r))


def oauth_json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response for the back channel, never cached (RFC 6749 §5.1)."""
    merged = {k: v for k, v in (headers or {}).items() if k.lower() not in ("content-type",)}
    merged.update(NO_STORE)
    if isinstance(body, (str, bytes)):
        body = json.loads(body)
    return JSONResponse(body, status_code=status, headers=merged)


__all__ = [
    "CONFIDENTIAL_METHODS",
    "BadRequest",
    "OAuthBridge",
    "PreparedRequest",
    "TokenUser",
    "oauth_json",
    "read_form",
]
