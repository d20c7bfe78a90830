"""The authorization endpoint (OIDC Core §3.1.2, RFC 6749 §4.1, RFC 9700), and the hand-off to
the authenticator and back.

Validation is a list of small steps. Until the client and its redirect URI are known to be
valid, every error is an HTML page and never a redirect (RFC 6749 §4.1.2.1, RFC 9700 §4.11:
no open redirector). After that, errors go back to the client with `error`, `state` and `iss`
(RFC 9207).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.authn import (
    Authentication,
    BrowserAuthenticator,
    FailureReason,
    LoginRequest,
    Result,
)
from idp.clock import Clock
from idp.config import ClientSettings, Registry, Settings
from idp.keys import SigningKeys
from idp.oidc import claims as claims_mod
from idp.oidc.sessions import LoginTransactions, Sessions, SSOSession
from idp.oidc.subject import subject_for
from idp.oidc.tokens import AuthContext, TokenService, new_id
from idp.store.db import DatabaseUnavailable, run_db
from idp.store.ttl import StoreUnavailable, TTLStore
from idp.web.cookies import Cookies
from idp.web.errors import error_page
from idp.web.templating import Templates

CODE = "code"
MAX_PARAM = 2048
PROMPTS = {"none", "login", "consent", "select_account"}
_PKCE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")

# How a neutral authentication failure is told to the client (RFC 6749 §4.1.2.1, OIDC §3.1.2.6).
FAILURE_ERRORS: dict[FailureReason, tuple[str, str]] = {
    FailureReason.CANCELLED: ("access_denied", "The user cancelled the login."),
    FailureReason.DECLINED: ("access_denied", "The user declined the login."),
    FailureReason.EXPIRED: ("access_denied", "The login was not completed in time."),
    FailureReason.START_FAILED: ("access_denied", "The login was never started."),
    FailureReason.REJECTED: ("access_denied", "The login was refused."),
    FailureReason.IN_PROGRESS: ("access_denied", "Another login for this person is in progress."),
    FailureReason.UNAVAILABLE: ("temporarily_unavailable", "The login service is unavailable."),
    FailureReason.INTERNAL: ("server_error", "The login failed because of an internal error."),
}


class FatalError(Exception):
    """The request cannot be answered by redirect: show an HTML page."""

    def __init__(self, code: str, message_key: str = "authz.bad_request") -> None:
        self.code = code
        self.message_key = message_key


class RedirectError(Exception):
    def __init__(self, error: str, description: str) -> None:
        self.error = error
        self.description = description


@dataclass(frozen=True)
class ValidatedRequest:
    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    prompt: tuple[str, ...]
    max_age: int | None
    claims_request: dict[str, Any]
    login_hint: str | None
    acr_values: tuple[str, ...]
    ui_locales: tuple[str, ...]
    hint_sub: str | None

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> ValidatedRequest:
        return cls(**{**d, **{k: tuple(d[k]) for k in ("prompt", "acr_values", "ui_locales")}})


def redirect_to(uri: str, params: dict[str, str | None], *, status_code: int = 303) -> Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    if not query:
        return RedirectResponse(uri, status_code=status_code)
    sep = "&" if "?" in uri else "?"
    return RedirectResponse(f"{uri}{sep}{query}", status_code=status_code)


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
        self.authenticator: BrowserAuthenticator | None = None

    # ------------------------------------------------------------------ parsing

    async def _params(self, request: Request) -> list[tuple[str, str]]:
        if request.method == "POST":
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/x-www-form-urlencoded":
                raise FatalError("invalid_request")
            form = await request.form(max_files=0, max_fields=100)
            return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        return list(request.query_params.multi_items())

    def _client_and_redirect(self, items: list[tuple[str, str]]) -> tuple[ClientSettings, str]:
        def single(name: str) -> str | None:
            values = [v for k, v in items if k == name]
            if len(values) > 1:
                raise FatalError("invalid_request")
            return values[0] if values else None

        client_id = single("client_id")
        client = self.registry.client(client_id) if client_id else None
        if client is None:
            raise FatalError("invalid_client", "authz.unknown_client")
        redirect_uri = single("redirect_uri")
        # RFC 9700 §2.1 / §4.1.3: exact string comparison with a registered URI.
        if redirect_uri is None or redirect_uri not in client.redirect_uris:
            raise FatalError("invalid_redirect_uri", "authz.bad_redirect_uri")
        if "authorization_code" not in client.grant_types:
            raise FatalError("unauthorized_client", "authz.unknown_client")
        return client, redirect_uri

    def _validate(
        self, client: ClientSettings, redirect_uri: str, items: list[tuple[str, str]]
    ) -> ValidatedRequest:
        seen: dict[str, str] = {}
        for k, v in items:
            # RFC 6749 §3.1: parameters MUST NOT be included more than once.
            if k in seen:
                raise RedirectError("invalid_request", f"'{k}' was given more than once")
            if len(v) > MAX_PARAM:
                raise RedirectError("invalid_request", f"'{k}' is too long")
            seen[k] = v
        p = seen.get
        if "request" in seen:
            raise RedirectError("request_not_supported", "request objects are not supported")
        if "request_uri" in seen:
            raise RedirectError("request_uri_not_supported", "request_uri is not supported")
        response_type = p("response_type")
        if not response_type:
            raise RedirectError("invalid_request", "response_type is required")
        if response_type != "code" or "code" not in client.response_types:
            raise RedirectError("unsupported_response_type", "only response_type=code is supported")
        if p("response_mode") not in (None, "query"):
            raise RedirectError("invalid_request", "only response_mode=query is supported")

        requested = (p("scope") or "").split()
        if "openid" not in requested:
            raise RedirectError("invalid_scope", "the openid scope is required")
        scopes = claims_mod.granted_scopes(requested, client, self.registry.current)

        challenge, method = p("code_challenge"), p("code_challenge_method")
        if challenge is None:
            if method is not None:
                raise RedirectError(
                    "invalid_request", "code_challenge_method without code_challenge"
                )
            if client.require_pkce or client.is_public:
                raise RedirectError(
                    "invalid_request", "PKCE is required: send code_challenge (S256)"
                )
        else:
            if method != "S256":
                raise RedirectError("invalid_request", "code_challenge_method must be S256")
            if not _PKCE.match(challenge):
                raise RedirectError("invalid_request", "code_challenge is malformed")

        prompt = tuple((p("prompt") or "").split())
        if set(prompt) - PROMPTS:
            raise RedirectError("invalid_request", "unsupported prompt value")
        if "none" in prompt and len(prompt) > 1:
            raise RedirectError("invalid_request", "prompt=none cannot be combined")

        max_age = None
        if p("max_age") is not None:
            raw = p("max_age") or ""
            if not raw.isdigit() or len(raw) > 10:
                raise RedirectError("invalid_request", "max_age must be a non-negative integer")
            max_age = int(raw)

        try:
            claims_request = claims_mod.parse_claims_request(p("claims"))
        except ValueError as exc:
            raise RedirectError("invalid_request", str(exc)) from None

        hint_sub = None
        if p("id_token_hint"):
            try:
                hint = self.keys.verify(
                    p("id_token_hint") or "",
                    issuer=self.settings.issuer,
                    verify_exp=False,
                    typ="JWT",
                )
                hint_sub = str(hint["sub"])
            except (jwt.InvalidTokenError, KeyError, ValueError):
                raise RedirectError(
                    "invalid_request", "id_token_hint is not a valid ID token of ours"
                ) from None

        return ValidatedRequest(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scope=" ".join(scopes),
            state=p("state"),
            nonce=p("nonce"),
            code_challenge=challenge,
            code_challenge_method=method,
            prompt=prompt,
            max_age=max_age,
            claims_request=claims_request,
            login_hint=p("login_hint"),
            acr_values=tuple((p("acr_values") or "").split()),
            ui_locales=tuple((p("ui_locales") or "").split()),
            hint_sub=hint_sub,
        )

    # ------------------------------------------------------------------ responses

    def _error_redirect(
        self, req_uri: str, state: str | None, error: str, description: str
    ) -> Response:
        return redirect_to(
            req_uri,
            {
                "error": error,
                "error_description": description,
                "state": state,
                "iss": self.settings.issuer,
            },
        )

    def _fatal(self, request: Request, exc: FatalError, locale: str | None = None) -> Response:
        return error_page(
            self.templates,
            request,
            status_code=400,
            message_key=exc.message_key,
            code=exc.code,
            locale=locale,
        )

    async def authorize(self, request: Request) -> Response:
        try:
            items = await self._params(request)
            client, redirect_uri = self._client_and_redirect(items)
        except FatalError as exc:
            return self._fatal(request, exc)
        state = next((v for k, v in items if k == "state"), None)
        try:
            req = self._validate(client, redirect_uri, items)
            response = await self._proceed(request, client, req)
        except RedirectError as exc:
            return self._error_redirect(redirect_uri, state, exc.error, exc.description)
        except (StoreUnavailable, DatabaseUnavailable):
            return self._error_redirect(
                redirect_uri, state, "temporarily_unavailable", "please try again shortly"
            )
        return response

    async def _proceed(
        self, request: Request, client: ClientSettings, req: ValidatedRequest
    ) -> Response:
        session = await self.sessions.current(request)
        if session is not None and not self._session_suffices(session, client, req):
            session = None
        if session is not None:
            return await self._respond_with_code(client, req, session)
        if "none" in req.prompt:
            raise RedirectError("login_required", "the user is not logged in")
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
        if {"login", "select_account"} & set(req.prompt):
            return False
        if req.max_age is not None and self.clock.now() - session.auth_time > req.max_age:
            return False
        if req.hint_sub is not None:
            return subject_for(self.subject_secret, client, session.subject) == req.hint_sub
        return True

    @staticmethod
    def _login_request(txn: str, client: ClientSettings, req: ValidatedRequest) -> LoginRequest:
        return LoginRequest(
            transaction_id=txn,
            client_id=client.client_id,
            client_name=client.display_name,
            acr_values=req.acr_values,
            login_hint=req.login_hint,
            ui_locales=req.ui_locales,
            prompt=req.prompt,
            max_age=req.max_age,
        )

    async def _respond_with_code(
        self, client: ClientSettings, req: ValidatedRequest, session: SSOSession
    ) -> Response:
        extra = claims_mod.requested_names(
            req.claims_request, "userinfo"
        ) | claims_mod.requested_names(req.claims_request, "id_token")
        released = claims_mod.release(
            session.claims, req.scope.split(), self.registry.current, client, extra
        )
        auth = AuthContext(
            session.acr, session.amr, session.auth_time, released, req.claims_request
        )
        code = new_id(32)
        grant_id = new_id(24)
        ttl = self.settings.tokens.authorization_code_ttl_seconds
        # The grant exists from the moment its code does, so a replay can always revoke it.
        await run_db(
            lambda: self.tokens.create_grant(
                grant_id=grant_id,
                client=client,
                sub=subject_for(self.subject_secret, client, session.subject),
                sid=session.sid,
                scope=req.scope,
                auth=auth,
            )
        )
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
            return self._fatal(request, FatalError("invalid_request", "authz.expired_login"))
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

    async def resume(self, request: Request) -> Response:
        txn = request.query_params.get("txn", "")
        try:
            value = await self.transactions.consume(txn, self.cookies.browser_id(request))
        except StoreUnavailable:
            return error_page(
                self.templates, request, status_code=503, message_key="error.unavailable"
            )
        if value is None:
            return self._fatal(request, FatalError("invalid_request", "authz.expired_login"))
        req = ValidatedRequest.from_state(value["request"])
        client = self.registry.client(req.client_id)
        if client is None or req.redirect_uri not in client.redirect_uris:
            return self._fatal(request, FatalError("invalid_client", "authz.unknown_client"))
        result = value["result"]
        if not result["ok"]:
            reason = FailureReason(result["reason"])
            error, description = FAILURE_ERRORS[reason]
            return self._error_redirect(req.redirect_uri, req.state, error, description)
        auth = Authentication(
            subject=result["subject"],
            acr=result["acr"],
            amr=tuple(result["amr"]),
            auth_time=result["auth_time"],
            claims=result["claims"],
        )
        try:
            previous = await self.sessions.current(request)
            if previous is not None:
                await self.sessions.end(previous)
            key, session = await self.sessions.create(auth)
            response = await self._respond_with_code(client, req, session)
        except (StoreUnavailable, DatabaseUnavailable):
            return self._error_redirect(
                req.redirect_uri, req.state, "temporarily_unavailable", "please try again shortly"
            )
        self.cookies.set(
            response, self.cookies.session, key, max_age=self.settings.session.lifetime_seconds
        )
        return response
