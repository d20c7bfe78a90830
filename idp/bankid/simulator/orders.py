"""The simulator's order book: BankID's order lifecycle, driven by an injected clock.

An order is ``pending/outstandingTransaction`` until the user app picks it up (QR scan,
autostart, or the phone app for phone orders). Picking it up writes a *timeline*: the pending
hint codes the user passes through, each lasting ``think_time`` seconds, then the final state.
Collect reads the timeline at the clock's current time, so tests move through the states by
advancing a `FixedClock`:

    QR scan        userSign                                  -> outcome
    autostart      started, userSign                         -> outcome
    phone          userCallConfirm, userSign                 -> outcome
    (+ userMrtd before the outcome when requirement.mrtd is set)

Not picked up within ``start_timeout`` (30 s): ``failed/startFailed``; a phone order not acted
on within ``order_lifetime``: ``failed/expiredTransaction``. A final order can be collected for
``complete_retention`` / ``failed_retention`` seconds, after which it is forgotten.

The book holds its state in process memory. It knows nothing of HTTP; `rp_api.py` and
`user_app.py` translate its results and `AppError`s to the wire.

Every RP API and user-app call does a bounded amount of work however many orders are live
(a load test keeps thousands pending): orders are found through dicts (by orderRef, token and
person), and forgetting orders past their retention pops them off a heap ordered by when each
becomes forgettable, touching only those that are due. Only the human page's list of pending
orders (`pending_orders`) reads them all.
"""

from __future__ import annotations

import base64
import collections
import heapq
import itertools
import math
import random
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import unquote

from idp.bankid.qr import ScannedQR, parse_qr_payload, verify_qr_auth_code
from idp.bankid.simulator.evidence import EvidenceFactory
from idp.bankid.simulator.persons import Outcome, Person, person_for
from idp.bankid.simulator.settings import SimulatorSettings
from idp.clock import Clock


class Kind(StrEnum):
    AUTH = "auth"
    SIGN = "sign"
    PAYMENT = "payment"
    PHONE_AUTH = "phone/auth"
    PHONE_SIGN = "phone/sign"

    @property
    def is_phone(self) -> bool:
        return self in (Kind.PHONE_AUTH, Kind.PHONE_SIGN)


class Via(StrEnum):
    QR = "qr"
    AUTOSTART = "autostart"
    PHONE = "phone"
    PAGE = "page"  # the human page: the tester acts as the app, no QR needed


