"""Jinja2 rendering with the locale and a translation function in every template, and the
page frame's values: the operator's branding (`brand`) and the service being logged in to
(`service`: the client's name in the page's language, and its logo)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from idp import resources
from idp.config import ClientSettings, Registry
from idp.web import i18n
from idp.web.headers import csp_with_images
from idp.web.static import Branding

#: A client's logo_uri that may go into the CSP as an exact image source: https (http only on
#: loopback, as the schema allows), no query, and none of the characters that end or separate
#: source expressions. Another logo_uri is not shown.
_LOGO_SOURCE = re.compile(
    r"(https://[A-Za-z0-9.-]+|http://(127\.[0-9.]+|localhost|\[::1\]))(:[0-9]{1,5})?"
    r"/[A-Za-z0-9._~!$&()*+=:@%/-]*"
)


def logo_source(url: str | None) -> str | None:
    """`url` if it can be a CSP image source of its own, else None."""
    return url if url and _LOGO_SOURCE.fullmatch(url) else None


@dataclass(frozen=True)
class Service:
    """The service a page is about (the client): its name in the page's language, its logo."""

    name: str
    logo: str | None = None


class Templates:
    def __init__(
        self,
        default_locale: str = "sv",
        directory: Path | None = None,
        *,
        secure: bool = False,
        branding: Branding | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.default_locale = default_locale
        self.secure = secure  # the language cookie is Secure when the issuer is https
        self.branding = branding or Branding()
        self.registry = registry  # the clients in service, for `service`
        self.env = Environment(
            loader=FileSystemLoader(str(directory or resources.templates())),
            autoescape=select_autoescape(["html", "xml", "svg"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def locale(self, request: Request, explicit: tuple[str, ...] = ()) -> str:
        return i18n.negotiate(request, self.default_locale, explicit)

    def _client(self, context: dict[str, Any]) -> ClientSettings | None:
        """The client a page is about: by its `client_id`, else by its `client_name` when one
        client in service has that name."""
        if self.registry is None:
            return None
        client_id = context.get("client_id")
        if isinstance(client_id, str) and client_id:
            return self.registry.client(client_id)
        name = context.get("client_name")
        if not isinstance(name, str):
            return None
        named = [c for c in self.registry.current.clients if c.display_name == name]
        return named[0] if len(named) == 1 else None

    def service(self, context: dict[str, Any], locale: str) -> Service | None:
        client = self._client(context)
        if client is not None:
            return Service(client.name_for(locale), logo_source(client.logo_uri))
        name = context.get("client_name")
        return Service(name) if isinstance(name, str) and name else None

    def render(
        self,
        request: Request,
        name: str,
        context: dict[str, Any] | None = None,
        *,
        status_code: int = 200,
        locale: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        loc = locale or self.locale(request)

        def t(key: str, **params: object) -> str:
            return i18n.translate(key, loc, **params)

        query = dict(request.query_params)
        query["lang"] = i18n.translate("lang.other", loc)
        switch_url = request.url.include_query_params(**query)
        brand = self.branding.for_page(loc)
        service = self.service(context or {}, loc)
        html = self.env.get_template(name).render(
            {
                "t": t,
                "locale": loc,
                "switch_url": str(switch_url.path) + "?" + switch_url.query,
                "brand": brand,
                "service": service,
                # The page title's second part: the service, else the organisation.
                "service_title": service.name if service else brand["name"],
                **(context or {}),
            }
        )
        headers = dict(headers or {})
        if service is not None and service.logo:
            # The page shows the client's logo: the CSP allows that one image, and no more.
            headers.setdefault("content-security-policy", csp_with_images(service.logo))
        response = HTMLResponse(html, status_code=status_code, headers=headers)
        if request.query_params.get("lang") in i18n.LOCALES:
            response.set_cookie(
                i18n.LANG_COOKIE,
                loc,
                max_age=365 * 24 * 3600,
                httponly=True,
                samesite="lax",
                secure=self.secure,
            )
        return response
