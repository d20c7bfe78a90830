"""Observability as create_app wires it: /metrics scraped after real logins has every family of
issue 7 with no personal data; who may scrape; request ids; the BankID certificate's expiry as a
gauge and a warning at start."""

import datetime as dt
import logging
import re

import httpx
import pytest
from starlette.routing import Route

from idp.app import create_app
from idp.clock import FixedClock
from idp.config import parse_settings
from idp.store.db import make_engine
from idp.store.memory import MemoryTTLStore
from idp.store.migrate import upgrade
from tests.asgi import app_client
from tests.bankid_web.support import (
    AGNES_CANCELS,
    ANNA,
    ISSUER,
    RP_SECRET,
    Browser,
    client_settings,
    poll_until,
    query,
    scan,
)
from tests.observability.pki import Pki, issue, write_p12

pytestmark = pytest.mark.anyio

CS_SECRET = "customer-service-secret-0123456789"
FAMILIES = {
    # requests by endpoint and status, and their latency
    "idp_http_requests_total": ("endpoint", "method", "status"),
    "idp_http_request_duration_seconds_bucket": ("endpoint", "method", "le"),
    # logins started, completed and failed by path and reason
    "idp_logins_started_total": ("path",),
    "idp_logins_completed_total": ("path",),
    "idp_logins_failed_total": ("path", "reason"),
    # CIBA requests by outcome
    "idp_ciba_requests_total": ("outcome",),
    # BankID calls by endpoint and error code, and collect lag
    "idp_bankid_calls_total": ("endpoint", "result"),
    "idp_bankid_call_duration_seconds_bucket": ("endpoint", "le"),
    "idp_bankid_collect_lag_seconds_bucket": ("le",),
}


def settings_for(sqlite_url, **extra):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    engine.dispose()
    cs = {
        "client_id": "cs",
        "client_secret": CS_SECRET,
        "grant_types": ["urn:openid:params:grant-type:ciba"],
        "backchannel_token_delivery_mode": "poll",
        "scope": "openid profile",
    }
    raw = {
        "issuer": ISSUER,
        "database_url": sqlite_url,
        "trusted_proxies": ["10.0.0.0/8"],
        "bankid": {"simulator": {"think_time_seconds": 1}},
        "clients": [*client_settings(), cs],
    }
    raw.update(extra)
    return parse_settings(raw, source="test", environ={})


def samples(text):
    """{(name, labels as a frozenset): value} from the Prometheus text format."""
    out = {}
    for line in text.splitlines():
        m = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if m:
            labels = frozenset(re.findall(r'([a-z_]+)="([^"]*)"', m[2] or ""))
            out[(m[1], labels)] = float(m[3])
    return out


def value(found, name, **labels):
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= ls)


async def test_metrics_after_logins_and_ciba_have_every_family_and_no_personal_data(
    sqlite_url,
):
    clock = FixedClock()
    app = create_app(settings_for(sqlite_url), clock=clock, store=MemoryTTLStore(clock))
    async with app_client(app, base_url=ISSUER) as http:
        ok = Browser(app)
        await ok.open_login(acr_values="urn:grn:authn:se:bankid:qr")
        await ok.status()
        await scan(app, ok)
        clock.advance(2)
        q = query(await ok.finish(await poll_until(ok, clock, "complete")))
        await ok.token(q["code"])

        cancels = Browser(app)
        await cancels.open_login(acr_values="urn:grn:authn:se:bankid:qr")
        await scan(app, cancels, personalNumber=AGNES_CANCELS)
        await poll_until(cancels, clock, "failed")

        accepted = await http.post(
            "/backchannel-authentication",
            data={"scope": "openid", "login_hint": ANNA},
            auth=("cs", CS_SECRET),
        )
        assert accepted.status_code == 200, accepted.text
        refused = await http.post(
            "/backchannel-authentication",
            data={"scope": "openid", "login_hint": ANNA},
            auth=("cs", RP_SECRET),
        )
        assert refused.status_code == 401

        scraped = await http.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    found = samples(scraped.text)
    names = {n for n, _ in found}
    for family, labels in FAMILIES.items():
        assert family in names, family
        assert all({label for label, _ in ls} >= set(labels) for n, ls in found if n == family)
    assert value(found, "idp_logins_started_total", path="qr") == 2
    assert value(found, "idp_logins_completed_total", path="qr") == 1
    assert value(found, "idp_logins_failed_total", path="qr", reason="cancelled") == 1
    assert value(found, "idp_logins_started_total", path="phone") == 1
    assert value(found, "idp_ciba_requests_total", outcome="accepted") == 1
    assert value(found, "idp_ciba_requests_total", outcome="unauthorized") == 1
    assert value(found, "idp_bankid_calls_total", endpoint="auth", result="ok") == 2
    assert value(found, "idp_bankid_calls_total", endpoint="phone/auth", result="ok") == 1
    assert value(found, "idp_bankid_calls_total", endpoint="collect", result="ok") >= 3
    assert value(found, "idp_bankid_collect_lag_seconds_count") >= 1
    assert value(found, "idp_http_requests_total", endpoint="/token", status="200") == 1
    assert value(found, "idp_http_requests_total", endpoint="/bankid/status", status="200") >= 3
    assert value(found, "idp_http_requests_total", endpoint="/backchannel-authentication") == 2
    # Labels are route templates and fixed words: no personal number, txn or code anywhere.
    for secret in (ANNA, AGNES_CANCELS, ok.txn, q["code"]):
        assert secret not in scraped.text


