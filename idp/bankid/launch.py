"""Launching the BankID app on the same device with the autostart token (reference section 5).

Desktop (the BankID Security Application) uses the custom scheme; mobile uses BankID's
universal link / App Link, as BankID's current guidance says (reference 5.2). ``redirect`` is
always ``null``: the return is carried by the order's server-side ``returnUrl`` with a
per-login nonce, which overrides ``redirect`` (reference 5.3).

On iOS the app opens an ``https`` return URL in Safari whatever browser started the login
(reference 5.3, "iOS quirks"); for Chrome, Firefox and Edge on iOS the return URL is that
browser's own scheme instead (`return_url_for`), so the return reaches the browser that
started. Anything else gets the ``https`` URL.
"""

from __future__ import annotations

import re
from enum import StrEnum
from urllib.parse import quote, urlsplit


class Platform(StrEnum):
    DESKTOP = "desktop"
    IOS = "ios"
    ANDROID = "android"

    @property
    def is_mobile(self) -> bool:
        return self is not Platform.DESKTOP


_IOS = re.compile(r"iPhone|iPad|iPod", re.IGNORECASE)
_ANDROID = re.compile(r"Android", re.IGNORECASE)


def detect_platform(user_agent: str | None) -> Platform:
    """Guess the platform from a User-Agent. iPadOS that claims to be a Mac counts as desktop."""
    ua = user_agent or ""
    if _IOS.search(ua):
        return Platform.IOS
    if _ANDROID.search(ua):
        return Platform.ANDROID
    return Platform.DESKTOP


#: Browsers by their User-Agent token, most specific first: Chrome, Firefox and Edge on iOS name
#: themselves CriOS, FxiOS and EdgiOS (all are Safari's engine there); elsewhere Edge, Opera and
#: Samsung Internet also say "Chrome", and Chrome also says "Safari". Apps' built-in browsers
#: (Facebook, Instagram, LinkedIn, ...) are not named: None, as for an unknown browser.
_BROWSERS: tuple[tuple[str, str | None], ...] = (
    ("FBAN/", None),
    ("FBAV/", None),
    ("Instagram", None),
    ("LinkedInApp", None),
    ("DuckDuckGo/", "DuckDuckGo"),
    ("OPiOS/", "Opera"),
    ("GSA/", "Google"),
    ("CriOS/", "Chrome"),
    ("FxiOS/", "Firefox"),
    ("EdgiOS/", "Edge"),
    ("EdgA/", "Edge"),
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("OPT/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)


def detect_browser(user_agent: str | None) -> str | None:
    """The browser's name as people know it ("Chrome", "Safari", ...), or None if unknown.
    Only to name the browser on a page; nothing is decided by it but the iOS return scheme."""
    ua = user_agent or ""
    return next((name for token, name in _BROWSERS if token in ua), None)


RETURN_URL_MAX = 512


def return_url_for(url: str, user_agent: str | None) -> str:
    """The returnUrl that brings the BankID app back to the browser with `user_agent`.

    `url` is our ``https`` return URL (with its nonce). iOS opens an ``https`` URL in Safari,
    so an iOS browser other than Safari gets its own scheme, which opens it with the same URL:
    Chrome ``googlechromes://host/path?query``, Firefox
    ``firefox://open-url?url=<url-encoded URL>``, Edge ``microsoft-edge-https://host/path?query``.
    Elsewhere, and for any other iOS browser, `url` itself. Only an ``https`` `url` is
    rewritten (a test issuer on http stays as it is)."""
    if detect_platform(user_agent) is not Platform.IOS or urlsplit(url).scheme != "https":
        return url
    ua = user_agent or ""
    rest = url.removeprefix("https://")
    scheme = url
    if "CriOS/" in ua:
        scheme = f"googlechromes://{rest}"
    elif "FxiOS/" in ua:
        scheme = f"firefox://open-url?url={quote(url, safe='')}"
    elif "EdgiOS/" in ua:
        scheme = f"microsoft-edge-https://{rest}"
    # BankID takes at most 512 characters (reference 1.9): rather Safari than no login.
    return scheme if len(scheme) <= RETURN_URL_MAX else url


def desktop_link(auto_start_token: str) -> str:
    token = quote(auto_start_token, safe="")
    return f"bankid:///?autostarttoken={token}&redirect=null"


def mobile_link(auto_start_token: str) -> str:
    token = quote(auto_start_token, safe="")
    return f"https://app.bankid.com/?autostarttoken={token}&redirect=null"


def launch_link(auto_start_token: str, platform: Platform) -> str:
    """The link that opens the BankID app on ``platform`` for an autostart order."""
    return mobile_link(auto_start_token) if platform.is_mobile else desktop_link(auto_start_token)
