"""OpenID Provider metadata (OIDC Discovery 1.0 §3, RFC 8414) and the JWKS document.

Discovery lists exactly what is implemented: each feature contributes its own fields when it
is mounted, so the document can never advertise an endpoint that does not exist.

Both documents are served from bytes encoded once: discovery is built again only when the
registrations (a reload of clients or scopes), the contributions or the signing keys change;
the JWKS only when the key table changes (`SigningKeys.jwks_document`). Each carries a strong
ETag, and a matching If-None-Match is answered 304.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from idp.config import Registry, Settings

Contribution = Callable[[], dict[str, Any]]

CACHE_CONTROL = "public, max-age=300"


class Document(Protocol):
    @property
    def body(self) -> bytes: ...
    @property
    def etag(self) -> str: ...


def etag(body: bytes) -> str:
    return '"' + base64.urlsafe_b64encode(hashlib.sha256(body).digest()[:12]).decode() + '"'


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


class _Encoded:
    __slots__ = ("body", "etag", "key")

    def __init__(self, key: tuple[Any, ...], body: bytes) -> None:
        self.key = key
        self.body = body
        self.etag = etag(body)


def respond(request: Request, doc: Document, media_type: str) -> Response:
    """The document's bytes (or 304 when the caller holds them already)."""
    headers = {"cache-control": CACHE_CONTROL, "etag": doc.etag}
    match = request.headers.get("if-none-match")
    if match is not None and doc.etag in (t.strip().removeprefix("W/") for t in match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(doc.body, media_type=media_type, headers=headers)


class Discovery:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        signing_algs: tuple[str, ...],
        *,
        keys_version: Callable[[], object] = lambda: None,
    ) -> None:
        """`keys_version` changes whenever the signing keys do (SigningKeys.version): the
        document is encoded again then."""
        self.settings = settings
        self.registry = registry
        self._keys_version = keys_version
        self._contributions: list[Contribution] = []
        self._encoded: _Encoded | None = None
        self._base = {
            "issuer": settings.issuer,
            "jwks_uri": self.url("/jwks"),
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": list(signing_algs),
            "ui_locales_supported": ["sv", "en"],
            # No claims_locales_supported: claims come from BankID as they are, never localised.
        }

    def url(self, path: str) -> str:
        return self.settings.issuer + path

    def contribute(self, contribution: Contribution) -> None:
        self._contributions.append(contribution)
        self._encoded = None

    def document(self) -> dict[str, Any]:
        scopes = self.registry.current.scopes  # read each time: a reload may change them
        doc = {
            **self._base,
            "scopes_supported": sorted(scopes),
            "claims_supported": sorted(
                {"iss", "sub", "aud", "exp", "iat"} | {c for cs in scopes.values() for c in cs}
            ),
        }
        for contribution in self._contributions:
            for key, value in contribution().items():
                if isinstance(value, list) and isinstance(doc.get(key), list):
                    doc[key] = list(dict.fromkeys([*doc[key], *value]))
                else:
                    doc[key] = value
        return doc

    def encoded(self) -> Document:
        """The document as sent, encoded again only when what it is made of changed."""
        key = (self.registry.current, len(self._contributions), self._keys_version())
        cached = self._encoded
        if cached is None or cached.key != key:
            cached = self._encoded = _Encoded(key, encode(self.document()))
        return cached

    async def endpoint(self, request: Request) -> Response:
        return respond(request, self.encoded(), "application/json")


def routes(discovery: Discovery, jwks: Callable[[], Document]) -> list[Route]:
    """Discovery and the JWKS; `jwks` gives the encoded key set (SigningKeys.jwks_document)."""

    async def jwks_endpoint(request: Request) -> Response:
        return respond(request, jwks(), "application/jwk-set+json")

    return [
        Route("/.well-known/openid-configuration", discovery.endpoint, methods=["GET"]),
        Route("/jwks", jwks_endpoint, methods=["GET"]),
    ]
