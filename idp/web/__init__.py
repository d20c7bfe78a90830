"""Templating, security headers, cookies, client address, locale selection and error pages.

What other packages may use. The modules `errors` and `i18n` are public as a whole.
"""

from idp.web.client_address import ClientAddress
from idp.web.cookies import Cookies
from idp.web.errors import error_page
from idp.web.headers import SecurityHeaders
from idp.web.static import PackageStaticFiles
from idp.web.templating import Templates

__all__ = [
    "ClientAddress",
    "Cookies",
    "PackageStaticFiles",
    "SecurityHeaders",
    "Templates",
    "error_page",
    "errors",
    "i18n",
]
