"""The static files at ``/static``: only the kinds of file a page loads, from the package; and
the operator's branding files (`Branding`), served from this origin as the pages' CSP wants."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.staticfiles import StaticFiles

from idp import resources
from idp.config import BrandingSettings

#: What a page may load. Anything else in the folder (its package marker ``__init__.py``) is 404.
SERVED_SUFFIXES = frozenset({".css", ".js", ".svg", ".png", ".ico", ".woff2"})


class PackageStaticFiles(StaticFiles):
    def __init__(self) -> None:
        super().__init__(directory=str(resources.static()))

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if PurePosixPath(path).suffix.lower() not in SERVED_SUFFIXES:
            return "", None
        return super().lookup_path(path)


# --------------------------------------------------------------------------- branding

#: Versioned branding files (?v= their digest) are cached for a year; /favicon.ico, which a
#: browser asks for by that name, for a day.
LONG_CACHE = "public, max-age=31536000, immutable"
FAVICON_CACHE = "public, max-age=86400"
#: A branding file opened on its own (an SVG is a document) runs nothing and loads nothing.
ASSET_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
MEDIA_TYPES = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".css": "text/css; charset=utf-8",
}
#: The project's own favicon (static/favicon.ico, drawn for it), when none is configured.
DEFAULT_FAVICON = "favicon.ico"


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str

    @property
    def version(self) -> str:
        return hashlib.sha256(self.body).hexdigest()[:16]


def _asset(path: Path | None) -> Asset | None:
    if path is None:
        return None
    return Asset(path.read_bytes(), MEDIA_TYPES[path.suffix.lower()])


class Branding:
    """The operator's branding (`branding:` in the configuration), read once: what the page
    frame shows (`for_page`) and the files it loads, served from this origin (`routes`): the
    logo, the favicon (also at /favicon.ico) and /branding.css (the accent colour as a CSS
    custom property, then the operator's extra CSS), each at a URL versioned by its digest."""

    def __init__(self, settings: BrandingSettings | None = None) -> None:
        self.settings = settings or BrandingSettings()
        s = self.settings
        self.logo = _asset(s.logo)
        self.favicon = _asset(s.favicon) or _asset(resources.static() / DEFAULT_FAVICON)
        css = ""
        if s.accent_colour:
            css += f":root {{ --accent: {s.accent_colour}; }}\n"
        if s.extra_css:
            css += s.extra_css.read_text(encoding="utf-8")
        self.css = Asset(css.encode("utf-8"), MEDIA_TYPES[".css"]) if css else None

    def for_page(self, locale: str) -> dict[str, Any]:
        """What base.html shows of the branding, in `locale`."""
        s = self.settings
        return {
            "name": s.organisation(locale),
            "logo_url": f"/branding/logo?v={self.logo.version}" if self.logo else None,
            "css_url": f"/branding.css?v={self.css.version}" if self.css else None,
            "favicon_url": f"/branding/favicon?v={self.favicon.version}" if self.favicon else None,
            "favicon_type": self.favicon.media_type if self.favicon else None,
            "website_url": s.website_url,
            "support_url": s.support_url,
            "privacy_url": s.privacy_url,
        }

    def routes(self) -> list[BaseRoute]:
        def serve(asset: Asset | None, cache: str) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                if asset is None:
                    return Response(status_code=404)
                headers = {"cache-control": cache, "content-security-policy": ASSET_CSP}
                return Response(asset.body, media_type=asset.media_type, headers=headers)

            return endpoint

        get = ["GET", "HEAD"]
        return [
            Route("/favicon.ico", serve(self.favicon, FAVICON_CACHE), methods=get),
            Route("/branding/favicon", serve(self.favicon, LONG_CACHE), methods=get),
            Route("/branding/logo", serve(self.logo, LONG_CACHE), methods=get),
            Route("/branding.css", serve(self.css, LONG_CACHE), methods=get),
        ]
