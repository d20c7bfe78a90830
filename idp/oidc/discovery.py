"""OpenID Provider metadata (OIDC Discovery 1.0 §3, RFC 8414) and the JWKS document.

Discovery lists exactly what is implemented: each feature contributes its own fields when it
is mounted, so the document can never advertise an endpoint that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from idp.config import Registry, Settings

Contribution = Callable[[], dict[str, Any]]


class Discovery:
    def __init__(
        self, settings: Settings, registry: Registry, signing_algs: tuple[str, ...]
    ) -> None:
        self.settings = settings
        self.registry = registry
        self._contributions: list[Contribution] = []
        self._base = {
            "issuer": settings.issuer,
            "jwks_uri": self.url("/jwks"),
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": list(signing_algs),
            "ui_locales_supported": ["sv", "en"],
            "claims_locales_supported": ["sv", "en"],
        }

    def url(self, path: str) -> str:
        return self.settings.issuer + path

    def contribute(self, contribution: Contribution) -> None:
        self._contributions.append(contribution)

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

    async def endpoint(self, request: Request) -> JSONResponse:
        return JSONResponse(self.document(), headers={"Cache-Control": "public, max-age=300"})


def routes(discovery: Discovery, jwks: Callable[[], dict[str, Any]]) -> list[Route]:
    async def jwks_endpoint(request: Request) -> JSONResponse:
        return JSONResponse(
            jwks(),
            media_type="application/jwk-set+json",
            headers={"Cache-Control": "public, max-age=300"},
        )

    return [
        Route("/.well-known/openid-configuration", discovery.endpoint, methods=["GET"]),
        Route("/jwks", jwks_endpoint, methods=["GET"]),
    ]
