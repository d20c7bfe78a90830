"""Discovery and the JWKS are sent from bytes encoded once, with an ETag; a reload of the
scopes or a change of the signing keys makes new bytes."""

import httpx
import pytest
from starlette.applications import Starlette

from idp.config import Registry, parse_settings
from idp.oidc import discovery as discovery_mod

ISSUER = "https://idp.example"


class FakeKeys:
    def __init__(self):
        self.version = 0
        self.body = b'{"keys":[]}'

    def jwks_document(self):
        class Doc:
            body = self.body
            etag = discovery_mod.etag(self.body)

        return Doc()


def settings(scopes):
    raw = {"issuer": ISSUER, "database_url": "sqlite://", "scopes": scopes}
    return parse_settings(raw, source="test.yaml", environ={})


@pytest.mark.anyio
async def test_discovery_is_encoded_once_and_again_after_a_reload():
    first = settings({"profile": ["name"]})
    registry = Registry(first)
    keys = FakeKeys()
    discovery = discovery_mod.Discovery(
        first, registry, ("RS256",), keys_version=lambda: keys.version
    )
    app = Starlette(routes=discovery_mod.routes(discovery, keys.jwks_document))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        doc = await client.get("/.well-known/openid-configuration")
        assert doc.status_code == 200 and doc.headers["content-type"] == "application/json"
        assert doc.headers["cache-control"] == "public, max-age=300"
        assert doc.json() == discovery.document() and "profile" in doc.json()["scopes_supported"]
        assert discovery.encoded() is discovery.encoded()
        again = await client.get(
            "/.well-known/openid-configuration", headers={"If-None-Match": doc.headers["etag"]}
        )
        assert again.status_code == 304 and again.content == b""

        registry.replace(settings({"profile": ["name"], "extra": ["email"]}))
        reloaded = await client.get(
            "/.well-known/openid-configuration", headers={"If-None-Match": doc.headers["etag"]}
        )
        assert reloaded.status_code == 200 and "extra" in reloaded.json()["scopes_supported"]
        assert reloaded.headers["etag"] != doc.headers["etag"]

        before = discovery.encoded()
        keys.version += 1
        assert discovery.encoded() is not before

        jwks = await client.get("/jwks")
        assert jwks.status_code == 200 and jwks.json() == {"keys": []}
        assert jwks.headers["content-type"] == "application/jwk-set+json"
        assert jwks.headers["cache-control"] == "public, max-age=300" and jwks.headers["etag"]
