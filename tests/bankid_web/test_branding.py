"""The operator's branding and the service's name on the pages: a branded configuration shows
the organisation's name, logo and colour (through the served /branding.css), its favicon, its
support and privacy links, and the client's name (in the page's language) and logo in the
heading area and the page title; the CSP allows exactly that client logo and nothing more; the
logout pages have a cancel and a way onward."""

from __future__ import annotations

import re

import pytest

from idp.web.headers import CSP
from tests.bankid_web.conftest import build_app, make_settings
from tests.bankid_web.support import RP_CB, RP_SECRET, Browser

pytestmark = pytest.mark.anyio

LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 20" width="40" height="20">'
    '<rect width="40" height="20" fill="#00594f"/></svg>'
)
ACCENT = "#00594f"
CLIENT_LOGO = "https://rp.example/static/logo.png"
POST_LOGOUT = "https://rp.example/logged-out"


def branded_client(**extra):
    return {
        "client_id": "rp",
        "client_name": "Test RP",
        "client_name#sv": "Testtjänsten",
        "client_name#en": "The Test Service",
        "logo_uri": CLIENT_LOGO,
        "client_secret": RP_SECRET,
        "redirect_uris": [RP_CB],
        "post_logout_redirect_uris": [POST_LOGOUT],
        "scope": "openid profile ssn bankid_evidence",
        **extra,
    }


@pytest.fixture
def branding_files(tmp_path):
    (tmp_path / "logo.svg").write_text(LOGO)
    (tmp_path / "extra.css").write_text(".brand-name { letter-spacing: .02em; }\n")
    (tmp_path / "favicon.svg").write_text(LOGO)
    return tmp_path


@pytest.fixture
async def branded(sqlite_url, clock, branding_files):
    settings = make_settings(
        sqlite_url,
        branding={
            "organisation_name": "Exempelbanken",
            "organisation_name#en": "Example Bank",
            "logo": str(branding_files / "logo.svg"),
            "favicon": str(branding_files / "favicon.svg"),
            "extra_css": str(branding_files / "extra.css"),
            "accent_colour": ACCENT,
            "website_url": "https://bank.example/",
            "support_url": "https://bank.example/support",
            "privacy_url": "https://bank.example/privacy",
        },
        clients=[branded_client()],
    )
    application = build_app(settings, clock)
    async with application.router.lifespan_context(application):
        yield application


def title(html: str) -> str:
    m = re.search(r"<title>(.*?)</title>", html, re.S)
    assert m, html[:500]
    return m.group(1).strip()


async def test_a_branded_login_page_names_the_organisation_and_the_service(branded):
    for lang, org, client, logging_in in (
        ("sv", "Exempelbanken", "Testtjänsten", "Du loggar in på Testtjänsten"),
        ("en", "Example Bank", "The Test Service", "You are logging in to The Test Service"),
    ):
        browser = Browser(branded, lang=lang)
        page = (await browser.open_login()).text
        # The header: the organisation's logo and name (a link to its site).
        header = page[page.index("<header") : page.index("</header>")]
        assert f'<span class="brand-name">{org}</span>' in header
        assert 'href="https://bank.example/"' in header
        logo = re.search(r'<img class="brand-logo" src="([^"]+)"', header).group(1)
        r = await browser.http.get(logo)
        assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
        assert r.text == LOGO and "immutable" in r.headers["cache-control"]
        assert "sandbox" in r.headers["content-security-policy"]
        # The service, prominent, with its logo; and in the title.
        main = page[page.index("<main") :]
        service = main[main.index('<div class="service">') : main.index("</div>")]
        assert logging_in in service and f'src="{CLIENT_LOGO}"' in service
        assert title(page).endswith(f" – {client}")
        # The CSP allows that one logo (its exact URL), and stays otherwise as strict.
        csp = browser.page.headers["content-security-policy"]
        assert csp == CSP.replace("img-src 'self' data:;", f"img-src 'self' data: {CLIENT_LOGO};")
        # The colour, through the served CSS (the CSP forbids inline styles), then extra CSS.
        sheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
        assert sheets[-1].startswith("/branding.css?v=")
        r = await browser.http.get(sheets[-1])
        assert r.headers["content-type"].startswith("text/css")
        assert f"--accent: {ACCENT};" in r.text and "letter-spacing" in r.text
        # The footer: support and privacy, in the page's language.
        footer = page[page.index("<footer") :]
        support = "Hjälp och support" if lang == "sv" else "Help and support"
        assert f'<a href="https://bank.example/support">{support}</a>' in footer
        assert 'href="https://bank.example/privacy"' in footer
        await browser.aclose()


