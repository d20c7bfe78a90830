"""The people and programs around a fleet: a browser (its own cookies, talking to whichever
instance a test names), the relying party's token calls, the person's BankID app, and test-eyes
reads of the shared Redis."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import redis

from idp.bankid.qr import elapsed_seconds, qr_payload
from tests.scaleout.processes import CS_SECRET, RP_CALLBACK, RP_SECRET, Fleet, wait_until

ANNA = "198501012382"
BJORN = "197203152397"
QR = "urn:grn:authn:se:bankid:qr"
SAME_DEVICE = "urn:grn:authn:se:bankid:same-device"
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)
CLIENT_ADDRESS = "203.0.113.77"  # the person's address, as the proxy (the test) reports it


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


class Browser:
    """One browser. The test stands in for the proxy in front of the instances, so requests
    carry X-Forwarded-For (127.0.0.1 is a trusted proxy in the fleet's configuration)."""

    def __init__(self, fleet: Fleet, *, ua: str = DESKTOP_UA) -> None:
        self.fleet = fleet
        headers = {"user-agent": ua, "x-forwarded-for": CLIENT_ADDRESS}
        self.http = httpx.Client(headers=headers, timeout=15, follow_redirects=False)
        self.txn: str | None = None
        self.state = secrets.token_urlsafe(8)
        self.verifier = secrets.token_urlsafe(48)

    def close(self) -> None:
        self.http.close()

    def get(self, on: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(self.fleet.url(on, path), **kw)

    def post(self, on: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(self.fleet.url(on, path), **kw)

    def follow(self, on: str, response: httpx.Response) -> httpx.Response:
        """Follow redirects within the provider, on instance `on`; a BankID start page with one
        way to log in is sent on, as its script does (a GET never starts an order)."""
        for _ in range(10):
            location = response.headers.get("location", "")
            if response.status_code == 200 and 'data-autosubmit="1"' in response.text:
                response = self.post(on, "/bankid/start", data=start_form(response.text))
                continue
            if response.status_code not in (302, 303) or location.startswith(RP_CALLBACK):
                return response
            response = self.get(on, location)
        raise AssertionError("too many redirects")

    def authorize(self, on: str, acr_values: str = QR) -> httpx.Response:
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest())
        r = self.get(
            on,
            "/authorize",
            params={
                "response_type": "code",
                "client_id": "rp",
                "redirect_uri": RP_CALLBACK,
                "scope": "openid profile",
                "state": self.state,
                "nonce": secrets.token_urlsafe(8),
                "code_challenge": challenge.rstrip(b"=").decode(),
                "code_challenge_method": "S256",
                "acr_values": acr_values,
            },
        )
        assert r.status_code == 303, r.text
        self.txn = query(r.headers["location"])["txn"]
        return r

    def status(self, on: str) -> dict[str, Any]:
        r = self.get(on, "/bankid/status", params={"txn": self.txn})
        assert r.status_code == 200, r.text
        return r.json()

    def poll_until(self, state: str, on: tuple[str, ...] = ("a", "b"), timeout=20) -> dict:
        """Poll /bankid/status about three times a second, taking turns over `on`."""
        turn = {"i": 0}

        def poll() -> dict[str, Any] | None:
            name = on[turn["i"] % len(on)]
            turn["i"] += 1
            s = self.status(name)
            return s if s["state"] == state else None

        return wait_until(poll, timeout, f"the login to be {state}", step=0.3)


def start_form(html: str) -> dict[str, str]:
    """The fields of a BankID start page's form (the one its script sends to /bankid/start)."""
    start = html[html.index('action="/bankid/start"') :]
    return dict(re.findall(r'name="(\w+)" value="([^"]*)"', start[: start.index("</form>")]))


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html[:2000]
    return m.group(1)


def launch_token(html: str) -> str:
    m = re.search(r'id="launch"[^>]*href="([^"]+)"', html)
    assert m, html[:3000]
    return query(m.group(1).replace("&amp;", "&"))["autostarttoken"]


def token(fleet: Fleet, on: str, code: str, verifier: str) -> httpx.Response:
    return httpx.post(
        fleet.url(on, "/token"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP_CALLBACK,
            "code_verifier": verifier,
        },
        auth=("rp", RP_SECRET),
        timeout=15,
    )


def backchannel(fleet: Fleet, on: str, person: str) -> httpx.Response:
    return httpx.post(
        fleet.url(on, "/backchannel-authentication"),
        data={"scope": "openid profile", "login_hint": person, "binding_message": "Scale-out"},
        auth=("cs", CS_SECRET),
        timeout=15,
    )


def ciba_token(fleet: Fleet, on: str, auth_req_id: str) -> httpx.Response:
    return httpx.post(
        fleet.url(on, "/token"),
        data={"grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": auth_req_id},
        auth=("cs", CS_SECRET),
        timeout=15,
    )


def verify_id_token(fleet: Fleet, on: str, id_token: str, audience: str) -> dict[str, Any]:
    """As a relying party does: the key from the instance's JWKS by kid, then the claims."""
    jwks = jwt.PyJWKSet.from_dict(httpx.get(fleet.url(on, "/jwks"), timeout=5).json())
    kid = jwt.get_unverified_header(id_token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    return jwt.decode(
        id_token,
        key.key,
        algorithms=[key.algorithm_name],
        audience=audience,
        issuer=fleet.issuer,
        leeway=5,
    )


def metric(fleet: Fleet, on: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples with these labels, scraped from an instance."""
    text = httpx.get(fleet.url(on, "/metrics"), timeout=5).text
    total = 0.0
    for line in text.splitlines():
        m = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if m and m[1] == name:
            found = dict(re.findall(r'([a-z_]+)="([^"]*)"', m[2] or ""))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(m[3])
    return total


class Store:
    """Test eyes on the shared Redis, under the fleet's key prefix."""

    def __init__(self, url: str, prefix: str) -> None:
        self.redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.prefix = prefix

    def close(self) -> None:
        self.redis.close()

    def value(self, kind: str, key: str) -> dict[str, Any] | None:
        raw = self.redis.hget(f"{self.prefix}{kind}:{key}", "v")
        return None if raw is None else json.loads(raw)

    def qr_frame(self, txn: str) -> str:
        """What the phone's camera reads from the QR code on the page right now."""
        login = self.value("bankid_login", txn)
        assert login and login.get("oid"), login
        order = self.value("bankid_order", login["oid"])
        assert order, login
        t = elapsed_seconds(order["received_at"], time.time())
        return qr_payload(order["qr_start_token"], order["qr_start_secret"], t)

    def keys(self) -> list[str]:
        return [k.decode() for k in self.redis.scan_iter(match=f"{self.prefix}*", count=1000)]

    def without_ttl(self) -> list[str]:
        return [k for k in self.keys() if self.redis.pttl(k) == -1]

    def clear(self) -> None:
        keys = self.keys()
        if keys:
            self.redis.delete(*keys)


def qr_login(fleet, simulator, b, *, start="a", finish="b", person=ANNA):
    """A QR login started on `start`, shown and completed through `finish`; the code."""
    page = b.follow(start, b.authorize(start))
    assert page.status_code == 200 and 'id="qr-img"' in page.text
    shown = b.get(finish, "/bankid/wait", params={"txn": b.txn})
    assert shown.status_code == 200 and 'id="qr-img"' in shown.text  # the same login on B
    assert b.status(finish)["qr"].startswith("bankid.")  # the frame text; the page draws it
    simulator.app("scan", {"qr": fleet.store.qr_frame(b.txn), "personalNumber": person})
    done = b.poll_until("complete", on=(start, finish))
    back = b.follow(start, b.get(finish, done["next"]))  # /bankid/done on one, resume on the other
    assert back.status_code == 303 and back.headers["location"].startswith(RP_CALLBACK)
    q = query(back.headers["location"])
    assert q["state"] == b.state and q["iss"] == fleet.issuer
    return q["code"]
