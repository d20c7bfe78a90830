"""The simulator's RP API: ``POST /rp/v6.0/{endpoint}`` for every v6.0 endpoint.

Validation follows the reference (sections 1 and 3) as a list of small ``check_*`` steps, and
errors use BankID's body ``{"errorCode": ..., "details": ...}``:

* 400 ``invalidParameters``: malformed or missing fields, unknown fields, bad base64, data too
  long, a personal number that is not 12 digits with a valid check digit, an empty or too long
  ``returnUrl``, ``web`` and ``app`` together, an unknown or forgotten ``orderRef``, cancelling
  an order twice or after it ended;
* 400 ``alreadyInProgress``: a new order for a person who has one in progress (both orders end
  up cancelled, as reported by resellers);
* 404 ``notFound``: a wrong path; 405 ``methodNotAllowed``: anything but POST;
* 415 ``unsupportedMediaType``: a Content-Type other than exactly ``application/json``
  (a ``charset`` parameter included).
"""

from __future__ import annotations

import base64
import binascii
import collections
import ipaddress
import random
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idp.authn import safejson
from idp.authn.personal_number import is_valid
from idp.bankid.simulator.orders import (
    AlreadyInProgressError,
    Kind,
    Order,
    OrderBook,
    Transaction,
)
from idp.bankid.simulator.settings import Fault, SimulatorSettings, UnknownOrderRef


