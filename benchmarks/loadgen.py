"""A cheap HTTP/1.1 keep-alive load generator on raw asyncio streams.

Requests are encoded once per call into a single bytes object; responses are parsed just
enough to find the status, the headers and the end of the body (Content-Length or chunked).
It is meant for loopback benchmarks against servers we start ourselves, not as a general
HTTP client: no TLS, no redirects, no proxies, no compression.

    conn = await Connection.open("127.0.0.1", 8000)
    r = await conn.request("GET", "/jwks")
    assert r.status == 200 and r.body

Helpers: `cpu_seconds(pid)` reads a process's CPU time (user + system) from /proc, including
all its descendants, and `percentile(values, q)`.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

__all__ = [
    "Connection",
    "Response",
    "cpu_seconds",
    "descendants",
    "encode_request",
    "percentile",
]

TICKS = os.sysconf("SC_CLK_TCK")
_LIMIT = 1 << 22  # stream buffer: enough for any one header block or chunk line


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lowercased names, last value wins
    cookies: list[str] = field(default_factory=list)  # raw Set-Cookie values
    body: bytes = b""


def encode_request(
    method: str, path: str, host: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    """One whole HTTP/1.1 request as bytes, for `Connection.send_raw` (encode once, send many)."""
    head = [f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"]
    if headers:
        head.extend(f"{k}: {v}\r\n" for k, v in headers.items())
    if body or method in ("POST", "PUT", "PATCH"):
        head.append(f"Content-Length: {len(body)}\r\n")
    head.append("\r\n")
    return "".join(head).encode("latin-1") + body


class Connection:
    """One keep-alive HTTP/1.1 connection; requests on it are sequential."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader = reader
        self.writer = writer
        self.host = host

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port, limit=_LIMIT)
        return cls(reader, writer, f"{host}:{port}")

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> Response:
        self.writer.write(encode_request(method, path, self.host, headers, body))
        return await self._read_response(method == "HEAD")

    async def send_raw(self, data: bytes, head_only: bool = False) -> Response:
        """Send pre-encoded request bytes (one whole request) and read its response."""
        self.writer.write(data)
        return await self._read_response(head_only)

    async def _read_response(self, head_only: bool) -> Response:
        reader = self.reader
        while True:
            raw = await reader.readuntil(b"\r\n\r\n")
            lines = raw[:-4].decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            if status >= 200 or status == 101:
                break  # skip 1xx interim responses
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = value
            if name == "set-cookie":
                cookies.append(value)
        if head_only or status in (204, 304):
            body = b""
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                        pass
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(parts)
        else:  # read until close
            body = await reader.read()
        return Response(status, headers, cookies, body)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, grandchildren, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _own_cpu(pid: int, reaped: bool) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if reaped:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: children it waited for
    return ticks / TICKS


def cpu_seconds(pid: int, children: bool = True) -> float:
    """User + system CPU seconds of `pid`, plus (by default) of every descendant.

    Descendants count while alive, and once reaped through their parent's cutime/cstime;
    read before and after a timed phase, the difference is the work done in that phase.
    """
    if not children:
        return _own_cpu(pid, False)
    return _own_cpu(pid, True) + sum(_own_cpu(child, True) for child in descendants(pid))


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * min(max(q, 0.0), 100.0) / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
