"""Prometheus metrics, one registry per app instance, exposed at `/metrics`.

Label values come from fixed sets only: the route *template* (never the raw URL), an HTTP
method and status, a login path, a neutral failure reason, a CIBA outcome, a BankID endpoint
and error code. Anything else is folded into ``other``, so no personal number, token or client
input can become a label, and the number of series stays bounded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idp.clock import Clock
from idp.observability.logging import log_access, request_id_of, request_id_var

OTHER = "other"
UNMATCHED = "<unmatched>"

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: How a person authenticates: QR code on another device, autostart on the same device, or
#: a BankID phone order (CIBA).
LOGIN_PATHS = frozenset({"qr", "same_device", "phone"})
#: The neutral failure reasons of idp.authn.FailureReason (kept equal by a test).
FAILURE_REASONS = frozenset(
    {
        "cancelled",
        "declined",
        "expired",
        "start_failed",
        "rejected",
        "in_progress",
        "unavailable",
        "internal",
    }
)
#: What became of a backchannel authentication request.
CIBA_OUTCOMES = frozenset(
    {"accepted", "invalid_request", "unauthorized", "approved", "denied", "expired", "failed"}
)
#: BankID RP API v6.0 endpoints, as the client names them.
BANKID_ENDPOINTS = frozenset(
    {"auth", "sign", "payment", "phone/auth", "phone/sign", "collect", "cancel"}
)
#: "ok", BankID's errorCode values, and failures that never reached an answer.
BANKID_RESULTS = frozenset(
    {
        "ok",
        "alreadyInProgress",
        "invalidParameters",
        "unauthorized",
        "notFound",
        "methodNotAllowed",
        "requestTimeout",
        "unsupportedMediaType",
        "internalError",
        "maintenance",
        "unknown",
        "timeout",
        "connection",
    }
)

RATE_LIMITS = frozenset(
    {
        "authorize",
        "bankid_start",
        "token",
        "par",
        "ciba",
        "client_auth_failures",
        "person",
        "pending_per_address",
        "pending_total",
    }
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)


def _one_of(value: object, allowed: Iterable[str]) -> str:
    text = str(value)
    return text if text in allowed else OTHER


def _status(code: int) -> str:
    return str(code) if 100 <= code <= 599 else OTHER


class Metrics:
    """Every metric family of one `idp` instance, in its own registry."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        #: (endpoint, method, status) -> the labelled request counter and duration histogram.
        self._http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        if process:
            ProcessCollector(registry=r)
            # Which process answered: `idp serve --workers N` runs N, each with its own metrics.
            Info("idp_process", "The process that answered (one per worker).", registry=r).info(
                {"pid": str(os.getpid())}
            )
        self.http_requests = Counter(
            "idp_http_requests",
            "HTTP requests by route template, method and status.",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "idp_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["endpoint", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.logins_started = Counter(
            "idp_logins_started", "Logins started, by path.", ["path"], registry=r
        )
        self.logins_completed = Counter(
            "idp_logins_completed", "Logins completed, by path.", ["path"], registry=r
        )
        self.logins_failed = Counter(
            "idp_logins_failed",
            "Logins that failed, by path and neutral reason.",
            ["path", "reason"],
            registry=r,
        )
        self.ciba_requests = Counter(
            "idp_ciba_requests", "CIBA requests by outcome.", ["outcome"], registry=r
        )
        self.bankid_calls = Counter(
            "idp_bankid_calls",
            "Calls to the BankID RP API, by endpoint and result (ok or BankID's errorCode).",
            ["endpoint", "result"],
            registry=r,
        )
        self.bankid_duration = Histogram(
            "idp_bankid_call_duration_seconds",
            "Time BankID took to answer, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.bankid_collect_lag = Histogram(
            "idp_bankid_collect_lag_seconds",
            "How late a collect ran after it was due (BankID asks for one every 1-2 s).",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.bankid_certificate_days = Gauge(
            "idp_bankid_certificate_expiry_days",
            "Days until the BankID RP certificate expires (negative once expired).",
            registry=r,
        )
        self.bankid_certificate_expiring = Gauge(
            "idp_bankid_certificate_expiring",
            "1 when the BankID RP certificate expires within the warning window, else 0.",
            registry=r,
        )
        self.overload_rejected = Counter(
            "idp_overload_rejected",
            "Requests refused with 503 because the process had too many in progress.",
            registry=r,
        )
        self.rate_limited_total = Counter(
            "idp_rate_limited",
            "Requests refused with 429 (or a capped login), by the limit reached.",
            ["limit"],
            registry=r,
        )

    # ------------------------------------------------------------------ recording

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        key = (endpoint, method, status)
        children = self._http_children.get(key)
        if children is None:
            label = _one_of(method.upper(), METHODS)
            children = (
                self.http_requests.labels(endpoint, label, _status(status)),
                self.http_duration.labels(endpoint, label),
            )
            if len(self._http_children) < 4096:  # a bound, whatever methods callers invent
                self._http_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def login_started(self, path: str) -> None:
        self.logins_started.labels(_one_of(path, LOGIN_PATHS)).inc()

    def login_completed(self, path: str) -> None:
        self.logins_completed.labels(_one_of(path, LOGIN_PATHS)).inc()

    def login_failed(self, path: str, reason: object) -> None:
        """`reason` is an idp.authn.FailureReason or its value."""
        value = getattr(reason, "value", reason)
        self.logins_failed.labels(_one_of(path, LOGIN_PATHS), _one_of(value, FAILURE_REASONS)).inc()

    def rate_limited(self, limit: str) -> None:
        self.rate_limited_total.labels(_one_of(limit, RATE_LIMITS)).inc()

    def ciba_request(self, outcome: str) -> None:
        self.ciba_requests.labels(_one_of(outcome, CIBA_OUTCOMES)).inc()

    def bankid_call(
        self, endpoint: str, result: object = "ok", seconds: float | None = None
    ) -> None:
        """`result` is "ok", a BankID ErrorCode (or its value), "timeout" or "connection"."""
        endpoint = _one_of(endpoint.strip("/"), BANKID_ENDPOINTS)
        self.bankid_calls.labels(
            endpoint, _one_of(getattr(result, "value", result), BANKID_RESULTS)
        ).inc()
        if seconds is not None:
            self.bankid_duration.labels(endpoint).observe(seconds)

    def collect_lag(self, seconds: float) -> None:
        self.bankid_collect_lag.observe(max(0.0, seconds))

    def certificate_expiry(self, days_left: float, *, warn_days: int = 30) -> None:
        self.bankid_certificate_days.set(days_left)
        self.bankid_certificate_expiring.set(1 if days_left < warn_days else 0)

    def certificate_expires_at(
        self, not_after: float, clock: Clock, *, warn_days: int = 30
    ) -> None:
        """Both certificate gauges, computed at each scrape from `not_after` (a POSIX time), so
        a long-running instance counts down by itself."""

        def days_left() -> float:
            return (not_after - clock.now()) / 86400

        self.bankid_certificate_days.set_function(days_left)
        self.bankid_certificate_expiring.set_function(lambda: 1 if days_left() < warn_days else 0)

    # ------------------------------------------------------------------ exposition

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    async def endpoint(self, request: Request) -> Response:
        """The `/metrics` endpoint: Route("/metrics", metrics.endpoint)."""
        body, content_type = self.render(request.headers.get("accept"))
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})


