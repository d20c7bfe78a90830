"""Grants and the tokens that hang from them: ID tokens, JWT access tokens, refresh tokens.

Every signature goes through idp.keys. Grants and refresh tokens are durable (SQL); revoking a
grant (code replay, refresh-token reuse, logout, revocation) makes every token of it inactive
at introspection and userinfo. The methods here are synchronous: callers run them in a worker
thread (the Authlib bridge does so anyway).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.fernet import InvalidToken
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from idp.clock import Clock
from idp.config import ClientSettings, Settings
from idp.keys import SigningKeys
from idp.oidc import claims as claims_mod
from idp.oidc.acr import AcrPolicy, requested_acr
from idp.store.models import Grant, RefreshToken
from idp.store.secrets import sealer

log = logging.getLogger(__name__)

ACCESS_TOKEN_TYP = "at+jwt"  # RFC 9068 §2.1


def new_id(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def left_half_hash(value: str, alg: str) -> str:
    """at_hash (OIDC Core §3.1.3.6): left half of the hash the ID token's alg uses."""
    digest = hashlib.sha256(value.encode("ascii")).digest()  # RS256 and ES256 both use SHA-256
    del alg
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


@dataclass(frozen=True)
class AuthContext:
    """How and when the person authenticated, and the claims released to this client.

    `acr` is the authenticator's own value; `acr_values` what the authorization request asked
    for (with `claims_request`'s acr they decide the tokens' `acr`, idp.oidc.acr)."""

    acr: str
    amr: tuple[str, ...]
    auth_time: int
    claims: dict[str, Any]
    claims_request: dict[str, Any]
    acr_values: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {
                "acr": self.acr,
                "amr": list(self.amr),
                "auth_time": self.auth_time,
                "claims": self.claims,
                "claims_request": self.claims_request,
                "acr_values": list(self.acr_values),
            }
        )

    @classmethod
    def from_json(cls, raw: str) -> AuthContext:
        d = json.loads(raw)
        return cls(
            d["acr"],
            tuple(d["amr"]),
            d["auth_time"],
            d["claims"],
            d["claims_request"],
            tuple(d.get("acr_values", ())),
        )


@dataclass(frozen=True)
class GrantInfo:
    id: str
    client_id: str
    sub: str
    sid: str | None
    scope: str
    auth: AuthContext
    active: bool


