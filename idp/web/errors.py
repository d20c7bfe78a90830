"""Errors a person sees: one HTML error page, never a traceback.

Redis or the database being unavailable is answered here, in one place, for every endpoint
that did not answer it itself: `temporarily_unavailable` JSON (503) on the back channel, the
friendly 503 page in a browser. Endpoints with a validated redirect URI (authorization) catch
it first and redirect with ``error=temporarily_unavailable`` instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from idp.web.templating import Templates

log = logging.getLogger("idp.web")

_BY_STATUS = {
    400: "error.bad_request",
    404: "error.not_found",
    405: "error.method",
    503: "error.unavailable",
}


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_page(
    templates: Templates,
    request: Request,
    *,
    status_code: int,
    message_key: str,
    code: str | None = None,
    locale: str | None = None,
) -> Response:
    return templates.render(
        request,
        "error.html",
        {"message_key": message_key, "code": code},
        status_code=status_code,
        locale=locale,
    )


UNAVAILABLE_JSON = {
    "error": "temporarily_unavailable",
    "error_description": "please try again shortly",
}
RETRY_AFTER = "5"


class BurstLog:
    """One warning when a backing service starts failing, then at most one a minute with the
    count of failures in between: an outage is a few log lines, not one per request."""

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._since_last: dict[str, int] = {}

    def failed(self, what: str, detail: str, state: str = "unavailable") -> None:
        now = time.monotonic()
        if now - self._last.get(what, float("-inf")) < self.interval:
            self._since_last[what] = self._since_last.get(what, 0) + 1
            return
        more = self._since_last.pop(what, 0)
        self._last[what] = now
        log.warning(
            "%s %s: %s%s",
            what,
            state,
            detail,
            f" ({more} more failed request(s) since the last warning)" if more else "",
        )


def install(
    app: Starlette,
    templates: Templates,
    *,
    unavailable: Mapping[type[Exception], str] | None = None,
    backchannel: Collection[str] = (),
    busy: tuple[type[Exception], ...] = (),
    overloaded: Callable[[], object] | None = None,
) -> None:
    """Error handlers: HTTP errors; exceptions that mean a backing service is `unavailable`
    (exception class -> the service's name for the log), answered as JSON on the `backchannel`
    paths and to JSON clients, else with the page; anything else as a 500. Of those, the
    `busy` ones mean this process had more work than it could do (the service is fine): they
    are answered the same way with ``Retry-After: 1``, counted by `overloaded` and logged as
    overload, not as an outage."""
    bursts = BurstLog()
    services = dict(unavailable or {})

    async def service_unavailable(request: Request, exc: Exception) -> Response:
        # The classes only (what failed and why: a timeout, a refused connection), never a
        # message that could hold a key or a value.
        cause = "" if exc.__cause__ is None else f" ({type(exc.__cause__).__name__})"
        detail = f"{type(exc).__name__}{cause} on {request.url.path}"
        if isinstance(exc, busy):
            if overloaded is not None:
                overloaded()
            bursts.failed("this process", detail, state="overloaded")
            retry_after = "1"
        else:
            what = next((n for cls, n in services.items() if isinstance(exc, cls)), "a service")
            bursts.failed(what, detail)
            retry_after = RETRY_AFTER
        headers = {"Retry-After": retry_after, "Cache-Control": "no-store"}
        if request.url.path in backchannel or wants_json(request):
            return JSONResponse(UNAVAILABLE_JSON, status_code=503, headers=headers)
        response = error_page(templates, request, status_code=503, message_key="error.unavailable")
        response.headers.update(headers)
        return response

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if wants_json(request):
            return JSONResponse(
                {"error": "not_found" if exc.status_code == 404 else "invalid_request"},
                status_code=exc.status_code,
            )
        key = _BY_STATUS.get(exc.status_code, "error.internal")
        return error_page(templates, request, status_code=exc.status_code, message_key=key)

    async def unexpected(request: Request, exc: Exception) -> Response:
        # This runs outside the request-id middleware: carry the id over from the scope.
        request_id = (request.scope.get("state") or {}).get("request_id")
        log.error(
            "unhandled error on %s: %s",
            request.url.path,
            type(exc).__name__,
            exc_info=exc,
            extra={"request_id": request_id},
        )
        if wants_json(request):
            return JSONResponse({"error": "server_error"}, status_code=500)
        return error_page(templates, request, status_code=500, message_key="error.internal")

    app.add_exception_handler(HTTPException, http_error)
    for cls in services:
        app.add_exception_handler(cls, service_unavailable)
    app.add_exception_handler(Exception, unexpected)
