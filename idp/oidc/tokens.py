"""Grants and the tokens that hang from them: ID tokens, JWT access tokens, refresh tokens.

Every signature goes through idp.keys. Grants and refresh tokens are durable (SQL); revoking a
grant (code replay, refresh-token reuse, logout, revocation) makes every token of it inactive
at introspection and userinfo. The database methods here are synchronous: callers run them in
a worker thread, and the token endpoint's grants make one call (one transaction) per request:
`redeem_grant` (code exchange), `rotate_refresh_token` (refresh), `create_grant` (CIBA);
introspection and revocation one too (`live_refresh_token`, `grant_active`,
`revoke_refresh_token_grant`). The JWT methods do no database work (they run on the event loop).

Every statement on these paths is built once (below), in Core, and sent with as few round trips
as its guarantees allow: one statement alone runs without BEGIN and COMMIT (`_autocommit`); a
grant is read in the same statement that stores or claims a refresh token (`_grant_of`).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import jwt
from cryptography.fernet import InvalidToken
from sqlalchemy import (
    Connection,
    Float,
    String,
    Table,
    Text,
    bindparam,
    case,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from idp.clock import Clock
from idp.config import ClientSettings, Settings
from idp.keys import SigningKeys
from idp.oidc import claims as claims_mod
from idp.oidc.acr import AcrPolicy, requested_acr
from idp.oidc.subject import sid_for
from idp.store.db import engine_of
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
    #: RFC 9396: the authorization details granted (what the person approved), returned with
    #: every token of the grant (§7, §9).
    authorization_details: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {
                "acr": self.acr,
                "amr": list(self.amr),
                "auth_time": self.auth_time,
                "claims": self.claims,
                "claims_request": self.claims_request,
                "acr_values": list(self.acr_values),
                "authorization_details": list(self.authorization_details),
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
            tuple(d.get("authorization_details", ())),
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


@dataclass(frozen=True)
class Issued:
    """An active grant, read (and unsealed) once, and the refresh token issued from it in the
    same transaction (None when none was asked for)."""

    grant: GrantInfo
    refresh_token: str | None


class Rotation(enum.Enum):
    """What `rotate_refresh_token` found."""

    ROTATED = "rotated"  # marked used, and its successor issued
    UNKNOWN = "unknown"  # no such token, or it expired, or its grant is not active
    REUSED = "reused"  # used before: its grant is now revoked (RFC 9700 §4.14.2)
    REFUSED = "refused"  # live, but not for this client or this scope: left as it was
    WRONG_KEY = "wrong_key"  # bound to a DPoP key (RFC 9449 §5) the request did not prove
    KEPT = "kept"  # live, and used again as it is (FAPI 2.0: no rotation)


@dataclass(frozen=True)
class RefreshUse:
    """The outcome of presenting a refresh token: the token row's grant, client and scope (not
    for UNKNOWN and REUSED) and, when ROTATED, the grant and the successor token."""

    outcome: Rotation
    grant_id: str | None = None
    client_id: str | None = None
    scope: str | None = None
    issued: Issued | None = None


@dataclass(frozen=True)
class LiveRefreshToken:
    """A refresh token that can be used now (unused, unexpired, of an active grant that can be
    unsealed), as introspection and revocation see it."""

    grant_id: str
    client_id: str
    scope: str
    sub: str
    created_at: float
    expires_at: float
    #: RFC 9396 §9.2: what the grant's person approved, for introspection.
    authorization_details: tuple[dict[str, Any], ...] = ()


class _Rollback(Exception):
    """Leave a transaction without writing anything (carries the answer)."""

    def __init__(self, answer: Any) -> None:
        super().__init__()
        self.answer = answer


GRANTS = cast(Table, Grant.__table__)
REFRESH_TOKENS = cast(Table, RefreshToken.__table__)
_GRANT_COLUMNS = (
    GRANTS.c.client_id,
    GRANTS.c.sub,
    GRANTS.c.sid,
    GRANTS.c.scope,
    GRANTS.c.auth,
    GRANTS.c.expires_at,
    GRANTS.c.revoked_at,
)


def _grant_of(grant_id: Any) -> list[Any]:
    """`_GRANT_COLUMNS` of the grant `grant_id` names, as scalar subqueries (for RETURNING)."""
    return [
        select(column).where(GRANTS.c.id == grant_id).scalar_subquery().label(column.name)
        for column in _GRANT_COLUMNS
    ]


# The token endpoint's statements, built once (a statement built per request costs more than
# running it on SQLite).
_SELECT_GRANT = select(*_GRANT_COLUMNS).where(GRANTS.c.id == bindparam("p_grant_id"))
_INSERT_REFRESH_TOKEN = insert(REFRESH_TOKENS)
# A refresh token that may be used: this one (by its hash), unused, the client's, unexpired,
# and, when bound to a DPoP key (RFC 9449 §5), presented with a proof of that key.
_USABLE_REFRESH_TOKEN = (
    REFRESH_TOKENS.c.token_hash == bindparam("p_hash"),
    REFRESH_TOKENS.c.used_at.is_(None),
    REFRESH_TOKENS.c.client_id == bindparam("p_client_id"),
    REFRESH_TOKENS.c.expires_at > bindparam("p_now"),
    or_(REFRESH_TOKENS.c.jkt.is_(None), REFRESH_TOKENS.c.jkt == bindparam("p_jkt")),
)
# The token marked used, if usable (of concurrent claims on however many instances, one wins).
_CLAIM = (
    update(REFRESH_TOKENS).where(*_USABLE_REFRESH_TOKEN).values(used_at=bindparam("p_used_at"))
)
_CLAIM_REFRESH_TOKEN = _CLAIM.returning(
    REFRESH_TOKENS.c.grant_id,
    REFRESH_TOKENS.c.scope.label("token_scope"),
    REFRESH_TOKENS.c.jkt.label("token_jkt"),
    # The grant, read in the same statement (as `_GRANT_COLUMNS`).
    *_grant_of(REFRESH_TOKENS.c.grant_id),
)


def _store_refresh_token(
    hash_param: str, grant_id: Any, client_id: Any, scope: Any, jkt: Any, *where: Any
) -> Any:
    """An INSERT of a refresh token (its hash the bind parameter `hash_param`) of the grant
    `grant_id`, only if the grant is active: it lasts until `p_latest`, or the grant's end if
    that comes sooner."""
    latest = bindparam("p_latest", type_=Float())
    return insert(REFRESH_TOKENS).from_select(
        ["token_hash", "grant_id", "client_id", "scope", "created_at", "expires_at", "jkt"],
        select(
            bindparam(hash_param, type_=String()),
            grant_id,
            client_id,
            scope,
            bindparam("p_now", type_=Float()),
            case((GRANTS.c.expires_at < latest, GRANTS.c.expires_at), else_=latest),
            jkt,
        ).where(
            *where,
            GRANTS.c.revoked_at.is_(None),
            GRANTS.c.expires_at > bindparam("p_now", type_=Float()),
        ),
    )


# The code exchange: a refresh token stored only if its grant is active, and the grant read,
# in one statement (no transaction needed). Nothing comes back when the grant is not active.
_ISSUE_REFRESH_TOKEN = _store_refresh_token(
    "p_hash",
    GRANTS.c.id,
    bindparam("p_client_id", type_=String()),
    bindparam("p_scope", type_=Text()),
    bindparam("p_jkt", type_=String()),
    GRANTS.c.id == bindparam("p_grant_id"),
).returning(*_grant_of(bindparam("p_grant_id")))
# The rotation in one statement, on PostgreSQL (whose data-modifying WITH clauses SQLite lacks)
# when the successor keeps the token's scope: the token claimed as `_CLAIM_REFRESH_TOKEN`
# claims it, its successor stored only if the grant is active (as `_ISSUE_REFRESH_TOKEN`), the
# claimed token read with its grant. One round trip instead of BEGIN, UPDATE, INSERT, COMMIT.
_CLAIMED = _CLAIM.returning(
    REFRESH_TOKENS.c.grant_id,
    REFRESH_TOKENS.c.client_id,
    REFRESH_TOKENS.c.scope.label("token_scope"),
    REFRESH_TOKENS.c.jkt.label("token_jkt"),
).cte("claimed")
_SUCCESSOR = _store_refresh_token(
    "p_new_hash",
    _CLAIMED.c.grant_id,
    _CLAIMED.c.client_id,
    _CLAIMED.c.token_scope,
    _CLAIMED.c.token_jkt,
    GRANTS.c.id == _CLAIMED.c.grant_id,
).cte("successor")
_ROTATE_REFRESH_TOKEN = (
    select(_CLAIMED.c.grant_id, _CLAIMED.c.token_scope, _CLAIMED.c.token_jkt, *_GRANT_COLUMNS)
    .select_from(_CLAIMED.outerjoin(GRANTS, GRANTS.c.id == _CLAIMED.c.grant_id))
    .add_cte(_SUCCESSOR)
)
# FAPI 2.0 clients: the token read as `_CLAIM_REFRESH_TOKEN` claims it, without marking it used.
_KEEP_REFRESH_TOKEN = select(
    REFRESH_TOKENS.c.grant_id,
    REFRESH_TOKENS.c.scope.label("token_scope"),
    *_grant_of(REFRESH_TOKENS.c.grant_id),
).where(*_USABLE_REFRESH_TOKEN)
_SELECT_REFRESH_TOKEN = select(
    REFRESH_TOKENS.c.grant_id,
    REFRESH_TOKENS.c.client_id,
    REFRESH_TOKENS.c.scope,
    REFRESH_TOKENS.c.expires_at,
    REFRESH_TOKENS.c.used_at,
    REFRESH_TOKENS.c.jkt,
).where(REFRESH_TOKENS.c.token_hash == bindparam("p_hash"))
_REVOKE_GRANT = (
    update(GRANTS)
    .where(GRANTS.c.id == bindparam("p_grant_id"), GRANTS.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("p_revoked_at"))
)
# Introspection and revocation: one read each, built once.
_SELECT_ACTIVE_GRANT_AUTH = select(GRANTS.c.auth).where(
    GRANTS.c.id == bindparam("p_grant_id"),
    GRANTS.c.revoked_at.is_(None),
    GRANTS.c.expires_at > bindparam("p_now"),
)
_SELECT_LIVE_REFRESH_TOKEN = (
    select(
        REFRESH_TOKENS.c.grant_id,
        REFRESH_TOKENS.c.client_id,
        REFRESH_TOKENS.c.scope,
        REFRESH_TOKENS.c.created_at,
        REFRESH_TOKENS.c.expires_at,
        GRANTS.c.sub,
        GRANTS.c.auth,
    )
    .select_from(REFRESH_TOKENS.join(GRANTS, GRANTS.c.id == REFRESH_TOKENS.c.grant_id))
    .where(
        REFRESH_TOKENS.c.token_hash == bindparam("p_hash"),
        REFRESH_TOKENS.c.used_at.is_(None),
        REFRESH_TOKENS.c.expires_at > bindparam("p_now"),
        GRANTS.c.revoked_at.is_(None),
        GRANTS.c.expires_at > bindparam("p_now"),
    )
)


def _claim_params(h: str, client_id: str, now: float, jkt: str | None) -> dict[str, Any]:
    """The parameters of `_CLAIM_REFRESH_TOKEN` (and of the claim in `_ROTATE_REFRESH_TOKEN`)."""
    return {"p_hash": h, "p_client_id": client_id, "p_now": now, "p_used_at": now, "p_jkt": jkt}


class TokenService:
    def __init__(
        self,
        settings: Settings,
        keys: SigningKeys,
        sessions: sessionmaker[Session],
        clock: Clock,
        data_secret: bytes,
        subject_secret: bytes | None = None,
    ) -> None:
        self.settings = settings
        self.keys = keys
        # Keys the per-client sid of pairwise clients (idp.oidc.subject.sid_for).
        self._sid_secret = data_secret if subject_secret is None else subject_secret
        self.sessions = sessions
        #: Where its database calls run (idp.store.db.in_db_thread).
        self.engine = engine_of(sessions)
        self._one_statement_rotation = (
            self.engine is not None and self.engine.dialect.name == "postgresql"
        )
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
        refresh_scope: str | None = None,
    ) -> str | None:
        """Store a grant; with `refresh_scope`, also a refresh token of it (in the same
        transaction), which is returned."""
        now = self.clock.now()
        expires_at = now + self.settings.tokens.refresh_token_ttl_seconds
        with self._transaction() as conn:
            conn.execute(
                insert(GRANTS).values(
                    id=grant_id,
                    client_id=client.client_id,
                    sub=sub,
                    sid=sid,
                    scope=scope,
                    auth=self._seal(auth),
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            if refresh_scope is None:
                return None
            return self._insert_refresh_token(
                conn, grant_id, client.client_id, refresh_scope, now, expires_at
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

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A Core connection in a transaction: committed at the end, rolled back on error (a
        `_Rollback` too, which the caller catches for its answer)."""
        engine = self.sessions.kw.get("bind")
        if engine is not None:
            with engine.begin() as conn:
                yield conn
            return
        with self.sessions.begin() as s:
            yield s.connection()

    @contextmanager
    def _autocommit(self) -> Iterator[Connection]:
        """A Core connection on which every statement commits by itself: for work that needs no
        transaction around it (one statement, or statements each safe on its own), without the
        round trips of BEGIN and COMMIT (PostgreSQL)."""
        engine = self.sessions.kw.get("bind")
        if engine is None:
            with self._transaction() as conn:
                yield conn
            return
        with engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    def _grant_info(self, grant_id: str, row: Any, now: float) -> GrantInfo | None:
        """An active grant from its row (`_GRANT_COLUMNS`), unsealed; None if it is revoked,
        expired, or cannot be unsealed."""
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            return None
        auth = self._unseal(row.auth)
        if auth is None:
            return None
        return GrantInfo(
            id=grant_id,
            client_id=row.client_id,
            sub=row.sub,
            sid=row.sid,
            scope=row.scope,
            auth=auth,
            active=True,
        )

    def _insert_refresh_token(
        self,
        conn: Connection,
        grant_id: str,
        client_id: str,
        scope: str,
        now: float,
        grant_expires_at: float | None,
        jkt: str | None = None,
    ) -> str:
        token = new_id(32)
        conn.execute(
            _INSERT_REFRESH_TOKEN,
            {
                "token_hash": token_hash(token),
                "grant_id": grant_id,
                "client_id": client_id,
                "scope": scope,
                "created_at": now,
                "expires_at": min(
                    grant_expires_at or now, now + self.settings.tokens.refresh_token_ttl_seconds
                ),
                "jkt": jkt,
            },
        )
        return token

    def redeem_grant(
        self, grant_id: str, client_id: str, refresh_scope: str | None, jkt: str | None = None
    ) -> Issued | None:
        """The code exchange's database work, in one statement: the grant, if active, and
        (with `refresh_scope`) a refresh token of it for `client_id`, stored only if the grant
        is active. None when the grant is unknown, revoked, expired or cannot be unsealed
        (nothing written, except a token for a grant that cannot be unsealed: never handed
        out, and unusable, since its grant cannot be). With `jkt`, the refresh token is bound
        to that DPoP key (RFC 9449 §5: a public client's)."""
        now = self.clock.now()
        with self._autocommit() as conn:
            if refresh_scope is None:
                row = conn.execute(_SELECT_GRANT, {"p_grant_id": grant_id}).first()
                info = self._grant_info(grant_id, row, now)
                return None if info is None else Issued(info, None)
            token = new_id(32)
            row = conn.execute(
                _ISSUE_REFRESH_TOKEN,
                {
                    "p_hash": token_hash(token),
                    "p_grant_id": grant_id,
                    "p_client_id": client_id,
                    "p_scope": refresh_scope,
                    "p_now": now,
                    "p_latest": now + self.settings.tokens.refresh_token_ttl_seconds,
                    "p_jkt": jkt,
                },
            ).first()
        info = self._grant_info(grant_id, row, now)
        return None if info is None else Issued(info, token)

    def rotate_refresh_token(
        self,
        token: str,
        client_id: str,
        new_scope: Callable[[str], str | None] | None,
        jkt: str | None = None,
    ) -> RefreshUse:
        """The refresh grant's database work, in one transaction (RFC 9700 §4.14.2 rotation).

        The token is marked used with one conditional UPDATE (unused, of `client_id`, not
        expired), so of concurrent uses, on however many instances, exactly one wins. A token
        that was used before comes back as REUSED, and its grant is revoked: the loser of such
        a race is taken for a thief too. The winner reads its grant (unsealed once) and stores
        the successor token with the scope `new_scope(original scope)` gives; when that is None
        (a scope the grant does not cover), or the grant is not active, nothing is written.
        A token of another client is REFUSED, unchanged. A token bound to a DPoP key (RFC 9449
        §5) is claimed only when `jkt`, the key of the request's proof, is that key; else it is
        WRONG_KEY, unchanged. Its successor is bound to the same key.

        `new_scope` None: the successor keeps the token's scope (no scope was asked for). On
        PostgreSQL the rotation is then one statement (`_ROTATE_REFRESH_TOKEN`), in which a
        token of a grant no longer active is marked used too (it could not be used anyway).
        """
        h = token_hash(token)
        now = self.clock.now()
        if new_scope is None and self._one_statement_rotation:
            return self._rotate_in_one_statement(h, client_id, jkt, now)
        try:
            with self._transaction() as conn:
                claimed = conn.execute(
                    _CLAIM_REFRESH_TOKEN, _claim_params(h, client_id, now, jkt)
                ).first()
                if claimed is None:
                    return self._not_rotated(conn, h, now, client_id)
                grant_id, scope = claimed.grant_id, claimed.token_scope
                successor_scope = scope if new_scope is None else new_scope(scope)
                if successor_scope is None:
                    raise _Rollback(RefreshUse(Rotation.REFUSED, grant_id, client_id, scope))
                info = self._grant_info(grant_id, claimed, now)
                if info is None:
                    raise _Rollback(RefreshUse(Rotation.UNKNOWN))
                successor = self._insert_refresh_token(
                    conn,
                    grant_id,
                    client_id,
                    successor_scope,
                    now,
                    claimed.expires_at,
                    claimed.token_jkt,
                )
                return RefreshUse(
                    Rotation.ROTATED, grant_id, client_id, scope, Issued(info, successor)
                )
        except _Rollback as rollback:
            answer: RefreshUse = rollback.answer
            return answer

    def _rotate_in_one_statement(
        self, h: str, client_id: str, jkt: str | None, now: float
    ) -> RefreshUse:
        successor = new_id(32)
        with self._autocommit() as conn:
            claimed = conn.execute(
                _ROTATE_REFRESH_TOKEN,
                {
                    **_claim_params(h, client_id, now, jkt),
                    "p_new_hash": token_hash(successor),
                    "p_latest": now + self.settings.tokens.refresh_token_ttl_seconds,
                },
            ).first()
        if claimed is None:  # why, and a reuse's revocation, in a transaction of their own
            with self._transaction() as conn:
                return self._not_rotated(conn, h, now, client_id)
        info = self._grant_info(claimed.grant_id, claimed, now)
        if info is None:
            return RefreshUse(Rotation.UNKNOWN)
        return RefreshUse(
            Rotation.ROTATED,
            claimed.grant_id,
            client_id,
            claimed.token_scope,
            Issued(info, successor),
        )

    def keep_refresh_token(
        self,
        token: str,
        client_id: str,
        new_scope: Callable[[str], str | None] | None,
        jkt: str | None = None,
    ) -> RefreshUse:
        """The refresh grant's database work for a FAPI 2.0 client, which "shall not use
        refresh token rotation except in extraordinary circumstances" (FAPI 2.0 §5.3.2.1): the
        token is checked as `rotate_refresh_token` checks it (and a used one still revokes its
        grant), then KEPT: issued again as it is, its scope and DPoP binding unchanged."""
        h = token_hash(token)
        now = self.clock.now()
        with self._transaction() as conn:
            row = conn.execute(
                _KEEP_REFRESH_TOKEN,
                {"p_hash": h, "p_client_id": client_id, "p_now": now, "p_jkt": jkt},
            ).first()
            if row is None:
                return self._not_rotated(conn, h, now, client_id)
        grant_id, scope = row.grant_id, row.token_scope
        if new_scope is not None and new_scope(scope) is None:
            return RefreshUse(Rotation.REFUSED, grant_id, client_id, scope)
        info = self._grant_info(grant_id, row, now)
        if info is None:
            return RefreshUse(Rotation.UNKNOWN)
        return RefreshUse(Rotation.KEPT, grant_id, client_id, scope, Issued(info, token))

    def _not_rotated(self, conn: Connection, h: str, now: float, client_id: str) -> RefreshUse:
        """Why the UPDATE of `rotate_refresh_token` matched nothing (same transaction)."""
        row = conn.execute(_SELECT_REFRESH_TOKEN, {"p_hash": h}).first()
        if row is None:
            return RefreshUse(Rotation.UNKNOWN)
        if row.used_at is not None:
            conn.execute(_REVOKE_GRANT, {"p_grant_id": row.grant_id, "p_revoked_at": now})
            return RefreshUse(Rotation.REUSED, row.grant_id)
        if row.expires_at <= now:
            return RefreshUse(Rotation.UNKNOWN)
        if row.client_id == client_id and row.jkt is not None:
            return RefreshUse(Rotation.WRONG_KEY, row.grant_id)
        return RefreshUse(Rotation.REFUSED, row.grant_id, row.client_id, row.scope)

    def grant_active(self, grant_id: str) -> bool:
        """The grant exists, is neither revoked nor expired, and can be unsealed (one read)."""
        with self._autocommit() as conn:
            auth = conn.execute(
                _SELECT_ACTIVE_GRANT_AUTH, {"p_grant_id": grant_id, "p_now": self.clock.now()}
            ).scalar()
        return auth is not None and self._unseal(auth) is not None

    def live_refresh_token(self, token: str) -> LiveRefreshToken | None:
        """The refresh token `token` if it can be used now (unused, unexpired, of an active
        grant that can be unsealed), with its grant's subject; one read. Else None."""
        with self._autocommit() as conn:
            row = conn.execute(
                _SELECT_LIVE_REFRESH_TOKEN, {"p_hash": token_hash(token), "p_now": self.clock.now()}
            ).first()
        auth = None if row is None else self._unseal(row.auth)
        if row is None or auth is None:
            return None
        return LiveRefreshToken(
            row.grant_id,
            row.client_id,
            row.scope,
            row.sub,
            row.created_at,
            row.expires_at,
            auth.authorization_details,
        )

    def revoke_refresh_token_grant(self, token: str, client_id: str) -> bool:
        """Revocation of a refresh token (RFC 7009): if it is live and `client_id`'s, its
        grant is revoked, and with it every token of the grant. True if it was."""
        live = self.live_refresh_token(token)
        if live is None or live.client_id != client_id:
            return False
        self.revoke_grant(live.grant_id)
        return True

    def revoke_grant(self, grant_id: str) -> None:
        """Revoke a grant and, with it, every token issued from it (one statement)."""
        with self._autocommit() as conn:
            conn.execute(_REVOKE_GRANT, {"p_grant_id": grant_id, "p_revoked_at": self.clock.now()})

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
        acr: str | None = None,
        jkt: str | None = None,
    ) -> tuple[str, int]:
        """An RFC 9068 JWT access token; returns (token, expires_in). `acr`, when given, is
        `token_acr(client, auth)` computed already; with `jkt` the token is DPoP-bound
        (RFC 9449 §6.1: `cnf` with the key's JWK SHA-256 thumbprint)."""
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
        if jkt is not None:
            claims["cnf"] = {"jkt": jkt}
        if auth is not None:
            if acr is None:
                acr = self.token_acr(client, auth)
            claims.update({"auth_time": auth.auth_time, "acr": acr, "amr": list(auth.amr)})
            if auth.authorization_details:  # RFC 9396 §9.1; never the approval's evidence
                claims["authorization_details"] = list(auth.authorization_details)
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
        acr: str | None = None,
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
            "acr": self.token_acr(client, auth) if acr is None else acr,
            "amr": list(auth.amr),
        }
        if nonce:
            payload["nonce"] = nonce
        if sid:
            payload["sid"] = self.client_sid(client, sid)
        if access_token:
            payload["at_hash"] = left_half_hash(access_token, alg)
        return self.keys.sign(payload, alg)

    def client_sid(self, client: ClientSettings, sid: str) -> str:
        """The sid this client sees for a session (its own where its subject is pairwise)."""
        return sid_for(self._sid_secret, client, sid)

    def userinfo_jwt(self, client: ClientSettings, claims: dict[str, Any]) -> str:
        """A signed UserInfo response (OIDC Core §5.3.2: "SHOULD contain the Claims iss [...]
        and aud"), with the client's userinfo alg."""
        alg = client.userinfo_alg or client.id_token_signed_response_alg
        return self.keys.sign({**claims, "iss": self.issuer, "aud": client.client_id}, alg)

    def verify_access_token_signature(self, token: str) -> dict[str, Any] | None:
        """Claims of an access token of ours that verifies and has not expired, else None; no
        database work (its grant may have been revoked: `verify_access_token` checks that)."""
        try:
            claims: dict[str, Any] = self.keys.verify(
                token, issuer=self.issuer, typ=ACCESS_TOKEN_TYP
            )
        except (jwt.InvalidTokenError, ValueError):
            return None
        return claims

    def verify_access_token(self, token: str) -> dict[str, Any] | None:
        """Claims of a live access token of ours, else None (bad, expired, or grant revoked)."""
        claims = self.verify_access_token_signature(token)
        if claims is None:
            return None
        gid = claims.get("gid")
        if gid is not None and not self.grant_active(str(gid)):
            return None
        return claims
