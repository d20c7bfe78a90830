"""The client's network link (aiohttp) against real loopback servers: exactly what goes on the
wire, what comes back, and every way an exchange can fail. Mutual TLS over this link is in
test_loopback_tls.py."""

import asyncio
import gzip
import json
import socket

import httpx
import pytest

from idp.bankid import errors
from idp.bankid.client import MAX_ANSWER_BYTES, AiohttpLink, BankIDClient, HttpxLink
from idp.bankid.models import Status
from idp.clock import FixedClock

pytestmark = pytest.mark.anyio

PENDING = {"orderRef": "r1", "status": "pending", "hintCode": "outstandingTransaction"}


def answer(status=200, body=b"", headers=(), reason="X"):
    """A raw HTTP/1.1 answer; Content-Length is added unless the headers frame the body."""
    body = json.dumps(body).encode() if isinstance(body, dict) else body
    lines = [f"HTTP/1.1 {status} {reason}", *[f"{k}: {v}" for k, v in headers]]
    if not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Server:
    """A tiny HTTP/1.1 server on 127.0.0.1 that records each request as it arrived (raw head
    and body, per connection) and sends what `reply(request)` returns, with keep-alive."""

    def __init__(self, reply):
        self.reply = reply
        self.requests: list[dict] = []
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self):
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/rp/v6.0"
        return self

    async def __aexit__(self, *exc):
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader, writer):
        self.connections += 1
        self._writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ")
                headers = [
                    tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if line
                ]
                length = int(dict((k.lower(), v) for k, v in headers).get("content-length", 0))
                body = await reader.readexactly(length)
                request = {"method": method, "target": target, "headers": headers, "body": body}
                self.requests.append(request)
                writer.write(self.reply(request))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def header(self, name, index=-1):
        """Every value of header `name` in a request, in order."""
        return [v for k, v in self.requests[index]["headers"] if k.lower() == name.lower()]


def client_for(url, **kwargs):
    return BankIDClient(url, clock=FixedClock(), **kwargs)


async def test_a_collect_goes_out_exactly_as_bankid_expects_and_its_answer_comes_back():
    async with (
        Server(lambda r: answer(200, PENDING, [("Content-Type", "application/json")])) as server,
        client_for(server.url) as client,
    ):
        assert isinstance(client.link, AiohttpLink)
        result = await client.collect("r1")
    assert result.status is Status.PENDING and result.order_ref == "r1"
    request = server.requests[0]
    assert (request["method"], request["target"]) == ("POST", "/rp/v6.0/collect")
    assert request["body"] == b'{"orderRef":"r1"}'
    assert server.header("Content-Type") == ["application/json"]  # once, and no charset
    assert server.header("Accept") == ["application/json"]
    assert server.header("User-Agent") == ["idp"]
    assert server.header("Content-Length") == [str(len(request["body"]))]
    sent = {k.lower() for k, _ in request["headers"]}
    assert sent <= {
        "host",
        "content-type",
        "accept",
        "accept-encoding",
        "user-agent",
        "content-length",
    }


async def test_the_link_hands_back_status_headers_and_body_and_keeps_the_connection():
    body = b'{"a":1}'
    async with Server(lambda r: answer(418, body, [("X-Thing", "yes")])) as server:
        link = AiohttpLink(server.url + "/")
        for path in ("collect", "phone/auth"):
            status, headers, content = await link.post(path, b"{}")
            assert (status, headers["x-thing"], headers["X-THING"], content) == (
                418,
                "yes",
                "yes",
                body,
            )
        await link.aclose()
    assert [r["target"] for r in server.requests] == ["/rp/v6.0/collect", "/rp/v6.0/phone/auth"]
    assert server.connections == 1  # keep-alive


async def test_a_rate_limited_answer_carries_its_headers_into_the_error():
    headers = [
        ("Content-Type", "application/json"),
        ("RateLimit-Limit", "100"),
        ("RateLimit-Remaining", "0"),
        ("RateLimit-Reset", "17"),
        ("Retry-After", "17"),
    ]
    async with (
        Server(lambda r: answer(429, b"", headers)) as server,
        client_for(server.url) as client,
    ):
        with pytest.raises(errors.RateLimited) as info:
            await client.collect("r1")
    assert (info.value.limit, info.value.remaining, info.value.reset) == (100, 0, 17)


