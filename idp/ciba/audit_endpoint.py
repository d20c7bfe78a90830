"""POST /backchannel-authentication/audit: a client's own account of its backchannel requests.

An extension, for clients that must show who verified whom (the customer-service console's
history pages): the client authenticates as at the token endpoint (the methods of CIBA, all
confidential) and gets the audit rows of its own requests, newest first. A client never sees
another client's rows. Optional form fields: ``requested_by`` (only the requests that named
that requester) and ``limit`` (1 to 200, default 50).

The rows hold nothing a client did not already have: the pseudonymous `sub` it was given (or
would have been), its own ``requested_by``, outcomes and times. Never a personal number and
never an auth_req_id (a row's `id` is its SHA-256). Discovery names the endpoint
``backchannel_authentication_audit_endpoint``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from idp.ciba.audit import AuditEntry, CibaAuditLog
from idp.ciba.endpoint import PATH as BACKCHANNEL_PATH
from idp.oidc.bridge import OAuthBridge
from idp.oidc.client_auth import CONFIDENTIAL_METHODS, ClientAuthenticationFailed
from idp.oidc.http import BadRequest, oauth_json, read_form
from idp.store.db import DatabaseUnavailable, engine_of, run_db
from idp.store.ttl import StoreUnavailable
from idp.web.ratelimit import CIBA, RateLimiter, too_many_json

log = logging.getLogger("idp.ciba")

PATH = BACKCHANNEL_PATH + "/audit"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_BODY = 4096


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "requested_at": int(entry.requested_at),
        "finished_at": None if entry.finished_at is None else int(entry.finished_at),
        "outcome": entry.outcome,
        "detail": entry.detail,
        "subject": entry.subject,
        "requested_by": entry.requested_by,
        "approval_type": entry.approval_type,
        "tokens_issued_at": None if entry.tokens_issued_at is None else int(entry.tokens_issued_at),
    }


def _invalid(description: str) -> Response:
    return oauth_json(400, {"error": "invalid_request", "error_description": description})


def _empty(request: Request) -> bool:
    """A request with no body at all (every field is optional; HTTP Basic carries the client)."""
    headers = request.headers
    return "content-type" not in headers and headers.get("content-length", "0") == "0"


def _limit(raw: str | None) -> int | None:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or len(raw) > 3:
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_LIMIT else None


class AuditEndpoint:
    def __init__(self, bridge: OAuthBridge, audit: CibaAuditLog) -> None:
        self.bridge = bridge
        self.audit = audit
        #: The backchannel endpoint's per-client limit (set by idp.app); None: no limit.
        self.limiter: RateLimiter | None = None

    async def endpoint(self, request: Request) -> Response:
        try:
            form = {} if _empty(request) else await read_form(request, max_body=MAX_BODY)
        except BadRequest as exc:
            return _invalid(exc.description)
        limiter = self.limiter
        with contextlib.suppress(StoreUnavailable):
            if limiter is not None and (limited := await limiter.client(CIBA, request, form)):
                return too_many_json(limited)
        try:
            client = await self.bridge.client_auth.authenticate(
                request, form, "backchannel_authentication", CONFIDENTIAL_METHODS
            )
        except ClientAuthenticationFailed as exc:
            if limiter is not None:
                with contextlib.suppress(StoreUnavailable):
                    await limiter.client_auth_failed(request, form)
            return oauth_json(exc.status_code, exc.json(), exc.headers)
        except (StoreUnavailable, DatabaseUnavailable):
            return _unavailable()
        limit = _limit(form.get("limit"))
        if limit is None:
            return _invalid(f"limit must be a whole number from 1 to {MAX_LIMIT}")
        requested_by = form.get("requested_by") or None
        if requested_by is not None and len(requested_by) > 200:
            return _invalid("requested_by is at most 200 characters")
        try:
            entries = await run_db(
                self.audit.entries,
                client.client_id,
                limit,
                requested_by,
                engine=engine_of(self.audit.sessions),
            )
        except DatabaseUnavailable:
            return _unavailable()
        return oauth_json(200, {"requests": [entry_json(e) for e in entries]})


def _unavailable() -> Response:
    return oauth_json(
        503,
        {"error": "temporarily_unavailable", "error_description": "please try again shortly"},
        {"Retry-After": "5"},
    )
