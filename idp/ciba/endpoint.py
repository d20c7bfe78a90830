"""POST /backchannel-authentication: the CIBA authentication request (CIBA Core 1.0 §7).

Validation follows §7.2 in order, as small named checks: authenticate the client (1), refuse
signed requests, which we do not offer (2), validate the parameters (3), resolve the hint to a
person (4), then start. Errors are those of §13, as JSON; descriptions never repeat input.

RFC 9396 §3: ``authorization_details`` "can be used in ... CIBA". A request may carry one
``se.bankid.sign`` detail: the person then signs its text in the BankID app (``/phone/sign``)
instead of only confirming the call, and the tokens carry the granted details and the
signature. BankID shows one text (``userVisibleData``): with a detail that is the detail's text,
exactly as it is signed; a ``binding_message`` is still checked but is for the client's own
display only, and a client whose entry signs binding messages needs none with a detail (the
detail's text is what is signed).
"""

from __future__ import annotations

import contextlib
import logging
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import jwt
from authlib.oauth2.rfc6749 import OAuth2Error
from starlette.requests import Request
from starlette.responses import Response

from idp.authn import BackchannelAuthenticator
from idp.authn.approval import PAYMENT, TYPES, Approval, InvalidDetails, approval_of, parse
from idp.ciba.audit import audit_id_for
from idp.ciba.errors import (
    BackchannelError,
    InvalidAuthorizationDetails,
    InvalidBindingMessage,
    InvalidRequest,
    InvalidScope,
    ServerError,
    TemporarilyUnavailable,
    UnauthorizedClient,
    UnknownUserId,
)
from idp.ciba.links import SubjectLinks
from idp.ciba.service import Accepted, CibaService, approval_binding
from idp.clock import Clock
from idp.config import CIBA_GRANT, ClientSettings, Registry, Settings
from idp.keys import SigningKeys
from idp.oidc import claims as claims_mod
from idp.oidc.bridge import OAuthBridge
from idp.oidc.client_auth import CONFIDENTIAL_METHODS, ClientAuthenticationFailed
from idp.oidc.http import MAX_PAR_BODY, BadRequest, oauth_json, read_form
from idp.store.db import DatabaseUnavailable, run_db
from idp.store.ttl import StoreUnavailable
from idp.web.ratelimit import CIBA, RateLimiter, too_many_json

log = logging.getLogger("idp.ciba")

PATH = "/backchannel-authentication"
HINTS = ("login_hint", "login_hint_token", "id_token_hint")
# RFC 6750 §2.1 b64token, as §7.1 requires of client_notification_token (≤ 1024 characters).
_BEARER = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
NOTIFICATION_TOKEN_MAX = 1024
# Punctuation a BankID app shows as plain text; letters and digits of any script are allowed.
_BINDING_PUNCTUATION = frozenset(" .,:;!?-_+/#()'&@%*=\"")
CALL_INITIATORS = ("RP", "user")
#: ``requested_by`` (an extension): who at the client asks, as the client names them (a staff
#: member's pseudonymous `sub`, an employee number); kept in the audit trail, shown to no one
#: else. Printable, URL-safe characters only, so it cannot smuggle markup or a log line.
_REQUESTED_BY = re.compile(r"^[A-Za-z0-9._~:@+/=-]{1,200}\Z")
AUTHORIZATION_DETAILS = "authorization_details"
NO_PHONE_PAYMENT = (
    "se.bankid.payment cannot be approved in backchannel authentication: BankID offers no "
    "phone payment order (use the authorization endpoint)"
)


def check_binding_message(message: str, max_length: int) -> str:
    """The message shown in the BankID app as userVisibleData, or InvalidBindingMessage.

    CIBA Core §7.1: "a human-readable identifier or message intended to be displayed on both
    the consumption device and the authentication device ... relatively short and use a limited
    set of plain text characters". Here: 1..max_length characters, letters and digits of any
    script, spaces and common punctuation; no control characters, line breaks, emoji or
    markup, and not only spaces.
    """
    if not message or len(message) > max_length:
        raise InvalidBindingMessage(f"binding_message must be 1 to {max_length} characters")
    for ch in message:
        category = unicodedata.category(ch)
        if not (category.startswith("L") or category == "Nd" or ch in _BINDING_PUNCTUATION):
            raise InvalidBindingMessage(
                "binding_message may contain only letters, digits, spaces and common "
                "punctuation; no line breaks, symbols or emoji"
            )
    if not message.strip():
        raise InvalidBindingMessage("binding_message must not be blank")
    return message


