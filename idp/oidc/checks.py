"""The authorization request, checked by a list of small named steps.

node-oidc-provider's ``lib/actions/authorization/index.js`` is the model: each step enforces
one rule, quotes it, and raises one wire error (``idp.oidc.errors``). The same steps serve
``/authorize`` (a query string or form, a ``request`` object, or a PAR ``request_uri``) and the
pushed authorization request endpoint (RFC 9126 §2.1: "validate the pushed request as it would
an authorization request"). Which steps run where is data (``FRONT`` and ``CHECKS`` below), not
a chain of ``if``s.

Two stages. ``FRONT`` establishes the client, the parameters that count and the redirect URI;
until it has, no error may go back by redirect (RFC 6749 §4.1.2.1, RFC 9700 §4.11), so its
errors are pages (or JSON at PAR). ``CHECKS`` then validate everything else; their errors go to
the client's redirect URI with ``state`` and ``iss``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import jwt

from idp.authn import UserMessage
from idp.authn import approval as approval_mod
from idp.authn import personal_number as pnr
from idp.authn.approval import Approval
from idp.clock import Clock
from idp.config import ClientSettings, Registry, Settings
from idp.keys import SigningKeys
from idp.oidc import claims as claims_mod
from idp.oidc import sign_request
from idp.oidc.acr import AcrPolicy, requested_acr
from idp.oidc.errors import (
    AuthorizationError,
    InvalidAuthorizationDetails,
    InvalidClient,
    InvalidRedirectUri,
    InvalidRequest,
    InvalidRequestObject,
    InvalidScope,
    RequestUriNotSupported,
    UnauthorizedClient,
    UnmetAuthenticationRequirements,
    UnsupportedResponseType,
)
from idp.oidc.http import quoted_name
from idp.oidc.request_object import MAX_LENGTH as MAX_REQUEST_OBJECT
from idp.oidc.user_message import PARAMETER as USER_MESSAGE
from idp.oidc.user_message import parse_user_message

MAX_PARAM = 2048
AUTHORIZATION_DETAILS = "authorization_details"
PROMPTS = frozenset({"none", "login", "consent", "select_account"})
_PKCE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
PERSONAL_NUMBER_CLAIMS = ("https://id.oidc.se/claim/personalIdentityNumber", "ssn")


class RequestObjectVerifier(Protocol):
    async def verify(self, value: str, client: ClientSettings) -> dict[str, Any]:
        """The verified claims of a request object (RFC 9101), or InvalidRequestObject."""
        ...


@dataclass(frozen=True)
class Pushed:
    """A pushed authorization request as the authorization endpoint gets it back."""

    params: dict[str, str]
    #: The parameters came in a signed request object.
    signed: bool
    #: The client authenticated the push (a confidential client, or a signed object).
    authenticated: bool


class PushedRequestSource(Protocol):
    async def take(self, request_uri: str, client: ClientSettings) -> Pushed:
        """The request pushed under `request_uri` by `client` (single use), or
        InvalidRequestUri."""
        ...


@dataclass(frozen=True)
class ValidatedRequest:
    """What the checks conclude; kept in the login transaction while the person logs in."""

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
    #: The person the client named (a personal number), only from an authenticated request.
    person: str | None = None
    #: True when the client authenticated the request (PAR, or a signed request object).
    authenticated: bool = False
    user_message: UserMessage | None = None
    #: The acr values asked for an essential claim (claims parameter), else voluntary ones.
    acr_essential: bool = False
    #: RFC 9396, validated (idp.authn.approval): what the person is asked to approve.
    authorization_details: list[dict[str, Any]] = field(default_factory=list)
    #: The Signature Extension's signRequest, as the se.bankid.sign detail it amounts to
    #: (idp.oidc.sign_request); never returned as authorization_details.
    sign_request: list[dict[str, Any]] = field(default_factory=list)
    #: RFC 9449 §10: the JWK thumbprint the authorization code is bound to (DPoP).
    dpop_jkt: str | None = None

    @property
    def approves(self) -> bool:
        """The person is asked to approve something (authorization details, a signRequest)."""
        return bool(self.authorization_details or self.sign_request)

    @property
    def approval(self) -> Approval | None:
        """What the person is asked to approve: the authorization details' or the signRequest's."""
        return approval_mod.approval_of(self.authorization_details or self.sign_request)

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> ValidatedRequest:
        tuples = {k: tuple(d[k]) for k in ("prompt", "acr_values", "ui_locales")}
        message = d.get("user_message")
        if message is not None:
            pairs = tuple((str(lang), str(text)) for lang, text in message["by_language"])
            message = UserMessage(message["text"], bool(message["markdown"]), pairs)
        return cls(**{**d, **tuples, "user_message": message})


@dataclass
class Context:
    """One authorization request on its way through the checks."""

    raw: list[tuple[str, str]]
    #: "authorize" or "par": where the request arrived.
    endpoint: str
    #: The client that authenticated at the PAR endpoint (RFC 9126 §2), else None.
    authenticated_client: ClientSettings | None = None
    params: dict[str, str] = field(default_factory=dict)
    client: ClientSettings | None = None
    redirect_uri: str | None = None
    authenticated: bool = False
    via_par: bool = False
    #: The parameters came in a signed request object (here, or when they were pushed).
    signed: bool = False
    # concluded by CHECKS
    scopes: list[str] = field(default_factory=list)
    prompt: tuple[str, ...] = ()
    max_age: int | None = None
    claims_request: dict[str, Any] = field(default_factory=dict)
    hint_sub: str | None = None
    person: str | None = None
    user_message: UserMessage | None = None
    acr_values: tuple[str, ...] = ()
    acr_essential: bool = False
    authorization_details: list[dict[str, Any]] = field(default_factory=list)
    sign_request: list[dict[str, Any]] = field(default_factory=list)

    @property
    def state(self) -> str | None:
        return self.params.get("state")

    def result(self) -> ValidatedRequest:
        assert self.client is not None and self.redirect_uri is not None
        p = self.params.get
        return ValidatedRequest(
            client_id=self.client.client_id,
            redirect_uri=self.redirect_uri,
            scope=" ".join(self.scopes),
            state=p("state"),
            nonce=p("nonce"),
            code_challenge=p("code_challenge"),
            code_challenge_method=p("code_challenge_method"),
            prompt=self.prompt,
            max_age=self.max_age,
            claims_request=self.claims_request,
            login_hint=p("login_hint") if self.person is None else self.person,
            acr_values=self.acr_values,
            ui_locales=tuple((p("ui_locales") or "").split()),
            hint_sub=self.hint_sub,
            person=self.person,
            authenticated=self.authenticated,
            user_message=self.user_message,
            acr_essential=self.acr_essential,
            authorization_details=self.authorization_details,
            sign_request=self.sign_request,
            dpop_jkt=p("dpop_jkt"),
        )


@dataclass
class Services:
    """What the checks need from the rest of the provider."""

    settings: Settings
    registry: Registry
    keys: SigningKeys
    clock: Clock
    request_objects: RequestObjectVerifier | None = None
    pushed: PushedRequestSource | None = None
    #: What the authenticator can meet, in acr values (idp.oidc.acr); set when one is attached.
    acr: AcrPolicy | None = None


Check = Callable[[Context, Services], Awaitable[None]]


# ============================================================================ FRONT


#: Parameters that may be longer than MAX_PARAM: a request object, and what a person is to
#: approve (idp.authn.approval bounds its parts to BankID's limits).
_LONG_PARAMS = {
    "request": MAX_REQUEST_OBJECT,
    AUTHORIZATION_DETAILS: MAX_REQUEST_OBJECT,
    sign_request.PARAMETER: MAX_REQUEST_OBJECT,
}


async def check_parameters_once(ctx: Context, s: Services) -> None:
    """RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
    Also bounds each value's length."""
    seen: dict[str, str] = {}
    for k, v in ctx.raw:
        if k in seen:
            raise InvalidRequest(f"{quoted_name(k)} was given more than once")
        if len(v) > _LONG_PARAMS.get(k, MAX_PARAM):
            raise InvalidRequest(f"{quoted_name(k)} is too long")
        seen[k] = v
    ctx.params = seen


