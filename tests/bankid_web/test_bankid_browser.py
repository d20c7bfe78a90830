"""End to end in headless Chromium: an openid-client relying party sends the browser here, the
person logs in with BankID (QR code read from the screen's pixels, or the app opened on the
same device), and the relying party validates what it gets back. Every screen is saved, on a
computer and on a 360 px phone, in Swedish and English, to tests/artifacts/screenshots/."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlencode

import httpx
import pytest

from idp.bankid import texts  # noqa: F401  (registers the page texts)
from idp.web import i18n
from tests.bankid_web.live import (
    LiveProvider,
    RelyingParty,
    launch_chromium,
    need_browser_tools,
    need_node_rp,
    new_browser_page,
    read_qr,
    screenshots,
)
from tests.bankid_web.support import (
    AGNES_CANCELS,
    ANDROID_UA,
    ANNA,
    DESKTOP_UA,
    RP_SECRET,
    RUT_HIGH_RISK,
    form,
    pkce_pair,
    query,
)

pytestmark = pytest.mark.browser

ACR_ANY = "urn:grn:authn:se:bankid"
ACR_QR = "urn:grn:authn:se:bankid:qr"
ACR_SAME = "urn:grn:authn:se:bankid:same-device"
DEVICES = {
    "desktop": {"viewport": {"width": 1280, "height": 800}, "user_agent": DESKTOP_UA},
    "mobile": {
        "viewport": {"width": 360, "height": 740},
        "user_agent": ANDROID_UA,
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
}
TEXTS = {
    "sv": {"start": "Starta BankID-appen.", "sign": "Skriv in din säkerhetskod"},
    "en": {"start": "Start your BankID app.", "sign": "Enter your security code"},
}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    need_browser_tools()
    with LiveProvider(tmp_path_factory.mktemp("live")) as provider:
        yield provider


@pytest.fixture(scope="module")
def chromium(live):
    with launch_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def shots():
    return screenshots()


def new_page(chromium, device, lang, **options):
    return new_browser_page(chromium, lang, **DEVICES[device], **options)


def shot(page, shots, lang, device, name):
    page.screenshot(path=str(shots / f"{lang}-{device}-{name}.png"), full_page=True)


def authorize_url(live, **params) -> str:
    """An authorization request for screens the relying party does not need to check."""
    _, challenge = pkce_pair()
    q = {
        "response_type": "code",
        "client_id": "rp",
        "redirect_uri": live.rp_callback,
        "scope": "openid profile",
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }
    return f"{live.url}/authorize?{urlencode(q)}"


def pushed_authorize_url(live, **params) -> str:
    """An authorization request that names a person (login_hint): only a request its client
    authenticated may, so it is pushed first (RFC 9126) and sent as client_id + request_uri."""
    _, challenge = pkce_pair()
    q = {
        "response_type": "code",
        "client_id": "rp",
        "redirect_uri": live.rp_callback,
        "scope": "openid profile",
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }
    r = httpx.post(f"{live.url}/par", data=q, auth=("rp", RP_SECRET), timeout=10)
    assert r.status_code == 201, r.text
    return f"{live.url}/authorize?" + urlencode(
        {"client_id": "rp", "request_uri": r.json()["request_uri"]}
    )


@pytest.mark.node
@pytest.mark.parametrize(
    ("lang", "device"), [("sv", "desktop"), ("en", "desktop"), ("sv", "mobile"), ("en", "mobile")]
)
def test_qr_login_end_to_end_with_openid_client(live, chromium, shots, tmp_path, lang, device):
    need_node_rp()
    rp = RelyingParty(live, acr_values=ACR_ANY, ui_locales=lang)
    try:
        page = new_page(chromium, device, lang)
        page.goto(rp.authorization_url())
        if device == "mobile":
            # A phone's first page: the app one tap away, another device the secondary way.
            page.locator("#launch").wait_for()
            assert page.locator("html").get_attribute("lang") == lang
            shot(page, shots, lang, device, "01-first")
            page.click("button[value=qr]")
        # A computer's first page is the QR code itself, without a click.
        first = read_qr(page, tmp_path)
        assert page.locator("html").get_attribute("lang") == lang
        if device == "desktop":
            shot(page, shots, lang, device, "01-first")
        assert re.fullmatch(r"bankid\.[0-9a-f-]{36}\.\d+\.[0-9a-f]{64}", first), first
        assert page.locator("#status").inner_text() == TEXTS[lang]["start"]
        # The page-drawn code keeps the image's text alternative (on a phone: "your other
        # device", as the code is scanned with another one).
        alt_key = "bankid.qr_alt_other" if device == "mobile" else "bankid.qr_alt"
        qr_alt = i18n.translate(alt_key, lang)
        assert page.get_by_role("img", name=qr_alt, exact=True).is_visible()
        shot(page, shots, lang, device, "02-qr")
        if (lang, device) == ("sv", "desktop"):  # the code is replaced every second
            page.wait_for_timeout(1100)
            later = read_qr(page, tmp_path)
            assert later.split(".")[1] == first.split(".")[1]
            assert int(later.split(".")[2]) > int(first.split(".")[2])

        payload = read_qr(page, tmp_path)  # the frame a phone sees now
        scanned = live.phone("scan", {"qr": payload})
        assert scanned["flow"] == "qr"
        page.locator("#status[data-rfa=RFA9]").wait_for()
        assert TEXTS[lang]["sign"] in page.locator("#status").inner_text()
        assert page.locator("#qr").is_hidden()  # hidden once the app has picked it up
        shot(page, shots, lang, device, "03-signing")

        page.wait_for_url(f"{live.rp_callback}?**")
        callback = query(page.url)
        assert callback["code"] and callback["state"] and callback["iss"] == live.url
        result = rp.callback(page.url)
    finally:
        rp.close()
    claims = result["claims"]
    assert claims["acr"] == ACR_QR and claims["iss"] == live.url and claims["aud"] == "rp"
    assert claims["name"] == "Anna Andersson" and claims["ssn"] == ANNA
    assert result["userinfo"]["sub"] == claims["sub"]
    page.context.close()


@pytest.mark.node
@pytest.mark.parametrize("lang", ["sv", "en"])
def test_same_device_on_a_computer_end_to_end(live, chromium, shots, lang):
    need_node_rp()
    rp = RelyingParty(live, acr_values=ACR_SAME, ui_locales=lang)
    try:
        page = new_page(chromium, "desktop", lang)
        page.goto(rp.authorization_url())
        launch = page.locator("#launch")
        launch.wait_for()
        href = launch.get_attribute("href")
        assert href.startswith("bankid:///?autostarttoken=") and href.endswith("redirect=null")
        # The page opened the app itself once (the button stays), and is still here.
        page.wait_for_function(
            "() => Object.keys(sessionStorage).some(k => k.startsWith('bankid-launched-'))"
        )
        assert page.url.startswith(f"{live.url}/bankid/wait")
        assert page.locator("#status").get_attribute("data-rfa") == "RFA13"
        shot(page, shots, lang, "desktop", "04-same-device")

        opened = live.phone("autostart", {"autoStartToken": query(href)["autostarttoken"]})
        # Every same-device order carries a returnUrl with its nonce, on a computer too: the
        # BankID program opens it in the default browser, here the one that started.
        return_url = opened["returnUrl"]
        assert return_url.startswith(f"{live.url}/bankid/return?")
        page.goto(return_url)  # the same browser (its cookies), as the program opens it
        page.wait_for_url(f"{live.rp_callback}?**")
        result = rp.callback(page.url)
    finally:
        rp.close()
    assert result["claims"]["acr"] == ACR_SAME
    page.context.close()


@pytest.mark.node
@pytest.mark.parametrize("lang", ["sv", "en"])
def test_same_device_on_a_phone_returns_only_with_the_nonce_in_the_same_browser(
    live, chromium, shots, lang
):
    need_node_rp()
    rp = RelyingParty(live, acr_values=ACR_SAME, ui_locales=lang)
    try:
        page = new_page(chromium, "mobile", lang)
        page.goto(rp.authorization_url())
        launch = page.locator("#launch")
        launch.wait_for()
        href = launch.get_attribute("href")
        assert href.startswith("https://app.bankid.com/?autostarttoken=")
        shot(page, shots, lang, "mobile", "04-same-device")

        opened = live.phone("autostart", {"autoStartToken": query(href)["autostarttoken"]})
        return_url = opened["returnUrl"]
        assert return_url.startswith(f"{live.url}/bankid/return?")
        page.locator("#bankid[data-state=return]").wait_for(timeout=30_000)
        shot(page, shots, lang, "mobile", "05-return-wait")

        # Another browser (its own cookies) with the return URL is offered "Continue in this
        # browser" (issue 15, test_return_elsewhere_browser.py); opening it moves nothing, and
        # with a wrong nonce it is refused...
        stranger = new_page(chromium, "mobile", lang)
        assert stranger.goto(return_url).status == 200
        assert stranger.locator("form[action='/bankid/return/continue']").count() == 1
        refused = stranger.goto(return_url.replace("&n=", "&n=0"))
        assert refused.status == 403
        shot(stranger, shots, lang, "mobile", "06-return-refused")
        stranger.context.close()
        # ...and so is a return with the wrong nonce in the right browser.
        wrong = return_url.replace("&n=", "&n=0")
        assert page.context.new_page().goto(wrong).status == 403

        # The app opens the return URL in this browser (a new tab of the same session; the
        # waiting tab's own polling may navigate at any moment, so it is not reused here).
        returned = page.context.new_page()
        returned.goto(return_url)
        returned.wait_for_url(f"{live.rp_callback}?**")
        result = rp.callback(returned.url)
    finally:
        rp.close()
    assert result["claims"]["acr"] == ACR_SAME
    page.context.close()


@pytest.mark.parametrize(
    ("lang", "device"), [("sv", "desktop"), ("en", "desktop"), ("sv", "mobile"), ("en", "mobile")]
)
def test_screens_of_failures_cancel_and_no_javascript(
    live, chromium, shots, tmp_path, lang, device
):
    page = new_page(chromium, device, lang)

    # The person cancels in the app: RFA6, try again or cancel; cancel answers access_denied.
    page.goto(authorize_url(live, acr_values=ACR_QR, ui_locales=lang))
    live.phone("scan", {"qr": read_qr(page, tmp_path), "personalNumber": AGNES_CANCELS})
    page.locator("#status[data-rfa=RFA6]").wait_for()
    page.locator("#retry").wait_for()
    assert page.locator("#retry").evaluate("el => el === document.activeElement")
    shot(page, shots, lang, device, "07-failed-user-cancel")
    page.click("#retry")
    read_qr(page, tmp_path)  # a new order, a new QR code
    page.click("#cancel")
    page.wait_for_url(f"{live.rp_callback}?**")
    q = query(page.url)
    assert q["error"] == "access_denied" and q["state"] and q["iss"] == live.url

    # High risk: refused with a clear message.
    page.goto(authorize_url(live, acr_values=ACR_QR, ui_locales=lang))
    live.phone("scan", {"qr": read_qr(page, tmp_path), "personalNumber": RUT_HIGH_RISK})
    page.locator("#status[data-rfa=risk_denied]").wait_for(timeout=30_000)
    shot(page, shots, lang, device, "08-risk-denied")

    # alreadyInProgress: another login for the same person is going on; the page does not say
    # so (whoever typed the personal number would learn it), only that something went wrong.
    with httpx.Client(base_url=live.url, follow_redirects=True) as other:
        first = other.get(pushed_authorize_url(live, acr_values=ACR_QR, login_hint=ANNA))
        assert first.status_code == 200
        started = other.post("/bankid/start", data=form(first.text, "/bankid/start")["fields"])
        assert started.status_code == 200 and "/bankid/wait" in str(started.url)
    page.goto(pushed_authorize_url(live, acr_values=ACR_QR, ui_locales=lang, login_hint=ANNA))
    page.locator("#status[data-rfa=RFA22]").wait_for()
    shot(page, shots, lang, device, "09-already-in-progress")

    # The same-device screen at this size too (a computer's at 360 px, a phone's on a desktop).
    page.goto(authorize_url(live, acr_values=ACR_SAME, ui_locales=lang))
    page.locator("#launch").wait_for()
    shot(page, shots, lang, device, "10-same-device-other-agent")

    # A login that does not exist, or belongs to another browser.
    page.goto(f"{live.url}/bankid/wait?txn=unknown&lang={lang}")
    shot(page, shots, lang, device, "11-expired")
    page.context.close()

    # Without JavaScript the page says so plainly.
    quiet = new_page(chromium, device, lang, java_script_enabled=False)
    quiet.goto(authorize_url(live, acr_values=ACR_QR, ui_locales=lang))
    message = quiet.locator("noscript p, .noscript")
    assert "JavaScript" in quiet.content() and message.count() >= 1
    shot(quiet, shots, lang, device, "12-no-javascript")
    quiet.context.close()


@pytest.mark.parametrize(
    ("lang", "device"), [("sv", "desktop"), ("en", "desktop"), ("sv", "mobile"), ("en", "mobile")]
)
def test_demo_app_screens(live, chromium, shots, tmp_path, lang, device):
    page = new_page(chromium, device, lang)
    page.goto(f"{live.url}/demo/?lang={lang}")
    page.locator("#simulator-link").wait_for()
    shot(page, shots, lang, device, "13-demo")
    page.check("input[value=qr]")
    page.click("#demo-login")
    live.phone("scan", {"qr": read_qr(page, tmp_path)})
    page.wait_for_url(f"{live.url}/demo/callback?**", timeout=30_000)
    assert page.locator("#claims").is_visible() and page.locator("#userinfo").is_visible()
    assert "Anna Andersson" in page.locator("h1").inner_text()
    shot(page, shots, lang, device, "14-demo-result")
    page.context.close()
