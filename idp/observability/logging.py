"""Structured logs: one JSON object per line with a request id, and never a personal number,
token or secret.

`configure_logging` installs one handler on the root logger with a `Redactor` filter (every
record, from every library, passes through it) and a `JsonFormatter`. Each HTTP request
gets an id (`request_id_of`, used by the app's `RequestObserver`), in a context variable that
the formatter reads and in the `X-Request-ID` response header.

The access log is one line per HTTP request on the ``idp.access`` logger (`log_access`, called
by the request middleware): method, route *template*, status and duration, never the raw path
or query string. Its records hold only those fixed fields, so they are marked (`SAFE`) and the
Redactor passes them without running its patterns; every other record is redacted in full.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import math
import os
import re
import sys
from typing import IO, Any

from starlette.types import Scope

REQUEST_ID_HEADER = "x-request-id"

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "idp_request_id", default=None
)


def current_request_id() -> str | None:
    return request_id_var.get()


# ---------------------------------------------------------------------- redaction

MASK = "***"

# Order matters: tokens first, so a JWT's digits are not half-masked as personal numbers.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # JWS (3 parts) and JWE (5 parts) compact serialisations.
    (re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){2,4}"), "[jwt]"),
    (re.compile(r"(?i)\b(bearer|basic|dpop)(\s+)[A-Za-z0-9._~+/=-]+"), rf"\1\2{MASK}"),
    # key=value, key: value and "key": "value" for secrets and bearer-like protocol values;
    # not a configuration path (`clients[0].client_secret: expected ...`), whose message is
    # about the setting, never its value.
    (
        re.compile(
            r"(?i)(?<![A-Za-z0-9_.])"
            r"(client_secret|password|passwd|certificate_password|secret_key|client_assertion"
            r"|access_token|refresh_token|id_token|id_token_hint|login_hint_token|token|code"
            r"|auth_req_id|authorization|cookie|set-cookie)"
            r"""(["']?\s*[=:]\s*["']?)([^\s&"',;]+)"""
        ),
        rf"\1\2{MASK}",
    ),
    # Swedish personal (or coordination) numbers: 12 digits, 8+4 with a dash, 6+4 with - or +.
    (re.compile(r"(?<![0-9])(?:[0-9]{12}|[0-9]{8}-[0-9]{4}|[0-9]{6}[-+][0-9]{4})(?![0-9])"), MASK),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


#: The attribute that marks a record made only of fixed, safe fields (the access log); its
#: value must be this very object, so no `extra=` from elsewhere can claim it.
SAFE_ATTR = "idp_safe_fields"
SAFE = object()

_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
    "color_message",  # uvicorn's copy of the message with terminal colours
    SAFE_ATTR,
}


class Redactor(logging.Filter):
    """Masks personal numbers, tokens and secrets in a record's message, its arguments, its
    exception text and its extra fields. The message is formatted here, once, so an argument
    of any type (an int personal number, a dict holding a token) is masked as it will print."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.__dict__.get(SAFE_ATTR) is SAFE:  # the access log: fixed fields only
            if "request_id" not in record.__dict__:
                record.request_id = current_request_id()
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, name, redact(value))
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


# ---------------------------------------------------------------------- formatting


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)  # made once, not per line
_JSON_SAFE = (str, int, float, bool, type(None))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (UTC, ISO 8601), level, logger, message,
    request_id, the exception if any, and JSON-safe extra fields."""

    _second = -1
    _prefix = ""

    def _timestamp(self, created: float) -> str:
        """As datetime's isoformat(timespec="milliseconds") in UTC; the part up to the
        second is formatted once per second."""
        fraction, whole = math.modf(created)
        second, micros = int(whole), round(fraction * 1e6)  # rounded as datetime rounds
        if micros >= 1_000_000:
            second, micros = second + 1, micros - 1_000_000
        if second != self._second:
            stamp = dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second, self._prefix = second, stamp
        return f"{self._prefix}.{micros // 1000:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": self._timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRS and name not in entry:
                if isinstance(value, _JSON_SAFE):
                    entry[name] = value
        return _ENCODER.encode(entry)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def configure_logging(
    level: str | int = "info", json: bool = True, *, stream: IO[str] | None = None
) -> logging.Handler:
    """Send every log record through one redacting handler on the root logger.

    uvicorn's loggers are made to propagate to it (run uvicorn with ``log_config=None`` so it
    does not install its own handlers again). Calling this again replaces the handler.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(Redactor())
    handler.setFormatter(JsonFormatter() if json else logging.Formatter(TEXT_FORMAT))
    handler.set_name("idp")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "idp"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)  # inherit the root level, whatever set it before
        logger.propagate = True
    # httpx logs every request it makes at INFO: a line per BankID collect per order every
    # 2 s. Those calls are counted in the metrics; their lines only at DEBUG.
    quiet = root.level > logging.DEBUG
    logging.getLogger("httpx").setLevel(logging.WARNING if quiet else logging.NOTSET)
    return handler


# ---------------------------------------------------------------------- access log

access_log = logging.getLogger("idp.access")


def log_access(method: str, route: str, status: int, seconds: float) -> None:
    """The access line of one request: `method` from a fixed set, `route` a route template
    (never the raw path or query), the status and the duration. Marked safe for the Redactor.
    The record is made directly (no caller lookup: the line says where it comes from)."""
    if access_log.isEnabledFor(logging.INFO):
        ms = round(seconds * 1000, 1)
        record = access_log.makeRecord(
            "idp.access",
            logging.INFO,
            __file__,
            0,
            "%s %s %d %.1fms",
            (method, route, status, ms),
            None,
            "log_access",
            {
                SAFE_ATTR: SAFE,
                "http_method": method,
                "route": route,
                "status": status,
                "duration_ms": ms,
            },
        )
        access_log.handle(record)


# ---------------------------------------------------------------------- request ids

_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")


def accept_request_id(value: str | None) -> str | None:
    """An incoming X-Request-ID we keep: 8-128 plain characters that redaction leaves alone
    (so a caller cannot put a personal number into every log line of a request)."""
    if value and _SANE_ID.fullmatch(value) and redact(value) == value:
        return value
    return None


_REQUEST_ID_KEY = REQUEST_ID_HEADER.encode()


def request_id_of(scope: Scope) -> str:
    """The id of this request: a sane incoming ``X-Request-ID`` or a new random one; kept in
    ``scope["state"]["request_id"]``."""
    incoming = None
    for name, value in scope.get("headers", ()):
        if name == _REQUEST_ID_KEY:
            incoming = accept_request_id(value.decode("latin-1"))
            break
    request_id = incoming or os.urandom(16).hex()
    scope.setdefault("state", {})["request_id"] = request_id
    return request_id
