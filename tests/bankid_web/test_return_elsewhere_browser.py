"""The BankID app returning to a second browser, in Chromium (issue 15): two browser contexts
(their own cookies), as a phone's browser that started the login and Safari, which iOS opens
for an https return URL. Both end in a clear state: the second continues to the relying party,
the first says the login continued in another browser and offers a way on."""

from __future__ import annotations

import pytest

from tests.bankid_web.live import (
    LiveProvider,
    RelyingParty,
    launch_chromium,
    need_browser_tools,
    need_node_rp,
    new_browser_page,
    screenshots,
)
from tests.bankid_web.support import IPHONE_UA, query
from tests.bankid_web.test_accessibility import AXE, violations

pytestmark = pytest.mark.browser

ACR_SAME = "urn:grn:authn:se:bankid:same-device"
# A browser on iOS that has no scheme of its own for the return: iOS opens the https return
# URL in Safari.
IOS_DUCKDUCKGO_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 DuckDuckGo/7 Safari/605.1.15"
)
PHONE = {
    "viewport": {"width": 360, "height": 740},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
TEXTS = {
    "sv": {
        "title": "Du har identifierat dig med BankID",
        "started": "Inloggningen startades i DuckDuckGo",
        "continue": "Fortsätt i den här webbläsaren",
        "moved": "Inloggningen fortsatte i en annan webbläsare",
        "back": "Gå tillbaka till tjänsten",
    },
    "en": {
        "title": "You have identified yourself with BankID",
        "started": "The login was started in DuckDuckGo",
        "continue": "Continue in this browser",
        "moved": "The login continued in another browser",
        "back": "Go back to the service",
    },
}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    need_browser_tools()
    with LiveProvider(tmp_path_factory.mktemp("live"), think_time=1.0) as provider:
        yield provider


@pytest.fixture(scope="module")
def chromium(live):
    with launch_chromium() as browser:
        yield browser


@pytest.mark.node
@pytest.mark.parametrize("lang", ["sv", "en"])
def test_the_app_returning_to_a_second_browser_ends_clearly_in_both(live, chromium, lang):
    need_node_rp()
    shots = screenshots()
    words = TEXTS[lang]
    rp = RelyingParty(live, acr_values=ACR_SAME, ui_locales=lang)
    # bypass_csp: only for the injected axe-core (the pages' CSP would refuse it).
    first = new_browser_page(chromium, lang, user_agent=IOS_DUCKDUCKGO_UA, bypass_csp=True, **PHONE)
    second = new_browser_page(chromium, lang, user_agent=IPHONE_UA, bypass_csp=True, **PHONE)
    found: list[str] = []
    try:
        first.goto(rp.authorization_url())
        launch = first.locator("#launch")
        launch.wait_for()
        href = launch.get_attribute("href")
        assert href.startswith("https://app.bankid.com/?autostarttoken=")

        # The app completes the order and opens the return URL, which iOS hands to Safari.
        opened = live.phone("autostart", {"autoStartToken": query(href)["autostarttoken"]})
        return_url = opened.get("opensUrl", opened["returnUrl"])
        assert return_url.startswith(f"{live.url}/bankid/return?")
        first.locator("#bankid[data-state=return]").wait_for(timeout=30_000)

        # The second browser: says what happened, names where it started, and offers a way on.
        assert second.goto(return_url).status == 200
        second.get_by_role("heading", name=words["title"]).wait_for()
        assert words["started"] in second.locator("main").inner_text()
        shots_name = f"{lang}-mobile-07-return-elsewhere"
        second.screenshot(path=str(shots / f"{shots_name}.png"), full_page=True)
        if AXE.exists():
            found += violations(second, "return in another browser", lang)
        second.get_by_role("button", name=words["continue"]).click()
        second.wait_for_url(f"{live.rp_callback}?**")
        result = rp.callback(second.url)

        # The first browser: a final state saying the login continued elsewhere, and a way on.
        first.locator("#bankid[data-state=failed]").wait_for(timeout=15_000)
        status = first.locator("#status")
        assert status.get_attribute("data-rfa") == "return_moved"
        assert words["moved"] in status.inner_text()
        retry = first.locator("#retry")
        assert retry.is_visible()
        first.screenshot(path=str(shots / f"{lang}-mobile-08-return-moved.png"), full_page=True)
        if AXE.exists():
            found += violations(first, "the login continued in another browser", lang)
        # "Try again" there: the login is not this browser's any more; the page says where to go.
        retry.click()
        first.wait_for_load_state()
        assert words["back"] in first.locator("main").inner_text()
        assert not first.url.startswith(live.rp_callback)
    finally:
        rp.close()
        first.context.close()
        second.context.close()
    assert result["claims"]["acr"] == ACR_SAME
    assert not found, "accessibility problems (axe-core WCAG 2.1 A/AA):\n" + "\n".join(found)
