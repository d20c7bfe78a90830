"""Rate limits at the endpoints (issue 14), in process on the provider as `create_app` wires it:
per person at CIBA and for person-restricted orders (a pushed request naming the person), the
cap on pending BankID logins per address (finishing or cancelling a login frees its slot), and
store keys that never hold a personal number or an address."""

from __future__ import annotations

import httpx
import pytest

from idp.app import create_app
from idp.config import CIBA_GRANT
from idp.store.memory import MemoryTTLStore
from tests.bankid_web.conftest import make_settings
from tests.bankid_web.support import (
    ANNA,
    ISSUER,
    RP_CB,
    RP_SECRET,
    Browser,
    client_settings,
    form,
    pkce_pair,
    poll_until,
    query,
    scan,
)

pytestmark = pytest.mark.anyio

BJORN = "197203152397"
CS_SECRET = "rate-limit-cs-secret-0123456789abc"
PER_PERSON = 2
PENDING_PER_ADDRESS = 2
TOO_MANY_SV = "För många försök från din anslutning"
TOO_MANY_EN = "Too many attempts from your connection"
NUMBER_FORMS = (ANNA, f"{ANNA[:8]}-{ANNA[8:]}", ANNA[2:], BJORN, BJORN[2:])


def ciba_client() -> dict:
    return {
        "client_id": "cs",
        "client_name": "Customer service",
        "client_secret": CS_SECRET,
        "grant_types": [CIBA_GRANT],
        "backchannel_token_delivery_mode": "poll",
        "scope": "openid profile",
    }


@pytest.fixture
async def limited(sqlite_url, clock):
    """The provider with small limits: per person, and pending logins per address."""
    settings = make_settings(
        sqlite_url,
        clients=[*client_settings(), ciba_client()],
        limits={
            "per_person": {"count": PER_PERSON, "window_seconds": 600},
            "pending_logins_per_address": PENDING_PER_ADDRESS,
            "bankid_start_per_address": {"count": 100, "window_seconds": 60},
        },
    )
    app = create_app(settings, clock=clock, store=MemoryTTLStore(clock))
    async with app.router.lifespan_context(app):
        yield app


def http(app, ip: str = "192.0.2.40") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url=ISSUER)


async def backchannel(app, person: str) -> httpx.Response:
    async with http(app) as client:
        return await client.post(
            "/backchannel-authentication",
            data={"scope": "openid", "login_hint": person, "binding_message": "Rate limit"},
            auth=("cs", CS_SECRET),
        )


async def pushed_login(app, browser: Browser, person: str) -> httpx.Response:
    """A login whose BankID order is restricted to `person`: pushed by the client with its
    secret (PAR, login_hint), opened in the browser, its one way sent on as the page does."""
    _, challenge = pkce_pair()
    async with http(app, "192.0.2.50") as client:
        pushed = await client.post(
            "/par",
            data={
                "response_type": "code",
                "client_id": "rp",
                "redirect_uri": RP_CB,
                "scope": "openid profile",
                "state": "s",
                "nonce": "n",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "acr_values": "urn:grn:authn:se:bankid:qr",
                "login_hint": person,
            },
            auth=("rp", RP_SECRET),
        )
    assert pushed.status_code == 201, pushed.text
    r = await browser.http.get(
        "/authorize", params={"client_id": "rp", "request_uri": pushed.json()["request_uri"]}
    )
    assert r.status_code == 303, r.text
    browser.txn = query(r.headers["location"])["txn"]
    page = await browser.get(r.headers["location"])
    assert 'data-autosubmit="1"' in page.text, page.text[:2000]
    return await browser.submit("/bankid/start")


def assert_too_many_page(page: httpx.Response, text: str = TOO_MANY_SV) -> None:
    assert page.status_code == 429, page.text[:2000]
    assert int(page.headers["retry-after"]) >= 1
    assert text in page.text


