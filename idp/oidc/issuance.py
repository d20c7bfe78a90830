"""What a successful token request returns (RFC 6749 §5.1, OIDC Core §3.1.3.3).

Every grant ends here, through Authlib's `generate_token`: a JWT access token, an ID token when
`openid` was granted (with the claims the granted scopes release to this client), and a
refresh token when the grant asks for one and the client may refresh. Tokens are signed by
`TokenService` (idp.keys), never here. The refresh token was stored by the grant before (in its
one database transaction, off the event loop) and comes in with the `TokenUser`; the generator
itself does no database work. With a DPoP proof at the token endpoint (idp.oidc.dpop), the
access token is bound to its key: `cnf.jkt` and `token_type: DPoP` (RFC 9449 §5, §6.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idp.oidc import claims as claims_mod
from idp.oidc.clients import Client
from idp.oidc.dpop import current_proof
from idp.oidc.tokens import AuthContext, Issued, TokenService


@dataclass(frozen=True)
class TokenUser:
    """Who tokens are issued for, carried through Authlib to the token generator."""

    sub: str
    grant_id: str
    auth: AuthContext
    nonce: str | None = None
    sid: str | None = None
    #: The refresh token the grant stored for this response, if the client may refresh.
    refresh_token: str | None = None

    @classmethod
    def of(cls, issued: Issued | None, nonce: str | None = None) -> TokenUser | None:
        """The person of a grant read (and its refresh token stored) in the grant's one
        database call; None when there was no active grant."""
        if issued is None:
            return None
        grant = issued.grant
        return cls(
            sub=grant.sub,
            grant_id=grant.id,
            auth=grant.auth,
            nonce=nonce,
            sid=grant.sid,
            refresh_token=issued.refresh_token,
        )


class TokenGenerator:
    """Authlib's token generator ("default" for every grant type): the token response."""

    def __init__(self, tokens: TokenService) -> None:
        self.tokens = tokens

    def __call__(
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
        proof = current_proof()
        jkt = None if proof is None else proof.jkt
        token_type = "Bearer" if jkt is None else "DPoP"
        if user is None:  # client credentials: the client acts for itself
            token, ttl = self.tokens.access_token(
                client=settings,
                sub=settings.client_id,
                scope=scope,
                grant_id=None,
                auth=None,
                jkt=jkt,
            )
            return {
                "token_type": token_type,
                "access_token": token,
                "expires_in": ttl,
                "scope": scope,
            }
        acr = self.tokens.token_acr(settings, user.auth)  # once, for both tokens
        token, ttl = self.tokens.access_token(
            client=settings,
            sub=user.sub,
            scope=scope,
            grant_id=user.grant_id,
            auth=user.auth,
            acr=acr,
            jkt=jkt,
        )
        out: dict[str, Any] = {
            "token_type": token_type,
            "access_token": token,
            "expires_in": ttl,
            "scope": scope,
        }
        if user.auth.authorization_details:  # RFC 9396 §7: "MUST" return what was granted
            out["authorization_details"] = list(user.auth.authorization_details)
        scopes = scope.split()
        if "openid" in scopes:
            extra = claims_mod.requested_names(user.auth.claims_request, "id_token")
            released = claims_mod.release(
                user.auth.claims, scopes, client.registered, settings, extra
            )
            # An approval's evidence (only an approval's grant has any), whatever the scopes.
            released |= claims_mod.evidence_of(user.auth.claims)
            out["id_token"] = self.tokens.id_token(
                client=settings,
                sub=user.sub,
                auth=user.auth,
                claims=released,
                nonce=user.nonce,
                sid=user.sid,
                access_token=token,
                acr=acr,
            )
        if include_refresh_token and client.check_grant_type("refresh_token"):
            if user.refresh_token is None:
                # A grant that stores none beforehand (one that runs in a worker thread).
                out["refresh_token"] = self.tokens.issue_refresh_token(
                    user.grant_id, settings.client_id, scope
                )
            else:
                out["refresh_token"] = user.refresh_token
        return out


__all__ = ["TokenGenerator", "TokenUser"]
