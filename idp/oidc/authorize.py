"""The authorization endpoint (OIDC Core §3.1.2, RFC 6749 §4.1, RFC 9700), and the hand-off to
the authenticator and back.

Validation is the list of named checks in ``idp.oidc.checks``, shared with the PAR endpoint.
Until the client and its redirect URI are trusted, an error is an HTML page, or a redirect to
the outer request's own registered redirect URI, never anywhere else (RFC 6749 §4.1.2.1,
RFC 9700 §4.11: no open redirector). After that, errors go back to the client with `error`,
`state` and `iss` (RFC 9207). Each wire error is a class (``idp.oidc.errors``) rendered here.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.authn import (
    Authentication,
    BrowserAuthenticator,
    FailureReason,
    LoginRequest,
    Result,
)
from idp.authn.approval import EVIDENCE_CLAIMS
from idp.clock import Clock
from idp.config import FAPI2_CODE_MAX_SECONDS, ClientSettings, Registry, Settings
from idp.keys import SigningKeys
from idp.oidc import checks
from idp.oidc import claims as claims_mod
from idp.oidc.checks import Context, Services, ValidatedRequest
from idp.oidc.errors import (
    AccessDenied,
    AuthorizationError,
    InvalidClient,
    InvalidRequest,
    LoginRequired,
    ServerError,
    TemporarilyUnavailable,
    UnmetAuthenticationRequirements,
)
from idp.oidc.evidence import EvidenceStore
from idp.oidc.sessions import LoginTransactions, Sessions, SSOSession
from idp.oidc.subject import subject_for
from idp.oidc.tokens import AuthContext, TokenService, new_id
from idp.store.db import DatabaseUnavailable, run_db
from idp.store.ttl import StoreUnavailable, TTLStore
from idp.web import ratelimit
from idp.web.cookies import Cookies
from idp.web.errors import error_page
from idp.web.ratelimit import Limited, RateLimiter
from idp.web.templating import Templates

CODE = "code"

# How a neutral authentication failure is told to the client (RFC 6749 §4.1.2.1, OIDC §3.1.2.6).
FAILURE_ERRORS: dict[FailureReason, tuple[type[AuthorizationError], str]] = {
    FailureReason.CANCELLED: (AccessDenied, "The user cancelled the login."),
    FailureReason.DECLINED: (AccessDenied, "The user declined the login."),
    FailureReason.EXPIRED: (AccessDenied, "The login was not completed in time."),
    FailureReason.START_FAILED: (AccessDenied, "The login was never started."),
    FailureReason.REJECTED: (AccessDenied, "The login was refused."),
    FailureReason.IN_PROGRESS: (AccessDenied, "The login was refused."),
    FailureReason.UNAVAILABLE: (TemporarilyUnavailable, "The login service is unavailable."),
    FailureReason.INTERNAL: (ServerError, "The login failed because of an internal error."),
}


def redirect_to(uri: str, params: dict[str, str | None], *, status_code: int = 303) -> Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    if not query:
        return RedirectResponse(uri, status_code=status_code)
    sep = "&" if "?" in uri else "?"
    return RedirectResponse(f"{uri}{sep}{query}", status_code=status_code)


class _Expired(AuthorizationError):
    message_key = "authz.expired_login"
    page_only = True


def approval_binding(issuer: str, client_id: str, request_id: str) -> str:
    """What identifies a request in the approval made for it (idp.authn.approval)."""
    return f"{issuer} {client_id} {request_id}"


def _without_evidence(auth: Authentication) -> Authentication:
    """A login's result as a session keeps it: never an approval's evidence."""
    if not EVIDENCE_CLAIMS & auth.claims.keys():
        return auth
    claims = {k: v for k, v in auth.claims.items() if k not in EVIDENCE_CLAIMS}
    return dataclasses.replace(auth, claims=claims)


def _approval_session(auth: Authentication) -> SSOSession:
    """The approval's result in the shape a code is issued from; never stored as a session."""
    return SSOSession(
        key_hash="",
        sid="",
        subject=auth.subject,
        acr=auth.acr,
        amr=tuple(auth.amr),
        auth_time=int(auth.auth_time),
        claims=dict(auth.claims),
        created_at=auth.auth_time,
        last_active=auth.auth_time,
    )


