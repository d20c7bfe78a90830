"""Security headers on every response: RFC 9700 §4.16 clickjacking, strict CSP, no inline JS.

`SecurityPolicy` adds them to a response's header list (the app's `RequestObserver` calls it).
The header lists are built once.
"""

from __future__ import annotations

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def csp_with_images(*urls: str) -> str:
    """The CSP of a page that also shows the images at `urls` (a client's logo_uri): each as
    an exact URL (a source expression with a path matches only that path, CSP3 §6.7.2.9),
    not its whole site. `urls` must be safe in a source expression (`templating.logo_source`)."""
    if not urls:
        return CSP
    return CSP.replace("img-src 'self' data:;", f"img-src 'self' data: {' '.join(urls)};")


Headers = list[tuple[bytes, bytes]]

_ALWAYS: Headers = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
_HTML: Headers = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CSP.encode()),
    (b"cache-control", b"no-store"),
]
_HSTS = (b"strict-transport-security", b"max-age=31536000")


class SecurityPolicy:
    """Adds the security headers a response does not set itself: every response gets
    nosniff and no-referrer (and HSTS with `hsts`), HTML also no framing, the CSP and no-store.
    """

    def __init__(self, *, hsts: bool = False) -> None:
        hsts_header = [_HSTS] if hsts else []
        self._always = _ALWAYS + hsts_header
        self._html = _ALWAYS + _HTML + hsts_header

    def __call__(self, headers: Headers) -> Headers:
        """`headers` (a list of its own: extended in place) with the missing headers added."""
        present = set()
        html = False
        for name, value in headers:
            name = name.lower()
            present.add(name)
            if name == b"content-type":
                html = value.startswith(b"text/html")
        for header in self._html if html else self._always:
            if header[0] not in present:
                headers.append(header)
        return headers