async def test_the_favicon_is_served_configured_and_by_default(branded, app):
    browser = Browser(branded)
    r = await browser.http.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    assert r.text == LOGO
    page = (await browser.open_login()).text
    icon = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page).group(1)
    assert (await browser.http.get(icon)).text == LOGO
    await browser.aclose()
    # Without branding: the project's own icon (an ICO holding a PNG), not a 404.
    plain = Browser(app)
    r = await plain.http.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00" and b"PNG" in r.content[:40]
    await plain.aclose()


async def test_without_branding_the_frame_is_as_before(app):
    browser = Browser(app, lang="sv")
    page = (await browser.open_login()).text
    assert '<span class="brand-name">Inloggning med BankID</span>' in page
    assert "/branding.css" not in page and "<footer" not in page
    assert "Du loggar in på Test RP" in page  # the client's name, though it has no #sv
    assert title(page).endswith(" – Test RP")
    assert browser.page.headers["content-security-policy"] == CSP
    assert (await browser.http.get("/branding.css")).status_code == 404
    await browser.aclose()


async def test_a_client_logo_the_csp_cannot_name_exactly_is_not_shown(sqlite_url, clock):
    settings = make_settings(
        sqlite_url,
        clients=[branded_client(logo_uri="https://rp.example/logo.png?size=64")],
    )
    application = build_app(settings, clock)
    async with application.router.lifespan_context(application):
        browser = Browser(application, lang="en")
        page = (await browser.open_login()).text
        assert "rp.example/logo.png" not in page
        assert "You are logging in to The Test Service" in page
        assert browser.page.headers["content-security-policy"] == CSP
        await browser.aclose()


async def test_logout_confirmation_has_a_cancel_back_to_the_validated_uri(branded):
    browser = Browser(branded, lang="en")
    r = await browser.http.get(
        "/logout", params={"client_id": "rp", "post_logout_redirect_uri": POST_LOGOUT}
    )
    assert r.status_code == 200
    assert re.search(
        rf'<a class="button secondary" href="{POST_LOGOUT}">Cancel, do not log out</a>', r.text
    )
    assert title(r.text) == "Log out – The Test Service"
    # Not a URI the client did not register: that is refused before any page.
    r = await browser.http.get(
        "/logout", params={"client_id": "rp", "post_logout_redirect_uri": "https://evil.example/"}
    )
    assert r.status_code == 400 and 'href="https://evil.example' not in r.text
    await browser.aclose()


async def test_logout_cancel_without_a_uri_says_still_logged_in_with_a_way_on(branded):
    browser = Browser(branded, lang="sv")
    r = await browser.http.get("/logout", params={"client_id": "rp"})
    cancel = re.search(
        r'<a class="button secondary" href="([^"]+)">Avbryt, logga inte ut</a>', r.text
    )
    assert cancel and cancel.group(1) == "/logout/cancel?client_id=rp"
    r = await browser.http.get(cancel.group(1))
    assert r.status_code == 200
    assert "<h1>Du är fortfarande inloggad</h1>" in r.text
    # On: the client's registered post-logout page (it has no client_uri).
    assert f'href="{POST_LOGOUT}">Tillbaka till Testtjänsten</a>' in r.text
    # No client known: the organisation's site.
    r = await browser.http.get("/logout/cancel")
    assert 'href="https://bank.example/">Till Exempelbanken</a>' in r.text
    await browser.aclose()


async def test_the_logged_out_page_has_a_way_onward(branded, app):
    browser = Browser(branded, lang="en")
    r = await browser.http.get("/logout", params={"client_id": "rp"})
    csrf = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    r = await browser.http.post(
        "/logout/confirm", data={"csrf": csrf, "client_id": "rp", "post_logout_redirect_uri": ""}
    )
    assert r.status_code == 200 and "<h1>Logged out</h1>" in r.text
    assert f'href="{POST_LOGOUT}">Back to The Test Service</a>' in r.text
    await browser.aclose()
    # Nothing to go back to and no organisation site: the page says the window can be closed.
    plain = Browser(app, lang="en")
    r = await plain.http.get("/logout")
    csrf = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    r = await plain.http.post("/logout/confirm", data={"csrf": csrf})
    assert "You can close this window." in r.text
    await plain.aclose()
