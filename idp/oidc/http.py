"""Back-channel HTTP: reading a form body on the event loop, and answering in OAuth JSON.

Every back-channel endpoint (token, introspection, revocation, CIBA, PAR) reads its body with
`read_form` and answers with `oauth_json`. Authlib's sync code gets the body already read, as a
`PreparedRequest`, so it never touches the ASGI receive channel from its worker thread.
"""

from __future__ import annotations

import json
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_FORM_FIELDS = 50
MAX_BODY = 64 * 1024


class BadRequest(Exception):
    """Raised by `read_form` when the body is not a usable form (method, type, size, syntax,
    a repeated parameter); `description` says which, without echoing the input."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


async def read_form(request: Request) -> dict[str, str]:
    """The form body of a back-channel request, with the checks RFC 6749 §3.2 and §4.1.3 imply."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method != "POST":
        raise BadRequest("use POST")
    if ctype != "application/x-www-form-urlencoded":
        raise BadRequest("the body must be application/x-www-form-urlencoded")
    length = request.headers.get("content-length")
    if length and (not length.isdigit() or int(length) > MAX_BODY):
        raise BadRequest("the request body is too large")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BadRequest("the request body is too large")
    try:
        form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    except Exception:  # malformed multipart/form data of any kind
        raise BadRequest("the request body is malformed") from None
    out: dict[str, str] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise BadRequest("files are not accepted")
        if key in out:
            # RFC 6749 §3.2: request parameters MUST NOT be included more than once.
            raise BadRequest(f"'{key}' was given more than once")
        out[key] = value
    return out


class PreparedRequest(OAuth2Request):
    """An OAuth2Request built from a body that was already read on the event loop."""

    def __init__(self, method: str, uri: str, headers: dict[str, str], form: dict[str, str]):
        super().__init__(method, uri, headers=headers)
        self._form = form
        self.payload = BasicOAuth2Payload(form)

    @classmethod
    def of(cls, request: Request, form: dict[str, str]) -> PreparedRequest:
        return cls(request.method, str(request.url), dict(request.headers.items()), form)

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


def oauth_json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response for the back channel, never cached (RFC 6749 §5.1)."""
    merged = {k: v for k, v in (headers or {}).items() if k.lower() not in ("content-type",)}
    merged.update(NO_STORE)
    if isinstance(body, (str, bytes)):
        body = json.loads(body)
    return JSONResponse(body, status_code=status, headers=merged)


__all__ = [
    "MAX_BODY",
    "MAX_FORM_FIELDS",
    "NO_STORE",
    "BadRequest",
    "PreparedRequest",
    "oauth_json",
    "read_form",
]
