"""The `sub` claim: a stable pseudonym, never the personal number (OIDC Core §8).

sub = base64url(HMAC-SHA256(server subject secret, identity)). Pairwise clients get a value
that also depends on their sector, so two sectors cannot correlate a person (§8.1). The
secret is shared by every instance; changing it changes every sub.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

from idp.config import ClientSettings


def _mac(secret: bytes, message: str) -> str:
    digest = hmac.new(secret, message.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sector_of(client: ClientSettings) -> str:
    if client.pairwise_sector:
        return client.pairwise_sector
    hosts = sorted({urlsplit(u).hostname or "" for u in client.redirect_uris})
    return hosts[0] if hosts else client.client_id


def subject_for(secret: bytes, client: ClientSettings, identity: str) -> str:
    if client.subject_type == "pairwise":
        return _mac(secret, f"pairwise|{sector_of(client)}|{identity}")
    return _mac(secret, f"public|{identity}")


def sid_for(secret: bytes, client: ClientSettings, sid: str) -> str:
    """The `sid` this client sees for a session. A pairwise client gets its own value, keyed
    like its subject, so two clients cannot join their logins by `sid` where they cannot by
    `sub` (OIDC Core §8.1); a public-subject client sees the session's own sid. The session's
    real sid stays internal (grants are ended by it at logout)."""
    if client.subject_type == "pairwise":
        return _mac(secret, f"sid|{client.client_id}|{sid}")
    return sid
