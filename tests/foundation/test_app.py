"""The running provider: discovery, JWKS, liveness and readiness, error pages and headers."""

import pytest

from idp.app import create_app
from idp.clock import FixedClock
from idp.config import embedded_default, parse_settings
from idp.store.db import make_engine
from idp.store.memory import MemoryTTLStore
from idp.store.migrate import upgrade
from idp.store.ttl import StoreUnavailable
from tests.asgi import app_client

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(sqlite_url):
    s = parse_settings(
        {"issuer": "https://id.example.com/tenant", "database_url": sqlite_url},
        source="test",
        environ={},
    )
    engine = make_engine(sqlite_url)
    upgrade(engine)
    engine.dispose()
    return s


async def test_discovery_matches_the_issuer_and_jwks_is_public_only(settings):
    async with app_client(create_app(settings, clock=FixedClock())) as client:
        doc = (await client.get("/.well-known/openid-configuration")).json()
        assert doc["issuer"] == "https://id.example.com/tenant"
        urls = {k: v for k, v in doc.items() if k.endswith(("_endpoint", "_uri"))}
        assert urls and all(v.startswith(doc["issuer"] + "/") for v in urls.values())
        jwks = await client.get("/jwks")
        assert jwks.headers["content-type"].startswith("application/jwk-set+json")
        keys = jwks.json()["keys"]
        assert {k["kty"] for k in keys} == {"RSA", "EC"}
        assert not any({"d", "p", "q"} & set(k) for k in keys)


async def test_healthz_and_readyz(settings):
    async with app_client(create_app(settings)) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"


class BrokenStore(MemoryTTLStore):
    async def ping(self):
        raise StoreUnavailable("down")


async def test_readyz_names_the_failing_parts(settings, tmp_path):
    app = create_app(settings, store=BrokenStore())
    async with app_client(app) as client:
        app.state.runtime.engine.dispose()
        bad_engine = make_engine(f"sqlite:///{tmp_path}/missing/dir/x.db")
        (tmp_path / "missing" / "dir" / "x.db").unlink(missing_ok=True)  # made owner-only
        (tmp_path / "missing" / "dir").rmdir()
        app.state.runtime.engine = bad_engine
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert r.json() == {"status": "unavailable", "failing": ["database", "store"]}


async def test_unknown_pages_get_a_bilingual_html_error_with_security_headers(settings):
    async with app_client(create_app(settings)) as client:
        sv = await client.get("/nope", headers={"accept-language": "sv-SE,sv;q=0.9"})
        assert sv.status_code == 404 and "Sidan finns inte" in sv.text
        assert sv.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in sv.headers["content-security-policy"]
        assert "Traceback" not in sv.text
        en = await client.get("/nope?lang=en")
        assert "The page does not exist" in en.text
        assert (await client.get("/nope")).cookies.get("idp_lang") is None


def test_embedded_default_app_builds():
    app = create_app(embedded_default())
    assert app.state.runtime.settings.client("demo") is not None
