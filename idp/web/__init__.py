"""Templating, security headers, cookies, client address, locale selection and error pages.

What other packages may use. The modules `errors`, `i18n` and `overload` are public as a whole.
"""

from idp.web.client_address import ClientAddress
from idp.web.cookies import Cookies, clear_cookie, set_cookie
from idp.web.errors import error_page
from idp.web.headers import SecurityPolicy
from idp.web.static import Branding, PackageStaticFiles
from idp.web.templating import Templates, logo_source

__all__ = [
    "Branding",
    "ClientAddress",
    "Cookies",
    "PackageStaticFiles",
    "SecurityPolicy",
    "Templates",
    "clear_cookie",
    "error_page",
    "errors",
    "i18n",
    "logo_source",
    "markdown",
    "overload",
    "ratelimit",
    "set_cookie",
]
