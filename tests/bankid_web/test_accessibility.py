"""Every page a person sees passes axe-core's WCAG 2.1 A and AA rules, in Swedish and English,
on a 1280 px computer and a 360 px phone, in headless Chromium.

The pages: logging in (the choice, the QR code, a login cancelled in the app, a login that no
longer exists, an authorization error), approving (the summary of a plain text, of markdown
with a heading, a list and a table, of a card payment with a risk warning, of an npa payment,
the "identify first" variant for a named person, the QR code of a signing), and the embedded
default's demo (`idp serve` with no configuration: its start page, the simulator's page with
the payment waiting, and the demo's result once the payment is approved there).

axe-core (node_modules/axe-core, pinned in package.json) is injected into each page as it is
and run on the whole document; the pages' own Content-Security-Policy forbids injected
script, so the browser context bypasses it (nothing else changes)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.bankid_web.live import (
    ROOT,
    LiveProvider,
    launch_chromium,
    need_browser_tools,
    new_browser_page,
    read_qr,
    screenshots,
)
from tests.bankid_web.support import (
    AGNES_CANCELS,
    ANDROID_UA,
    ANNA,
    DESKTOP_UA,
    IPHONE_UA,
    RP_SECRET,
)
from tests.bankid_web.test_approval_browser import PAYMENT, SCOPE, SECRET_CLIENT, SIGN, _par_form
from tests.services import require_service

pytestmark = [pytest.mark.browser, pytest.mark.node]

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
IDP = Path(sys.executable).parent / "idp"
DEVICES = {
    "desktop": {"viewport": {"width": 1280, "height": 800}, "user_agent": DESKTOP_UA},
    "mobile": {
        "viewport": {"width": 360, "height": 740},
        "user_agent": ANDROID_UA,
        "is_mobile": True,
        "has_touch": True,
    },
    "ios": {
        "viewport": {"width": 360, "height": 740},
        "user_agent": IPHONE_UA,
        "is_mobile": True,
        "has_touch": True,
    },
}
CASES = [("sv", "desktop"), ("en", "desktop"), ("sv", "mobile"), ("en", "mobile")]
#: The login pages differ on iOS (how the app is opened and returns): also seen there.
LOGIN_CASES = [*CASES, ("sv", "ios"), ("en", "ios")]
SIGN_TEXT = "Jag godkänner köpeavtalet för båten Älvsö.\nÄrende 4711, årsmöte 2026."
MARKDOWN = (
    "# Medlemsavtal\n\n"
    "*Viktigt:* läs villkoren.\n\n"
    "+ Avgift per månad\n+ Uppsägning med en månads varsel\n\n"
    "| Vad | Belopp |\n| --- | --- |\n| Avgift | 99 kr |\n| Startavgift | 0 kr |\n"
)
CARD = {
    "type": PAYMENT,
    "transactionType": "card",
    "recipient": {"name": "Kaffebaren Åre"},
    "money": {"amount": "49,50", "currency": "SEK"},
    "riskWarning": "Mottagaren är ny för dig. Kontrollera den innan du godkänner.",
    "riskFlags": ["newRecipient"],
}
NPA = {"type": PAYMENT, "transactionType": "npa", "recipient": {"name": "Båtmäklarna AB"}}


def need_axe() -> None:
    if not AXE.exists():
        require_service("axe-core", "not installed (npm ci)", where=str(AXE.parent))


def approval_client(redirect_uri: str) -> list[dict]:
    """A confidential client that may ask for both approvals (PAR with client_secret_basic)."""
    return [
        {
            "client_id": SECRET_CLIENT,
            "client_name": "Kaffebaren",
            "client_secret": RP_SECRET,
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code"],
            "scope": SCOPE,
            "authorization_details_types": [SIGN, PAYMENT],
        }
    ]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    need_browser_tools()
    need_axe()
    tmp = tmp_path_factory.mktemp("live-accessibility")
    with LiveProvider(tmp, think_time=1.0, extra_clients=approval_client) as provider:
        yield provider


class EmbeddedDefault:
    """`idp serve` with no configuration (the embedded default, with /demo) in its own
    directory, its output in a file the log check reads."""

    def __init__(self, cwd: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.log = cwd / "serve.log"
        self._checked = 0  # lines of the log handed to the log check
        env = {k: v for k, v in os.environ.items() if k != "IDP_CONFIG"}
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [str(IDP), "serve", "--port", str(port)],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"idp serve did not start:\n{self.log.read_text()}")

    def hand_log_to(self, log_check) -> None:
        lines = self.log.read_text().splitlines()
        for line in lines[self._checked :]:
            log_check.check_line(f"idp serve ({self.log.name})", line)
        self._checked = len(lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def embedded(tmp_path_factory) -> Iterator[EmbeddedDefault]:
    need_browser_tools()
    need_axe()
    server = EmbeddedDefault(tmp_path_factory.mktemp("embedded-default"))
    yield server
    server.stop()


@pytest.fixture
def demo(embedded, log_check) -> Iterator[str]:
    """The embedded default's address; what it logged meanwhile goes to the log check."""
    yield embedded.url
    embedded.hand_log_to(log_check)


