"""The contract between the protocol core (OIDC, CIBA) and whatever authenticates people.

The core never knows how a person authenticated (node-oidc-provider's interaction model): it
hands a `LoginRequest` to an authenticator's pages and gets back an `Authentication` or a
`Failure` through the `LoginHandoff` it gave the authenticator. BankID hint codes, order
references and RFA messages never cross this boundary.

A leaf package: it imports nothing else of idp. The module `personal_number` (Swedish
personal numbers: parse, check digit) is public as a whole, and so is `safejson` (JSON from
outside, decoded with bounded depth and size), which every package may use.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from idp.authn.approval import Approval


@dataclass(frozen=True)
class UserMessage:
    """A message from the client, to show the person while they authenticate (and only then).

    `text` is the variant chosen for the request's languages; `by_language` holds the client's
    variants per language (``("sv", ...), ("en", ...)``, and ``""`` for the one without a
    language), so that an authenticator whose pages settled on a language shows that one
    (`for_locale`). `markdown`: the text is Markdown (no HTML), else plain text. Lines break at
    CR, LF or CRLF.
    """

    text: str
    markdown: bool = False
    by_language: tuple[tuple[str, str], ...] = ()

    def for_locale(self, locale: str) -> str:
        """The variant for `locale` ("sv", "en"), else the one without a language, else `text`."""
        variants = dict(self.by_language)
        return variants.get(locale) or variants.get("") or self.text


@dataclass(frozen=True)
class LoginRequest:
    """A validated authorization request, as an authenticator needs to see it."""

    transaction_id: str
    client_id: str
    client_name: str
    acr_values: tuple[str, ...] = ()
    login_hint: str | None = None
    ui_locales: tuple[str, ...] = ()
    prompt: tuple[str, ...] = ()
    max_age: int | None = None
    #: Shown to the person in the authenticating app (never with prompt=none).
    user_message: UserMessage | None = None
    #: What the person is asked to approve (a signature, a payment), if anything: the
    #: authenticator shows it, has it approved instead of a plain login, and returns the
    #: evidence (`EVIDENCE_CLAIMS`). Never satisfied by an earlier login.
    approval: Approval | None = None
    #: Identifies this request in what the person approves (issuer, client, request), so that
    #: the approval cannot be presented for another request (`Approval.binding_text`).
    approval_binding: str | None = None


@dataclass(frozen=True)
class Authentication:
    """A person proved who they are.

    `subject` identifies the person inside the authenticator's namespace (for BankID,
    ``"se-pnr:<12 digits>"``). It is personal data: the core derives the pseudonymous `sub` from
    it with a server secret and never sends it to a client. `claims` are candidate claims
    (``name``, ``ssn``, ``bankid_signature``, ...) that scopes may release.
    """

    subject: str
    acr: str
    amr: tuple[str, ...]
    auth_time: float
    claims: Mapping[str, Any] = field(default_factory=dict)


class FailureReason(enum.Enum):
    """Why an authentication did not succeed, in terms a protocol can answer with."""

    CANCELLED = "cancelled"  # the person cancelled, in our pages or in their app
    DECLINED = "declined"  # the person refused (e.g. said they are not on a call)
    EXPIRED = "expired"  # took too long
    START_FAILED = "start_failed"  # the authenticating app was never started
    REJECTED = "rejected"  # refused by policy or by the identity provider (risk, certificate)
    IN_PROGRESS = "in_progress"  # another authentication for the same person is running
    UNAVAILABLE = "unavailable"  # the identity service cannot be reached
    INTERNAL = "internal"  # a fault on our side


@dataclass(frozen=True)
class Failure:
    reason: FailureReason
    description: str = ""  # safe for a client to see: no personal data


@dataclass(frozen=True)
class Pending:
    """Still going (used by backchannel polling).

    `progress` says how far the person has come, in words a client may see: ``call_confirmed``
    once they confirmed in their app that they are on a call with the client (BankID phone
    orders), None before that or when the authenticator cannot tell.
    """

    progress: str | None = None


CALL_CONFIRMED = "call_confirmed"


Result = Authentication | Failure


class LoginHandoff(Protocol):
    """What the core gives a browser authenticator."""

    async def load(self, request: Request, transaction_id: str) -> LoginRequest | None:
        """The login transaction, if it exists and belongs to this browser; else None."""
        ...

    async def finish(self, request: Request, transaction_id: str, result: Result) -> Response:
        """Hand the result back; returns the response (a 303) that resumes the protocol."""
        ...

    async def rebind(self, request: Request, transaction_id: str) -> bool:
        """Bind an unfinished login transaction to this browser instead of the one that
        started it; False if there is no such transaction (or this browser has no binding).

        The authenticator calls it only with its own proof that the person is in this browser
        (BankID: the nonce of the return URL that the BankID app opened here); the browser that
        started the login can then no longer load or finish it."""
        ...


class BrowserAuthenticator(Protocol):
    """An authenticator with its own pages (BankID: QR or same-device autostart)."""

    @property
    def acr_values(self) -> tuple[str, ...]:
        """ACR values this authenticator can satisfy, for discovery and acr_values matching."""
        ...

    def routes(self) -> list[BaseRoute]: ...

    def start_url(self, login: LoginRequest) -> str:
        """Where the core sends the browser to start authenticating (a path on this host)."""
        ...


@dataclass(frozen=True)
class BackchannelRequest:
    """A CIBA request as an authenticator needs it: who, and what to show them."""

    request_id: str
    client_id: str
    client_name: str
    subject: str  # the person to authenticate, in the authenticator's namespace
    binding_message: str | None
    acr_values: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    #: What the person is asked to approve (a signature), if anything: the authenticator has
    #: it approved instead of only showing `binding_message`, and returns the evidence
    #: (`EVIDENCE_CLAIMS`) in the `Authentication`'s claims.
    approval: Approval | None = None
    #: Identifies this request in what the person approves (issuer, client, request), so that
    #: the approval cannot be presented for another request (`Approval.binding_text`).
    approval_binding: str | None = None


class BackchannelAuthenticator(Protocol):
    """An authenticator started without a browser (BankID phone authentication).

    The core calls `start` once per request, then `poll` every `poll_interval` seconds from a
    single follower across all instances until a final result, and `cancel` when it gives up
    (the request expired). The authenticator keeps its own state, keyed by `request_id`, in a
    store every instance shares.
    """

    @property
    def acr_values(self) -> tuple[str, ...]:
        """ACR values this authenticator can satisfy."""
        ...

    @property
    def poll_interval(self) -> float:
        """Seconds between polls (BankID: collect about every 2 s)."""
        ...

    def resolve_login_hint(self, login_hint: str) -> str | None:
        """The subject a hint names, or None when it names nobody this authenticator knows."""
        ...

    async def start(self, request: BackchannelRequest) -> Failure | None:
        """Start authenticating; a Failure if it could not even start."""
        ...

    async def poll(self, request_id: str) -> Pending | Authentication | Failure: ...

    async def cancel(self, request_id: str) -> None: ...


__all__ = [
    "CALL_CONFIRMED",
    "Authentication",
    "BackchannelAuthenticator",
    "BackchannelRequest",
    "BrowserAuthenticator",
    "Failure",
    "FailureReason",
    "LoginHandoff",
    "LoginRequest",
    "Pending",
    "Result",
    "UserMessage",
    "approval",
    "personal_number",
    "safejson",
]
