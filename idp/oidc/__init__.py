"""The authorization server: discovery, endpoints, tokens, sessions (OpenID Connect, OAuth 2).

What other packages may use: the provider the app mounts, and what the CIBA grant shares with
it (the Authlib bridge, tokens, subjects, claims release). The modules `claims` and
`discovery` are public as a whole.
"""

from idp.oidc.provider import AuthenticatorFactory, OpenIDProvider
from idp.oidc.server import (
    CONFIDENTIAL_METHODS,
    BadRequest,
    OAuthBridge,
    PreparedRequest,
    TokenUser,
    oauth_json,
    read_form,
)
from idp.oidc.subject import subject_for
from idp.oidc.threads import call_async
from idp.oidc.tokens import AuthContext, new_id

__all__ = [
    "CONFIDENTIAL_METHODS",
    "AuthContext",
    "AuthenticatorFactory",
    "BadRequest",
    "OAuthBridge",
    "OpenIDProvider",
    "PreparedRequest",
    "TokenUser",
    "call_async",
    "claims",
    "discovery",
    "new_id",
    "oauth_json",
    "read_form",
    "subject_for",
]
