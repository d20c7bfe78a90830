"""Launching the BankID app on the same device with the autostart token (reference section 5).

Desktop (the BankID Security Application) uses the custom scheme; mobile uses BankID's
universal link / App Link, as BankID's current guidance says (reference 5.2). ``redirect`` is
always ``null``: the return is carried by the order's server-side ``returnUrl`` with a
per-login nonce, which overrides ``redirect`` (reference 5.3).
"""

from __future__ import annotations

import re
from enum import StrEnum
from urllib.parse import quote


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


def desktop_link(auto_start_token: str) -> str:
    token = quote(auto_start_token, safe="")
    return f"bankid:///?autostarttoken={token}&redirect=null"


def mobile_link(auto_start_token: str) -> str:
    token = quote(auto_start_token, safe="")
    return f"https://app.bankid.com/?autostarttoken={token}&redirect=null"


def launch_link(auto_start_token: str, platform: Platform) -> str:
    """The link that opens the BankID app on ``platform`` for an autostart order."""
    return mobile_link(auto_start_token) if platform.is_mobile else desktop_link(auto_start_token)