async def check_client(ctx: Context, s: Services) -> None:
    """RFC 6749 §4.1.2.1: an unknown client is told to the person, never redirected. At PAR the
    client is the one that authenticated (RFC 9126 §2.1: "client_id ... MUST" match)."""
    client_id = ctx.params.get("client_id")
    if ctx.authenticated_client is not None:
        if client_id is not None and client_id != ctx.authenticated_client.client_id:
            raise InvalidRequest("client_id is not the authenticated client")
        ctx.client = ctx.authenticated_client
        # A public client "authenticates" with its client_id alone (method none): that names
        # nobody's BankID order.
        ctx.authenticated = not ctx.authenticated_client.is_public
        return
    client = s.registry.client(client_id) if client_id else None
    if client is None:
        raise InvalidClient("unknown client")
    if "authorization_code" not in client.grant_types:
        raise InvalidClient("the client may not use the authorization endpoint")
    ctx.client = client


async def check_request_uri(ctx: Context, s: Services) -> None:
    """RFC 9126 §4: the authorization server "MUST" reject an expired request_uri, binds it to
    the client that pushed it, and uses it once. §2.1: a pushed request MUST NOT itself carry a
    request_uri. Only the pushed parameters count (with the client_id)."""
    value = ctx.params.get("request_uri")
    if value is None:
        return
    if ctx.endpoint == "par":
        raise InvalidRequest("request_uri cannot be pushed")
    if "request" in ctx.params:
        # RFC 9101 §5: request and request_uri are alternatives.
        raise InvalidRequest("request and request_uri cannot both be given")
    if s.pushed is None or not value.startswith(REQUEST_URI_PREFIX):
        raise RequestUriNotSupported("only request_uri values from this provider's PAR")
    assert ctx.client is not None
    pushed = await s.pushed.take(value, ctx.client)
    ctx.params = {**pushed.params, "client_id": ctx.client.client_id}
    ctx.signed, ctx.authenticated = pushed.signed, pushed.authenticated
    ctx.via_par = True