# ---------------------------------------------------------------------- middleware


def route_template(routes: Iterable[BaseRoute], scope: Scope, prefix: str = "") -> str | None:
    """The template of the route that will serve `scope` ("/authorize", "/static/{path}"),
    found the way Starlette's router finds it; None when nothing matches."""
    partial = None
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        path = getattr(route, "path", "")
        if isinstance(route, Mount):
            inner = getattr(route.app, "routes", None)
            if inner is None:
                found = f"{prefix}{path}/{{path}}"
            else:
                found = route_template(inner, {**scope, **child}, prefix + path) or (
                    f"{prefix}{path}/{UNMATCHED}"
                )
        else:
            found = prefix + path
        if match is Match.FULL:
            return found
        partial = partial or found
    return partial


ResponseHeaders = Callable[[list[tuple[bytes, bytes]]], list[tuple[bytes, bytes]]]


class RequestObserver:
    """ASGI middleware that observes every HTTP request in one layer: counts and times it
    under its route template (`Metrics.observe_request`), and optionally gives it a request id
    (`request_ids`: `request_id_var`, ``scope["state"]``, the ``X-Request-ID`` response
    header), writes its access line (`access_log`: idp.observability.logging.log_access) and
    adds headers to its response (`response_headers`, e.g. idp.web.headers.SecurityPolicy).

    The route template is the one Starlette's router matched: the router leaves the route in
    ``scope["route"]`` (a mounted router overwrites it with its own) and a Mount adds its path
    to ``scope["root_path"]``, so nothing is matched twice. Prefixes come only from Mounts
    without parameters; anything else is matched again from the templates (`route_template`).
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        routes: Iterable[BaseRoute] | None = None,
        *,
        request_ids: bool = False,
        access_log: bool = False,
        response_headers: ResponseHeaders | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = list(routes) if routes is not None else None
        self.request_ids = request_ids
        self.access_log = access_log
        self.response_headers = response_headers
        self._prefixes: frozenset[str] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        before = (scope.get("app"), scope.get("root_path", ""), scope["path"])
        status = 500
        started = time.perf_counter()
        add = self.response_headers
        request_id = None
        id_header = None
        if self.request_ids:
            request_id = request_id_of(scope)
            id_header = (b"x-request-id", request_id.encode())

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if add is not None or id_header is not None:
                    headers = list(message.get("headers", ()))
                    if add is not None:
                        headers = add(headers)
                    if id_header is not None:
                        headers.append(id_header)
                    message["headers"] = headers
            await send(message)

        token = request_id_var.set(request_id) if request_id is not None else None
        try:
            await self.app(scope, receive, observed_send)
        finally:
            seconds = time.perf_counter() - started
            method = scope["method"]
            if method not in METHODS:
                method = _one_of(method.upper(), METHODS)
            endpoint = self._endpoint(scope, *before)
            self.metrics.observe_request(endpoint, method, status, seconds)
            if self.access_log:
                log_access(method, endpoint, status, seconds)
            if token is not None:
                request_id_var.reset(token)

    def _endpoint(self, scope: Scope, app: Any, root_path: str, path: str) -> str:
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        prefix = scope.get("root_path", "")[len(root_path) :]
        if prefix and prefix not in self._mount_prefixes(app):
            routes = self.routes if self.routes is not None else _routes_of(app)
            again = {
                "type": "http",
                "path": path,
                "root_path": root_path,
                "method": scope["method"],
            }
            return route_template(routes, again) or UNMATCHED
        if isinstance(route, Mount):
            inner = getattr(route.app, "routes", None)
            return prefix + ("/{path}" if inner is None else f"/{UNMATCHED}")
        return prefix + getattr(route, "path", "")

    def _mount_prefixes(self, app: Any) -> frozenset[str]:
        """The paths of the Mounts (nested too) that have no parameters."""
        if self._prefixes is None:
            found: set[str] = set()

            def walk(routes: Iterable[BaseRoute], prefix: str) -> None:
                for route in routes:
                    if isinstance(route, Mount) and "{" not in route.path:
                        found.add(prefix + route.path)
                        walk(getattr(route.app, "routes", None) or (), prefix + route.path)

            walk(self.routes if self.routes is not None else _routes_of(app), "")
            self._prefixes = frozenset(found)
        return self._prefixes


def _routes_of(app: Any) -> list[Any]:
    return list(getattr(app, "routes", []) or [])
