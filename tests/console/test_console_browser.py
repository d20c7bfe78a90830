"""The console in headless Chromium (issue 17): a staff member signs in with BankID through the
simulator, asks a test person to confirm who they are, the person's app approves (the
simulator's /app/phone) and the page shows the verified name by itself; declined, cancelled
and expired requests show their state. Every screen, in Swedish and English on a 1280 px
computer and a 360 px phone, passes axe-core's WCAG 2.1 A/AA rules and is saved as a
screenshot under tests/artifacts/screenshots/console/<device>-<lang>/ for people to look at.

Nothing here sleeps to decide a result: the page is waited for; expiry moves the provider's
clock forward instead of waiting."""

from __future__ import annotations

import shutil

import pytest

from tests.bankid_web.live import launch_chromium, need_browser_tools, new_browser_page, screenshots
from tests.bankid_web.test_accessibility import (
    CASES,
    DEVICES,
    assert_accessible,
    need_axe,
    violations,
)
from tests.ciba.harness import AGNES, BJORN, TOVE
from tests.console.harness import ANNA, BAD_CHECK_DIGIT, CECILIA
from tests.console.live import LiveConsole, ask, bankid_login, open_sign_in, sign_in, wait_state

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    need_browser_tools()
    need_axe()
    with LiveConsole(tmp_path_factory.mktemp("live-console")) as provider:
        yield provider


@pytest.fixture(scope="module")
def chromium(live):
    with launch_chromium() as browser:
        yield browser


def new_page(chromium, lang="en", device="desktop", *, screens=False):
    """A page in `lang` on `device` (CSP bypassed only so that axe-core can be injected); with
    `screens`, each scanned state is saved under screenshots/console/<device>-<lang>/."""
    page = new_browser_page(chromium, lang, **DEVICES[device], bypass_csp=True)
    if screens:
        page.screens_dir = screenshots() / "console" / f"{device}-{lang}"
        shutil.rmtree(page.screens_dir, ignore_errors=True)
    return page


def expire(live) -> None:
    """Move the provider's clock past a request's lifetime."""
    live.clock.advance(live.settings.ciba.expires_in_seconds + 1)


def test_a_staff_member_sees_the_verified_name_of_a_caller_who_approved(live, chromium, tmp_path):
    page = new_page(chromium)
    try:
        sign_in(page, live.url, live.url, ANNA, tmp_path)
        assert "Anna Andersson" in page.locator("#signed-in-as").inner_text()
        ask(page, BJORN, message="Ärende 4711")
        assert "/console/requests/" in page.url and BJORN not in page.url
        assert wait_state(page, "pending") == "pending"
        assert page.locator("#verified-name").count() == 0  # nothing of the caller yet
        live.phone("phone", {"personalNumber": BJORN})
        page.locator("#verified-name").wait_for()  # the page's script followed the request
        assert page.locator("#verified-name").inner_text() == "Björn Berglund"
        assert page.locator("#request-state").get_attribute("data-state") == "approved"
        assert BJORN not in page.content()
    finally:
        page.context.close()


def test_declined_cancelled_and_expired_requests_show_their_state(live, chromium, tmp_path):
    page = new_page(chromium, "sv")
    try:
        sign_in(page, live.url, live.url, ANNA, tmp_path)
        ask(page, BJORN)
        live.phone("phone", {"personalNumber": BJORN, "action": "decline_call"})
        assert wait_state(page, "declined", "cancelled", "refused") == "declined"
        assert "inte pratar med er" in page.locator("#state-text").inner_text()

        page.click("#new-request")
        ask(page, AGNES)  # her app always cancels
        live.phone("phone", {"personalNumber": AGNES})
        assert wait_state(page, "cancelled", "declined", "refused") == "cancelled"
        assert page.locator("#state-text").inner_text() == "Kunden avbröt"

        page.click("#new-request")
        ask(page, TOVE)  # she never answers
        wait_state(page, "pending")
        expire(live)
        assert wait_state(page, "expired") == "expired"
        assert page.locator("#state-text").inner_text() == "Förfrågan gick ut"
        assert page.locator("#verified-name").count() == 0
    finally:
        page.context.close()


def focused(page) -> dict:
    return page.evaluate(
        "() => { const e = document.activeElement, s = getComputedStyle(e);"
        " return {id: e.id, tag: e.tagName.toLowerCase(), outline: s.outlineStyle,"
        " width: parseFloat(s.outlineWidth)}; }"
    )