async def check_request_object(ctx: Context, s: Services) -> None:
    """RFC 9101 §6.3: with a request object the authorization server "MUST only use the
    parameters in the Request Object", whatever the query string says; §5: its client_id must
    be the request's. A verified (signed) object authenticates the request."""
    value = ctx.params.get("request")
    if value is None:
        return
    if s.request_objects is None:
        raise InvalidRequestObject("request objects are not supported")
    assert ctx.client is not None
    claims = await s.request_objects.verify(value, ctx.client)
    inner = {k: _param(v) for k, v in claims.items() if k not in _JWT_ONLY and v is not None}
    if inner.get("client_id", ctx.client.client_id) != ctx.client.client_id:
        raise InvalidRequestObject("the request object's client_id is not the client's")
    if "request" in inner or "request_uri" in inner:
        raise InvalidRequestObject("a request object cannot contain request or request_uri")
    ctx.params = {**inner, "client_id": ctx.client.client_id}
    ctx.authenticated = True
    ctx.signed = True


_JWT_ONLY = frozenset({"iss", "aud", "exp", "nbf", "iat", "jti", "sub"})


def _param(value: Any) -> str:
    """A request object's member as the string the query-string form would carry."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(int(value))
    return json.dumps(value, separators=(",", ":"))


async def check_redirect_uri(ctx: Context, s: Services) -> None:
    """RFC 9700 §4.1.3 (and Swedish OIDC Profile §2.1.3): the redirect URI is compared with the
    registered ones by exact string match; a missing or unknown one is never redirected to."""
    assert ctx.client is not None
    uri = ctx.params.get("redirect_uri")
    if uri is None or uri not in ctx.client.redirect_uris:
        raise InvalidRedirectUri("redirect_uri is not registered for this client")
    ctx.redirect_uri = uri


FRONT: tuple[Check, ...] = (
    check_parameters_once,
    check_client,
    check_request_uri,
    check_request_object,
    check_redirect_uri,
)


# ============================================================================ CHECKS


async def check_pushed_when_required(ctx: Context, s: Services) -> None:
    """RFC 9126 §5/§6: with require_pushed_authorization_requests (server-wide or for the
    client) the authorization server "MUST" accept authorization requests only via PAR."""
    assert ctx.client is not None
    required = s.settings.par.required or ctx.client.require_pushed_authorization_requests
    if required and ctx.endpoint == "authorize" and not ctx.via_par:
        raise InvalidRequest("this client must use pushed authorization requests (PAR)")


async def check_signed_when_required(ctx: Context, s: Services) -> None:
    """RFC 9101 §10.5: with require_signed_request_object the authorization server "MUST"
    reject requests not made with a signed request object."""
    assert ctx.client is not None
    if ctx.client.require_signed_request_object and not ctx.signed:
        raise InvalidRequest("this client must send a signed request object")


async def check_response_type(ctx: Context, s: Services) -> None:
    """RFC 9700 §2.1.2 and Swedish OIDC Profile §2: the code flow only (no implicit)."""
    assert ctx.client is not None
    value = ctx.params.get("response_type")
    if not value:
        raise InvalidRequest("response_type is required")
    if value != "code" or "code" not in ctx.client.response_types:
        raise UnsupportedResponseType("only response_type=code is supported")


async def check_response_mode(ctx: Context, s: Services) -> None:
    """OAuth 2.0 Multiple Response Types §2.1: the default for code is query; nothing else is
    offered (discovery says so)."""
    if ctx.params.get("response_mode") not in (None, "query"):
        raise InvalidRequest("only response_mode=query is supported")


async def check_scope(ctx: Context, s: Services) -> None:
    """OIDC Core §3.1.2.1: scope "MUST contain the openid scope value"; only scopes the client
    is allowed are granted."""
    assert ctx.client is not None
    requested = (ctx.params.get("scope") or "").split()
    if "openid" not in requested:
        raise InvalidScope("the openid scope is required")
    ctx.scopes = claims_mod.granted_scopes(requested, ctx.client, s.registry.current)


async def check_pkce(ctx: Context, s: Services) -> None:
    """RFC 9700 §2.1.1 and RFC 7636 §4.3: PKCE with S256 only ("plain" is never allowed,
    Swedish OIDC Profile §2.1.8); public clients "MUST" use it; the challenge is 43-128
    characters of the unreserved set. The one place PKCE parameters are judged."""
    assert ctx.client is not None
    challenge = ctx.params.get("code_challenge")
    method = ctx.params.get("code_challenge_method")
    if challenge is None:
        if method is not None:
            raise InvalidRequest("code_challenge_method without code_challenge")
        if ctx.client.require_pkce or ctx.client.is_public:
            raise InvalidRequest("PKCE is required: send code_challenge (S256)")
        return
    if method != "S256":
        raise InvalidRequest("code_challenge_method must be S256")
    if not _PKCE.match(challenge):
        raise InvalidRequest("code_challenge is malformed")


#: A JWK SHA-256 thumbprint (RFC 7638): 32 bytes, base64url without padding.
_JKT = re.compile(r"[A-Za-z0-9_-]{43}")


async def check_dpop_jkt(ctx: Context, s: Services) -> None:
    """RFC 9449 §10: dpop_jkt is "the JWK SHA-256 Thumbprint [...] of the proof-of-possession
    key" the code is bound to (the token request's proof must be by that key)."""
    value = ctx.params.get("dpop_jkt")
    if value is not None and not _JKT.fullmatch(value):
        raise InvalidRequest("dpop_jkt is not a JWK SHA-256 thumbprint")


