"""An async client for the BankID RP API v6.0 that mirrors its endpoints one to one.

Requests are checked against the API's rules *before* they are sent (a broken request is a bug
in the caller and raises `InvalidRequest`); answers are parsed into frozen dataclasses
(`models.py`); every failure is one of the `errors.py` classes. The client sends through a
`Link` (one POST, status/headers/body back) with the TLS context and clock injected:

* `AiohttpLink`, the network: production passes an ``ssl.SSLContext`` from
  `tls.create_ssl_context`. It is aiohttp rather than httpx (the stack's HTTP client
  elsewhere) for a measured reason: one process polls ~500 collects a second for 1,000
  pending logins, and a small POST cost the client 1-3 ms of CPU through httpx (httpcore's
  pool bookkeeping grows with queued requests) against 0.1-0.2 ms through aiohttp.
* `HttpxLink`, for an injected httpx transport: tests pass an ``httpx.MockTransport``, the
  in-process simulator an ``httpx.ASGITransport``.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import logging
import math
import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import httpx

from idp.authn import personal_number as pnr
from idp.authn import safejson
from idp.bankid.errors import (
    BackingOff,
    BankIDAPIError,
    BankIDConnectionError,
    BankIDError,
    BankIDProtocolError,
    BankIDTimeout,
    InternalError,
    InvalidRequest,
    Maintenance,
    RateLimited,
    TransportError,
    error_from_response,
)
from idp.bankid.models import (
    AppDevice,
    CallInitiator,
    CollectResponse,
    OrderResponse,
    PhoneOrderResponse,
    Requirement,
    UserVisibleDataFormat,
    UserVisibleTransaction,
    WebDevice,
)
from idp.bankid.observe import Observers
from idp.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataLimits:
    """Allowed length of the *base64-encoded* data fields, in characters (reference 1.1, 1.2)."""

    user_visible_data: int
    user_non_visible_data: int


AUTH_LIMITS = DataLimits(user_visible_data=1_500, user_non_visible_data=1_500)
SIGN_LIMITS = DataLimits(user_visible_data=40_000, user_non_visible_data=200_000)

RETURN_URL_MAX = 512
USER_AGENT_MAX = 256  # BankID's sample truncates the browser's User-Agent to this length
_REFERRING_DOMAIN = re.compile(r"^[a-z0-9.-]+$")
_POLICY = re.compile(r"^[0-9]+(\.[0-9]+)*(\.\*)?$")


def encode_text(text: str, field: str, limit: int) -> str:
    """Base64 of the UTF-8 text, checked against ``limit`` after encoding (1..limit chars)."""
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    if not 1 <= len(encoded) <= limit:
        raise InvalidRequest(
            f"{field} must be 1..{limit} characters after base64 encoding, got {len(encoded)}"
        )
    return encoded


def _check_ip(end_user_ip: str) -> str:
    try:
        return str(ipaddress.ip_address(end_user_ip))
    except ValueError:
        raise InvalidRequest("endUserIp must be an IPv4 or IPv6 address") from None


def _check_personal_number(value: str, field: str) -> str:
    try:
        return pnr.parse(value)
    except pnr.InvalidPersonalNumber:
        raise InvalidRequest(
            f"{field} must be 12 digits (YYYYMMDDNNNN) with a valid check digit"
        ) from None


def _requirement_json(requirement: Requirement | None) -> dict[str, Any] | None:
    if requirement is None:
        return None
    body = requirement.to_json()
    if requirement.personal_number is not None:
        body["personalNumber"] = _check_personal_number(
            requirement.personal_number, "requirement.personalNumber"
        )
    for policy in requirement.certificate_policies:
        if not _POLICY.match(policy):
            raise InvalidRequest("requirement.certificatePolicies must be OIDs, e.g. 1.2.752.78.*")
    return body or None


def _device_json(web: WebDevice | None, app: AppDevice | None) -> dict[str, Any]:
    if web is not None and app is not None:
        raise InvalidRequest("send web or app device data, never both")
    if web is not None:
        if web.user_agent is not None and len(web.user_agent) > USER_AGENT_MAX:
            web = WebDevice(
                web.referring_domain, web.user_agent[:USER_AGENT_MAX], web.device_identifier
            )
        body = web.to_json()
        if not body:
            raise InvalidRequest("web device data needs at least one member")
        if web.referring_domain is not None and not _REFERRING_DOMAIN.match(web.referring_domain):
            raise InvalidRequest("web.referringDomain allows a-z 0-9 . - only (use punycode)")
        return {"web": body}
    if app is not None:
        body = app.to_json()
        if not body:
            raise InvalidRequest("app device data needs at least one member")
        return {"app": body}
    return {}


def call_result(exc: BankIDError | None) -> str:
    """The metrics vocabulary for a call: "ok", BankID's errorCode, "timeout", "connection"."""
    if exc is None:
        return "ok"
    if isinstance(exc, BankIDTimeout):
        return "timeout"
    if isinstance(exc, TransportError):
        return "connection"
    if isinstance(exc, BankIDAPIError):
        return exc.raw_error_code or exc.error_code.value
    return "protocol"


