"""Every way a BankID login can end: the RFA message the person sees, and what the app hears.

Scenario persons of the simulator and a fixed clock reach each branch on purpose (reference
sections 2.3, 3 and 7.3).
"""

import pytest

from tests.bankid_web.conftest import build_app, make_settings
from tests.bankid_web.support import (
    AGNES_CANCELS,
    ISSUER,
    RP_CB,
    RUT_HIGH_RISK,
    STURE_CERTIFICATE_ERR,
    TOVE_EXPIRES,
    Browser,
    autostart_token,
    launch_href,
    phone,
    poll_until,
    query,
    scan,
    simulator_book,
    status_text,
)

pytestmark = pytest.mark.anyio

ACR_QR = "urn:grn:authn:se:bankid:qr"
ACR_SAME = "urn:grn:authn:se:bankid:same-device"


async def cancel(b: Browser):
    """Press Cancel on the page; returns the redirect back to the app (after /authorize/resume)."""
    r = await b.submit("/bankid/cancel")
    assert r.status_code == 303 and r.headers["location"].startswith("/authorize/resume"), r.text
    back = await b.http.get(r.headers["location"])
    assert back.status_code == 303
    return back.headers["location"]


def assert_error(location, b, error):
    assert location.startswith(RP_CB + "?"), location
    q = query(location)
    assert q["error"] == error and q["state"] == b.state and q["iss"] == ISSUER, q
    assert "code" not in q
    return q


async def failed_page(b: Browser, clock, rfa):
    s = await poll_until(b, clock, "failed")
    assert s["rfa"] == rfa, s
    page = await b.get(f"/bankid/wait?txn={b.txn}")
    assert status_text(page.text)[0] == rfa
    assert 'role="alert"' in page.text and 'id="failure" class="actions" hidden' not in page.text
    return s


async def test_cancel_in_our_page_cancels_at_bankid_and_answers_access_denied(app, clock):
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    order_ref = next(iter(simulator_book(app)._orders))
    location = await cancel(b)
    assert_error(location, b, "access_denied")
    assert app.state.link.calls["cancel"] == 1
    book = simulator_book(app)
    assert book.collect(book.find(order_ref)).hint_code == "cancelled"
    assert (await b.status()).status_code == 404  # the login is over


async def test_cancel_on_the_choice_page_answers_access_denied(app):
    b = Browser(app)
    # The first page as a browser without script sees it (with script it starts the QR code).
    await b.get((await b.authorize()).headers["location"])
    assert_error(await cancel(b), b, "access_denied")
    assert app.state.link.calls["auth"] == 0


async def test_user_cancel_in_the_app_shows_rfa6_and_can_be_retried(app, clock):
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    await scan(app, b, action="cancel")
    s = await failed_page(b, clock, "RFA6")
    assert s["message"] == "Åtgärden avbröts." and s["qr"] is None

    retried = await b.submit("/bankid/retry")
    assert retried.status_code == 200 and status_text(retried.text)[0] == "RFA1"
    assert app.state.link.calls["auth"] == 2
    await scan(app, b)
    done = await poll_until(b, clock, "complete")
    assert "code" in query(await b.finish(done))


async def test_scenario_person_who_cancels_in_the_app_ends_in_access_denied(app, clock):
    b = Browser(app, lang="en")
    await b.open_login(acr_values=ACR_QR)
    await scan(app, b, personalNumber=AGNES_CANCELS)
    s = await failed_page(b, clock, "RFA6")
    assert s["message"] == "The action was cancelled."
    assert_error(await cancel(b), b, "access_denied")


async def test_start_failed_after_30_seconds_without_a_scan_is_rfa17b(app, clock):
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    clock.advance(29)
    assert (await b.status()).json()["rfa"] == "RFA1"
    clock.advance(2)
    s = await failed_page(b, clock, "RFA17B")
    assert "QR-koden" in s["message"]
    q = assert_error(await cancel(b), b, "access_denied")
    assert "never started" in q["error_description"]


