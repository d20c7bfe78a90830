"""The BankID error family: every way a call to the RP API can fail.

Each class says whether the RP may retry automatically (`retry_allowed`) and which RFA
message to show (`rfa`), per the error table in reference section 3:

    BankIDError
    ├── InvalidRequest            rejected by the client before anything was sent
    ├── TransportError            no HTTP answer at all
    │   ├── BankIDTimeout
    │   └── BankIDConnectionError
    ├── BankIDProtocolError       an answer that does not follow the API
    └── BankIDAPIError            an HTTP error answer, one subclass per `errorCode`
        ├── AlreadyInProgress, InvalidParameters, Unauthorized, NotFound,
        ├── MethodNotAllowed, RequestTimeout, UnsupportedMediaType,
        ├── RateLimited (BackingOff), InternalError, Maintenance
        └── UnknownBankIDError    an `errorCode` this code does not know yet

Messages never contain personal numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar

from idp.authn import safejson
from idp.bankid.rfa import RFA


class ErrorCode(StrEnum):
    """`errorCode` of an error response (reference section 3); unknown codes become UNKNOWN."""

    ALREADY_IN_PROGRESS = "alreadyInProgress"
    INVALID_PARAMETERS = "invalidParameters"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "notFound"
    METHOD_NOT_ALLOWED = "methodNotAllowed"
    REQUEST_TIMEOUT = "requestTimeout"
    UNSUPPORTED_MEDIA_TYPE = "unsupportedMediaType"
    INTERNAL_ERROR = "internalError"
    MAINTENANCE = "maintenance"
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> ErrorCode:
        return cls.UNKNOWN


class BankIDError(Exception):
    """Root of every error raised by the BankID client."""

    retry_allowed: ClassVar[bool] = False
    rfa: ClassVar[RFA] = RFA.RFA22


class InvalidRequest(BankIDError, ValueError):
    """Raised before sending when a request breaks the API's rules (a bug in the caller).

    Examples: `userVisibleData` too long after base64, an empty `returnUrl`, both `web` and
    `app` device data, a personal number that is not 12 digits with a valid check digit.
    """


class TransportError(BankIDError):
    """Raised when no HTTP answer arrived."""

    rfa = RFA.RFA5


class BankIDTimeout(TransportError):
    """Raised when connecting, sending or reading took longer than the client's timeout.

    Not retried automatically: BankID may have created the order anyway.
    """


class BankIDConnectionError(TransportError):
    """Raised when the connection could not be made (refused, DNS, TLS handshake)."""

    retry_allowed = True


class BankIDProtocolError(BankIDError):
    """Raised for an answer that is not what the API promises (bad JSON, missing fields)."""


class BankIDAPIError(BankIDError):
    """Raised for an HTTP error answer from BankID; `error_code` and `details` as sent."""

    error_code: ClassVar[ErrorCode] = ErrorCode.UNKNOWN

    def __init__(self, status_code: int, raw_error_code: str | None, details: str | None) -> None:
        self.status_code = status_code
        self.raw_error_code = raw_error_code
        self.details = details
        super().__init__(f"BankID answered {status_code} {raw_error_code or '-'}: {details or ''}")


class AlreadyInProgress(BankIDAPIError):
    """400 `alreadyInProgress`: the person already has an order in progress (RFA4)."""

    error_code = ErrorCode.ALREADY_IN_PROGRESS
    rfa = RFA.RFA4


class InvalidParameters(BankIDAPIError):
    """400 `invalidParameters`: bad parameters, a too old or final `orderRef`, cancelling twice.

    An RP bug; never retry the same request.
    """

    error_code = ErrorCode.INVALID_PARAMETERS


class Unauthorized(BankIDAPIError):
    """401/403 `unauthorized`: the RP certificate or agreement does not grant access."""

    error_code = ErrorCode.UNAUTHORIZED


class NotFound(BankIDAPIError):
    """404 `notFound`: wrong URL path."""

    error_code = ErrorCode.NOT_FOUND


class MethodNotAllowed(BankIDAPIError):
    """405 `methodNotAllowed`: only POST is allowed."""

    error_code = ErrorCode.METHOD_NOT_ALLOWED
    rfa = RFA.RFA5


class RequestTimeout(BankIDAPIError):
    """408 `requestTimeout`: the request took too long to transmit. Do not retry (RFA5)."""

    error_code = ErrorCode.REQUEST_TIMEOUT
    rfa = RFA.RFA5


class UnsupportedMediaType(BankIDAPIError):
    """415 `unsupportedMediaType`: missing or wrong content type, e.g. with a charset."""

    error_code = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class RateLimited(BankIDAPIError):
    """429: too many calls. Back off for `reset` seconds, then retry (RFA5 if it persists).

    `limit`, `remaining` and `reset` come from the `RateLimit-*` headers
    (draft-polli-ratelimit-headers-00) and are `None` when absent or unreadable.
    """

    retry_allowed = True
    rfa = RFA.RFA5

    def __init__(
        self,
        status_code: int,
        raw_error_code: str | None,
        details: str | None,
        *,
        limit: int | None = None,
        remaining: int | None = None,
        reset: int | None = None,
    ) -> None:
        super().__init__(status_code, raw_error_code, details)
        self.limit = limit
        self.remaining = remaining
        self.reset = reset


class BackingOff(RateLimited):
    """Raised without calling BankID while a 429 from it is being honoured (until its
    `RateLimit-Reset`): the order fails at once with RFA5, as in an outage, not retried."""

    retry_allowed = False


class InternalError(BankIDAPIError):
    """500 `internalError`: a BankID fault. Do not retry automatically (RFA5)."""

    error_code = ErrorCode.INTERNAL_ERROR
    rfa = RFA.RFA5


class Maintenance(BankIDAPIError):
    """503 `maintenance`: temporarily unavailable. May be retried silently (RFA5 if it lasts)."""

    error_code = ErrorCode.MAINTENANCE
    retry_allowed = True
    rfa = RFA.RFA5


class UnknownBankIDError(BankIDAPIError):
    """An `errorCode` this client does not know (new codes appear without notice): RFA22."""


_BY_CODE: dict[ErrorCode, type[BankIDAPIError]] = {
    cls.error_code: cls
    for cls in (
        AlreadyInProgress,
        InvalidParameters,
        Unauthorized,
        NotFound,
        MethodNotAllowed,
        RequestTimeout,
        UnsupportedMediaType,
        InternalError,
        Maintenance,
    )
}

# When the body carries no usable errorCode, the HTTP status decides.
_BY_STATUS: dict[int, type[BankIDAPIError]] = {
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    405: MethodNotAllowed,
    408: RequestTimeout,
    415: UnsupportedMediaType,
    500: InternalError,
    503: Maintenance,
}


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(headers[name].split(",")[0].split(";")[0].strip())
    except (KeyError, ValueError):
        return None


def error_from_response(
    status_code: int, body: bytes, headers: Mapping[str, str]
) -> BankIDAPIError:
    """Map an HTTP error answer to its class (reference section 3)."""
    raw_code: str | None = None
    details: str | None = None
    try:
        data: Any = safejson.loads(body) if body else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        raw_code = data.get("errorCode") if isinstance(data.get("errorCode"), str) else None
        details = data.get("details") if isinstance(data.get("details"), str) else None
    if status_code == 429:
        return RateLimited(
            status_code,
            raw_code,
            details,
            limit=_int_header(headers, "ratelimit-limit"),
            remaining=_int_header(headers, "ratelimit-remaining"),
            reset=_int_header(headers, "ratelimit-reset")
            or _int_header(headers, "retry-after"),
        )
    if raw_code is not None:
        cls = _BY_CODE.get(ErrorCode(raw_code), UnknownBankIDError)
    else:
        cls = _BY_STATUS.get(status_code, UnknownBankIDError)
    return cls(status_code, raw_code, details)
