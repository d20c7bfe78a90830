"""Overload answered as overload: at most `max_in_flight` requests in progress in one process.

A process whose event loop has more work than it can do does not fail cleanly by itself: every
request waits longer, replies from Redis sit unread until their timeouts pass, and people get
"Redis unavailable" although Redis is fine. This middleware counts the requests in progress and
refuses the ones beyond the limit at once, before any of their work starts, and does the same
while the event loop runs late (a timer of its own fires more than `max_lag` seconds behind:
the process gets less CPU than its work needs) with at least `lag_min_in_flight` requests in
progress (one slow step is not overload): 503 with
``Retry-After: 1``, as ``temporarily_unavailable`` JSON on the back channel (and to JSON
clients) and as the friendly error page (Swedish or English) in a browser, and counts each in
``idp_overload_rejected_total``. The BankID page's script treats it like no contact and polls
again later.

Health checks and ``/metrics`` are neither counted nor refused: an instance that is busy is not
dead, and its metrics must show why it is busy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from idp.web.errors import error_page, wants_json
from idp.web.templating import Templates

log = logging.getLogger("idp.web")

#: Requests in progress at once. Most of them wait, not compute: a status poll that runs
#: BankID's collect waits for BankID's answer (100-300 ms from the internet), so a thousand
#: waiting pages keep about a hundred polls in progress; a busy CPU is caught by the lag check.
DEFAULT_MAX_IN_FLIGHT = 1000
#: Seconds the event loop may run late before new requests are refused: far below the 2 s
#: Redis timeout, far above the lag of a loop that keeps up.
DEFAULT_MAX_LAG = 0.5
LAG_INTERVAL = 0.1
#: A late loop is overload only with this many requests in progress: one slow step (a stall
#: with a request or two in flight) is not, and is not refused.
LAG_MIN_IN_FLIGHT = 16
RETRY_AFTER = "1"
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
BUSY_JSON = {
    "error": "temporarily_unavailable",
    "error_description": "the server is busy; please try again shortly",
}
_HEADERS = {"Retry-After": RETRY_AFTER, "Cache-Control": "no-store"}


class AdmissionLimit:
    """Pure ASGI: counts HTTP requests in progress; refuses those beyond `max_in_flight`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        templates: Templates,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        backchannel: Collection[str] = (),
        rejected: Callable[[], object] | None = None,
        exempt: Collection[str] = EXEMPT_PATHS,
        log_interval: float = 60.0,
        max_lag: float = DEFAULT_MAX_LAG,
        lag_interval: float = LAG_INTERVAL,
        lag_min_in_flight: int = LAG_MIN_IN_FLIGHT,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.app = app
        self.templates = templates
        self.max_in_flight = max_in_flight
        self.backchannel = frozenset(backchannel)
        self.rejected = rejected
        self.exempt = frozenset(exempt)
        self.log_interval = log_interval
        self.max_lag = max_lag
        self.lag_interval = lag_interval
        self.lag_min_in_flight = lag_min_in_flight
        #: Requests in progress now (for tests and diagnostics).
        self.in_flight = 0
        #: How late the event loop ran at its last check, in seconds.
        self.lag = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due = 0.0
        self._logged_at = float("-inf")
        self._unlogged = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self._loop is not asyncio.get_running_loop():
            self._watch(asyncio.get_running_loop())
        if self.in_flight >= self.max_in_flight or (
            self.lag > self.max_lag and self.in_flight >= self.lag_min_in_flight
        ):
            await self._refuse(scope, receive, send)
            return
        # No await between the check and the increment: one event loop, so this is exact.
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Measure the loop's lag from now on: a timer every `lag_interval`, and how late it
        fires. Started by the first request on a loop (a new loop, a new timer)."""
        self._loop = loop
        self.lag = 0.0
        self._due = loop.time() + self.lag_interval
        loop.call_at(self._due, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:
            return  # a timer of an earlier loop
        now = loop.time()
        self.lag = max(0.0, now - self._due)
        self._due = now + self.lag_interval
        loop.call_at(self._due, self._tick, loop)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.rejected is not None:
            self.rejected()
        self._note()
        request = Request(scope, receive)
        response: Response
        if scope["path"] in self.backchannel or wants_json(request):
            response = JSONResponse(BUSY_JSON, status_code=503, headers=_HEADERS)
        else:
            response = error_page(
                self.templates, request, status_code=503, message_key="error.unavailable"
            )
            response.headers.update(_HEADERS)
        await response(scope, receive, send)

    def _note(self) -> None:
        """One warning when refusing starts, then at most one per `log_interval` with a count."""
        now = time.monotonic()
        if now - self._logged_at < self.log_interval:
            self._unlogged += 1
            return
        more, self._unlogged, self._logged_at = self._unlogged, 0, now
        log.warning(
            "overloaded: refusing requests (%d in progress, limit %d; event loop %.0f ms late)%s",
            self.in_flight,
            self.max_in_flight,
            self.lag * 1000,
            f" ({more} more refused since the last warning)" if more else "",
        )
