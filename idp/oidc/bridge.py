"""Authlib inside Starlette: the one bridge between the async app and Authlib's sync core.

Authlib has no Starlette server integration (authlib/authlib#63, #340). The bridge reads the
request body with `await` (idp.oidc.http), hands Authlib a pre-read request, and runs Authlib's
grant code in a worker thread; the few hooks that need the async TTL store call back into the
event loop with `call_async` (idp.oidc.threads). Protocol logic stays in Authlib's grant
classes (idp.oidc.grants) and endpoints (introspection, revocation); persistence is in small
query/authenticate hooks, as Authlib intends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.to_thread
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Error, OAuth2Request
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
from idp.oidc.grants import OAUTH_GRANTS, GrantRegistry
from idp.oidc.http import BadRequest, PreparedRequest, oauth_json, read_form
from idp.oidc.introspection import Introspection
from idp.oidc.issuance import TokenGenerator
from idp.oidc.revocation import Revocation
from idp.oidc.tokens import TokenService
from idp.store.db import DRIVER_UNAVAILABLE, DatabaseUnavailable
from idp.store.ttl import StoreUnavailable, TTLStore

#: What makes a back-channel request answer 503 temporarily_unavailable.
UNAVAILABLE: tuple[type[Exception], ...] = (
    StoreUnavailable,
    DatabaseUnavailable,
    *DRIVER_UNAVAILABLE,
)

AuthlibCall = Callable[[PreparedRequest], tuple[int, Any, dict[str, str]]]


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
    ):
        self.settings = settings
        self.registry = registry  # clients and scopes: a reload may replace them
        super().__init__()
        self.tokens = tokens
        self.store = store
        self.clock = clock
        self.grants = grants
        self.client_auth = ClientAuthenticator(self)
        self.register_token_generator("default", TokenGenerator(tokens))
        self.register_client_auth_method("client_secret_basic", basic_auth)
        self.register_client_auth_method(
            "private_key_jwt", PrivateKeyJWT(settings.issuer, clock, store, client_keys)
        )
        self._grant_classes: dict[str, type] = {}
        for descriptor in grants:
            bound = self._bound(descriptor.grant)
            self.register_grant(bound, descriptor.extensions() or None)
            self._grant_classes[descriptor.grant_type] = bound
        for endpoint_cls in (Introspection, Revocation):
            self.register_endpoint(self._bound(endpoint_cls)(self))

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

    async def respond(self, request: Request, call: AuthlibCall) -> Response:
        try:
            form = await read_form(request)
        except BadRequest as exc:
            return oauth_json(
                400, {"error": "invalid_request", "error_description": exc.description}
            )
        prepared = PreparedRequest.of(request, form)
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
        return oauth_json(*with_client_challenge(status, body, headers, request.headers))

    async def token_endpoint(self, request: Request) -> Response:
        return await self.respond(request, self.create_token_response)

    async def introspection_endpoint(self, request: Request) -> Response:
        return await self.respond(
            request, lambda r: self.create_endpoint_response("introspection", r)
        )

    async def revocation_endpoint(self, request: Request) -> Response:
        return await self.respond(request, lambda r: self.create_endpoint_response("revocation", r))


__all__ = ["UNAVAILABLE", "OAuthBridge"]