def tab_to(page, element_id: str, limit: int = 20) -> list[dict]:
    """Press Tab until `element_id` has the focus; every element passed on the way."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        seen.append(focused(page))
        if seen[-1]["id"] == element_id:
            return seen
    raise AssertionError(f"Tab never reached #{element_id}: {seen}")


def test_the_form_works_with_the_keyboard_alone_and_shows_where_the_focus_is(
    live, chromium, tmp_path
):
    page = new_page(chromium, "sv", "mobile")
    try:
        sign_in(page, live.url, live.url, ANNA, tmp_path)
        passed = tab_to(page, "pnr")
        page.keyboard.type(BJORN)
        passed += tab_to(page, "send-request")
        visible = [f for f in passed if f["outline"] != "none" and f["width"] >= 2]
        assert visible == passed, passed  # a visible focus on every stop
        page.keyboard.press("Enter")
        assert wait_state(page, "pending") == "pending"
        live.phone("phone", {"personalNumber": BJORN, "action": "cancel"})  # no open order left
        assert wait_state(page, "cancelled") == "cancelled"
    finally:
        page.context.close()


@pytest.mark.parametrize(("lang", "device"), CASES)
def test_every_console_screen_passes_the_accessibility_scan(live, chromium, tmp_path, lang, device):
    """sign-in, not on the staff list, the form (empty, with field errors), waiting, the call
    confirmed, approved with the name, declined, cancelled, expired, history, the operator's
    view, signed out."""
    page = new_page(chromium, lang, device, screens=True)
    found: list[str] = []
    try:
        open_sign_in(page, live.url)
        found += violations(page, "sign-in", lang)
        bankid_login(page, live.url, BJORN, tmp_path)  # a caller, not staff
        page.locator("#not-staff").wait_for()
        found += violations(page, "not on the staff list", lang)

        sign_in(page, live.url, live.url, ANNA, tmp_path)
        found += violations(page, "form empty", lang)
        page.fill("#pnr", BAD_CHECK_DIGIT)
        page.fill("#message", "x" * 10)
        page.locator("#pnr").blur()
        page.locator("#pnr[aria-invalid=true]").wait_for()
        page.click("#send-request")  # the script stops it: the field says why
        found += violations(page, "form with a field error (as typed)", lang)
        page.evaluate("() => document.getElementById('request-form').noValidate = true")
        page.evaluate("() => document.getElementById('request-form').submit()")  # past the script
        page.locator("#form-alert").wait_for()
        found += violations(page, "form with field errors (from the server)", lang)

        ask(page, BJORN, message="Ärende 4711")
        wait_state(page, "pending")
        found += violations(page, "waiting for the customer", lang)
        with live.think_time(30):  # a step of her app takes 30 s of the provider's clock
            live.phone("phone", {"personalNumber": BJORN})
        live.clock.advance(31)  # past "confirm the call": now she is asked to approve
        wait_state(page, "call_confirmed")
        found += violations(page, "the customer confirmed the call", lang)
        live.clock.advance(30)  # and she approves
        page.locator("#verified-name").wait_for()
        found += violations(page, "approved, with the verified name", lang)

        page.click("#new-request")
        ask(page, BJORN)
        live.phone("phone", {"personalNumber": BJORN, "action": "decline_call"})
        wait_state(page, "declined")
        page.locator("#new-request").wait_for()
        found += violations(page, "declined: not on a call", lang)

        page.click("#new-request")
        ask(page, AGNES)
        live.phone("phone", {"personalNumber": AGNES})
        wait_state(page, "cancelled")
        page.locator("#new-request").wait_for()
        found += violations(page, "cancelled", lang)

        page.click("#new-request")
        ask(page, TOVE)
        wait_state(page, "pending")
        expire(live)
        wait_state(page, "expired")
        page.locator("#new-request").wait_for()
        found += violations(page, "expired", lang)

        page.goto(f"{live.url}/console/history")
        page.locator("#history tbody tr").first.wait_for()
        found += violations(page, "history", lang)

        page.locator("#sign-out").click()
        confirm = page.locator("form[action='/logout/confirm'] button")
        confirm.wait_for()  # the provider asks (RP-initiated logout without id_token_hint)
        found += violations(page, "signing out: the provider asks", lang)
        confirm.click()
        page.locator("#console-sign-in").wait_for()  # back at the console
        assert page.locator("#sign-out").count() == 0
        assert (
            page.locator("#console-notice").inner_text()
            == {
                "sv": "Du är utloggad från konsolen.",
                "en": "You have signed out of the console.",
            }[lang]
        )
        found += violations(page, "signed out", lang)

        sign_in(page, live.url, live.url, CECILIA, tmp_path)  # the operator
        page.goto(f"{live.url}/console/operator")
        page.locator("#history tbody tr").first.wait_for()
        found += violations(page, "operator view", lang)
    finally:
        page.context.close()
    assert_accessible(found)
