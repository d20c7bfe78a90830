"""A relying party held to the Swedish OIDC Profile, and its user's browser, driving the provider
as `create_app` wires it for BankID (the built-in simulator, mounted in-process).

A login goes the whole way a person's does: GET /authorize, the BankID page at /bankid/login,
its form POSTed to /bankid/start, the QR code scanned (or the app opened with the autostart
token) through the simulator's user app API, /bankid/status polled by a fixed clock until
complete, /bankid/done, /authorize/resume, and the redirect back with a code. The relying
party's server side (token, PAR, UserInfo) is a separate client without the browser's cookies,
authenticating with private_key_jwt."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

from tests.bankid_web.support import (
    DESKTOP_UA,
    autostart_token,
    current_frame,
    form,
    launch_href,
    phone,
    poll_until,
)

ISSUER = "https://id.example.com"
RP_CB = "https://rp.example/cb"
NATIVE_CB = "http://127.0.0.1:8765/cb"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

CLAIM = "https://id.oidc.se/claim/"
SCOPE = "https://id.oidc.se/scope/"
PNR = CLAIM + "personalIdentityNumber"
COORDINATION = CLAIM + "coordinationNumber"
DEVICE_IP = CLAIM + "deviceIp"
VALID_FROM = CLAIM + "credentialValidFrom"
VALID_TO = CLAIM + "credentialValidTo"
AUTHN_PROVIDER = CLAIM + "authnProvider"
NUMBER_SCOPE = SCOPE + "naturalPersonNumber"
INFO_SCOPE = SCOPE + "naturalPersonInfo"
ORG_SCOPE = SCOPE + "naturalPersonOrgId"
USER_MESSAGE = "https://id.oidc.se/param/userMessage"

ACR_BANKID = "urn:grn:authn:se:bankid"
ACR_QR = "urn:grn:authn:se:bankid:qr"
ACR_SAME_DEVICE = "urn:grn:authn:se:bankid:same-device"
UNCERTIFIED_LOA3 = "http://id.swedenconnect.se/loa/1.0/uncertified-loa3"
LOA3 = "http://id.elegnamnden.se/loa/1.0/loa3"
LOA4 = "http://id.elegnamnden.se/loa/1.0/loa4"

ANNA = "198501012382"  # the simulator's default person
BJORN = "197203152397"
COORDINATION_PERSON = "199001712380"  # day 71: a samordningsnummer
AGNES_CANCELS = "196006072414"
PHONE_IP = "198.51.100.20"  # where the person's phone reaches the simulator from


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def unverified(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def user_message(mime_type: str | None = None, **messages: str) -> str:
    """A userMessage parameter: message / message#<lang> members, base64 of UTF-8."""
    value: dict[str, str] = {}
    for key, text in messages.items():
        member = "message" if key == "default" else f"message#{key}"
        value[member] = base64.b64encode(text.encode()).decode()
    if mime_type is not None:
        value["mime_type"] = mime_type
    return dumps(value)


