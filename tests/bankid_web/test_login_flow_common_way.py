"""The login pages' flow (issue 15): the common way first (a computer: the QR code; a phone: the
app, one tap), switching ways never cancelling an order the person is approving, "Confirm in
the BankID app" after the scan, the QR code renewed quietly a bounded number of times, the
frames with their due times on the order's clock, help and anti-fraud advice on every screen,
phone-appropriate copy and the same-device page without script. In-process, a fixed clock."""

from __future__ import annotations

import re

import pytest

from idp.bankid.authenticator import FRAMES_AHEAD, QR_LIFETIME, QR_RENEWALS, engaged
from idp.bankid.orders import Snapshot
from idp.bankid.qr import parse_qr_payload, qr_payload
from idp.bankid.rfa import RFA, message
from tests.bankid_web.support import (
    ANDROID_UA,
    IPHONE_UA,
    Browser,
    autostart_token,
    form,
    forms,
    launch_href,
    order_record,
    phone,
    poll_until,
    query,
    scan,
    status_text,
)

pytestmark = pytest.mark.anyio

ACR_ANY = "urn:grn:authn:se:bankid"
ACR_QR = "urn:grn:authn:se:bankid:qr"
ACR_SAME = "urn:grn:authn:se:bankid:same-device"
HELP_URL = {
    "sv": "https://www.bankid.com/privat/hjalp",
    "en": "https://www.bankid.com/en/privat/hjalp",
}


async def first_page(b: Browser, **params):
    """The first page as it comes (its script then sends the common way's form)."""
    return await b.get((await b.authorize(**params)).headers["location"])


def start_forms(html: str) -> list[dict]:
    return [f for f in forms(html) if f["action"] == "/bankid/start"]


def heading(html: str) -> str:
    m = re.search(r'<h2 id="heading"[^>]*>([^<]*)</h2>', html)
    assert m, html[:3000]
    return m.group(1)


# ------------------------------------------------------------------------- the common way first


async def test_on_a_computer_the_first_page_starts_the_qr_code_by_itself(app):
    b = Browser(app)
    page = await first_page(b, acr_values=ACR_ANY)
    assert app.state.link.calls["auth"] == 0  # a GET starts nothing
    primary, secondary = start_forms(page.text)
    assert 'data-autosubmit="1"' in page.text and primary["fields"]["flow"] == "qr"
    assert secondary["buttons"] == [("flow", "same_device")]
    assert page.text.count('<script src="/static/js/bankid.js" defer></script>') == 1

    wait = await b.submit("/bankid/start")  # what the page's script sends
    assert 'id="qr-img"' in wait.text and 'data-qr="bankid.' in wait.text
    switch = form(wait.text, "/bankid/start")
    assert switch["buttons"] == [("flow", "same_device")]
    assert "Använd BankID på den här datorn i stället" in wait.text


@pytest.mark.parametrize("ua", [ANDROID_UA, IPHONE_UA])
async def test_on_a_phone_the_first_page_starts_the_app_order_so_one_tap_opens_it(app, clock, ua):
    b = Browser(app, ua=ua)
    page = await first_page(b)
    primary, secondary = start_forms(page.text)
    assert primary["fields"]["flow"] == "same_device" and 'data-autosubmit="1"' in page.text
    assert secondary["buttons"] == [("flow", "qr")]

    wait = await b.submit("/bankid/start")
    # The order is started: the page's one link opens the app with it, and the simulated app
    # receives it.
    href = launch_href(wait.text)
    assert href.startswith("https://app.bankid.com/?autostarttoken=")
    assert 'data-autostart="1"' not in wait.text
    assert form(wait.text, "/bankid/start")["buttons"] == [("flow", "qr")]
    assert "Använd BankID på en annan enhet i stället" in wait.text
    opened = await phone(app, "autostart", {"autoStartToken": autostart_token(href)})
    assert opened.status_code == 200


async def test_acr_values_still_force_one_way(app):
    page = await first_page(Browser(app, ua=ANDROID_UA), acr_values=ACR_QR)
    assert [f["fields"].get("flow") for f in start_forms(page.text)] == ["qr"]
    page = await first_page(Browser(app), acr_values=ACR_SAME)
    assert [f["fields"].get("flow") for f in start_forms(page.text)] == ["same_device"]


# ----------------------------------------------------- switching never cancels an engaged order


async def test_switching_before_the_scan_cancels_and_starts_the_other_way(app):
    b = Browser(app)
    await b.open_login(acr_values=ACR_ANY)
    old = await order_record(app, b)
    page = await b.choose("same_device")
    assert app.state.link.calls["auth"] == 2 and app.state.link.calls["cancel"] == 1
    assert launch_href(page.text).startswith("bankid:///")
    assert (await order_record(app, b))["order_ref"] != old["order_ref"]


