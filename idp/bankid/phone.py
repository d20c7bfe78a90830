"""BankID phone authentication (``/phone/auth``, ``/phone/sign``) as a backchannel authenticator.

Customer-service staff on a call with someone start an order for that person's personal
number; the BankID app tells the person they are in a call with us, shows the binding message
(``userVisibleData``) and asks them to confirm (reference 1.4). `callInitiator` says who placed
the call: ``RP`` for staff calling out, ``user`` for an inbound line. A client entry can require
``/phone/sign``, so that the message is signed, not just shown.

A request with an approval (a signature, RFC 9396 ``authorization_details``) is always a
``/phone/sign`` order: the app shows the approval's text (``simpleMarkdownV1`` when it is
Markdown) instead of the binding message, since BankID shows one ``userVisibleData``; the
``userNonVisibleData`` is the approval's binding text (the request, a digest of what was shown,
and the client's own data); the requirement is the approval's (only ``pinCode`` and
``certificatePolicies``: all ``/phone/sign`` takes). The completed order's signature and OCSP
response come back as the evidence claims. BankID has no phone payment.

The order is kept in the TTL store under ``bankid_phone/<request id>`` (orderRef and the
personal number it was started for), so whichever instance follows the request can collect it.
Hint codes and orderRefs stay here; the core sees `Pending`, `Authentication` or a `Failure`
with a neutral reason. Errors BankID allows retrying are retried quietly when starting, and
tolerated for a few collects in a row before the request fails.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio

from idp.authn import (
    CALL_CONFIRMED,
    Authentication,
    BackchannelRequest,
    Failure,
    FailureReason,
    Pending,
)
from idp.authn import personal_number as pnr
from idp.authn.approval import Approval
from idp.bankid.approvals import evidence_claims, requirement_of
from idp.bankid.client import BankIDClient, is_outage
from idp.bankid.errors import (
    BankIDError,
    InvalidRequest,
)
from idp.bankid.models import (
    CallInitiator,
    HintCode,
    PhoneOrderResponse,
    Status,
    UserVisibleDataFormat,
)
from idp.bankid.observe import Observers, observers_of
from idp.bankid.outcomes import claims_from_completion, completion_json, error_reason, failed_reason
from idp.clock import Clock
from idp.store.ttl import TTLStore

log = logging.getLogger(__name__)

ACR_PHONE = "urn:grn:authn:se:bankid:phone"
# RFC 8176: proof of possession of a software-held key, unlocked by a second factor.
AMR = ("swk", "mfa")
SUBJECT_PREFIX = "se-pnr:"
HINT_PREFIX = "sub:ssn:"  # Criipto's login_hint form for Swedish personal numbers
KIND = "bankid_phone"
COLLECT_INTERVAL = 2.0  # reference 6: collect about every 2 s
PATH = "phone"  # the login path, for observers
#: Pending hints after the person confirmed the call in the app (reference 1.4 and 2: the app
#: asks userCallConfirm first, then for the security code or the ID document).
_PAST_THE_CALL = frozenset({HintCode.USER_SIGN, HintCode.USER_MRTD, HintCode.PROCESSING})


def _level(exc: BankIDError) -> int:
    # An outage is logged once by the client, not once per request.
    return logging.DEBUG if is_outage(exc) else logging.INFO


class PhoneAuthenticator:
    acr_values = (ACR_PHONE,)

    def __init__(
        self,
        client: BankIDClient,
        store: TTLStore,
        clock: Clock,
        *,
        poll_interval: float = COLLECT_INTERVAL,
        retries: int = 3,
        retry_delay: float = 0.5,
        tolerated_collect_errors: int = 5,
        ttl: float = 900.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        observers: Observers | None = None,
    ) -> None:
        self.client = client
        #: Told of phone logins started, completed and failed, and of collect lag (by default
        #: the client's observers).
        self.observers = observers if observers is not None else observers_of(client)
        self.store = store
        self.clock = clock
        self.poll_interval = poll_interval
        self.retries = max(1, retries)
        self.retry_delay = retry_delay
        self.tolerated_collect_errors = tolerated_collect_errors
        self.ttl = ttl
        self.sleep = sleep

    def resolve_login_hint(self, login_hint: str) -> str | None:
        """``YYYYMMDDNNNN``, ``YYYYMMDD-NNNN`` or ``sub:ssn:YYYYMMDDNNNN``, with a valid date
        and check digit; the subject is ``se-pnr:<12 digits>``."""
        value = login_hint.strip()
        if value.startswith(HINT_PREFIX):
            value = value[len(HINT_PREFIX) :]
        try:
            return SUBJECT_PREFIX + pnr.parse(value)
        except pnr.InvalidPersonalNumber:
            return None

    async def start(self, request: BackchannelRequest) -> Failure | None:
        if not request.subject.startswith(SUBJECT_PREFIX):
            return Failure(FailureReason.INTERNAL, "not a personal number")
        number = request.subject[len(SUBJECT_PREFIX) :]
        initiator = CallInitiator(str(request.options.get("call_initiator", "RP")))
        text = request.binding_message
        sign = bool(request.options.get("sign"))
        approval = request.approval
        binding = request.approval_binding or ""
        if approval is not None:
            try:  # the core refused these already: what /phone/sign cannot do, or no binding
                approval.bankid_phone_request(binding=binding)
            except ValueError as exc:
                log.error("BankID phone approval refused before sending: %s", type(exc).__name__)
                return self._failed(FailureReason.INTERNAL)
            sign = True

        async def call() -> PhoneOrderResponse:
            if approval is not None:
                return await self._approval_order(number, initiator, approval, binding)
            if sign and text is not None:
                return await self.client.phone_sign(
                    personal_number=number, call_initiator=initiator, user_visible_data=text
                )
            return await self.client.phone_auth(
                personal_number=number, call_initiator=initiator, user_visible_data=text
            )

        self.observers.notify("login_started", PATH)
        try:
            order = await self._retrying(call)
        except InvalidRequest:
            log.error("BankID phone order refused before sending (a bug: check the limits)")
            return self._failed(FailureReason.INTERNAL)
        except BankIDError as exc:
            log.log(_level(exc), "BankID phone order failed: %s", type(exc).__name__)
            return self._failed(error_reason(exc))
        record = {
            "order_ref": order.order_ref,
            "personal_number": number,
            "started_at": order.received_at,
            "errors": 0,
            "kind": None if approval is None else approval.type,
        }
        await self.store.put(KIND, request.request_id, record, self.ttl)
        log.info(
            "BankID phone order started (%s, call from %s)",
            "approval" if approval is not None else "sign" if sign else "auth",
            initiator,
        )
        return None

    async def _approval_order(
        self, number: str, initiator: CallInitiator, approval: Approval, binding: str
    ) -> PhoneOrderResponse:
        """``/phone/sign`` with the approval's text, binding and requirement."""
        assert approval.text is not None  # a signature always shows its text
        markdown = UserVisibleDataFormat.SIMPLE_MARKDOWN_V1 if approval.markdown else None
        return await self.client.phone_sign(
            personal_number=number,
            call_initiator=initiator,
            user_visible_data=approval.text,
            user_visible_data_format=markdown,
            user_non_visible_data=approval.binding_text(binding),
            requirement=requirement_of(approval, None),
        )

    async def poll(self, request_id: str) -> Pending | Authentication | Failure:
        record = await self.store.get(KIND, request_id)
        if record is None:
            return Failure(FailureReason.INTERNAL, "the order is gone")
        now = self.clock.now()
        if record.get("collected_at") is not None:
            self.observers.notify(
                "collect_lag", max(0.0, now - record["collected_at"] - self.poll_interval)
            )
        record["collected_at"] = now
        try:
            result = await self.client.collect(record["order_ref"])
        except BankIDError as exc:
            errors = int(record.get("errors", 0)) + 1
            if exc.retry_allowed and errors < self.tolerated_collect_errors:
                record["errors"] = errors
                await self.store.update(KIND, request_id, record)
                return Pending()
            log.log(_level(exc), "BankID collect failed: %s", type(exc).__name__)
            await self.store.delete(KIND, request_id)
            return self._failed(error_reason(exc))
        if result.status is Status.PENDING:
            record["errors"] = 0
            await self.store.update(KIND, request_id, record)
            return Pending(CALL_CONFIRMED if result.hint_code in _PAST_THE_CALL else None)
        await self.store.delete(KIND, request_id)  # final: never collect it again (ref. 2.3)
        if result.status is Status.COMPLETE and result.completion_data is not None:
            cd = result.completion_data
            if cd.user.personal_number != record["personal_number"]:
                log.warning("BankID completed a phone order for another person; refused")
                return self._failed(FailureReason.REJECTED)
            completion = completion_json(cd)
            log.info("BankID phone order complete (txn %s)", completion["txn"])
            self.observers.notify("login_completed", PATH)
            claims = claims_from_completion(completion)
            if record.get("kind"):  # an approval: its evidence goes to the client
                claims.update(evidence_claims(completion))
            return Authentication(
                subject=SUBJECT_PREFIX + cd.user.personal_number,
                acr=ACR_PHONE,
                amr=AMR,
                auth_time=self.clock.now(),
                claims=claims,
            )
        hint = result.hint_code or HintCode.UNKNOWN
        log.info("BankID phone order failed: %s", result.raw_hint_code or "unknown")
        return self._failed(failed_reason(hint))

    async def cancel(self, request_id: str) -> None:
        """The core gives up on a request only when it expired (see BackchannelAuthenticator)."""
        record = await self.store.get(KIND, request_id)
        if record is None:
            return
        await self.store.delete(KIND, request_id)
        self.observers.notify("login_failed", PATH, FailureReason.EXPIRED)
        try:
            await self.client.cancel(record["order_ref"])
        except BankIDError as exc:  # already final at BankID, or BankID unreachable
            log.log(_level(exc), "BankID cancel failed: %s", type(exc).__name__)

    def _failed(self, reason: FailureReason) -> Failure:
        self.observers.notify("login_failed", PATH, reason)
        return Failure(reason)

    async def _retrying(
        self, call: Callable[[], Awaitable[PhoneOrderResponse]]
    ) -> PhoneOrderResponse:
        for attempt in range(self.retries):
            try:
                return await call()
            except BankIDError as exc:
                if not exc.retry_allowed or attempt + 1 >= self.retries:
                    raise
                await self.sleep(self.retry_delay * (attempt + 1))
        raise AssertionError("unreachable")