async def test_only_the_internal_network_may_scrape_and_never_through_the_proxy(sqlite_url):
    app = create_app(settings_for(sqlite_url, metrics={"allow": ["127.0.0.1/32", "10.0.0.0/8"]}))
    async with app_client(app) as local:
        assert (await local.get("/metrics")).status_code == 200
        via_proxy = await local.get("/metrics", headers={"x-forwarded-for": "198.51.100.1"})
        assert via_proxy.status_code == 200  # 127.0.0.1 is no trusted proxy here
    async with app_client(app, client=("10.1.2.3", 4000)) as proxy:
        assert (await proxy.get("/metrics")).status_code == 200  # a scraper on 10/8
        forwarded = await proxy.get("/metrics", headers={"x-forwarded-for": "198.51.100.1"})
        assert forwarded.status_code == 404  # came in through the public entrance
    async with app_client(app, client=("203.0.113.9", 4000)) as outsider:
        refused = await outsider.get("/metrics", headers={"accept": "text/html"})
        assert refused.status_code == 404 and "idp_http" not in refused.text
    off = create_app(settings_for(sqlite_url, metrics={"enabled": False}))
    async with app_client(off) as local:
        assert (await local.get("/metrics")).status_code == 404


async def test_every_answer_carries_a_request_id(sqlite_url):
    app = create_app(settings_for(sqlite_url))
    async with app_client(app) as http:
        first = await http.get("/healthz")
        kept = await http.get("/nope", headers={"x-request-id": "edge-0123456789abcdef"})
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["x-request-id"])
    assert kept.status_code == 404 and kept.headers["x-request-id"] == "edge-0123456789abcdef"


@pytest.mark.parametrize(("days", "expiring"), [(12, 1.0), (200, 0.0)])
async def test_the_certificate_expiry_is_a_gauge_and_a_warning_at_start(
    sqlite_url, tmp_path, caplog, days, expiring
):
    pki = Pki.make(tmp_path, "Production")
    now = dt.datetime.now(dt.UTC)
    rp = issue(
        "RP",
        pki.rp_ca,
        not_before=now - dt.timedelta(days=300),
        not_after=now + dt.timedelta(days=days, hours=1),
    )
    p12 = write_p12(tmp_path / "rp.p12", rp, b"pw", pki.rp_ca.cert)
    settings = settings_for(
        sqlite_url,
        bankid={
            "environment": "production",
            "certificate": str(p12),
            "certificate_password": "pw",
            "ca_certificate": str(pki.root_file),
        },
    )
    caplog.set_level(logging.INFO, logger="idp")
    app = create_app(settings)
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "certificate" in r.getMessage()
    ]
    async with app_client(app) as http:
        found = samples((await http.get("/metrics")).text)
    assert value(found, "idp_bankid_certificate_expiring") == expiring
    assert days - 1 < value(found, "idp_bankid_certificate_expiry_days") < days + 1
    if expiring:
        assert warnings == [
            f"BankID certificate: bankid.certificate: expires in {days} days "
            + (f"({(now + dt.timedelta(days=days, hours=1)).date().isoformat()})")
        ]
    else:
        assert warnings == []


async def test_an_unexpected_error_is_a_500_page_and_its_log_line_has_the_request_id(
    sqlite_url, caplog
):
    app = create_app(settings_for(sqlite_url))

    async def boom(request):
        raise RuntimeError("a bug")

    app.router.routes.append(Route("/boom", boom))
    caplog.set_level(logging.ERROR, logger="idp")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        r = await http.get("/boom", headers={"x-request-id": "edge-0123456789abcdef"})
    assert r.status_code == 500 and "Traceback" not in r.text and "a bug" not in r.text
    (record,) = [rec for rec in caplog.records if "unhandled error" in rec.getMessage()]
    assert record.request_id == "edge-0123456789abcdef"
