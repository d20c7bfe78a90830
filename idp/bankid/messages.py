"""Which RFA message to show, as one declarative table (reference section 7.3).

The QR flow (another device), the same-device (autostart) flow and the phone flow differ:
``outstandingTransaction`` is RFA1 with a QR code but RFA13 after an autostart on a computer
(RFA1 on a phone, where the app opens only on a tap), and
``startFailed`` is RFA17B with a QR code but RFA17A after an autostart. ``started`` depends on
the device: RFA15A on a computer, RFA15B on a phone or tablet. Unknown pending codes are RFA21,
unknown failures RFA22 (reference 2.1). Errors carry their RFA on the class (`errors.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from idp.bankid.errors import BankIDError
from idp.bankid.launch import Platform
from idp.bankid.models import CollectResponse, HintCode, Status
from idp.bankid.rfa import RFA, Message, message


class Flow(StrEnum):
    QR = "qr"
    SAME_DEVICE = "same_device"
    PHONE = "phone"


@dataclass(frozen=True)
class ByPlatform:
    desktop: RFA
    mobile: RFA


_ANY = None  # a row that applies to every flow

#: (status, hintCode, flow or _ANY) -> message. Rows for a specific flow win over _ANY rows.
TABLE: dict[tuple[Status, HintCode, Flow | None], RFA | ByPlatform] = {
    (Status.PENDING, HintCode.OUTSTANDING_TRANSACTION, Flow.QR): RFA.RFA1,
    # RFA13 ("Trying to start your BankID app") only where the page opens the app by itself,
    # on a computer; on a phone nothing starts until the person taps, so RFA1 ("Start ...").
    (Status.PENDING, HintCode.OUTSTANDING_TRANSACTION, Flow.SAME_DEVICE): ByPlatform(
        desktop=RFA.RFA13, mobile=RFA.RFA1
    ),
    (Status.PENDING, HintCode.OUTSTANDING_TRANSACTION, Flow.PHONE): RFA.RFA1,
    (Status.PENDING, HintCode.NO_CLIENT, _ANY): RFA.RFA1,
    (Status.PENDING, HintCode.STARTED, _ANY): ByPlatform(desktop=RFA.RFA15A, mobile=RFA.RFA15B),
    (Status.PENDING, HintCode.USER_SIGN, _ANY): RFA.RFA9,
    (Status.PENDING, HintCode.USER_MRTD, _ANY): RFA.RFA23,
    (Status.PENDING, HintCode.USER_CALL_CONFIRM, _ANY): RFA.RFA21,
    (Status.PENDING, HintCode.PROCESSING, _ANY): RFA.RFA21,
    (Status.PENDING, HintCode.UNKNOWN, _ANY): RFA.RFA21,
    (Status.FAILED, HintCode.START_FAILED, Flow.QR): RFA.RFA17B,
    (Status.FAILED, HintCode.START_FAILED, Flow.SAME_DEVICE): RFA.RFA17A,
    (Status.FAILED, HintCode.START_FAILED, Flow.PHONE): RFA.RFA17A,
    (Status.FAILED, HintCode.EXPIRED_TRANSACTION, _ANY): RFA.RFA8,
    (Status.FAILED, HintCode.CERTIFICATE_ERR, _ANY): RFA.RFA16,
    (Status.FAILED, HintCode.USER_CANCEL, _ANY): RFA.RFA6,
    (Status.FAILED, HintCode.CANCELLED, _ANY): RFA.RFA3,
    (Status.FAILED, HintCode.USER_DECLINED_CALL, _ANY): RFA.RFA22,
    (Status.FAILED, HintCode.NOT_SUPPORTED_BY_USER_APP, _ANY): RFA.RFA22,
    (Status.FAILED, HintCode.TRANSACTION_RISK_BLOCKED, _ANY): RFA.RFA22,
    (Status.FAILED, HintCode.UNKNOWN, _ANY): RFA.RFA22,
}

# A hint code that arrives with an unexpected status falls back per status.
_FALLBACK: dict[Status, RFA] = {Status.PENDING: RFA.RFA21, Status.FAILED: RFA.RFA22}


def message_for(
    status: Status,
    hint_code: HintCode | None,
    flow: Flow,
    *,
    platform: Platform = Platform.DESKTOP,
) -> Message | None:
    """The message for a collect result; ``None`` for a complete order (nothing to say)."""
    if status is Status.COMPLETE:
        return None
    if status is Status.UNKNOWN:
        return message(RFA.RFA22)
    hint = hint_code or HintCode.UNKNOWN
    row = TABLE.get((status, hint, flow)) or TABLE.get((status, hint, _ANY))
    if row is None:
        return message(_FALLBACK[status])
    if isinstance(row, ByPlatform):
        return message(row.mobile if platform.is_mobile else row.desktop)
    return message(row)


def message_for_collect(
    result: CollectResponse, flow: Flow, *, platform: Platform = Platform.DESKTOP
) -> Message | None:
    return message_for(result.status, result.hint_code, flow, platform=platform)


def message_for_error(error: BankIDError) -> Message:
    """The message for a failed call: RFA4, RFA5 or RFA22 as each error class declares."""
    return message(error.rfa)
