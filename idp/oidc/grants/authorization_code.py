"""The authorization code grant at the token endpoint (RFC 6749 §4.1.3), with PKCE S256.

The code was stored in the TTL store by the authorization endpoint; here it is consumed
atomically (single use across instances), checked against its client, lifetime and PKCE
verifier, and exchanged for tokens of the grant it belongs to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, grants
from authlib.oauth2.rfc7636 import CodeChallenge

from idp.oidc.client_auth import AUTH_METHODS
from idp.oidc.clients import Client
from idp.oidc.issuance import TokenUser
from idp.oidc.threads import call_async

if TYPE_CHECKING:
    from idp.oidc.bridge import OAuthBridge

log = logging.getLogger("idp.oidc")


@dataclass(frozen=True)
class CodeRecord:
    """An authorization code as stored by the authorization endpoint."""

    value: dict[str, Any]

    def get_redirect_uri(self) -> str:
        return self.value["redirect_uri"]

    def get_scope(self) -> str:
        return self.value["scope"]


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


def pkce() -> list[Any]:
    """The grant's Authlib extensions, fresh for each bridge: PKCE, S256 only."""
    return [S256Only(required=True)]


__all__ = ["CodeGrant", "CodeRecord", "S256Only", "pkce"]
