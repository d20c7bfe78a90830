"""Approval evidence kept for the retention period, and the endpoint the client fetches it from.

When a person approves something (a signature or a payment: RFC 9396 authorization_details, or
the Signature Extension's signRequest), its evidence leaves with the ID token, and the grant
that holds it lives only as long as a refresh token. The provider also keeps it, once per
approval, for `evidence.retention_days`: one row of ``approval_evidence`` named by the
approval's ``txn`` claim (our transaction id, in the ID token), else by a random id. The row
holds in clear only what names no person (client, pseudonymous ``sub``, the detail's type and
`Approval.digest`); the detail with its text, the signature (which carries the signer's
certificate), the OCSP response, the binding, ``acr`` and ``auth_time`` are sealed (Fernet,
under a key of their own derived from the grants' secret).

`EvidenceStore` is synchronous, as idp.oidc.tokens is: callers run it in a worker thread, in
the same call that stores the approval's grant, so an approval whose evidence cannot be kept
fails as a grant that cannot be stored does (503 / temporarily_unavailable). A second write of
the same id is a no-op. Expired rows are deleted on a write, at most once an hour per process.

``POST /evidence`` (form: ``evidence_id``) answers the client that asked for the approval,
authenticated as at introspection (a confidential method, RFC 7662 §2.1); an unknown id, an
expired one and another client's all answer 404 ``{"error": "not_found"}``, so no client learns
whether another's exists.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error
from cryptography.fernet import InvalidToken
from sqlalchemy import Connection, Table, bindparam, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from idp.authn import approval as approval_mod
from idp.authn.approval import AUTHN_EVIDENCE, USER_SIGNATURE
from idp.clock import Clock
from idp.config import Settings
from idp.oidc import claims as claims_mod
from idp.oidc.client_auth import CONFIDENTIAL_METHODS
from idp.oidc.http import PreparedRequest
from idp.oidc.tokens import AuthContext, new_id
from idp.store.db import engine_of, run_db
from idp.store.models import ApprovalEvidence
from idp.store.secrets import sealer

if TYPE_CHECKING:
    from idp.oidc.bridge import AuthlibResult, OAuthBridge

log = logging.getLogger(__name__)

PATH: Final = "/evidence"
PARAMETER: Final = "evidence_id"
DAY: Final = 24 * 3600
#: How often one process deletes expired rows (on a write).
PURGE_INTERVAL: Final = 3600.0
#: What an evidence id may be: our transaction ids and random ids are URL-safe base64.
_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
NOT_FOUND: Final = {"error": "not_found"}

EVIDENCE = cast(Table, ApprovalEvidence.__table__)
_SELECT = select(
    EVIDENCE.c.kind,
    EVIDENCE.c.digest,
    EVIDENCE.c.created_at,
    EVIDENCE.c.expires_at,
    EVIDENCE.c.sealed,
).where(
    EVIDENCE.c.id == bindparam("p_id"),
    EVIDENCE.c.client_id == bindparam("p_client_id"),
    EVIDENCE.c.expires_at > bindparam("p_now"),
)
_PURGE = delete(EVIDENCE).where(EVIDENCE.c.expires_at <= bindparam("p_now"))
# Idempotent on the id: a second write of the same approval leaves the first row as it was.
_INSERTS: dict[str, Any] = {
    "sqlite": sqlite.insert(EVIDENCE).on_conflict_do_nothing(index_elements=["id"]),
    "postgresql": postgresql.insert(EVIDENCE).on_conflict_do_nothing(index_elements=["id"]),
}
_INSERT = insert(EVIDENCE)  # another database: a duplicate fails (not idempotent there)


@dataclass(frozen=True)
class Evidence:
    """One kept approval, unsealed, as the client that asked for it may see it."""

    id: str
    type: str
    digest: str
    created_at: float
    expires_at: float
    authorization_details: list[dict[str, Any]]
    user_signature: str | None
    authn_evidence: str | None
    binding: str | None
    acr: str | None
    auth_time: int | None

    def to_json(self) -> dict[str, Any]:
        """The /evidence answer: `userSignature` and `authnEvidence` as `idp evidence verify`
        reads them."""
        out: dict[str, Any] = {
            "evidence_id": self.id,
            "type": self.type,
            "created_at": int(self.created_at),
            "expires_at": int(self.expires_at),
            "authorization_details": self.authorization_details,
            "userSignature": self.user_signature,
            "authnEvidence": self.authn_evidence,
            "digest": self.digest,
            "acr": self.acr,
            "auth_time": self.auth_time,
        }
        if self.binding is not None:
            out["binding"] = self.binding
        return out


def evidence_id_for(auth: AuthContext) -> str:
    """The approval's `txn` claim when it can name a row, else a new random id."""
    txn = auth.claims.get(claims_mod.TXN)
    if isinstance(txn, str) and _ID.fullmatch(txn):
        return txn
    return new_id(24)


