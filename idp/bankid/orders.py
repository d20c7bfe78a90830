"""BankID orders of browser logins: server-side state, a throttled `collect`, one final result.

Everything lives in the TTL store, so any instance can answer any browser poll:

* ``bankid_order/<id>``: the order as started: the login it belongs to, the browser binding, the
  flow and platform, BankID's ``orderRef``, ``autoStartToken``, ``qrStartToken`` and
  ``qrStartSecret`` (reference 11.1: only the current QR payload ever reaches the browser), the
  ``returnUrl`` nonce, and the last pending hint code.
* ``bankid_collect/<id>``: a lease taken with ``add`` (SET NX) for `collect_interval` seconds.
  Browsers poll us once a second; only the poll that wins the lease calls BankID, so
  ``collect`` runs at most once per 2 s per order however many requests and instances there
  are (reference 6: "about every 2 s").
* ``bankid_final/<id>``: the final outcome, written with ``add``: the first final status wins,
  ``completionData`` is stored once and nobody collects that order again (reference 2.3: "Once
  an order is failed, do not collect it again"; 2.4: "collect the order once after it
  completes").

Errors BankID allows retrying (``maintenance``, rate limiting, a refused connection) are retried
quietly, up to `retries` attempts, before the user sees their message (reference 3:
``maintenance``: "You may retry without telling the user; if it keeps happening, show RFA5").

``alreadyInProgress`` arises only for an order restricted to one person (a ``login_hint`` with a
personal number, which only an authenticated client request can carry), and says that this
person is identifying somewhere right now. The page shows RFA22 ("Something went wrong. Please
try again."), not RFA4, and the login ends as refused, not as "in progress". The client can
still tell an immediate failure from a QR code: that is why naming a person needs an
authenticated request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field, replace
from typing import Any

import anyio

from idp.authn import FailureReason
from idp.authn.approval import Approval
from idp.bankid.approvals import approval_order
from idp.bankid.client import BankIDClient, is_outage
from idp.bankid.errors import AlreadyInProgress, BankIDError
from idp.bankid.launch import Platform
from idp.bankid.messages import Flow, message_for
from idp.bankid.models import (
    HintCode,
    OrderResponse,
    Requirement,
    Status,
    UserVisibleDataFormat,
    WebDevice,
)
from idp.bankid.observe import Observers, observers_of
from idp.bankid.outcomes import completion_json, error_reason, failed_reason
from idp.bankid.rfa import RFA
from idp.clock import Clock
from idp.store.sealed import Seal
from idp.store.ttl import LinkedClaim, TTLStore

log = logging.getLogger(__name__)

ORDER = "bankid_order"
FINAL = "bankid_final"
LEASE = "bankid_collect"
#: Taken once per order (``add``) by "continue in this browser": the returnUrl's nonce moves a
#: login to another browser at most once.
MOVE = "bankid_move"

COLLECT_INTERVAL = 2.0
#: How long a status poll waits for a due `collect` over the network before it answers with
#: what is stored; the collect goes on in the background and the next poll (a second later)
#: sees its result. A slow BankID answer then delays the news by a poll, not every poll of
#: every waiting page behind it.
COLLECT_WAIT = 0.05
RISK_DENIED = "risk_denied"  # our own message key (not an RFA): refused by the risk policy
#: Our own message key: a same-device order completed from another address than started it,
#: refused by `same_device_ip_policy: refuse`.
IP_MISMATCH = "ip_mismatch"
IP_POLICIES = ("ignore", "log", "refuse")


def same_device(started: str | None, completed: str | None) -> bool:
    """Whether the device that completed an order is, by its address, the one that started it
    (reference 2.4: compare ``device.ipAddress`` with the address the RP saw).

    The same address, an IPv4 address written as IPv4-mapped IPv6 included, or two IPv6
    addresses in one /64 (a device's temporary addresses share its prefix). Anything else,
    a missing address or another address family included, is not proven the same device."""
    try:
        a = ipaddress.ip_address(started or "")
        b = ipaddress.ip_address(completed or "")
    except ValueError:
        return False
    a, b = (
        x.ipv4_mapped if isinstance(x, ipaddress.IPv6Address) and x.ipv4_mapped else x
        for x in (a, b)
    )
    if a.version != b.version:
        return False
    if isinstance(a, ipaddress.IPv6Address):
        return ipaddress.ip_network((a, 64), strict=False) == ipaddress.ip_network(
            (b, 64), strict=False
        )
    return a == b


def _level(exc: BankIDError) -> int:
    return logging.DEBUG if is_outage(exc) else logging.INFO


@dataclass(frozen=True)
class Snapshot:
    """One order as a poll sees it; `status` is pending until a final result exists."""

    order_id: str
    record: dict[str, Any] = field(repr=False)
    final: dict[str, Any] | None = field(repr=False)

    @property
    def txn(self) -> str:
        return str(self.record["txn"])

    @property
    def binding(self) -> str:
        return str(self.record["binding"])

    @property
    def flow(self) -> Flow:
        return Flow(self.record["flow"])

    @property
    def platform(self) -> Platform:
        return Platform(self.record["platform"])

    @property
    def status(self) -> Status:
        return Status(self.final["status"]) if self.final else Status.PENDING

    @property
    def hint(self) -> HintCode | None:
        raw = self.final["hint"] if self.final else self.record.get("hint")
        return None if raw is None else HintCode(raw)

    @property
    def message_key(self) -> str | None:
        """An RFA id ("RFA1", ...) or `RISK_DENIED`; None once complete."""
        if self.final:
            return self.final.get("message")
        msg = message_for(Status.PENDING, self.hint, self.flow, platform=self.platform)
        return None if msg is None else str(msg.rfa_id)

    @property
    def reason(self) -> FailureReason | None:
        if self.final and self.final.get("reason"):
            return FailureReason(self.final["reason"])
        return None

    @property
    def completion(self) -> dict[str, Any] | None:
        return self.final.get("completion") if self.final else None

    @property
    def shows_qr(self) -> bool:
        """Reference 4.1 step 5: a QR code only while the app has not picked the order up."""
        return (
            self.flow is Flow.QR
            and self.final is None
            and self.hint is HintCode.OUTSTANDING_TRANSACTION
            and bool(self.record.get("qr_start_secret"))
        )

    @property
    def auto_start_token(self) -> str | None:
        return self.record.get("auto_start_token")

    @property
    def nonce(self) -> str | None:
        return self.record.get("nonce")

    @property
    def needs_return(self) -> bool:
        """A same-device order carries a returnUrl; it counts only once it returned."""
        return self.nonce is not None and not self.record.get("returned", False)

    def nonce_matches(self, nonce: str) -> bool:
        """Whether `nonce` is this order's returnUrl nonce (compared in constant time)."""
        return bool(self.nonce) and secrets.compare_digest(str(self.nonce).encode(), nonce.encode())

    @property
    def completed_at(self) -> float | None:
        """When we learnt the order completed (our clock), None unless complete."""
        if self.status is not Status.COMPLETE or self.final is None:
            return None
        at = self.final.get("at")
        return None if at is None else float(at)

    @property
    def browser(self) -> str | None:
        """The name of the browser that started the order ("Chrome"), if its User-Agent said."""
        return self.record.get("browser")

    @property
    def client(self) -> str | None:
        """The name of the service being logged into, as the app showed it."""
        return self.record.get("client")

    @property
    def moved_from(self) -> str | None:
        """The binding of the browser that started the order, once the login moved on to the
        browser the BankID app returned to (`LoginOrders.take_over`)."""
        return self.record.get("moved_from")


class LoginOrders:
    def __init__(
        self,
        client: BankIDClient,
        store: TTLStore,
        clock: Clock,
        *,
        ttl: float,
        deny_risk: Collection[str] = ("high",),
        collect_interval: float = COLLECT_INTERVAL,
        retries: int = 3,
        retry_delay: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        observers: Observers | None = None,
        collect_wait: float | None = None,
        same_device_ip_policy: str = "log",
        seal: Seal | None = None,
    ) -> None:
        if same_device_ip_policy not in IP_POLICIES:
            raise ValueError(f"same_device_ip_policy must be one of {IP_POLICIES}")
        self.client = client
        self.same_device_ip_policy = same_device_ip_policy
        #: A completed order's completionData (personal number, name, evidence) is sealed in
        #: the store; shared by every instance through the server secret it derives from.
        self.seal = seal or Seal.ephemeral()
        #: How long a poll waits for the collect it started (`COLLECT_WAIT`); None: until it
        #: is done (an in-process BankID, tests).
        self.collect_wait = collect_wait
        self._background: set[asyncio.Task[Snapshot]] = set()
        #: Orders with a collect in flight in this process. The lease expires after the
        #: interval even when BankID is slower than that to answer; no second collect of the
        #: order starts here before the first has its answer.
        self._collecting: set[str] = set()
        #: Told of logins started, completed and failed, and of collect lag; by default the
        #: client's observers, so one list serves the whole integration.
        self.observers = observers if observers is not None else observers_of(client)
        self.store = store
        self.clock = clock
        self.ttl = ttl
        self.deny_risk = frozenset(deny_risk)
        self.collect_interval = collect_interval
        self.retries = max(1, retries)
        self.retry_delay = retry_delay
        self.sleep = sleep

    async def start(
        self,
        *,
        txn: str,
        binding: str,
        flow: Flow,
        platform: Platform,
        end_user_ip: str,
        personal_number: str | None,
        return_url: Callable[[str], str] | None,
        web: WebDevice | None,
        user_visible_data: str | None = None,
        markdown: bool = False,
        approval: Approval | None = None,
        approval_binding: str = "",
        browser: str | None = None,
        client: str | None = None,
    ) -> str:
        """Start a BankID `/auth` order for a login; the id of our record (never the orderRef).

        Every same-device order carries a `returnUrl` with a per-order nonce (reference 1.9
        and 5.3), on a computer too: BankID's program opens it as the app does, and the order
        counts only once it came back to the browser that started it. `user_visible_data` is
        shown in the app (``userVisibleData``, as ``simpleMarkdownV1`` when `markdown`): the
        client's message, or the line naming the client. A call that fails
        leaves a record with a final failure, so the page shows its message (RFA5, ...).
        `browser` and `client` name the starting browser and the service, for the page the
        return shows if it lands in another browser.
        """
        order_id = secrets.token_urlsafe(18)
        nonce = (
            secrets.token_urlsafe(24)
            if flow is Flow.SAME_DEVICE and return_url is not None
            else None
        )
        record: dict[str, Any] = {
            "txn": txn,
            "binding": binding,
            "flow": str(flow),
            "platform": str(platform),
            "nonce": nonce,
            "returned": False,
            "hint": str(HintCode.OUTSTANDING_TRANSACTION),
            "streak": 0,
            "created_at": self.clock.now(),
            # What `ClientAddress` gave (behind trusted proxies, the person's), for the
            # same-device address check at completion.
            "end_user_ip": end_user_ip,
            "browser": browser,
            "client": client,
        }
        if approval is not None:
            record["kind"] = approval.type
        requirement = Requirement(personal_number=personal_number) if personal_number else None
        self.observers.notify("login_started", str(flow))
        device: dict[str, Any] = {
            "end_user_ip": end_user_ip,
            "return_url": return_url(nonce) if nonce and return_url else None,
            "return_risk": True,
            "web": web,
        }
        try:
            if approval is not None:
                order = await self._retrying(
                    lambda: approval_order(
                        self.client, approval, approval_binding, personal_number, **device
                    )
                )
            else:
                order = await self._retrying(
                    lambda: self.client.auth(
                        requirement=requirement,
                        user_visible_data=user_visible_data,
                        user_visible_data_format=UserVisibleDataFormat.SIMPLE_MARKDOWN_V1
                        if markdown and user_visible_data
                        else None,
                        **device,
                    )
                )
        except BankIDError as exc:
            # An outage is logged once by the client, not once per person.
            log.log(_level(exc), "BankID auth failed: %s", type(exc).__name__)
            await self.store.put(ORDER, order_id, record, self.ttl)
            if isinstance(exc, AlreadyInProgress):  # see the module's docstring
                await self._finish(
                    order_id, flow, self._failed(None, str(RFA.RFA22), FailureReason.REJECTED)
                )
            else:
                await self._finish_with_error(order_id, flow, exc)
            return order_id
        record.update(
            order_ref=order.order_ref,
            auto_start_token=order.auto_start_token,
            qr_start_token=order.qr_start_token,
            qr_start_secret=order.qr_start_secret,
            received_at=order.received_at,
        )
        await self.store.put(ORDER, order_id, record, self.ttl)
        return order_id

    async def get(self, order_id: str) -> Snapshot | None:
        """The order and its final result, read in one store round trip."""
        record, final = await self.store.get_many([(ORDER, order_id), (FINAL, order_id)])
        return self.snapshot(order_id, record, final)

    def snapshot(
        self, order_id: str, record: dict[str, Any] | None, final: dict[str, Any] | None
    ) -> Snapshot | None:
        """The order as read from the store (its final's completionData opened)."""
        if record is None:
            return None
        return Snapshot(order_id, record, self._opened(final))

    def _opened(self, final: dict[str, Any] | None) -> dict[str, Any] | None:
        if final is None or final.get("completion") is None:
            return final
        completion = self.seal.open(final["completion"])
        if completion is None:  # sealed under another secret: the login cannot finish
            return self._failed(None, str(RFA.RFA22), FailureReason.INTERNAL)
        return {**final, "completion": completion}

    async def poll(self, order_id: str) -> Snapshot | None:
        """The order now, calling BankID `collect` only if this poll wins the 2-second lease.

        The lease is what keeps `collect` to once per interval, across instances. It is tried
        only once the record says a collect is due, so the polls in between write nothing."""
        return await self.collect_if_due(await self.get(order_id))

    def lease_claim(self, binding: str) -> LinkedClaim:
        """The collect lease as a `LinkedClaim` on a login's read of its order (the login's
        `binding` must be this one): taken in the read's own round trip when the order was
        started at BankID, has no final result and its collect is due (`collect_due_at`)."""
        return LinkedClaim(
            kind=LEASE,
            ttl=self.collect_interval,
            match=("binding", binding),
            needs="order_ref",
            due="collected_at",
            due_by=self.clock.now() - self.collect_interval,
        )

    async def collect_if_due(
        self, snap: Snapshot | None, *, leased: bool | None = None
    ) -> Snapshot | None:
        """`poll` of an order already read (with `get`, or linked from its login). `leased`:
        whether the read took the lease already (`lease_claim`); None to take it here when
        due."""
        if snap is None or snap.final is not None or not snap.record.get("order_ref"):
            return snap
        if leased is False or snap.order_id in self._collecting:
            return snap
        if leased is None:
            if self.collect_due_at(snap) > self.clock.now():
                return snap
            if not await self.store.add(LEASE, snap.order_id, {}, self.collect_interval):
                return snap
        if self.collect_wait is None:
            return await self._collect(snap)
        task = asyncio.ensure_future(self._collect(snap))
        done, _ = await asyncio.wait({task}, timeout=self.collect_wait)
        if done:
            return task.result()
        # Still waiting for BankID: answer with the order as stored; the collect finishes on
        # its own (it holds the lease) and stores what it learns for the next poll. That poll
        # comes at the usual cadence, as after a collect that began now: not sooner, which
        # under load (collects slower than `collect_wait`) would add polls just when the
        # process has the least time for them.
        self._background.add(task)
        task.add_done_callback(self._collected_in_background)
        return replace(snap, record={**snap.record, "collected_at": self.clock.now()})

    def _collected_in_background(self, task: asyncio.Task[Snapshot]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # BankID's errors are handled inside; what is left is the store failing. The
            # lease expires and a later poll collects again.
            log.warning(
                "BankID collect in the background failed: %s", type(task.exception()).__name__
            )

    async def settle(self) -> None:
        """Wait for the collects still running in the background (tests, shutdown)."""
        while self._background:
            await asyncio.wait(set(self._background))

    def collect_due_at(self, snap: Snapshot) -> float:
        """When the next `collect` of a pending order may run: one interval after the last one
        (whichever instance ran it), or at once if it never ran."""
        last = snap.record.get("collected_at")
        return float("-inf") if last is None else float(last) + self.collect_interval

    async def _collect(self, snap: Snapshot) -> Snapshot:
        self._collecting.add(snap.order_id)
        try:
            return await self._collect_once(snap)
        finally:
            self._collecting.discard(snap.order_id)

    async def _collect_once(self, snap: Snapshot) -> Snapshot:
        record = dict(snap.record)
        now = self.clock.now()
        if record.get("collected_at") is not None:
            # Due one interval after the last collect, whichever instance ran it.
            self.observers.notify(
                "collect_lag", max(0.0, now - record["collected_at"] - self.collect_interval)
            )
        try:
            result = await self.client.collect(record["order_ref"])
        except BankIDError as exc:
            record["collected_at"] = self.clock.now()
            if exc.retry_allowed and record.get("streak", 0) + 1 < self.retries:
                record["streak"] = record.get("streak", 0) + 1
                await self.store.update(ORDER, snap.order_id, record)
                return Snapshot(snap.order_id, record, None)
            log.log(_level(exc), "BankID collect failed: %s", type(exc).__name__)
            final = await self._finish_with_error(snap.order_id, snap.flow, exc)
            return Snapshot(snap.order_id, record, final)
        # The next collect is due one interval after this one was answered, not after it was
        # sent: a request that left late (a busy process) is never followed by the next
        # within the interval at BankID.
        record["collected_at"] = self.clock.now()
        if result.status is Status.PENDING:
            record.update(hint=result.raw_hint_code or str(HintCode.UNKNOWN), streak=0)
            await self.store.update(ORDER, snap.order_id, record)
            return Snapshot(snap.order_id, record, None)
        if result.status is Status.COMPLETE and result.completion_data is not None:
            cd = result.completion_data
            if cd.risk is not None and str(cd.risk) in self.deny_risk:
                # Reference 2.4: "high: the RP should block or cancel the order".
                log.warning("BankID login refused by the risk policy (risk %s)", cd.risk)
                final = self._failed(None, RISK_DENIED, FailureReason.REJECTED)
            elif not self._same_device_ok(snap, cd.device.ip_address):
                final = self._failed(None, IP_MISMATCH, FailureReason.REJECTED)
            else:
                final = {
                    "status": str(Status.COMPLETE),
                    "hint": None,
                    "message": None,
                    "reason": None,
                    "completion": completion_json(cd),
                    "at": self.clock.now(),
                }
        else:
            hint_code = result.hint_code or HintCode.UNKNOWN
            msg = message_for(Status.FAILED, hint_code, snap.flow, platform=snap.platform)
            assert msg is not None
            final = self._failed(
                result.raw_hint_code,
                str(msg.rfa_id),
                failed_reason(hint_code),
            )
        return Snapshot(snap.order_id, record, await self._finish(snap.order_id, snap.flow, final))

    async def cancel(self, order_id: str) -> None:
        """The person cancelled in our page: stop the order here first, then at BankID."""
        snap = await self.get(order_id)
        if snap is None or snap.final is not None:
            return
        await self._finish(
            order_id,
            snap.flow,
            self._failed(str(HintCode.CANCELLED), "RFA3", FailureReason.CANCELLED),
        )
        if snap.record.get("order_ref"):
            try:
                await self.client.cancel(snap.record["order_ref"])
            except BankIDError as exc:  # already final at BankID, or BankID unreachable
                log.log(_level(exc), "BankID cancel failed: %s", type(exc).__name__)

    async def mark_returned(self, order_id: str) -> None:
        record = await self.store.get(ORDER, order_id)
        if record is not None and record.get("moved_from") is None:
            record["returned"] = True
            await self.store.update(ORDER, order_id, record)

    async def take_over(self, order_id: str, nonce: str, binding: str) -> Snapshot | None:
        """Move a completed order waiting for its return to the browser with `binding`: the
        browser the BankID app returned to, which proved it with the returnUrl's `nonce`.

        Once per order (the `MOVE` lease), only for a complete order that has not returned
        to the browser that started it, and only while the order is stored (its lifetime).
        The binding and "returned" change in one write, so the starting browser never sees
        the order returned as its own. The moved order, or None when refused."""
        snap = await self.get(order_id)
        if (
            snap is None
            or snap.status is not Status.COMPLETE
            or not snap.needs_return
            or snap.moved_from is not None
            or not snap.nonce_matches(nonce)
        ):
            return None
        if not await self.store.add(MOVE, order_id, {}, self.ttl):
            return None  # the nonce was used already
        record = {**snap.record, "binding": binding, "returned": True, "moved_from": snap.binding}
        if not await self.store.update(ORDER, order_id, record):
            return None
        return Snapshot(order_id, record, snap.final)

    async def forget(self, order_id: str) -> None:
        """Drop the order once its result was handed over (the final holds personal data)."""
        await self.store.delete(FINAL, order_id)
        await self.store.delete(ORDER, order_id)
        await self.store.delete(MOVE, order_id)

    # ------------------------------------------------------------------ helpers

    def _same_device_ok(self, snap: Snapshot, completed_ip: str | None) -> bool:
        """The same-device address check, as `same_device_ip_policy` says: False only when
        the policy refuses a same-device order completed from another address."""
        if snap.flow is not Flow.SAME_DEVICE or self.same_device_ip_policy == "ignore":
            return True
        if same_device(snap.record.get("end_user_ip"), completed_ip):
            return True
        refuse = self.same_device_ip_policy == "refuse"
        log.warning(
            "BankID same-device login completed from another address than it started%s",
            ": refused" if refuse else "",
        )
        return not refuse

    async def _retrying(self, call: Callable[[], Awaitable[OrderResponse]]) -> OrderResponse:
        for attempt in range(self.retries):
            try:
                return await call()
            except BankIDError as exc:
                if not exc.retry_allowed or attempt + 1 >= self.retries:
                    raise
                await self.sleep(self.retry_delay * (attempt + 1))
        raise AssertionError("unreachable")

    def _failed(self, hint: str | None, message: str, reason: FailureReason) -> dict[str, Any]:
        return {
            "status": str(Status.FAILED),
            "hint": hint,
            "message": message,
            "reason": reason.value,
            "completion": None,
            "at": self.clock.now(),
        }

    async def _finish_with_error(
        self, order_id: str, flow: Flow, exc: BankIDError
    ) -> dict[str, Any]:
        return await self._finish(
            order_id, flow, self._failed(None, str(exc.rfa), error_reason(exc))
        )

    async def _finish(self, order_id: str, flow: Flow, final: dict[str, Any]) -> dict[str, Any]:
        """Store the final result once; if another poll got there first, theirs stands.
        Only the poll that stores it reports the login's end, so each login counts once."""
        stored = final
        if final.get("completion") is not None:
            stored = {**final, "completion": self.seal.seal(final["completion"])}
        if await self.store.add(FINAL, order_id, stored, self.ttl):
            if final["status"] == str(Status.COMPLETE):
                log.info("BankID login complete (%s, txn %s)", flow, final["completion"]["txn"])
                self.observers.notify("login_completed", str(flow))
            else:
                self.observers.notify("login_failed", str(flow), FailureReason(final["reason"]))
            return final
        return self._opened(await self.store.get(FINAL, order_id)) or final
