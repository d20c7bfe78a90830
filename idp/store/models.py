"""Durable tables. Alembic migrations in migrations/ must agree (tests/store/test_migrations.py)."""

from __future__ import annotations

from sqlalchemy import Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class SigningKey(Base):
    """A private signing key. Only idp.keys reads or writes this table."""

    __tablename__ = "signing_keys"
    __table_args__ = (UniqueConstraint("alg", "generation", name="uq_signing_keys_alg_generation"),)

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    generation: Mapped[int] = mapped_column(Integer)
    private_pem: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    active_from: Mapped[float] = mapped_column(Float)
    retired_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    published_until: Mapped[float | None] = mapped_column(Float, nullable=True)


class ServerSecret(Base):
    """Random server secrets generated on first start when configuration gives none."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)


class Grant(Base):
    """What a person allowed a client: the root that codes, access and refresh tokens hang from.

    `auth` holds the authentication (acr, amr, auth_time) and the claims released to this
    client, for userinfo and refreshed ID tokens, sealed by idp.oidc.tokens (JSON in rows
    written before sealing). Revoking the grant revokes every token from it.
    """

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(255), index=True)
    sub: Mapped[str] = mapped_column(String(128))
    sid: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    scope: Mapped[str] = mapped_column(Text)
    auth: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class RefreshToken(Base):
    """A refresh token, kept only as its SHA-256. `used_at` marks a rotated-away token."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str] = mapped_column(String(255))
    scope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    used_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: RFC 9449 §5: the JWK thumbprint a public client's refresh token is bound to (DPoP).
    jkt: Mapped[str | None] = mapped_column(String(64), nullable=True)


class CibaAudit(Base):
    """One backchannel authentication request (CIBA), kept as an account of who verified whom.

    `subject` is the pseudonymous `sub` the client received (or would have), never the personal
    number; `id` is the SHA-256 of the auth_req_id (or random for a refused request), so the
    bearer value itself is not stored.
    """

    __tablename__ = "ciba_audit"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(255), index=True)
    requested_at: Mapped[float] = mapped_column(Float, index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(128), nullable=True)
    acr: Mapped[str | None] = mapped_column(String(128), nullable=True)
    delivery_mode: Mapped[str | None] = mapped_column(String(8), nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    tokens_issued_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: What the person was asked to approve (RFC 9396 authorization_details), if anything: its
    #: type and `Approval.digest` (SHA-256 of the detail), never its text.
    approval_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approval_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Who at the client asked (the request's ``requested_by``, e.g. a customer-service staff
    #: member's pseudonymous `sub` at the console), as the client names them.
    requested_by: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)


class SubjectLink(Base):
    """Which person a client's `sub` names, so an ID token of ours can be a CIBA id_token_hint.

    `identity` is encrypted with a server secret; `key` is a keyed hash of (client, sub).
    """

    __tablename__ = "subject_links"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(255))
    identity: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class ApprovalEvidence(Base):
    """What a person approved (a signature, a payment) and the proof of it, kept for the
    retention period (`evidence.retention_days`) for the client that asked for it.

    `id` is the approval's `txn` claim (our transaction id), else random; `sub` the
    pseudonymous subject that client received; `kind` the detail's type and `digest` its
    `Approval.digest`. Everything else (the detail with its text, the signature, which names
    the signer, the OCSP response, the binding, acr and auth_time) is in `sealed`, encrypted by
    idp.oidc.evidence: never the personal number in clear.
    """

    __tablename__ = "approval_evidence"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(255), index=True)
    sub: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
    sealed: Mapped[str] = mapped_column(Text)
