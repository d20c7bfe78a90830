"""The client credentials grant (RFC 6749 §4.4): a confidential client acting for itself.

§4.4.2: "The client credentials grant type MUST only be used by confidential clients", so
`none` is not among its methods (and the configuration refuses it for a public client). No
refresh token (§4.4.3: "A refresh token SHOULD NOT be included") and no ID token: there is no
user; the access token's subject is the client. No store and no database either: the whole
grant runs on the event loop (a `LoopGrant` with nothing to load or prepare).
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants

from idp.oidc.client_auth import CONFIDENTIAL_METHODS
from idp.oidc.grants.loop import LoopGrant


class ClientCredentials(LoopGrant, grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS


__all__ = ["ClientCredentials"]
