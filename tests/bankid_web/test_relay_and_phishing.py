"""Relay and phishing of the QR code and the app link (issue 14): the app names the service being
logged into, every same-device order carries a returnUrl with a nonce, and a same-device login
completed from another address than it started follows `bankid.same_device_ip_policy`."""

import base64
import logging

import pytest

from idp.app import create_app
from idp.bankid import orders
from idp.store.memory import MemoryTTLStore
from tests.bankid_web.conftest import make_settings
from tests.bankid_web.support import (
    ANDROID_UA,
    DESKTOP_UA,
    IPHONE_UA,
    ISSUER,
    Browser,
    autostart_token,
    launch_href,
    query,
    simulator_user,
)

pytestmark = pytest.mark.anyio

ACR_QR = "urn:grn:authn:se:bankid:qr"
ACR_SAME = "urn:grn:authn:se:bankid:same-device"


def visible(body) -> str:
    return base64.b64decode(body["userVisibleData"]).decode()


@pytest.mark.parametrize("acr", [ACR_QR, ACR_SAME])
async def test_the_app_names_the_client_being_logged_into_in_the_pages_language(app, acr):
    await Browser(app).open_login(acr_values=acr)
    body = app.state.link.bodies[-1]
    assert visible(body) == "Inloggning till Test RP"
    assert "userVisibleDataFormat" not in body  # plain text: a client name is not markdown

    await Browser(app).open_login(acr_values=acr, ui_locales="en")
    assert visible(app.state.link.bodies[-1]) == "Log in to Test RP"


@pytest.mark.parametrize("ua", [DESKTOP_UA, IPHONE_UA, ANDROID_UA])
async def test_every_same_device_order_carries_a_return_url_with_a_nonce(app, ua):
    await Browser(app, ua=ua).open_login(acr_values=ACR_SAME)
    return_url = app.state.link.bodies[-1]["returnUrl"]
    assert return_url.startswith(f"{ISSUER}/bankid/return?")
    assert len(query(return_url)["n"]) >= 32

    await Browser(app, ua=ua).open_login(acr_values=ACR_QR)  # another device: nothing to return
    assert "returnUrl" not in app.state.link.bodies[-1]


async def _same_device_login(app, clock, *, browser_ip, app_ip):
    """A same-device login on a computer whose BankID program reaches BankID from `app_ip`;
    returns the browser and the status once the order is final at BankID (and returned)."""
    b = Browser(app, ip=browser_ip)
    page = await b.open_login(acr_values=ACR_SAME)
    async with simulator_user(app, ip=app_ip) as http:
        opened = await http.post(
            "/app/autostart", json={"autoStartToken": autostart_token(launch_href(page.text))}
        )
    assert opened.status_code == 200, opened.text
    state = None
    for _ in range(400):
        state = (await b.status()).json()
        if state["state"] == "return":
            back = await b.http.get(opened.json()["returnUrl"].removeprefix(ISSUER))
            assert back.status_code == 303
            continue
        if state["state"] in ("complete", "failed"):
            return b, state
        clock.advance(1.0)
    raise AssertionError(f"never final: {state}")


async def _wired(sqlite_url, clock, policy):
    settings = make_settings(sqlite_url, bankid={"same_device_ip_policy": policy})
    return create_app(settings, clock=clock, store=MemoryTTLStore(clock))


@pytest.mark.parametrize("policy", ["ignore", "log", "refuse"])
async def test_a_same_device_login_completed_from_another_address_follows_the_policy(
    sqlite_url, clock, caplog, policy
):
    app = await _wired(sqlite_url, clock, policy)
    async with app.router.lifespan_context(app):
        caplog.set_level(logging.WARNING, logger="idp.bankid.orders")
        b, final = await _same_device_login(
            app, clock, browser_ip="203.0.113.5", app_ip="198.51.100.20"
        )
        warned = [r for r in caplog.records if "another address" in r.getMessage()]
        if policy == "refuse":
            assert final["state"] == "failed" and final["rfa"] == "ip_mismatch"
            assert "från en annan anslutning" in final["message"]
            english = await b.http.get(
                "/bankid/status", params={"txn": b.txn}, headers={"accept-language": "en"}
            )
            assert "from another connection" in english.json()["message"]
            assert warned
        else:
            assert final["state"] == "complete"
            assert bool(warned) is (policy == "log")
        # Nothing of the addresses is logged, only that they differed.
        assert not any("198.51.100.20" in r.getMessage() for r in caplog.records)


async def test_a_same_device_login_from_the_same_address_completes_under_refuse(
    sqlite_url, clock
):
    app = await _wired(sqlite_url, clock, "refuse")
    async with app.router.lifespan_context(app):
        _, final = await _same_device_login(
            app, clock, browser_ip="203.0.113.5", app_ip="203.0.113.5"
        )
        assert final["state"] == "complete"


@pytest.mark.parametrize(
    ("started", "completed", "same"),
    [
        ("203.0.113.5", "203.0.113.5", True),
        ("203.0.113.5", "::ffff:203.0.113.5", True),  # IPv4 written as IPv4-mapped IPv6
        ("2001:db8:1:2::10", "2001:db8:1:2:aaaa::1", True),  # temporary addresses, one /64
        ("2001:db8:1:2::10", "2001:db8:1:3::10", False),
        ("203.0.113.5", "203.0.113.6", False),
        ("203.0.113.5", "2001:db8::1", False),  # another family is not proof of one device
        ("203.0.113.5", None, False),
        ("203.0.113.5", "not an address", False),
    ],
)
def test_the_address_check_understands_ipv4_and_ipv6(started, completed, same):
    assert orders.same_device(started, completed) is same