async def test_switching_after_the_scan_is_refused_and_the_order_goes_on(app, clock):
    b = Browser(app)
    page = await b.open_login(acr_values=ACR_ANY)
    switch = form(page.text, "/bankid/start")
    await scan(app, b)
    clock.advance(2)
    scanned = (await b.status()).json()
    assert scanned["rfa"] == "RFA9" and scanned["engaged"] is True and scanned["qr"] is None

    # The page's old switch button (a stale page, or a second tab): the server refuses.
    r = await b.http.post("/bankid/start", data={**switch["fields"], "flow": "same_device"})
    assert r.status_code == 303 and r.headers["location"].startswith("/bankid/wait")
    assert app.state.link.calls["cancel"] == 0 and app.state.link.calls["auth"] == 1
    assert (await b.status()).json()["state"] == "pending"
    done = await poll_until(b, clock, "complete")
    assert query(await b.finish(done))["code"]


async def test_after_the_scan_the_page_says_confirm_in_the_app_without_qr_or_switch(app, clock):
    b = Browser(app, lang="en")
    page = await b.open_login(acr_values=ACR_ANY)
    assert heading(page.text) == "Scan the QR code with the BankID app"
    await scan(app, b)
    clock.advance(2)
    page = await b.get(f"/bankid/wait?txn={b.txn}")
    assert heading(page.text) == "Confirm in the BankID app"
    assert 'id="qr-img"' not in page.text and 'id="qr-steps"' not in page.text
    assert re.search(r'<form [^>]*id="switch" hidden>', page.text)
    assert 'data-engaged="true"' in page.text


async def test_a_phone_that_opened_the_app_is_not_cancelled_by_a_switch(app, clock):
    b = Browser(app, ua=ANDROID_UA)
    page = await b.open_login()
    switch = form(page.text, "/bankid/start")
    token = autostart_token(launch_href(page.text))
    opened = await phone(app, "autostart", {"autoStartToken": token})
    assert opened.status_code == 200
    clock.advance(2)
    assert (await b.status()).json()["engaged"] is True
    r = await b.http.post("/bankid/start", data={**switch["fields"], "flow": "qr"})
    assert r.status_code == 303 and app.state.link.calls["cancel"] == 0
    assert app.state.link.calls["auth"] == 1


# ------------------------------------------------------------------- the QR code's renewal


async def expire(b, clock):
    clock.advance(QR_LIFETIME + 1)
    return await poll_until(b, clock, "failed")


def renew_form(b) -> dict:
    return {**form(b.page.text, "/bankid/retry")["fields"], "renew": "1"}


async def test_an_expired_qr_code_is_renewed_without_a_click_up_to_the_limit(app, clock):
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    renew = renew_form(b)
    tokens = {(await order_record(app, b))["qr_start_token"]}
    for n in range(QR_RENEWALS):
        failed = await expire(b, clock)
        assert failed["rfa"] == "RFA17B" and failed["renew"] is True
        assert failed["renewals_left"] == QR_RENEWALS - n
        r = await b.http.post("/bankid/retry", data=renew)
        assert r.status_code == 200 and r.json() == {"renewed": True}
        s = (await b.status()).json()
        assert s["state"] == "pending" and s["qr"].startswith("bankid.")
        tokens.add(parse_qr_payload(s["qr"]).qr_start_token)
    assert len(tokens) == QR_RENEWALS + 1 and app.state.link.calls["auth"] == QR_RENEWALS + 1

    failed = await expire(b, clock)  # the limit: now the person is asked
    assert failed["renew"] is False and failed["renewals_left"] == 0
    r = await b.http.post("/bankid/retry", data=renew)
    assert r.status_code == 409 and r.json() == {"renewed": False}
    assert app.state.link.calls["auth"] == QR_RENEWALS + 1
    # A click on Try again starts afresh, with its renewals.
    page = await b.submit("/bankid/retry", html=b.page.text)
    assert status_text(page.text)[0] == "RFA1" and 'data-renewals-left="3"' in page.text


async def test_a_renewal_never_touches_a_pending_or_scanned_order(app, clock):
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    renew = renew_form(b)
    r = await b.http.post("/bankid/retry", data=renew)  # not expired: refused, untouched
    assert r.status_code == 409 and app.state.link.calls["cancel"] == 0
    await scan(app, b)
    clock.advance(2)
    r = await b.http.post("/bankid/retry", data=renew)
    assert r.status_code == 409 and app.state.link.calls["auth"] == 1
    assert (await b.status()).json()["state"] == "pending"
    # Cancelled in the app (failed, but scanned): not a QR code to renew either.
    other = Browser(app)
    await other.open_login(acr_values=ACR_QR)
    await scan(app, other, action="cancel")
    failed = await poll_until(other, clock, "failed")
    assert failed["rfa"] == "RFA6" and failed["renew"] is False
    r = await other.http.post("/bankid/retry", data=renew_form(other))
    assert r.status_code == 409
    # and without the page's CSRF token, nothing at all
    forged = await b.http.post("/bankid/retry", data={**renew, "csrf": "0" * 64})
    assert forged.status_code == 400


