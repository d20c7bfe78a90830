"""The BankID login pages, in-process: the choice, QR and same-device flows, the acr they yield,
the returnUrl of same-device orders, login_hint, language and the no-JavaScript message."""

from dataclasses import replace

import jwt
import pytest

from tests.bankid_web.conftest import build_app
from tests.bankid_web.support import (
    ANDROID_UA,
    ANNA,
    IPHONE_UA,
    ISSUER,
    RP_CB,
    Browser,
    autostart_token,
    forms,
    launch_href,
    phone,
    poll_until,
    query,
    scan,
    status_text,
)

pytestmark = pytest.mark.anyio

ACR_QR = "urn:grn:authn:se:bankid:qr"
ACR_SAME = "urn:grn:authn:se:bankid:same-device"


def id_token_claims(tokens):
    return jwt.decode(tokens["id_token"], options={"verify_signature": False})


async def test_qr_login_through_the_choice_ends_with_acr_qr_and_bankid_claims(wired_app, clock):
    b = Browser(wired_app)
    first = await b.authorize(acr_values="urn:grn:authn:se:bankid")
    page = await b.get(first.headers["location"])
    assert page.status_code == 200
    # On a computer the QR code comes first: the page's script posts its form (flow=qr) at
    # once; this computer is the secondary way, a button in its own form.
    primary, secondary = (f for f in forms(page.text) if f["action"] == "/bankid/start")
    assert 'data-autosubmit="1"' in page.text and primary["fields"]["flow"] == "qr"
    assert secondary["buttons"] == [("flow", "same_device")]
    page = await b.submit("/bankid/start")
    assert page.status_code == 200 and 'id="qr-img"' in page.text
    assert status_text(page.text) == ("RFA1", "Starta BankID-appen.")
    assert (await b.status()).json()["qr"].startswith("bankid.")  # the frame; the page draws it

    await scan(wired_app, b)
    clock.advance(2)
    signing = (await b.status()).json()
    assert signing["state"] == "pending" and signing["rfa"] == "RFA9" and signing["qr"] is None
    done = await poll_until(b, clock, "complete")
    location = await b.finish(done)

    assert location.startswith(RP_CB + "?")
    q = query(location)
    assert q["state"] == b.state and q["iss"] == ISSUER and q["code"]
    claims = id_token_claims(await b.token(q["code"]))
    assert claims["acr"] == ACR_QR and claims["amr"] == ["mfa"]
    assert claims["name"] == "Anna Andersson" and claims["given_name"] == "Anna"
    assert claims["family_name"] == "Andersson" and claims["birthdate"] == "1985-01-01"
    assert claims["ssn"] == ANNA and claims["bankid_issue_date"] == "2023-01-01"
    assert claims["bankid_risk"] == "low" and claims["bankid_signature"]
    assert claims["bankid_ocsp_response"]


async def test_acr_values_naming_one_way_skip_the_choice(app):
    qr = Browser(app)
    page = await qr.open_login(acr_values=ACR_QR)
    assert 'id="qr-img"' in page.text and 'action="/bankid/start" class="choice"' not in page.text
    assert 'value="same_device"' not in page.text  # no way to switch to a way not allowed

    same = Browser(app)
    page = await same.open_login(acr_values=ACR_SAME)
    assert launch_href(page.text).startswith("bankid:///?autostarttoken=")
    assert 'id="qr-img"' not in page.text
    assert status_text(page.text)[0] == "RFA13"

    both = Browser(app)
    first = await both.authorize(acr_values=f"{ACR_QR} {ACR_SAME}")
    page = await both.get(first.headers["location"])
    assert 'class="choice"' in page.text and "data-autosubmit" in page.text


async def first_page(b):
    """The first page as it comes, before its script sends the common way's form."""
    return await b.get((await b.authorize()).headers["location"])