class TokenService:
    def __init__(
        self,
        settings: Settings,
        keys: SigningKeys,
        sessions: sessionmaker[Session],
        clock: Clock,
        data_secret: bytes,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.sessions = sessions
        self.clock = clock
        self.issuer = settings.issuer
        self.acr = AcrPolicy.from_settings(settings)
        # A grant's authentication holds the claims released to its client (a personal number
        # with the ssn scope): sealed at rest, so a copy of the database alone does not reveal
        # them (with secret_key configured, the key is not in the database at all).
        self._sealer = sealer(data_secret, "grant-auth")

    def _seal(self, auth: AuthContext) -> str:
        return self._sealer.encrypt(auth.to_json().encode()).decode("ascii")

    def _unseal(self, value: str) -> AuthContext | None:
        if value.startswith("{"):  # written before grants were sealed
            return AuthContext.from_json(value)
        try:
            return AuthContext.from_json(self._sealer.decrypt(value.encode("ascii")).decode())
        except (InvalidToken, ValueError):
            # Sealed under another secret (secret_key changed): the grant cannot be used.
            log.warning("a grant could not be unsealed; treating it as unknown")
            return None

    # ------------------------------------------------------------------ grants

    def create_grant(
        self,
        *,
        grant_id: str,
        client: ClientSettings,
        sub: str,
        sid: str | None,
        scope: str,
        auth: AuthContext,
    ) -> None:
        now = self.clock.now()
        with self.sessions.begin() as s:
            s.add(
                Grant(
                    id=grant_id,
                    client_id=client.client_id,
                    sub=sub,
                    sid=sid,
                    scope=scope,
                    auth=self._seal(auth),
                    created_at=now,
                    expires_at=now + self.settings.tokens.refresh_token_ttl_seconds,
                )
            )

    def grant(self, grant_id: str) -> GrantInfo | None:
        with self.sessions() as s:
            row = s.get(Grant, grant_id)
            auth = None if row is None else self._unseal(row.auth)
            if row is None or auth is None:
                return None
            return GrantInfo(
                id=row.id,
                client_id=row.client_id,
                sub=row.sub,
                sid=row.sid,
                scope=row.scope,
                auth=auth,
                active=row.revoked_at is None and row.expires_at > self.clock.now(),
            )

    def grant_active(self, grant_id: str) -> bool:
        info = self.grant(grant_id)
        return info is not None and info.active

    def revoke_grant(self, grant_id: str) -> None:
        """Revoke a grant and, with it, every token issued from it."""
        now = self.clock.now()
        with self.sessions.begin() as s:
            s.execute(
                update(Grant)
                .where(Grant.id == grant_id, Grant.revoked_at.is_(None))
                .values(revoked_at=now)
            )

    def revoke_session_grants(self, sid: str) -> list[str]:
        now = self.clock.now()
        with self.sessions.begin() as s:
            ids = list(
                s.scalars(select(Grant.id).where(Grant.sid == sid, Grant.revoked_at.is_(None)))
            )
            if ids:
                s.execute(update(Grant).where(Grant.id.in_(ids)).values(revoked_at=now))
        return ids

    # ------------------------------------------------------------------ refresh tokens

    def issue_refresh_token(self, grant_id: str, client_id: str, scope: str) -> str:
        token = new_id(32)
        now = self.clock.now()
        with self.sessions.begin() as s:
            expires = s.scalar(select(Grant.expires_at).where(Grant.id == grant_id))
            s.add(
                RefreshToken(
                    token_hash=token_hash(token),
                    grant_id=grant_id,
                    client_id=client_id,
                    scope=scope,
                    created_at=now,
                    expires_at=min(
                        expires or now, now + self.settings.tokens.refresh_token_ttl_seconds
                    ),
                )
            )
        return token

    def find_refresh_token(self, token: str) -> RefreshToken | None:
        with self.sessions() as s:
            return s.get(RefreshToken, token_hash(token))

    def claim_refresh_token(self, token: str) -> bool:
        """Mark a refresh token used; True for exactly one caller, across every instance."""
        with self.sessions.begin() as s:
            result = s.execute(
                update(RefreshToken)
                .where(RefreshToken.token_hash == token_hash(token), RefreshToken.used_at.is_(None))
                .values(used_at=self.clock.now())
            )
            # An UPDATE's result is a CursorResult (Session.execute is typed for any statement).
            assert isinstance(result, CursorResult)
            return result.rowcount == 1

    # ------------------------------------------------------------------ JWTs

    def token_acr(self, client: ClientSettings, auth: AuthContext) -> str:
        """The tokens' `acr`: the requested value the login met (OIDC Core §5.5.1.1 for an
        essential request), else the login's own value, or for a client held to the Swedish
        profile the level of assurance (idp.oidc.acr)."""
        requested, essential = requested_acr(auth.acr_values, auth.claims_request)
        return self.acr.token_acr(
            auth.acr, requested, essential=essential, prefer_loa=client.held_to_profile
        )

    def access_token(
        self,
        *,
        client: ClientSettings,
        sub: str,
        scope: str,
        grant_id: str | None,
        auth: AuthContext | None,
    ) -> tuple[str, int]:
        """An RFC 9068 JWT access token; returns (token, expires_in)."""
        now = int(self.clock.now())
        ttl = self.settings.tokens.access_token_ttl_seconds
        audience = list(dict.fromkeys([*client.access_token_audience, self.issuer]))
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": audience[0] if len(audience) == 1 else audience,
            "exp": now + ttl,
            "iat": now,
            "jti": new_id(16),
            "client_id": client.client_id,
            "scope": scope,
        }
        if grant_id:
            claims["gid"] = grant_id
        if auth is not None:
            acr = self.token_acr(client, auth)
            claims.update({"auth_time": auth.auth_time, "acr": acr, "amr": list(auth.amr)})
        return self.keys.sign(claims, "RS256", typ=ACCESS_TOKEN_TYP), ttl

    def id_token(
        self,
        *,
        client: ClientSettings,
        sub: str,
        auth: AuthContext,
        claims: dict[str, Any],
        nonce: str | None,
        sid: str | None,
        access_token: str | None,
    ) -> str:
        """The ID token (OIDC Core §2) with the released `claims` that belong in it (Swedish
        OIDC Profile §4.2: idp.oidc.claims.for_id_token), living this client's lifetime (at
        most 5 minutes under the profile, §3.2.1.2)."""
        now = int(self.clock.now())
        alg = client.id_token_signed_response_alg
        lifetime = client.id_token_lifetime(self.settings.tokens.id_token_ttl_seconds)
        payload: dict[str, Any] = {
            **claims_mod.for_id_token(claims, auth.claims_request, client),
            "iss": self.issuer,
            "sub": sub,
            "aud": client.client_id,
            "exp": now + lifetime,
            "iat": now,
            "auth_time": auth.auth_time,
            "acr": self.token_acr(client, auth),
            "amr": list(auth.amr),
        }
        if nonce:
            payload["nonce"] = nonce
        if sid:
            payload["sid"] = sid
        if access_token:
            payload["at_hash"] = left_half_hash(access_token, alg)
        return self.keys.sign(payload, alg)

    def userinfo_jwt(self, client: ClientSettings, claims: dict[str, Any]) -> str:
        """A signed UserInfo response (OIDC Core §5.3.2: "SHOULD contain the Claims iss [...]
        and aud"), with the client's userinfo alg."""
        alg = client.userinfo_alg or client.id_token_signed_response_alg
        return self.keys.sign({**claims, "iss": self.issuer, "aud": client.client_id}, alg)

    def verify_access_token(self, token: str) -> dict[str, Any] | None:
        """Claims of a live access token of ours, else None (bad, expired, or grant revoked)."""
        try:
            claims = self.keys.verify(token, issuer=self.issuer, typ=ACCESS_TOKEN_TYP)
        except (jwt.InvalidTokenError, ValueError):
            return None
        gid = claims.get("gid")
        if gid is not None and not self.grant_active(str(gid)):
            return None
        return claims