class WireError(Exception):
    def __init__(
        self, status: int, code: str, details: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(details)
        self.status, self.code, self.details, self.headers = status, code, details, headers

    def response(self) -> Response:
        return JSONResponse(
            {"errorCode": self.code, "details": self.details}, self.status, headers=self.headers
        )


def invalid(details: str) -> WireError:
    return WireError(400, "invalidParameters", details)


Body = dict[str, Any]

# Limits of the base64 text, (userVisibleData, userNonVisibleData), reference 1.1 and 1.2.
_AUTH_LIMITS = (1_500, 1_500)
_SIGN_LIMITS = (40_000, 200_000)
_ORDER_FIELDS = {
    "endUserIp",
    "requirement",
    "userVisibleData",
    "userNonVisibleData",
    "userVisibleDataFormat",
    "returnUrl",
    "returnRisk",
    "web",
    "app",
}
_PHONE_FIELDS = {
    "personalNumber",
    "callInitiator",
    "requirement",
    "userVisibleData",
    "userNonVisibleData",
    "userVisibleDataFormat",
}
ALLOWED_FIELDS: dict[str, set[str]] = {
    "auth": _ORDER_FIELDS,
    "sign": _ORDER_FIELDS,
    "payment": _ORDER_FIELDS | {"userVisibleTransaction", "riskFlags"},
    "phone/auth": _PHONE_FIELDS,
    "phone/sign": _PHONE_FIELDS,
    "collect": {"orderRef"},
    "cancel": {"orderRef"},
}
_REQUIREMENT_FIELDS = {
    "pinCode",
    "mrtd",
    "cardReader",
    "certificatePolicies",
    "personalNumber",
    "risk",
}
_WEB_FIELDS = {"referringDomain", "userAgent", "deviceIdentifier"}
_APP_FIELDS = {"appIdentifier", "deviceOS", "deviceModelName", "deviceIdentifier"}
_POLICY = re.compile(r"^[0-9]+(\.[0-9]+){3,}(\.\*)?$|^[0-9]+(\.[0-9]+)*$")
_DOMAIN = re.compile(r"^[a-z0-9.-]{1,253}$")
_RISK_FLAGS = {
    "newCard",
    "newCustomer",
    "newRecipient",
    "highRiskRecipient",
    "largeAmount",
    "foreignCurrency",
    "cryptoCurrencyPurchase",
    "moneyTransfer",
    "overseasTransaction",
    "recurringPayment",
    "suspiciousPaymentPattern",
    "other",
}
_AMOUNT = re.compile(r"^[0-9]+(,[0-9]+)?$")


def _personal_number(value: Any, field: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{12}", value) or not is_valid(value):
        raise invalid(f"Incorrect {field}")
    return value


def check_fields(endpoint: str, body: Body) -> None:
    unknown = sorted(set(body) - ALLOWED_FIELDS[endpoint])
    if unknown:
        raise invalid(f"Unknown parameter: {unknown[0]}")


def check_end_user_ip(body: Body) -> str:
    value = body.get("endUserIp")
    try:
        return str(ipaddress.ip_address(value if isinstance(value, str) else ""))
    except ValueError:
        raise invalid("Incorrect endUserIp") from None


def check_requirement(body: Body) -> tuple[str | None, bool]:
    """(requirement.personalNumber, requirement.mrtd)."""
    req = body.get("requirement")
    if req is None:
        return None, False
    if not isinstance(req, dict):
        raise invalid("Incorrect requirement")
    unknown = sorted(set(req) - _REQUIREMENT_FIELDS)
    if unknown:
        raise invalid(f"Unknown parameter: requirement.{unknown[0]}")
    for flag in ("pinCode", "mrtd"):
        if flag in req and not isinstance(req[flag], bool):
            raise invalid(f"Incorrect requirement.{flag}")
    if "cardReader" in req and req["cardReader"] not in ("class1", "class2"):
        raise invalid("Incorrect requirement.cardReader")
    if "risk" in req and req["risk"] not in ("low", "moderate"):  # deprecated, reference 1.8
        raise invalid("Incorrect requirement.risk")
    policies = req.get("certificatePolicies", [])
    if not isinstance(policies, list) or not all(
        isinstance(p, str) and _POLICY.match(p) for p in policies
    ):
        raise invalid("Incorrect requirement.certificatePolicies")
    number = req.get("personalNumber")
    if number is not None:
        number = _personal_number(number, "requirement.personalNumber")
    return number, bool(req.get("mrtd", False))


def _base64_text(body: Body, field: str, limit: int) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise invalid(f"Incorrect {field}: 1..{limit} base64 characters")
    try:
        base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise invalid(f"Incorrect {field}: not base64 of UTF-8 text") from None
    return value


def check_data(body: Body, limits: tuple[int, int], *, visible_required: bool) -> Body:
    visible = _base64_text(body, "userVisibleData", limits[0])
    if visible is None and visible_required:
        raise invalid("Missing userVisibleData")
    fmt = body.get("userVisibleDataFormat")
    if fmt is not None and (fmt not in ("simpleMarkdownV1", "plaintext") or visible is None):
        raise invalid("Incorrect userVisibleDataFormat")
    return {
        "user_visible_data": visible,
        "user_non_visible_data": _base64_text(body, "userNonVisibleData", limits[1]),
        "user_visible_data_format": fmt,
    }


def check_return(body: Body) -> Body:
    url = body.get("returnUrl")
    if url is not None and (
        not isinstance(url, str)
        or not 1 <= len(url) <= 512
        or not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$", url)
    ):
        raise invalid("Invalid returnUrl")
    risk = body.get("returnRisk", False)
    if not isinstance(risk, bool):
        raise invalid("Incorrect returnRisk")
    return {"return_url": url, "return_risk": risk}


def check_device(body: Body) -> None:
    if "web" in body and "app" in body:
        raise invalid("Only one of web and app may be given")
    for key, allowed in (("web", _WEB_FIELDS), ("app", _APP_FIELDS)):
        if key not in body:
            continue
        data = body[key]
        if not isinstance(data, dict) or not data:
            raise invalid(f"Incorrect {key}")
        for name, value in data.items():
            if name not in allowed or not isinstance(value, str) or not value:
                raise invalid(f"Incorrect {key}.{name}")
        domain = data.get("referringDomain") if key == "web" else None
        if domain is not None and not _DOMAIN.match(domain):
            raise invalid("Incorrect web.referringDomain")


def check_payment(body: Body) -> Body:
    """``userVisibleTransaction`` and ``riskFlags`` of /payment (reference 1.3), as the order
    keeps them for the app to show."""
    tx = body.get("userVisibleTransaction")
    if not isinstance(tx, dict):
        raise invalid("Missing userVisibleTransaction")
    kind = tx.get("transactionType")
    recipient = tx.get("recipient")
    if kind not in ("card", "npa"):
        raise invalid("Incorrect userVisibleTransaction.transactionType")
    if not isinstance(recipient, dict) or not isinstance(recipient.get("name"), str):
        raise invalid("Incorrect userVisibleTransaction.recipient")
    money = tx.get("money")
    if money is not None:
        if kind == "npa":
            raise invalid("userVisibleTransaction.money is not allowed for npa")
        if (
            not isinstance(money, dict)
            or not isinstance(money.get("amount"), str)
            or not _AMOUNT.match(money["amount"])
            or not isinstance(money.get("currency"), str)
            or not re.fullmatch(r"[A-Z]{3}", money["currency"])
        ):
            raise invalid("Incorrect userVisibleTransaction.money")
    warning = tx.get("riskWarning")
    if warning is not None and not isinstance(warning, str):
        raise invalid("Incorrect userVisibleTransaction.riskWarning")
    flags = body.get("riskFlags", [])
    if not isinstance(flags, list) or not all(f in _RISK_FLAGS for f in flags):
        raise invalid("Incorrect riskFlags")
    return {
        "transaction": Transaction(
            transaction_type=kind,
            recipient_name=recipient["name"],
            amount=money["amount"] if money is not None else None,
            currency=money["currency"] if money is not None else None,
            risk_warning=warning,
        ),
        "risk_flags": tuple(flags),
    }


def check_order_ref(body: Body) -> str:
    ref = body.get("orderRef")
    if not isinstance(ref, str) or not re.fullmatch(r"[0-9a-fA-F-]{36}", ref):
        raise invalid("Incorrect orderRef")
    return ref


class RPApi:
    """The RP API endpoint; one instance per simulator app."""

    def __init__(
        self,
        book: OrderBook,
        settings: SimulatorSettings,
        rng: random.Random,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.book, self.settings, self.rng, self.sleep = book, settings, rng, sleep
        #: Requests per endpoint (known endpoints only, whatever the answer), for ``/stats``.
        self.calls: collections.Counter[str] = collections.Counter()

    async def handle(self, request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        try:
            if endpoint not in ALLOWED_FIELDS:
                raise WireError(404, "notFound", "Not found")
            self.calls[endpoint] += 1
            if request.method != "POST":
                raise WireError(
                    405,
                    "methodNotAllowed",
                    "Method not allowed; use POST",
                    headers={"Allow": "POST"},
                )
            await self._maybe_fault()
            content_type = request.headers.get("content-type", "")
            if content_type.strip().lower() != "application/json":
                raise WireError(
                    415,
                    "unsupportedMediaType",
                    "Content-Type must be application/json without parameters",
                )
            try:
                body = safejson.loads(await request.body())
            except ValueError:
                raise invalid("Invalid JSON") from None
            if not isinstance(body, dict):
                raise invalid("Invalid JSON object")
            check_fields(endpoint, body)
            return JSONResponse(self._handle(endpoint, body))
        except WireError as exc:
            return exc.response()

    async def _maybe_fault(self) -> None:
        if not self.settings.fault_rate or self.rng.random() >= self.settings.fault_rate:
            return
        fault = self.rng.choice(self.settings.faults)
        if fault is Fault.SLOW:
            await self.sleep(self.settings.slow_delay)
        elif fault is Fault.MAINTENANCE:
            raise WireError(503, "maintenance", "Service temporarily unavailable (simulated)")
        elif fault is Fault.INTERNAL_ERROR:
            raise WireError(500, "internalError", "Internal error (simulated)")
        elif fault is Fault.RATE_LIMITED:
            raise WireError(
                429,
                "tooManyRequests",
                "Too many requests (simulated)",
                headers={
                    "RateLimit-Limit": "10",
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": "1",
                },
            )

    def _handle(self, endpoint: str, body: Body) -> Body:
        if endpoint in ("collect", "cancel"):
            return self._collect(body) if endpoint == "collect" else self._cancel(body)
        kind = Kind(endpoint)
        number, mrtd = check_requirement(body)
        if kind.is_phone:
            number = _personal_number(body.get("personalNumber"), "personalNumber")
            if body.get("callInitiator") not in ("user", "RP"):
                raise invalid("Incorrect callInitiator")
            fields: Body = {"end_user_ip": None}
        else:
            fields = {"end_user_ip": check_end_user_ip(body), **check_return(body)}
            check_device(body)
            if kind is Kind.PAYMENT:
                fields.update(check_payment(body))
        limits = _AUTH_LIMITS if kind in (Kind.AUTH, Kind.PHONE_AUTH) else _SIGN_LIMITS
        visible_required = kind in (Kind.SIGN, Kind.PHONE_SIGN)
        fields.update(check_data(body, limits, visible_required=visible_required))
        try:
            order = self.book.create(kind, required_personal_number=number, mrtd=mrtd, **fields)
        except AlreadyInProgressError:
            raise WireError(400, "alreadyInProgress", "Order already in progress for pno") from None
        if kind.is_phone:
            return {"orderRef": order.order_ref}
        return {
            "orderRef": order.order_ref,
            "autoStartToken": order.auto_start_token,
            "qrStartToken": order.qr_start_token,
            "qrStartSecret": order.qr_start_secret,
        }

    def _find(self, body: Body) -> Order:
        order_ref = check_order_ref(body)
        order = self.book.find(order_ref)
        if order is None:
            if self.book.was_issued(order_ref):
                raise invalid("Order is too old; it can no longer be collected or cancelled")
            if self.settings.unknown_order_ref is UnknownOrderRef.NOT_FOUND:
                raise WireError(404, "notFound", "No such order")
            raise invalid("No such order")
        return order

    def _collect(self, body: Body) -> Body:
        order = self._find(body)
        state = self.book.collect(order)
        answer: Body = {"orderRef": order.order_ref, "status": state.status}
        if state.hint_code is not None:
            answer["hintCode"] = state.hint_code
        if state.completion_data is not None:
            answer["completionData"] = state.completion_data
        return answer

    def _cancel(self, body: Body) -> Body:
        if not self.book.cancel(self._find(body)):
            raise invalid("Order already completed, failed or cancelled")
        return {}
