"""`BankIDAuthenticator`: the browser login with BankID, behind the core's authenticator contract.

The core hands over a login transaction (`LoginRequest`); these pages run the BankID order and
hand back an `Authentication` or a neutral `Failure`. Pages, in the order a person sees them:

* ``GET /bankid/login``: the start. The common way first: a page whose form posts it to
  ``/bankid/start``, sent at once by the page's script, so a computer shows the QR code and a
  phone or tablet the "Open the BankID app" link (one tap) without a click; the other way is a
  secondary action there. Without script the page asks "this device or another device?"
  (RFA19 on a computer, RFA20 on a phone) with two buttons. ``acr_values`` naming one way
  (``urn:grn:authn:se:bankid:same-device`` or ``urn:grn:authn:se:bankid:qr``) leaves only that
  one. A GET never starts an order: a link, a prefetch or a crawler that follows the login URL
  starts nothing at BankID. Switching ways cancels the old order only while the app has not
  picked it up (`engaged`).
* ``POST /bankid/start``: starts the order for the chosen way, with the client's message
  (`LoginRequest.user_message`, in the page's language) as ``userVisibleData``.
* ``GET /bankid/wait``: the animated QR code, or the launch link for this device, with the RFA
  status text; ``GET /bankid/status`` is what its script polls. The status carries the QR
  frame's text (``bankid.<qrStartToken>.<t>.<qrAuthCode>``), which the page draws itself,
  ``frames``: the current frame and the next `FRAMES_AHEAD`, each with its due time on the
  order's clock (``due_ms``, against ``elapsed_ms``), so the page changes frames on a steady
  one-second beat by its own timer, and ``next_poll_ms``: when to ask again. A QR page asks
  just past the order's next `collect` (every 2 s: the order's state changes only then; the
  frames it holds last longer), a same-device page about once a second.
* ``GET /bankid/return``: the order's ``returnUrl`` on a phone; accepted only with the order's
  nonce in the browser that started it (reference 1.9, 5.3). With the nonce in another browser
  (iOS opens https links in Safari), a page says so and offers ``POST /bankid/return/continue``
  ("Continue in this browser"), which moves the login there, once; the starting browser then
  cannot finish it. Chrome, Firefox and Edge on iOS get their own scheme in the returnUrl.
* ``GET /bankid/done``: a completed order becomes the `Authentication`.
* ``POST /bankid/cancel`` and ``POST /bankid/retry``; the page's script renews an expired QR
  code (startFailed, never scanned) with ``retry`` and ``renew=1``, `QR_RENEWALS` times at most.

Binding (reference 5.4): every page and poll first asks the core whether the login belongs to
this browser (its cookie), then checks our own record's hash of the same cookie. ``orderRef``
and ``qrStartSecret`` never leave the server; the ``autoStartToken`` is sent only inside the
launch link, to the browser that started the order, on the same-device page.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from idp.authn import Authentication, Failure, FailureReason, LoginHandoff, LoginRequest
from idp.authn import personal_number as pnr
from idp.authn.approval import PAYMENT, Approval
from idp.bankid import texts  # noqa: F401  (registers the page texts)
from idp.bankid.approvals import evidence_claims
from idp.bankid.launch import detect_browser, detect_platform, launch_link, return_url_for
from idp.bankid.messages import Flow
from idp.bankid.models import HintCode, Status, WebDevice
from idp.bankid.orders import FINAL, IP_MISMATCH, ORDER, RISK_DENIED, LoginOrders, Snapshot
from idp.bankid.outcomes import claims_from_completion, subject_of
from idp.bankid.phone import SUBJECT_PREFIX
from idp.bankid.qr import elapsed_seconds, qr_payload
from idp.bankid.rfa import RFA, message
from idp.clock import Clock
from idp.store.ttl import TTLStore
from idp.web import i18n, ratelimit
from idp.web.client_address import ClientAddress
from idp.web.cookies import Cookies
from idp.web.errors import error_page
from idp.web.markdown import approval_html
from idp.web.ratelimit import Limited, RateLimiter
from idp.web.templating import Templates

ACR_BANKID = "urn:grn:authn:se:bankid"
ACR_SAME_DEVICE = "urn:grn:authn:se:bankid:same-device"
ACR_QR = "urn:grn:authn:se:bankid:qr"
ACR_BY_FLOW = {Flow.SAME_DEVICE: ACR_SAME_DEVICE, Flow.QR: ACR_QR}
FLOW_BY_ACR = {acr: flow for flow, acr in ACR_BY_FLOW.items()}
AMR = ("mfa",)  # RFC 8176: something you have (the BankID) and know or are (code, biometrics)

LOGIN = "bankid_login"
#: A login that moved on to the browser the BankID app returned to: which browser it left (its
#: binding) and in which language, so that browser's page can say so, even after the login
#: ended and its record is gone.
MOVED = "bankid_moved"

# When the page polls next (``next_poll_ms``): just past the next `collect`, the only thing
# that changes the order's state, with a margin for timers and clocks, within these bounds.
# A QR page has its frames ahead (`FRAMES_AHEAD`), so it waits for the collect (one per order
# every 2 s) up to `POLL_MAX_QR_MS`; any other page at most `POLL_MAX_MS`.
POLL_MARGIN = 0.03
POLL_MIN_MS = 200
POLL_MAX_MS = 1000
POLL_MAX_QR_MS = 2000
#: The page polls up to this fraction later than ``next_poll_ms``, at random (its
#: ``data-poll-spread``, read by static/js/bankid.js): the next collect is due two seconds
#: after this one, so pages whose answers came together (after a busy moment) would
#: otherwise poll in step for good, in waves.
POLL_SPREAD = 0.125
#: A QR code's order fails (startFailed, RFA17B) when nobody scans it within about 30 s
#: (reference 4.1 step 8); the page counts down to this, then renews the order itself (a new
#: order, by a POST from its script) up to `QR_RENEWALS` times before asking for a click.
QR_LIFETIME = 30.0
QR_RENEWALS = 3
#: Frames of the QR code ahead of the current one in each status answer, with the second of
#: the order each one is due: the page changes frames on the order's one-second beat by its own
#: timer, not when an answer arrives. Only frame texts (HMACs of future seconds), never the
#: qrStartSecret, and only to the browser that started the order. Enough to cover the longest
#: gap between a QR page's polls (`POLL_MAX_QR_MS` and its `POLL_SPREAD`: 2.25 s) and a second
#: more: an answer made at any moment of second ``t`` has frames up to ``t + 4``, shown until
#: ``t + 5``, at least 4 s on; so frames stay on the beat with answers up to 0.85 s late each way.
FRAMES_AHEAD = math.ceil(POLL_MAX_QR_MS * (1 + POLL_SPREAD) / 1000) + 1
#: Hint codes of a pending order that the BankID app has not picked up yet: before these end,
#: switching ways or renewing the QR code may cancel the order; after, the person is approving
#: it in the app, and nothing here cancels it but their own Cancel.
NOT_PICKED_UP = frozenset({HintCode.OUTSTANDING_TRANSACTION, HintCode.NO_CLIENT})
#: Seconds between reloads of a waiting page in a browser without script.
NOSCRIPT_REFRESH = 3
#: A complete same-device order waits for the BankID app's return to this browser; when none
#: came this many seconds after we learnt of the completion, the app most likely opened another
#: browser (iOS opens https links in Safari): the page says so and offers to start again.
RETURN_PATIENCE = 10.0
#: Our own message keys (not RFAs): the return is overdue here, or the login moved on to the
#: browser the app returned to ("Continue in this browser").
RETURN_ELSEWHERE = "return_elsewhere"
RETURN_MOVED = "return_moved"
DEVICE_COOKIE_MAX_AGE = 399 * 24 * 3600  # BankID's sample: a long-lived __Secure-Device cookie
#: Characters of the client's name in the app's "Log in to ..." line (userVisibleData is at most
#: 1,500 base64 characters, reference 1.1).
VISIBLE_NAME_MAX = 200


def flows_for(acr_values: tuple[str, ...]) -> tuple[Flow, ...]:
    """Which ways to offer: the ones ``acr_values`` names, or both (it may name neither)."""
    named = tuple(dict.fromkeys(FLOW_BY_ACR[a] for a in acr_values if a in FLOW_BY_ACR))
    if ACR_BANKID in acr_values or not named:
        return (Flow.SAME_DEVICE, Flow.QR)
    return named


def engaged(snap: Snapshot) -> bool:
    """The BankID app has the order (scanned, or opened with it): the person is approving it.
    A complete order awaiting its return to the browser counts too (nothing to cancel)."""
    if snap.status is Status.COMPLETE:
        return True
    # No hint yet (no collect so far): nothing says the app has it.
    hint = snap.hint
    return snap.status is Status.PENDING and hint is not None and hint not in NOT_PICKED_UP


def first_way(flows: tuple[Flow, ...], mobile: bool) -> tuple[Flow, ...]:
    """The ways in the order a person meets them: on a computer the QR code (another device)
    first, on a phone or tablet this device (one tap opens the app)."""
    common = Flow.SAME_DEVICE if mobile else Flow.QR
    return tuple(sorted(flows, key=lambda f: f is not common))


def _titles(approval: Approval | None) -> dict[str, str]:
    """The page title and the line naming the client: a login, a signature or a payment."""
    if approval is None:
        return {"title_key": "bankid.title", "to_client_key": "bankid.to_client"}
    if approval.type != PAYMENT:
        return {"title_key": "bankid.sign_title", "to_client_key": "bankid.sign_to_client"}
    card = (approval.transaction or {}).get("transactionType") == "card"
    return {
        "title_key": "bankid.pay_title",
        "to_client_key": "bankid.pay_to_client" if card else "bankid.npa_to_client",
    }


def _payment_view(approval: Approval) -> dict[str, Any] | None:
    """A payment's amount, recipient and risk warning, as the summary page shows them."""
    if approval.type != PAYMENT or approval.transaction is None:
        return None
    t = approval.transaction
    money = t.get("money") or {}
    return {
        "amount": money.get("amount"),
        "currency": money.get("currency"),
        "recipient": t["recipient"]["name"],
        "risk_warning": t.get("riskWarning"),
    }


