"""Wire types of the BankID RP API v6.0: enums, request parts and typed responses.

Responses are parsed leniently, as the reference (section 0) requires: unknown fields are
ignored, and unknown status, hint, risk and error codes become the `UNKNOWN` member of their
enum instead of failing. Missing *required* fields raise `BankIDProtocolError`.

Personal numbers and names are excluded from every `repr`, so logging a response never logs
personal data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from idp.bankid.errors import BankIDProtocolError


class _OpenEnum(StrEnum):
    """A string enum whose unknown values parse to `UNKNOWN` (new codes appear without notice)."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        return cls["UNKNOWN"]


class Status(_OpenEnum):
    PENDING = "pending"
    FAILED = "failed"
    COMPLETE = "complete"
    UNKNOWN = "unknown"


class HintCode(_OpenEnum):
    """`hintCode` of a collect response (reference sections 2.2 and 2.3)."""

    # pending
    OUTSTANDING_TRANSACTION = "outstandingTransaction"
    NO_CLIENT = "noClient"
    STARTED = "started"
    USER_MRTD = "userMrtd"
    USER_CALL_CONFIRM = "userCallConfirm"
    USER_SIGN = "userSign"
    PROCESSING = "processing"
    # failed
    EXPIRED_TRANSACTION = "expiredTransaction"
    CERTIFICATE_ERR = "certificateErr"
    USER_CANCEL = "userCancel"
    CANCELLED = "cancelled"
    START_FAILED = "startFailed"
    USER_DECLINED_CALL = "userDeclinedCall"
    NOT_SUPPORTED_BY_USER_APP = "notSupportedByUserApp"
    TRANSACTION_RISK_BLOCKED = "transactionRiskBlocked"
    UNKNOWN = "unknown"


class RiskLevel(_OpenEnum):
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    UNKNOWN = "unknown"


class CardReader(StrEnum):
    CLASS1 = "class1"
    CLASS2 = "class2"


class CallInitiator(StrEnum):
    """Who placed the phone call (`/phone/*`); the case is BankID's."""

    USER = "user"
    RP = "RP"


class UserVisibleDataFormat(StrEnum):
    SIMPLE_MARKDOWN_V1 = "simpleMarkdownV1"
    PLAINTEXT = "plaintext"


class TransactionType(StrEnum):
    CARD = "card"
    NPA = "npa"


# --- request parts -------------------------------------------------------------------------


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


@dataclass(frozen=True)
class Requirement:
    """`requirement` (reference 1.8). `None` members are left out of the request."""

    pin_code: bool | None = None
    mrtd: bool | None = None
    card_reader: CardReader | None = None
    certificate_policies: tuple[str, ...] = ()
    personal_number: str | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return _drop_none(
            {
                "pinCode": self.pin_code,
                "mrtd": self.mrtd,
                "cardReader": None if self.card_reader is None else str(self.card_reader),
                "certificatePolicies": list(self.certificate_policies) or None,
                "personalNumber": self.personal_number,
            }
        )


@dataclass(frozen=True)
class WebDevice:
    """`web` device data (reference 1.10); send it or `AppDevice`, never both."""

    referring_domain: str | None = None
    user_agent: str | None = None
    device_identifier: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _drop_none(
            {
                "referringDomain": self.referring_domain,
                "userAgent": self.user_agent,
                "deviceIdentifier": self.device_identifier,
            }
        )


@dataclass(frozen=True)
class AppDevice:
    """`app` device data (reference 1.10)."""

    app_identifier: str | None = None
    device_os: str | None = None
    device_model_name: str | None = None
    device_identifier: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _drop_none(
            {
                "appIdentifier": self.app_identifier,
                "deviceOS": self.device_os,
                "deviceModelName": self.device_model_name,
                "deviceIdentifier": self.device_identifier,
            }
        )


@dataclass(frozen=True)
class Money:
    amount: str  # digits with at most one "," as decimal separator, e.g. "1000,00"
    currency: str  # ISO 4217


@dataclass(frozen=True)
class UserVisibleTransaction:
    """`userVisibleTransaction` of `/payment` (reference 1.3)."""

    transaction_type: TransactionType
    recipient_name: str
    money: Money | None = None
    risk_warning: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _drop_none(
            {
                "transactionType": str(self.transaction_type),
                "recipient": {"name": self.recipient_name},
                "money": None
                if self.money is None
                else {"amount": self.money.amount, "currency": self.money.currency},
                "riskWarning": self.risk_warning,
            }
        )


