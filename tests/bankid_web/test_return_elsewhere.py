"""The BankID app returning to another browser than the one that started (issue 15).

iOS opens an https returnUrl in Safari whatever browser started: Chrome, Firefox and Edge on iOS
get their own scheme instead. When the return still lands in another browser, that browser
shows what happened and offers "Continue in this browser" (a POST with the nonce, once), which
moves the login there; the starting browser then cannot finish it, and its page says the login
continued elsewhere. Without any return for a while, the starting page says the app may have
opened another browser. A wrong or missing nonce is refused as before."""

from urllib.parse import quote

import pytest

from idp.bankid.launch import detect_browser, return_url_for
from idp.bankid.simulator.orders import browser_url
from tests.bankid_web.support import (
    ANDROID_UA,
    DESKTOP_UA,
    IPHONE_UA,
    ISSUER,
    RP_CB,
    Browser,
    autostart_token,
    form,
    launch_href,
    phone,
    poll_until,
    query,
)

pytestmark = pytest.mark.anyio

ACR_SAME = "urn:grn:authn:se:bankid:same-device"
IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko)"
)
IOS_CHROME_UA = f"{IOS} CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1"
IOS_FIREFOX_UA = f"{IOS} FxiOS/127.0 Mobile/15E148 Safari/605.1.15"
IOS_EDGE_UA = f"{IOS} EdgiOS/126.2592.56 Version/17.0 Mobile/15E148 Safari/604.1"


# ------------------------------------------------------------------ the return URL on iOS


@pytest.mark.parametrize(
    ("ua", "prefix"),
    [
        (IOS_CHROME_UA, "googlechromes://id.example.com/bankid/return?"),
        (IOS_FIREFOX_UA, "firefox://open-url?url=" + quote(f"{ISSUER}/bankid/return?", safe="")),
        (IOS_EDGE_UA, "microsoft-edge-https://id.example.com/bankid/return?"),
        (IPHONE_UA, f"{ISSUER}/bankid/return?"),  # Safari: the https URL opens in it
        (ANDROID_UA, f"{ISSUER}/bankid/return?"),
        (DESKTOP_UA, f"{ISSUER}/bankid/return?"),
    ],
)
async def test_ios_browsers_get_their_own_scheme_in_the_return_url_with_the_nonce(app, ua, prefix):
    b = Browser(app, ua=ua)
    page = await b.open_login(acr_values=ACR_SAME)
    sent = app.state.link.bodies[-1]["returnUrl"]
    assert sent.startswith(prefix), sent
    assert len(sent) <= 512
    # What the browser opens is our https return URL, with this login and its nonce.
    opens = browser_url(sent)
    assert opens.startswith(f"{ISSUER}/bankid/return?")
    assert query(opens)["txn"] == b.txn and len(query(opens)["n"]) >= 32
    # The simulator's app says what it opens, so a test browser can follow it.
    opened = await phone(
        app, "autostart", {"autoStartToken": autostart_token(launch_href(page.text))}
    )
    assert opened.json()["returnUrl"] == sent
    assert opened.json().get("opensUrl", sent) == opens


def test_the_return_url_is_only_rewritten_on_ios_for_https():
    url = "https://idp.test/bankid/return?txn=a&n=b"
    assert return_url_for(url, IOS_CHROME_UA) == "googlechromes://idp.test/bankid/return?txn=a&n=b"
    assert (
        return_url_for("http://127.0.0.1:8000/r?n=b", IOS_CHROME_UA)
        == "http://127.0.0.1:8000/r?n=b"
    )
    assert return_url_for(url, None) == url
    assert browser_url(return_url_for(url, IOS_FIREFOX_UA)) == url
    assert [detect_browser(u) for u in (IOS_CHROME_UA, IOS_EDGE_UA, IPHONE_UA, DESKTOP_UA)] == [
        "Chrome",
        "Edge",
        "Safari",
        "Chrome",
    ]


# ------------------------------------------------------------------ the other browser


async def _completed_same_device(app, clock, *, ua=DESKTOP_UA):
    """A same-device login complete at BankID, waiting for its return; (browser, return URL)."""
    started = Browser(app, ua=ua)
    page = await started.open_login(acr_values=ACR_SAME)
    opened = await phone(
        app, "autostart", {"autoStartToken": autostart_token(launch_href(page.text))}
    )
    assert opened.status_code == 200, opened.text
    await poll_until(started, clock, "return")
    return started, browser_url(opened.json()["returnUrl"])