async def test_error_codes_in_the_body_map_to_their_class():
    body = {"errorCode": "alreadyInProgress", "details": "Order already in progress"}
    async with Server(lambda r: answer(400, body)) as server, client_for(server.url) as client:
        with pytest.raises(errors.AlreadyInProgress) as info:
            await client.auth(end_user_ip="192.0.2.1")
    assert info.value.details == "Order already in progress"


async def test_a_redirect_is_not_followed():
    moved = answer(302, b"", [("Location", "/elsewhere/collect")])
    async with Server(lambda r: moved) as server, client_for(server.url) as client:
        with pytest.raises(errors.UnknownBankIDError) as info:
            await client.collect("r1")
    assert info.value.status_code == 302
    assert [r["target"] for r in server.requests] == ["/rp/v6.0/collect"]


@pytest.mark.parametrize("body", [b"<html>hello</html>", b"", b"[1]"])
async def test_an_ok_answer_that_is_not_a_json_object_is_a_protocol_error(body):
    async with (
        Server(lambda r: answer(200, body, [("Content-Type", "text/html")])) as server,
        client_for(server.url) as client,
    ):
        with pytest.raises(errors.BankIDProtocolError):
            await client.collect("r1")


def _chunked(body):
    size = 64 * 1024
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


OVERSIZE = b'{"x":"' + b"a" * MAX_ANSWER_BYTES + b'"}'
OVERSIZE_ANSWERS = {
    "content-length": answer(200, OVERSIZE),
    "chunked": answer(200, _chunked(OVERSIZE), [("Transfer-Encoding", "chunked")]),
    "gzip": answer(200, gzip.compress(OVERSIZE), [("Content-Encoding", "gzip")]),
}


@pytest.mark.parametrize("framing", OVERSIZE_ANSWERS)
async def test_an_oversize_answer_is_refused_and_the_next_call_works(framing):
    replies = iter([OVERSIZE_ANSWERS[framing], answer(200, PENDING)])
    async with Server(lambda r: next(replies)) as server, client_for(server.url) as client:
        with pytest.raises(errors.BankIDProtocolError, match="larger than"):
            await client.collect("r1")
        assert (await client.collect("r1")).status is Status.PENDING


async def test_an_answer_of_exactly_the_limit_is_read():
    body = b'{"orderRef":"r1","status":"pending","pad":"' + b"a" * 100 + b'"}'
    async with Server(lambda r: answer(200, body)) as server:
        link = AiohttpLink(server.url, max_answer_bytes=len(body))
        assert (await link.post("collect", b"{}"))[2] == body
        await link.aclose()


async def test_a_refused_connection_is_a_connection_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with client_for(f"http://127.0.0.1:{port}/rp/v6.0") as client:
        with pytest.raises(errors.BankIDConnectionError) as info:
            await client.collect("r1")
    assert info.value.retry_allowed


async def test_a_server_that_drops_the_connection_is_a_connection_error():
    async def hang_up(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, client_for(f"http://127.0.0.1:{port}/rp/v6.0") as client:
        with pytest.raises(errors.BankIDConnectionError):
            await client.collect("r1")


@pytest.mark.parametrize("per_request", [0.05, httpx.Timeout(0.05)])
async def test_a_server_that_never_answers_is_a_timeout(per_request):
    with socket.socket() as listener:  # the kernel accepts; nobody ever reads or answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        async with client_for(f"http://127.0.0.1:{port}/rp/v6.0", timeout=per_request) as client:
            with pytest.raises(errors.BankIDTimeout) as info:
                await client.collect("r1")
    assert not info.value.retry_allowed


async def test_proxy_settings_in_the_environment_are_ignored(monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with Server(lambda r: answer(200, PENDING)) as server, client_for(server.url) as client:
        assert (await client.collect("r1")).status is Status.PENDING
    assert server.requests[0]["target"] == "/rp/v6.0/collect"  # direct, not proxy form


def test_the_session_is_made_in_the_running_loop_and_again_after_aclose():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = client_for(f"http://127.0.0.1:{port}/rp/v6.0")  # made outside any event loop

    async def one_call():
        with pytest.raises(errors.BankIDConnectionError):
            await client.collect("r1")
        await client.aclose()

    asyncio.run(one_call())
    asyncio.run(one_call())  # another loop after aclose: a new session, not a closed one
    asyncio.run(client.aclose())  # closing again is harmless


async def test_an_injected_transport_goes_through_httpx():
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=PENDING))
    async with client_for("http://bankid.test/rp/v6.0", transport=transport) as client:
        assert isinstance(client.link, HttpxLink)
        assert (await client.collect("r1")).status is Status.PENDING