# --- responses -------------------------------------------------------------------------------


def _require(data: dict[str, Any], key: str, kind: type = str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise BankIDProtocolError(f"response field {key!r} is missing or not a {kind.__name__}")
    return value


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class OrderResponse:
    """Answer to `/auth`, `/sign` and `/payment`.

    `received_at` is the injected clock's time when the answer arrived: the origin of the
    animated QR's `t` (reference 4.1 step 1). `qr_start_secret` must stay on the server.
    """

    order_ref: str
    auto_start_token: str
    qr_start_token: str
    qr_start_secret: str = field(repr=False)
    received_at: float

    @classmethod
    def from_json(cls, data: dict[str, Any], received_at: float) -> OrderResponse:
        return cls(
            order_ref=_require(data, "orderRef"),
            auto_start_token=_require(data, "autoStartToken"),
            qr_start_token=_require(data, "qrStartToken"),
            qr_start_secret=_require(data, "qrStartSecret"),
            received_at=received_at,
        )


@dataclass(frozen=True)
class PhoneOrderResponse:
    """Answer to `/phone/auth` and `/phone/sign`: only an `orderRef` (reference 1.4)."""

    order_ref: str
    received_at: float

    @classmethod
    def from_json(cls, data: dict[str, Any], received_at: float) -> PhoneOrderResponse:
        return cls(order_ref=_require(data, "orderRef"), received_at=received_at)


@dataclass(frozen=True)
class User:
    personal_number: str = field(repr=False)
    name: str = field(repr=False)
    given_name: str = field(repr=False)
    surname: str = field(repr=False)


@dataclass(frozen=True)
class Device:
    ip_address: str
    uhi: str | None = None


@dataclass(frozen=True)
class StepUp:
    mrtd: bool


@dataclass(frozen=True)
class CompletionData:
    """`completionData` of a complete order (reference 2.4); keep all of it as evidence."""

    user: User
    device: Device
    bank_id_issue_date: str
    signature: str = field(repr=False)  # base64 XML signature
    ocsp_response: str = field(repr=False)  # base64 DER OCSP response
    step_up: StepUp | None = None
    risk: RiskLevel | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CompletionData:
        user = _require(data, "user", dict)
        device = _require(data, "device", dict)
        step_up = data.get("stepUp")
        risk = _optional_str(data, "risk")
        return cls(
            user=User(
                personal_number=_require(user, "personalNumber"),
                name=_require(user, "name"),
                given_name=_require(user, "givenName"),
                surname=_require(user, "surname"),
            ),
            device=Device(
                ip_address=_require(device, "ipAddress"), uhi=_optional_str(device, "uhi")
            ),
            bank_id_issue_date=_require(data, "bankIdIssueDate"),
            signature=_require(data, "signature"),
            ocsp_response=_require(data, "ocspResponse"),
            step_up=StepUp(mrtd=bool(step_up.get("mrtd"))) if isinstance(step_up, dict) else None,
            risk=None if risk is None else RiskLevel(risk),
        )


@dataclass(frozen=True)
class CollectResponse:
    """Answer to `/collect` (reference 2.1).

    `hint_code` is set for pending and failed orders, `completion_data` for complete ones.
    `raw_hint_code` keeps the code as sent, useful when `hint_code` is `UNKNOWN`.
    """

    order_ref: str
    status: Status
    hint_code: HintCode | None = None
    completion_data: CompletionData | None = None
    raw_hint_code: str | None = None

    @property
    def is_final(self) -> bool:
        return self.status is not Status.PENDING

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CollectResponse:
        status = Status(_require(data, "status"))
        raw_hint = _optional_str(data, "hintCode")
        completion = data.get("completionData")
        if status is Status.COMPLETE and not isinstance(completion, dict):
            raise BankIDProtocolError("a complete order has no completionData")
        return cls(
            order_ref=_require(data, "orderRef"),
            status=status,
            hint_code=None if raw_hint is None else HintCode(raw_hint),
            completion_data=CompletionData.from_json(completion)
            if status is Status.COMPLETE and isinstance(completion, dict)
            else None,
            raw_hint_code=raw_hint,
        )
