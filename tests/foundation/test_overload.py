"""Overload answered as overload: beyond `limits.max_in_flight` requests in progress, 503 with
Retry-After at once, as JSON on the back channel and as the friendly page in a browser, and
counted; and the same while the event loop runs late. Requests are held in progress by a
request body that is not finished yet, and lateness is set or caused outright, so nothing here
depends on how fast the machine is."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from idp.app import create_app
from idp.clock import FixedClock
from idp.config import parse_settings
from idp.store.db import make_engine
from idp.store.migrate import upgrade
from idp.store.ttl import StoreBusy, StoreUnavailable
from idp.web import errors
from idp.web.overload import DEFAULT_MAX_IN_FLIGHT, AdmissionLimit
from idp.web.templating import Templates
from tests.asgi import app_client

pytestmark = pytest.mark.anyio


class Held:
    """A request body sent in two parts; the second only once `release` is set."""

    def __init__(self) -> None:
        self.started = anyio.Event()
        self.release = anyio.Event()
        self.done = anyio.Event()

    async def body(self) -> AsyncIterator[bytes]:
        self.started.set()
        yield b"grant_type="
        await self.release.wait()
        yield b"x"


def small_app(limit: int, rejected: list[int]) -> tuple[AdmissionLimit, httpx.AsyncClient]:
    async def echo(request: Request) -> PlainTextResponse:
        return PlainTextResponse((await request.body()).decode())

    async def status(request: Request) -> JSONResponse:
        return JSONResponse({"state": "pending"})

    inner = Starlette(
        routes=[
            Route("/slow", echo, methods=["POST"]),
            Route("/bankid/status", status),
            Route("/bankid/wait", status),
            Route("/healthz", status),
        ]
    )
    limiter = AdmissionLimit(
        inner,
        templates=Templates("sv"),
        max_in_flight=limit,
        backchannel={"/bankid/status"},
        rejected=lambda: rejected.append(1),
    )
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=limiter), base_url="http://t")
    return limiter, http


async def test_beyond_the_limit_requests_get_503_with_retry_after_in_both_shapes():
    rejected: list[int] = []
    limiter, http = small_app(1, rejected)
    held = Held()
    answers: dict[str, httpx.Response] = {}

    async def slow() -> None:
        answers["slow"] = await http.post("/slow", content=held.body())
        held.done.set()

    async with http, anyio.create_task_group() as tg:
        tg.start_soon(slow)
        await held.started.wait()
        assert limiter.in_flight == 1

        status = await http.get("/bankid/status", headers={"accept": "application/json"})
        assert status.status_code == 503 and status.headers["retry-after"] == "1"
        assert status.json()["error"] == "temporarily_unavailable"
        assert status.headers["cache-control"] == "no-store"

        page = await http.get("/bankid/wait", headers={"accept": "text/html"})
        assert page.status_code == 503 and page.headers["retry-after"] == "1"
        assert page.headers["content-type"].startswith("text/html")
        assert "Tjänsten är tillfälligt otillgänglig" in page.text

        english = await http.get("/bankid/wait", headers={"accept-language": "en"})
        assert english.status_code == 503 and "temporarily unavailable" in english.text

        json_client = await http.get("/bankid/wait", headers={"accept": "application/json"})
        assert json_client.status_code == 503 and json_client.json()["error"]

        assert (await http.get("/healthz")).status_code == 200  # never counted nor refused
        assert len(rejected) == 4

        held.release.set()
        await held.done.wait()
        assert answers["slow"].status_code == 200 and answers["slow"].text == "grant_type=x"
        assert limiter.in_flight == 0
        assert (await http.get("/bankid/status")).status_code == 200
    assert len(rejected) == 4


async def test_a_failing_request_frees_its_place():
    async def boom(request: Request) -> None:
        raise RuntimeError("bug")

    limiter = AdmissionLimit(
        Starlette(routes=[Route("/boom", boom)]), templates=Templates("sv"), max_in_flight=1
    )
    transport = httpx.ASGITransport(app=limiter, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        for _ in range(3):
            assert (await http.get("/boom")).status_code == 500
    assert limiter.in_flight == 0


async def test_a_late_event_loop_is_overload_too():
    rejected: list[int] = []
    limiter, http = small_app(100, rejected)
    async with http:
        assert (await http.get("/bankid/status")).status_code == 200  # starts the watch
        limiter.lag = limiter.max_lag * 2  # as the watch finds after a stall
        # One slow step with few requests in progress is not overload.
        assert (await http.get("/bankid/status")).status_code == 200
        limiter.lag_min_in_flight = 0  # as with many requests in progress
        busy = await http.get("/bankid/status")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert (await http.get("/healthz")).status_code == 200
        limiter.lag = 0.0
        assert (await http.get("/bankid/status")).status_code == 200
    assert len(rejected) == 1


async def test_the_watch_measures_how_late_the_loop_runs():
    limiter, http = small_app(100, [])
    async with http:
        await http.get("/bankid/status")
        # The loop stalls (on purpose: blocking it is the point): its timer fires late.
        time.sleep(limiter.lag_interval + 0.3)  # noqa: ASYNC251
        await anyio.sleep(0.01)
        assert limiter.lag >= 0.3


def test_the_limit_must_be_positive():
    with pytest.raises(ValueError):
        AdmissionLimit(Starlette(), templates=Templates("sv"), max_in_flight=0)


async def test_the_provider_refuses_beyond_limits_max_in_flight_and_counts_it(sqlite_url):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    engine.dispose()
    settings = parse_settings(
        {
            "issuer": "https://id.example.com",
            "database_url": sqlite_url,
            "limits": {"max_in_flight": 1},
        },
        source="test",
        environ={},
    )
    assert (
        parse_settings(
            {"issuer": "https://id.example.com"}, source="test", environ={}
        ).limits.max_in_flight
        == DEFAULT_MAX_IN_FLIGHT
        == 1000  # the schema and the middleware agree
    )
    held = Held()
    app = create_app(settings, clock=FixedClock())
    async with app_client(app, base_url="https://id.example.com") as http:
        answers: dict[str, httpx.Response] = {}

        async def token() -> None:
            answers["token"] = await http.post(
                "/token",
                content=held.body(),
                headers={"content-type": "application/x-www-form-urlencoded"},
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(token)
            await held.started.wait()
            busy = await http.get("/bankid/status", params={"txn": "x"})
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            assert busy.json()["error"] == "temporarily_unavailable"
            page = await http.get("/authorize", headers={"accept": "text/html"})
            assert page.status_code == 503 and page.headers["retry-after"] == "1"
            assert "content-security-policy" in page.headers  # still the page's headers
            metrics = (await http.get("/metrics")).text  # never refused
            assert "idp_overload_rejected_total 2.0" in metrics
            held.release.set()
        assert answers["token"].status_code in (400, 401)  # answered once its turn came
        assert (await http.get("/bankid/status", params={"txn": "x"})).status_code == 404


async def test_a_store_with_every_connection_in_use_is_overload_not_an_outage(caplog):
    """StoreBusy (idp.store.redis: no connection came free) is answered like an unavailable
    store, but with Retry-After: 1, counted as overload and logged as this process's
    overload; a StoreUnavailable stays an outage of Redis."""

    async def busy(request: Request) -> None:
        raise StoreBusy("Redis get: every connection stayed in use")

    async def down(request: Request) -> None:
        raise StoreUnavailable("Redis get failed: ConnectionError")

    app = Starlette(routes=[Route("/bankid/status", busy), Route("/token", down)])
    counted: list[int] = []
    errors.install(
        app,
        Templates("sv"),
        unavailable={StoreUnavailable: "Redis"},
        backchannel={"/bankid/status", "/token"},
        busy=(StoreBusy,),
        overloaded=lambda: counted.append(1),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answer = await http.get("/bankid/status")
        assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
        assert answer.json()["error"] == "temporarily_unavailable"
        outage = await http.get("/token")
        assert outage.status_code == 503 and outage.headers["retry-after"] == "5"
    assert counted == [1]
    lines = [r.getMessage() for r in caplog.records if r.name == "idp.web"]
    assert any(m.startswith("this process overloaded: StoreBusy") for m in lines), lines
    assert any(m.startswith("Redis unavailable: StoreUnavailable") for m in lines), lines
