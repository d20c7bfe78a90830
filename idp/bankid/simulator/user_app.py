"""The scriptable user app: ``POST /app/scan``, ``/app/autostart`` and ``/app/phone``.

The contract integration tests rely on (documented in docs/bankid-simulator.md):

* request: a JSON object; ``action`` is ``approve`` (default) or ``cancel``, and for
  ``/app/phone`` also ``decline_call``; ``personalNumber`` is 12 digits with a valid check
  digit (optional for scan and autostart; then the order's required person, else the default
  person); unknown fields are refused so a typo never silently acts as the default person;
* success: 200 with JSON describing what happened (order, flow, person's name, the pending hint
  codes the RP will see, the final outcome and when, for autostart the order's returnUrl (and,
  when it is an iOS browser's own scheme, ``opensUrl``: the https URL that browser opens), and
  the text the app showed: ``userVisibleData`` decoded, with ``userVisibleDataFormat``, and
  for a payment ``userVisibleTransaction`` and ``riskFlags`` as the RP sent them; never
  ``userNonVisibleData``, which the app does not show);
* refusal: 4xx with ``{"error": ..., "detail": ...}`` saying exactly why.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idp.authn import safejson
from idp.authn.personal_number import InvalidPersonalNumber, parse
from idp.bankid.simulator.orders import Action, AppError, OrderBook

_FIELDS = {
    "scan": ({"qr"}, {"personalNumber", "action"}),
    "autostart": ({"autoStartToken"}, {"personalNumber", "action"}),
    "phone": ({"personalNumber"}, {"action"}),
}
_ACTIONS = {
    "scan": (Action.APPROVE, Action.CANCEL),
    "autostart": (Action.APPROVE, Action.CANCEL),
    "phone": (Action.APPROVE, Action.CANCEL, Action.DECLINE_CALL),
}


def _error(exc: AppError) -> Response:
    return JSONResponse({"error": exc.error, "detail": exc.detail}, exc.status_code)


async def _read(request: Request, kind: str) -> dict[str, Any]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise AppError(415, "unsupported_media_type", "send a JSON body (application/json)")
    try:
        body = safejson.loads(await request.body())
    except ValueError:
        raise AppError(400, "invalid_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise AppError(400, "invalid_json", "the body must be a JSON object")
    required, optional = _FIELDS[kind]
    unknown = sorted(set(body) - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise AppError(400, "unknown_field", f"unknown field {unknown[0]!r}; allowed: {allowed}")
    for name in sorted(required):
        if not isinstance(body.get(name), str) or not body[name]:
            raise AppError(400, "missing_field", f"{name} is required (a non-empty string)")
    return body


def _personal_number(body: dict[str, Any]) -> str | None:
    value = body.get("personalNumber")
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise InvalidPersonalNumber
        return parse(value)
    except InvalidPersonalNumber:
        raise AppError(
            400,
            "invalid_personal_number",
            "personalNumber must be 12 digits (YYYYMMDDNNNN) with a valid check digit",
        ) from None


def _action(body: dict[str, Any], kind: str) -> Action:
    value = body.get("action", "approve")
    allowed = _ACTIONS[kind]
    if value not in [str(a) for a in allowed]:
        names = " | ".join(str(a) for a in allowed)
        raise AppError(400, "invalid_action", f"action must be {names}")
    return Action(value)


class UserApp:
    def __init__(self, book: OrderBook) -> None:
        self.book = book

    @staticmethod
    def _device_ip(request: Request) -> str:
        return request.client.host if request.client else "127.0.0.1"

    async def scan(self, request: Request) -> Response:
        try:
            body = await _read(request, "scan")
            result = self.book.scan(
                body["qr"], _personal_number(body), _action(body, "scan"), self._device_ip(request)
            )
        except AppError as exc:
            return _error(exc)
        return JSONResponse(result.to_json())

    async def autostart(self, request: Request) -> Response:
        try:
            body = await _read(request, "autostart")
            result = self.book.autostart(
                body["autoStartToken"],
                _personal_number(body),
                _action(body, "autostart"),
                self._device_ip(request),
            )
        except AppError as exc:
            return _error(exc)
        return JSONResponse(result.to_json())

    async def phone(self, request: Request) -> Response:
        try:
            body = await _read(request, "phone")
            number = _personal_number(body)
            assert number is not None  # required field
            result = self.book.phone(number, _action(body, "phone"), self._device_ip(request))
        except AppError as exc:
            return _error(exc)
        return JSONResponse(result.to_json())