def _bound(snap: Snapshot | None, txn: str, binding: str) -> Snapshot | None:
    """The order, if it is login `txn`'s and was started by the browser with `binding`."""
    if snap is None or snap.txn != txn:
        return None
    if not hmac.compare_digest(snap.binding, binding):
        return None
    return snap


@dataclass
class _Login:
    """A login transaction as these pages see it, checked to belong to this browser."""

    txn: str
    request: LoginRequest
    state: dict[str, Any]
    binding: str
    browser: str

    @property
    def flows(self) -> tuple[Flow, ...]:
        return flows_for(self.request.acr_values)

    @property
    def named_person(self) -> str | None:
        """The person the client named (only an authenticated request can)."""
        return pnr.from_login_hint(self.request.login_hint)

    @property
    def identifying(self) -> bool:
        """An approval for a named person whose BankID identification has not happened yet:
        the first of its two orders (`/auth`, then `/sign` or `/payment`)."""
        return (
            self.request.approval is not None
            and self.named_person is not None
            and not self.state.get("identified")
        )


class BankIDAuthenticator:
    acr_values = (ACR_BANKID, ACR_SAME_DEVICE, ACR_QR)

    def __init__(
        self,
        handoff: LoginHandoff,
        *,
        orders: LoginOrders,
        store: TTLStore,
        clock: Clock,
        templates: Templates,
        cookies: Cookies,
        issuer: str,
        client_address: ClientAddress,
        ttl: float,
    ) -> None:
        self.handoff = handoff
        self.orders = orders
        self.store = store
        self.clock = clock
        self.templates = templates
        self.cookies = cookies
        self.issuer = issuer.rstrip("/")
        self.client_address = client_address
        self.ttl = ttl
        #: Rate limits and the cap on pending logins (set by idp.app); None: no limits.
        self.limiter: RateLimiter | None = None
        host = (urlsplit(self.issuer).hostname or "").lower()
        self.referring_domain = host.encode("idna").decode("ascii") if host else None

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/bankid/login", self.login, methods=["GET"]),
            Route("/bankid/start", self.start, methods=["POST"]),
            Route("/bankid/wait", self.wait, methods=["GET"]),
            Route("/bankid/status", self.status, methods=["GET"]),
            Route("/bankid/return", self.returned, methods=["GET"]),
            Route("/bankid/return/continue", self.continue_here, methods=["POST"]),
            Route("/bankid/done", self.done, methods=["GET"]),
            Route("/bankid/cancel", self.cancel, methods=["POST"]),
            Route("/bankid/retry", self.retry, methods=["POST"]),
        ]

    def start_url(self, login: LoginRequest) -> str:
        return self._url("/bankid/login", login.transaction_id)

    # ------------------------------------------------------------------ pages

    async def login(self, request: Request) -> Response:
        ctx = await self._context(request, request.query_params.get("txn", ""))
        if ctx is None:
            return self._expired(request)
        locale = await self._locale(request, ctx)
        if ctx.state.get("oid"):
            return RedirectResponse(self._url("/bankid/wait", ctx.txn), status_code=303)
        approval = ctx.request.approval
        if approval is not None:
            # What is to be approved, before anything starts at BankID; never sent on by
            # script: the person reads it and chooses Approve (one of the ways) or Cancel.
            # For a named person, nothing of it is shown until BankID has identified that
            # person (Signature Extension §5.1): the page then offers the identification.
            identify = ctx.identifying
            platform = detect_platform(request.headers.get("user-agent"))
            return self.templates.render(
                request,
                "bankid/approve.html",
                {
                    "txn": ctx.txn,
                    "client_name": ctx.request.client_name,
                    "client_id": ctx.request.client_id,
                    **_titles(approval),
                    "identify_first": identify,
                    "payment": None if identify else _payment_view(approval),
                    "text_html": None
                    if identify or approval.text is None
                    else approval_html(approval.text, markdown=approval.markdown),
                    "flows": [str(f) for f in first_way(ctx.flows, platform.is_mobile)],
                    "mobile": platform.is_mobile,
                    "csrf": self._csrf(ctx),
                },
                locale=locale,
            )
        if len(ctx.flows) == 1:
            return self.templates.render(
                request,
                "bankid/start.html",
                {
                    "txn": ctx.txn,
                    "client_name": ctx.request.client_name,
                    "client_id": ctx.request.client_id,
                    "flow": str(ctx.flows[0]),
                    "csrf": self._csrf(ctx),
                },
                locale=locale,
            )
        # Both ways: the common one starts at once (by the page's script, a POST), so the QR
        # code or the "Open the BankID app" button is what a person meets first; the other way
        # is a secondary action there. Without script, the page's buttons ask.
        platform = detect_platform(request.headers.get("user-agent"))
        primary, secondary = first_way(ctx.flows, platform.is_mobile)
        return self.templates.render(
            request,
            "bankid/choice.html",
            {
                "txn": ctx.txn,
                "client_name": ctx.request.client_name,
                "client_id": ctx.request.client_id,
                "question": message(RFA.RFA20 if platform.is_mobile else RFA.RFA19).text(locale),
                "mobile": platform.is_mobile,
                "primary": str(primary),
                "secondary": str(secondary),
                "csrf": self._csrf(ctx),
            },
            locale=locale,
        )

    async def start(self, request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        ctx = await self._context(request, str(form.get("txn", "")))
        if ctx is None:
            return self._expired(request)
        if not self._csrf_ok(ctx, form.get("csrf")):
            return self._bad_request(request)
        try:
            flow = Flow(str(form.get("flow", "")))
        except ValueError:
            return self._bad_request(request)
        if flow not in ctx.flows:
            return self._bad_request(request)
        if ctx.state.get("oid"):
            # Switching ways: the old order is cancelled only while the app has not picked it
            # up. Once scanned or opened (or complete, awaiting its return), the person is
            # approving it: the switch is refused and the page shows that order.
            snap = await self._order(ctx, poll=True)
            if snap is not None and engaged(snap):
                return RedirectResponse(self._url("/bankid/wait", ctx.txn), status_code=303)
            await self.orders.cancel(ctx.state["oid"])
        ctx.state["renewals"] = 0
        return await self._start_order(request, ctx, flow)

    async def retry(self, request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        ctx = await self._context(request, str(form.get("txn", "")))
        if ctx is None:
            return self._expired(request)
        if not self._csrf_ok(ctx, form.get("csrf")):
            return self._bad_request(request)
        snap = await self._order(ctx)
        # `renew`: the page's script renewing an expired QR code by itself (a new order), only
        # for a QR order that failed as not scanned in time (startFailed), a bounded number of
        # times; anything else (a pending or scanned order above all) is refused, untouched.
        renew = form.get("renew") == "1"
        if renew and (snap is None or not self._renewable(snap, ctx.state)):
            return JSONResponse(
                {"renewed": False}, status_code=409, headers={"Cache-Control": "no-store"}
            )
        if snap is None:
            return RedirectResponse(self._url("/bankid/login", ctx.txn), status_code=303)
        if snap.status is Status.PENDING:  # nothing to retry: still going
            return RedirectResponse(self._url("/bankid/wait", ctx.txn), status_code=303)
        ctx.state["renewals"] = int(ctx.state.get("renewals") or 0) + 1 if renew else 0
        await self.orders.forget(snap.order_id)
        response = await self._start_order(request, ctx, snap.flow)
        if not renew or response.status_code != 303:
            return response
        renewed = JSONResponse({"renewed": True}, headers={"Cache-Control": "no-store"})
        for cookie in response.headers.getlist("set-cookie"):
            renewed.headers.append("set-cookie", cookie)
        return renewed

    async def wait(self, request: Request) -> Response:
        ctx = await self._context(request, request.query_params.get("txn", ""))
        if ctx is None:
            return self._expired(request)
        locale = await self._locale(request, ctx)
        snap = await self._order(ctx, poll=True)
        if snap is None:
            return RedirectResponse(self._url("/bankid/login", ctx.txn), status_code=303)
        if snap.status is Status.COMPLETE and not snap.needs_return:
            return RedirectResponse(self._url("/bankid/done", ctx.txn), status_code=303)
        view = self._view(snap, locale, renewals=int(ctx.state.get("renewals") or 0))
        other = next((f for f in ctx.flows if f is not snap.flow), None)
        refreshes = snap.flow is Flow.SAME_DEVICE and view["state"] in ("pending", "return")
        launch = None
        if snap.flow is Flow.SAME_DEVICE and snap.auto_start_token:
            launch = launch_link(snap.auto_start_token, snap.platform)
        return self.templates.render(
            request,
            "bankid/wait.html",
            {
                "txn": ctx.txn,
                "client_name": ctx.request.client_name,
                "client_id": ctx.request.client_id,
                **_titles(None if ctx.identifying else ctx.request.approval),
                "flow": str(snap.flow),
                "view": view,
                "poll_spread": POLL_SPREAD,
                "launch": launch,
                # Opened by the page itself only on a computer: Android browsers open another
                # app only on a tap (reference 5.2), and iOS opens universal links only from
                # one; there the button is the way.
                "autostart": not snap.platform.is_mobile,
                "mobile": snap.platform.is_mobile,
                # Without script, a same-device page still works: the launch link is a plain
                # link, and the page reloads itself (a GET collects when due, and moves on).
                "refresh_seconds": NOSCRIPT_REFRESH if refreshes else None,
                "wait_url": self._url("/bankid/wait", ctx.txn),
                "max_renewals": QR_RENEWALS,
                "other_flow": None if other is None else str(other),
                "status_url": self._url("/bankid/status", ctx.txn),
                "csrf": self._csrf(ctx),
                "order_id_hash": hashlib.sha256(snap.order_id.encode()).hexdigest()[:16],
            },
            locale=locale,
        )

    async def status(self, request: Request) -> Response:
        """What the page's script polls (`next_poll_ms`). Answers only the browser that
        started the order; anyone else gets the same 404 as for a login that does not exist.

        Kept cheap, as a thousand waiting pages poll it: one store round trip (our login
        record with its order and final result; the record exists only for a login the core
        handed over to this browser, and is bound to it), which also takes the collect lease
        when a collect is due (`LoginOrders.lease_claim`); no template, no QR drawing (the page
        draws the frame text). Every page that acts on the result (done, cancel, return) checks
        the core's login again."""
        txn = request.query_params.get("txn", "")
        browser = self.cookies.browser_id(request)
        snap = None
        state: dict[str, Any] | None = None
        if browser and txn and len(txn) <= 200:
            binding = Cookies.binding(browser)
            state, (record, final), leased = await self.store.get_linked_claim(
                LOGIN, txn, "oid", (ORDER, FINAL), self.orders.lease_claim(binding)
            )
            if (
                state is not None
                and record is not None
                and hmac.compare_digest(str(state.get("binding")), binding)
            ):
                snap = _bound(self.orders.snapshot(str(state["oid"]), record, final), txn, binding)
                if snap is not None:
                    snap = _bound(
                        await self.orders.collect_if_due(snap, leased=leased), txn, binding
                    )
        if snap is None and browser and txn and len(txn) <= 200:
            moved = await self.store.get(MOVED, txn)
            if moved is not None and self._moved_away(moved, browser):
                # The login moved on to the browser the BankID app returned to: this page's
                # final state, not a 404 (its script would reload into the expired page).
                return JSONResponse(
                    self._moved_view(self._state_locale(request, moved)),
                    headers={"Cache-Control": "no-store"},
                )
        if state is None or snap is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        locale = (
            state.get("lang")
            or state.get("ui")
            or i18n.from_accept_language(request.headers.get("accept-language"))
            or self.templates.default_locale
        )
        view = self._view(snap, locale, renewals=int(state.get("renewals") or 0))
        return JSONResponse(view, headers={"Cache-Control": "no-store"})

    async def returned(self, request: Request) -> Response:
        """The order's returnUrl, opened by the BankID app when the order completes (reference
        1.9), with the order's nonce.

        In the browser (cookie) that started the order, the order counts as returned and the
        login goes on. In another browser (iOS opens https links in Safari whatever browser
        started), a page says what happened and offers "Continue in this browser"
        (`continue_here`), for a complete or completing order whose return is still awaited.
        A wrong or missing nonce, or anything else, is refused as before."""
        txn = request.query_params.get("txn", "")
        nonce = request.query_params.get("n", "")
        ctx = await self._context(request, txn, create=False)
        snap = None if ctx is None else await self._order(ctx)
        if ctx is not None and snap is not None and snap.nonce_matches(nonce):
            await self.orders.mark_returned(snap.order_id)
            return RedirectResponse(self._url("/bankid/wait", ctx.txn), status_code=303)
        if ctx is None:
            found = await self._returned_elsewhere(txn, nonce)
            if found is not None:
                state, other = found
                browser, fresh = self.cookies.ensure_browser(request)
                page = self._returned_page(request, state, other, nonce, browser)
                if fresh:
                    self.cookies.set(page, self.cookies.browser, browser)
                return page
        return self._return_refused(
            request, None if ctx is None else await self._locale(request, ctx)
        )

    async def continue_here(self, request: Request) -> Response:
        """The "Continue in this browser" button of a return that landed in another browser:
        moves the login to this browser, once, and goes on with it here.

        Safe against a relayed login (an attacker sending the app link to a victim): the nonce
        travels only inside the order's returnUrl, which BankID gives only to the app that
        completed the order, and that app opens it on its own device. So this browser is on
        the device of the person who identified, and the login continues there; the browser
        that started it can no longer finish it (its binding is gone from the order, from our
        login record and from the core's transaction). Needs the nonce, this browser's CSRF
        token (a cross-site form cannot move a login), a complete order still awaiting its
        return, and the order still stored (its lifetime); the nonce works once."""
        form = await request.form(max_files=0, max_fields=10)
        txn, nonce = str(form.get("txn", "")), str(form.get("n", ""))
        csrf = form.get("csrf")
        if not isinstance(csrf, str) or not self.cookies.check_csrf(
            request, self._return_purpose(txn), csrf
        ):
            return self._bad_request(request)
        browser = self.cookies.browser_id(request)
        found = await self._returned_elsewhere(txn, nonce)
        if found is None or browser is None:
            return self._return_refused(request, None)
        state, snap = found
        if snap.status is Status.PENDING:  # BankID's completion not collected yet
            return self._returned_page(request, state, snap, nonce, browser, not_yet=True)
        binding = Cookies.binding(browser)
        if hmac.compare_digest(snap.binding, binding):  # the browser that started, after all
            await self.orders.mark_returned(snap.order_id)
            return RedirectResponse(self._url("/bankid/wait", txn), status_code=303)
        moved = await self.orders.take_over(snap.order_id, nonce, binding)
        if moved is None:
            return self._return_refused(request, self._state_locale(request, state))
        if not await self.handoff.rebind(request, txn):
            return self._expired(request)
        left = {"moved_from": moved.moved_from, "lang": state.get("lang"), "ui": state.get("ui")}
        await self.store.put(MOVED, txn, left, self.ttl)
        if not await self.store.update(LOGIN, txn, {**state, "binding": binding}):
            return self._expired(request)
        return RedirectResponse(self._url("/bankid/done", txn), status_code=303)

    async def done(self, request: Request) -> Response:
        ctx = await self._context(request, request.query_params.get("txn", ""), create=False)
        if ctx is None:
            return self._expired(request)
        snap = await self._order(ctx)
        if snap is None or snap.status is not Status.COMPLETE or snap.needs_return:
            return RedirectResponse(self._url("/bankid/wait", ctx.txn), status_code=303)
        approval = ctx.request.approval
        expected = None if approval is None or ctx.identifying else approval.type
        if snap.record.get("kind") != expected:
            return self._bad_request(request)  # an order of another kind than this step's
        if ctx.identifying:
            return await self._identified(request, ctx, snap)
        result = self._authentication(snap)
        await self.orders.forget(snap.order_id)
        await self.store.delete(LOGIN, ctx.txn)
        await self._release(request, ctx)
        return await self.handoff.finish(request, ctx.txn, result)

    async def cancel(self, request: Request) -> Response:
        """Cancel in our page: BankID `cancel`, then `access_denied` back to the app. After a
        failure, the app hears that failure's reason instead (e.g. temporarily_unavailable)."""
        form = await request.form(max_files=0, max_fields=10)
        ctx = await self._context(request, str(form.get("txn", "")), create=False)
        if ctx is None:
            return self._expired(request)
        if not self._csrf_ok(ctx, form.get("csrf")):
            return self._bad_request(request)
        snap = await self._order(ctx)
        failure = Failure(FailureReason.CANCELLED, "The user cancelled the login.")
        if snap is not None:
            if snap.status is Status.PENDING:
                await self.orders.cancel(snap.order_id)
            elif snap.status is Status.FAILED and snap.reason is not None:
                failure = Failure(snap.reason)
            await self.orders.forget(snap.order_id)
        await self.store.delete(LOGIN, ctx.txn)
        await self._release(request, ctx)
        return await self.handoff.finish(request, ctx.txn, failure)

    # ------------------------------------------------------------------ helpers

    async def _identified(self, request: Request, ctx: _Login, snap: Snapshot) -> Response:
        """The named person's identification before an approval completed: if BankID
        identified exactly that person (the order carried the requirement, this checks it
        again), the approval is shown next; anyone else ends the login as refused."""
        number = (snap.completion or {}).get("personal_number")
        await self.orders.forget(snap.order_id)
        if number is None or number != ctx.named_person:
            await self.store.delete(LOGIN, ctx.txn)
            failure = Failure(FailureReason.REJECTED, "Another person was identified.")
            return await self.handoff.finish(request, ctx.txn, failure)
        ctx.state["oid"] = None
        ctx.state["identified"] = True
        await self._save(ctx)
        return RedirectResponse(self._url("/bankid/login", ctx.txn), status_code=303)

    async def _limited(self, request: Request, ctx: _Login) -> Limited | None:
        """Before an order: per address, per person for an order restricted to one, and a
        slot among the pending logins (per address and in all; the same login keeps its)."""
        if self.limiter is None:
            return None
        limited = await self.limiter.address(ratelimit.BANKID_START, request)
        number = pnr.from_login_hint(ctx.request.login_hint)
        if limited is None and number is not None:
            # The person as CIBA names them (the phone authenticator's subject): one count
            # per person whether a client pushes a login or a backchannel request.
            limited = await self.limiter.person(SUBJECT_PREFIX + number)
        if limited is None:
            limited = await self.limiter.hold_pending(request, ctx.txn, self.ttl)
        return limited

    async def _release(self, request: Request, ctx: _Login) -> None:
        if self.limiter is not None:
            await self.limiter.release_pending(request, ctx.txn)

    async def _start_order(self, request: Request, ctx: _Login, flow: Flow) -> Response:
        limited = await self._limited(request, ctx)
        if limited is not None:
            page = error_page(
                self.templates,
                request,
                status_code=429,
                message_key="error.too_many",
                locale=await self._locale(request, ctx),
            )
            page.headers.update(limited.headers)
            return page
        platform = detect_platform(request.headers.get("user-agent"))
        device, fresh = self._device(request)
        txn = ctx.txn
        message = ctx.request.user_message
        locale = await self._locale(request, ctx)
        # The app names the service being logged into, so a person sent someone else's QR code
        # or app link sees whom it is for (the client's own message replaces this line).
        shown = (
            message.for_locale(locale)
            if message is not None
            else i18n.translate(
                "bankid.visible_login", locale, client=ctx.request.client_name[:VISIBLE_NAME_MAX]
            )
        )

        user_agent = request.headers.get("user-agent")

        def return_url(nonce: str) -> str:
            # On iOS in Chrome, Firefox or Edge, that browser's own scheme (launch.py): iOS
            # opens an https link in Safari, not in the browser that started.
            url = f"{self.issuer}/bankid/return?{urlencode({'txn': txn, 'n': nonce})}"
            return return_url_for(url, user_agent)

        order_id = await self.orders.start(
            txn=txn,
            binding=ctx.binding,
            flow=flow,
            platform=platform,
            end_user_ip=self.client_address(request),
            # Restricts the order to that person; it never replaces the QR code or autostart
            # (Secure Start, reference 9). Only authenticated requests get this far with one.
            personal_number=pnr.from_login_hint(ctx.request.login_hint),
            return_url=return_url,
            web=WebDevice(
                referring_domain=self.referring_domain,
                user_agent=request.headers.get("user-agent") or None,
                device_identifier=hashlib.sha256(device.encode()).hexdigest(),
            ),
            user_visible_data=shown,
            markdown=message is not None and message.markdown,
            approval=None if ctx.identifying else ctx.request.approval,
            approval_binding=ctx.request.approval_binding or "",
            browser=detect_browser(user_agent),
            client=ctx.request.client_name,
        )
        ctx.state["oid"] = order_id
        await self._save(ctx)
        response = RedirectResponse(self._url("/bankid/wait", txn), status_code=303)
        if fresh:
            self.cookies.set(response, self.cookies.device, device, max_age=DEVICE_COOKIE_MAX_AGE)
        return response

    def _device(self, request: Request) -> tuple[str, bool]:
        """The long-lived device cookie behind `web.deviceIdentifier` (reference 1.10): a
        separate cookie from the session and the login binding, sent to BankID only hashed."""
        value = request.cookies.get(self.cookies.device, "")
        if 20 <= len(value) <= 100:
            return value, False
        return secrets.token_urlsafe(32), True

    async def _context(self, request: Request, txn: str, *, create: bool = True) -> _Login | None:
        """The login, if it belongs to this browser (the core's check, then our record's)."""
        browser = self.cookies.browser_id(request)
        if not browser or not txn or len(txn) > 200:
            return None
        login = await self.handoff.load(request, txn)
        if login is None:
            return None
        binding = Cookies.binding(browser)
        state = await self.store.get(LOGIN, txn)
        if state is None:
            if not create:
                return None
            # `ui`: the client's ui_locales pick, for the status answers (which do not read
            # the core's login).
            state = {
                "binding": binding,
                "oid": None,
                "lang": None,
                "ui": i18n.pick(login.ui_locales),
            }
            await self.store.put(LOGIN, txn, state, self.ttl)
        elif not hmac.compare_digest(str(state.get("binding")), binding):
            return None
        return _Login(txn=txn, request=login, state=state, binding=binding, browser=browser)

    async def _save(self, ctx: _Login) -> None:
        if not await self.store.update(LOGIN, ctx.txn, ctx.state):
            await self.store.put(LOGIN, ctx.txn, ctx.state, self.ttl)

    async def _order(self, ctx: _Login, *, poll: bool = False) -> Snapshot | None:
        order_id = ctx.state.get("oid")
        if not order_id:
            return None
        snap = await (self.orders.poll(order_id) if poll else self.orders.get(order_id))
        return self._owned(ctx, snap)

    @staticmethod
    def _owned(ctx: _Login, snap: Snapshot | None) -> Snapshot | None:
        """The order, if it is this login's and was started by this browser."""
        return _bound(snap, ctx.txn, ctx.binding)

    async def _locale(self, request: Request, ctx: _Login) -> str:
        """The language switch (kept for this login), then ui_locales, then Accept-Language."""
        chosen = i18n.pick([request.query_params.get("lang", "")])
        if chosen and chosen != ctx.state.get("lang"):
            ctx.state["lang"] = chosen
            await self._save(ctx)
        return (
            chosen
            or ctx.state.get("lang")
            or i18n.pick(ctx.request.ui_locales)
            or i18n.from_accept_language(request.headers.get("accept-language"))
            or self.templates.default_locale
        )

    def _view(self, snap: Snapshot, locale: str, *, renewals: int = 0) -> dict[str, Any]:
        """What the page shows for an order; also the JSON of /bankid/status."""
        key = snap.message_key
        state = str(snap.status)
        next_url = None
        if snap.status is Status.COMPLETE:
            if snap.needs_return:
                state, key = "return", None
                if self._return_overdue(snap):
                    # No return here for a while: most likely the app opened another browser.
                    # A final state with "Try again" (a new order here), and polling stops.
                    state, key = str(Status.FAILED), RETURN_ELSEWHERE
            else:
                next_url = self._url("/bankid/done", snap.txn)
        if key == RISK_DENIED:
            text = i18n.translate("bankid.risk_denied", locale)
        elif key == RETURN_ELSEWHERE:
            text = i18n.translate("bankid.return_elsewhere", locale)
        elif key == IP_MISMATCH:
            text = i18n.translate("bankid.ip_mismatch", locale)
        elif key is not None:
            text = message(RFA(key)).text(locale)
        elif state == "return":
            text = i18n.translate("bankid.return_wait", locale)
        else:
            text = ""
        frames = self._frames(snap)
        return {
            "state": state,
            "message": text,
            "rfa": key,
            # The frame text only: never the qrStartSecret (reference 4.1 step 6). The current
            # frame is the first of `frames`.
            "qr": frames["frames"][0]["qr"] if frames["frames"] else None,
            "next": next_url,
            "next_poll_ms": self._next_poll_ms(snap),
            # The app has the order: "Confirm in the BankID app", no switching ways.
            "engaged": engaged(snap),
            "renew": self._renewable(snap, {"renewals": renewals}),
            "renewals_left": max(0, QR_RENEWALS - renewals) if snap.flow is Flow.QR else 0,
            **frames,
        }

    @staticmethod
    def _renewable(snap: Snapshot, state: dict[str, Any]) -> bool:
        """Whether the page may renew this order by itself: a QR code nobody scanned in time
        (failed with startFailed: never scanned, so nothing is cancelled), within the bound."""
        return (
            snap.flow is Flow.QR
            and snap.status is Status.FAILED
            and snap.hint is HintCode.START_FAILED
            and int(state.get("renewals") or 0) < QR_RENEWALS
        )

    def _frames(self, snap: Snapshot) -> dict[str, Any]:
        """The QR frames from now on, each with the millisecond of the order it is due at
        (frame ``t`` at ``t * 1000``), and how far into the order the answer was made: the page
        aligns its own one-second timer to the order's clock with these."""
        if not snap.shows_qr:
            return {"frames": [], "elapsed_ms": None, "expires_ms": None}
        rec = snap.record
        started = float(rec["received_at"])
        now = self.clock.now()
        t = elapsed_seconds(started, now)
        return {
            "frames": [
                {
                    "t": n,
                    "due_ms": n * 1000,
                    "qr": qr_payload(rec["qr_start_token"], rec["qr_start_secret"], n),
                }
                for n in range(t, t + 1 + FRAMES_AHEAD)
            ],
            "elapsed_ms": max(0, round((now - started) * 1000)),
            "expires_ms": round(QR_LIFETIME * 1000),
        }

    def _return_overdue(self, snap: Snapshot) -> bool:
        """A complete order whose return to this browser is `RETURN_PATIENCE` late."""
        at = snap.completed_at
        return at is not None and self.clock.now() - at >= RETURN_PATIENCE

    def _moved_view(self, locale: str) -> dict[str, Any]:
        """The status of the starting browser once the login moved on to another one: a final
        state (the page stops polling and offers "Try again", which says where to go on)."""
        return {
            "state": str(Status.FAILED),
            "message": i18n.translate("bankid.return_moved", locale),
            "rfa": RETURN_MOVED,
            "qr": None,
            "next": None,
            "next_poll_ms": POLL_MAX_MS,
            # As every status answer has them: no QR code, nothing to renew.
            "engaged": False,
            "renew": False,
            "frames": [],
            "elapsed_ms": None,
            "expires_ms": None,
        }

    @staticmethod
    def _moved_away(state: dict[str, Any], browser: str) -> bool:
        """Whether this browser started the login that then moved on to another browser."""
        return hmac.compare_digest(str(state.get("moved_from") or ""), Cookies.binding(browser))

    def _state_locale(self, request: Request, state: dict[str, Any]) -> str:
        """The page language from our login record, for a browser that is not the login's."""
        return (
            i18n.pick([request.query_params.get("lang", "")])
            or state.get("lang")
            or state.get("ui")
            or i18n.from_accept_language(request.headers.get("accept-language"))
            or self.templates.default_locale
        )

    async def _returned_elsewhere(
        self, txn: str, nonce: str
    ) -> tuple[dict[str, Any], Snapshot] | None:
        """Our login record and its order, if `nonce` is the order's returnUrl nonce and the
        order completed (or is completing: the app returns as it completes, and our collect
        may not have seen it yet) and still awaits its return: never a failed order, one that
        returned to its own browser, or one already moved."""
        if not txn or len(txn) > 200 or not nonce or len(nonce) > 200:
            return None
        state = await self.store.get(LOGIN, txn)
        if state is None or not state.get("oid"):
            return None
        snap = await self.orders.get(str(state["oid"]))
        if snap is None or snap.txn != txn or not snap.nonce_matches(nonce):
            return None
        snap = await self.orders.collect_if_due(snap)  # only with the nonce: BankID's news
        if snap is None or snap.status is Status.FAILED or not snap.needs_return or snap.moved_from:
            return None
        return state, snap

    def _returned_page(
        self,
        request: Request,
        state: dict[str, Any],
        snap: Snapshot,
        nonce: str,
        browser: str,
        *,
        not_yet: bool = False,
    ) -> Response:
        page = self.templates.render(
            request,
            "bankid/returned.html",
            {
                "txn": snap.txn,
                "nonce": nonce,
                "csrf": self.cookies.csrf_token(browser, self._return_purpose(snap.txn)),
                "client_name": snap.client,
                "started_in": snap.browser,
                "not_yet": not_yet,
            },
            locale=self._state_locale(request, state),
        )
        page.headers["Cache-Control"] = "no-store"
        page.headers["Referrer-Policy"] = "no-referrer"
        return page

    @staticmethod
    def _return_purpose(txn: str) -> str:
        return f"bankid-return|{txn}"

    def _return_refused(self, request: Request, locale: str | None) -> Response:
        return error_page(
            self.templates,
            request,
            status_code=403,
            message_key="bankid.return_refused",
            locale=locale,
        )

    def _next_poll_ms(self, snap: Snapshot) -> int:
        """Milliseconds until the page should poll again: just past the next collect, when
        the order's state can next change.

        While a QR code shows, its frames come ahead (`FRAMES_AHEAD`) and the page changes them
        by its own timer: it needs an answer only for the collect, due at most 2 s away
        (`POLL_MAX_QR_MS`), and one poll then serves both. Otherwise (the same device, a code
        scanned) just past the next collect when it is due within a second, else a second; so
        too while a due collect has not been stored yet (another instance's). A collect this
        poll began that is still waiting for BankID counts as begun now (`collect_if_due`)."""
        now = self.clock.now()
        if snap.status is not Status.PENDING:
            return POLL_MAX_MS
        due = self.orders.collect_due_at(snap) if snap.record.get("order_ref") else math.inf
        most = POLL_MAX_QR_MS if snap.shows_qr and due > now else POLL_MAX_MS
        target = due if now < due <= now + most / 1000 else now + most / 1000
        ms = math.ceil(round((target - now + POLL_MARGIN) * 1000, 3))  # no float dust
        return max(POLL_MIN_MS, min(most, ms))

    def _authentication(self, snap: Snapshot) -> Authentication:
        c = snap.completion or {}
        claims = claims_from_completion(c)
        if snap.record.get("kind"):  # an approval: its evidence goes to the client
            claims.update(evidence_claims(c))
        return Authentication(
            subject=subject_of(c),
            acr=ACR_BY_FLOW[snap.flow],
            amr=AMR,
            auth_time=self.clock.now(),
            claims=claims,
        )

    def _csrf(self, ctx: _Login) -> str:
        return self.cookies.csrf_token(ctx.browser, f"bankid|{ctx.txn}")

    def _csrf_ok(self, ctx: _Login, token: object) -> bool:
        expected = self._csrf(ctx)
        return isinstance(token, str) and hmac.compare_digest(expected, token)

    @staticmethod
    def _url(path: str, txn: str) -> str:
        return f"{path}?{urlencode({'txn': txn})}"

    def _expired(self, request: Request) -> Response:
        return error_page(self.templates, request, status_code=400, message_key="bankid.expired")

    def _bad_request(self, request: Request) -> Response:
        return error_page(self.templates, request, status_code=400, message_key="error.bad_request")
