"""The embedded demo relying party at /demo (on only when `demo.enabled`; the embedded default
enables it).

It is an ordinary OIDC client of this provider, client ``demo`` (public, PKCE): it builds the
authorization request, and on the callback checks ``state`` and ``iss`` (RFC 9207), exchanges
the code with its PKCE verifier, validates the ID token (signature from /jwks, ``iss``,
``aud``, ``exp``, ``nonce``) and calls /userinfo, then shows what it got. It talks to the
provider only over HTTP, in-process through ``httpx.ASGITransport`` (`provider` is set by
create_app), so it never imports the protocol core.

"Sign a text" and "Approve a payment" push (PAR, RFC 9126) a request with RFC 9396
``authorization_details`` of type ``se.bankid.sign`` or ``se.bankid.payment`` (the demo client's
entry must list them), then send the browser to /authorize with the ``request_uri``. On the
way back the demo shows the granted details and verifies the BankID evidence in the ID token
offline (`idp.bankid.evidence.verify`, against the configured environment's root): the signed
text must be the granted one, and the signed non-visible data must name the granted detail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from idp.authn import safejson
from idp.authn.approval import AUTHN_EVIDENCE, PAYMENT, SIGN, USER_SIGNATURE
from idp.bankid.evidence import EvidenceError, Trust, Verified, verify
from idp.clock import Clock, SystemClock
from idp.config import ClientSettings, Registry, Settings
from idp.store.ttl import TTLStore
from idp.web import i18n
from idp.web.templating import Templates

CLIENT_ID = "demo"
KIND = "demo_login"
COOKIE = "idp_demo"
FLOW_ACR = {
    "choose": "urn:grn:authn:se:bankid",
    "qr": "urn:grn:authn:se:bankid:qr",
    "same_device": "urn:grn:authn:se:bankid:same-device",
}
#: The demo's approvals (the form's ``what``) and the authorization_details type of each.
APPROVALS = {"sign": SIGN, "payment": PAYMENT}
#: The sample card payment.
PAYMENT_RECIPIENT = "Exempelbutiken AB"
PAYMENT_MONEY = {"amount": "249,00", "currency": "SEK"}

i18n.register(
    {
        "demo.title": {"sv": "Demoapp", "en": "Demo app"},
        "demo.intro": {
            "sv": "Det här är en liten app som loggar in med den här OpenID Connect-tjänsten, "
            "precis som en riktig app skulle göra (authorization code flow med PKCE).",
            "en": "This is a small app that logs in with this OpenID Connect provider, just as "
            "a real app would (the authorization code flow with PKCE).",
        },
        "demo.login": {"sv": "Logga in med BankID", "en": "Log in with BankID"},
        "demo.how": {"sv": "Hur vill du legitimera dig?", "en": "How do you want to identify?"},
        "demo.choose": {"sv": "Låt mig välja", "en": "Let me choose"},
        "demo.qr": {
            "sv": "BankID på en annan enhet (QR-kod)",
            "en": "BankID on another device (QR code)",
        },
        "demo.same_device": {"sv": "BankID på den här enheten", "en": "BankID on this device"},
        "demo.simulator": {
            "sv": "Ingen BankID-app? Öppna simulatorn i en ny flik när QR-koden visas och "
            "godkänn inloggningen där.",
            "en": "No BankID app? When the QR code shows, open the simulator in a new tab and "
            "approve the login there.",
        },
        "demo.simulator_link": {"sv": "Öppna BankID-simulatorn", "en": "Open the BankID simulator"},
        "demo.welcome": {"sv": "Inloggad som {name}", "en": "Logged in as {name}"},
        "demo.id_token": {"sv": "ID-token (kontrollerad)", "en": "ID token (validated)"},
        "demo.userinfo": {"sv": "Userinfo", "en": "Userinfo"},
        "demo.again": {"sv": "Logga in igen", "en": "Log in again"},
        "demo.logout": {"sv": "Logga ut", "en": "Log out"},
        "demo.failed": {"sv": "Inloggningen lyckades inte", "en": "The login did not succeed"},
        "demo.error": {"sv": "Svar från tjänsten", "en": "Answer from the provider"},
        "demo.expired": {
            "sv": "Inloggningen hittades inte (den har redan använts eller gått ut).",
            "en": "The login was not found (it was already used or has expired).",
        },
        "demo.no_client": {
            "sv": "Demoappen behöver en klient med client_id demo i konfigurationen.",
            "en": "The demo app needs a client with client_id demo in the configuration.",
        },
        "demo.approvals": {"sv": "Signera och godkänn", "en": "Sign and approve"},
        "demo.approvals_intro": {
            "sv": "Appen ber dig signera ett kort avtal eller godkänna ett kortköp med BankID "
            "(authorization_details skickade med PAR). Svaret innehåller signaturen, som appen "
            "kontrollerar själv.",
            "en": "The app asks you to sign a short agreement or to approve a card purchase "
            "with BankID (authorization_details pushed with PAR). The answer carries the "
            "signature, which the app verifies itself.",
        },
        "demo.sign": {"sv": "Signera en text", "en": "Sign a text"},
        "demo.payment": {"sv": "Godkänn en betalning", "en": "Approve a payment"},
        "demo.sample_agreement": {
            "sv": "# Medlemsavtal\n"
            "Jag godkänner villkoren för medlemskap i Demoappen:\n\n"
            "+ medlemskapet gäller i 12 månader\n"
            "+ det kostar ingenting\n"
            "+ jag kan säga upp det när som helst",
            "en": "# Membership agreement\n"
            "I accept the terms of membership of the Demo app:\n\n"
            "+ the membership lasts 12 months\n"
            "+ it costs nothing\n"
            "+ I may end it at any time",
        },
        "demo.sample_purchase": {
            "sv": "Köp av hörlurar, order 1042",
            "en": "Purchase of headphones, order 1042",
        },
        "demo.signed_by": {"sv": "Signerat av {name}", "en": "Signed by {name}"},
        "demo.paid_by": {"sv": "Betalning godkänd av {name}", "en": "Payment approved by {name}"},
        "demo.granted": {
            "sv": "Beviljat (authorization_details)",
            "en": "Granted (authorization_details)",
        },
        "demo.payment_line": {
            "sv": "Betalning: {amount} {currency} till {recipient}",
            "en": "Payment: {amount} {currency} to {recipient}",
        },
        "demo.evidence": {"sv": "Bevis från BankID", "en": "Evidence from BankID"},
        "demo.verified": {
            "sv": "Signaturen är kontrollerad: ”{text}” signerades av {name} {time}",
            "en": "Signature verified: “{text}” signed by {name} at {time}",
        },
        "demo.verified_no_text": {
            "sv": "Signaturen är kontrollerad: godkänd av {name} {time}",
            "en": "Signature verified: approved by {name} at {time}",
        },
        "demo.verified_how": {
            "sv": "Certifikatkedjan leder till BankID-roten för {environment} och OCSP-svaret "
            "säger att certifikatet var giltigt.",
            "en": "The certificate chain leads to the BankID root for {environment} and the "
            "OCSP response says the certificate was valid.",
        },
        "demo.not_verified": {
            "sv": "Signaturen kunde inte kontrolleras",
            "en": "The signature could not be verified",
        },
        "demo.no_signature": {
            "sv": "ID-token saknar signaturen (userSignature).",
            "en": "The ID token carries no signature (userSignature).",
        },
        "demo.wrong_text": {
            "sv": "Den signerade texten är inte den beviljade.",
            "en": "The signed text is not the granted one.",
        },
        "demo.wrong_binding": {
            "sv": "Signaturens dolda data hör inte till den beviljade begäran.",
            "en": "The signature's non-visible data does not belong to the granted request.",
        },
    }
)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _binding(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def sample_details(what: str, locale: str) -> list[dict[str, Any]]:
    """The demo's authorization_details: a short agreement to sign (simpleMarkdownV1, with the
    SHA-256 of the text as the demo's own nonVisibleData) or a card purchase."""
    if what == "sign":
        text = i18n.translate("demo.sample_agreement", locale)
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode("ascii")
        return [{"type": SIGN, "text": text, "format": "text/markdown", "nonVisibleData": digest}]
    return [
        {
            "type": PAYMENT,
            "transactionType": "card",
            "recipient": {"name": PAYMENT_RECIPIENT},
            "money": dict(PAYMENT_MONEY),
            "text": i18n.translate("demo.sample_purchase", locale),
            "format": "text/plain",
        }
    ]


