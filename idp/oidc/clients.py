"""The client model Authlib works with: a configured client entry (`ClientSettings`) and the
registrations it was found in (scopes a reload may change).

Authlib asks a client what it may do (redirect URIs, grant types, scopes, its one
authentication method); the answers come from the entry as configured, nothing else.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import ClientMixin

from idp.config import ClientSettings, Registrations, Registry
from idp.oidc import claims as claims_mod


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
        # RFC 7591 §2: one token_endpoint_auth_method per client, used at every endpoint
        # that authenticates clients (token, introspection, revocation, CIBA, PAR).
        return method == self.settings.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.settings.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.settings.grant_types


def find_client(registry: Registry, client_id: object) -> Client | None:
    """The client in service now with this id (a reload may have added or removed it)."""
    if not isinstance(client_id, str):
        return None
    registered = registry.current
    found = registered.client(client_id)
    return None if found is None else Client(found, registered)


__all__ = ["Client", "find_client"]