@pytest.fixture(scope="module")
def chromium(live):
    with launch_chromium() as browser:
        yield browser


def new_page(chromium, lang: str, device: str, *, screens: str):
    """A page in `lang` (the browser's Accept-Language) on `device`; the pages' CSP would
    refuse the injected axe-core. Every state scanned is also saved as a screenshot, under
    tests/artifacts/screenshots/screens/<screens>/<device>-<lang>/, for people to look at."""
    page = new_browser_page(chromium, lang, **DEVICES[device], bypass_csp=True)
    page.screens_dir = screenshots() / "screens" / screens / f"{device}-{lang}"
    shutil.rmtree(page.screens_dir, ignore_errors=True)
    return page


def save_screen(page, state: str) -> None:
    folder = getattr(page, "screens_dir", None)
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^a-z0-9]+", "-", state.lower()).strip("-")
    number = len(list(folder.glob("*.png"))) + 1
    page.screenshot(path=str(folder / f"{number:02d}-{name}.png"), full_page=True)


def violations(page, state: str, lang: str) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now, one line each with the
    failing elements; also that the page is in `lang` and fits the screen's width."""
    save_screen(page, state)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})"
        ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => ({target: n.target}))})))",
        WCAG_21_AA,
    )
    found = []
    if page.locator("html").get_attribute("lang") != lang:
        found.append(f"{state}: the page is not in {lang!r}")
    # What axe cannot see, WCAG 1.4.10 (reflow): nothing makes the page wider than the screen.
    width = page.evaluate("() => document.documentElement.scrollWidth")
    if width > page.viewport_size["width"]:
        found.append(
            f"{state}: reflow: {width} px wide on a {page.viewport_size['width']} px screen"
        )
    for v in result:
        targets = "; ".join(" ".join(node["target"]) for node in v["nodes"])
        found.append(f"{state}: {v['id']} ({v['impact']}) {v['help']} [{targets}]")
    return found


def assert_accessible(found: list[str]) -> None:
    assert not found, "accessibility problems (axe-core WCAG 2.1 A/AA, reflow):\n" + "\n".join(
        found
    )


def pushed(
    live, details: list[dict] | None = None, *, client_id: str = SECRET_CLIENT, **params: str
) -> str:
    """The authorization URL for a request that `client_id` (by default `SECRET_CLIENT`)
    pushed (PAR)."""
    form = _par_form(live, client_id, details or [])
    if details is None:  # a login: nothing to approve
        del form["authorization_details"]
    form.update(params)
    r = httpx.post(f"{live.url}/par", data=form, auth=(client_id, RP_SECRET), timeout=10)
    assert r.status_code == 201, r.text
    request_uri = r.json()["request_uri"]
    return str(
        httpx.URL(
            f"{live.url}/authorize", params={"client_id": client_id, "request_uri": request_uri}
        )
    )


def wait_for_qr(page) -> None:
    page.wait_for_function(
        "() => { const i = document.getElementById('qr-img');"
        " return i && i.tagName.toLowerCase() === 'svg' && i.querySelector('path[d^=M]'); }"
    )