async def test_the_other_browser_continues_the_login_and_the_starting_one_cannot(app, clock):
    started, return_url = await _completed_same_device(app, clock)
    other = Browser(app, ua=IPHONE_UA, ip="203.0.113.5")  # Safari on the same device

    page = await other.http.get(return_url.removeprefix(ISSUER))
    assert page.status_code == 200, page.text
    assert "Du har identifierat dig med BankID" in page.text
    assert "startades i Chrome" in page.text  # the starting browser, by name
    assert "Test RP" in page.text
    assert "Problem att logga in?" in page.text  # help, as on every BankID screen
    assert page.headers["cache-control"] == "no-store"
    assert "bankid.return_refused" not in page.text and "hör inte till" not in page.text
    cont = form(page.text, "/bankid/return/continue")
    assert ("n", query(return_url)["n"]) in cont["fields"].items()
    # Nothing moved by the GET: the starting browser still waits for its return.
    assert (await started.status()).json()["state"] == "return"

    moved = await other.http.post("/bankid/return/continue", data=cont["fields"])
    assert moved.status_code == 303 and moved.headers["location"].startswith("/bankid/done?")
    done = await other.http.get(moved.headers["location"])
    assert done.status_code == 303, done.text
    back = await other.http.get(done.headers["location"])  # /authorize/resume
    assert back.status_code == 303 and back.headers["location"].startswith(RP_CB + "?")
    q = query(back.headers["location"])
    assert q["state"] == started.state and q["code"]

    # The starting browser: its page says where the login went; it can finish nothing.
    status = (await started.status()).json()
    assert status["state"] == "failed" and status["rfa"] == "return_moved"
    assert "fortsatte i en annan webbläsare" in status["message"]
    assert status["next"] is None
    refused = await started.http.get(f"/bankid/done?txn={started.txn}")
    assert refused.status_code == 400  # expired or another browser's: never the RP
    assert (await started.http.get(return_url.removeprefix(ISSUER))).status_code == 403
    resume = await started.http.get(f"/authorize/resume?txn={started.txn}")
    assert RP_CB not in resume.headers.get("location", "")


async def test_the_starting_browser_cannot_finish_once_the_login_moved(app, clock):
    """The relayed login: an attacker's browser started, the victim's app returned to the
    victim's browser, which continued. The attacker's browser gets nothing, even if it later
    held the return URL."""
    attacker, return_url = await _completed_same_device(app, clock)
    victim = Browser(app, ua=IPHONE_UA, ip="198.51.100.20")
    page = await victim.http.get(return_url.removeprefix(ISSUER))
    await victim.http.post(
        "/bankid/return/continue", data=form(page.text, "/bankid/return/continue")["fields"]
    )

    for path in ("/bankid/wait", "/bankid/done"):
        r = await attacker.http.get(path, params={"txn": attacker.txn})
        assert r.status_code == 400, (path, r.status_code)
    late = await attacker.http.get(return_url.removeprefix(ISSUER))
    assert late.status_code == 403
    retry = await attacker.http.post("/bankid/cancel", data={"txn": attacker.txn, "csrf": "x"})
    assert retry.status_code == 400
    # The victim's browser still finishes (the attacker's cancel did not end the login).
    done = await victim.http.get(f"/bankid/done?txn={attacker.txn}")
    assert done.status_code == 303 and done.headers["location"].startswith("/authorize/resume")


async def test_a_wrong_or_missing_nonce_is_refused_in_another_browser(app, clock):
    started, return_url = await _completed_same_device(app, clock)
    other = Browser(app, ua=IPHONE_UA)
    n = query(return_url)["n"]
    for params in ({"txn": started.txn, "n": "x" * len(n)}, {"txn": started.txn}, {"n": n}):
        r = await other.http.get("/bankid/return", params=params)
        assert r.status_code == 403 and "hör inte till den här webbläsaren" in r.text

    # A POST with a wrong nonce, even with this browser's valid CSRF token, moves nothing.
    page = await other.http.get(return_url.removeprefix(ISSUER))
    fields = form(page.text, "/bankid/return/continue")["fields"]
    for wrong in ("x" * len(n), ""):
        r = await other.http.post("/bankid/return/continue", data={**fields, "n": wrong})
        assert r.status_code == 403
    # Without the CSRF token, or from a browser without its cookie (a cross-site form): 400.
    r = await other.http.post("/bankid/return/continue", data={**fields, "csrf": ""})
    assert r.status_code == 400
    stranger = Browser(app, ua=IPHONE_UA)
    r = await stranger.http.post("/bankid/return/continue", data=fields)
    assert r.status_code == 400
    assert (await started.status()).json()["state"] == "return"  # nothing moved


