"""Authlib inside Starlette: the one bridge between the async app and Authlib's sync core.

Authlib has no Starlette server integration (authlib/authlib#63, #340). The bridge reads the
request body with `await` (idp.oidc.http) and hands Authlib a pre-read request. At the token
endpoint Authlib's grant code runs on the event loop, in steps (idp.oidc.grants.loop): client
authentication, the grant's awaited loads (TTL store; its one database call in a worker
thread), Authlib's checks, the grant's database writes, the token response. Introspection and
revocation run on the event loop too (idp.oidc.introspection, idp.oidc.revocation): Authlib's
client authentication, then one worker-thread call for the database. A grant that is not a
`LoopGrant` runs in a worker thread, and its hooks that need the async TTL store call back
into the event loop with `call_async` (idp.oidc.threads). Protocol logic stays in Authlib's
grant classes (idp.oidc.grants); persistence is in small query/authenticate hooks, as Authlib
intends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Error, OAuth2Request, UnsupportedGrantTypeError
from starlette.requests import Request
from starlette.responses import Response

from idp.clock import Clock
from idp.config import Registry, Settings
from idp.oidc.client_auth import (
    ClientAuthenticator,
    KeySource,
    PrivateKeyJWT,
    basic_auth,
    registered_jwks,
    with_client_challenge,
)
from idp.oidc.clients import Client, find_client
from idp.oidc.dpop import NONCE_HEADER, DPoPError, DPoPVerifier, Proof, serving
from idp.oidc.grants import OAUTH_GRANTS, GrantRegistry
from idp.oidc.grants.loop import LoopGrant
from idp.oidc.http import BadRequest, PreparedRequest, oauth_json, read_form
from idp.oidc.introspection import introspect
from idp.oidc.issuance import TokenGenerator
from idp.oidc.revocation import revoke
from idp.oidc.tokens import TokenService
from idp.store.db import DRIVER_UNAVAILABLE, DatabaseUnavailable
from idp.store.ttl import StoreUnavailable, TTLStore

#: What makes a back-channel request answer 503 temporarily_unavailable.
UNAVAILABLE: tuple[type[Exception], ...] = (
    StoreUnavailable,
    DatabaseUnavailable,
    *DRIVER_UNAVAILABLE,
)

AuthlibResult = tuple[int, Any, dict[str, str]]
AuthlibCall = Callable[[PreparedRequest], AuthlibResult]
AsyncAuthlibCall = Callable[[PreparedRequest], Awaitable[AuthlibResult]]


class OAuthBridge(AuthorizationServer):
    """Authlib's AuthorizationServer, adapted: pre-read requests in, (status, body, headers) out.

    It serves the grants of `grants` (each bound to this bridge as `self.bridge`), and
    authenticates clients for other endpoints through `client_auth`. A client's public keys
    for private_key_jwt come from `client_keys` (by default the `jwks` of its entry).
    """

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        tokens: TokenService,
        store: TTLStore,
        clock: Clock,
        *,
        grants: GrantRegistry = OAUTH_GRANTS,
        client_keys: KeySource = registered_jwks,
        dpop: DPoPVerifier | None = None,
    ):
        self.settings = settings
        self.registry = registry  # clients and scopes: a reload may replace them
        super().__init__()
        self.tokens = tokens
        self.store = store
        self.clock = clock
        self.grants = grants
        #: DPoP proofs at the token endpoint (RFC 9449 §5); None: the DPoP header is ignored.
        self.dpop = dpop
        assertions = PrivateKeyJWT(settings.issuer, clock, store, client_keys)
        self.client_auth = ClientAuthenticator(self, assertions)
        self.register_token_generator("default", TokenGenerator(tokens))
        self.register_client_auth_method("client_secret_basic", basic_auth)
        self.register_client_auth_method("private_key_jwt", assertions)
        self._grant_classes: dict[str, type] = {}
        for descriptor in grants:
            bound = self._bound(descriptor.grant)
            self.register_grant(bound, descriptor.extensions() or None)
            self._grant_classes[descriptor.grant_type] = bound

    def _bound(self, cls: type) -> type:
        return type(cls.__name__, (cls,), {"bridge": self})

    def bind(self, grant_type: str, **collaborators: Any) -> None:
        """Give a registered grant what it needs beyond the bridge, once at wiring time (the
        CIBA grant its service)."""
        try:
            cls = self._grant_classes[grant_type]
        except KeyError:
            raise LookupError(f"grant type {grant_type!r} is not registered") from None
        for name, value in collaborators.items():
            setattr(cls, name, value)

    # -- Authlib hooks

    @property
    def scopes_supported(self) -> list[str]:
        return list(self.registry.current.scopes)

    @scopes_supported.setter
    def scopes_supported(self, value: Any) -> None:
        """Authlib's constructor sets it; ours always follows the settings in service."""

    def query_client(self, client_id: str) -> Client | None:
        return find_client(self.registry, client_id)

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

    # -- the async face

    async def respond(self, request: Request, call: AsyncAuthlibCall) -> Response:
        try:
            form = await read_form(request)
        except BadRequest as exc:
            return oauth_json(
                400, {"error": "invalid_request", "error_description": exc.description}
            )
        prepared = PreparedRequest.of(request, form)
        try:
            status, body, headers = await call(prepared)
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
        return oauth_json(*with_client_challenge(status, body, headers, request.headers))

    async def _in_thread(self, call: AuthlibCall, prepared: PreparedRequest) -> AuthlibResult:
        return await anyio.to_thread.run_sync(call, prepared)

    async def create_token_response_async(
        self, prepared: PreparedRequest, request: Request | None = None
    ) -> AuthlibResult:
        """Authlib's `create_token_response`, in the steps of idp.oidc.grants.loop, on the
        event loop; a grant that is not a `LoopGrant` runs in a worker thread as a whole.
        With `request` (its headers), a DPoP proof is checked once the client is known."""
        try:
            grant = self.get_token_grant(prepared)
        except UnsupportedGrantTypeError as error:
            return self.handle_error_response(prepared, error)
        if not isinstance(grant, LoopGrant):
            return await self._in_thread(self.create_token_response, prepared)
        steps: Any = grant  # a LoopGrant and an Authlib token-endpoint grant
        proof: Proof | None = None
        try:
            steps.authenticated_client = await self.client_auth.authenticate_client(
                prepared, steps.TOKEN_ENDPOINT_AUTH_METHODS
            )
            proof = await self._token_proof(request, steps.authenticated_client)
            with serving(proof):
                await steps.load()
                steps.validate_token_request()
                await steps.prepare()
                status, body, headers = self.handle_response(*steps.create_token_response())
        except DPoPError as error:
            return self._dpop_error(error)
        except OAuth2Error as error:
            return self._with_nonce(self.handle_error_response(prepared, error), proof)
        return self._with_nonce((status, body, headers), proof)

    async def _token_proof(self, request: Request | None, client: Client) -> Proof | None:
        """RFC 9449 §5: the proof of a token request, checked as §4.3 says; DPoPError."""
        if self.dpop is None or request is None:
            return None
        settings = client.settings
        proof = await self.dpop.verify(
            request.headers, "POST", "/token", require_nonce=settings.dpop_nonce_required
        )
        if proof is None and settings.dpop_bound_access_tokens:
            # §5.2: "the authorization server MUST reject token requests from this client that
            # do not contain the DPoP header".
            raise DPoPError("this client must send a DPoP proof")
        if proof is not None and not proof.allowed_for(settings):
            raise DPoPError("this client's DPoP proofs must be signed with PS256 or ES256")
        return proof

    def _dpop_error(self, error: DPoPError) -> AuthlibResult:
        """§5 and §8: 400 with invalid_dpop_proof or use_dpop_nonce, and the nonce to use."""
        assert self.dpop is not None
        body = {"error": error.error, "error_description": error.description}
        return 400, body, {NONCE_HEADER: self.dpop.nonce()}

    def _with_nonce(self, result: AuthlibResult, proof: Proof | None) -> AuthlibResult:
        """§8.2: a DPoP response carries the nonce for the next proof."""
        if proof is None or self.dpop is None:
            return result
        status, body, headers = result
        return status, body, {**headers, NONCE_HEADER: self.dpop.nonce()}

    async def token_endpoint(self, request: Request) -> Response:
        return await self.respond(
            request, lambda prepared: self.create_token_response_async(prepared, request)
        )

    async def introspection_endpoint(self, request: Request) -> Response:
        return await self.respond(request, lambda prepared: introspect(self, prepared))

    async def revocation_endpoint(self, request: Request) -> Response:
        return await self.respond(request, lambda prepared: revoke(self, prepared))


__all__ = ["UNAVAILABLE", "AuthlibResult", "OAuthBridge"]
