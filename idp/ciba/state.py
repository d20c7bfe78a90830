"""Backchannel requests in the TTL store, shared by every instance.

Kinds (all keyed by auth_req_id):

* ``ciba``: the request record (`CibaRequest`). It never holds the personal number: the person
  is kept as the pseudonymous `sub` the client will receive. It outlives `expires_at` by
  `grace` seconds (``ciba.remember_seconds``) so a late poll gets ``expired_token`` and a
  replay ``invalid_grant``. Tokens
  are handed out after `consume`, which is true for exactly one caller across instances.
* ``ciba_poll``: a lease taken with `add` (SET NX) for the current interval at each pending
  poll. A poll that finds it held was too fast: ``slow_down``.
* ``ciba_slow``: a counter of slow_down answers; the interval is ``interval + 5 * count``.
* ``ciba_follow``: the lease of the one instance that follows the authentication.
* ``ciba_ping``: set once the ping notification was sent (never twice).
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, replace
from typing import Any

REQUEST = "ciba"
POLL = "ciba_poll"
SLOW = "ciba_slow"
FOLLOW = "ciba_follow"
PING = "ciba_ping"

GRACE = 300.0  # seconds a record is kept after it expired, unless configured
SLOW_DOWN_STEP = 5  # CIBA Core §11: "MUST increase the interval by at least 5 seconds"


class Status(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"  # authenticated; tokens not yet fetched
    DENIED = "denied"  # cancelled, declined, rejected or failed
    EXPIRED = "expired"
    REDEEMED = "redeemed"  # tokens were handed out


@dataclass(frozen=True)
class CibaRequest:
    """A backchannel request as stored; `id` is the auth_req_id (a bearer value: not in repr)."""

    id: str = field(repr=False)
    client_id: str
    scope: str
    sub: str = field(repr=False)
    created_at: float
    expires_at: float
    interval: int
    delivery_mode: str
    audit_id: str
    acr_values: tuple[str, ...] = ()
    notification_token: str | None = field(default=None, repr=False)
    status: Status = Status.PENDING
    reason: str | None = None
    # When approved: acr, amr, auth_time and the claims the granted scopes release.
    result: dict[str, Any] | None = field(default=None, repr=False)
    grace: float = GRACE
    #: RFC 9396: what the person is asked to approve (the parsed details), granted with the
    #: tokens once they approved it. Holds the client's text: not in repr.
    authorization_details: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    #: How far the person has come while pending (`idp.authn.Pending.progress`), told to the
    #: client with authorization_pending.
    progress: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["acr_values"] = list(self.acr_values)
        d["authorization_details"] = list(self.authorization_details)
        d["status"] = self.status.value
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CibaRequest:
        return cls(
            **{
                **d,
                "acr_values": tuple(d.get("acr_values", ())),
                "authorization_details": tuple(d.get("authorization_details", ())),
                "status": Status(d["status"]),
            }
        )

    def with_outcome(
        self, status: Status, reason: str | None, result: dict[str, Any] | None = None
    ) -> CibaRequest:
        return replace(self, status=status, reason=reason, result=result)

    def expired(self, now: float) -> bool:
        return now >= self.expires_at

    @property
    def ttl(self) -> float:
        return self.expires_at - self.created_at + self.grace
