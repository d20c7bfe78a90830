"""Issue 14, acceptance 1: rate limits hold across two `idp serve` processes on the machine's real
Redis. Each limit is reached at its configured count whichever instance is hit, the refusal is a
429 (or the authorization endpoint's redirect) with Retry-After in the endpoint's own shape,
`idp_rate_limited_total` counts it, and once the window has passed the counters are gone and a
request is accepted again.

The test stands in for the proxy (127.0.0.1 is trusted), so X-Forwarded-For makes each test a
client address of its own. Windows are fixed (`floor(now / window)`): each test starts at the
beginning of one, so that its counting fits in a single window."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time

import httpx
import pytest

from tests.scaleout.people import QR, Browser, Store, metric, query
from tests.scaleout.processes import (
    RP_CALLBACK,
    RP_SECRET,
    Fleet,
    check_logs,
    fleet_config,
    free_port,
    wait_until,
)

pytestmark = [pytest.mark.scaleout, pytest.mark.redis, pytest.mark.postgres]

WINDOW = 10  # seconds, every counted limit of this fleet
AUTHORIZE_COUNT = 5
TOKEN_COUNT = 4
START_COUNT = 2
LIMITS = {
    "authorize_per_address": {"count": AUTHORIZE_COUNT, "window_seconds": WINDOW},
    "token_per_client": {"count": TOKEN_COUNT, "window_seconds": WINDOW},
    "bankid_start_per_address": {"count": START_COUNT, "window_seconds": WINDOW},
    "per_person": {"count": 5, "window_seconds": 20},
}


@pytest.fixture
def fleet(shared_stores, simulator, tmp_path, log_check):
    """The scale-out fleet with small limits (the conftest's fleet, another `limits:`)."""
    redis_url, database_url, secret_key = shared_stores
    config = fleet_config(
        secret_key=secret_key,
        issuer=f"http://localhost:{free_port()}",
        database_url=database_url,
        redis_url=redis_url,
        prefix=f"idp-scaleout-rl:{secrets.token_hex(4)}:",
        simulator_url=simulator.url,
    )
    config["limits"] = LIMITS
    f = Fleet(tmp_path, config)
    f.start()
    store = Store(redis_url, f.prefix)
    f.store = store
    try:
        yield f
    finally:
        f.stop()
        check_logs(f, log_check)
        store.clear()
        store.close()


def address() -> str:
    """A client address of the test's own (TEST-NET-2), as the proxy reports it."""
    return f"198.51.100.{secrets.randbelow(250) + 1}"


def window_start(need: float = 7.0) -> None:
    """Wait, if need be, for a fresh window, so that `need` seconds of counting fit in one."""
    left = WINDOW - time.time() % WINDOW
    if left < need:
        time.sleep(left + 0.05)


def refused_total(fleet: Fleet, limit: str) -> float:
    return sum(metric(fleet, name, "idp_rate_limited_total", limit=limit) for name in "ab")


def retry_after(response: httpx.Response) -> int:
    value = int(response.headers["retry-after"])
    assert 1 <= value <= WINDOW, value
    return value


def counters(fleet: Fleet) -> list[str]:
    return [k for k in fleet.store.keys() if k.startswith(f"{fleet.prefix}rl:")]


def authorize(fleet: Fleet, on: str, ip: str, **overrides: str) -> httpx.Response:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": "rp",
        "redirect_uri": RP_CALLBACK,
        "scope": "openid profile",
        "state": "s-" + secrets.token_urlsafe(6),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        "acr_values": QR,
        **overrides,
    }
    return httpx.get(
        fleet.url(on, "/authorize"),
        params=params,
        headers={"x-forwarded-for": ip},
        timeout=15,
        follow_redirects=False,
    )


def accepted(r: httpx.Response) -> bool:
    """An authorization request handed to the login (not an error redirect to the client)."""
    return r.status_code == 303 and not r.headers["location"].startswith(RP_CALLBACK)


def client_credentials(fleet: Fleet, on: str, ip: str) -> httpx.Response:
    return httpx.post(
        fleet.url(on, "/token"),
        data={"grant_type": "client_credentials", "scope": "openid"},
        auth=("rp", RP_SECRET),
        headers={"x-forwarded-for": ip},
        timeout=15,
    )


