"""Server secrets (cookie signing, subject pseudonyms, sealing data at rest) shared by every
instance.

With `secret_key` configured, each named secret is derived from it (HMAC-SHA256, so the
derived secrets are independent). Without one (the embedded default), a random secret is
generated on first use and kept in the database, which every instance shares.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from idp.clock import Clock
from idp.config import Secret
from idp.store.models import ServerSecret


def server_secret(
    sessions: sessionmaker[Session], name: str, clock: Clock, configured: Secret | None
) -> bytes:
    if configured is not None:
        return hmac.new(configured.get().encode(), name.encode(), hashlib.sha256).digest()
    with sessions() as s:
        row = s.get(ServerSecret, name)
        if row is not None:
            return base64.b64decode(row.value)
    value = secrets.token_bytes(32)
    try:
        with sessions.begin() as s:
            s.add(
                ServerSecret(
                    name=name, value=base64.b64encode(value).decode(), created_at=clock.now()
                )
            )
    except IntegrityError:
        with sessions() as s:
            row = s.get(ServerSecret, name)
            assert row is not None
            return base64.b64decode(row.value)
    return value


def sealer(secret: bytes, purpose: str) -> Fernet:
    """Authenticated encryption (Fernet: AES-128-CBC with HMAC-SHA256) under a key derived from
    a server secret for one purpose, for personal data kept at rest."""
    key = hmac.new(secret, f"{purpose}-encryption".encode(), hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))
