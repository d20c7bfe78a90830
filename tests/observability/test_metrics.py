import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route, Router

from idp.authn import FailureReason
from idp.bankid.errors import ErrorCode
from idp.observability.metrics import (
    BANKID_RESULTS,
    FAILURE_REASONS,
    Metrics,
    RequestObserver,
)

PNR = "198501012382"


def make_app(metrics: Metrics) -> Starlette:
    async def user(request):
        return JSONResponse({"id": request.path_params["sub"]})

    async def boom(request):
        raise RuntimeError("boom")

    async def ok(request):
        return PlainTextResponse("ok")

    inner = Router([Route("/callback", ok), Route("/orders/{ref}", ok, methods=["POST"])])
    return Starlette(
        routes=[
            Route("/authorize", ok, methods=["GET", "POST"]),
            Route("/users/{sub}", user),
            Route("/boom", boom),
            Route("/metrics", metrics.endpoint),
            Mount("/demo", app=inner),
            Mount("/static", app=PlainTextResponse("body {}")),
        ],
        middleware=[Middleware(RequestObserver, metrics=metrics)],
    )


def sample(metrics: Metrics, name: str, **labels) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.fixture
def metrics():
    return Metrics(process=False)


@pytest.fixture
def client(metrics):
    transport = httpx.ASGITransport(app=make_app(metrics), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://idp.test")


@pytest.mark.anyio
async def test_requests_are_counted_by_route_template_never_the_raw_url(metrics, client):
    async with client:
        await client.get(f"/users/{PNR}")
        await client.get(f"/authorize?login_hint={PNR}&client_id=x")
        await client.post("/authorize")
        await client.get("/demo/callback?code=secret-code")
        await client.post(f"/demo/orders/{PNR}")
        await client.get("/static/css/app.css")
        await client.get(f"/nowhere/{PNR}")
        await client.delete("/authorize")
        await client.get("/boom")
        await client.request("BREW", "/authorize")
        text = (await client.get("/metrics")).text

    def count(endpoint, method, status):
        return sample(
            metrics, "idp_http_requests_total", endpoint=endpoint, method=method, status=status
        )

    assert count("/users/{sub}", "GET", "200") == 1
    assert count("/authorize", "GET", "200") == 1
    assert count("/authorize", "POST", "200") == 1
    assert count("/demo/callback", "GET", "200") == 1
    assert count("/demo/orders/{ref}", "POST", "200") == 1
    assert count("/static/{path}", "GET", "200") == 1
    assert count("<unmatched>", "GET", "404") == 1
    assert count("/authorize", "DELETE", "405") == 1
    assert count("/boom", "GET", "500") == 1
    assert count("/authorize", "other", "405") == 1
    assert (
        sample(
            metrics,
            "idp_http_request_duration_seconds_count",
            endpoint="/users/{sub}",
            method="GET",
        )
        == 1
    )
    assert PNR not in text and "secret-code" not in text and "login_hint" not in text
    assert 'idp_http_requests_total{endpoint="/users/{sub}",method="GET",status="200"} 1.0' in text


@pytest.mark.anyio
async def test_metrics_endpoint_has_every_family_and_speaks_openmetrics(metrics, client):
    metrics.login_started("qr")
    metrics.login_completed("same_device")
    metrics.login_failed("qr", FailureReason.CANCELLED)
    metrics.ciba_request("accepted")
    metrics.bankid_call("collect", "ok", 0.05)
    metrics.bankid_call("/auth", ErrorCode.ALREADY_IN_PROGRESS)
    metrics.collect_lag(0.4)
    metrics.certificate_expiry(12.5)
    async with client:
        await client.get("/authorize")
        plain = await client.get("/metrics")
        om = await client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert plain.headers["content-type"].startswith("text/plain")
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert om.text.rstrip().endswith("# EOF")
    for family in (
        "idp_http_requests_total",
        "idp_http_request_duration_seconds_bucket",
        'idp_logins_started_total{path="qr"} 1.0',
        'idp_logins_completed_total{path="same_device"} 1.0',
        'idp_logins_failed_total{path="qr",reason="cancelled"} 1.0',
        'idp_ciba_requests_total{outcome="accepted"} 1.0',
        'idp_bankid_calls_total{endpoint="collect",result="ok"} 1.0',
        'idp_bankid_calls_total{endpoint="auth",result="alreadyInProgress"} 1.0',
        'idp_bankid_call_duration_seconds_count{endpoint="collect"} 1.0',
        "idp_bankid_collect_lag_seconds_count 1.0",
        "idp_bankid_certificate_expiry_days 12.5",
        "idp_bankid_certificate_expiring 1.0",
    ):
        assert family in plain.text, family


def test_label_values_outside_the_fixed_sets_become_other(metrics):
    metrics.login_started(PNR)
    metrics.login_failed("qr", f"user {PNR} cancelled")
    metrics.ciba_request(PNR)
    metrics.bankid_call(f"collect/{PNR}", PNR)
    metrics.observe_request("/x", PNR, 999, 0.1)
    text = metrics.render()[0].decode()
    assert PNR not in text
    assert sample(metrics, "idp_logins_started_total", path="other") == 1
    assert sample(metrics, "idp_logins_failed_total", path="qr", reason="other") == 1
    assert sample(metrics, "idp_ciba_requests_total", outcome="other") == 1
    assert sample(metrics, "idp_bankid_calls_total", endpoint="other", result="other") == 1
    assert (
        sample(metrics, "idp_http_requests_total", endpoint="/x", method="other", status="other")
        == 1
    )


def test_fixed_sets_cover_the_neutral_reasons_and_bankids_error_codes():
    assert {r.value for r in FailureReason} == FAILURE_REASONS
    assert {c.value for c in ErrorCode} <= BANKID_RESULTS


def test_each_instance_has_its_own_registry():
    a, b = Metrics(process=False), Metrics(process=False)
    a.login_started("qr")
    assert sample(a, "idp_logins_started_total", path="qr") == 1
    assert sample(b, "idp_logins_started_total", path="qr") == 0
    assert b"process_cpu_seconds_total" in Metrics().render()[0]


def test_certificate_gauge_leaves_the_warning_window():
    m = Metrics(process=False)
    m.certificate_expiry(45)
    assert sample(m, "idp_bankid_certificate_expiring") == 0
    m.certificate_expiry(-1)
    assert sample(m, "idp_bankid_certificate_expiring") == 1
    assert sample(m, "idp_bankid_certificate_expiry_days") == -1