@dataclass(frozen=True)
class Transaction:
    """A /payment order's ``userVisibleTransaction`` (reference 1.3), as the app shows it; the
    RP API checked it (``check_payment``)."""

    transaction_type: str  # card | npa
    recipient_name: str
    amount: str | None = None  # with currency, or neither ("money" is optional, never for npa)
    currency: str | None = None
    risk_warning: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The wire form, as the RP sent it."""
        body: dict[str, Any] = {
            "transactionType": self.transaction_type,
            "recipient": {"name": self.recipient_name},
        }
        if self.amount is not None:
            body["money"] = {"amount": self.amount, "currency": self.currency}
        if self.risk_warning is not None:
            body["riskWarning"] = self.risk_warning
        return body


class Action(StrEnum):
    APPROVE = "approve"
    CANCEL = "cancel"
    DECLINE_CALL = "decline_call"


@dataclass(frozen=True)
class State:
    status: str  # pending | failed | complete
    hint_code: str | None
    since: float
    completion_data: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def is_final(self) -> bool:
        return self.status != "pending"


@dataclass
class Order:
    order_ref: str
    kind: Kind
    created_at: float
    end_user_ip: str | None
    required_personal_number: str | None = field(repr=False)
    mrtd: bool = False
    return_url: str | None = None
    return_risk: bool = False
    user_visible_data: str | None = None
    user_non_visible_data: str | None = None
    user_visible_data_format: str | None = None
    #: /payment only: what the app shows besides the text, and the RP's riskFlags.
    transaction: Transaction | None = None
    risk_flags: tuple[str, ...] = ()
    auto_start_token: str | None = None
    qr_start_token: str | None = None
    qr_start_secret: str | None = field(default=None, repr=False)
    person: Person | None = None
    via: Via | None = None
    timeline: list[State] = field(default_factory=list)
    #: When the book may forget the order (its final state's time plus its retention), as
    #: last scheduled; an entry on the book's heap with another time is stale.
    forget_at: float = field(default=math.inf, repr=False, compare=False)
    #: How many times the RP collected it, when last, and the shortest time between two
    #: collects (for load tests, through the stats route).
    collects: int = field(default=0, repr=False, compare=False)
    collected_at: float | None = field(default=None, repr=False, compare=False)
    shortest_collect_gap: float | None = field(default=None, repr=False, compare=False)

    @property
    def visible_text(self) -> str | None:
        """`userVisibleData` as the app shows it (the RP API checked it is base64 of UTF-8)."""
        if self.user_visible_data is None:
            return None
        return base64.b64decode(self.user_visible_data).decode("utf-8")


class AppError(Exception):
    """A user-app request the simulated app refuses; becomes ``{"error", "detail"}``."""

    def __init__(self, status_code: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status_code, self.error, self.detail = status_code, error, detail


class AlreadyInProgressError(Exception):
    """A new order for a person who already has one in progress (both end up cancelled)."""


@dataclass(frozen=True)
class AppResult:
    order_ref: str
    flow: Via
    action: Action
    person: Person
    hint_codes: tuple[str, ...]
    outcome: str  # "complete" or the failed hint code
    final_at: float
    return_url: str | None = None
    #: What the app showed: the order's userVisibleData (decoded) and its format.
    user_visible_data: str | None = None
    user_visible_data_format: str | None = None
    #: A payment's userVisibleTransaction and riskFlags, as the app had them.
    transaction: Transaction | None = None
    risk_flags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "orderRef": self.order_ref,
            "flow": str(self.flow),
            "action": str(self.action),
            "person": {"name": self.person.name, "scenario": self.person.outcome.value},
            "hintCodes": list(self.hint_codes),
            "outcome": self.outcome,
            "finalAt": self.final_at,
        }
        if self.return_url is not None:
            body["returnUrl"] = self.return_url
            opens = browser_url(self.return_url)
            if opens != self.return_url:
                # What a test browser can follow: the phone's OS hands an iOS browser scheme
                # to that browser, which opens this https URL (see `browser_url`).
                body["opensUrl"] = opens
        if self.user_visible_data is not None:
            body["userVisibleData"] = self.user_visible_data
            body["userVisibleDataFormat"] = self.user_visible_data_format or "plaintext"
        if self.transaction is not None:
            body["userVisibleTransaction"] = self.transaction.to_json()
        if self.risk_flags:
            body["riskFlags"] = list(self.risk_flags)
        return body


#: iOS browsers' own schemes in a returnUrl (idp.bankid.launch.return_url_for), and the https
#: URL each opens: the simulator's app "follows" a return by telling the test what it opens,
#: as a real iPhone hands the scheme to that browser, which opens the https URL.
_BROWSER_SCHEMES = ("googlechromes://", "microsoft-edge-https://")
_FIREFOX_OPEN = "firefox://open-url?url="


def browser_url(return_url: str) -> str:
    """The https URL a returnUrl opens in the browser its scheme names; any other URL as is.

    Only for the simulator's app and the tests that follow its return: ``googlechromes://h/p``
    and ``microsoft-edge-https://h/p`` open ``https://h/p``; ``firefox://open-url?url=<u>``
    opens the URL-decoded ``<u>``."""
    for scheme in _BROWSER_SCHEMES:
        if return_url.startswith(scheme):
            return "https://" + return_url.removeprefix(scheme)
    if return_url.startswith(_FIREFOX_OPEN):
        return unquote(return_url.removeprefix(_FIREFOX_OPEN))
    return return_url


class OrderBook:
    def __init__(self, settings: SimulatorSettings, clock: Clock, rng: random.Random) -> None:
        self.settings, self.clock, self.rng = settings, clock, rng
        self.evidence = EvidenceFactory(rng, seed=settings.evidence_seed)
        self._orders: dict[str, Order] = {}
        # Orders past their retention window: BankID still knows it issued them, so collect
        # answers invalidParameters ("too old"), not notFound. Bounded, oldest dropped first.
        # (An OrderedDict: dropping a plain dict's first key again and again is not O(1).)
        self._forgotten: collections.OrderedDict[str, None] = collections.OrderedDict()
        # Indexes of `_orders`: by qrStartToken, by autoStartToken, and by the person an order
        # belongs to (`_owner`), each person's orders in creation order. The person index may
        # keep final orders until a lookup for that person drops them.
        self._by_qr_token: dict[str, Order] = {}
        self._by_autostart: dict[str, Order] = {}
        self._by_owner: dict[str, dict[str, Order]] = {}
        # (forget_at, sequence, orderRef), soonest first; see `_schedule`.
        self._expiry: list[tuple[float, int, str]] = []
        self._sequence = itertools.count()

    # --- state ------------------------------------------------------------------------------

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def state(self, order: Order, now: float) -> State:
        current = None
        for entry in order.timeline:
            if entry.since <= now:
                current = entry
        if current is not None:
            return current
        if order.timeline:  # picked up in the "future" (clock set backwards): not yet
            return State("pending", "outstandingTransaction", order.created_at)
        deadline = self._deadline(order)
        if now >= deadline:
            hint = "expiredTransaction" if order.kind.is_phone else "startFailed"
            return State("failed", hint, deadline)
        return State("pending", "outstandingTransaction", order.created_at)

    def _deadline(self, order: Order) -> float:
        """When an order nobody picks up fails (startFailed, or expiredTransaction by phone)."""
        return order.created_at + (
            self.settings.order_lifetime if order.kind.is_phone else self.settings.start_timeout
        )

    def _schedule(self, order: Order) -> None:
        """(Re)compute when the order may be forgotten and put it on the heap: its final
        state's time plus that state's retention. Called whenever its timeline changes (a few
        times per order at most); the entry it replaces stays on the heap, stale, until popped.
        """
        if order.timeline:
            final = order.timeline[-1]  # timelines end in their final state, times ascending
            status, since = final.status, final.since
        else:
            status, since = "failed", self._deadline(order)
        keep = (
            self.settings.complete_retention
            if status == "complete"
            else self.settings.failed_retention
        )
        order.forget_at = since + keep
        heapq.heappush(self._expiry, (order.forget_at, next(self._sequence), order.order_ref))

    def _purge(self, now: float) -> None:
        """Forget the orders past their retention: only the heap entries that are due."""
        expiry = self._expiry
        while expiry and expiry[0][0] < now:
            forget_at, _, ref = heapq.heappop(expiry)
            order = self._orders.get(ref)
            if order is None or order.forget_at != forget_at:
                continue  # rescheduled since (picked up, cancelled) or already forgotten
            self._forget(order)

    def _forget(self, order: Order) -> None:
        ref = order.order_ref
        del self._orders[ref]
        if order.qr_start_token is not None:
            self._by_qr_token.pop(order.qr_start_token, None)
        if order.auto_start_token is not None:
            self._by_autostart.pop(order.auto_start_token, None)
        owner = self._owner(order)
        if owner is not None:
            self._unindex_owner(owner, ref)
        self._forgotten[ref] = None
        if len(self._forgotten) > 100_000:
            self._forgotten.popitem(last=False)

    def _unindex_owner(self, owner: str, ref: str) -> None:
        mine = self._by_owner.get(owner)
        if mine is not None:
            mine.pop(ref, None)
            if not mine:
                del self._by_owner[owner]

    def _in_progress(self, personal_number: str, now: float) -> list[Order]:
        """The person's orders that are not final, in creation order. Final ones found on the
        way leave the person index (they stay in the book until forgotten), so each order is
        passed over at most once after it ended."""
        mine = self._by_owner.get(personal_number)
        if not mine:
            return []
        live: list[Order] = []
        for ref, order in list(mine.items()):
            if self.state(order, now).is_final:
                del mine[ref]
            else:
                live.append(order)
        if not mine:
            del self._by_owner[personal_number]
        return live

    def pending_orders(self) -> list[tuple[Order, State]]:
        """Every pending order, for the human page (the one call that reads all orders)."""
        now = self.clock.now()
        self._purge(now)
        result = [(o, self.state(o, now)) for o in self._orders.values()]
        return [(o, s) for o, s in result if not s.is_final]

    def _owner(self, order: Order) -> str | None:
        return order.person.personal_number if order.person else order.required_personal_number

    def _cancel(self, order: Order, now: float) -> None:
        order.timeline = [e for e in order.timeline if e.since <= now]
        order.timeline.append(State("failed", "cancelled", now))
        self._schedule(order)

    # --- RP API -----------------------------------------------------------------------------

    def create(self, kind: Kind, **fields: Any) -> Order:
        """Create an order; raises AlreadyInProgressError for a person with one in progress."""
        now = self.clock.now()
        self._purge(now)
        person_number = fields.get("required_personal_number")
        if person_number is not None:
            clashes = self._in_progress(person_number, now)
            if clashes:
                for other in clashes:
                    self._cancel(other, now)
                raise AlreadyInProgressError
        order = Order(order_ref=self._uuid(), kind=kind, created_at=now, **fields)
        if not kind.is_phone:
            order.auto_start_token = self._uuid()
            order.qr_start_token = self._uuid()
            order.qr_start_secret = self._uuid()
            self._by_autostart[order.auto_start_token] = order
            self._by_qr_token[order.qr_start_token] = order
        self._orders[order.order_ref] = order
        if person_number is not None:
            self._by_owner.setdefault(person_number, {})[order.order_ref] = order
        self._schedule(order)
        return order

    def find(self, order_ref: str) -> Order | None:
        self._purge(self.clock.now())
        return self._orders.get(order_ref)

    def was_issued(self, order_ref: str) -> bool:
        """True for an order this simulator issued and has since forgotten."""
        return order_ref in self._forgotten

    def collect(self, order: Order) -> State:
        now = self.clock.now()
        order.collects += 1
        if order.collected_at is not None:
            gap = now - order.collected_at
            if order.shortest_collect_gap is None or gap < order.shortest_collect_gap:
                order.shortest_collect_gap = gap
        order.collected_at = now
        return self.state(order, now)

    def stats(self) -> dict[str, Any]:
        """What a load test may read (``GET /stats``): how many orders the book holds, how
        often each was collected and the shortest time between two of its collects (seconds),
        by orderRef. Reads every order: not for the RP's path."""
        self._purge(self.clock.now())
        orders = self._orders.items()
        return {
            "orders": len(self._orders),
            "collects": {ref: o.collects for ref, o in orders},
            "shortestCollectGap": {
                ref: o.shortest_collect_gap
                for ref, o in orders
                if o.shortest_collect_gap is not None
            },
        }

    def cancel(self, order: Order) -> bool:
        """RP cancel: a pending order fails with ``cancelled`` (and stays collectable for the
        failed retention window); False for an order that already ended (invalidParameters)."""
        now = self.clock.now()
        if self.state(order, now).is_final:
            return False
        self._cancel(order, now)
        return True

    # --- the user app -----------------------------------------------------------------------

    def _choose_person(self, order: Order, personal_number: str | None) -> Person:
        if personal_number is None:
            if order.required_personal_number is not None:
                return person_for(order.required_personal_number)
            return self.settings.default_person
        person = person_for(personal_number)
        required = order.required_personal_number
        if required is not None and required != person.personal_number:
            raise AppError(
                403,
                "personal_number_mismatch",
                "the order requires another person's BankID (requirement.personalNumber)",
            )
        return person

    def _pickable(self, order: Order, now: float) -> None:
        state = self.state(order, now)
        if state.status != "pending" or state.hint_code != "outstandingTransaction":
            where = state.status if state.hint_code is None else f"{state.status}/{state.hint_code}"
            raise AppError(
                409, "no_pending_order", f"the order is no longer waiting for the app ({where})"
            )

    def scan(
        self, qr: str, personal_number: str | None, action: Action, device_ip: str
    ) -> AppResult:
        try:
            scanned: ScannedQR = parse_qr_payload(qr)
        except ValueError as exc:
            raise AppError(400, "invalid_qr", str(exc)) from None
        now = self.clock.now()
        self._purge(now)
        order = self._by_qr_token.get(scanned.qr_start_token)
        if order is None or order.qr_start_secret is None:
            raise AppError(404, "unknown_token", "no order has this qrStartToken")
        if not verify_qr_auth_code(order.qr_start_secret, scanned):
            raise AppError(400, "bad_hmac", "the QR auth code does not match qrStartSecret and t")
        self._pickable(order, now)
        current = math.floor(now - order.created_at)
        oldest = current - self.settings.qr_tolerance
        if not oldest <= scanned.t <= current:
            raise AppError(
                400,
                "stale_frame",
                f"frame t={scanned.t} is not current: the order is {current} s old and frames "
                f"t={max(oldest, 0)}..{current} are accepted",
            )
        return self._pick_up(order, Via.QR, personal_number, action, device_ip, now)

    def autostart(
        self, token: str, personal_number: str | None, action: Action, device_ip: str
    ) -> AppResult:
        now = self.clock.now()
        self._purge(now)
        order = self._by_autostart.get(token)
        if order is None:
            raise AppError(404, "unknown_token", "no order has this autoStartToken")
        self._pickable(order, now)
        return self._pick_up(order, Via.AUTOSTART, personal_number, action, device_ip, now)

    def phone(self, personal_number: str, action: Action, device_ip: str) -> AppResult:
        now = self.clock.now()
        self._purge(now)
        for order in self._in_progress(personal_number, now):
            if (
                order.kind.is_phone
                and order.required_personal_number == personal_number
                and self.state(order, now).hint_code == "outstandingTransaction"
            ):
                return self._pick_up(order, Via.PHONE, personal_number, action, device_ip, now)
        raise AppError(404, "no_pending_order", "this person has no pending phone order")

    def act(
        self, order_ref: str, personal_number: str | None, action: Action, device_ip: str
    ) -> AppResult:
        """The human page: act on an order as if its app had picked it up."""
        now = self.clock.now()
        order = self.find(order_ref)
        if order is None:
            raise AppError(404, "unknown_order", "no such order")
        self._pickable(order, now)
        via = Via.PHONE if order.kind.is_phone else Via.PAGE
        return self._pick_up(order, via, personal_number, action, device_ip, now)

    def _pick_up(
        self,
        order: Order,
        via: Via,
        personal_number: str | None,
        action: Action,
        device_ip: str,
        now: float,
    ) -> AppResult:
        if action is Action.DECLINE_CALL and not order.kind.is_phone:
            raise AppError(400, "invalid_action", "decline_call applies to phone orders only")
        person = self._choose_person(order, personal_number)
        # A new order for the user cancels the old one. Every order picked up by this person
        # is indexed under their number (`_owner`), so the index holds them all.
        for other in self._in_progress(person.personal_number, now):
            if other is not order and other.person == person:
                self._cancel(other, now)
        owner = self._owner(order)
        order.person, order.via = person, via
        if owner != person.personal_number:
            if owner is not None:
                self._unindex_owner(owner, order.order_ref)
            self._by_owner.setdefault(person.personal_number, {})[order.order_ref] = order
        order.timeline = self._timeline(order, via, person, action, device_ip, now)
        self._schedule(order)
        final = order.timeline[-1]
        return AppResult(
            order_ref=order.order_ref,
            flow=via,
            action=action,
            person=person,
            hint_codes=tuple(s.hint_code for s in order.timeline[:-1] if s.hint_code),
            outcome=final.status if final.status == "complete" else str(final.hint_code),
            final_at=final.since,
            return_url=order.return_url if via is Via.AUTOSTART else None,
            user_visible_data=order.visible_text,
            user_visible_data_format=order.user_visible_data_format,
            transaction=order.transaction,
            risk_flags=order.risk_flags,
        )

    def _timeline(
        self, order: Order, via: Via, person: Person, action: Action, device_ip: str, t: float
    ) -> list[State]:
        think = self.settings.think_time
        steps: list[State] = []

        def step(hint: str) -> None:
            nonlocal t
            steps.append(State("pending", hint, t))
            t += think

        def fail(hint: str, at: float | None = None) -> list[State]:
            steps.append(State("failed", hint, t if at is None else at))
            return steps

        if via is Via.PHONE:
            step("userCallConfirm")
            if action is Action.DECLINE_CALL:
                return fail("userDeclinedCall")
        elif via is Via.AUTOSTART:
            step("started")
        if action is Action.APPROVE and person.outcome is Outcome.NOT_SUPPORTED:
            return fail("notSupportedByUserApp")
        step("userSign")
        if action is Action.CANCEL or person.outcome is Outcome.USER_CANCEL:
            return fail("userCancel")
        if person.outcome is Outcome.EXPIRED:
            return fail(
                "expiredTransaction", max(t, order.created_at + self.settings.order_lifetime)
            )
        if person.outcome is Outcome.CERTIFICATE_ERR:
            return fail("certificateErr")
        if order.mrtd:
            step("userMrtd")
        if person.outcome is Outcome.RISK_BLOCKED:
            return fail("transactionRiskBlocked")
        steps.append(State("complete", None, t, self._completion(order, person, device_ip, t)))
        return steps

    def _completion(
        self, order: Order, person: Person, device_ip: str, at: float
    ) -> dict[str, Any]:
        function = "Identification" if order.kind in (Kind.AUTH, Kind.PHONE_AUTH) else "Signing"
        signature, ocsp_response = self.evidence.signature(
            person,
            at,
            user_visible_data=order.user_visible_data,
            user_non_visible_data=order.user_non_visible_data,
            visible_format=order.user_visible_data_format,
            function=function,
        )
        data: dict[str, Any] = {
            "user": {
                "personalNumber": person.personal_number,
                "name": person.name,
                "givenName": person.given_name,
                "surname": person.surname,
            },
            "device": {"ipAddress": device_ip, "uhi": self.evidence.uhi(person)},
            "bankIdIssueDate": person.bank_id_issue_date,
            "signature": signature,
            "ocspResponse": ocsp_response,
        }
        if order.mrtd:
            data["stepUp"] = {"mrtd": True}
        if order.return_risk:
            data["risk"] = "high" if person.outcome is Outcome.HIGH_RISK else "low"
        return data
