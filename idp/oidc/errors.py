"""Wire errors of the authorization and pushed-authorization endpoints, one class per error code.

The class *is* the error code (Authlib's ``rfc6749/errors.py`` is the model). A check raises
one; each endpoint kind renders it once: a redirect to the client with ``error``, ``state`` and
``iss`` (RFC 6749 §4.1.2.1, RFC 9207), an HTML page while the client or its redirect URI is not
yet trusted (RFC 9700 §4.11: never an open redirector), or OAuth JSON at the PAR endpoint
(RFC 9126 §2.3). Descriptions are fixed texts: they never echo what the client sent (a
``login_hint`` may be a personal number).

Codes and where they come from:
RFC 6749 §4.1.2.1 and §5.2; OIDC Core §3.1.2.6; RFC 9101 §7 (request objects); RFC 9126 §2.3;
OpenID Connect "unmet authentication requirements" 1.0.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AccessDenied",
    "AuthorizationError",
    "InvalidAuthorizationDetails",
    "InvalidClient",
    "InvalidRedirectUri",
    "InvalidRequest",
    "InvalidRequestObject",
    "InvalidRequestUri",
    "InvalidScope",
    "LoginRequired",
    "RequestUriNotSupported",
    "ServerError",
    "TemporarilyUnavailable",
    "UnauthorizedClient",
    "UnmetAuthenticationRequirements",
    "UnsupportedResponseType",
]


class AuthorizationError(Exception):
    """An authorization request that cannot go on. ``page_only`` errors are never redirected:
    they are raised before the client and its redirect URI are trusted."""

    error: ClassVar[str] = "invalid_request"
    status_code: ClassVar[int] = 400
    page_only: ClassVar[bool] = False
    #: The i18n key of the HTML page that explains it to the person (page rendering only).
    message_key: ClassVar[str] = "authz.bad_request"

    def __init__(self, description: str = "") -> None:
        super().__init__(description or self.error)
        self.description = description

    def json(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


# --------------------------------------------------------------------- never redirected


class InvalidClient(AuthorizationError):
    """No such client, or it may not use this endpoint (RFC 6749 §4.1.2.1: do not redirect)."""

    error = "invalid_client"
    status_code = 401
    page_only = True
    message_key = "authz.unknown_client"


class InvalidRedirectUri(AuthorizationError):
    """redirect_uri missing or not exactly one of the client's (RFC 9700 §4.1.3)."""

    error = "invalid_redirect_uri"
    page_only = True
    message_key = "authz.bad_redirect_uri"


# --------------------------------------------------------------------- redirected (or JSON)


class InvalidRequest(AuthorizationError):
    error = "invalid_request"


class UnauthorizedClient(AuthorizationError):
    error = "unauthorized_client"


class AccessDenied(AuthorizationError):
    error = "access_denied"
    status_code = 403


class UnsupportedResponseType(AuthorizationError):
    error = "unsupported_response_type"


class InvalidScope(AuthorizationError):
    error = "invalid_scope"


class ServerError(AuthorizationError):
    error = "server_error"
    status_code = 500


class TemporarilyUnavailable(AuthorizationError):
    error = "temporarily_unavailable"
    status_code = 503


class LoginRequired(AuthorizationError):
    error = "login_required"


class InvalidRequestUri(AuthorizationError):
    """RFC 9101 §7 / RFC 9126 §4: the request_uri is unknown, used, expired or not the
    client's."""

    error = "invalid_request_uri"


class InvalidRequestObject(AuthorizationError):
    """RFC 9101 §7: the request object is invalid (signature, algorithm, claims)."""

    error = "invalid_request_object"


class RequestUriNotSupported(AuthorizationError):
    error = "request_uri_not_supported"


class InvalidAuthorizationDetails(AuthorizationError):
    """RFC 9396 §5: authorization_details that break a rule of their type."""

    error = "invalid_authorization_details"


class UnmetAuthenticationRequirements(AuthorizationError):
    """OpenID Connect Core Unmet Authentication Requirements 1.0 §2: essential acr values
    cannot be met (Swedish OIDC Profile §2.2)."""

    error = "unmet_authentication_requirements"