@pytest.fixture(scope="module")
def branded(tmp_path_factory):
    """A provider with the operator's branding: name, logo, accent colour, favicon, links, an
    extra CSS file, and a client with a name in each language."""
    need_browser_tools()
    need_axe()
    tmp = tmp_path_factory.mktemp("live-branded")
    (tmp / "logo.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 32">'
        '<rect width="64" height="32" rx="6" fill="#00594f"/>'
        '<circle cx="16" cy="16" r="9" fill="#fff"/></svg>'
    )
    (tmp / "favicon.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
        '<rect width="16" height="16" fill="#00594f"/></svg>'
    )
    (tmp / "extra.css").write_text(".top { border-bottom: 3px solid var(--accent); }\n")
    branding = {
        "organisation_name": "Exempelbanken",
        "logo": str(tmp / "logo.svg"),
        "favicon": str(tmp / "favicon.svg"),
        "extra_css": str(tmp / "extra.css"),
        "accent_colour": "#00594f",
        "website_url": "https://exempelbanken.example",
        "support_url": "https://exempelbanken.example/hjalp",
        "privacy_url": "https://exempelbanken.example/integritet",
    }

    def clients(redirect_uri: str) -> list[dict]:
        return [
            *approval_client(redirect_uri),
            {
                "client_id": "bank-app",
                "client_name": "Internetbanken",
                "client_name#en": "Internet bank",
                "client_secret": RP_SECRET,
                "redirect_uris": [redirect_uri],
                "grant_types": ["authorization_code"],
                "scope": SCOPE,
            },
        ]

    with LiveProvider(
        tmp, think_time=1.0, extra_clients=clients, extra_settings={"branding": branding}
    ) as provider:
        yield provider


def first_page(page) -> None:
    """The first page of a login: the QR code at once on a computer, the "Open the BankID
    app" button of a started order on a phone."""
    page.locator("#launch, #qr-img path[d^=M]").first.wait_for()


@pytest.mark.parametrize("variant", ["plain", "branded"])
@pytest.mark.parametrize(("lang", "device"), LOGIN_CASES)
def test_login_pages_pass_the_accessibility_scan(
    live, branded, chromium, tmp_path, lang, device, variant
):
    """Every screen of a login, as a person meets them: the first page (the common way), the
    help opened, the other way, the QR code, a login cancelled in the app, one that no longer
    exists, an authorization error, and logging out (the question, cancelled, done). The
    branded variant runs the same screens with the operator's branding and a client named in
    each language, and checks that the name, logo and colour show."""
    provider = branded if variant == "branded" else live
    client = "bank-app" if variant == "branded" else SECRET_CLIENT
    page = new_page(chromium, lang, device, screens=f"login-{variant}")
    found: list[str] = []
    try:
        page.goto(pushed(provider, client_id=client))
        first_page(page)
        found += violations(page, "login: the first page", lang)
        if variant == "branded":
            service = {"sv": "Internetbanken", "en": "Internet bank"}[lang]
            assert service in page.locator("h1").inner_text()
            assert page.title().endswith(f"– {service}")
            assert page.locator(".brand-name").inner_text() == "Exempelbanken"
            assert page.locator("img.brand-logo").evaluate("i => i.complete && i.naturalWidth > 0")
            accent = page.locator("#heading ~ * button, button").first.evaluate(
                "b => getComputedStyle(b).backgroundColor"
            )
            assert accent == "rgb(0, 89, 79)", accent

        page.locator("#help summary").click()
        page.locator("#help a").first.wait_for()
        found += violations(page, "login: help opened", lang)

        if device != "desktop":  # the other way (on a computer the QR code is the first page)
            page.click("button[value=qr]")
        wait_for_qr(page)
        found += violations(page, "login: the QR code", lang)

        provider.phone("scan", {"qr": read_qr(page, tmp_path), "personalNumber": AGNES_CANCELS})
        page.locator("#status[data-rfa=RFA6]").wait_for()
        page.locator("#retry").wait_for()
        found += violations(page, "login: cancelled in the app", lang)

        page.goto(f"{provider.url}/bankid/wait?txn=unknown&lang={lang}")
        found += violations(page, "login: no longer exists", lang)

        page.goto(f"{provider.url}/authorize?client_id=nobody&response_type=code&lang={lang}")
        page.locator("h1").wait_for()
        found += violations(page, "authorization error page", lang)

        page.goto(f"{provider.url}/logout?client_id={client}&lang={lang}")
        page.locator("form[action='/logout/confirm']").wait_for()
        found += violations(page, "logout: the question", lang)
        page.locator("a.button.secondary").click()
        page.locator(".onward").wait_for()
        found += violations(page, "logout: cancelled, still logged in", lang)

        page.goto(f"{provider.url}/logout?client_id={client}&lang={lang}")
        page.locator("form[action='/logout/confirm'] button").click()
        page.locator(".onward").wait_for()
        found += violations(page, "logout: logged out", lang)
    finally:
        page.context.close()
    if device == "desktop":
        # "BankID on this computer", last and in a page of its own: the page opens bankid:///
        # by itself, and headless Chromium, with no app for it, then ignores mouse input.
        page = new_page(chromium, lang, device, screens=f"login-{variant}-this-computer")
        try:
            page.goto(pushed(provider, client_id=client))
            first_page(page)
            page.click("button[value=same_device]")
            page.locator("#launch").wait_for()
            found += violations(page, "login: BankID on this computer", lang)
        finally:
            page.context.close()
    assert_accessible(found)


