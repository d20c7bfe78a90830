"""Durable data (SQLAlchemy models, sessions, server secrets) and the TTL store for
short-lived state (Redis, or in-process).

What other packages may use. The module `migrate` (Alembic) is public as a whole and is
imported only where the schema is upgraded or checked; so is the module `redis`
(`RedisTTLStore`), imported only where a redis_url is configured.
"""

from idp.store.db import (
    DRIVER_UNAVAILABLE,
    DatabaseUnavailable,
    engine_of,
    in_db_thread,
    make_engine,
    make_sessionmaker,
    ping,
    run_db,
    schema_is_current,
)
from idp.store.memory import MemoryTTLStore
from idp.store.models import (
    ApprovalEvidence,
    CibaAudit,
    Grant,
    RefreshToken,
    SigningKey,
    SubjectLink,
)
from idp.store.sealed import Seal
from idp.store.secrets import sealer, server_secret
from idp.store.ttl import DueQueue, LinkedClaim, StoreBusy, StoreUnavailable, TTLStore

__all__ = [
    "DRIVER_UNAVAILABLE",
    "ApprovalEvidence",
    "CibaAudit",
    "DatabaseUnavailable",
    "DueQueue",
    "Grant",
    "LinkedClaim",
    "MemoryTTLStore",
    "RefreshToken",
    "Seal",
    "SigningKey",
    "StoreBusy",
    "StoreUnavailable",
    "SubjectLink",
    "TTLStore",
    "engine_of",
    "in_db_thread",
    "make_engine",
    "make_sessionmaker",
    "migrate",
    "ping",
    "redis",
    "run_db",
    "schema_is_current",
    "sealer",
    "server_secret",
]