# ------------------------------------------------------------- frames on the order's clock


async def test_the_status_carries_the_next_frames_with_their_due_times(app, clock):
    b = Browser(app)
    page = await b.open_login(acr_values=ACR_QR)
    rec = await order_record(app, b)
    start = rec["received_at"]
    assert 'data-frames="[' in page.text and 'data-expires-ms="30000"' in page.text
    clock.set(start + 4.25)
    r = await b.status()
    s = r.json()
    assert s["elapsed_ms"] == 4250 and s["expires_ms"] == int(QR_LIFETIME * 1000)
    token, secret = rec["qr_start_token"], rec["qr_start_secret"]
    assert s["frames"] == [
        {"t": t, "due_ms": t * 1000, "qr": qr_payload(token, secret, t)}
        for t in range(4, 5 + FRAMES_AHEAD)
    ]
    assert s["qr"] == s["frames"][0]["qr"]
    assert secret not in r.text and rec["order_ref"] not in r.text
    await scan(app, b)
    clock.advance(2)
    assert (await b.status()).json()["frames"] == []  # no frames once scanned


# -------------------------------------------------------------------------- copy and help


@pytest.mark.parametrize("lang", ["sv", "en"])
async def test_help_and_anti_fraud_advice_on_every_screen(app, clock, lang):
    b = Browser(app, lang=lang)
    first = await first_page(b, acr_values=ACR_ANY)
    qr = await b.submit("/bankid/start")
    same = await Browser(app, lang=lang, ua=ANDROID_UA).open_login(acr_values=ACR_SAME)
    await scan(app, b, action="cancel")
    await poll_until(b, clock, "failed")
    failed = await b.get(f"/bankid/wait?txn={b.txn}")
    title = {"sv": "Problem att logga in?", "en": "Trouble logging in?"}[lang]
    for page in (first, qr, same, failed):
        assert '<details class="help" id="help">' in page.text and title in page.text
        assert f'href="{HELP_URL[lang]}"' in page.text
    assert 'id="fraud-qr"' in qr.text and 'id="fraud-app"' in same.text
    cancel = {"sv": "avbryt", "en": "cancel"}[lang]
    for page, key in ((qr, "fraud-qr"), (same, "fraud-app")):
        advice = re.search(rf'<p class="fraud" id="{key}">([^<]+)</p>', page.text)[1]
        assert cancel in advice.lower()


async def test_copy_typos_are_corrected_and_keep_their_numbers():
    assert "giltigt BankID" in message(RFA.RFA15B).sv and "gitligt" not in message(RFA.RFA15B).sv
    assert "your ID document" in message(RFA.RFA23).en


async def test_on_a_phone_rfa13_is_not_shown_and_the_qr_steps_say_other_device(app):
    b = Browser(app, ua=ANDROID_UA)
    page = await b.open_login(acr_values=ACR_SAME)
    assert status_text(page.text) == ("RFA1", "Starta BankID-appen.")
    assert "Försöker starta" not in page.text
    qr = await Browser(app, ua=IPHONE_UA, lang="en").open_login(acr_values=ACR_QR)
    assert "your phone" not in qr.text and "on your other device" in qr.text
    desktop = await Browser(app).open_login(acr_values=ACR_SAME)
    assert status_text(desktop.text)[0] == "RFA13"


# ------------------------------------------------------------------ same device without script


async def test_the_same_device_page_works_without_script(app, clock):
    b = Browser(app, ua=ANDROID_UA)
    page = await b.open_login(acr_values=ACR_SAME)
    # The launch link is a plain link, not inside the part only script shows.
    assert not re.search(r'class="needs-js[^"]*">\s*<a id="launch"', page.text)
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page.text
    assert f'href="/bankid/wait?txn={b.txn}" id="continue"' in page.text
    assert "kräver JavaScript" not in page.text
    href = launch_href(page.text)
    opened = await phone(app, "autostart", {"autoStartToken": autostart_token(href)})
    await poll_until(b, clock, "return")
    back = await b.http.get(opened.json()["returnUrl"].removeprefix("https://id.example.com"))
    assert back.status_code == 303
    # The reload (the refresh, or the Continue link) moves on without script.
    r = await b.http.get(f"/bankid/wait?txn={b.txn}")
    assert r.status_code == 303 and r.headers["location"].startswith("/bankid/done")


def test_an_order_never_collected_is_not_taken_for_one_the_app_has():
    """A switch may cancel an order no collect has told us about yet (no hint: nothing says
    the app has it); once a hint says the app has it, or the order completed, it may not."""
    assert not engaged(Snapshot("o", {}, None))
    assert not engaged(Snapshot("o", {"hint": "outstandingTransaction"}, None))
    assert engaged(Snapshot("o", {"hint": "userSign"}, None))
    assert engaged(Snapshot("o", {}, {"status": "complete", "hint": None}))
