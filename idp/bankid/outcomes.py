"""How a BankID order's end becomes a neutral authentication result: one table for the failed
hint codes and call errors (reference 2.3 and 3), one mapping from completionData to claims.
Used by the web login (orders.py, authenticator.py) and phone authentication (phone.py).

Claims, under this provider's names and those of the Swedish OIDC Claims and Scopes
Specification 1.0 (its claim-mappings document, §2 "BankID"): ``user.personalNumber`` is
``personalIdentityNumber`` (or ``coordinationNumber`` for a samordningsnummer, "never both",
§3.2); ``device.ipAddress`` is ``deviceIp``; the validity of the person's certificate,
``credentialValidFrom``/``credentialValidTo``, was ``completionData.cert`` until RP API v6.0
removed it, and is read here from the user certificate in the signature's ``KeyInfo`` (the
first certificate that is not a CA's); ``authnProvider`` names BankID; ``txn`` is a
transaction id of our own (BankID's ``orderRef`` never leaves this package), logged when the
order completes so that a relying party's report can be traced.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping
from typing import Any

from cryptography import x509

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

#: The Swedish OIDC claims (https://id.oidc.se/claim/...) a BankID login provides.
_CLAIM = "https://id.oidc.se/claim/"
PERSONAL_IDENTITY_NUMBER = _CLAIM + "personalIdentityNumber"
COORDINATION_NUMBER = _CLAIM + "coordinationNumber"
DEVICE_IP = _CLAIM + "deviceIp"
CREDENTIAL_VALID_FROM = _CLAIM + "credentialValidFrom"
CREDENTIAL_VALID_TO = _CLAIM + "credentialValidTo"
AUTHN_PROVIDER = _CLAIM + "authnProvider"
#: What `authnProvider` says: the BankID family of our acr values (the value a relying party
#: may send back as the `authnProvider` request parameter).
BANKID_PROVIDER = "urn:grn:authn:se:bankid"

_X509 = re.compile(rb"<(?:[A-Za-z][\w.-]*:)?X509Certificate>([A-Za-z0-9+/=\s]+)</")
_MAX_SIGNATURE = 512 * 1024  # base64 characters; BankID's are a few kB

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
        "txn": secrets.token_urlsafe(16),
    }


def credential_validity(signature: str | None) -> tuple[int, int] | None:
    """(notBefore, notAfter) of the person's certificate in a BankID signature, as epoch
    seconds; None when the signature holds none that can be read."""
    if not signature or len(signature) > _MAX_SIGNATURE:
        return None
    try:
        xml = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return None
    for match in _X509.finditer(xml):
        try:
            der = base64.b64decode(b"".join(match.group(1).split()), validate=True)
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            continue
        try:
            if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
                continue
        except x509.ExtensionNotFound:
            pass
        except ValueError:  # a malformed extension: not a certificate to read dates from
            continue
        return (
            int(cert.not_valid_before_utc.timestamp()),
            int(cert.not_valid_after_utc.timestamp()),
        )
    return None


def subject_of(completion: Mapping[str, Any]) -> str:
    """The person's identity in the authenticator's namespace (never sent to a client)."""
    return f"se-pnr:{completion['personal_number']}"


def claims_from_completion(c: Mapping[str, Any]) -> dict[str, Any]:
    """Candidate claims of a completed order; scopes decide which a client receives."""
    number = c["personal_number"]
    claims: dict[str, Any] = {
        "name": c["name"],
        "given_name": c["given_name"],
        "family_name": c["surname"],
        "ssn": number,
        "bankid_issue_date": c["bank_id_issue_date"],
        "bankid_signature": c["signature"],
        "bankid_ocsp_response": c["ocsp_response"],
        AUTHN_PROVIDER: BANKID_PROVIDER,
    }
    # A coordination number has 60 added to the day of birth (SKV 707).
    coordination = len(number) == 12 and number[6:8].isdigit() and int(number[6:8]) > 60
    claims[COORDINATION_NUMBER if coordination else PERSONAL_IDENTITY_NUMBER] = number
    try:
        claims["birthdate"] = pnr.birthdate(number).isoformat()
    except ValueError:
        pass
    if c.get("risk"):
        claims["bankid_risk"] = c["risk"]
    if c.get("device_ip"):
        claims[DEVICE_IP] = c["device_ip"]
    validity = credential_validity(c.get("signature"))
    if validity is not None:
        claims[CREDENTIAL_VALID_FROM], claims[CREDENTIAL_VALID_TO] = validity
    if c.get("txn"):
        claims["txn"] = c["txn"]
    return claims