async def test_the_nonce_moves_a_login_once(app, clock):
    _started, return_url = await _completed_same_device(app, clock)
    other = Browser(app, ua=IPHONE_UA)
    page = await other.http.get(return_url.removeprefix(ISSUER))
    fields = form(page.text, "/bankid/return/continue")["fields"]
    third = Browser(app, ua=IPHONE_UA)
    third_page = await third.http.get(return_url.removeprefix(ISSUER))
    third_fields = form(third_page.text, "/bankid/return/continue")["fields"]

    first = await other.http.post("/bankid/return/continue", data=fields)
    assert first.status_code == 303
    again = await other.http.post("/bankid/return/continue", data=fields)
    assert again.status_code == 403
    # Another browser with the same nonce (and its own valid page): refused too.
    assert (await third.http.post("/bankid/return/continue", data=third_fields)).status_code == 403
    assert (await third.http.get(return_url.removeprefix(ISSUER))).status_code == 403
    # The one that moved it goes on.
    done = await other.http.get(first.headers["location"])
    assert done.status_code == 303 and done.headers["location"].startswith("/authorize/resume")


async def test_no_move_after_the_return_reached_the_starting_browser(app, clock):
    started, return_url = await _completed_same_device(app, clock)
    other = Browser(app, ua=IPHONE_UA)
    page = await other.http.get(return_url.removeprefix(ISSUER))
    fields = form(page.text, "/bankid/return/continue")["fields"]
    assert (await started.http.get(return_url.removeprefix(ISSUER))).status_code == 303
    assert (await other.http.post("/bankid/return/continue", data=fields)).status_code == 403
    assert (await started.status()).json()["state"] == "complete"


async def test_a_return_before_the_completion_is_collected_waits_for_it(app, clock):
    """The app returns as it completes; our collect may not have seen it yet: the page is
    shown, and "Continue" moves nothing until the order is complete here."""
    started = Browser(app)
    page = await started.open_login(acr_values=ACR_SAME)
    opened = await phone(
        app, "autostart", {"autoStartToken": autostart_token(launch_href(page.text))}
    )
    return_url = opened.json()["returnUrl"]
    other = Browser(app, ua=IPHONE_UA)
    shown = await other.http.get(return_url.removeprefix(ISSUER))  # still pending here
    assert shown.status_code == 200
    fields = form(shown.text, "/bankid/return/continue")["fields"]
    early = await other.http.post("/bankid/return/continue", data=fields)
    assert early.status_code == 200 and "inte bekräftat inloggningen ännu" in early.text
    assert (await started.status()).json()["state"] in ("pending", "return")
    await poll_until(started, clock, "return")
    later = await other.http.post("/bankid/return/continue", data=fields)
    assert later.status_code == 303


async def test_the_returned_page_is_in_english_too(app, clock):
    _started, return_url = await _completed_same_device(app, clock)
    other = Browser(app, ua=IPHONE_UA, lang="en")
    page = await other.http.get(return_url.removeprefix(ISSUER) + "&lang=en")
    assert "You have identified yourself with BankID" in page.text
    assert "Continue in this browser" in page.text and "started in Chrome" in page.text
    assert "Trouble logging in?" in page.text


# ------------------------------------------------------------------ the starting browser


async def test_the_starting_page_says_when_no_return_came_and_offers_to_start_again(app, clock):
    started, _ = await _completed_same_device(app, clock)
    clock.advance(5)
    assert (await started.status()).json()["state"] == "return"
    clock.advance(5)
    late = (await started.status()).json()
    assert late["state"] == "failed" and late["rfa"] == "return_elsewhere"
    assert "Öppnade BankID-appen en annan webbläsare?" in late["message"]
    page = await started.get(f"/bankid/wait?txn={started.txn}")
    assert "Öppnade BankID-appen en annan webbläsare?" in page.text
    # "Try again" starts a new order here.
    before = len(app.state.link.bodies)
    again = await started.submit("/bankid/retry")
    assert again.status_code == 200 and len(app.state.link.bodies) == before + 1
    assert (await started.status()).json()["state"] == "pending"
