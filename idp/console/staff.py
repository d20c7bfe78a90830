"""Who may use the console: the configured staff and operators, matched on sign-in.

An entry names a person by the pseudonymous `sub` the console's client receives, or by
``personal_number_hmac`` (HMAC-SHA256 under console.staff_key of the personal number, made by
`idp console-staff-hash`), so the configuration never holds a number. The number from the ID
token or userinfo is hashed and compared in constant time, then dropped: it is never stored.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from idp.authn.personal_number import InvalidPersonalNumber, parse
from idp.config import PERSONAL_IDENTITY_NUMBER_CLAIM, ConsoleSettings, StaffMember, staff_hmac

#: The claims that carry the personal number (the scope ssn, or OIDC Sweden's name).
NUMBER_CLAIMS = ("ssn", PERSONAL_IDENTITY_NUMBER_CLAIM)


@dataclass(frozen=True)
class StaffIdentity:
    """A signed-in staff member: the provider's `sub`, the configured name, and the role."""

    sub: str
    name: str
    operator: bool


def personal_number_of(*claim_sets: Mapping[str, Any]) -> str | None:
    for claims in claim_sets:
        for name in NUMBER_CLAIMS:
            value = claims.get(name)
            if isinstance(value, str):
                try:
                    return parse(value)
                except InvalidPersonalNumber:
                    return None
    return None


def _matches(member: StaffMember, sub: str, hashed: str | None) -> bool:
    if member.sub is not None:
        return hmac.compare_digest(member.sub.encode(), sub.encode())
    if hashed is None or member.personal_number_hmac is None:
        return False
    return hmac.compare_digest(member.personal_number_hmac.encode(), hashed.encode())


def identify(
    console: ConsoleSettings, sub: str, personal_number: str | None
) -> StaffIdentity | None:
    """The staff member `sub` (with `personal_number`, if the provider released it) is, or
    None for someone not on the lists."""
    hashed = None
    if personal_number is not None and console.staff_key is not None:
        hashed = staff_hmac(console.staff_key.get(), personal_number)
    operator = next((m for m in console.operators if _matches(m, sub, hashed)), None)
    member = operator or next((m for m in console.staff if _matches(m, sub, hashed)), None)
    if member is None:
        return None
    return StaffIdentity(sub=sub, name=member.name, operator=operator is not None)
