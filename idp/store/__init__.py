"""Durable data (SQLAlchemy models, sessions, server secrets) and the TTL store for
short-lived state (Redis, or in-process).

What other packages may use. The module `migrate` (Alembic) is public as a whole and is
imported only where the schema is upgraded or checked.
"""

from idp.store.db import (
    DRIVER_UNAVAILABLE,
    DatabaseUnavailable,
    make_engine,
    make_sessionmaker,
    ping,
    run_db,
)
from idp.store.memory import MemoryTTLStore
from idp.store.models import CibaAudit, Grant, RefreshToken, SigningKey, SubjectLink
from idp.store.redis import RedisTTLStore
from idp.store.secrets import sealer, server_secret
from idp.store.ttl import StoreUnavailable, TTLStore

__all__ = [
    "DRIVER_UNAVAILABLE",
    "CibaAudit",
    "DatabaseUnavailable",
    "Grant",
    "MemoryTTLStore",
    "RedisTTLStore",
    "RefreshToken",
    "SigningKey",
    "StoreUnavailable",
    "SubjectLink",
    "TTLStore",
    "make_engine",
    "make_sessionmaker",
    "migrate",
    "ping",
    "run_db",
    "sealer",
    "server_secret",
]
