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
"""

from __future__ import annotations

import base64
import math
import random
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

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
    auto_start_token: str | None = None
    qr_start_token: str | None = None
    qr_start_secret: str | None = field(default=None, repr=False)
    person: Person | None = None
    via: Via | None = None
    timeline: list[State] = field(default_factory=list)

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
        if self.user_visible_data is not None:
            body["userVisibleData"] = self.user_visible_data
            body["userVisibleDataFormat"] = self.user_visible_data_format or "plaintext"
        return body


class OrderBook:
    def __init__(self, settings: SimulatorSettings, clock: Clock, rng: random.Random) -> None:
        self.settings, self.clock, self.rng = settings, clock, rng
        self.evidence = EvidenceFactory(rng)
        self._orders: dict[str, Order] = {}
        # Orders past their retention window: BankID still knows it issued them, so collect
        # answers invalidParameters ("too old"), not notFound. Bounded, oldest dropped first.
        self._forgotten: dict[str, None] = {}

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
        deadline = order.created_at + (
            self.settings.order_lifetime if order.kind.is_phone else self.settings.start_timeout
        )
        if now >= deadline:
            hint = "expiredTransaction" if order.kind.is_phone else "startFailed"
            return State("failed", hint, deadline)
        return State("pending", "outstandingTransaction", order.created_at)

    def _purge(self, now: float) -> None:
        for ref, order in list(self._orders.items()):
            state = self.state(order, now)
            if state.is_final:
                keep = (
                    self.settings.complete_retention
                    if state.status == "complete"
                    else self.settings.failed_retention
                )
                if now > state.since + keep:
                    del self._orders[ref]
                    self._forgotten[ref] = None
                    if len(self._forgotten) > 100_000:
                        del self._forgotten[next(iter(self._forgotten))]

    def pending_orders(self) -> list[tuple[Order, State]]:
        now = self.clock.now()
        self._purge(now)
        result = [(o, self.state(o, now)) for o in self._orders.values()]
        return [(o, s) for o, s in result if not s.is_final]

    def _owner(self, order: Order) -> str | None:
        return order.person.personal_number if order.person else order.required_personal_number

    def _cancel(self, order: Order, now: float) -> None:
        order.timeline = [e for e in order.timeline if e.since <= now]
        order.timeline.append(State("failed", "cancelled", now))

    # --- RP API -----------------------------------------------------------------------------

    def create(self, kind: Kind, **fields: Any) -> Order:
        """Create an order; raises AlreadyInProgressError for a person with one in progress."""
        now = self.clock.now()
        self._purge(now)
        person_number = fields.get("required_personal_number")
        if person_number is not None:
            clashes = [
                o
                for o in self._orders.values()
                if self._owner(o) == person_number and not self.state(o, now).is_final
            ]
            if clashes:
                for other in clashes:
                    self._cancel(other, now)
                raise AlreadyInProgressError
        order = Order(order_ref=self._uuid(), kind=kind, created_at=now, **fields)
        if not kind.is_phone:
            order.auto_start_token = self._uuid()
            order.qr_start_token = self._uuid()
            order.qr_start_secret = self._uuid()
        self._orders[order.order_ref] = order
        return order

    def find(self, order_ref: str) -> Order | None:
        self._purge(self.clock.now())
        return self._orders.get(order_ref)

    def was_issued(self, order_ref: str) -> bool:
        """True for an order this simulator issued and has since forgotten."""
        return order_ref in self._forgotten

    def collect(self, order: Order) -> State:
        return self.state(order, self.clock.now())

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
        order = next(
            (o for o in self._orders.values() if o.qr_start_token == scanned.qr_start_token), None
        )
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
        order = next((o for o in self._orders.values() if o.auto_start_token == token), None)
        if order is None:
            raise AppError(404, "unknown_token", "no order has this autoStartToken")
        self._pickable(order, now)
        return self._pick_up(order, Via.AUTOSTART, personal_number, action, device_ip, now)

    def phone(self, personal_number: str, action: Action, device_ip: str) -> AppResult:
        now = self.clock.now()
        self._purge(now)
        for order in self._orders.values():
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
        for other in self._orders.values():  # a new order for the user cancels the old one
            if other is not order and other.person == person:
                if not self.state(other, now).is_final:
                    self._cancel(other, now)
        order.person, order.via = person, via
        order.timeline = self._timeline(order, via, person, action, device_ip, now)
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
