"""The durable account of every backchannel request: who asked, when, about whom, what happened.

A customer-service login is something an organisation must be able to account for, so each
request that reached us from an authenticated client gets a row in ``ciba_audit``: accepted
requests when they are accepted (outcome ``pending``) and again when they end; refused ones with
outcome ``rejected`` and the error code. The person appears only as the pseudonymous `sub` the
client receives; the personal number is never written. A request that asks the person to
approve something (RFC 9396 authorization_details: a signature) records what was approved as
its type and `Approval.digest`, never the text; the digest of the ``authorization_details`` the
client receives in the token response is the same. Methods are synchronous (run them with
`idp.store.db.run_db` from async code).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from idp.authn.approval import Approval
from idp.clock import Clock
from idp.store.models import CibaAudit


def audit_id_for(auth_req_id: str) -> str:
    """The row id of an accepted request: SHA-256 of its auth_req_id (not the bearer value)."""
    return hashlib.sha256(auth_req_id.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    id: str
    client_id: str
    requested_at: float
    outcome: str
    detail: str | None
    subject: str | None
    acr: str | None
    delivery_mode: str | None
    finished_at: float | None
    tokens_issued_at: float | None
    approval_type: str | None = None
    approval_digest: str | None = None
    requested_by: str | None = None


class CibaAuditLog:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def requested(
        self,
        *,
        audit_id: str,
        client_id: str,
        subject: str | None,
        delivery_mode: str | None,
        approval: Approval | None = None,
        requested_by: str | None = None,
    ) -> None:
        with self.sessions.begin() as s:
            s.add(
                CibaAudit(
                    id=audit_id,
                    client_id=client_id,
                    requested_at=self.clock.now(),
                    outcome="pending",
                    subject=subject,
                    delivery_mode=delivery_mode,
                    approval_type=None if approval is None else approval.type,
                    approval_digest=None if approval is None else approval.digest,
                    requested_by=requested_by,
                )
            )

    def rejected(
        self,
        *,
        client_id: str,
        error: str,
        subject: str | None = None,
        requested_by: str | None = None,
    ) -> None:
        now = self.clock.now()
        with self.sessions.begin() as s:
            s.add(
                CibaAudit(
                    id=secrets.token_hex(32),
                    client_id=client_id,
                    requested_at=now,
                    outcome="rejected",
                    detail=error,
                    subject=subject,
                    finished_at=now,
                    requested_by=requested_by,
                )
            )

    def finished(
        self, audit_id: str, outcome: str, detail: str | None = None, acr: str | None = None
    ) -> None:
        with self.sessions.begin() as s:
            s.execute(
                update(CibaAudit)
                .where(CibaAudit.id == audit_id, CibaAudit.finished_at.is_(None))
                .values(outcome=outcome, detail=detail, acr=acr, finished_at=self.clock.now())
            )

    def tokens_issued(self, audit_id: str) -> None:
        with self.sessions.begin() as s:
            s.execute(
                update(CibaAudit)
                .where(CibaAudit.id == audit_id)
                .values(tokens_issued_at=self.clock.now())
            )

    def entries(
        self, client_id: str | None = None, limit: int = 100, requested_by: str | None = None
    ) -> list[AuditEntry]:
        """The newest entries first (for the client's audit endpoint, operators and tests)."""
        query = select(CibaAudit).order_by(CibaAudit.requested_at.desc()).limit(limit)
        if client_id is not None:
            query = query.where(CibaAudit.client_id == client_id)
        if requested_by is not None:
            query = query.where(CibaAudit.requested_by == requested_by)
        with self.sessions() as s:
            return [
                AuditEntry(
                    id=r.id,
                    client_id=r.client_id,
                    requested_at=r.requested_at,
                    outcome=r.outcome,
                    detail=r.detail,
                    subject=r.subject,
                    acr=r.acr,
                    delivery_mode=r.delivery_mode,
                    finished_at=r.finished_at,
                    tokens_issued_at=r.tokens_issued_at,
                    approval_type=r.approval_type,
                    approval_digest=r.approval_digest,
                    requested_by=r.requested_by,
                )
                for r in s.scalars(query)
            ]
