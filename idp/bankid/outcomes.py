"""How a BankID order's end becomes a neutral authentication result: one table for the failed
hint codes and call errors (reference 2.3 and 3), one mapping from completionData to claims.
Used by the web login (orders.py, authenticator.py) and phone authentication (phone.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idp.authn import FailureReason
from idp.authn import personal_number as pnr
from idp.bankid.errors import (
    AlreadyInProgress,
    BankIDError,
    InternalError,
    Maintenance,
    RateLimited,
    RequestTimeout,
    TransportError,
)
from idp.bankid.models import CompletionData, HintCode

# Failed hint codes -> the neutral reason the protocol core answers with (reference 2.3).
FAILED_REASONS: dict[HintCode, FailureReason] = {
    HintCode.USER_CANCEL: FailureReason.CANCELLED,
    HintCode.CANCELLED: FailureReason.CANCELLED,
    HintCode.USER_DECLINED_CALL: FailureReason.DECLINED,
    HintCode.EXPIRED_TRANSACTION: FailureReason.EXPIRED,
    HintCode.START_FAILED: FailureReason.START_FAILED,
    HintCode.CERTIFICATE_ERR: FailureReason.REJECTED,
    HintCode.TRANSACTION_RISK_BLOCKED: FailureReason.REJECTED,
    HintCode.NOT_SUPPORTED_BY_USER_APP: FailureReason.REJECTED,
}


def failed_reason(hint: HintCode | None) -> FailureReason:
    """An unknown failed hint code is final and refused (reference 2.1: RFA22)."""
    return FAILED_REASONS.get(hint, FailureReason.REJECTED) if hint else FailureReason.REJECTED


def error_reason(exc: BankIDError) -> FailureReason:
    """A failed call -> neutral reason: BankID unreachable or busy is `UNAVAILABLE`."""
    if isinstance(exc, AlreadyInProgress):
        # Reference 3: both orders are cancelled; the person must not be asked twice at once.
        return FailureReason.IN_PROGRESS
    if isinstance(exc, TransportError | Maintenance | RateLimited | InternalError | RequestTimeout):
        return FailureReason.UNAVAILABLE
    return FailureReason.INTERNAL  # invalidParameters, unauthorized, ...: a fault on our side


def completion_json(cd: CompletionData) -> dict[str, Any]:
    """completionData as stored once, in the TTL store, when an order completes."""
    return {
        "personal_number": cd.user.personal_number,
        "name": cd.user.name,
        "given_name": cd.user.given_name,
        "surname": cd.user.surname,
        "bank_id_issue_date": cd.bank_id_issue_date,
        "signature": cd.signature,
        "ocsp_response": cd.ocsp_response,
        "risk": None if cd.risk is None else str(cd.risk),
        "device_ip": cd.device.ip_address,
        "uhi": cd.device.uhi,
        "mrtd": None if cd.step_up is None else cd.step_up.mrtd,
    }


def subject_of(completion: Mapping[str, Any]) -> str:
    """The person's identity in the authenticator's namespace (never sent to a client)."""
    return f"se-pnr:{completion['personal_number']}"


def claims_from_completion(c: Mapping[str, Any]) -> dict[str, Any]:
    """Candidate claims of a completed order; scopes decide which a client receives."""
    claims: dict[str, Any] = {
        "name": c["name"],
        "given_name": c["given_name"],
        "family_name": c["surname"],
        "ssn": c["personal_number"],
        "bankid_issue_date": c["bank_id_issue_date"],
        "bankid_signature": c["signature"],
        "bankid_ocsp_response": c["ocsp_response"],
    }
    try:
        claims["birthdate"] = pnr.birthdate(c["personal_number"]).isoformat()
    except ValueError:
        pass
    if c.get("risk"):
        claims["bankid_risk"] = c["risk"]
    return claims