async def test_start_failed_on_the_same_device_is_rfa17a(app, clock):
    b = Browser(app)
    await b.open_login(acr_values=ACR_SAME)
    clock.advance(31)
    await failed_page(b, clock, "RFA17A")


async def test_expired_transaction_is_rfa8(app, clock):
    b = Browser(app)
    await b.open_login(acr_values=ACR_SAME)
    href = launch_href(b.page.text)
    await phone(
        app, "autostart", {"autoStartToken": autostart_token(href), "personalNumber": TOVE_EXPIRES}
    )
    clock.advance(10)
    assert (await b.status()).json()["rfa"] == "RFA9"  # in the app, never finishing
    s = await failed_page(b, clock, "RFA8")
    assert "svarar inte" in s["message"]
    assert_error(await cancel(b), b, "access_denied")


async def test_certificate_error_is_rfa16(app, clock):
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    await scan(app, b, personalNumber=STURE_CERTIFICATE_ERR)
    await failed_page(b, clock, "RFA16")
    q = assert_error(await cancel(b), b, "access_denied")
    assert q["error_description"] == "The login was refused."


async def test_risk_blocked_by_bankid_is_rfa22(app, clock):
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    await scan(app, b, personalNumber="199505052457")
    await failed_page(b, clock, "RFA22")


async def test_high_risk_is_refused_with_a_clear_message(app, clock):
    b = Browser(app, lang="en")
    await b.open_login(acr_values=ACR_QR)
    assert app.state.link.bodies[-1]["returnRisk"] is True
    await scan(app, b, personalNumber=RUT_HIGH_RISK)
    s = await failed_page(b, clock, "risk_denied")
    assert s["message"].startswith("The login was stopped for security reasons.")
    q = assert_error(await cancel(b), b, "access_denied")
    assert q["error_description"] == "The login was refused."


async def test_the_risk_policy_is_configurable(sqlite_url, clock):
    settings = make_settings(sqlite_url, bankid={"deny_risk": []})
    app = build_app(settings, clock)
    async with app.router.lifespan_context(app):
        b = Browser(app)
        await b.open_login(acr_values=ACR_QR)
        await scan(app, b, personalNumber=RUT_HIGH_RISK)
        done = await poll_until(b, clock, "complete")
        assert "code" in query(await b.finish(done))


async def test_maintenance_on_collect_is_retried_quietly(app, clock):
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    app.state.link.fail("collect", 2)
    for _ in range(2):
        clock.advance(2)
        s = (await b.status()).json()
        assert s["state"] == "pending" and s["rfa"] == "RFA1" and s["qr"], s
    await scan(app, b)
    done = await poll_until(b, clock, "complete")
    assert "code" in query(await b.finish(done))


async def test_lasting_maintenance_shows_rfa5_and_answers_temporarily_unavailable(app, clock):
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    app.state.link.fail("collect", 3)
    s = await failed_page(b, clock, "RFA5")
    assert s["message"] == "Något gick fel. Försök igen."
    assert_error(await cancel(b), b, "temporarily_unavailable")


async def test_maintenance_when_starting_is_retried_quietly_then_rfa5(app, clock):
    app.state.link.fail("auth", 2)
    quiet = Browser(app)
    page = await quiet.open_login(acr_values=ACR_QR)
    assert 'id="qr-img"' in page.text and app.state.link.calls["auth"] == 3

    app.state.link.fail("auth", 3)
    loud = Browser(app)
    page = await loud.open_login(acr_values=ACR_QR)
    assert status_text(page.text)[0] == "RFA5"
    retried = await loud.submit("/bankid/retry")  # BankID is back
    assert 'id="qr-img"' in retried.text


async def test_internal_error_is_not_retried_and_shows_rfa5(app, clock):
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    app.state.link.fail("collect", 1, status=500, code="internalError")
    await failed_page(b, clock, "RFA5")
    assert app.state.link.calls["collect"] == 2  # the first page view, then the failing one