async def check_prompt(ctx: Context, s: Services) -> None:
    """OIDC Core §3.1.2.1: prompt values are none, login, consent, select_account; "none" with
    any other value is an error."""
    prompt = tuple((ctx.params.get("prompt") or "").split())
    if set(prompt) - PROMPTS:
        raise InvalidRequest("unsupported prompt value")
    if "none" in prompt and len(prompt) > 1:
        raise InvalidRequest("prompt=none cannot be combined")
    assert ctx.client is not None
    if not prompt and ctx.client.is_sweden_connect:
        # OIDC Profile for Sweden Connect §2.2.1: a request without prompt "MUST" be treated
        # as prompt=login.
        prompt = ("login",)
    ctx.prompt = prompt


async def check_max_age(ctx: Context, s: Services) -> None:
    """OIDC Core §3.1.2.1: max_age is a non-negative number of seconds."""
    raw = ctx.params.get("max_age")
    if raw is None:
        return
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10:  # "²" and "١" are digits too
        raise InvalidRequest("max_age must be a non-negative integer")
    ctx.max_age = int(raw)


async def check_claims(ctx: Context, s: Services) -> None:
    """OIDC Core §5.5: the claims parameter is a JSON object with userinfo and id_token
    members (also inside a request object, Swedish OIDC Profile §2.1.6)."""
    try:
        ctx.claims_request = claims_mod.parse_claims_request(ctx.params.get("claims"))
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


