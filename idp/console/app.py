"""The customer-service console at /console (on only when `console.enabled`).

Staff confirm who is calling: they sign in with this provider's authorization code flow
(PKCE, state, nonce, RFC 9207 ``iss``, client_secret_basic; the ID token checked), and only
the configured staff get a session (`idp.console.staff`). A request for a caller goes to the
provider's CIBA endpoint; the page follows it live, polling the console, which polls the
provider's token endpoint no faster than its ``interval``. Once the caller approved, the
console verifies the ID token, reads userinfo and shows the verified name (and what else
console.scopes release) to the staff member who asked, for a few minutes; nothing of the
caller is shown before. History and the operator view read the provider's CIBA audit trail.

Like the demo, it is an ordinary client and talks to the provider only over HTTP
(`idp.console.provider`): in-process by default, or to `console.provider_url`. Sessions,
sign-in transactions and requests live in the TTL store; the auth_req_id never leaves the
server. A personal number is never written to a log, a URL or the store.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from idp.authn.personal_number import InvalidPersonalNumber, parse
from idp.clock import Clock, SystemClock
from idp.config import Registry, Settings
from idp.console import texts as _texts  # noqa: F401 - registers the console's words
from idp.console.provider import Provider, ProviderError
from idp.console.staff import StaffIdentity, identify, personal_number_of
from idp.store.ttl import TTLStore
from idp.web import clear_cookie, i18n, set_cookie
from idp.web.ratelimit import RateLimiter, Rule
from idp.web.templating import Templates

log = logging.getLogger("idp.console")

SESSION = "console_session"
LOGIN = "console_login"
REQUEST = "console_request"
POLL_LEASE = "console_poll"
STAFF_NAME = "console_staff"
#: The limit of requests per staff member (console.requests_per_staff), by idp.web.ratelimit.
STAFF_LIMIT = "console_staff"
#: How long a finished request (and an approved caller's name) stays readable.
RESULT_SECONDS = 300
#: How long the operator view remembers the name of a staff member it saw sign in.
STAFF_NAME_SECONDS = 90 * 24 * 3600
#: The longest text to sign the form takes (BankID's limit is larger, after base64).
SIGN_TEXT_MAX = 4000
SIGN = "se.bankid.sign"
FINAL = frozenset({"approved", "declined", "cancelled", "refused", "expired", "error"})
#: access_denied's `reason` (the provider's extension) as the state shown.
DENIED = {"declined": "declined", "cancelled": "cancelled"}


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def reference(subject: str | None) -> str:
    """A short pseudonymous reference of a caller (of the provider's `sub`, never a number)."""
    return _digest(subject)[:10] if subject else ""


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Session:
    key: str  # the store key: SHA-256 of the cookie value
    staff: StaffIdentity
    csrf: str


class ConsoleApp:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        store: TTLStore,
        templates: Templates,
        clock: Clock | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.console = settings.console
        self.registry = registry
        self.store = store
        self.templates = templates
        self.clock = clock or SystemClock()
        self.issuer = settings.issuer
        self.secure = self.issuer.startswith("https://")
        prefix = "__Host-" if self.secure else ""
        self.cookie = f"{prefix}idp_console"
        self.flow_cookie = f"{prefix}idp_console_flow"
        #: This provider as an ASGI app (set by create_app), used when no provider_url is set.
        self.provider_app: ASGIApp | None = None
        #: How the console reaches the provider; None: in-process to `provider_app`, or the
        #: network when console.provider_url is set. Set before the first request.
        self.transport = transport
        self._provider: Provider | None = None
        rule = self.console.requests_per_staff
        secret = self.console.client_secret
        # The shared fixed-window counters; a staff member's sub appears in the store only as
        # an HMAC under the console's secret.
        self.limiter = RateLimiter(
            store,
            self.clock,
            secret.get().encode() if secret is not None else b"",
            {STAFF_LIMIT: Rule(rule.count, rule.window_seconds)},
        )

    @property
    def provider(self) -> Provider:
        if self._provider is None:
            transport = self.transport
            if transport is None and self.console.provider_url is None:
                assert self.provider_app is not None, "create_app sets ConsoleApp.provider_app"
                transport = httpx.ASGITransport(app=self.provider_app)
            secret = self.console.client_secret
            self._provider = Provider(
                issuer=self.console.provider_url or self.issuer,
                client_id=self.console.client_id,
                client_secret=secret.get() if secret else "",
                clock=self.clock,
                transport=transport,
            )
        return self._provider

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self.index, methods=["GET"]),
                Route("/login", self.login, methods=["POST"]),
                Route("/callback", self.callback, methods=["GET"]),
                Route("/logout", self.logout, methods=["POST"]),
                Route("/requests", self.start, methods=["POST"]),
                Route("/requests/{rid}", self.request_page, methods=["GET"]),
                Route("/requests/{rid}/state", self.request_state, methods=["GET"]),
                Route("/history", self.history, methods=["GET"]),
                Route("/operator", self.operator, methods=["GET"]),
            ]
        )

    # ------------------------------------------------------------------ sessions

    async def session(self, request: Request) -> Session | None:
        raw = request.cookies.get(self.cookie)
        if not raw or len(raw) > 100:
            return None
        key = _digest(raw)
        value = await self.store.get(SESSION, key)
        if value is None or value["expires_at"] <= self.clock.now():
            return None
        staff = StaffIdentity(value["sub"], value["name"], bool(value["operator"]))
        return Session(key, staff, value["csrf"])

    def _csrf_ok(self, session: Session, form: Any) -> bool:
        token = form.get("csrf")
        return isinstance(token, str) and hmac.compare_digest(token.encode(), session.csrf.encode())

    def _set_cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        set_cookie(response, name, value, secure=self.secure, max_age=max_age)

    def _clear_cookie(self, response: Response, name: str) -> None:
        clear_cookie(response, name, secure=self.secure)

    async def _signed_out(self, request: Request, key: str = "console.session_expired") -> Response:
        """A page for a request without a (live) session: the sign-in page with a note."""
        return self._render(request, "console/index.html", {"notice": key}, status_code=401)

    # ------------------------------------------------------------------ sign-in

    async def index(self, request: Request) -> Response:
        session = await self.session(request)
        if session is None:
            notice = "console.signed_out" if request.query_params.get("out") == "1" else None
            return self._render(request, "console/index.html", {"notice": notice})
        return self._form(request, session, {}, {})

    async def login(self, request: Request) -> Response:
        """Start the code flow (OIDC Core §3.1.2.1) with PKCE (RFC 7636), state and nonce,
        bound to this browser by a cookie; prompt=login: staff always identify afresh."""
        try:
            endpoint = await self.provider.endpoint("authorization_endpoint")
        except (ProviderError, httpx.HTTPError):
            endpoint = None
        if endpoint is None:
            return self._render(
                request, "console/index.html", {"notice": "console.unavailable"}, status_code=503
            )
        verifier, challenge = _pkce()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        browser = secrets.token_urlsafe(24)
        ttl = self.settings.tokens.login_transaction_ttl_seconds
        await self.store.put(
            LOGIN, state, {"verifier": verifier, "nonce": nonce, "binding": _digest(browser)}, ttl
        )
        scope = "openid profile"
        if self.console.names_by_personal_number:
            scope += " ssn"
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.console.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": scope,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "prompt": "login",
                "ui_locales": self.templates.locale(request),
            }
        )
        response = RedirectResponse(f"{endpoint}?{query}", 303)
        self._set_cookie(response, self.flow_cookie, browser, ttl)
        return response

    @property
    def redirect_uri(self) -> str:
        return f"{self.issuer}/console/callback"

    async def callback(self, request: Request) -> Response:
        params = request.query_params
        # RFC 9207 §2.4: the iss parameter must be the provider's issuer identifier.
        if params.get("iss") != self.provider.issuer:
            return self._failed(request, "invalid_response")
        entry = await self.store.consume(LOGIN, params.get("state", ""))
        browser = request.cookies.get(self.flow_cookie, "")
        if entry is None or not entry.first or entry.value["binding"] != _digest(browser):
            return self._failed(request, "console.login_expired")
        if "error" in params:
            return self._failed(request, params["error"])
        try:
            tokens = await self.provider.redeem_code(
                params.get("code", ""), self.redirect_uri, entry.value["verifier"]
            )
            claims = await self.provider.verify_id_token(
                str(tokens.get("id_token", "")), entry.value["nonce"]
            )
            info: dict[str, Any] = {}
            if self.console.names_by_personal_number and personal_number_of(claims) is None:
                info = await self.provider.userinfo(str(tokens.get("access_token", "")))
                if info.get("sub") != claims["sub"]:
                    raise ProviderError("invalid_response", "userinfo names another sub")
        except ProviderError as exc:
            return self._failed(request, exc.error)
        except httpx.HTTPError:
            return self._failed(request, "console.unavailable")
        staff = identify(self.console, str(claims["sub"]), personal_number_of(claims, info))
        del claims, info  # the personal number goes no further
        if staff is None:
            log.info("console sign-in refused: not on the staff list")
            response = self._render(request, "console/refused.html", {}, status_code=403)
            self._clear_cookie(response, self.flow_cookie)
            return response
        raw = secrets.token_urlsafe(32)
        ttl = self.console.session_minutes * 60
        await self.store.put(
            SESSION,
            _digest(raw),
            {
                "sub": staff.sub,
                "name": staff.name,
                "operator": staff.operator,
                "csrf": secrets.token_urlsafe(24),
                "expires_at": self.clock.now() + ttl,
            },
            ttl,
        )
        await self.store.put(STAFF_NAME, staff.sub, {"name": staff.name}, STAFF_NAME_SECONDS)
        log.info("console sign-in: staff %s%s", staff.sub, " (operator)" if staff.operator else "")
        response = RedirectResponse("/console/", 303)
        self._clear_cookie(response, self.flow_cookie)
        self._set_cookie(response, self.cookie, raw, ttl)
        return response

    def _failed(self, request: Request, error: str) -> Response:
        return self._render(request, "console/failed.html", {"error": error}, status_code=400)

    async def logout(self, request: Request) -> Response:
        """End the console session, then RP-initiated logout at the provider (OIDC RP-Initiated
        Logout §2, without id_token_hint: the provider asks the person to confirm)."""
        session = await self.session(request)
        form = await request.form(max_files=0, max_fields=5)
        if session is None:
            return await self._signed_out(request)
        if not self._csrf_ok(session, form):
            return self._render(request, "console/index.html", {"notice": "console.csrf"}, 403)
        await self.store.delete(SESSION, session.key)
        log.info("console sign-out: staff %s", session.staff.sub)
        target = "/console/?out=1"
        try:
            end_session = await self.provider.endpoint("end_session_endpoint")
        except (ProviderError, httpx.HTTPError):
            end_session = None
        if end_session is not None:
            params = {"client_id": self.console.client_id}
            back = f"{self.issuer}/console/?out=1"
            client = self.registry.client(self.console.client_id)
            if (
                self.console.provider_url is None
                and client
                and back in client.post_logout_redirect_uris
            ):
                params["post_logout_redirect_uri"] = back
            target = f"{end_session}?{urlencode(params)}"
        response = RedirectResponse(target, 303)
        self._clear_cookie(response, self.cookie)
        return response

    # ------------------------------------------------------------------ the request form

    def _form(
        self,
        request: Request,
        session: Session,
        values: dict[str, str],
        errors: dict[str, str],
        *,
        alert: str | None = None,
        status_code: int = 200,
    ) -> Response:
        return self._render(
            request,
            "console/form.html",
            {
                "staff": session.staff,
                "csrf": session.csrf,
                "values": {"initiator": "RP", **values},
                "errors": errors,
                "alert": alert,
                "page": "form",
                "message_max": self.settings.ciba.binding_message_max_length,
                "sign_max": SIGN_TEXT_MAX,
            },
            status_code=status_code,
        )

    def _check(self, values: dict[str, str], locale: str) -> tuple[str | None, dict[str, str]]:
        """The personal number (12 digits) and the fields' errors, as text in `locale`."""
        errors: dict[str, str] = {}
        number = None
        try:
            number = parse(values["pnr"])
        except InvalidPersonalNumber as exc:
            why = str(exc)
            key = "date" if "date" in why else "check" if "check digit" in why else "format"
            errors["pnr"] = i18n.translate(f"console.pnr_{key}", locale)
        most = self.settings.ciba.binding_message_max_length
        if len(values["message"]) > most:
            errors["message"] = i18n.translate("console.message_too_long", locale, max=most)
        if len(values["sign"]) > SIGN_TEXT_MAX:
            errors["sign"] = i18n.translate("console.sign_too_long", locale, max=SIGN_TEXT_MAX)
        return number, errors

    async def start(self, request: Request) -> Response:
        session = await self.session(request)
        form = await request.form(max_files=0, max_fields=10)
        if session is None:
            return await self._signed_out(request)
        if not self._csrf_ok(session, form):
            return self._form(request, session, {}, {}, alert="console.csrf", status_code=403)
        locale = self.templates.locale(request)
        values = {
            "pnr": str(form.get("pnr", "")).strip()[:20],
            "initiator": "user" if form.get("initiator") == "user" else "RP",
            "message": str(form.get("message", "")).strip(),
            "sign": str(form.get("sign", "")).strip(),
        }
        number, errors = self._check(values, locale)
        if errors or number is None:
            return self._form(request, session, values, errors, status_code=400)
        limited = await self.limiter.hit(STAFF_LIMIT, session.staff.sub)
        if limited is not None:
            alert = i18n.translate("console.rate_staff", locale, seconds=limited.retry_after)
            return self._form(request, session, values, {}, alert=alert, status_code=429)
        data = {
            "scope": self.console.scopes,
            "login_hint": number,
            "call_initiator": values["initiator"],
            "requested_by": session.staff.sub,
        }
        if values["message"]:
            data["binding_message"] = values["message"]
        if values["sign"]:
            data["authorization_details"] = json.dumps(
                [{"type": SIGN, "text": values["sign"]}], ensure_ascii=False
            )
        del number
        try:
            ack = await self.provider.backchannel(data)
            auth_req_id, expires_in = str(ack["auth_req_id"]), int(ack["expires_in"])
            interval = int(ack.get("interval", 5))
        except ProviderError as exc:
            return self._refused(request, session, values, exc, locale)
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            alert = i18n.translate("console.unavailable", locale)
            return self._form(request, session, values, {}, alert=alert, status_code=503)
        rid = secrets.token_urlsafe(16)
        now = self.clock.now()
        await self.store.put(
            REQUEST,
            rid,
            {
                "staff": session.staff.sub,
                "auth_req_id": auth_req_id,
                "interval": max(interval, 1),
                "next_poll": now + max(interval, 1),
                "expires_at": now + expires_in,
                "state": "pending",
                "result": None,
                # What the caller is to sign, as a digest: the approval is checked against it
                # (the text itself stays out of the store).
                "sign_digest": _digest(values["sign"]) if values["sign"] else None,
            },
            expires_in + RESULT_SECONDS,
        )
        log.info("console request started: request %s by staff %s", rid, session.staff.sub)
        return RedirectResponse(f"/console/requests/{rid}", 303)

    def _refused(
        self,
        request: Request,
        session: Session,
        values: dict[str, str],
        exc: ProviderError,
        locale: str,
    ) -> Response:
        """The provider's refusal, as the form shows it: a rate limit with its wait, a bad
        message or text at its field, else the error code."""
        log.info("console request refused by the provider: %s", exc.error)
        if exc.status == 429:
            alert = i18n.translate("console.rate_provider", locale, seconds=exc.retry_after or 60)
            return self._form(request, session, values, {}, alert=alert, status_code=429)
        if exc.error == "invalid_binding_message":
            error = i18n.translate("console.message_invalid", locale)
            return self._form(request, session, values, {"message": error}, status_code=400)
        if exc.error == "invalid_authorization_details":
            error = i18n.translate("console.sign_invalid", locale, error=exc.error)
            return self._form(request, session, values, {"sign": error}, status_code=400)
        alert = i18n.translate("console.refused", locale, error=exc.error)
        return self._form(request, session, values, {}, alert=alert, status_code=400)

    # ------------------------------------------------------------------ a request's state

    async def _own_request(self, session: Session, rid: str) -> dict[str, Any] | None:
        if len(rid) > 64:
            return None
        value = await self.store.get(REQUEST, rid)
        if value is None or not hmac.compare_digest(value["staff"], session.staff.sub):
            return None
        return value

    async def _advance(self, rid: str, rec: dict[str, Any]) -> dict[str, Any]:
        """Poll the provider once when the request is open and its interval has passed (CIBA
        Core §7.3: "the Client MUST wait at least interval seconds"); one poll at a time
        across tabs and instances (a lease as long as the interval)."""
        now = self.clock.now()
        if rec["state"] in FINAL or now < rec["next_poll"]:
            return rec
        if not await self.store.add(POLL_LEASE, rid, {}, rec["interval"]):
            return rec
        rec = dict(rec)
        try:
            tokens = await self.provider.poll(rec["auth_req_id"])
            rec["result"] = await self._result(tokens, rec.get("sign_digest"))
            rec["state"] = "approved"
        except ProviderError as exc:
            self._note_error(rec, exc)
        except httpx.HTTPError:
            pass  # the provider is unreachable now: ask again after the interval
        rec["next_poll"] = now + rec["interval"]
        if rec["state"] in FINAL:
            log.info("console request finished: request %s, %s", rid, rec["state"])
            await self.store.put(REQUEST, rid, rec, RESULT_SECONDS)
        else:
            await self.store.update(REQUEST, rid, rec)
        return rec

    def _note_error(self, rec: dict[str, Any], exc: ProviderError) -> None:
        """CIBA Core §11 token errors, with the provider's `progress` and `reason`."""
        if exc.error == "authorization_pending":
            confirmed = exc.body.get("progress") == "call_confirmed"
            rec["state"] = "call_confirmed" if confirmed else "pending"
        elif exc.error == "slow_down":
            rec["interval"] += 5  # §11: "the interval MUST be increased by at least 5 seconds"
        elif exc.error == "access_denied":
            rec["state"] = DENIED.get(str(exc.body.get("reason")), "refused")
        elif exc.error == "expired_token":
            rec["state"] = "expired"
        elif exc.error == "temporarily_unavailable" or exc.status >= 500 or exc.status == 0:
            pass  # the provider cannot answer now (or discovery failed): ask again later
        else:
            rec["state"] = "error"

    async def _result(self, tokens: dict[str, Any], sign_digest: str | None) -> dict[str, Any]:
        """What the staff member sees of an approved caller: the verified name, and the birth
        date and age when console.scopes release them. The ID token is verified first, and
        userinfo must name the same `sub`. A request with a text to sign is approved only
        when the token response grants (RFC 9396 §7) a signature of exactly that text."""
        if sign_digest is not None and not _signed(tokens, sign_digest):
            raise ProviderError("invalid_response", "the approval does not grant the signature")
        claims = await self.provider.verify_id_token(str(tokens.get("id_token", "")))
        info = await self.provider.userinfo(str(tokens.get("access_token", "")))
        if info.get("sub") != claims["sub"]:
            raise ProviderError("invalid_response", "userinfo names another sub")
        given, family = info.get("given_name"), info.get("family_name")
        name = f"{given} {family}" if given and family else info.get("name") or ""
        result: dict[str, Any] = {
            "name": str(name),
            "reference": reference(str(claims["sub"])),
            "signed": sign_digest is not None,
        }
        born = info.get("birthdate")
        if isinstance(born, str):
            result["birthdate"] = born
            result["age"] = _age(born, self.clock.now())
        return result

    def _state_json(self, rec: dict[str, Any], locale: str) -> dict[str, Any]:
        return {
            "state": rec["state"],
            "text": i18n.translate(f"console.state.{rec['state']}", locale),
            "final": rec["state"] in FINAL,
        }

    async def request_page(self, request: Request) -> Response:
        session = await self.session(request)
        if session is None:
            return await self._signed_out(request)
        rid = request.path_params["rid"]
        rec = await self._own_request(session, rid)
        if rec is None:
            return self._render(
                request,
                "console/message.html",
                {"staff": session.staff, "csrf": session.csrf, "message": "console.not_found"},
                status_code=404,
            )
        rec = await self._advance(rid, rec)
        return self._render(
            request,
            "console/request.html",
            {
                "staff": session.staff,
                "csrf": session.csrf,
                "rid": rid,
                "state": rec["state"],
                "final": rec["state"] in FINAL,
                "result": rec["result"] if rec["state"] == "approved" else None,
            },
        )

    async def request_state(self, request: Request) -> Response:
        session = await self.session(request)
        if session is None:
            return JSONResponse({"error": "signed_out"}, status_code=401)
        rid = request.path_params["rid"]
        rec = await self._own_request(session, rid)
        if rec is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        rec = await self._advance(rid, rec)
        body = self._state_json(rec, self.templates.locale(request))
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    # ------------------------------------------------------------------ history

    async def history(self, request: Request) -> Response:
        session = await self.session(request)
        if session is None:
            return await self._signed_out(request)
        # Always the session's own sub: no parameter can ask for another's history.
        return await self._audit_page(request, session, session.staff.sub, "history")

    async def operator(self, request: Request) -> Response:
        session = await self.session(request)
        if session is None:
            return await self._signed_out(request)
        if not session.staff.operator:
            return self._render(
                request,
                "console/message.html",
                {"staff": session.staff, "csrf": session.csrf, "message": "console.forbidden"},
                status_code=403,
            )
        return await self._audit_page(request, session, None, "operator")

    async def _audit_page(
        self, request: Request, session: Session, requested_by: str | None, view: str
    ) -> Response:
        try:
            rows = await self.provider.audit(requested_by)
        except (ProviderError, httpx.HTTPError):
            rows = None
        names = await self._staff_names(rows or []) if view == "operator" else {}
        shown = [
            {
                "time": _when(row.get("requested_at")),
                "outcome": _outcome(row),
                "reference": reference(
                    row.get("subject") if isinstance(row.get("subject"), str) else None
                ),
                "staff": names.get(str(row.get("requested_by") or ""), ""),
            }
            for row in rows or []
        ]
        return self._render(
            request,
            "console/history.html",
            {
                "staff": session.staff,
                "csrf": session.csrf,
                "view": view,
                "page": view,
                "rows": shown,
                "available": rows is not None,
            },
        )

    async def _staff_names(self, rows: list[dict[str, Any]]) -> dict[str, str]:
        """Staff names by sub: the configured sub entries, and those seen signing in."""
        names = {m.sub: m.name for m in self.console.members if m.sub}
        subs = sorted({str(r["requested_by"]) for r in rows if r.get("requested_by")} - set(names))
        found = await self.store.get_many([(STAFF_NAME, s) for s in subs]) if subs else []
        for sub, value in zip(subs, found, strict=True):
            names[sub] = value["name"] if value else sub
        return names

    # ------------------------------------------------------------------ rendering

    def _render(
        self, request: Request, name: str, context: dict[str, Any], status_code: int = 200
    ) -> Response:
        locale = self.templates.locale(request)
        simulator = self.settings.bankid.environment == "simulator"
        return self.templates.render(
            request,
            name,
            {
                "staff": None,
                "csrf": "",
                "notice": None,
                "page": None,
                "simulator_url": f"/bankid-simulator/?lang={locale}" if simulator else None,
                **context,
            },
            status_code=status_code,
            locale=locale,
        )


def _signed(tokens: dict[str, Any], sign_digest: str) -> bool:
    """Whether the token response's authorization_details grant a signature of the text."""
    granted = tokens.get("authorization_details")
    return isinstance(granted, list) and any(
        isinstance(d, dict)
        and d.get("type") == SIGN
        and isinstance(d.get("text"), str)
        and hmac.compare_digest(_digest(d["text"]), sign_digest)
        for d in granted
    )


def _outcome(row: dict[str, Any]) -> str:
    """An audit row's outcome as the history shows it: a denial by its reason when the
    provider recorded one the console names (the caller declined the call, or cancelled)."""
    outcome = str(row.get("outcome", ""))
    if outcome == "denied" and row.get("detail") in DENIED:
        return str(DENIED[str(row["detail"])])
    return outcome


def _when(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return ""
    return f"{dt.datetime.fromtimestamp(value, dt.UTC):%Y-%m-%d %H:%M:%S}"


def _age(born: str, now: float) -> int | None:
    try:
        day = dt.date.fromisoformat(born)
    except ValueError:
        return None
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    return today.year - day.year - ((today.month, today.day) < (day.month, day.day))
