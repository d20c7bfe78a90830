"""Cookies: names, flags, and the per-browser binding value.

With an https issuer every cookie is Secure and gets the `__Host-` prefix (bound to this host,
path /). All are HttpOnly and SameSite=Lax: sent on top-level navigations back from a client
or from the BankID app, never on cross-site subrequests.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response


def set_cookie(
    response: Response, name: str, value: str, *, secure: bool, max_age: int | None = None
) -> None:
    """Our cookies' one shape: whole site (a ``__Host-`` name needs Path=/), HttpOnly,
    SameSite=Lax, Secure on https."""
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax"
    )


def clear_cookie(response: Response, name: str, *, secure: bool) -> None:
    response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")


class Cookies:
    def __init__(self, *, secure: bool, signing_key: bytes = b"") -> None:
        self.secure = secure
        self.signing_key = signing_key
        prefix = "__Host-" if secure else ""
        self.session = f"{prefix}idp_session"
        self.browser = f"{prefix}idp_browser"
        self.device = f"{prefix}idp_device"

    def set(self, response: Response, name: str, value: str, max_age: int | None = None) -> None:
        set_cookie(response, name, value, secure=self.secure, max_age=max_age)

    def clear(self, response: Response, name: str) -> None:
        clear_cookie(response, name, secure=self.secure)

    def browser_id(self, request: Request) -> str | None:
        value = request.cookies.get(self.browser)
        return value if value and 20 <= len(value) <= 100 else None

    def ensure_browser(self, request: Request) -> tuple[str, bool]:
        """This browser's binding value, and whether it is new (then set it on the response)."""
        existing = self.browser_id(request)
        if existing:
            return existing, False
        return secrets.token_urlsafe(32), True

    @staticmethod
    def binding(browser_id: str) -> str:
        """What server-side state stores to bind itself to a browser (never the raw value)."""
        return hashlib.sha256(browser_id.encode()).hexdigest()

    def csrf_token(self, browser_id: str, purpose: str) -> str:
        mac = hmac.new(self.signing_key, f"{purpose}|{browser_id}".encode(), hashlib.sha256)
        return mac.hexdigest()

    def check_csrf(self, request: Request, purpose: str, token: str | None) -> bool:
        browser = self.browser_id(request)
        if not browser or not token:
            return False
        return hmac.compare_digest(self.csrf_token(browser, purpose), token)
