"""The authorization server: discovery, endpoints, tokens, sessions (OpenID Connect, OAuth 2).

What other packages may use: the provider the app mounts, and what the CIBA grant shares with
it (the Authlib bridge, client authentication, tokens, subjects, claims release). The modules
`claims`, `discovery` and `grants` (the grant registry) are public as a whole.
"""

from idp.oidc.backchannel import BackchannelLogout
from idp.oidc.bridge import OAuthBridge
from idp.oidc.client_auth import (
    AUTH_METHODS,
    CONFIDENTIAL_METHODS,
    ClientAuthenticationFailed,
    ClientAuthenticator,
    KeySource,
)
from idp.oidc.client_keys import Resolver
from idp.oidc.evidence import EvidenceStore
from idp.oidc.http import MAX_PAR_BODY, BadRequest, PreparedRequest, oauth_json, read_form
from idp.oidc.issuance import TokenUser
from idp.oidc.provider import AuthenticatorFactory, OpenIDProvider
from idp.oidc.subject import subject_for
from idp.oidc.threads import call_async
from idp.oidc.tokens import AuthContext, new_id

__all__ = [
    "AUTH_METHODS",
    "CONFIDENTIAL_METHODS",
    "MAX_PAR_BODY",
    "AuthContext",
    "AuthenticatorFactory",
    "BackchannelLogout",
    "BadRequest",
    "ClientAuthenticationFailed",
    "ClientAuthenticator",
    "EvidenceStore",
    "KeySource",
    "OAuthBridge",
    "OpenIDProvider",
    "PreparedRequest",
    "Resolver",
    "TokenUser",
    "call_async",
    "claims",
    "discovery",
    "grants",
    "new_id",
    "oauth_json",
    "read_form",
    "subject_for",
]