def assert_too_many_json(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["error"] == "temporarily_unavailable"
    assert r.headers["cache-control"] == "no-store"


async def test_ciba_is_limited_per_person(limited):
    assert (await backchannel(limited, ANNA)).status_code == 200
    # Counted whatever its outcome: BankID stops both orders of one person in progress.
    second = await backchannel(limited, ANNA)
    assert second.status_code == 403 and second.json()["error"] == "access_denied", second.text
    assert_too_many_json(await backchannel(limited, ANNA))
    assert (await backchannel(limited, BJORN)).status_code == 200  # another person's count


async def test_person_restricted_orders_share_the_per_person_limit_with_ciba(limited):
    browsers = []
    for i in range(PER_PERSON):
        b = Browser(limited, ip=f"192.0.2.6{i}")
        browsers.append(b)
        page = await pushed_login(limited, b, BJORN)
        assert page.status_code == 200 and 'id="qr-img"' in page.text, page.text[:2000]
        cancel = form(page.text, "/bankid/cancel")["fields"]
        assert (await b.http.post("/bankid/cancel", data=cancel)).status_code == 303
    english = Browser(limited, ip="192.0.2.68", lang="en")
    browsers.append(english)
    assert_too_many_page(await pushed_login(limited, english, BJORN), TOO_MANY_EN)
    # One person, one count: backchannel requests cannot push to that phone either, while
    # someone else is not held up.
    assert_too_many_json(await backchannel(limited, BJORN))
    other = Browser(limited, ip="192.0.2.69")
    browsers.append(other)
    assert (await pushed_login(limited, other, ANNA)).status_code == 200
    for b in browsers:
        await b.aclose()


async def test_the_pending_logins_of_one_address_are_capped_until_one_ends(limited, clock):
    ip = "192.0.2.70"
    pending = []
    for _ in range(PENDING_PER_ADDRESS):
        b = Browser(limited, ip=ip)
        page = await b.open_login(acr_values="urn:grn:authn:se:bankid:qr")
        assert page.status_code == 200 and 'id="qr-img"' in page.text
        pending.append(b)
    over = Browser(limited, ip=ip)
    assert_too_many_page(await over.open_login(acr_values="urn:grn:authn:se:bankid:qr"))
    elsewhere = Browser(limited, ip="192.0.2.71")
    assert (await elsewhere.open_login(acr_values="urn:grn:authn:se:bankid:qr")).status_code == 200

    # Cancelling a login frees its slot: the refused browser may now start.
    cancelled = pending.pop(0)
    r = await cancelled.http.post(
        "/bankid/cancel",
        data={"txn": cancelled.txn, **form(cancelled.page.text, "/bankid/cancel")["fields"]},
    )
    assert r.status_code in (302, 303), r.text
    again = Browser(limited, ip=ip)
    assert (await again.open_login(acr_values="urn:grn:authn:se:bankid:qr")).status_code == 200
    pending.append(again)
    third = Browser(limited, ip=ip)
    assert_too_many_page(await third.open_login(acr_values="urn:grn:authn:se:bankid:qr"))

    # Finishing a login frees its slot too.
    done = pending.pop(0)
    await scan(limited, done)
    location = await done.finish(await poll_until(done, clock, "complete"))
    assert location.startswith(RP_CB) and "code" in query(location)
    fourth = Browser(limited, ip=ip)
    assert (await fourth.open_login(acr_values="urn:grn:authn:se:bankid:qr")).status_code == 200
    for b in (*pending, over, elsewhere, cancelled, third, done, fourth):
        await b.aclose()


async def test_no_store_key_holds_a_personal_number_or_an_address(limited):
    ip = "192.0.2.90"
    b = Browser(limited, ip=ip)
    await pushed_login(limited, b, ANNA)
    assert (await backchannel(limited, BJORN)).status_code == 200
    for _ in range(3):
        await backchannel(limited, ANNA)  # past the limit: counted and refused
    store = limited.state.runtime.store
    keys = [f"{kind}:{key}" for kind, key in store._entries]
    keys += [
        f"{kind}:{key}:{member}" for (kind, key), slot in store._slots.items() for member in slot
    ]
    assert any(k.startswith("rl:") for k in keys) and any(k.startswith("pending:") for k in keys)
    for key in keys:
        for written in (*NUMBER_FORMS, ip, "192.0.2.40", "192.0.2.50"):
            assert written not in key, key
    await b.aclose()
