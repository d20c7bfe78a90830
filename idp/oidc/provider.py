"""The OpenID provider's routes and discovery metadata, built from explicit dependencies."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from idp.authn import BrowserAuthenticator, LoginHandoff
from idp.authn.approval import metadata as approval_metadata
from idp.clock import Clock
from idp.config import ClientSettings, Registry, Settings
from idp.keys import SigningKeys
from idp.oidc import claims as claims_mod
from idp.oidc import messages  # noqa: F401  (registers the texts)
from idp.oidc.acr import AcrPolicy
from idp.oidc.authorize import AuthorizationEndpoint
from idp.oidc.bridge import OAuthBridge
from idp.oidc.client_auth import (
    ASSERTION_SIGNING_ALGS,
    AUTH_METHODS,
    CONFIDENTIAL_METHODS,
    KeySource,
)
from idp.oidc.client_keys import ClientKeys, ClientKeysError, Resolver, system_resolver
from idp.oidc.discovery import Discovery
from idp.oidc.dpop import DPoPVerifier
from idp.oidc.evidence import PATH as EVIDENCE_PATH
from idp.oidc.evidence import EvidenceStore, retrieve
from idp.oidc.grants import OAUTH_GRANTS, GrantRegistry
from idp.oidc.http import MAX_BODY, MAX_PAR_BODY, BadRequest, read_form
from idp.oidc.logout import Logout
from idp.oidc.par import PushedAuthorizationEndpoint, PushedRequests
from idp.oidc.request_object import RequestObjects
from idp.oidc.sessions import LoginTransactions, Sessions
from idp.oidc.threads import call_async
from idp.oidc.tokens import TokenService
from idp.oidc.user_message import metadata as user_message_metadata
from idp.oidc.userinfo import UserInfo
from idp.store.sealed import Seal
from idp.store.ttl import StoreUnavailable, TTLStore
from idp.web.cookies import Cookies
from idp.web.ratelimit import PAR, TOKEN, RateLimiter, too_many_json
from idp.web.templating import Templates

AuthenticatorFactory = Callable[[LoginHandoff], BrowserAuthenticator]


class OpenIDProvider:
    def __init__(
        self,
        *,
        settings: Settings,
        registry: Registry,
        clock: Clock,
        store: TTLStore,
        db: sessionmaker[Session],
        keys: SigningKeys,
        templates: Templates,
        cookies: Cookies,
        subject_secret: bytes,
        grant_secret: bytes,
        grants: GrantRegistry = OAUTH_GRANTS,
        client_keys: KeySource | None = None,
        jwks_transport: httpx.AsyncBaseTransport | None = None,
        jwks_resolver: Resolver | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        # A client's public keys (inline jwks, or its jwks_uri fetched and cached) serve both
        # private_key_jwt and request objects.
        self.client_keys = ClientKeys.from_settings(
            settings, clock, transport=jwks_transport, resolver=jwks_resolver or system_resolver
        )
        self.request_objects = RequestObjects.from_settings(
            settings, client_keys=self.client_keys, keys=keys, store=store, clock=clock
        )
        self.tokens = TokenService(
            settings, keys, db, clock, grant_secret, subject_secret=subject_secret
        )
        # Each approval's evidence, kept for the retention period (POST /evidence).
        self.evidence = EvidenceStore.from_settings(settings, db, clock, grant_secret)
        # Sessions and login transactions hold personal data: sealed in the store, under keys
        # of their own derived from the grants' secret (idp.store.sealed).
        self.sessions = Sessions(
            store,
            clock,
            settings.session,
            cookies,
            seal=Seal.from_secret(grant_secret, "sso-session"),
        )
        self.authorization = AuthorizationEndpoint(
            settings=settings,
            registry=registry,
            store=store,
            clock=clock,
            keys=keys,
            tokens=self.tokens,
            sessions=self.sessions,
            transactions=LoginTransactions(
                store,
                settings.tokens.login_transaction_ttl_seconds,
                seal=Seal.from_secret(grant_secret, "login-transaction"),
            ),
            cookies=cookies,
            templates=templates,
            subject_secret=subject_secret,
        )
        self.authorization.services.request_objects = self.request_objects
        self.authorization.evidence = self.evidence
        self.pushed = PushedRequests(store, clock, settings)
        # DPoP proofs (RFC 9449) at the token, PAR and resource endpoints; server nonces keyed
        # from the grants' secret, so every instance issues and accepts the same ones.
        self.dpop = DPoPVerifier(settings.issuer, store, clock, grant_secret)
        self.authorization.services.pushed = self.pushed
        self.bridge = OAuthBridge(
            settings,
            registry,
            self.tokens,
            store,
            clock,
            grants=grants,
            client_keys=client_keys or self._client_key_set,
            dpop=self.dpop,
        )
        self.par = PushedAuthorizationEndpoint(
            pushed=self.pushed,
            services=self.authorization.services,
            authenticate=lambda request, form: self.bridge.client_auth.authenticate(
                request, form, endpoint="par"
            ),
            dpop=self.dpop,
        )
        self.userinfo = UserInfo(settings, registry, self.tokens, store, dpop=self.dpop)
        self.logout = Logout(
            settings,
            registry,
            keys,
            self.sessions,
            self.tokens,
            cookies,
            templates,
            subject_secret=subject_secret,
        )
        self.authenticator: BrowserAuthenticator | None = None
        #: Rate limits (idp.app sets them with `limit`); None: no limits.
        self.limiter: RateLimiter | None = None

    def limit(self, limiter: RateLimiter) -> None:
        """Rate limits for /authorize (per address), /token and /par (per client)."""
        self.limiter = self.authorization.limiter = limiter

    async def token_endpoint(self, request: Request) -> Response:
        return await self._client_limited(request, TOKEN, MAX_BODY, self.bridge.token_endpoint)

    async def par_endpoint(self, request: Request) -> Response:
        return await self._client_limited(request, PAR, MAX_PAR_BODY, self.par.push)

    async def _client_limited(
        self,
        request: Request,
        name: str,
        max_body: int,
        endpoint: Callable[[Request], Awaitable[Response]],
    ) -> Response:
        """Per client, and refusing an address or client_id whose client authentication
        failed too often; the form is read once (the endpoint reads the same cached body)."""
        limiter = self.limiter
        if limiter is None:
            return await endpoint(request)
        try:
            form = await read_form(request, max_body=max_body)
            limited = await limiter.client(name, request, form)
        except BadRequest:
            return await endpoint(request)  # it answers the malformed request itself
        except StoreUnavailable:
            limited = None  # the endpoint meets the store again and answers 503
        if limited is not None:
            return too_many_json(limited)
        response = await endpoint(request)
        if response.status_code in (400, 401) and _error_of(response) == "invalid_client":
            with contextlib.suppress(StoreUnavailable):
                await limiter.client_auth_failed(request, form)
        return response

    def _client_key_set(self, client: ClientSettings, kid: str | None) -> dict[str, Any]:
        """private_key_jwt's key source (called in Authlib's worker thread): a jwks_uri that
        lacks the assertion's kid is refetched (the client rotated)."""
        try:
            # Inline jwks, or a fresh cached jwks_uri holding the kid: no hop to the event loop.
            cached = self.client_keys.cached_key_set(client)
            if cached is not None and (kid is None or any(k.get("kid") == kid for k in cached)):
                return {"keys": cached}
            return {"keys": call_async(self._key_set, client, kid)}
        except ClientKeysError:
            return {"keys": []}  # no usable key: the assertion fails as invalid_client

    async def _key_set(self, client: ClientSettings, kid: str | None) -> list[dict[str, Any]]:
        return await self.client_keys.key_set(client, kid=kid)

    async def evidence_endpoint(self, request: Request) -> Response:
        """POST /evidence: an approval's evidence, for the client that asked for it."""
        return await self.bridge.respond(
            request, lambda prepared: retrieve(self.bridge, self.evidence, prepared)
        )

    def attach(self, factory: AuthenticatorFactory) -> BrowserAuthenticator:
        """Give the authenticator its hand-off (the authorization endpoint) and keep it."""
        self.authenticator = factory(self.authorization)
        self.authorization.authenticator = self.authenticator
        # One acr policy for the checks, the tokens and discovery, knowing the authenticator.
        policy = AcrPolicy.from_settings(self.settings, self.authenticator.acr_values)
        self.authorization.services.acr = self.tokens.acr = policy
        return self.authenticator

    def routes(self) -> list[BaseRoute]:
        a = self.authorization
        routes: list[BaseRoute] = [
            Route("/authorize", a.authorize, methods=["GET", "POST"]),
            Route("/authorize/resume", a.resume, methods=["GET"]),
            Route("/token", self.token_endpoint, methods=["POST"]),
            Route("/par", self.par_endpoint, methods=["POST"]),
            Route("/userinfo", self.userinfo.endpoint, methods=["GET", "POST"]),
            Route("/introspect", self.bridge.introspection_endpoint, methods=["POST"]),
            Route("/revoke", self.bridge.revocation_endpoint, methods=["POST"]),
            Route(EVIDENCE_PATH, self.evidence_endpoint, methods=["POST"]),
            Route("/logout", self.logout.endpoint, methods=["GET", "POST"]),
            Route("/logout/confirm", self.logout.confirm, methods=["POST"]),
        ]
        if self.authenticator is not None:
            routes += self.authenticator.routes()
        return routes

    def metadata(self, discovery: Discovery) -> dict[str, Any]:
        url = discovery.url
        return {
            "authorization_endpoint": url("/authorize"),
            "token_endpoint": url("/token"),
            "userinfo_endpoint": url("/userinfo"),
            "introspection_endpoint": url("/introspect"),
            "revocation_endpoint": url("/revoke"),
            "end_session_endpoint": url("/logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": self.bridge.grants.enabled(self.registry.current),
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_SIGNING_ALGS),
            "introspection_endpoint_auth_methods_supported": CONFIDENTIAL_METHODS,
            "revocation_endpoint_auth_methods_supported": CONFIDENTIAL_METHODS,
            "code_challenge_methods_supported": ["S256"],
            # RFC 9449 §5.1: the algorithms accepted for DPoP proofs.
            "dpop_signing_alg_values_supported": list(self.dpop.algorithms),
            "authorization_response_iss_parameter_supported": True,
            "claims_parameter_supported": True,
            **self._request_metadata(url),
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "claim_types_supported": ["normal"],
            "acr_values_supported": self.tokens.acr.supported(),
            "userinfo_signing_alg_values_supported": list(self.settings.keys.algorithms),
            # RFC 9701 §7: signed introspection answers, with the algorithms we sign with.
            "introspection_signing_alg_values_supported": list(self.settings.keys.algorithms),
            "claims_supported": claims_mod.supported_claims(self.registry.current),
            **user_message_metadata(),
            **approval_metadata(),
        }

    def _request_metadata(self, url: Callable[[str], str]) -> dict[str, Any]:
        """Authenticated authorization requests: PAR (RFC 9126 §5) and request objects
        (RFC 9101 §10.1); request_uri by reference is not fetched, only PAR's are accepted."""
        return {
            "pushed_authorization_request_endpoint": url("/par"),
            "require_pushed_authorization_requests": self.settings.par.required,
            "request_parameter_supported": True,
            "request_uri_parameter_supported": False,
            "require_signed_request_object": False,
            **self.request_objects.metadata(),
        }


def _error_of(response: Response) -> object:
    try:
        body = json.loads(bytes(response.body))
    except (ValueError, TypeError):
        return None
    return body.get("error") if isinstance(body, dict) else None


__all__ = ["AuthenticatorFactory", "OpenIDProvider"]
