"""The order belongs to the login and the browser that started it: another browser can neither
read its status or QR code nor finish or cancel it; BankID's secrets stay on the server;
endUserIp is the person's address; web device data comes from a separate long-lived cookie."""

import hashlib
import re

import pytest

from tests.bankid_web.conftest import build_app
from tests.bankid_web.support import (
    ANDROID_UA,
    DESKTOP_UA,
    Browser,
    autostart_token,
    form,
    launch_href,
    order_record,
    phone,
    poll_until,
    query,
    scan,
)

pytestmark = pytest.mark.anyio

ACR_QR = "urn:grn:authn:se:bankid:qr"
ACR_SAME = "urn:grn:authn:se:bankid:same-device"


async def test_a_second_browser_cannot_read_status_or_qr_nor_finish_or_cancel(app, clock):
    owner = Browser(app)
    await owner.open_login(acr_values=ACR_QR)
    thief = Browser(app, ip="198.51.100.66")
    txn = owner.txn

    status = await thief.http.get("/bankid/status", params={"txn": txn})
    assert status.status_code == 404 and status.json() == {"error": "not_found"}
    for path in ("/bankid/wait", "/bankid/login", "/bankid/done"):
        page = await thief.http.get(path, params={"txn": txn})
        assert page.status_code == 400 and "data:image/svg" not in page.text, path
    # Forms need the owner's cookie; a copied CSRF token does not help.
    stolen = form(owner.page.text, "/bankid/cancel")["fields"]
    for action in ("/bankid/cancel", "/bankid/retry", "/bankid/start"):
        r = await thief.http.post(action, data={**stolen, "flow": "qr"})
        assert r.status_code == 400, action
    # A made-up binding cookie does not help either.
    thief.http.cookies.set("__Host-idp_browser", "x" * 40, domain="id.example.com")
    assert (await thief.http.get("/bankid/status", params={"txn": txn})).status_code == 404

    await scan(app, owner)
    clock.advance(2)
    assert (await thief.http.get("/bankid/done", params={"txn": txn})).status_code == 400
    done = await poll_until(owner, clock, "complete")
    assert "code" in query(await owner.finish(done))


async def test_the_owner_with_a_fresh_cookie_jar_is_a_stranger_too(app):
    owner = Browser(app)
    await owner.open_login(acr_values=ACR_QR)
    owner.http.cookies.clear()
    assert (await owner.status()).status_code == 404


async def test_order_ref_and_qr_start_secret_never_reach_the_browser(app, clock):
    b = Browser(app)
    page = await b.open_login(acr_values=ACR_QR)
    rec = await order_record(app, b)
    status = await b.status()
    for text in (page.text, status.text):
        assert rec["order_ref"] not in text
        assert rec["qr_start_secret"] not in text
        assert rec["auto_start_token"] not in text  # the QR page never carries the token
        # The qrStartToken only inside QR frame texts (the page draws them itself).
        frame = rf"bankid\.{re.escape(rec['qr_start_token'])}\.\d+\.[0-9a-f]{{64}}"
        frames = re.sub(frame, "", text)
        assert rec["qr_start_token"] not in frames

    same = Browser(app)
    page = await same.open_login(acr_values=ACR_SAME)
    rec = await order_record(app, same)
    assert rec["order_ref"] not in page.text and rec["qr_start_secret"] not in page.text
    assert autostart_token(launch_href(page.text)) == rec["auto_start_token"]
    status = await same.status()
    assert rec["auto_start_token"] not in status.text and status.json()["qr"] is None


async def test_end_user_ip_is_the_peer_unless_a_trusted_proxy_forwards(settings, clock):
    app = build_app(settings, clock, trusted_proxies=["10.0.0.0/8"])
    async with app.router.lifespan_context(app):
        direct = Browser(app, ip="203.0.113.5", headers={"x-forwarded-for": "192.0.2.99"})
        await direct.open_login(acr_values=ACR_QR)
        assert app.state.link.bodies[-1]["endUserIp"] == "203.0.113.5"  # spoofed header ignored

        proxied = Browser(
            app, ip="10.1.2.3", headers={"x-forwarded-for": "192.0.2.99, 198.51.100.7, 10.9.9.9"}
        )
        await proxied.open_login(acr_values=ACR_QR)
        assert app.state.link.bodies[-1]["endUserIp"] == "198.51.100.7"

        v6 = Browser(app, ip="10.1.2.3", headers={"x-forwarded-for": "2001:db8::1"})
        await v6.open_login(acr_values=ACR_QR)
        assert app.state.link.bodies[-1]["endUserIp"] == "2001:db8::1"


async def test_web_device_data_uses_a_separate_long_lived_device_cookie(app):
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    body = app.state.link.bodies[-1]
    device = b.http.cookies.get("__Host-idp_device")
    browser = b.http.cookies.get("__Host-idp_browser")
    assert device and device != browser
    assert body["web"] == {
        "referringDomain": "id.example.com",
        "userAgent": DESKTOP_UA,
        "deviceIdentifier": hashlib.sha256(device.encode()).hexdigest(),
    }
    assert body["returnRisk"] is True and "returnUrl" not in body

    await b.open_login(acr_values=ACR_QR)  # a later login from the same browser
    assert app.state.link.bodies[-1]["web"]["deviceIdentifier"] == body["web"]["deviceIdentifier"]


async def test_the_device_cookie_is_long_lived_and_http_only(app):
    b = Browser(app)
    first = await b.authorize(acr_values=ACR_QR)
    page = await b.http.get(first.headers["location"])
    start = await b.http.post("/bankid/start", data=form(page.text, "/bankid/start")["fields"])
    cookie = next(
        c for c in start.headers.get_list("set-cookie") if c.startswith("__Host-idp_device=")
    )
    for flag in ("Max-Age=34473600", "HttpOnly", "SameSite=lax", "Secure", "Path=/"):
        assert flag in cookie


async def test_the_return_url_is_built_by_the_server_with_a_per_order_nonce(app):
    b = Browser(app, ua=ANDROID_UA)
    page = await b.open_login(acr_values=ACR_SAME)
    first = app.state.link.bodies[-1]["returnUrl"]
    assert first.startswith("https://id.example.com/bankid/return?txn=")
    opened = await phone(
        app, "autostart", {"autoStartToken": autostart_token(launch_href(page.text))}
    )
    assert opened.json()["returnUrl"] == first
    other = Browser(app, ua=ANDROID_UA)
    await other.open_login(acr_values=ACR_SAME)
    assert query(app.state.link.bodies[-1]["returnUrl"])["n"] != query(first)["n"]