async def test_the_choice_question_is_rfa19_on_a_computer_and_rfa20_on_a_phone(app):
    desktop = await first_page(Browser(app))
    assert "Vill du använda BankID på den här datorn eller ett Mobilt BankID?" in desktop.text
    mobile = await first_page(Browser(app, ua=IPHONE_UA))
    assert "Vill du använda BankID på den här enheten eller på en annan enhet?" in mobile.text
    assert "BankID på den här enheten" in mobile.text


async def test_same_device_on_a_computer_launches_the_desktop_app(app, clock):
    b = Browser(app)
    page = await b.open_login(acr_values=ACR_SAME)
    href = launch_href(page.text)
    assert href.startswith("bankid:///?autostarttoken=") and href.endswith("&redirect=null")
    assert 'data-autostart="1"' in page.text  # opened automatically, and always a button

    opened = await phone(app, "autostart", {"autoStartToken": autostart_token(href)})
    # BankID's program on a computer opens the returnUrl too: the order counts once it is back.
    return_url = opened.json()["returnUrl"]
    assert opened.status_code == 200 and return_url.startswith(f"{ISSUER}/bankid/return?")
    clock.advance(0.5)
    clock.advance(2)
    assert (await b.status()).json()["rfa"] in ("RFA15A", "RFA9")
    await poll_until(b, clock, "return")
    back = await b.http.get(return_url.removeprefix(ISSUER))
    assert back.status_code == 303
    done = await poll_until(b, clock, "complete")
    q = query(await b.finish(done))
    assert id_token_claims(await b.token(q["code"]))["acr"] == ACR_SAME


async def test_same_device_on_a_phone_needs_the_return_with_its_nonce_in_the_same_browser(
    app, clock
):
    b = Browser(app, ua=ANDROID_UA)
    page = await b.open_login(acr_values=ACR_SAME)
    href = launch_href(page.text)
    assert href.startswith("https://app.bankid.com/?autostarttoken=")
    assert 'data-autostart="1"' not in page.text  # Android opens apps only on a tap

    opened = await phone(app, "autostart", {"autoStartToken": autostart_token(href)})
    return_url = opened.json()["returnUrl"]
    assert return_url.startswith(f"{ISSUER}/bankid/return?")
    assert query(return_url)["txn"] == b.txn and len(query(return_url)["n"]) >= 32

    waiting = await poll_until(b, clock, "return")  # complete at BankID, but not returned yet
    assert waiting["next"] is None and "BankID-appen" in waiting["message"]
    assert (
        (await b.http.get(f"/bankid/done?txn={b.txn}"))
        .headers["location"]
        .startswith("/bankid/wait")
    )

    wrong = await b.http.get("/bankid/return", params={"txn": b.txn, "n": "x" * 32})
    assert wrong.status_code == 403 and "hör inte till den här webbläsaren" in wrong.text
    other = Browser(app, ua=ANDROID_UA, ip="203.0.113.99")
    stranger = await other.http.get(return_url.removeprefix(ISSUER))
    # Another browser with the right nonce is offered "Continue in this browser" (issue 15,
    # test_return_elsewhere.py); opening the return there moves nothing by itself.
    assert stranger.status_code == 200 and 'action="/bankid/return/continue"' in stranger.text
    assert (await b.status()).json()["state"] == "return"

    back = await b.http.get(return_url.removeprefix(ISSUER))
    assert back.status_code == 303 and back.headers["location"].startswith("/bankid/wait")
    done = (await b.status()).json()
    assert done["state"] == "complete"
    q = query(await b.finish(done))
    assert q["state"] == b.state
    assert id_token_claims(await b.token(q["code"]))["acr"] == ACR_SAME


async def test_on_an_iphone_the_app_link_opens_on_a_tap(app):
    page = await Browser(app, ua=IPHONE_UA).open_login(acr_values=ACR_SAME)
    assert launch_href(page.text).startswith("https://app.bankid.com/?autostarttoken=")
    assert 'data-autostart="1"' not in page.text
    assert app.state.link.bodies[-1]["returnUrl"].startswith(f"{ISSUER}/bankid/return?")


