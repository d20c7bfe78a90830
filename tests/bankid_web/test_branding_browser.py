"""At 360 px in headless Chromium: the simulator's tester page fits the screen and is usable
with a finger (no horizontal scrolling, targets at least 44 px high, personal numbers on one
line), and a branded login page fits too, with the organisation's colour applied."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.bankid_web.live import LiveProvider, launch_chromium, need_browser_tools
from tests.bankid_web.support import ANDROID_UA

pytestmark = pytest.mark.browser

PHONE = {
    "viewport": {"width": 360, "height": 740},
    "user_agent": ANDROID_UA,
    "is_mobile": True,
    "has_touch": True,
}
ACCENT = "#00594f"


def pending_orders(live: LiveProvider) -> None:
    """A payment with long texts and a phone order: the widest things the page shows."""

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    payment = {
        "endUserIp": "127.0.0.1",
        "userVisibleData": b64("https://example.com/" + "a" * 80),
        "userVisibleTransaction": {
            "transactionType": "card",
            "recipient": {"name": "Kaffebaren Åre Aktiebolag Filial Stockholm"},
            "money": {"amount": "1234567,50", "currency": "SEK"},
            "riskWarning": "Mottagaren är ny för dig. Kontrollera den innan du godkänner.",
        },
        "riskFlags": ["newRecipient", "largeAmount"],
    }
    rp = f"{live.url}/bankid-simulator/rp/v6.0"
    assert httpx.post(f"{rp}/payment", json=payment, timeout=10).status_code == 200
    phone = {"callInitiator": "RP", "personalNumber": "198501012382"}
    assert httpx.post(f"{rp}/phone/auth", json=phone, timeout=10).status_code == 200


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_the_simulator_page_is_usable_at_360_px(tmp_path, lang):
    need_browser_tools()
    with LiveProvider(tmp_path) as live, launch_chromium() as chromium:
        pending_orders(live)
        page = chromium.new_context(**PHONE).new_page()
        page.goto(f"{live.url}/bankid-simulator/?lang={lang}")
        page.locator("button[value=approve]").first.wait_for()
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 360, f"{width} px wide on a 360 px screen"
        small = page.evaluate(
            "() => [...document.querySelectorAll('button, select')]"
            ".map(e => [e.textContent.trim().slice(0, 30), e.getBoundingClientRect().height])"
            ".filter(([, h]) => h < 44)"
        )
        assert not small, f"targets under 44 px high: {small}"
        split = page.evaluate(
            "() => [...document.querySelectorAll('.persons code')]"
            ".filter(e => e.getClientRects().length > 1).map(e => e.textContent)"
        )
        assert not split, f"personal numbers split over lines: {split}"


def test_a_branded_login_page_fits_360_px_in_its_colour(tmp_path):
    need_browser_tools()
    logo = tmp_path / "logo.svg"
    logo.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 32" width="120" height="32">'
        f'<rect width="120" height="32" rx="4" fill="{ACCENT}"/></svg>'
    )
    branding = {
        "organisation_name": "Exempelbanken Ömsesidiga Försäkringsaktiebolag",
        "logo": str(logo),
        "accent_colour": ACCENT,
        "support_url": "https://bank.example/support",
        "privacy_url": "https://bank.example/privacy",
    }
    with (
        LiveProvider(tmp_path, extra_settings={"branding": branding}) as live,
        launch_chromium() as chromium,
    ):
        page = chromium.new_context(**PHONE, locale="sv-SE").new_page()
        page.route("https://app.bankid.com/**", lambda route: route.abort())
        page.goto(f"{live.url}/demo")
        page.locator("form[action='/demo/login'] button[type=submit]").first.click()
        # The first page posts the common way by itself (on a phone: this device); measure the
        # page it leads to, with the started order's "Open the BankID app" link, not the one
        # being left.
        page.locator("#launch").wait_for()
        page.locator(".service").wait_for()
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
        assert page.locator(".brand-logo").evaluate("e => e.naturalWidth") == 120
        assert "Exempelbanken" in page.locator(".brand-name").inner_text()
        colour = page.locator("main button:not(.link)").first.evaluate(
            "e => getComputedStyle(e).backgroundColor"
        )
        assert colour == "rgb(0, 89, 79)", colour
        assert "Demo app" in page.title()
        page.screenshot(path=str(tmp_path / "branded-360.png"), full_page=True)