def _shown_digest(detail: dict[str, Any]) -> str:
    """What the provider binds the signature to (``shown`` in userNonVisibleData): base64url
    SHA-256 of the granted detail as canonical JSON (sorted keys, no spaces, UTF-8)."""
    canonical = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    raw = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def check_evidence(verified: Verified, detail: dict[str, Any]) -> str | None:
    """The i18n key of what does not hold between the verified signature and the granted
    detail, else None: the person signed exactly the granted text, and the non-visible data
    names the granted detail."""
    if verified.visible_text != detail.get("text"):
        return "demo.wrong_text"
    try:
        bound = safejson.loads(base64.b64decode(verified.non_visible_data or ""))
    except ValueError:
        return "demo.wrong_binding"
    if not isinstance(bound, dict) or bound.get("shown") != _shown_digest(detail):
        return "demo.wrong_binding"
    return None


class DemoError(Exception):
    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.description = description


class DemoApp:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        store: TTLStore,
        templates: Templates,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.issuer = settings.issuer
        self.store = store
        self.templates = templates
        self.clock = clock or SystemClock()
        self.provider: ASGIApp | None = None
        self.secure = self.issuer.startswith("https://")
        self._trust: Trust | None = None

    @property
    def client(self) -> ClientSettings | None:
        """The demo's client entry in service (a reload may change it)."""
        return self.registry.client(CLIENT_ID)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self.index, methods=["GET"]),
                Route("/login", self.login, methods=["POST"]),
                Route("/approve", self.approve, methods=["POST"]),
                Route("/callback", self.callback, methods=["GET"]),
            ]
        )

    # ------------------------------------------------------------------ pages

    async def index(self, request: Request) -> Response:
        return self._render(request, "demo/index.html", {})

    async def login(self, request: Request) -> Response:
        if self.client is None:
            return self._render(request, "demo/index.html", {}, status_code=404)
        form = await request.form(max_files=0, max_fields=5)
        acr = FLOW_ACR.get(str(form.get("flow", "choose")), FLOW_ACR["choose"])
        browser, params = await self._begin(request, {})
        metadata = await self._discovery()
        query = urlencode({**params, "acr_values": acr})
        return self._redirect(f"{metadata['authorization_endpoint']}?{query}", browser)

    async def approve(self, request: Request) -> Response:
        """Push the request with the sample authorization_details (RFC 9126 §2.1; RFC 9396
        §12: approvals travel pushed, not in a URL), then send the browser to /authorize with
        the request_uri (§4)."""
        if self.client is None:
            return self._render(request, "demo/index.html", {}, status_code=404)
        form = await request.form(max_files=0, max_fields=5)
        what = str(form.get("what", ""))
        if what not in self._approvals():
            return self._render(request, "demo/index.html", {}, status_code=400)
        details = sample_details(what, self.templates.locale(request))
        browser, params = await self._begin(request, {"approval": what})
        metadata = await self._discovery()
        async with self._http() as http:
            pushed = await http.post(
                self._path(metadata["pushed_authorization_request_endpoint"]),
                data={**params, "authorization_details": json.dumps(details, ensure_ascii=False)},
            )
        body = pushed.json()
        if pushed.status_code != 201:
            return self._render(
                request,
                "demo/result.html",
                {
                    "error": body.get("error", "par_error"),
                    "description": body.get("error_description", ""),
                },
                status_code=400,
            )
        query = urlencode({"client_id": CLIENT_ID, "request_uri": body["request_uri"]})
        return self._redirect(f"{metadata['authorization_endpoint']}?{query}", browser)

    async def _begin(self, request: Request, extra: dict[str, Any]) -> tuple[str, dict[str, str]]:
        """Remember a new transaction (PKCE verifier, nonce, this browser, `extra`) under a
        fresh state; returns the browser id and the authorization request's parameters."""
        assert self.client is not None
        verifier, challenge = _pkce()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        browser = request.cookies.get(COOKIE) or secrets.token_urlsafe(24)
        await self.store.put(
            KIND,
            state,
            {"verifier": verifier, "nonce": nonce, "binding": _binding(browser), **extra},
            self.settings.tokens.login_transaction_ttl_seconds,
        )
        params = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": self._redirect_uri(),
            "scope": self.client.scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "ui_locales": self.templates.locale(request),
        }
        return browser, params

    def _redirect(self, url: str, browser: str) -> Response:
        response = RedirectResponse(url, 303)
        response.set_cookie(
            COOKIE, browser, path="/demo", secure=self.secure, httponly=True, samesite="lax"
        )
        return response

    async def callback(self, request: Request) -> Response:
        params = request.query_params
        try:
            # RFC 9207 §2.4: the iss parameter must be this provider's issuer identifier.
            if params.get("iss") != self.issuer:
                raise DemoError("invalid_response", "iss does not name this provider")
            entry = await self.store.consume(KIND, params.get("state", ""))
            browser = request.cookies.get(COOKIE, "")
            if entry is None or not entry.first or entry.value["binding"] != _binding(browser):
                raise DemoError("invalid_state", i18n.translate("demo.expired", "en"))
            if "error" in params:
                raise DemoError(params["error"], params.get("error_description", ""))
            result = await self._redeem(params.get("code", ""), entry.value)
            if entry.value.get("approval"):
                result["approval"] = self._approval(entry.value["approval"], result)
        except DemoError as exc:
            return self._render(
                request,
                "demo/result.html",
                {"error": exc.error, "description": exc.description},
                status_code=400,
            )
        return self._render(request, "demo/result.html", {"error": None, **result})

    # ------------------------------------------------------------------ the RP's work

    def _http(self) -> httpx.AsyncClient:
        assert self.provider is not None, "create_app sets DemoApp.provider"
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.provider),
            base_url=self.issuer,
            timeout=10.0,
        )

    def _path(self, url: str) -> str:
        return url[len(self.issuer) :] if url.startswith(self.issuer) else url

    async def _discovery(self) -> dict[str, Any]:
        async with self._http() as http:
            r = await http.get("/.well-known/openid-configuration")
            r.raise_for_status()
            return dict(r.json())

    async def _redeem(self, code: str, entry: dict[str, Any]) -> dict[str, Any]:
        metadata = await self._discovery()
        async with self._http() as http:
            token = await http.post(
                self._path(metadata["token_endpoint"]),
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self._redirect_uri(),
                    "code_verifier": entry["verifier"],
                    "client_id": CLIENT_ID,
                },
            )
            body = token.json()
            if token.status_code != 200:
                raise DemoError(body.get("error", "token_error"), body.get("error_description", ""))
            jwks = (await http.get(self._path(metadata["jwks_uri"]))).json()
            claims = self._validate(body["id_token"], jwks, entry["nonce"])
            info = await http.get(
                self._path(metadata["userinfo_endpoint"]),
                headers={"Authorization": f"Bearer {body['access_token']}"},
            )
        # RP-initiated logout as a form without id_token_hint: the ID token carries personal
        # data (and BankID evidence of several kB), so it travels in no URL; the provider then
        # asks the person to confirm.
        logout = None
        if f"{self.issuer}/demo" in self._logout_uris():
            logout = {
                "action": metadata["end_session_endpoint"],
                "post_logout_redirect_uri": f"{self.issuer}/demo",
                "client_id": CLIENT_ID,
            }
        return {
            "claims": claims,
            "userinfo": info.json() if info.status_code == 200 else {"status": info.status_code},
            "logout": logout,
            "authorization_details": body.get("authorization_details", []),
        }

    def _approval(self, what: str, result: dict[str, Any]) -> dict[str, Any]:
        """What the result page shows of an approval: the granted detail and the evidence,
        verified offline (the ID token's userSignature and authnEvidence, OIDC Sweden Signature
        Extension §3.2.1)."""
        granted = [d for d in result["authorization_details"] if d.get("type") == APPROVALS[what]]
        if not granted:
            raise DemoError("invalid_response", "no authorization_details were granted")
        detail = granted[0]
        shown: dict[str, Any] = {
            "what": what,
            "detail": detail,
            "payment": None,
            "verified": None,
            "problem_key": None,  # an i18n key, or
            "problem": None,  # the verifier's own message
        }
        if what == "payment":
            money = detail.get("money") or {}
            shown["payment"] = {
                "amount": money.get("amount", ""),
                "currency": money.get("currency", ""),
                "recipient": (detail.get("recipient") or {}).get("name", ""),
            }
        claims = result["claims"]
        signature = claims.get(USER_SIGNATURE)
        if not isinstance(signature, str):
            shown["problem_key"] = "demo.no_signature"
            return shown
        ocsp = claims.get(AUTHN_EVIDENCE)
        try:
            verified = verify(
                signature, ocsp if isinstance(ocsp, str) else None, trust=self._evidence_trust()
            )
        except EvidenceError as exc:
            shown["problem"] = str(exc)
            return shown
        problem = check_evidence(verified, detail)
        if problem is not None:
            shown["problem_key"] = problem
            return shown
        shown["verified"] = {
            "text": verified.visible_text,
            "name": verified.name or claims.get("name", ""),
            "time": f"{verified.signed_at:%Y-%m-%d %H:%M:%S} UTC",
            "environment": verified.environment,
            "ocsp": verified.ocsp_checked,
        }
        return shown

    def _evidence_trust(self) -> Trust:
        """The root of the configured BankID environment (production, test or simulator)."""
        if self._trust is None:
            self._trust = Trust.builtin(self.settings.bankid.environment)
        return self._trust

    def _approvals(self) -> list[str]:
        """The approvals the demo client's entry allows (authorization_details_types)."""
        allowed = self.client.authorization_details_types if self.client else []
        return [what for what, kind in APPROVALS.items() if kind in allowed]

    def _validate(self, id_token: str, jwks: dict[str, Any], nonce: str) -> dict[str, Any]:
        """OIDC Core §3.1.3.7: signature with a key from jwks_uri, iss, aud, exp, nonce."""
        try:
            header = jwt.get_unverified_header(id_token)
            key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=[header["alg"]],
                audience=CLIENT_ID,
                issuer=self.issuer,
                options={"verify_exp": False, "verify_iat": False, "require": ["exp", "iat"]},
            )
        except (jwt.PyJWTError, KeyError) as exc:
            raise DemoError("invalid_id_token", type(exc).__name__) from None
        if claims["exp"] <= self.clock.now():
            raise DemoError("invalid_id_token", "the ID token has expired")
        if claims.get("nonce") != nonce:
            raise DemoError("invalid_id_token", "the nonce does not match")
        return claims

    def _redirect_uri(self) -> str:
        assert self.client is not None
        wanted = f"{self.issuer}/demo/callback"
        return wanted if wanted in self.client.redirect_uris else self.client.redirect_uris[0]

    def _logout_uris(self) -> list[str]:
        return list(self.client.post_logout_redirect_uris) if self.client else []

    def _render(
        self, request: Request, name: str, context: dict[str, Any], status_code: int = 200
    ) -> Response:
        locale = self.templates.locale(request)
        return self.templates.render(
            request,
            name,
            {
                "has_client": self.client is not None,
                "approvals": self._approvals(),
                "approval": None,
                "simulator": self.settings.bankid.environment == "simulator",
                "simulator_url": f"/bankid-simulator/?lang={locale}",
                "as_json": lambda v, indent=2: json.dumps(v, indent=indent, ensure_ascii=False),
                **context,
            },
            status_code=status_code,
            locale=locale,
        )
