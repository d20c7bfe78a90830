"""Behind a reverse proxy, as create_app wires it from the settings: the issuer from the
configuration whatever Host a request came with, X-Forwarded-For believed only from
trusted_proxies (BankID's endUserIp is the real client), Secure __Host- cookies with an https
issuer, and no in-process simulator when a standalone one is configured."""

import pytest
from starlette.routing import Mount

from idp.app import create_app
from idp.clock import FixedClock
from idp.store.memory import MemoryTTLStore
from tests.asgi import app_client
from tests.bankid_web.conftest import make_settings
from tests.bankid_web.support import ISSUER, Browser, simulator_book

pytestmark = pytest.mark.anyio

QR = "urn:grn:authn:se:bankid:qr"


@pytest.fixture
async def app(sqlite_url):
    clock = FixedClock()
    settings = make_settings(sqlite_url, trusted_proxies=["10.0.0.0/8"])
    application = create_app(settings, clock=clock, store=MemoryTTLStore(clock))
    async with application.router.lifespan_context(application):
        yield application


async def end_user_ip(app, browser):
    await browser.open_login(acr_values=QR)
    ((order, _),) = [
        (o, s)
        for o, s in simulator_book(app).pending_orders()
        if o.order_ref not in app.state.seen_orders
    ]
    app.state.seen_orders.add(order.order_ref)
    return order.end_user_ip


async def test_end_user_ip_is_the_client_behind_a_trusted_proxy_only(app):
    app.state.seen_orders = set()
    via_proxy = Browser(app, ip="10.1.2.3", headers={"x-forwarded-for": "192.0.2.99"})
    chained = Browser(app, ip="10.1.2.3", headers={"x-forwarded-for": "198.51.100.7, 10.9.9.9"})
    spoofed = Browser(app, ip="203.0.113.5", headers={"x-forwarded-for": "192.0.2.99"})
    assert await end_user_ip(app, via_proxy) == "192.0.2.99"
    assert await end_user_ip(app, chained) == "198.51.100.7"
    assert await end_user_ip(app, spoofed) == "203.0.113.5"  # not a proxy: header ignored


async def test_the_issuer_is_the_configured_one_whatever_the_host(app):
    async with app_client(app, base_url="http://10.0.0.7:8000") as http:
        doc = (await http.get("/.well-known/openid-configuration", headers={"host": "evil"})).json()
    assert doc["issuer"] == ISSUER
    assert all(
        v.startswith(ISSUER + "/") for k, v in doc.items() if k.endswith(("_endpoint", "_uri"))
    )


async def test_cookies_are_secure_host_cookies_with_an_https_issuer(app):
    b = Browser(app, ip="10.1.2.3", headers={"x-forwarded-for": "192.0.2.99"})
    first = await b.authorize(acr_values=QR)
    cookie = first.headers["set-cookie"]
    assert cookie.startswith("__Host-idp_browser=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie
    assert first.headers["strict-transport-security"].startswith("max-age=")
    switched = await b.http.get("/nope?lang=en")  # the language switch, on any page
    assert [c for c in switched.headers.get_list("set-cookie") if c.startswith("idp_lang=")]
    assert all("Secure" in c for c in switched.headers.get_list("set-cookie"))


async def test_a_standalone_simulator_replaces_the_in_process_one(sqlite_url):
    standalone = make_settings(
        sqlite_url, bankid={"environment": "simulator", "base_url": "http://127.0.0.1:9/rp/v6.0"}
    )
    app = create_app(standalone, store=MemoryTTLStore())
    assert not [r for r in app.routes if isinstance(r, Mount) and r.path == "/bankid-simulator"]
    async with app_client(app) as http:
        assert (await http.get("/bankid-simulator/")).status_code == 404
    embedded = create_app(make_settings(sqlite_url), store=MemoryTTLStore())
    assert [r for r in embedded.routes if isinstance(r, Mount) and r.path == "/bankid-simulator"]
