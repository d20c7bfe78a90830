"""Which person a client's `sub` names, so `id_token_hint` can start a new backchannel request.

`sub` is a one-way pseudonym (idp.oidc.subject), so an ID token alone cannot say whom to call.
When a backchannel request ends with tokens, we remember (client, sub) -> identity, encrypted
with a server secret, for `ciba.id_token_hint_max_age_seconds`. Rows are looked up by a keyed
hash of (client, sub); expired rows are deleted as new ones are written.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import InvalidToken
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from idp.clock import Clock
from idp.store.models import SubjectLink
from idp.store.secrets import sealer


class SubjectLinks:
    def __init__(
        self, sessions: sessionmaker[Session], secret: bytes, clock: Clock, max_age: float
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.max_age = max_age
        self._mac_key = hmac.new(secret, b"subject-link-key", hashlib.sha256).digest()
        self._fernet = sealer(secret, "subject-link")

    def _key(self, client_id: str, sub: str) -> str:
        return hmac.new(self._mac_key, f"{client_id}|{sub}".encode(), hashlib.sha256).hexdigest()

    def remember(self, client_id: str, sub: str, identity: str) -> None:
        if self.max_age <= 0:
            return
        now = self.clock.now()
        with self.sessions.begin() as s:
            s.execute(delete(SubjectLink).where(SubjectLink.expires_at <= now))
            s.merge(
                SubjectLink(
                    key=self._key(client_id, sub),
                    client_id=client_id,
                    identity=self._fernet.encrypt(identity.encode()).decode("ascii"),
                    created_at=now,
                    expires_at=now + self.max_age,
                )
            )

    def lookup(self, client_id: str, sub: str) -> str | None:
        with self.sessions() as s:
            row = s.get(SubjectLink, self._key(client_id, sub))
            if row is None or row.expires_at <= self.clock.now() or row.client_id != client_id:
                return None
            try:
                return self._fernet.decrypt(row.identity.encode("ascii")).decode()
            except InvalidToken:
                return None