class BackchannelEndpoint:
    def __init__(
        self,
        *,
        settings: Settings,
        registry: Registry,
        bridge: OAuthBridge,
        service: CibaService,
        authenticator: BackchannelAuthenticator,
        keys: SigningKeys,
        links: SubjectLinks,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.bridge = bridge
        self.service = service
        self.authenticator = authenticator
        self.keys = keys
        self.links = links
        self.clock = clock
        #: Rate limits per client and per person (set by idp.app); None: no limits.
        self.limiter: RateLimiter | None = None

    async def endpoint(self, request: Request) -> Response:
        try:
            # authorization_details may carry a text to sign as large as a pushed request's
            # (BankID: 40,000 base64 characters, and non-visible data up to 200,000).
            form = await read_form(request, max_body=MAX_PAR_BODY)
        except BadRequest as exc:
            return self._error(InvalidRequest(exc.description))
        limiter = self.limiter
        try:
            limited = None if limiter is None else await limiter.client(CIBA, request, form)
        except StoreUnavailable:
            limited = None  # met again below, and answered 503
        if limited is not None:
            return too_many_json(limited)
        # §7.2 step 1: "authenticate the Client in the same way as at the token endpoint".
        try:
            settings = await self.bridge.client_auth.authenticate(
                request, form, "backchannel_authentication", CONFIDENTIAL_METHODS
            )
        except ClientAuthenticationFailed as exc:
            log.info("ciba request refused: client authentication failed")
            self.service.observe("unauthorized")
            if limiter is not None:
                with contextlib.suppress(StoreUnavailable):
                    await limiter.client_auth_failed(request, form)
            return oauth_json(exc.status_code, exc.json(), exc.headers)
        except (StoreUnavailable, DatabaseUnavailable):
            return self._error(TemporarilyUnavailable("please try again shortly"))
        identity: str | None = None
        try:
            accepted = await self._validate(settings, form)
            identity = accepted.identity
            # Per person (a keyed hash of the number): no push-bombing of someone's phone.
            if limiter is not None and (limited := await limiter.person(identity)) is not None:
                return too_many_json(limited)
            req = await self.service.begin(settings, accepted)
        except BackchannelError as exc:
            await self._audit_refusal(settings, form, exc, identity)
            return self._error(exc)
        except (StoreUnavailable, DatabaseUnavailable):
            return self._error(TemporarilyUnavailable("please try again shortly"))
        # §7.3: auth_req_id, expires_in and interval; never cached.
        return oauth_json(
            200,
            {
                "auth_req_id": req.id,
                "expires_in": int(req.expires_at - req.created_at),
                "interval": req.interval,
            },
        )

    async def _validate(self, client: ClientSettings, form: dict[str, str]) -> Accepted:
        checks: list[Callable[[ClientSettings, dict[str, str]], None]] = [
            self.check_client_may_use_ciba,
            self.check_no_request_object,
            self.check_scope,
            self.check_one_hint,
            self.check_requested_expiry,
            self.check_notification_token,
            self.check_call_initiator,
            self.check_requested_by,
        ]
        for check in checks:
            check(client, form)
        details, approval = self.check_authorization_details(client, form)
        binding = form.get("binding_message")
        if binding is not None:
            check_binding_message(binding, self.settings.ciba.binding_message_max_length)
        elif client.ciba_sign_binding_message and approval is None:
            raise InvalidRequest("this client must send a binding_message (it is signed)")
        identity = await self.resolve_hint(client, form)  # §7.2 step 4
        return Accepted(
            identity=identity,
            scope=self.granted_scope(client, form),
            acr_values=tuple(form.get("acr_values", "").split()),
            binding_message=binding,
            expires_in=self.expires_in(form),
            notification_token=form.get("client_notification_token")
            if client.backchannel_token_delivery_mode == "ping"
            else None,
            call_initiator=form.get("call_initiator") or client.ciba_call_initiator,
            authorization_details=details,
            approval=approval,
            requested_by=form.get("requested_by"),
        )

    # ------------------------------------------------------------------ checks (§7.1, §7.2)

    def check_client_may_use_ciba(self, client: ClientSettings, form: dict[str, str]) -> None:
        if CIBA_GRANT not in client.grant_types or client.backchannel_token_delivery_mode is None:
            raise UnauthorizedClient("this client is not allowed to use backchannel authentication")

    def check_no_request_object(self, client: ClientSettings, form: dict[str, str]) -> None:
        if "request" in form or "request_uri" in form:
            raise InvalidRequest("signed authentication requests (request) are not supported")

    def check_scope(self, client: ClientSettings, form: dict[str, str]) -> None:
        scope = form.get("scope", "")
        if not scope.strip():
            raise InvalidRequest("scope is required")
        if "openid" not in scope.split():
            raise InvalidScope("scope must include openid")

    def check_one_hint(self, client: ClientSettings, form: dict[str, str]) -> None:
        # §7.1: "it is REQUIRED that the Client provides one (and only one) of the hints".
        given = [h for h in HINTS if form.get(h)]
        if len(given) != 1:
            raise InvalidRequest(
                "exactly one of login_hint, login_hint_token and id_token_hint is required"
            )
        if given[0] == "login_hint_token":
            raise InvalidRequest("login_hint_token is not supported; use login_hint")

    def check_requested_expiry(self, client: ClientSettings, form: dict[str, str]) -> None:
        raw = form.get("requested_expiry")
        if raw is None:
            return
        if not raw.isascii() or not raw.isdigit() or int(raw) <= 0 or len(raw) > 9:
            raise InvalidRequest("requested_expiry must be a positive integer (seconds)")

    def check_notification_token(self, client: ClientSettings, form: dict[str, str]) -> None:
        if client.backchannel_token_delivery_mode != "ping":
            return
        token = form.get("client_notification_token", "")
        # §7.1: REQUIRED for ping; bearer token syntax (RFC 6750 §2.1); at most 1024 chars.
        if not token:
            raise InvalidRequest("client_notification_token is required for ping delivery")
        if len(token) > NOTIFICATION_TOKEN_MAX or not _BEARER.match(token):
            raise InvalidRequest(
                "client_notification_token must be a bearer token of at most 1024 characters"
            )

    def check_call_initiator(self, client: ClientSettings, form: dict[str, str]) -> None:
        wanted = form.get("call_initiator")
        if wanted is None:
            return
        if wanted not in CALL_INITIATORS:
            raise InvalidRequest("call_initiator must be 'RP' or 'user'")
        if wanted != client.ciba_call_initiator and not client.ciba_allow_call_initiator_override:
            raise InvalidRequest("this client may not choose the call_initiator")

    def check_requested_by(self, client: ClientSettings, form: dict[str, str]) -> None:
        wanted = form.get("requested_by")
        if wanted is not None and not _REQUESTED_BY.match(wanted):
            raise InvalidRequest(
                "requested_by must be 1 to 200 characters of A-Z a-z 0-9 and . _ ~ : @ + / = -"
            )

    def check_authorization_details(
        self, client: ClientSettings, form: dict[str, str]
    ) -> tuple[tuple[dict[str, Any], ...], Approval | None]:
        """RFC 9396: what the person is to approve. The request is client-authenticated, so a
        plain form parameter is accepted (§12 asks for integrity, which client authentication
        over TLS gives). Only the types the client's entry lists (§10); any rule broken is
        invalid_authorization_details (§5: the AS "MUST refuse to process any unknown
        authorization details type or authorization details not conforming to the respective
        type definition"). What the backchannel authenticator cannot have approved is refused
        here, not at BankID: a payment (BankID has no phone payment order), and requirements
        other than pinCode and certificatePolicies (all that /phone/sign takes)."""
        raw = form.get(AUTHORIZATION_DETAILS)
        if raw is None:
            return (), None
        try:
            details = parse(raw, allowed_types=client.authorization_details_types)
            approval = approval_of(details)
        except InvalidDetails as exc:
            raise InvalidAuthorizationDetails(str(exc)) from None
        if approval is None:
            return tuple(details), None
        index = next(i for i, d in enumerate(details) if d.get("type") in TYPES)
        if approval.type == PAYMENT:
            raise InvalidAuthorizationDetails(NO_PHONE_PAYMENT)
        # The binding the service will make, with a request id of the same length, so that
        # its size is checked too.
        probe = approval_binding(self.settings.issuer, client.client_id, audit_id_for("probe"))
        try:
            approval.bankid_phone_request(binding=probe)
        except InvalidDetails as exc:
            raise InvalidAuthorizationDetails(f"authorization_details[{index}].{exc}") from None
        except ValueError:  # the issuer and client_id leave no room for the binding
            log.error("the approval binding for client %s is too long", client.client_id)
            raise ServerError("the approval cannot be bound to this request") from None
        return tuple(details), approval

    async def resolve_hint(self, client: ClientSettings, form: dict[str, str]) -> str:
        hint = form.get("login_hint")
        if hint is not None:
            identity = self.authenticator.resolve_login_hint(hint)
            if identity is None:
                raise UnknownUserId("the login_hint does not name a person we can authenticate")
            return identity
        sub = await anyio.to_thread.run_sync(self._id_token_hint_sub, client, form["id_token_hint"])
        identity = await run_db(
            self.links.lookup, client.client_id, sub, engine=self.service.engine
        )
        if identity is None:
            raise UnknownUserId("the id_token_hint does not name a person we can authenticate")
        return identity

    def _id_token_hint_sub(self, client: ClientSettings, token: str) -> str:
        """An ID token we issued to this client (§7.1); it may have expired since."""
        try:
            claims = self.keys.verify(
                token, audience=client.client_id, issuer=self.settings.issuer, verify_exp=False
            )
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise InvalidRequest(
                "the id_token_hint is not an ID token of ours issued to this client"
            ) from None
        if "client_id" in claims or not isinstance(claims.get("sub"), str):
            raise InvalidRequest("the id_token_hint is not an ID token")  # e.g. an access token
        return str(claims["sub"])

    def granted_scope(self, client: ClientSettings, form: dict[str, str]) -> str:
        granted = claims_mod.granted_scopes(form["scope"].split(), client, self.registry.current)
        if "openid" not in granted:
            raise InvalidScope("scope must include openid")
        return " ".join(granted)

    def expires_in(self, form: dict[str, str]) -> int:
        ciba = self.settings.ciba
        raw = form.get("requested_expiry")
        if raw is None:
            return ciba.expires_in_seconds
        return min(int(raw), max(ciba.max_expires_in_seconds, ciba.expires_in_seconds))

    # ------------------------------------------------------------------ responses

    async def _audit_refusal(
        self,
        client: ClientSettings,
        form: dict[str, str],
        exc: BackchannelError,
        identity: str | None,
    ) -> None:
        if exc.error in ("access_denied", "temporarily_unavailable", "server_error"):
            return  # a start failure: begin() already wrote the audit row
        subject = self.service.sub_for(client, identity) if identity else None
        requested_by = form.get("requested_by")
        if requested_by is not None and not _REQUESTED_BY.match(requested_by):
            requested_by = None
        log.info("ciba request from client %s refused: %s", client.client_id, exc.error)
        self.service.observe(
            "unauthorized" if exc.error == "unauthorized_client" else "invalid_request"
        )
        try:
            await run_db(
                lambda: self.service.audit.rejected(
                    client_id=client.client_id,
                    error=exc.error,
                    subject=subject,
                    requested_by=requested_by,
                ),
                engine=self.service.engine,
            )
        except DatabaseUnavailable:
            log.error("ciba audit of a refused request failed")

    def _error(self, exc: OAuth2Error) -> Response:
        status, body, headers = exc()
        headers = dict(headers or [])
        if body.get("error") == "invalid_client":
            status = 401
        return oauth_json(status, body, headers)
