"""Drive the BankID login pages in-process: a browser (an httpx client with its own cookie jar),
the simulator's user app, and the relying party's side of the code flow."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import secrets
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from idp.bankid.qr import elapsed_seconds, qr_payload

ISSUER = "https://id.example.com"
RP_CB = "https://rp.example/cb"
RP_SECRET = "bankid-web-rp-secret-0123456789"
DESKTOP_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)
IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

ANNA = "198501012382"
AGNES_CANCELS = "196006072414"
STURE_CERTIFICATE_ERR = "198112122422"
TOVE_EXPIRES = "197707072430"
RUT_HIGH_RISK = "198808082443"


def client_settings(redirect_uri=RP_CB):
    return [
        {
            "client_id": "rp",
            "client_name": "Test RP",
            "client_secret": RP_SECRET,
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code"],
            "scope": "openid profile ssn bankid_evidence",
        }
    ]


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": {}, "buttons": []})
        elif self.forms and tag in ("input", "button") and a.get("name"):
            if tag == "button" or a.get("type") == "submit":
                self.forms[-1]["buttons"].append((a["name"], a.get("value", "")))
            else:
                self.forms[-1]["fields"][a["name"]] = a.get("value", "")


def forms(html: str) -> list[dict]:
    p = _Forms()
    p.feed(html)
    return p.forms


def form(html: str, action: str) -> dict:
    found = [f for f in forms(html) if f["action"] == action]
    assert found, (action, html[:2000])
    return found[0]


def status_text(html: str) -> tuple[str, str]:
    """The RFA id and text of the status paragraph of a page."""
    m = re.search(r'<p id="status"[^>]*data-rfa="([^"]*)"[^>]*>([^<]*)</p>', html, re.S)
    assert m, html[:3000]
    return m.group(1), m.group(2).strip()


class Browser:
    """One browser: its own cookies, its own address, its own User-Agent."""

    def __init__(self, app, *, ua=DESKTOP_UA, ip="203.0.113.5", lang=None, headers=None):
        self.app = app
        h = {"user-agent": ua}
        if lang:
            h["accept-language"] = lang
        h.update(headers or {})
        transport = httpx.ASGITransport(app=app, client=(ip, 50000))
        self.http = httpx.AsyncClient(transport=transport, base_url=ISSUER, headers=h)
        self.txn: str | None = None
        self.page: httpx.Response | None = None

    async def aclose(self):
        await self.http.aclose()

    async def authorize(self, **params):
        """Start a code flow like an RP would; returns (response, state, verifier)."""
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(8)
        q = {
            "response_type": "code",
            "client_id": "rp",
            "redirect_uri": RP_CB,
            "scope": "openid profile ssn bankid_evidence",
            "state": state,
            "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        q.update({k: v for k, v in params.items() if v is not None})
        r = await self.http.get("/authorize", params=q)
        assert r.status_code == 303, r.text
        self.state, self.verifier = state, verifier
        self.txn = query(r.headers["location"])["txn"]
        return r

    async def open_login(self, **params):
        """Authorize, then open the BankID start page; with one way to log in, send its form
        as the page's script does (a GET never starts an order); follows redirects to the
        wait page."""
        first = await self.authorize(**params)
        self.page = await self.get(first.headers["location"])
        if 'data-autosubmit="1"' in self.page.text:
            return await self.submit("/bankid/start")
        return self.page

    async def get(self, url, **kw):
        r = await self.http.get(url, **kw)
        while r.status_code in (302, 303) and r.headers["location"].startswith("/bankid/"):
            r = await self.http.get(r.headers["location"])
        self.page = r
        return r

    async def submit(self, action, extra=None, *, html=None):
        f = form(html or self.page.text, action)
        data = {**f["fields"], **(extra or {})}
        r = await self.http.post(action, data=data)
        if r.status_code == 303 and r.headers["location"].startswith("/bankid/"):
            return await self.get(r.headers["location"])
        self.page = r
        return r

    async def choose(self, flow):
        return await self.submit("/bankid/start", {"flow": flow})

    async def status(self):
        return await self.http.get("/bankid/status", params={"txn": self.txn})

    async def finish(self, status_json):
        """Follow `next` of a complete status to the redirect back to the RP."""
        r = await self.http.get(status_json["next"])
        assert r.status_code == 303, r.text
        r = await self.http.get(r.headers["location"])  # /authorize/resume
        assert r.status_code == 303, r.text
        return r.headers["location"]

    async def token(self, code):
        r = await self.http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": RP_CB,
                "code_verifier": self.verifier,
            },
            auth=("rp", RP_SECRET),
        )
        assert r.status_code == 200, r.text
        return r.json()


async def order_record(app, browser: Browser) -> dict:
    """The server-side order (test eyes only): to compute the QR frame a phone would scan."""
    store = app.state.runtime.store
    login = await store.get("bankid_login", browser.txn)
    return await store.get("bankid_order", login["oid"])


async def current_frame(app, browser: Browser) -> str:
    rec = await order_record(app, browser)
    t = elapsed_seconds(rec["received_at"], app.state.runtime.clock.now())
    return qr_payload(rec["qr_start_token"], rec["qr_start_secret"], t)


@contextlib.asynccontextmanager
async def simulator_user(app, ip="198.51.100.20"):
    """The person's phone: the simulator's user app API, mounted under /bankid-simulator."""
    transport = httpx.ASGITransport(app=app, client=(ip, 50001))
    async with httpx.AsyncClient(
        transport=transport, base_url=f"{ISSUER}/bankid-simulator"
    ) as http:
        yield http


def url_with(path, **params):
    return f"{path}?{urlencode(params)}"


def simulator_book(app):
    """The mounted simulator's order book (test eyes only)."""
    from starlette.routing import Mount

    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/bankid-simulator")
    return mount.app.state.simulator


async def phone(app, path, body):
    """The person's BankID app acting through the simulator's user app API."""
    async with simulator_user(app) as http:
        return await http.post(f"/app/{path}", json=body)


async def scan(app, browser, **extra):
    r = await phone(app, "scan", {"qr": await current_frame(app, browser), **extra})
    assert r.status_code == 200, r.text
    return r.json()


async def poll_until(browser, clock, state, *, step=1.0, limit=400):
    """Poll /bankid/status once a (fixed-clock) second until it reports `state`."""
    for _ in range(limit):
        s = (await browser.status()).json()
        if s["state"] == state:
            return s
        clock.advance(step)
    raise AssertionError(f"never reached {state}: last {s}")


def launch_href(html: str) -> str:
    m = re.search(r'<a id="launch" class="button" href="([^"]+)"', html)
    assert m, html[:3000]
    return m.group(1).replace("&amp;", "&")


def autostart_token(href: str) -> str:
    return query(href)["autostarttoken"]