@pytest.mark.parametrize(("lang", "device"), CASES)
def test_approval_pages_pass_the_accessibility_scan(live, chromium, lang, device):
    summaries = {  # what is approved, and an element that shows it is on the page
        "a plain text to sign": ([{"type": SIGN, "text": SIGN_TEXT}], "#approval-text .plain"),
        "markdown to sign": (
            [{"type": SIGN, "text": MARKDOWN, "format": "text/markdown"}],
            "#approval-text h3 ~ ul ~ table",
        ),
        "a card payment with a risk warning": ([CARD], "#approval-amount, .warning"),
        "an npa payment": ([NPA], "#approval-recipient"),
    }
    page = new_page(chromium, lang, device, screens="approval")
    found: list[str] = []
    try:
        for what, (details, shown) in summaries.items():
            page.goto(pushed(live, details))
            page.locator(shown).first.wait_for()
            found += violations(page, f"approval summary: {what}", lang)

        page.goto(pushed(live, [{"type": SIGN, "text": SIGN_TEXT}], login_hint=ANNA))
        page.locator("#identify-first").wait_for()
        found += violations(page, "approval summary: identify first (login_hint)", lang)

        page.goto(pushed(live, [{"type": SIGN, "text": SIGN_TEXT}]))
        page.locator("button[value=qr]").click()
        wait_for_qr(page)
        found += violations(page, "approval: the QR code of a signing", lang)
    finally:
        page.context.close()
    assert_accessible(found)


@pytest.mark.parametrize(("lang", "device"), CASES)
def test_demo_and_simulator_pages_pass_the_accessibility_scan(demo, chromium, lang, device):
    """The embedded default's demo: "Approve a payment", the QR code, the simulator's page
    with the payment waiting (its Approve button for the newest order), the demo's result."""
    page = new_page(chromium, lang, device, screens="demo")
    found: list[str] = []
    try:
        page.goto(f"{demo}/demo/?lang={lang}")
        page.locator("#demo-payment").wait_for()
        found += violations(page, "demo: start page", lang)

        page.click("#demo-payment")
        page.locator("section.approval").wait_for()
        page.click("button[value=qr]")
        wait_for_qr(page)

        simulator = page.context.new_page()
        simulator.screens_dir = page.screens_dir
        simulator.goto(f"{demo}/bankid-simulator/?lang={lang}")
        simulator.locator(".transaction").last.wait_for()
        found += violations(simulator, "simulator: a payment waiting", lang)
        simulator.locator("button[value=approve]").last.click()
        simulator.locator(".notice").wait_for()
        found += violations(simulator, "simulator: approved", lang)

        page.wait_for_url(f"{demo}/demo/callback?**", timeout=30_000)
        page.locator("#evidence-verified").wait_for()
        found += violations(page, "demo: the result of an approved payment", lang)
    finally:
        page.context.close()
    assert_accessible(found)
