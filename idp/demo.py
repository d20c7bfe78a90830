"""The embedded demo relying party at /demo (on only when `demo.enabled`; the embedded default
enables it).

It is an ordinary OIDC client of this provider, client ``demo`` (public, PKCE): it builds the
authorization request, and on the callback checks ``state`` and ``iss`` (RFC 9207), exchanges
the code with its PKCE verifier, validates the ID token (signature from /jwks, ``iss``,
``aud``, ``exp``, ``nonce``) and calls /userinfo, then shows what it got. It talks to the
provider only over HTTP, in-process through ``httpx.ASGITransport`` (`provider` is set by
create_app), so it never imports the protocol core.
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
    }
)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _binding(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


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

    @property
    def client(self) -> ClientSettings | None:
        """The demo's client entry in service (a reload may change it)."""
        return self.registry.client(CLIENT_ID)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self.index, methods=["GET"]),
                Route("/login", self.login, methods=["POST"]),
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
        locale = self.templates.locale(request)
        verifier, challenge = _pkce()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        browser = request.cookies.get(COOKIE) or secrets.token_urlsafe(24)
        await self.store.put(
            KIND,
            state,
            {"verifier": verifier, "nonce": nonce, "binding": _binding(browser)},
            self.settings.tokens.login_transaction_ttl_seconds,
        )
        metadata = await self._discovery()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": CLIENT_ID,
                "redirect_uri": self._redirect_uri(),
                "scope": self.client.scope,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "acr_values": acr,
                "ui_locales": locale,
            }
        )
        response = RedirectResponse(f"{metadata['authorization_endpoint']}?{query}", 303)
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
        }

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
                "simulator": self.settings.bankid.environment == "simulator",
                "simulator_url": f"/bankid-simulator/?lang={locale}",
                "as_json": lambda v, indent=2: json.dumps(v, indent=indent, ensure_ascii=False),
                **context,
            },
            status_code=status_code,
            locale=locale,
        )
