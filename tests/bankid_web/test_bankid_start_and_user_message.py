"""Starting a BankID order is never a side effect of a GET; the client's message (the Swedish
OIDC userMessage, `LoginRequest.user_message`) is what the person sees in the BankID app; and
no page tells a visitor that a named person is identifying somewhere else."""

import base64
import dataclasses
import re

import pytest

from idp import resources
from idp.authn import UserMessage
from tests.bankid_web.conftest import build_app
from tests.bankid_web.support import (
    ANNA,
    Browser,
    form,
    poll_until,
    query,
    scan,
    status_text,
)

pytestmark = pytest.mark.anyio

ACR_QR = "urn:grn:authn:se:bankid:qr"
ACR_SAME = "urn:grn:authn:se:bankid:same-device"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
async def app_with(settings, clock):
    """An app whose login requests carry what `change` adds (as the checks would)."""
    running = []

    async def start(change):
        app = build_app(settings, clock, login=change)
        context = app.router.lifespan_context(app)
        await context.__aenter__()
        running.append(context)
        return app

    yield start
    for context in running:
        await context.__aexit__(None, None, None)


def with_message(message):
    return lambda login: dataclasses.replace(login, user_message=message)


# ----------------------------------------------------------------------------- GET starts nothing


@pytest.mark.parametrize("acr", [ACR_QR, ACR_SAME])
async def test_a_get_of_the_login_page_never_starts_an_order(app, acr):
    b = Browser(app)
    first = await b.authorize(acr_values=acr)
    for _ in range(3):  # a reload, a prefetch, a crawler
        page = await b.http.get(first.headers["location"])
        assert page.status_code == 200
    assert app.state.link.calls["auth"] == 0
    start = form(page.text, "/bankid/start")
    assert start["fields"]["flow"] == ("qr" if acr == ACR_QR else "same_device")
    started = await b.submit("/bankid/start", html=page.text)
    assert started.status_code == 200 and "/bankid/wait" in str(started.url)
    assert app.state.link.calls["auth"] == 1


async def test_the_one_way_start_page_is_sent_by_its_script_or_by_a_button(app):
    b = Browser(app)
    first = await b.authorize(acr_values=ACR_QR)
    page = await b.http.get(first.headers["location"])
    assert 'data-autosubmit="1"' in page.text
    assert re.search(r'<button type="submit" id="start-button">[^<]+</button>', page.text)
    assert "<noscript>" in page.text  # the QR code that follows needs script
    assert 'action="/bankid/cancel"' in page.text
    # The Content-Security-Policy allows no inline script: the page loads bankid.js only.
    assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/static/js/bankid.js" defer>']
    script = (resources.static() / "js" / "bankid.js").read_text()
    assert 'document.querySelector("form[data-autosubmit]")' in script and ".submit()" in script
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1]


async def test_a_page_with_a_choice_starts_nothing_either(app):
    b = Browser(app)
    first = await b.authorize(acr_values="urn:grn:authn:se:bankid")
    page = await b.get(first.headers["location"])
    assert 'class="choice"' in page.text and app.state.link.calls["auth"] == 0
    assert 'data-autosubmit="1"' in page.text  # its script sends the common way's POST


# ----------------------------------------------------------------------------- the user message


async def test_the_client_message_is_what_the_person_sees_in_the_app(app_with):
    app = await app_with(with_message(UserMessage("Logga in på Åre kommun\nÄrende 4711")))
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    body = app.state.link.bodies[-1]
    assert body["userVisibleData"] == b64("Logga in på Åre kommun\nÄrende 4711")
    assert "userVisibleDataFormat" not in body
    seen = await scan(app, b)
    assert seen["userVisibleData"] == "Logga in på Åre kommun\nÄrende 4711"
    assert seen["userVisibleDataFormat"] == "plaintext"


async def test_a_markdown_message_is_sent_as_simple_markdown_v1(app_with):
    app = await app_with(with_message(UserMessage("# Rubrik\n*Viktigt*", markdown=True)))
    b = Browser(app, lang="sv")
    page = await b.open_login(acr_values=ACR_SAME)
    body = app.state.link.bodies[-1]
    assert body["userVisibleDataFormat"] == "simpleMarkdownV1"
    assert body["userVisibleData"] == b64("# Rubrik\n*Viktigt*")
    token = query(re.search(r'id="launch"[^>]*href="([^"]+)"', page.text)[1].replace("&amp;", "&"))
    async with _user(app) as http:
        seen = await http.post("/app/autostart", json={"autoStartToken": token["autostarttoken"]})
    assert seen.json()["userVisibleDataFormat"] == "simpleMarkdownV1"


async def test_the_message_is_in_the_language_of_the_login_page(app_with):
    message = UserMessage("Hej", by_language=(("sv", "Hej"), ("en", "Hello"), ("", "Hej")))
    app = await app_with(with_message(message))
    english = Browser(app, lang="en")
    await english.open_login(acr_values=ACR_QR)
    assert app.state.link.bodies[-1]["userVisibleData"] == b64("Hello")
    swedish = Browser(app, lang="sv")
    await swedish.open_login(acr_values=ACR_QR)
    assert app.state.link.bodies[-1]["userVisibleData"] == b64("Hej")


async def test_no_message_sends_the_line_naming_the_client(app):
    b = Browser(app)
    await b.open_login(acr_values=ACR_QR)
    body = app.state.link.bodies[-1]
    assert base64.b64decode(body["userVisibleData"]).decode() == "Inloggning till Test RP"
    assert "userVisibleDataFormat" not in body


async def test_the_simulator_page_shows_the_text_of_a_pending_order(app_with):
    app = await app_with(with_message(UserMessage("Ärende <4711> & co")))
    await Browser(app).open_login(acr_values=ACR_QR)
    async with _user(app) as http:
        page = await http.get("/")
    assert "Ärende &lt;4711&gt; &amp; co" in page.text and "Text i appen" in page.text


def _user(app):
    from tests.bankid_web.support import simulator_user

    return simulator_user(app)


# ----------------------------------------------------------------------------- alreadyInProgress


async def test_already_in_progress_is_told_as_a_neutral_failure(app_with, clock):
    """A personal number in the request restricts the order to that person; whether that person
    is identifying elsewhere right now is nobody's business: RFA22, and 'refused'."""
    app = await app_with(lambda login: dataclasses.replace(login, login_hint=ANNA))
    first = Browser(app)
    await first.open_login(acr_values=ACR_QR)
    second = Browser(app, ip="203.0.113.77", lang="en")
    page = await second.open_login(acr_values=ACR_QR)
    assert status_text(page.text) == ("RFA22", "Something went wrong. Please try again.")
    assert "in progress" not in page.text and "RFA4" not in page.text
    status = (await second.status()).json()
    assert (status["state"], status["rfa"]) == ("failed", "RFA22")
    assert "in progress" not in status["message"]
    assert (await poll_until(first, clock, "failed"))["rfa"] == "RFA3"  # BankID cancelled it
    cancelled = await second.submit("/bankid/cancel")
    back = await second.http.get(cancelled.headers["location"])
    q = query(back.headers["location"])
    assert q["error"] == "access_denied" and q["error_description"] == "The login was refused."
