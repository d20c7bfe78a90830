import contextlib
import io
import json
import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route

from idp.observability.logging import (
    JsonFormatter,
    Redactor,
    accept_request_id,
    configure_logging,
    current_request_id,
    redact,
)
from idp.observability.metrics import Metrics, RequestObserver

pytestmark = pytest.mark.secrets_in_logs  # the redaction itself is under test

PNR = "198501012382"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxOTg1MDEwMTIzODIifQ.c2lnbmF0dXJlLXBhcnQ"


@contextlib.contextmanager
def wired(name: str, level: int):
    """Logger `name` with a handler wired like configure_logging's, into a string (the stream),
    not propagating; as it was afterwards."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(Redactor())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(name)
    before = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before[0])
        logger.propagate = before[1]


@pytest.fixture
def capture():
    """A logger wired like configure_logging's handler, into a string."""
    with wired("idp.test.observability", logging.DEBUG) as (logger, stream):

        def lines():
            return [json.loads(line) for line in stream.getvalue().splitlines()]

        yield logger, lines


@pytest.fixture
def restore_root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    uvicorn = {
        n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate)
        for n in ("uvicorn", "uvicorn.error", "uvicorn.access")
    }
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.NOTSET)
    for name, (h, propagate) in uvicorn.items():
        logging.getLogger(name).handlers[:] = h
        logging.getLogger(name).propagate = propagate


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"login by {PNR} done", "login by *** done"),
        ("pnr 19850101-2382.", "pnr ***."),
        ("short 850101-2382 and 850101+2382", "short *** and ***"),
        ("order 1234567890123 is 13 digits", "order 1234567890123 is 13 digits"),
        (f"token {JWT} sent", "token [jwt] sent"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: *** ***"),
        ("auth header Basic d2Vic2hvcDpzM2NyZXQ=", "auth header Basic ***"),
        (
            "grant_type=x&client_secret=s3cr3t-value&scope=openid",
            "grant_type=x&client_secret=***&scope=openid",
        ),
        (
            '{"client_secret": "s3cr3t", "password":"pw"}',
            '{"client_secret": "***", "password":"***"}',
        ),
        ("password: hunter2", "password: ***"),
        ("GET /cb?code=abc123&state=xyz", "GET /cb?code=***&state=xyz"),
        ("refresh_token=r1&token=t1&auth_req_id=a1", "refresh_token=***&token=***&auth_req_id=***"),
        ("bankid error_code=alreadyInProgress", "bankid error_code=alreadyInProgress"),
        (
            "idp.yaml: clients[1].client_secret: expected a string of at least 16 characters",
            "idp.yaml: clients[1].client_secret: expected a string of at least 16 characters",
        ),
        ("issued 2026-06-01 at 12:00", "issued 2026-06-01 at 12:00"),
    ],
)
def test_redaction(text, expected):
    assert redact(text) == expected


def test_json_lines_have_the_fields_and_no_personal_data_even_in_args(capture):
    logger, lines = capture
    logger.info("user %s logged in with %d", "Anna", int(PNR))
    logger.warning("body %s", {"personalNumber": PNR, "access_token": JWT})
    logger.info("as dict %(who)s", {"who": PNR})
    logger.info("extra field", extra={"subject": PNR, "count": 3})
    try:
        raise ValueError(f"bad person {PNR}")
    except ValueError:
        logger.exception("failed for %s", PNR)
    out = lines()
    assert set(out[0]) == {"timestamp", "level", "logger", "message", "request_id"}
    assert out[0]["level"] == "INFO" and out[0]["logger"] == "idp.test.observability"
    assert out[0]["timestamp"].endswith("+00:00") and out[0]["request_id"] is None
    assert out[0]["message"] == "user Anna logged in with ***"
    assert out[3]["subject"] == "***" and out[3]["count"] == 3
    assert "ValueError: bad person ***" in out[4]["exception"]
    dumped = "\n".join(json.dumps(o) for o in out)
    assert PNR not in dumped and JWT not in dumped and "eyJ" not in dumped


def test_a_broken_format_string_is_still_logged(capture):
    logger, lines = capture
    logger.info("two %s %s", PNR)
    assert lines()[0]["message"].startswith("'two %s %s' % (")
    assert PNR not in lines()[0]["message"]


def test_accepted_request_ids():
    assert accept_request_id("3f2b9c1e8a7d4e6f9a0b1c2d3e4f5a6b") is not None
    assert accept_request_id("req-2026.11.21:abc") is not None
    for bad in (None, "", "short", "x" * 129, "has space inside", "a\nb" * 5, f"id-{PNR}"):
        assert accept_request_id(bad) is None


