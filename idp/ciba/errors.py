"""Errors of the backchannel authentication endpoint, one class per wire error code.

CIBA Core 1.0 §13 (https://openid.net/specs/openid-client-initiated-backchannel-authentication-core-1_0.html#rfc.section.13)
lists the codes and their HTTP status. Descriptions are fixed texts: they never repeat what
the client sent (a login_hint is a personal number).
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import OAuth2Error

from idp.authn import FailureReason


class BackchannelError(OAuth2Error):
    status_code = 400


class InvalidRequest(BackchannelError):
    """A parameter is missing, repeated or malformed, or more than one hint was given."""

    error = "invalid_request"


class InvalidScope(BackchannelError):
    """The scope is invalid or does not include openid."""

    error = "invalid_scope"


class ExpiredLoginHintToken(BackchannelError):
    error = "expired_login_hint_token"


class UnknownUserId(BackchannelError):
    """The hint names nobody we can authenticate."""

    error = "unknown_user_id"


class UnauthorizedClient(BackchannelError):
    """The client's entry does not allow the CIBA grant."""

    error = "unauthorized_client"


class InvalidBindingMessage(BackchannelError):
    """The binding_message cannot be shown in the BankID app (too long, unsupported characters)."""

    error = "invalid_binding_message"


class InvalidAuthorizationDetails(BackchannelError):
    """RFC 9396 §5: authorization_details that break a rule of their type, of a type the client
    may not use, or that the backchannel authenticator cannot have approved (a payment; a
    requirement BankID's /phone/sign does not take). The description names the member, never a
    value (idp.authn.approval.InvalidDetails)."""

    error = "invalid_authorization_details"


class InvalidClient(BackchannelError):
    status_code = 401
    error = "invalid_client"


class AccessDenied(BackchannelError):
    """We refuse the request (e.g. another BankID order for the person is in progress)."""

    status_code = 403
    error = "access_denied"


class TemporarilyUnavailable(BackchannelError):
    """BankID or our store cannot be reached. Not in §13; RFC 6749 §4.1.2.1 names it."""

    status_code = 503
    error = "temporarily_unavailable"


class ServerError(BackchannelError):
    status_code = 500
    error = "server_error"


# A start that failed -> what the backchannel endpoint answers.
START_FAILURES: dict[FailureReason, tuple[type[BackchannelError], str]] = {
    FailureReason.IN_PROGRESS: (
        AccessDenied,
        "another authentication for this person is in progress; both were stopped",
    ),
    FailureReason.UNAVAILABLE: (
        TemporarilyUnavailable,
        "the identity service cannot be reached; please try again shortly",
    ),
    FailureReason.REJECTED: (AccessDenied, "the identity service refused the request"),
    FailureReason.INTERNAL: (ServerError, "the authentication could not be started"),
}

# A final failure -> the error_description the token endpoint gives with access_denied.
DENIED_DESCRIPTIONS: dict[str, str] = {
    FailureReason.CANCELLED.value: "the user cancelled the authentication",
    FailureReason.DECLINED.value: "the user said they are not on a call with you",
    FailureReason.REJECTED.value: "the identity service refused the authentication",
    FailureReason.START_FAILED.value: "the user never started the authentication",
    FailureReason.IN_PROGRESS.value: "another authentication for this person was started",
    FailureReason.UNAVAILABLE.value: "the identity service could not be reached",
    FailureReason.INTERNAL.value: "the authentication failed",
    "subject_mismatch": "the authentication did not verify the requested person",
    "no_approval": "the authentication did not include the requested approval",
}