def test_authorize_limit_is_shared_by_both_instances_and_answers_the_client(fleet):
    ip, other = address(), address()
    before = refused_total(fleet, "authorize")
    window_start()
    answers = [authorize(fleet, "ab"[i % 2], ip) for i in range(AUTHORIZE_COUNT)]
    assert all(accepted(r) for r in answers), [(r.status_code, r.headers) for r in answers]

    # The count is reached, on either instance: a redirect to the client with
    # temporarily_unavailable (RFC 6749 §4.1.2.1) and its state, and Retry-After.
    for name in ("b", "a"):
        refused = authorize(fleet, name, ip, state="mine")
        assert refused.status_code == 303, refused.text
        q = query(refused.headers["location"])
        assert refused.headers["location"].startswith(RP_CALLBACK)
        assert q["error"] == "temporarily_unavailable" and q["state"] == "mine", q
        assert q["iss"] == fleet.issuer
        wait = retry_after(refused)
    # Before its redirect URI is trusted, the client is not redirected to: a page.
    page = authorize(fleet, "a", ip, redirect_uri="http://evil.example/cb")
    assert page.status_code == 429 and "location" not in page.headers
    assert "För många försök" in page.text or "Too many attempts" in page.text
    retry_after(page)
    assert accepted(authorize(fleet, "b", other))  # another address has its own count
    assert refused_total(fleet, "authorize") - before == 3

    # Counters are keyed by an HMAC, never the address, and expire by themselves.
    keys = counters(fleet)
    assert keys and not any(ip in k or other in k for k in keys)
    assert all(0 < fleet.store.redis.pttl(k) <= (WINDOW + 1) * 1000 for k in keys)
    refused_at = time.monotonic()
    again = wait_until(
        lambda: (r := authorize(fleet, "ab"[int(time.monotonic()) % 2], ip)) and accepted(r),
        wait + 3,
        "the authorize window to pass",
        step=0.5,
    )
    assert again and time.monotonic() - refused_at >= wait - 1.5
    wait_until(lambda: not set(keys) & set(counters(fleet)), 3, "the old counters to expire")


def test_token_limit_is_shared_by_both_instances_and_answers_oauth_json(fleet):
    ip, other = address(), address()
    before = refused_total(fleet, "token")
    window_start()
    for i in range(TOKEN_COUNT):
        r = client_credentials(fleet, "ab"[i % 2], ip)
        assert r.status_code == 200, r.text
    for name in ("a", "b"):
        refused = client_credentials(fleet, name, ip)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"] == "temporarily_unavailable"
        assert refused.headers["cache-control"] == "no-store"
        wait = retry_after(refused)
    assert client_credentials(fleet, "a", other).status_code == 200
    assert refused_total(fleet, "token") - before == 2

    refused_at = time.monotonic()
    wait_until(
        lambda: client_credentials(fleet, "b", ip).status_code == 200,
        wait + 3,
        "the token window to pass",
        step=0.5,
    )
    assert time.monotonic() - refused_at >= wait - 1.5


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("sv-SE,sv;q=0.9", "För många försök från din anslutning"),
        ("en-GB,en;q=0.9", "Too many attempts from your connection"),
    ],
)
def test_bankid_starts_are_limited_across_instances_with_a_page_in_the_persons_language(
    fleet, simulator, language, text
):
    ip = address()
    browser = Browser(fleet)
    browser.http.headers.update({"x-forwarded-for": ip, "accept-language": language})
    before = refused_total(fleet, "bankid_start")
    orders = httpx.get(f"{simulator.url}/stats", timeout=5).json()["calls"].get("auth", 0)
    try:
        window_start()
        for i in range(START_COUNT):
            on = "ab"[i % 2]
            page = browser.follow(on, browser.authorize(on))
            assert page.status_code == 200 and 'id="qr-img"' in page.text, page.text[:2000]
        for on in ("a", "b"):
            page = browser.follow(on, browser.authorize(on))
            assert page.status_code == 429, page.text[:2000]
            assert text in page.text
            wait = retry_after(page)
        after = httpx.get(f"{simulator.url}/stats", timeout=5).json()["calls"].get("auth", 0)
        assert after - orders == START_COUNT  # no BankID order beyond the limit
        assert refused_total(fleet, "bankid_start") - before == 2

        time.sleep(wait)
        page = wait_until(
            lambda: (p := browser.follow("b", browser.authorize("b"))).status_code == 200 and p,
            5,
            "the BankID start window to pass",
            step=0.5,
        )
        assert 'id="qr-img"' in page.text
    finally:
        browser.close()