async def check_id_token_hint(ctx: Context, s: Services) -> None:
    """OIDC Core §3.1.2.1: id_token_hint is an ID token this provider issued (it may have
    expired)."""
    raw = ctx.params.get("id_token_hint")
    if not raw:
        return
    try:
        hint = s.keys.verify(raw, issuer=s.settings.issuer, verify_exp=False, typ="JWT")
        ctx.hint_sub = str(hint["sub"])
    except (jwt.InvalidTokenError, KeyError, ValueError):
        raise InvalidRequest("id_token_hint is not a valid ID token of ours") from None


async def check_named_person(ctx: Context, s: Services) -> None:
    """Secure Start and our non-negotiable: a BankID order restricted to a named person
    (``requirement.personalNumber``) comes only from a request its client authenticated (PAR
    by a confidential client, or a signed request object). The person is named by
    ``login_hint`` or by an essential ``claims`` value of the personal-number claim (Swedish
    OIDC Profile §2.1.5: an RP names a claim value through ``claims``). An unauthenticated
    request naming one is refused, and reveals nothing about the person."""
    named = _named_person(ctx)
    if named is None:
        return
    if not ctx.authenticated:
        raise InvalidRequest(
            "a person can be named only in an authenticated request (PAR or a signed "
            "request object)"
        )
    ctx.person = named


def _named_person(ctx: Context) -> str | None:
    hinted = pnr.from_login_hint(ctx.params.get("login_hint"))
    if hinted is not None:
        return hinted
    for target in ("id_token", "userinfo"):
        members = ctx.claims_request.get(target) or {}
        for name in PERSONAL_NUMBER_CLAIMS:
            spec = members.get(name)
            if isinstance(spec, Mapping) and isinstance(spec.get("value"), str):
                value = spec["value"]
                if not pnr.is_valid(value):
                    raise InvalidRequest("the requested personal number is not valid")
                return str(value)
    return None


async def check_user_message(ctx: Context, s: Services) -> None:
    """Request Parameter Extensions 1.1 §2.1: userMessage is shown while authenticating only,
    "never" with prompt=none; an unsupported MIME type "MUST" be refused; the variant for the
    UI locale is chosen."""
    raw = ctx.params.get(USER_MESSAGE)
    if raw is None:
        return
    if "none" in ctx.prompt:
        raise InvalidRequest("userMessage cannot be combined with prompt=none")
    locales = tuple((ctx.params.get("ui_locales") or "").split())
    try:
        ctx.user_message = parse_user_message(raw, locales=locales)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


async def check_authorization_details(ctx: Context, s: Services) -> None:
    """RFC 9396: what the person is to approve (a signature, a payment). Accepted only where the
    client vouches for it (RFC 9396 §12: PAR or a signed request object, never a bare query
    string), only of the types the client's entry lists (§10), and never silently (prompt=none
    cannot approve anything). Any rule broken is invalid_authorization_details (§5)."""
    raw = ctx.params.get(AUTHORIZATION_DETAILS)
    if raw is None:
        return
    assert ctx.client is not None
    if not (ctx.via_par or ctx.signed or ctx.endpoint == "par"):
        raise InvalidRequest(
            "authorization_details is accepted only in a pushed (PAR) or signed request"
        )
    try:
        details = approval_mod.parse(raw, allowed_types=ctx.client.authorization_details_types)
        approval = approval_mod.approval_of(details)
    except approval_mod.InvalidDetails as exc:
        raise InvalidAuthorizationDetails(str(exc)) from None
    if approval is not None and "none" in ctx.prompt:
        raise InvalidRequest("an approval cannot be combined with prompt=none")
    ctx.authorization_details = details


