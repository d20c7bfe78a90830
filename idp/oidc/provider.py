"""The OpenID provider's routes and discovery metadata, built from explicit dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.routing import BaseRoute, Route

from idp.authn import BrowserAuthenticator, LoginHandoff
from idp.clock import Clock
from idp.config import Registry, Settings
from idp.keys import SigningKeys
from idp.oidc import messages  # noqa: F401  (registers the texts)
from idp.oidc.authorize import AuthorizationEndpoint
from idp.oidc.discovery import Discovery
from idp.oidc.logout import Logout
from idp.oidc.server import AUTH_METHODS, CONFIDENTIAL_METHODS, OAuthBridge
from idp.oidc.sessions import LoginTransactions, Sessions
from idp.oidc.tokens import TokenService
from idp.oidc.userinfo import UserInfo
from idp.store.ttl import TTLStore
from idp.web.cookies import Cookies
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
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.tokens = TokenService(settings, keys, db, clock, grant_secret)
        self.sessions = Sessions(store, clock, settings.session, cookies)
        self.authorization = AuthorizationEndpoint(
            settings=settings,
            registry=registry,
            store=store,
            clock=clock,
            keys=keys,
            tokens=self.tokens,
            sessions=self.sessions,
            transactions=LoginTransactions(store, settings.tokens.login_transaction_ttl_seconds),
            cookies=cookies,
            templates=templates,
            subject_secret=subject_secret,
        )
        self.bridge = OAuthBridge(settings, registry, self.tokens, store, clock)
        self.userinfo = UserInfo(settings, registry, self.tokens, store)
        self.logout = Logout(
            settings, registry, keys, self.sessions, self.tokens, cookies, templates
        )
        self.authenticator: BrowserAuthenticator | None = None

    def attach(self, factory: AuthenticatorFactory) -> BrowserAuthenticator:
        """Give the authenticator its hand-off (the authorization endpoint) and keep it."""
        self.authenticator = factory(self.authorization)
        self.authorization.authenticator = self.authenticator
        return self.authenticator

    def routes(self) -> list[BaseRoute]:
        a = self.authorization
        routes: list[BaseRoute] = [
            Route("/authorize", a.authorize, methods=["GET", "POST"]),
            Route("/authorize/resume", a.resume, methods=["GET"]),
            Route("/token", self.bridge.token_endpoint, methods=["POST"]),
            Route("/userinfo", self.userinfo.endpoint, methods=["GET", "POST"]),
            Route("/introspect", self.bridge.introspection_endpoint, methods=["POST"]),
            Route("/revoke", self.bridge.revocation_endpoint, methods=["POST"]),
            Route("/logout", self.logout.endpoint, methods=["GET", "POST"]),
            Route("/logout/confirm", self.logout.confirm, methods=["POST"]),
        ]
        if self.authenticator is not None:
            routes += self.authenticator.routes()
        return routes

    def metadata(self, discovery: Discovery) -> dict[str, Any]:
        grants = ["authorization_code", "refresh_token"]
        if any("client_credentials" in c.grant_types for c in self.registry.current.clients):
            grants.append("client_credentials")
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
            "grant_types_supported": grants,
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "PS256"],
            "introspection_endpoint_auth_methods_supported": CONFIDENTIAL_METHODS,
            "revocation_endpoint_auth_methods_supported": CONFIDENTIAL_METHODS,
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "claims_parameter_supported": True,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "claim_types_supported": ["normal"],
            "acr_values_supported": list(self.authenticator.acr_values)
            if self.authenticator
            else [],
            "userinfo_signing_alg_values_supported": [],
        }


__all__ = ["AuthenticatorFactory", "OpenIDProvider"]