class SwedishRP:
    """One relying party (`client_id`, private_key_jwt with `keys`) and one browser."""

    def __init__(
        self,
        app,
        clock,
        client_id: str,
        keys: dict[str, Any],
        *,
        redirect_uri: str = RP_CB,
        ip: str = "203.0.113.5",
        ua: str = DESKTOP_UA,
        lang: str | None = None,
    ) -> None:
        self.app = app
        self.clock = clock
        self.client_id = client_id
        self.keys = keys  # alg -> (private key, kid)
        self.redirect_uri = redirect_uri
        headers = {"user-agent": ua}
        if lang:
            headers["accept-language"] = lang
        browser = httpx.ASGITransport(app=app, client=(ip, 50000))
        self.http = httpx.AsyncClient(transport=browser, base_url=ISSUER, headers=headers)
        server = httpx.ASGITransport(app=app, client=("192.0.2.10", 50002))
        self.server = httpx.AsyncClient(transport=server, base_url=ISSUER)
        self.txn: str | None = None
        self.page: httpx.Response | None = None
        self.verifier: str | None = None
        self.params: dict[str, str] = {}

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.server.aclose()

    # ------------------------------------------------------------------ the request

    def auth_params(self, **overrides: Any) -> dict[str, str]:
        """A request as the profile wants it: code, openid, state, nonce, PKCE S256. A value of
        None drops the parameter; the PKCE verifier is kept for the token request."""
        verifier, challenge = pkce_pair()
        params: dict[str, Any] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid",
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        params = {k: v for k, v in params.items() if v is not None}
        self.verifier = verifier if params.get("code_challenge") == challenge else None
        self.params = params
        return params

    async def authorize(self, params: dict[str, str], method: str = "GET") -> httpx.Response:
        if method == "GET":
            return await self.http.get("/authorize", params=params)
        return await self.http.post("/authorize", data=params)

    def request_object(
        self, claims: dict[str, Any], *, alg: str = "RS256", aud: Any = ISSUER, **header: Any
    ) -> str:
        """A signed request object (RFC 9101) with iss, aud, iat, exp and jti."""
        now = int(self.clock.now())
        body = {
            "iss": self.client_id,
            "aud": aud,
            "iat": now,
            "exp": now + 300,
            "jti": secrets.token_urlsafe(16),
            "client_id": self.client_id,
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}  # None: leave the claim out
        key, kid = self.keys[alg]
        return jwt.encode(
            body, key, algorithm=alg, headers={"kid": kid, "typ": "oauth-authz-req+jwt", **header}
        )

    # ------------------------------------------------------------------ the BankID pages

    async def get(self, url: str) -> httpx.Response:
        r = await self.http.get(url)
        while r.status_code in (302, 303) and r.headers["location"].startswith("/bankid/"):
            r = await self.http.get(r.headers["location"])
        self.page = r
        return r

    async def submit(self, action: str, extra: dict[str, str] | None = None) -> httpx.Response:
        assert self.page is not None
        f = form(self.page.text, action)
        r = await self.http.post(action, data={**f["fields"], **(extra or {})})
        if r.status_code == 303 and r.headers["location"].startswith("/bankid/"):
            return await self.get(r.headers["location"])
        self.page = r
        return r

    async def open_bankid(self, first: httpx.Response, flow: str = "qr") -> httpx.Response:
        """From /authorize's redirect to the BankID page; start the order the way the page
        does (its script sends the form at once when there is one way, else the person picks
        `flow`)."""
        assert first.status_code == 303, (first.status_code, first.text[:500])
        location = first.headers["location"]
        assert location.startswith("/bankid/login?"), location
        self.txn = query(location)["txn"]
        page = await self.get(location)
        assert page.status_code == 200, page.text[:500]
        if 'data-autosubmit="1"' in page.text:
            return await self.submit("/bankid/start")
        return await self.submit("/bankid/start", {"flow": flow})

    async def status(self) -> httpx.Response:
        return await self.http.get("/bankid/status", params={"txn": self.txn})

    async def app_scan(self, person: str | None = None, action: str = "approve") -> dict:
        """The person's phone scans the QR code now shown."""
        body: dict[str, Any] = {"qr": await current_frame(self.app, self), "action": action}
        if person:
            body["personalNumber"] = person
        r = await phone(self.app, "scan", body)
        assert r.status_code == 200, r.text
        return r.json()

    async def app_autostart(self, person: str | None = None, action: str = "approve") -> dict:
        assert self.page is not None
        body: dict[str, Any] = {
            "autoStartToken": autostart_token(launch_href(self.page.text)),
            "action": action,
        }
        if person:
            body["personalNumber"] = person
        r = await phone(self.app, "autostart", body)
        assert r.status_code == 200, r.text
        return r.json()

    async def finish(self) -> httpx.Response:
        """Poll until BankID says complete, then follow /bankid/done and /authorize/resume;
        returns the redirect back to the relying party."""
        done = await poll_until(self, self.clock, "complete")
        r = await self.http.get(done["next"])
        assert r.status_code == 303, r.text[:500]
        r = await self.http.get(r.headers["location"])  # /authorize/resume
        assert r.status_code == 303, r.text[:500]
        return r

    async def login(
        self,
        params: dict[str, str] | None = None,
        *,
        person: str | None = None,
        flow: str = "qr",
        method: str = "GET",
        shown: list | None = None,
    ) -> httpx.Response:
        """A whole BankID login; returns the redirect to the relying party. `shown` collects
        what the BankID app displayed (the simulator's answer)."""
        params = params if params is not None else self.auth_params()
        first = await self.authorize(params, method)
        if first.status_code == 303 and not first.headers["location"].startswith("/bankid/"):
            return first  # answered from the session (SSO), or an error: no login page
        await self.open_bankid(first, flow)
        if flow == "qr":
            answer = await self.app_scan(person)
        else:
            answer = await self.app_autostart(person)
            if answer.get("returnUrl"):
                # The app sends the person back to the browser that started (reference 1.9):
                # every same-device order carries a returnUrl with its nonce.
                await self.http.get(answer["returnUrl"])
        if shown is not None:
            shown.append(answer)
        return await self.finish()

    # ------------------------------------------------------------------ the back channel

    def assertion(self, *, alg: str = "RS256", aud: Any = ISSUER + "/token", **claims: Any) -> str:
        now = int(self.clock.now())
        body = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": aud,
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
            **claims,
        }
        key, kid = self.keys[alg]
        return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})

    def client_auth(self, **kw: Any) -> dict[str, str]:
        return {"client_assertion_type": JWT_BEARER, "client_assertion": self.assertion(**kw)}

    async def token(
        self, code: str, *, verifier: Any = "default", auth: dict | None = None, **extra: Any
    ) -> httpx.Response:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier if verifier == "default" else verifier,
            **(self.client_auth() if auth is None else auth),
            **extra,
        }
        return await self.server.post("/token", data={k: v for k, v in data.items() if v})

    async def tokens(self, params: dict[str, str] | None = None, **kw: Any) -> dict[str, Any]:
        """Log in and exchange the code; the token response."""
        final = await self.login(params, **kw)
        q = query(final.headers["location"])
        assert "code" in q, q
        r = await self.token(q["code"])
        assert r.status_code == 200, r.text
        return r.json()

    async def userinfo(self, access_token: str) -> httpx.Response:
        return await self.server.get(
            "/userinfo", headers={"Authorization": f"Bearer {access_token}"}
        )

    async def par(self, params: dict[str, str], **auth: Any) -> httpx.Response:
        return await self.server.post("/par", data={**params, **self.client_auth(**auth)})

    # ------------------------------------------------------------------ checking what we got

    async def jwks(self) -> dict[str, Any]:
        r = await self.server.get("/jwks")
        assert r.status_code == 200, r.text
        return r.json()

    async def verify(self, token: str, *, audience: str | None = None) -> tuple[dict, dict]:
        """A JWT of the provider, verified against /jwks by its kid (iss, aud, signature);
        time against the fixed clock. Returns (header, claims)."""
        header = jwt.get_unverified_header(token)
        assert header.get("kid"), header
        keys = [k for k in (await self.jwks())["keys"] if k.get("kid") == header["kid"]]
        assert len(keys) == 1, (header, keys)
        key = jwt.PyJWK(keys[0], algorithm=header["alg"])
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[header["alg"]],
            audience=audience or self.client_id,
            issuer=ISSUER,
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
        now = self.clock.now()
        assert claims.get("iat", now) <= now + 5 and claims.get("exp", now + 1) > now, claims
        return header, claims

    async def id_token(self, tokens: dict[str, Any]) -> dict[str, Any]:
        return (await self.verify(tokens["id_token"]))[1]

    async def userinfo_claims(self, access_token: str) -> dict[str, Any]:
        """UserInfo, which for a client held to the profile answers a signed JWT."""
        r = await self.userinfo(access_token)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].split(";")[0] == "application/jwt", r.headers
        return (await self.verify(r.text))[1]


def redirect_error(response: httpx.Response, error: str, *, state: str | None) -> dict:
    """An error sent back to the relying party: 303 to its redirect URI with error,
    error_description, state and iss, and nothing else issued."""
    assert response.status_code == 303, (response.status_code, response.text[:300])
    loc = response.headers["location"]
    assert loc.startswith(RP_CB + "?") or loc.startswith(NATIVE_CB + "?"), loc
    q = query(loc)
    assert q.get("error") == error, q
    assert q.get("error_description"), q
    assert q.get("state") == state, q
    assert q.get("iss") == ISSUER, q
    assert "code" not in q, q
    return q


def error_page(response: httpx.Response) -> None:
    """An error told to the person, never redirected anywhere."""
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert "location" not in response.headers, response.headers
    assert response.headers["content-type"].startswith("text/html"), response.headers