@pytest.mark.anyio
async def test_request_id_middleware_sets_header_contextvar_and_log_field(capture):
    logger, lines = capture

    async def endpoint(request):
        logger.info("handling")
        return JSONResponse({"ctx": current_request_id(), "state": request.state.request_id})

    def sync_endpoint(request):  # runs in a worker thread: the context goes along
        logger.info("in thread")
        return JSONResponse({"ctx": current_request_id()})

    app = Starlette(
        routes=[Route("/", endpoint), Route("/sync", sync_endpoint)],
        middleware=[Middleware(RequestObserver, metrics=Metrics(process=False), request_ids=True)],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        fresh = await client.get("/")
        kept = await client.get("/", headers={"X-Request-ID": "proxy-0123456789abcdef"})
        replaced = await client.get("/", headers={"X-Request-ID": f"evil-{PNR}"})
        threaded = await client.get("/sync")
    rid = fresh.headers["x-request-id"]
    assert len(rid) == 32 and fresh.json() == {"ctx": rid, "state": rid}
    assert kept.headers["x-request-id"] == "proxy-0123456789abcdef"
    assert kept.json()["ctx"] == "proxy-0123456789abcdef"
    assert PNR not in replaced.headers["x-request-id"]
    assert threaded.json()["ctx"] == threaded.headers["x-request-id"]
    logged = [entry["request_id"] for entry in lines()]
    assert logged == [
        rid,
        "proxy-0123456789abcdef",
        replaced.headers["x-request-id"],
        threaded.headers["x-request-id"],
    ]
    assert current_request_id() is None


def test_configure_logging_installs_one_redacting_handler(restore_root_logging):
    first = io.StringIO()
    configure_logging("info", stream=first)
    stream = io.StringIO()
    handler = configure_logging("debug", json=True, stream=stream)
    root = logging.getLogger()
    assert [h for h in root.handlers if h.get_name() == "idp"] == [handler]
    assert root.level == logging.DEBUG
    logging.getLogger("uvicorn.access").info('"GET /cb?code=abc&login_hint=%s HTTP/1.1"', PNR)
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["logger"] == "uvicorn.access" and PNR not in entry["message"]
    assert "code=***" in entry["message"] and first.getvalue() == ""

    text = io.StringIO()
    configure_logging("info", json=False, stream=text)
    logging.getLogger("idp.x").warning("person %s", PNR)
    assert text.getvalue().rstrip().endswith("WARNING idp.x [None] person ***")
    logging.getLogger("httpx").info("HTTP Request: POST https://bankid/collect")  # per call
    assert "HTTP Request" not in text.getvalue()


@pytest.fixture
def access_lines():
    """The idp.access logger, wired like configure_logging's handler, into a string."""
    with wired("idp.access", logging.INFO) as (_, stream):
        yield lambda: stream.getvalue().splitlines()


@pytest.mark.anyio
async def test_access_line_has_the_route_template_never_the_path_or_query(access_lines):
    from idp.observability.metrics import Metrics, RequestObserver

    async def user(request):
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[Route("/users/{sub}", user)],
        middleware=[
            Middleware(
                RequestObserver, metrics=Metrics(process=False), request_ids=True, access_log=True
            )
        ],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        found = await client.get(f"/users/{PNR}?login_hint={PNR}&code=secret-code&x={JWT}")
        missing = await client.get(f"/nowhere/{PNR}?personal_number={PNR}")
    lines = access_lines()
    assert len(lines) == 2
    for line in lines:
        assert PNR not in line and "?" not in line and "secret-code" not in line
        assert "login_hint" not in line and "personal_number" not in line and "eyJ" not in line
    first, second = (json.loads(line) for line in lines)
    assert first["message"].startswith("GET /users/{sub} 200 ")
    assert first["message"].endswith("ms")
    assert first["route"] == "/users/{sub}" and first["status"] == 200
    assert first["request_id"] == found.headers["x-request-id"]
    assert second["message"].startswith("GET <unmatched> 404 ")
    assert second["request_id"] == missing.headers["x-request-id"]


def test_only_the_access_log_marker_skips_redaction(capture):
    from idp.observability.logging import SAFE, SAFE_ATTR

    logger, lines = capture
    logger.info("person %s", PNR, extra={SAFE_ATTR: True})  # not the marker object itself
    logger.info("person %s", PNR, extra={SAFE_ATTR: "yes", "note": f"pnr {PNR}"})
    logger.info("fixed fields only", extra={SAFE_ATTR: SAFE})
    first, second, third = lines()
    assert first["message"] == "person ***"
    assert second["message"] == "person ***" and second["note"] == "pnr ***"
    assert third["message"] == "fixed fields only" and SAFE_ATTR not in third
