"""Back-channel HTTP: reading a form body on the event loop, and answering in OAuth JSON.

Every back-channel endpoint (token, introspection, revocation, CIBA, PAR) reads its body with
`read_form` and answers with `oauth_json`. Authlib's sync code gets the body already read, as a
`PreparedRequest`, so it never touches the ASGI receive channel from its worker thread.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from authlib.common.security import is_secure_transport
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_FORM_FIELDS = 50
MAX_BODY = 64 * 1024
#: A pushed authorization request may carry what a person is to approve: a text to sign of up
#: to BankID's 40,000 base64 characters and non-visible data of up to 200,000 (RFC 9396).
MAX_PAR_BODY = 512 * 1024


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def quoted_name(name: str) -> str:
    """A parameter's name as an error description may quote it: RFC 6749 §5.2 allows only
    printable ASCII but `"` and `\\` in ``error_description`` (Authlib raises ValueError for
    anything else), and a description never repeats arbitrary input."""
    return f"'{name}'" if _PLAIN_NAME.fullmatch(name) else "a parameter"


class BadRequest(Exception):
    """Raised by `read_form` when the body is not a usable form (method, type, size, syntax,
    a repeated parameter); `description` says which, without echoing the input."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


#: A body of the plainest form, `name=value` pairs joined by `&`, names non-empty, every byte
#: unreserved (RFC 3986 §2.3), `%`, `+` or `*`: what every client sends. Anything else (`;`,
#: a field without `=`, an empty field, raw non-ASCII bytes) goes to Starlette's parser.
_FIELD = rb"[A-Za-z0-9._~*%+-]+=[A-Za-z0-9._~*%+-]*"
_SIMPLE_FORM = re.compile(rb"%s(?:&%s)*" % (_FIELD, _FIELD))


def _simple_form(body: bytes) -> dict[str, str] | None:
    """`body` parsed as Starlette's parser would (`unquote_plus`, UTF-8 with replacement), when
    it is a simple form (`_SIMPLE_FORM`) of at most MAX_FORM_FIELDS fields, none repeated; else
    None (the body then goes through Starlette's parser and its checks)."""
    if not _SIMPLE_FORM.fullmatch(body):
        return None
    fields = body.decode("ascii").split("&")
    if len(fields) > MAX_FORM_FIELDS:
        return None
    out: dict[str, str] = {}
    for field in fields:
        name, _, value = field.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if name in out:
            return None  # refused by the general path, with its message
        out[name] = unquote_plus(value) if "%" in value or "+" in value else value
    return out


async def read_form(request: Request, *, max_body: int = MAX_BODY) -> dict[str, str]:
    """The form body of a back-channel request, with the checks RFC 6749 §3.2 and §4.1.3 imply;
    at most `max_body` bytes (more for PAR, whose requests may carry a text to sign)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method != "POST":
        raise BadRequest("use POST")
    if ctype != "application/x-www-form-urlencoded":
        raise BadRequest("the body must be application/x-www-form-urlencoded")
    length = request.headers.get("content-length")
    if length and (not length.isascii() or not length.isdigit() or int(length) > max_body):
        raise BadRequest("the request body is too large")
    body = await request.body()
    if len(body) > max_body:
        raise BadRequest("the request body is too large")
    simple = _simple_form(body)
    if simple is not None:
        return simple
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
            raise BadRequest(f"{quoted_name(key)} was given more than once")
        out[key] = value
    return out


class PreparedRequest(OAuth2Request):
    """An OAuth2Request built from a body that was already read on the event loop."""

    _request: Request | None = None
    _uri: str = ""

    def __init__(self, method: str, uri: str, headers: dict[str, str], form: dict[str, str]):
        super().__init__(method, uri, headers=headers)
        self._form = form
        self.payload = BasicOAuth2Payload(form)

    @classmethod
    def of(cls, request: Request, form: dict[str, str]) -> PreparedRequest:
        """As `cls(request.method, str(request.url), ...)`, with Authlib's transport check of
        that URL made once per origin (`_secure_origin`) and the URL built only if read."""
        scope = request.scope
        host = next((v for k, v in scope["headers"] if k == b"host"), None)
        server = scope.get("server")
        secure = os.environ.get("AUTHLIB_INSECURE_TRANSPORT") or _secure_origin(
            scope.get("scheme", "http"), host, None if server is None else tuple(server)
        )
        if not secure:
            raise InsecureTransportError()
        prepared = cls(request.method, _CHECKED_URI, dict(request.headers.items()), form)
        prepared._request = request
        return prepared

    @property
    def uri(self) -> str:
        if self._request is not None:
            self._uri, self._request = str(self._request.url), None
        return self._uri

    @uri.setter
    def uri(self, value: str) -> None:
        self._uri, self._request = value, None

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}


#: What `PreparedRequest.of` hands Authlib's constructor (its own check then passes at once):
#: the request's URL replaces it.
_CHECKED_URI = "https://checked.invalid/"


@functools.lru_cache(maxsize=256)
def _secure_origin(scheme: str, host: bytes | None, server: tuple[str, int] | None) -> bool:
    """Authlib's transport check (`is_secure_transport`) of the URL Starlette builds for a
    request with this scheme, Host header and server address: it depends on the scheme and the
    host only, never on the path or query, so "/" stands for them."""
    headers = [] if host is None else [(b"host", host)]
    url = URL(scope={"scheme": scheme, "server": server, "path": "/", "headers": headers})
    return is_secure_transport(str(url))


@dataclass(frozen=True)
class SignedBody:
    """A JWT answered in place of the JSON object, as its media type names it (a signed
    introspection response, RFC 9701 §5)."""

    jwt: str
    media_type: str


def oauth_json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response for the back channel (or a `SignedBody`), never cached (RFC 6749 §5.1)."""
    merged = {k: v for k, v in (headers or {}).items() if k.lower() not in ("content-type",)}
    merged.update(NO_STORE)
    if isinstance(body, SignedBody):
        return Response(body.jwt, status_code=status, headers=merged, media_type=body.media_type)
    if isinstance(body, (str, bytes)):
        body = json.loads(body)
    return JSONResponse(body, status_code=status, headers=merged)


__all__ = [
    "MAX_BODY",
    "MAX_FORM_FIELDS",
    "NO_STORE",
    "BadRequest",
    "PreparedRequest",
    "SignedBody",
    "oauth_json",
    "quoted_name",
    "read_form",
]