class EvidenceStore:
    """The ``approval_evidence`` table: `keep`, `get`, `purge_expired` (synchronous)."""

    def __init__(
        self, sessions: sessionmaker[Session], clock: Clock, secret: bytes, retention_days: int
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.retention_seconds = retention_days * DAY
        # Its own key, derived from the grants' secret as the grants' is (idp.store.secrets).
        self._sealer = sealer(secret, "approval-evidence")
        self._next_purge = 0.0

    @classmethod
    def from_settings(
        cls, settings: Settings, sessions: sessionmaker[Session], clock: Clock, secret: bytes
    ) -> EvidenceStore:
        return cls(sessions, clock, secret, settings.evidence.retention_days)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A Core connection in a transaction (as idp.oidc.tokens's)."""
        engine = self.sessions.kw.get("bind")
        if engine is not None:
            with engine.begin() as conn:
                yield conn
            return
        with self.sessions.begin() as s:
            yield s.connection()

    def keep(
        self,
        *,
        client_id: str,
        sub: str,
        auth: AuthContext,
        details: Sequence[Mapping[str, Any]],
        binding: str | None = None,
    ) -> str | None:
        """Store the evidence of the approval `details` asked for and `auth` records (its
        claims hold the signature); returns the evidence id, or None when `details` ask for
        no approval. Raises SQLAlchemyError when the database fails (nothing is written)."""
        approval = approval_mod.approval_of(details)
        if approval is None:
            return None
        evidence_id = evidence_id_for(auth)
        now = self.clock.now()
        sealed = {
            "authorization_details": [dict(d) for d in details],
            "userSignature": auth.claims.get(USER_SIGNATURE),
            "authnEvidence": auth.claims.get(AUTHN_EVIDENCE),
            "binding": binding,
            "acr": auth.acr,
            "auth_time": auth.auth_time,
        }
        row = {
            "id": evidence_id,
            "client_id": client_id,
            "sub": sub,
            "kind": approval.type,
            "digest": approval.digest,
            "created_at": now,
            "expires_at": now + self.retention_seconds,
            "sealed": self._sealer.encrypt(json.dumps(sealed).encode()).decode("ascii"),
        }
        with self._transaction() as conn:
            conn.execute(_INSERTS.get(conn.dialect.name, _INSERT), row)
        if now >= self._next_purge:
            self._next_purge = now + PURGE_INTERVAL
            try:
                self.purge_expired()
            except SQLAlchemyError as exc:  # the evidence is kept; the purge waits for the next
                log.warning("purging expired approval evidence failed: %s", type(exc).__name__)
        return evidence_id

    def get(self, evidence_id: str, client_id: str) -> Evidence | None:
        """The live evidence `evidence_id` if `client_id` asked for it; else None (unknown,
        expired, another client's, or sealed under another secret)."""
        with self._transaction() as conn:
            row = conn.execute(
                _SELECT, {"p_id": evidence_id, "p_client_id": client_id, "p_now": self.clock.now()}
            ).first()
        if row is None:
            return None
        try:
            sealed = json.loads(self._sealer.decrypt(row.sealed.encode("ascii")))
        except (InvalidToken, ValueError):
            log.warning("approval evidence could not be unsealed; treating it as unknown")
            return None
        return Evidence(
            id=evidence_id,
            type=row.kind,
            digest=row.digest,
            created_at=row.created_at,
            expires_at=row.expires_at,
            authorization_details=list(sealed.get("authorization_details") or []),
            user_signature=sealed.get("userSignature"),
            authn_evidence=sealed.get("authnEvidence"),
            binding=sealed.get("binding"),
            acr=sealed.get("acr"),
            auth_time=sealed.get("auth_time"),
        )

    def purge_expired(self) -> int:
        """Delete every row past its retention; returns how many went."""
        with self._transaction() as conn:
            result = conn.execute(_PURGE, {"p_now": self.clock.now()})
        return int(result.rowcount or 0)


def check_evidence_id(request: PreparedRequest) -> str:
    """`evidence_id` is required, and shaped as our ids are (else invalid_request)."""
    value = request.form.get(PARAMETER)
    if not value:
        raise InvalidRequestError(description=f"'{PARAMETER}' is required")
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidRequestError(description=f"'{PARAMETER}' is not an evidence id")
    return value


async def retrieve(
    bridge: OAuthBridge, store: EvidenceStore, request: PreparedRequest
) -> AuthlibResult:
    """The evidence for the client that asked for the approval, authenticated as at
    introspection (RFC 7662 §2.1: a confidential method); 404 not_found for an id that is
    unknown, expired or another client's alike."""
    try:
        client = await bridge.client_auth.authenticate_client(
            request, CONFIDENTIAL_METHODS, "evidence"
        )
        request.client = client
        evidence_id = check_evidence_id(request)
    except OAuth2Error as error:
        return bridge.handle_error_response(request, error)
    found = await run_db(store.get, evidence_id, client.client_id, engine=engine_of(store.sessions))
    if found is None:
        return 404, dict(NOT_FOUND), {}
    return 200, found.to_json(), {}


__all__ = [
    "PATH",
    "Evidence",
    "EvidenceStore",
    "check_evidence_id",
    "evidence_id_for",
    "retrieve",
]