async def check_sign_request(ctx: Context, s: Services) -> None:
    """OIDC Sweden Signature Extension 1.1 §5.1 (idp.oidc.sign_request): the sign scopes and
    the signRequest parameter, which becomes the approval the person signs."""
    assert ctx.client is not None
    asked = set((ctx.params.get("scope") or "").split()) & set(sign_request.SCOPES)
    raw = ctx.params.get(sign_request.PARAMETER)
    if raw is None:
        if asked:
            raise InvalidRequest(f"the sign scopes need {sign_request.PARAMETER}")
        return
    if not asked:
        raise InvalidRequest(f"{sign_request.PARAMETER} needs the sign or signApproval scope")
    if not asked <= set(ctx.scopes):
        raise UnauthorizedClient("the client may not ask for signatures")
    if not {"login", "consent"} <= set(ctx.prompt):
        raise InvalidRequest("a signature request needs prompt=login consent")
    if ctx.authorization_details:
        raise InvalidRequest("a signRequest cannot be combined with authorization_details")
    value: Any = raw
    if not ctx.signed and not ctx.via_par:
        # §3.1.1: outside a signed request object, the value is a JWT the client signed
        # (verified as a request object is, replay included). At PAR its verified content is
        # what is kept, for the authorization endpoint (a pushed request is ours to trust).
        if s.request_objects is None or raw.count(".") not in (2, 4):
            raise InvalidRequest(f"{sign_request.PARAMETER} must be signed by the client")
        try:
            claims = await s.request_objects.verify(raw, ctx.client)
        except InvalidRequestObject as exc:
            raise InvalidRequest(f"{sign_request.PARAMETER}: {exc.description}") from None
        value = {k: v for k, v in claims.items() if k not in _JWT_ONLY}
        ctx.params[sign_request.PARAMETER] = json.dumps(value, separators=(",", ":"))
    locales = tuple((ctx.params.get("ui_locales") or "").split())
    try:
        detail = sign_request.sign_detail(
            value, sign=sign_request.SIGN_SCOPE in asked, locales=locales
        )
    except sign_request.SignRequestError as exc:
        raise InvalidRequest(str(exc)) from None
    ctx.sign_request = [detail]


async def check_acr(ctx: Context, s: Services) -> None:
    """OIDC Core §5.5.1.1 and the Swedish OIDC Profile §2.2: when acr is requested as an
    essential claim and none of the values can be met, the provider "MUST NOT" proceed and
    answers unmet_authentication_requirements (OpenID Connect Core Unmet Authentication
    Requirements 1.0). acr_values alone are voluntary (Core §3.1.2.1)."""
    values, essential = requested_acr(
        (ctx.params.get("acr_values") or "").split(), ctx.claims_request
    )
    ctx.acr_values, ctx.acr_essential = values, essential
    if essential and values and s.acr is not None and not s.acr.can_meet(values):
        raise UnmetAuthenticationRequirements("none of the essential acr values can be met")


async def check_client_may_authorize(ctx: Context, s: Services) -> None:
    """RFC 6749 §4.1.2.1 unauthorized_client: a client without the code grant (reached here
    only through PAR, where the client authenticated)."""
    assert ctx.client is not None
    if "authorization_code" not in ctx.client.grant_types:
        raise UnauthorizedClient("the client may not use the authorization code grant")


CHECKS: tuple[Check, ...] = (
    check_client_may_authorize,
    check_pushed_when_required,
    check_signed_when_required,
    check_response_type,
    check_response_mode,
    check_scope,
    check_pkce,
    check_dpop_jkt,
    check_prompt,
    check_max_age,
    check_claims,
    check_id_token_hint,
    check_acr,
    check_named_person,
    check_user_message,
    check_authorization_details,
    check_sign_request,
)


async def run(ctx: Context, s: Services, checks: tuple[Check, ...]) -> None:
    for check in checks:
        await check(ctx, s)


__all__ = [
    "CHECKS",
    "FRONT",
    "REQUEST_URI_PREFIX",
    "USER_MESSAGE",
    "AuthorizationError",
    "Context",
    "Pushed",
    "PushedRequestSource",
    "RequestObjectVerifier",
    "Services",
    "ValidatedRequest",
    "run",
]