class AuthorizationEndpoint:
    def __init__(
        self,
        *,
        settings: Settings,
        registry: Registry,
        store: TTLStore,
        clock: Clock,
        keys: SigningKeys,
        tokens: TokenService,
        sessions: Sessions,
        transactions: LoginTransactions,
        cookies: Cookies,
        templates: Templates,
        subject_secret: bytes,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.store = store
        self.clock = clock
        self.keys = keys
        self.tokens = tokens
        self.sessions = sessions
        self.transactions = transactions
        self.cookies = cookies
        self.templates = templates
        self.subject_secret = subject_secret
        #: Per-address limit of authorization requests (set by idp.app; None: no limit).
        self.limiter: RateLimiter | None = None
        self.authenticator: BrowserAuthenticator | None = None
        #: Where each approval's evidence is kept (the provider sets it).
        self.evidence: EvidenceStore | None = None
        #: What the checks use; the provider adds request objects and pushed requests.
        self.services = Services(settings=settings, registry=registry, keys=keys, clock=clock)

    # ------------------------------------------------------------------ parsing

    async def _raw(self, request: Request) -> list[tuple[str, str]]:
        if request.method == "POST":
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/x-www-form-urlencoded":
                raise InvalidRequest("the body must be application/x-www-form-urlencoded")
            form = await request.form(max_files=0, max_fields=100)
            return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        return list(request.query_params.multi_items())

    def _outer_redirect(self, raw: list[tuple[str, str]]) -> str | None:
        """Where an error found before the checks trust the request may still go: the
        redirect_uri of the outer request, when it names a known client's registered URI once
        (RFC 6749 §4.1.2.1). Never a URI from inside a request object or a pushed request."""

        def once(name: str) -> str | None:
            values = [v for k, v in raw if k == name]
            return values[0] if len(values) == 1 else None

        client_id, uri = once("client_id"), once("redirect_uri")
        client = self.registry.client(client_id) if client_id else None
        if client is None or uri is None or uri not in client.redirect_uris:
            return None
        return uri

    # ------------------------------------------------------------------ responses

    def _error_redirect(self, uri: str, state: str | None, exc: AuthorizationError) -> Response:
        """RFC 6749 §4.1.2.1 with RFC 9207: the error, the state and our issuer."""
        return redirect_to(
            uri,
            {
                "error": exc.error,
                "error_description": exc.description or None,
                "state": state,
                "iss": self.settings.issuer,
            },
        )

    def _page(
        self, request: Request, exc: AuthorizationError, locale: str | None = None
    ) -> Response:
        return error_page(
            self.templates,
            request,
            status_code=400 if exc.status_code < 500 else exc.status_code,
            message_key=exc.message_key,
            code=exc.error,
            locale=locale,
        )

    async def authorize(self, request: Request) -> Response:
        try:
            raw = await self._raw(request)
        except AuthorizationError as exc:
            return self._page(request, exc)
        ctx = Context(raw=raw, endpoint="authorize")
        limited = await self._limited(request)
        try:
            await checks.run(ctx, self.services, checks.FRONT)
            if limited is not None:
                # Once the redirect URI is trusted the client hears it (RFC 6749 §4.1.2.1),
                # with Retry-After (RFC 9110 §10.2.3 allows it on a redirect).
                assert ctx.redirect_uri is not None
                response = self._error_redirect(
                    ctx.redirect_uri,
                    ctx.state,
                    TemporarilyUnavailable(limited.description),
                )
                response.headers.update(limited.headers)
                return response
        except AuthorizationError as exc:
            if limited is not None:
                return self._too_many(request, limited)
            outer = None if exc.page_only else self._outer_redirect(raw)
            if outer is None:
                return self._page(request, exc)
            state = next((v for k, v in raw if k == "state"), None)
            return self._error_redirect(outer, state, exc)
        except (StoreUnavailable, DatabaseUnavailable):
            return error_page(
                self.templates, request, status_code=503, message_key="error.unavailable"
            )
        assert ctx.client is not None and ctx.redirect_uri is not None
        try:
            await checks.run(ctx, self.services, checks.CHECKS)
            return await self._proceed(request, ctx.client, ctx.result())
        except AuthorizationError as exc:
            return self._error_redirect(ctx.redirect_uri, ctx.state, exc)
        except (StoreUnavailable, DatabaseUnavailable):
            return self._error_redirect(
                ctx.redirect_uri,
                ctx.state,
                TemporarilyUnavailable("please try again shortly"),
            )

    async def _limited(self, request: Request) -> Limited | None:
        if self.limiter is None:
            return None
        try:
            return await self.limiter.address(ratelimit.AUTHORIZE, request)
        except StoreUnavailable:
            return None  # the checks that follow meet the store again and answer it

    def _too_many(self, request: Request, limited: Limited) -> Response:
        page = error_page(self.templates, request, status_code=429, message_key="error.too_many")
        page.headers.update(limited.headers)
        return page

    async def _proceed(
        self, request: Request, client: ClientSettings, req: ValidatedRequest
    ) -> Response:
        session = await self.sessions.current(request)
        if session is not None and not self._session_suffices(session, client, req):
            session = None
        if session is not None:
            return await self._respond_with_code(client, req, session)
        if "none" in req.prompt:
            raise LoginRequired("the user is not logged in")
        assert self.authenticator is not None
        browser, fresh = self.cookies.ensure_browser(request)
        txn = await self.transactions.create(browser, req.state_dict())
        login = self._login_request(txn, client, req)
        response = RedirectResponse(self.authenticator.start_url(login), status_code=303)
        if fresh:
            self.cookies.set(response, self.cookies.browser, browser)
        return response

    def _session_suffices(
        self, session: SSOSession, client: ClientSettings, req: ValidatedRequest
    ) -> bool:
        # OIDC Core §3.1.2.1: prompt=login "SHOULD prompt the End-User for reauthentication";
        # the Swedish OIDC Profile §2.1.4 makes it a MUST. prompt=consent: the person approves
        # this client anew, and in BankID approving is authenticating (the app names the
        # client), so it too needs a fresh login; select_account likewise.
        if {"login", "consent", "select_account"} & set(req.prompt):
            return False
        # An approval (a signature, a payment) is made now, by the person, in BankID: an
        # earlier login never stands in for it (Signature Extension §5.1).
        if req.approves:
            return False
        if req.max_age is not None and self.clock.now() - session.auth_time > req.max_age:
            return False
        # OIDC Core §5.5.1.1: an essential acr is honoured with SSO too: a session whose login
        # does not meet it is not reused (the person authenticates again).
        policy = self.services.acr
        if req.acr_essential and policy and not policy.satisfies(req.acr_values, session.acr):
            return False
        if req.hint_sub is not None:
            return subject_for(self.subject_secret, client, session.subject) == req.hint_sub
        return True

    def _login_request(
        self, txn: str, client: ClientSettings, req: ValidatedRequest
    ) -> LoginRequest:
        # The requested values as asked, in their order of preference; the authenticator works
        # out which of its ways to offer (BankID: idp.bankid.authenticator.flows_for).
        approval = req.approval
        return LoginRequest(
            transaction_id=txn,
            client_id=client.client_id,
            client_name=client.display_name,
            acr_values=req.acr_values,
            login_hint=req.login_hint,
            ui_locales=req.ui_locales,
            prompt=req.prompt,
            max_age=req.max_age,
            user_message=req.user_message,
            approval=approval,
            approval_binding=None
            if approval is None
            else approval_binding(self.settings.issuer, client.client_id, txn),
        )

    async def _respond_with_code(
        self,
        client: ClientSettings,
        req: ValidatedRequest,
        session: SSOSession,
        binding: str | None = None,
    ) -> Response:
        extra = claims_mod.requested_names(
            req.claims_request, "userinfo"
        ) | claims_mod.requested_names(req.claims_request, "id_token")
        released = claims_mod.release(
            session.claims, req.scope.split(), self.registry.current, client, extra
        )
        if req.approves:
            # The approval's evidence, for the ID token whatever the scopes (Signature
            # Extension §5.2: "MUST" be in the ID token); kept in the grant, sealed.
            released |= {k: v for k, v in session.claims.items() if k in EVIDENCE_CLAIMS}
        auth = AuthContext(
            session.acr,
            session.amr,
            session.auth_time,
            released,
            req.claims_request,
            acr_values=req.acr_values,
            authorization_details=tuple(req.authorization_details),
        )
        code = new_id(32)
        grant_id = new_id(24)
        ttl = self.settings.tokens.authorization_code_ttl_seconds
        if client.fapi2:
            # FAPI 2.0 §5.3.2.1: "shall provide means to limit the lifetime of authorization
            # codes to no more than 60 seconds".
            ttl = min(ttl, FAPI2_CODE_MAX_SECONDS)
        sub = subject_for(self.subject_secret, client, session.subject)

        def store() -> None:
            # The grant exists from the moment its code does, so a replay can always revoke it.
            self.tokens.create_grant(
                grant_id=grant_id,
                client=client,
                sub=sub,
                sid=session.sid,
                scope=req.scope,
                auth=auth,
            )
            # An approval's evidence is kept before its code exists: if it cannot be, the
            # approval fails as a grant that cannot be stored does (idp.oidc.evidence).
            if req.approves and self.evidence is not None:
                self.evidence.keep(
                    client_id=client.client_id,
                    sub=sub,
                    auth=auth,
                    details=req.authorization_details or req.sign_request,
                    binding=binding,
                )

        await run_db(store, engine=self.tokens.engine)
        value = {
            "client_id": client.client_id,
            "redirect_uri": req.redirect_uri,
            "scope": req.scope,
            "nonce": req.nonce,
            "code_challenge": req.code_challenge,
            "code_challenge_method": req.code_challenge_method,
            "expires_at": self.clock.now() + ttl,
            "grant_id": grant_id,
        }
        if req.dpop_jkt is not None:  # RFC 9449 §10: the code is bound to this key
            value["dpop_jkt"] = req.dpop_jkt
        # The entry outlives the code so that a late replay can still revoke what it issued, for
        # as long as an access token from the first use lives.
        replay_window = self.settings.tokens.access_token_ttl_seconds
        await self.store.put(CODE, code, value, ttl + replay_window, grant_id=grant_id)
        return redirect_to(
            req.redirect_uri, {"code": code, "state": req.state, "iss": self.settings.issuer}
        )

    # ------------------------------------------------------------------ hand-off

    async def load(self, request: Request, transaction_id: str) -> LoginRequest | None:
        value = await self.transactions.get(transaction_id, self.cookies.browser_id(request))
        if value is None or value.get("result") is not None:
            return None
        req = ValidatedRequest.from_state(value["request"])
        client = self.registry.client(req.client_id)
        if client is None:
            return None
        return self._login_request(transaction_id, client, req)

    async def finish(self, request: Request, transaction_id: str, result: Result) -> Response:
        if await self.load(request, transaction_id) is None:
            return self._page(request, _Expired())
        if isinstance(result, Authentication):
            stored: dict[str, Any] = {
                "ok": True,
                "subject": result.subject,
                "acr": result.acr,
                "amr": list(result.amr),
                "auth_time": result.auth_time,
                "claims": dict(result.claims),
            }
        else:
            stored = {"ok": False, "reason": result.reason.value, "description": result.description}
        await self.transactions.set_result(transaction_id, stored)
        return RedirectResponse(
            f"/authorize/resume?{urlencode({'txn': transaction_id})}", status_code=303
        )

    async def rebind(self, request: Request, transaction_id: str) -> bool:
        return await self.transactions.rebind(transaction_id, self.cookies.browser_id(request))

    async def resume(self, request: Request) -> Response:
        txn = request.query_params.get("txn", "")
        try:
            value = await self.transactions.consume(txn, self.cookies.browser_id(request))
        except StoreUnavailable:
            return error_page(
                self.templates, request, status_code=503, message_key="error.unavailable"
            )
        if value is None:
            return self._page(request, _Expired())
        req = ValidatedRequest.from_state(value["request"])
        client = self.registry.client(req.client_id)
        if client is None or req.redirect_uri not in client.redirect_uris:
            return self._page(request, InvalidClient())
        result = value["result"]
        if not result["ok"]:
            reason = FailureReason(result["reason"])
            error, description = FAILURE_ERRORS[reason]
            return self._error_redirect(req.redirect_uri, req.state, error(description))
        auth = Authentication(
            subject=result["subject"],
            acr=result["acr"],
            amr=tuple(result["amr"]),
            auth_time=result["auth_time"],
            claims=result["claims"],
        )
        policy = self.services.acr
        if req.acr_essential and policy and not policy.satisfies(req.acr_values, auth.acr):
            # Unmet Authentication Requirements 1.0 §2: the login happened, but not in a way the
            # essential acr asked for.
            return self._error_redirect(
                req.redirect_uri,
                req.state,
                UnmetAuthenticationRequirements("the login did not meet the essential acr"),
            )
        try:
            if req.approves:
                # An approval leaves single sign-on as it was: no session starts or ends, and
                # nothing of the approval is kept in one (Signature Extension §5.1).
                binding = approval_binding(self.settings.issuer, client.client_id, txn)
                return await self._respond_with_code(client, req, _approval_session(auth), binding)
            previous = await self.sessions.current(request)
            if previous is not None:
                await self.sessions.end(previous)
            key, session = await self.sessions.create(_without_evidence(auth))
            response = await self._respond_with_code(client, req, session)
        except (StoreUnavailable, DatabaseUnavailable):
            return self._error_redirect(
                req.redirect_uri, req.state, TemporarilyUnavailable("please try again shortly")
            )
        self.cookies.set(
            response, self.cookies.session, key, max_age=self.settings.session.lifetime_seconds
        )
        return response