async def test_login_hint_with_a_personal_number_restricts_the_order_but_keeps_the_qr(
    settings, clock
):
    bjorn = "197203152397"
    for hint in (f"sub:{bjorn}", bjorn):
        # The hint as the core hands it over (which requests may name a person is the
        # authorization request's checks' business, tests/oidc/test_par.py).
        app = build_app(settings, clock, login=lambda login, h=hint: replace(login, login_hint=h))
        async with app.router.lifespan_context(app):
            b = Browser(app)
            page = await b.open_login(acr_values=ACR_QR)
            assert app.state.link.bodies[-1]["requirement"] == {"personalNumber": bjorn}
            assert 'id="qr-img"' in page.text  # the QR code still starts the order
            assert bjorn not in page.text
            refused = await phone(app, "scan", {"qr": await _frame(app, b), "personalNumber": ANNA})
            assert refused.status_code == 403
            assert refused.json()["error"] == "personal_number_mismatch"
            await scan(app, b)  # as the required person
            done = await poll_until(b, clock, "complete")
            q = query(await b.finish(done))
            assert id_token_claims(await b.token(q["code"]))["ssn"] == bjorn


async def _frame(app, b):
    from tests.bankid_web.support import current_frame

    return await current_frame(app, b)


async def test_a_login_hint_that_is_not_a_valid_personal_number_is_ignored(app):
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR, login_hint="198501012383")  # wrong check digit
    sent = app.state.link.calls["auth"]
    assert sent == 1
    assert "requirement" not in app.state.link.bodies[-1]


async def test_language_from_ui_locales_then_accept_language_with_a_visible_switch(app):
    english = await Browser(app).open_login(ui_locales="en sv")
    assert '<html lang="en">' in english.text and "Log in with BankID" in english.text
    assert "På svenska" in english.text  # the switch, in the other language

    accept = await Browser(app, lang="en-GB,en;q=0.8").open_login()
    assert '<html lang="en">' in accept.text
    ui_wins = await Browser(app, lang="en").open_login(ui_locales="sv")
    assert '<html lang="sv">' in ui_wins.text
    default = await Browser(app).open_login()
    assert '<html lang="sv">' in default.text and "In English" in default.text

    b = Browser(app)
    page = await b.open_login(acr_values=ACR_QR)
    assert (await b.status()).json()["message"] == "Starta BankID-appen."
    switched = await b.get(f"/bankid/wait?txn={b.txn}&lang=en")
    assert '<html lang="en">' in switched.text and "Start your BankID app." in switched.text
    assert (await b.status()).json()["message"] == "Start your BankID app."
    again = await b.get(f"/bankid/wait?txn={b.txn}")  # the choice holds for this login
    assert '<html lang="en">' in again.text
    assert page.status_code == 200


async def test_pages_need_javascript_and_say_so_plainly_without_it(app):
    b = Browser(app)
    page = await b.open_login(acr_values=ACR_QR)
    assert "<noscript>" in page.text and "kräver JavaScript" in page.text
    assert '<script src="/static/js/bankid.js" defer></script>' in page.text
    # and the QR encoder the page draws with, before it (deferred scripts run in order)
    encoder = '<script src="/static/js/vendor/qrcode-generator.js" defer></script>'
    assert page.text.index(encoder) < page.text.index('<script src="/static/js/bankid.js"')
    assert page.text.count("<script") == 2 and " style=" not in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    js = await b.http.get("/static/js/bankid.js")
    assert js.status_code == 200 and 'getAttribute("data-status-url")' in js.text
    vendored = await b.http.get("/static/js/vendor/qrcode-generator.js")
    assert vendored.status_code == 200 and "Copyright (c) 2009 Kazuhiko Arase" in vendored.text
    assert "MIT License" in vendored.text