def is_outage(exc: BankIDError) -> bool:
    """BankID cannot serve us right now: no answer, maintenance, its own fault, rate limiting.
    The person sees RFA5; the log says so once per outage (`OutageLog`), not per request."""
    return isinstance(exc, TransportError | Maintenance | InternalError | RateLimited)


class OutageLog:
    """Logs the start and the end of a BankID outage once each, however many calls fail in
    between: a burst of failed logins is one warning, not one line per request."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._since: float | None = None
        self._failures = 0

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, endpoint: str, exc: BankIDError) -> None:
        self._failures += 1
        if self._since is None:
            self._since = self._clock.now()
            log.warning(
                "BankID unavailable: %s on %s; people see RFA5, and further failures are "
                "not logged until BankID answers again",
                type(exc).__name__,
                endpoint,
            )

    def answered(self) -> None:
        if self._since is None:
            return
        log.info(
            "BankID answers again after %d failed call(s) over %.0f s",
            self._failures,
            max(0.0, self._clock.now() - self._since),
        )
        self._since = None
        self._failures = 0


#: Calls that start an order: refused locally while BankID's 429 is honoured.
ORDER_STARTS = frozenset({"auth", "sign", "payment", "phone/auth", "phone/sign"})
#: Seconds to back off after a 429 without a usable RateLimit-Reset / Retry-After, and at most.
BACKOFF_DEFAULT = 5
BACKOFF_MAX = 300
#: Bytes read from an answer at most; BankID's largest (a completed sign) is a few tens of kB.
MAX_ANSWER_BYTES = 1 << 20
#: Connections kept to BankID; a collect takes milliseconds, so 100 carry hundreds a second.
CONNECTION_LIMIT = 100
#: BankID answers 415 to a charset parameter (reference section 0): exactly this, no charset.
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class Link(Protocol):
    """One POST to the RP API: ``path`` relative to the base URL, JSON ``content`` already
    serialised. Returns status, headers (case-insensitive lookup) and body; raises
    `BankIDTimeout` or `BankIDConnectionError` when no answer arrived. Redirects are never
    followed. The network link also refuses an answer larger than `MAX_ANSWER_BYTES`
    (`BankIDProtocolError`)."""

    async def post(self, path: str, content: bytes) -> tuple[int, Mapping[str, str], bytes]: ...

    async def aclose(self) -> None: ...


class HttpxLink:
    """Through an injected httpx transport (tests, the in-process simulator)."""

    def __init__(
        self, base_url: str, transport: httpx.AsyncBaseTransport, timeout: float | httpx.Timeout
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            trust_env=False,
            follow_redirects=False,
        )

    async def post(self, path: str, content: bytes) -> tuple[int, Mapping[str, str], bytes]:
        try:
            response = await self._http.post(path, content=content, headers=_JSON_HEADERS)
        except httpx.TimeoutException as exc:
            raise BankIDTimeout(f"BankID {path}: timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise BankIDConnectionError(
                f"BankID {path}: connection failed ({type(exc).__name__})"
            ) from exc
        return response.status_code, response.headers, response.content

    async def aclose(self) -> None:
        await self._http.aclose()


def _client_timeout(timeout: float | httpx.Timeout) -> aiohttp.ClientTimeout:
    if isinstance(timeout, httpx.Timeout):
        # aiohttp has no write or pool timeout: the read timeout bounds the whole exchange,
        # the connect timeout getting a connection (from the pool or a new one).
        return aiohttp.ClientTimeout(total=timeout.read, connect=timeout.connect)
    return aiohttp.ClientTimeout(total=timeout)


class AiohttpLink:
    """The network, on an ``aiohttp.ClientSession`` with keep-alive connections.

    ``ssl_context`` verifies the server (and presents the RP certificate); without it, https
    URLs are verified against the system's default CAs. ``timeout`` bounds each exchange,
    connecting and reading the whole answer included. The environment is never read (no
    proxies from ``*_proxy`` variables). The session belongs to an event loop, so it is made
    at the first request, inside the running loop (`make_client` runs before any loop), and
    made again when a later request runs in another loop (after `aclose`, as an app's
    lifespan does).
    """

    def __init__(
        self,
        base_url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float | httpx.Timeout = 5.0,
        limit: int = CONNECTION_LIMIT,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.ssl_context = ssl_context
        self.timeout = _client_timeout(timeout)
        self.limit = limit
        self.max_answer_bytes = max_answer_bytes
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.limit,
                ssl=self.ssl_context if self.ssl_context is not None else True,
            )
            self._session = aiohttp.ClientSession(
                self.base_url,
                connector=connector,
                timeout=self.timeout,
                headers={"User-Agent": "idp"},
                trust_env=False,
                raise_for_status=False,
            )
            self._loop = loop
        return self._session

    async def post(self, path: str, content: bytes) -> tuple[int, Mapping[str, str], bytes]:
        session = self._open()
        try:
            async with session.post(
                path, data=content, headers=_JSON_HEADERS, allow_redirects=False
            ) as response:
                body = await self._read(path, response)
                return response.status, response.headers, body
        except TimeoutError as exc:  # before ClientError: ServerTimeoutError is both
            raise BankIDTimeout(f"BankID {path}: timed out ({type(exc).__name__})") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise BankIDConnectionError(
                f"BankID {path}: connection failed ({type(exc).__name__})"
            ) from exc

    async def _read(self, path: str, response: aiohttp.ClientResponse) -> bytes:
        limit = self.max_answer_bytes
        if response.content_length is not None and response.content_length > limit:
            response.close()
            raise BankIDProtocolError(f"BankID {path}: the answer is larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while chunk := await response.content.readany():
            size += len(chunk)
            if size > limit:
                response.close()
                raise BankIDProtocolError(f"BankID {path}: the answer is larger than {limit} bytes")
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def aclose(self) -> None:
        session, self._session, self._loop = self._session, None, None
        if session is not None:
            await session.close()


class BankIDClient:
    """The RP API v6.0 at ``base_url`` (e.g. ``tls.TEST_BASE_URL`` or a simulator's URL).

    Give either ``transport`` (tests, the in-process simulator: an `HttpxLink`) or
    ``ssl_context`` (mutual TLS from `tls.create_ssl_context`; the network: an `AiohttpLink`),
    or neither (plain HTTP or default verification, e.g. a standalone simulator). ``timeout``
    is per request, in seconds or as ``httpx.Timeout``. The environment is never read.
    ``observers`` hear of every call (endpoint, result, seconds).
    """

    def __init__(
        self,
        base_url: str,
        *,
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float | httpx.Timeout = 5.0,
        observers: Observers | None = None,
    ) -> None:
        self._clock = clock
        self.observers = observers if observers is not None else Observers()
        self.outage = OutageLog(clock)
        #: Until when (clock time) no order is started: BankID answered 429 (tooManyRequests).
        self.backoff_until = float("-inf")
        self.link: Link  # a transport wins over ssl_context, as it did with httpx alone
        if transport is not None:
            self.link = HttpxLink(base_url, transport, timeout)
        else:
            self.link = AiohttpLink(base_url, ssl_context=ssl_context, timeout=timeout)

    @property
    def over_network(self) -> bool:
        """Calls go over the network (not through an injected transport)."""
        return isinstance(self.link, AiohttpLink)

    async def __aenter__(self) -> BankIDClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.link.aclose()

    # --- endpoints --------------------------------------------------------------------------

    async def auth(
        self,
        *,
        end_user_ip: str,
        requirement: Requirement | None = None,
        user_visible_data: str | None = None,
        user_non_visible_data: str | None = None,
        user_visible_data_format: UserVisibleDataFormat | None = None,
        return_url: str | None = None,
        return_risk: bool | None = None,
        web: WebDevice | None = None,
        app: AppDevice | None = None,
    ) -> OrderResponse:
        """Start an authentication order (``/auth``, reference 1.1)."""
        body = self._order_body(
            AUTH_LIMITS,
            end_user_ip,
            requirement,
            user_visible_data,
            user_non_visible_data,
            user_visible_data_format,
            return_url,
            return_risk,
            web,
            app,
        )
        data = await self._post("auth", body)
        return OrderResponse.from_json(data, received_at=self._clock.now())

    async def sign(
        self,
        *,
        end_user_ip: str,
        user_visible_data: str,
        requirement: Requirement | None = None,
        user_non_visible_data: str | None = None,
        user_visible_data_format: UserVisibleDataFormat | None = None,
        return_url: str | None = None,
        return_risk: bool | None = None,
        web: WebDevice | None = None,
        app: AppDevice | None = None,
    ) -> OrderResponse:
        """Start a signature order (``/sign``, reference 1.2); ``user_visible_data`` required."""
        body = self._order_body(
            SIGN_LIMITS,
            end_user_ip,
            requirement,
            user_visible_data,
            user_non_visible_data,
            user_visible_data_format,
            return_url,
            return_risk,
            web,
            app,
        )
        data = await self._post("sign", body)
        return OrderResponse.from_json(data, received_at=self._clock.now())

    async def payment(
        self,
        *,
        end_user_ip: str,
        user_visible_transaction: UserVisibleTransaction,
        risk_flags: tuple[str, ...] = (),
        requirement: Requirement | None = None,
        user_visible_data: str | None = None,
        user_non_visible_data: str | None = None,
        user_visible_data_format: UserVisibleDataFormat | None = None,
        return_url: str | None = None,
        return_risk: bool | None = None,
        web: WebDevice | None = None,
        app: AppDevice | None = None,
    ) -> OrderResponse:
        """Start a payment order (``/payment``, reference 1.3)."""
        body = self._order_body(
            SIGN_LIMITS,
            end_user_ip,
            requirement,
            user_visible_data,
            user_non_visible_data,
            user_visible_data_format,
            return_url,
            return_risk,
            web,
            app,
        )
        body["userVisibleTransaction"] = user_visible_transaction.to_json()
        if risk_flags:
            body["riskFlags"] = list(risk_flags)
        data = await self._post("payment", body)
        return OrderResponse.from_json(data, received_at=self._clock.now())

    async def phone_auth(
        self,
        *,
        personal_number: str,
        call_initiator: CallInitiator,
        requirement: Requirement | None = None,
        user_visible_data: str | None = None,
        user_non_visible_data: str | None = None,
        user_visible_data_format: UserVisibleDataFormat | None = None,
    ) -> PhoneOrderResponse:
        """Authenticate someone on a phone call with the RP (``/phone/auth``, reference 1.4)."""
        body = self._phone_body(
            AUTH_LIMITS,
            personal_number,
            call_initiator,
            requirement,
            user_visible_data,
            user_non_visible_data,
            user_visible_data_format,
        )
        data = await self._post("phone/auth", body)
        return PhoneOrderResponse.from_json(data, received_at=self._clock.now())

    async def phone_sign(
        self,
        *,
        personal_number: str,
        call_initiator: CallInitiator,
        user_visible_data: str,
        requirement: Requirement | None = None,
        user_non_visible_data: str | None = None,
        user_visible_data_format: UserVisibleDataFormat | None = None,
    ) -> PhoneOrderResponse:
        """Sign with someone on a phone call with the RP (``/phone/sign``, reference 1.4)."""
        body = self._phone_body(
            SIGN_LIMITS,
            personal_number,
            call_initiator,
            requirement,
            user_visible_data,
            user_non_visible_data,
            user_visible_data_format,
        )
        data = await self._post("phone/sign", body)
        return PhoneOrderResponse.from_json(data, received_at=self._clock.now())

    async def collect(self, order_ref: str) -> CollectResponse:
        """Poll an order (``/collect``, reference 2); call it about every 2 seconds."""
        data = await self._post("collect", {"orderRef": self._check_order_ref(order_ref)})
        return CollectResponse.from_json(data)

    async def cancel(self, order_ref: str) -> None:
        """Cancel a pending order (``/cancel``, reference 1.7); BankID answers ``{}``."""
        await self._post("cancel", {"orderRef": self._check_order_ref(order_ref)})

    # --- request building -------------------------------------------------------------------

    @staticmethod
    def _check_order_ref(order_ref: str) -> str:
        if not isinstance(order_ref, str) or not order_ref:
            raise InvalidRequest("orderRef must be a non-empty string")
        return order_ref

    @staticmethod
    def _data_fields(
        limits: DataLimits,
        user_visible_data: str | None,
        user_non_visible_data: str | None,
        user_visible_data_format: UserVisibleDataFormat | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if user_visible_data is not None:
            body["userVisibleData"] = encode_text(
                user_visible_data, "userVisibleData", limits.user_visible_data
            )
        if user_non_visible_data is not None:
            body["userNonVisibleData"] = encode_text(
                user_non_visible_data, "userNonVisibleData", limits.user_non_visible_data
            )
        if user_visible_data_format is not None:
            if user_visible_data is None:
                raise InvalidRequest("userVisibleDataFormat needs userVisibleData")
            body["userVisibleDataFormat"] = str(UserVisibleDataFormat(user_visible_data_format))
        return body

    def _order_body(
        self,
        limits: DataLimits,
        end_user_ip: str,
        requirement: Requirement | None,
        user_visible_data: str | None,
        user_non_visible_data: str | None,
        user_visible_data_format: UserVisibleDataFormat | None,
        return_url: str | None,
        return_risk: bool | None,
        web: WebDevice | None,
        app: AppDevice | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"endUserIp": _check_ip(end_user_ip)}
        req = _requirement_json(requirement)
        if req is not None:
            body["requirement"] = req
        body.update(
            self._data_fields(
                limits, user_visible_data, user_non_visible_data, user_visible_data_format
            )
        )
        if return_url is not None:
            # returnUrl is 1..512 characters; an empty one is a 400 (reference 1.9).
            if not 1 <= len(return_url) <= RETURN_URL_MAX:
                raise InvalidRequest(f"returnUrl must be 1..{RETURN_URL_MAX} characters")
            body["returnUrl"] = return_url
        if return_risk is not None:
            body["returnRisk"] = bool(return_risk)
        body.update(_device_json(web, app))
        return body

    def _phone_body(
        self,
        limits: DataLimits,
        personal_number: str,
        call_initiator: CallInitiator,
        requirement: Requirement | None,
        user_visible_data: str | None,
        user_non_visible_data: str | None,
        user_visible_data_format: UserVisibleDataFormat | None,
    ) -> dict[str, Any]:
        try:
            initiator = CallInitiator(call_initiator)
        except ValueError:
            raise InvalidRequest('callInitiator must be "user" or "RP"') from None
        body: dict[str, Any] = {
            "personalNumber": _check_personal_number(personal_number, "personalNumber"),
            "callInitiator": str(initiator),
        }
        req = _requirement_json(requirement)
        if req is not None:
            body["requirement"] = req
        body.update(
            self._data_fields(
                limits, user_visible_data, user_non_visible_data, user_visible_data_format
            )
        )
        return body

    # --- transport --------------------------------------------------------------------------

    async def _post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        if endpoint in ORDER_STARTS and self._clock.now() < self.backoff_until:
            # BankID said 429: no new order from this process until its reset (collects of
            # the orders already started go on; they are what a person is waiting for).
            left = math.ceil(self.backoff_until - self._clock.now())
            raise BackingOff(429, None, "backing off after tooManyRequests", reset=left)
        started = time.perf_counter()
        try:
            data = await self._exchange(endpoint, body)
        except RateLimited as exc:
            wait = exc.reset if exc.reset is not None and exc.reset > 0 else BACKOFF_DEFAULT
            self.backoff_until = max(
                self.backoff_until, self._clock.now() + min(wait, BACKOFF_MAX)
            )
            self.observers.notify(
                "bankid_call", endpoint, call_result(exc), time.perf_counter() - started
            )
            self.outage.failed(endpoint, exc)
            raise
        except BankIDError as exc:
            self.observers.notify(
                "bankid_call", endpoint, call_result(exc), time.perf_counter() - started
            )
            if is_outage(exc):
                self.outage.failed(endpoint, exc)
            else:
                self.outage.answered()
            raise
        self.observers.notify("bankid_call", endpoint, "ok", time.perf_counter() - started)
        self.outage.answered()
        return data

    async def _exchange(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        # Serialised here so the Content-Type is exactly "application/json", no charset:
        # BankID answers 415 to a charset parameter (reference section 0).
        content = json.dumps(body, separators=(",", ":")).encode("ascii")
        status, headers, answer = await self.link.post(endpoint, content)
        log.debug("bankid %s -> %s", endpoint, status)
        if status != 200:
            raise error_from_response(status, answer, headers)
        try:
            data = safejson.loads(answer)
        except ValueError as exc:
            raise BankIDProtocolError(f"BankID {endpoint}: the answer is not JSON") from exc
        if not isinstance(data, dict):
            raise BankIDProtocolError(f"BankID {endpoint}: the answer is not a JSON object")
        return data
