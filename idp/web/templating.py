"""Jinja2 rendering with the locale and a translation function in every template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from idp import resources
from idp.web import i18n


class Templates:
    def __init__(
        self,
        default_locale: str = "sv",
        directory: Path | None = None,
        *,
        secure: bool = False,
    ) -> None:
        self.default_locale = default_locale
        self.secure = secure  # the language cookie is Secure when the issuer is https
        self.env = Environment(
            loader=FileSystemLoader(str(directory or resources.templates())),
            autoescape=select_autoescape(["html", "xml", "svg"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def locale(self, request: Request, explicit: tuple[str, ...] = ()) -> str:
        return i18n.negotiate(request, self.default_locale, explicit)

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
        html = self.env.get_template(name).render(
            {
                "t": t,
                "locale": loc,
                "switch_url": str(switch_url.path) + "?" + switch_url.query,
                **(context or {}),
            }
        )
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
