"""The animated QR code (reference section 4).

Content: ``bankid.{qrStartToken}.{t}.{qrAuthCode}`` where ``t`` is the whole seconds since the
order response arrived and ``qrAuthCode`` is the lowercase hex HMAC-SHA256 of ``str(t)`` keyed
with the ASCII bytes of ``qrStartSecret``. Computed on the server only: the secret never
reaches the browser (reference 4.1 step 6), which gets the frame text and draws it itself.
Time comes from an injected clock.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import math
import re
from dataclasses import dataclass

import segno

from idp.bankid.models import OrderResponse
from idp.clock import Clock

QR_PREFIX = "bankid"

_PAYLOAD = re.compile(r"^bankid\.([^.\s]+)\.(0|[1-9][0-9]{0,8})\.([0-9a-f]{64})$")


def elapsed_seconds(order_time: float, now: float) -> int:
    """``t``: whole seconds since the order response, floored (reference 4.1 step 7)."""
    return max(0, math.floor(now - order_time))


def next_frame_at(order_time: float, now: float) -> float:
    """When ``t`` next changes: the order's next whole-second boundary after `now`."""
    return order_time + elapsed_seconds(order_time, now) + 1


def qr_auth_code(qr_start_secret: str, t: int) -> str:
    return hmac.new(
        qr_start_secret.encode("ascii"), str(t).encode("ascii"), hashlib.sha256
    ).hexdigest()


def qr_payload(qr_start_token: str, qr_start_secret: str, t: int) -> str:
    """The QR content for second ``t`` of the order."""
    return f"{QR_PREFIX}.{qr_start_token}.{t}.{qr_auth_code(qr_start_secret, t)}"


def current_qr_payload(order: OrderResponse, clock: Clock) -> str:
    """The QR content to show now for an order started with `/auth`, `/sign` or `/payment`."""
    t = elapsed_seconds(order.received_at, clock.now())
    return qr_payload(order.qr_start_token, order.qr_start_secret, t)


@dataclass(frozen=True)
class ScannedQR:
    qr_start_token: str
    t: int
    qr_auth_code: str


def parse_qr_payload(payload: str) -> ScannedQR:
    """Split QR content into its parts; raises ValueError when it is not a BankID frame."""
    m = _PAYLOAD.match(payload)
    if m is None:
        raise ValueError("not a BankID animated QR code: expected bankid.<token>.<t>.<64 hex>")
    return ScannedQR(qr_start_token=m.group(1), t=int(m.group(2)), qr_auth_code=m.group(3))


def verify_qr_auth_code(qr_start_secret: str, scanned: ScannedQR) -> bool:
    return hmac.compare_digest(qr_auth_code(qr_start_secret, scanned.t), scanned.qr_auth_code)


def qr_svg(
    payload: str,
    *,
    title: str = "BankID QR code. Scan it with the BankID app.",
    scale: int = 4,
    border: int = 4,
) -> str:
    """An inline SVG of the QR code with a text alternative (title, role and aria-label)."""
    code = segno.make(payload, error="m", micro=False)
    svg = code.svg_inline(scale=scale, border=border, title=title, svgclass="bankid-qr")
    label = html.escape(title, quote=True)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)
