"""Personal data in the TTL store, sealed: SSO sessions, login transactions and BankID results
hold personal numbers, names and BankID evidence, and a copy of Redis (a dump, a replica, a
backup) must not show them. Sealed as grants are (Fernet under a key derived from a server
secret for one purpose, `idp.store.secrets.sealer`), so only the provider's instances open them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from idp.store.secrets import sealer

log = logging.getLogger(__name__)


class Seal:
    """Seals JSON values into one opaque string, and opens them again."""

    def __init__(self, fernet: Fernet) -> None:
        self._fernet = fernet

    @classmethod
    def from_secret(cls, secret: bytes, purpose: str) -> Seal:
        """Shared by every instance that has the same server secret."""
        return cls(sealer(secret, purpose))

    @classmethod
    def ephemeral(cls) -> Seal:
        """A key of this process only (tests, a component built without a secret)."""
        return cls(Fernet(Fernet.generate_key()))

    def seal(self, value: Any) -> str:
        return self._fernet.encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()

    def open(self, sealed: Any) -> Any:
        """The value; None when it is absent or cannot be opened (sealed under another
        secret, or damaged), which callers treat as no entry."""
        if not isinstance(sealed, str):
            return None
        try:
            return json.loads(self._fernet.decrypt(sealed.encode("ascii")))
        except (InvalidToken, UnicodeEncodeError, ValueError):
            log.warning("a sealed entry could not be opened; treating it as absent")
            return None
