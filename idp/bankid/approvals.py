"""Approvals in BankID: a signature (`/sign`) or a payment (`/payment`) instead of `/auth`.

The core hands over what to approve (`idp.authn.approval.Approval`, from the client's
`authorization_details`); this module turns it into the BankID order. The visible text and
the payment's transaction are the client's, exactly; the non-visible data is the approval's
binding text (issuer, client, request, and a digest of what was shown, with the client's own
data), so the signature names the request it was made for and cannot be presented for
another."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idp.authn.approval import AUTHN_EVIDENCE, PAYMENT, USER_SIGNATURE, Approval
from idp.bankid.client import BankIDClient
from idp.bankid.models import (
    CardReader,
    Money,
    OrderResponse,
    Requirement,
    TransactionType,
    UserVisibleDataFormat,
    UserVisibleTransaction,
    WebDevice,
)


def requirement_of(approval: Approval, personal_number: str | None) -> Requirement | None:
    """BankID's `requirement` from the approval's (and the person the client named)."""
    r = approval.requirement
    if not r and not personal_number:
        return None
    reader = r.get("cardReader")
    return Requirement(
        pin_code=r.get("pinCode"),
        mrtd=r.get("mrtd"),
        card_reader=None if reader is None else CardReader(reader),
        certificate_policies=tuple(r.get("certificatePolicies", ())),
        personal_number=personal_number,
    )


def transaction_of(approval: Approval) -> UserVisibleTransaction:
    t: Mapping[str, Any] = approval.transaction or {}
    money = t.get("money")
    return UserVisibleTransaction(
        transaction_type=TransactionType(t["transactionType"]),
        recipient_name=str(t["recipient"]["name"]),
        money=None if money is None else Money(str(money["amount"]), str(money["currency"])),
        risk_warning=t.get("riskWarning"),
    )


async def approval_order(
    client: BankIDClient,
    approval: Approval,
    binding: str,
    personal_number: str | None,
    *,
    end_user_ip: str,
    return_url: str | None,
    return_risk: bool,
    web: WebDevice | None,
) -> OrderResponse:
    """Start the BankID order that has the person approve `approval` (`/sign` or `/payment`)."""
    fmt = UserVisibleDataFormat.SIMPLE_MARKDOWN_V1 if approval.markdown and approval.text else None
    common: dict[str, Any] = {
        "end_user_ip": end_user_ip,
        "requirement": requirement_of(approval, personal_number),
        "user_non_visible_data": approval.binding_text(binding),
        "user_visible_data_format": fmt,
        "return_url": return_url,
        "return_risk": return_risk,
        "web": web,
    }
    if approval.type == PAYMENT:
        return await client.payment(
            user_visible_transaction=transaction_of(approval),
            risk_flags=approval.risk_flags,
            user_visible_data=approval.text,
            **common,
        )
    assert approval.text is not None  # a signature always shows its text
    return await client.sign(user_visible_data=approval.text, **common)


def evidence_claims(completion: Mapping[str, Any]) -> dict[str, Any]:
    """The approval's evidence as claims (OIDC Sweden Signature Extension §3.2.1): BankID's
    signature and its OCSP response, as BankID returned them (base64)."""
    return {
        USER_SIGNATURE: completion["signature"],
        AUTHN_EVIDENCE: completion["ocsp_response"],
    }


__all__ = ["approval_order", "evidence_claims", "requirement_of", "transaction_of"]
