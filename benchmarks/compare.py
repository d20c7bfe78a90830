"""Token-side benchmark: idp against node-oidc-provider (and idp against idp), round by round.

    .venv/bin/python benchmarks/compare.py                    # both setups, idp vs node
    .venv/bin/python benchmarks/compare.py --setups embedded --rounds 3 --duration 3
    .venv/bin/python benchmarks/compare.py --workers 2        # also 2 processes each (Redis)
    .venv/bin/python benchmarks/compare.py --peer base=/tmp/base/.venv/bin/idp \\
        --peer head=.venv/bin/idp --peer node                 # two idp versions A/B (and node)

For every setup it starts every peer (each on its own port, database and key prefix), logs a
browser in once per peer, then runs the scenarios round by round, the peers alternating inside
each round (scenario 1: A B, scenario 2: A B, ... then the next round). Codes, refresh-token
seeds and tokens to introspect are made before a phase starts; a phase is a warm-up and then
a timed part, with the server's CPU time (utime + stime of the server process and every
descendant, /proc) and the load generator's own CPU time read just before and just after the
timed part, with no request in flight at either reading. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from loadgen import Connection, Response, cpu_seconds, encode_request, percentile

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
REPO_IDP = HERE.parent / ".venv" / "bin" / "idp"
SECRET = "benchmark-client-secret-0123456789"
CLIENT_ID = "bench"
SAME_DEVICE = "urn:grn:authn:se:bankid:same-device"
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120"
POSTGRES = "127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/0"

SCENARIOS = ["client_credentials", "code", "refresh", "introspection", "discovery", "jwks"]
TITLES = {
    "client_credentials": "client_credentials (JWT access token)",
    "code": "authorization code -> ID + access + refresh",
    "refresh": "refresh grant (rotation)",
    "introspection": "introspection (refresh token)",
    "discovery": "discovery document",
    "jwks": "JWKS",
}
SETUPS = {
    "embedded": "idp: SQLite + in-process store; node: MemoryAdapter",
    "redis": "idp: PostgreSQL + Redis; node: Redis adapter (ioredis)",
}


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


AUTHORIZATION = basic(CLIENT_ID, SECRET)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def field_of(body: bytes, name: str) -> str | None:
    """A string member of a compact JSON object without parsing it all (cheap, per request)."""
    marker = f'"{name}":"'.encode()
    start = body.find(marker)
    if start < 0:
        try:
            value = json.loads(body).get(name)
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None
    start += len(marker)
    return body[start : body.index(b'"', start)].decode()


# --------------------------------------------------------------------------- services


class Services:
    """The throwaway PostgreSQL databases and Redis key prefixes of one run; dropped at exit."""

    def __init__(self) -> None:
        self.databases: list[tuple[str, str]] = []  # (admin URL, name)
        self.prefixes: list[str] = []

    def database(self) -> str:
        import psycopg

        name = f"bench_{secrets.token_hex(4)}"
        errors = []
        for user in ("postgres", "root"):
            admin = f"postgresql://{user}@{POSTGRES}/postgres"
            try:
                with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
            except psycopg.Error as exc:
                errors.append(f"{user}: {str(exc).strip().splitlines()[0]}")
                continue
            self.databases.append((admin, name))
            return f"postgresql+psycopg://{user}@{POSTGRES}/{name}"
        raise RuntimeError(f"cannot create a PostgreSQL database at {POSTGRES}: {errors}")

    def prefix(self, kind: str) -> str:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
        value = f"compare-{kind}-{secrets.token_hex(4)}:"
        self.prefixes.append(value)
        return value

    def cleanup(self) -> None:
        if self.prefixes:
            import redis

            r = redis.Redis.from_url(REDIS_URL)
            for prefix in self.prefixes:
                batch = list(r.scan_iter(match=prefix + "*", count=1000))
                for i in range(0, len(batch), 500):
                    r.delete(*batch[i : i + 500])
            self.prefixes.clear()
        if self.databases:
            import psycopg

            for admin, name in self.databases:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.databases.clear()


# --------------------------------------------------------------------------- peers


@dataclass
class Peer:
    name: str
    kind: str  # "idp" | "node"
    idp: Path | None = None  # the idp command

    def version(self) -> str:
        if self.kind == "node":
            try:
                meta = json.loads(
                    (NODE_DIR / "node_modules/oidc-provider/package.json").read_text()
                )
                release = f"oidc-provider {meta['version']}"
            except OSError:
                release = "oidc-provider (not installed yet)"
            node = subprocess.run(["node", "--version"], capture_output=True, text=True)
            return f"{release}, node {node.stdout.strip()}"
        out = subprocess.run([str(self.idp), "--version"], capture_output=True, text=True)
        return f"{out.stdout.strip() or out.stderr.strip()[-200:]} ({self.idp})"

    def supports_workers(self) -> bool:
        if self.kind == "node":
            return True
        out = subprocess.run(
            [str(self.idp), "serve", "--help"], capture_output=True, text=True, check=False
        )
        return "--workers" in out.stdout


@dataclass
class Server:
    """One running peer: its process, endpoints and what a logged-in browser sends."""

    peer: Peer
    port: int
    proc: subprocess.Popen
    home: Path
    log_path: Path
    issuer: str = ""
    endpoints: dict[str, str] = field(default_factory=dict)
    cookie: str = ""  # Cookie header of the logged-in browser
    verifier: str = ""
    challenge: str = ""
    cc_scope: str = "openid"
    workers: int = 1

    @property
    def label(self) -> str:
        return self.peer.name if self.workers == 1 else f"{self.peer.name}x{self.workers}"

    @property
    def redirect_uri(self) -> str:
        return f"{self.issuer}/cb"

    def path(self, endpoint: str) -> str:
        parts = urlsplit(self.endpoints[endpoint])
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT if self.peer.kind == "idp" else signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


#: The load comes from one address and one client at thousands of requests a second: the rate
#: limits are raised out of the way, so that what is measured is their counting, not a 429.
RAISED_LIMITS = [
    "limits:",
    *(
        f"  {name}: {{count: 10000000}}"
        for name in ("authorize_per_address", "bankid_start_per_address", "token_per_client",
                     "par_per_client", "ciba_per_client", "client_auth_failures")
    ),
]  # fmt: skip


def idp_config(
    home: Path, port: int, database_url: str, redis_prefix: str | None, limits: bool = True
) -> Path:
    issuer = f"http://127.0.0.1:{port}"
    lines = [
        f"issuer: {issuer}",
        f"database_url: {database_url}",
        *(
            [f"redis_url: {REDIS_URL}", f'redis_key_prefix: "{redis_prefix}"']
            if redis_prefix
            else []
        ),
        f"secret_key: {secrets.token_urlsafe(32)}",
        "bankid:",
        "  environment: simulator",
        "  simulator:",
        "    think_time_seconds: 0",
        "tokens:",
        "  authorization_code_ttl_seconds: 600",
        "clients:",
        f"  - client_id: {CLIENT_ID}",
        f"    client_secret: {SECRET}",
        "    token_endpoint_auth_method: client_secret_basic",
        f"    redirect_uris: [{issuer}/cb]",
        "    grant_types: [authorization_code, refresh_token, client_credentials]",
        "    scope: openid profile",
        *(RAISED_LIMITS if limits else []),
    ]
    path = home / "idp.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_idp(peer: Peer, setup: str, workers: int, services: Services, home: Path) -> Server:
    port = free_port()
    if setup == "embedded":
        database_url, prefix = f"sqlite:///{home}/idp.db", None
    else:
        database_url, prefix = services.database(), services.prefix("idp")
    config = idp_config(home, port, database_url, prefix)
    env = {k: v for k, v in os.environ.items() if k != "IDP_CONFIG"}
    env.pop("VIRTUAL_ENV", None)
    idp = str(peer.idp)
    checked = subprocess.run(
        [idp, "check-config", str(config)], cwd=home, env=env, capture_output=True, text=True
    )
    if checked.returncode != 0 and "limits" in checked.stderr:  # an idp without rate limits
        config = idp_config(home, port, database_url, prefix, limits=False)
    subprocess.run(
        [idp, "db", "upgrade", "--config", str(config)],
        cwd=home, env=env, check=True, capture_output=True,
    )  # fmt: skip
    command = [idp, "serve", "--config", str(config), "--port", str(port), "--log-level",
               "warning"]  # fmt: skip
    if workers > 1:
        command += ["--workers", str(workers)]
    log_path = home / "server.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(command, cwd=home, env=env, stdout=out, stderr=out)
    return Server(peer, port, proc, home, log_path, workers=workers)


def ensure_node() -> None:
    if shutil.which("node") is None:
        raise RuntimeError("node is not installed")
    if not (NODE_DIR / "node_modules" / "oidc-provider").exists():
        log(f"installing node-oidc-provider into {NODE_DIR} (npm ci) ...")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)


def start_node(peer: Peer, setup: str, workers: int, services: Services, home: Path) -> Server:
    ensure_node()
    port = free_port()
    env = {
        **os.environ,
        "NODE_ENV": "production",
        "PORT": str(port),
        "CLIENT_SECRET": SECRET,
        "WORKERS": str(workers),
        "ADAPTER": "memory" if setup == "embedded" else "redis",
    }
    if setup != "embedded":
        env["REDIS_URL"] = REDIS_URL
        env["REDIS_PREFIX"] = services.prefix("node")
    log_path = home / "server.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            ["node", str(NODE_DIR / "provider.mjs")], cwd=home, env=env, stdout=out, stderr=out
        )
    server = Server(peer, port, proc, home, log_path, workers=workers)
    server.cc_scope = "api"
    return server


def wait_ready(server: Server) -> None:
    base = f"http://127.0.0.1:{server.port}"
    deadline = time.monotonic() + 60
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.peer.name} exited: {server.log_path.read_text()[-2000:]}")
        try:
            r = httpx.get(f"{base}/.well-known/openid-configuration", timeout=2)
            if r.status_code == 200:
                doc = r.json()
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.peer.name} did not start: {server.log_path}")
        time.sleep(0.2)
    server.issuer = doc["issuer"]
    server.endpoints = {
        "authorize": doc["authorization_endpoint"],
        "token": doc["token_endpoint"],
        "introspection": doc["introspection_endpoint"],
        "jwks": doc["jwks_uri"],
        "discovery": f"{base}/.well-known/openid-configuration",
    }


# --------------------------------------------------------------------------- login (setup)


def authorize_params(server: Server, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": server.redirect_uri,
        "scope": "openid profile",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": server.challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def follow(http: httpx.Client, r: httpx.Response, server: Server, limit: int = 10):
    """Follow redirects inside the provider; stop at the client's redirect URI."""
    for _ in range(limit):
        if r.status_code not in (302, 303):
            return r
        location = r.headers["location"]
        if location.startswith(server.redirect_uri):
            return r
        r = http.get(location)
    raise RuntimeError(f"too many redirects at {r.url}")


def code_of(location: str) -> str:
    query = parse_qs(urlsplit(location).query)
    if "code" not in query:
        raise RuntimeError(f"no code in the redirect: {location[:300]}")
    return query["code"][0]


def login(server: Server) -> None:
    """Log one browser in; keeps its Cookie header and checks SSO gives a code at once."""
    server.verifier, server.challenge = pkce_pair()
    base = f"http://127.0.0.1:{server.port}"
    headers = {"user-agent": DESKTOP_UA, "accept-language": "en"}
    with httpx.Client(base_url=base, timeout=15, headers=headers) as http:
        if server.peer.kind == "idp":
            _login_idp(http, server)
        else:
            r = http.get(server.path("authorize") + "?" + urlencode(authorize_params(server)))
            r = follow(http, r, server)
            code_of(r.headers.get("location", ""))
        server.cookie = "; ".join(
            f"{c.name}={c.value}" for c in http.cookies.jar if (c.path or "/") == "/"
        )
        # SSO: the same browser asks again and gets a code without interaction.
        r = http.get(server.path("authorize") + "?" + urlencode(authorize_params(server)))
        if r.status_code not in (302, 303) or not r.headers["location"].startswith(
            server.redirect_uri
        ):
            raise RuntimeError(f"{server.peer.name}: no SSO code: {r.status_code} {r.text[:300]}")
        code_of(r.headers["location"])


def _login_idp(http: httpx.Client, server: Server) -> None:
    params = authorize_params(server, acr_values=SAME_DEVICE)
    r = follow(http, http.get(server.path("authorize") + "?" + urlencode(params)), server)
    if 'data-autosubmit="1"' in r.text:  # one way to log in: the page's script starts it
        form = r.text[r.text.index('action="/bankid/start"') :]
        fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form[: form.index("</form>")]))
        r = follow(http, http.post("/bankid/start", data=fields), server)
    # The page's link that opens the BankID app on this device carries the autostart token.
    m = re.search(r"autostarttoken=([0-9a-fA-F-]{16,})", r.text)
    if not m:
        raise RuntimeError(f"{server.peer.name}: no BankID autostart link at {r.url}")
    token = m.group(1)
    txn = parse_qs(urlsplit(str(r.url)).query)["txn"][0]
    opened = http.post("/bankid-simulator/app/autostart", json={"autoStartToken": token})
    if opened.status_code != 200:
        raise RuntimeError(f"{server.peer.name}: simulator: {opened.text[:300]}")
    return_url = opened.json().get("returnUrl")
    if return_url:  # the app sends the person back to the browser that started the order
        http.get(urlsplit(return_url)._replace(scheme="", netloc="").geturl())
    deadline = time.monotonic() + 30
    status: dict = {}
    while time.monotonic() < deadline:
        status = http.get("/bankid/status", params={"txn": txn}).json()
        if status.get("next"):
            break
        time.sleep(0.2)
    else:
        raise RuntimeError(f"{server.peer.name}: the BankID login did not complete: {status}")
    r = follow(http, http.get(status["next"]), server)
    code_of(r.headers.get("location", ""))


# --------------------------------------------------------------------------- requests


def token_request(server: Server, body: dict[str, str]) -> bytes:
    return encode_request(
        "POST",
        server.path("token"),
        f"127.0.0.1:{server.port}",
        {
            "Authorization": AUTHORIZATION,
            "Content-Type": "application/x-www-form-urlencoded",
        },
        urlencode(body).encode(),
    )


def code_request(server: Server, code: str) -> bytes:
    return token_request(
        server,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": server.redirect_uri,
            "code_verifier": server.verifier,
        },
    )


def refresh_request(server: Server, token: str) -> bytes:
    return token_request(server, {"grant_type": "refresh_token", "refresh_token": token})


async def open_connections(server: Server, n: int) -> list[Connection]:
    return list(
        await asyncio.gather(*(Connection.open("127.0.0.1", server.port) for _ in range(n)))
    )


async def mint_codes(server: Server, count: int, connections: int = 8) -> list[str]:
    """`count` codes through SSO (the logged-in browser's /authorize), a few at a time."""
    headers = {"Cookie": server.cookie, "User-Agent": DESKTOP_UA}
    host = f"127.0.0.1:{server.port}"
    codes: list[str] = []
    remaining = [count]

    async def worker(conn: Connection) -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            query = urlencode(authorize_params(server))
            data = encode_request("GET", f"{server.path('authorize')}?{query}", host, headers)
            r = await conn.send_raw(data)
            if r.status not in (302, 303):
                raise RuntimeError(f"{server.peer.name}: minting a code: {r.status} {r.body[:300]}")
            codes.append(code_of(r.headers["location"]))

    conns = await open_connections(server, min(connections, max(count, 1)))
    try:
        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    return codes


async def exchange(server: Server, codes: list[str]) -> list[dict]:
    """Exchange codes (setup, untimed): token responses, for refresh seeds and checks."""
    conns = await open_connections(server, min(8, len(codes)))
    out: list[dict] = []
    todo = deque(codes)

    async def worker(conn: Connection) -> None:
        while todo:
            r = await conn.send_raw(code_request(server, todo.popleft()))
            if r.status != 200:
                raise RuntimeError(f"{server.peer.name}: code exchange: {r.status} {r.body[:300]}")
            out.append(json.loads(r.body))

    try:
        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    return out


def jwt_header(token: str) -> dict:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


async def check(server: Server) -> str:
    """What each scenario's response holds, once, so a misconfigured peer fails loudly."""
    conn = await Connection.open("127.0.0.1", server.port)
    try:
        body = {"grant_type": "client_credentials", "scope": server.cc_scope}
        r = await conn.send_raw(token_request(server, body))
        cc = json.loads(r.body)
        assert r.status == 200 and jwt_header(cc["access_token"])["alg"] == "RS256", r.body
        [tokens] = await exchange(server, await mint_codes(server, 1, 1))
        assert jwt_header(tokens["access_token"])["alg"] == "RS256", tokens
        assert jwt_header(tokens["id_token"])["alg"] == "RS256", tokens
        assert tokens.get("refresh_token"), tokens
        r = await conn.send_raw(refresh_request(server, tokens["refresh_token"]))
        rotated = json.loads(r.body)
        assert r.status == 200 and rotated["refresh_token"] != tokens["refresh_token"], r.body
        r = await conn.send_raw(refresh_request(server, tokens["refresh_token"]))
        assert r.status == 400, (r.status, r.body)  # a rotated-away token is refused
        r = await conn.request(
            "POST",
            server.path("introspection"),
            {
                "Authorization": AUTHORIZATION,
                "Content-Type": "application/x-www-form-urlencoded",
            },
            urlencode({"token": rotated["refresh_token"]}).encode(),
        )
        # Reuse of a rotated-away token may revoke the family (RFC 9700 §4.14.2): either way
        # the introspection call itself must work.
        assert r.status == 200 and "active" in json.loads(r.body), r.body
    finally:
        await conn.close()
    return f"access token {jwt_header(tokens['access_token']).get('typ', 'JWT')} RS256"


# --------------------------------------------------------------------------- phases


@dataclass
class Round:
    requests: int
    seconds: float
    server_cpu: float
    loadgen_cpu: float
    latencies: list[float]
    errors: int
    first_error: str = ""
    ran_out: bool = False

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class Phase:
    """One scenario's inputs: the next request for a connection, and what a response feeds."""

    def __init__(self, server: Server, conns: int) -> None:
        self.server = server
        self.conns = conns
        self.pool: deque[str] = deque()

    async def prepare(self, expected: int) -> None:
        """Setup work before the warm-up (never timed)."""

    def next(self, i: int) -> bytes | None:
        raise NotImplementedError

    def feed(self, i: int, response: Response) -> None:
        pass


class Fixed(Phase):
    def __init__(self, server: Server, conns: int, data: bytes) -> None:
        super().__init__(server, conns)
        self.data = data

    def next(self, i: int) -> bytes | None:
        return self.data


class Codes(Phase):
    """Each request exchanges a fresh pre-minted code (one shared pool)."""

    async def prepare(self, expected: int) -> None:
        self.pool = deque(await mint_codes(self.server, expected))

    def next(self, i: int) -> bytes | None:
        return code_request(self.server, self.pool.popleft()) if self.pool else None


class Refresh(Phase):
    """A chain per connection: each request uses the refresh token the previous one returned."""

    async def prepare(self, expected: int) -> None:
        seeds = await exchange(self.server, await mint_codes(self.server, self.conns))
        self.chain = [t["refresh_token"] for t in seeds]

    def next(self, i: int) -> bytes | None:
        return refresh_request(self.server, self.chain[i])

    def feed(self, i: int, response: Response) -> None:
        token = field_of(response.body, "refresh_token")
        if token:
            self.chain[i] = token


class Introspect(Phase):
    """Each connection introspects its own live refresh token, over and over."""

    async def prepare(self, expected: int) -> None:
        seeds = await exchange(self.server, await mint_codes(self.server, self.conns))
        host = f"127.0.0.1:{self.server.port}"
        headers = {
            "Authorization": AUTHORIZATION,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        self.data = [
            encode_request(
                "POST",
                self.server.path("introspection"),
                host,
                headers,
                urlencode(
                    {"token": t["refresh_token"], "token_type_hint": "refresh_token"}
                ).encode(),
            )
            for t in seeds
        ]

    def next(self, i: int) -> bytes | None:
        return self.data[i]


def make_phase(scenario: str, server: Server, conns: int) -> Phase:
    host = f"127.0.0.1:{server.port}"
    if scenario == "client_credentials":
        body = {"grant_type": "client_credentials", "scope": server.cc_scope}
        return Fixed(server, conns, token_request(server, body))
    if scenario in ("discovery", "jwks"):
        return Fixed(server, conns, encode_request("GET", server.path(scenario), host))
    return {"code": Codes, "refresh": Refresh, "introspection": Introspect}[scenario](server, conns)


async def run_phase(
    phase: Phase, warmup: float, duration: float, on_measure: Callable[[], None] | None = None
) -> Round:
    server = phase.server
    conns = await open_connections(server, phase.conns)
    latencies: list[float] = []
    errors = [0, ""]
    ran_out = [False]

    async def worker(i: int, until: float, record: bool) -> int:
        done = 0
        clock = time.perf_counter
        while clock() < until:
            data = phase.next(i)
            if data is None:
                ran_out[0] = True
                break
            t0 = clock()
            try:
                r = await conns[i].send_raw(data)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                errors[0] += 1
                errors[1] = errors[1] or f"connection lost: {exc!r}"
                await conns[i].close()
                conns[i] = await Connection.open("127.0.0.1", server.port)
                continue
            t1 = clock()
            if r.headers.get("connection", "").lower() == "close":
                await conns[i].close()
                conns[i] = await Connection.open("127.0.0.1", server.port)
            if r.status != 200:
                errors[0] += 1
                errors[1] = errors[1] or f"{r.status} {r.body[:200]!r}"
                continue
            phase.feed(i, r)
            if record:
                latencies.append(t1 - t0)
                done += 1
        return done

    try:
        if warmup > 0:
            until = time.perf_counter() + warmup
            await asyncio.gather(*(worker(i, until, False) for i in range(len(conns))))
        errors[:] = [0, ""]
        server_before = server.cpu()
        own_before = time.process_time()
        start = time.perf_counter()
        counts = await asyncio.gather(
            *(worker(i, start + duration, True) for i in range(len(conns)))
        )
        seconds = time.perf_counter() - start
        own = time.process_time() - own_before
        server_cpu = server.cpu() - server_before
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    return Round(
        sum(counts), seconds, server_cpu, own, latencies, int(errors[0]), str(errors[1]), ran_out[0]
    )


# --------------------------------------------------------------------------- report


@dataclass
class Figures:
    rounds: list[Round] = field(default_factory=list)

    def median(self, f: Callable[[Round], float]) -> float:
        values = [f(r) for r in self.rounds if r.requests]
        return statistics.median(values) if values else float("nan")

    @property
    def rps(self) -> float:
        return self.median(lambda r: r.rps)

    @property
    def cpu_ms(self) -> float:
        return self.median(lambda r: r.server_cpu / r.requests * 1000)

    @property
    def loadgen_ms(self) -> float:
        return self.median(lambda r: r.loadgen_cpu / r.requests * 1000)

    @property
    def loadgen_share(self) -> float:
        return self.median(lambda r: r.loadgen_cpu / r.seconds * 100)

    def latency_ms(self, q: float) -> float:
        pooled = [x for r in self.rounds for x in r.latencies]
        return percentile(pooled, q) * 1000

    def spread(self) -> str:
        return " ".join(
            f"{r.server_cpu / r.requests * 1000:.2f}" for r in self.rounds if r.requests
        )


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b and b == b and a == a else "-"


@dataclass(frozen=True)
class Entry:
    label: str
    kind: str
    workers: int


def comparisons(entries: list[Entry]) -> list[tuple[Entry, Entry]]:
    """(entry, reference) pairs: every entry against node with as many processes (else the
    first entry with as many); and every later idp against the first idp (A/B of versions)."""
    pairs = []
    for entry in entries:
        same = [e for e in entries if e.workers == entry.workers]
        ref = next((e for e in same if e.kind == "node"), same[0])
        if ref != entry:
            pairs.append((entry, ref))
    for entry in entries:
        idps = [e for e in entries if e.kind == "idp" and e.workers == entry.workers]
        if entry.kind == "idp" and entry != idps[0] and (entry, idps[0]) not in pairs:
            pairs.append((entry, idps[0]))
    return pairs


def table_head(first: str) -> str:
    """The header line of a figures table (and a rule under it), `first` naming the rows."""
    head = (
        f"{first:<26}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'CPU ms/req':>12}  {'rounds (CPU ms/req)':<22}{'loadgen ms/req':>15}{'core%':>7}"
    )
    return head + "\n" + "-" * len(head)


def figures_row(label: str, f: Figures) -> str:
    """One server's row of a scenario: req/s, latency, CPU per request (each round), the load
    generator's cost, and notes of errors or a pool that ran out."""
    notes = []
    errors = sum(r.errors for r in f.rounds)
    if errors:
        notes.append(f"{errors} errors, e.g. {f.rounds[-1].first_error or '?'}")
    if any(r.ran_out for r in f.rounds):
        notes.append("ran out of codes")
    return (
        f"  {label:<24}{f.rps:>9.0f}{f.latency_ms(50):>9.2f}{f.latency_ms(99):>9.2f}"
        f"{f.cpu_ms:>12.3f}  {f.spread():<22}{f.loadgen_ms:>15.3f}{f.loadgen_share:>7.0f}"
        + (f"  [{'; '.join(notes)}]" if notes else "")
    )


def ratios_row(label: str, f: Figures, base: Figures) -> str:
    """`f` over `base`: req/s, p50, p99 and CPU per request."""
    return (
        f"  {label:<24}{ratio(f.rps, base.rps):>9}"
        f"{ratio(f.latency_ms(50), base.latency_ms(50)):>9}"
        f"{ratio(f.latency_ms(99), base.latency_ms(99)):>9}"
        f"{ratio(f.cpu_ms, base.cpu_ms):>12}   (ratios)"
    )


def report(
    title: str, entries: list[Entry], results: dict[tuple[str, str], Figures], scenarios: list[str]
) -> None:
    print(f"\n== {title}")
    print(table_head("scenario / peer"))
    for scenario in scenarios:
        print(TITLES[scenario])
        for entry in entries:
            f = results.get((scenario, entry.label))
            if f is not None and f.rounds:
                print(figures_row(entry.label, f))
        for entry, ref in comparisons(entries):
            f = results.get((scenario, entry.label))
            base = results.get((scenario, ref.label))
            if f is None or base is None or not f.rounds or not base.rounds:
                continue
            print(ratios_row(f"{entry.label}/{ref.label}", f, base))


def scaling(
    workers: int, entries: list[Entry], results: dict[tuple[str, str], Figures], scenarios
) -> None:
    """req/s with `workers` processes over req/s with one, per peer (same setup, alternated)."""
    pairs = [
        (one, many)
        for one in entries
        for many in entries
        if one.workers == 1 and many.workers == workers and many.label == f"{one.label}x{workers}"
    ]
    if not pairs:
        return
    print(f"\n== throughput, {workers} processes / 1 process (req/s, same rounds)")
    for scenario in scenarios:
        cells = []
        for one, many in pairs:
            a, b = results.get((scenario, one.label)), results.get((scenario, many.label))
            if a and b and a.rounds and b.rounds:
                cells.append(f"{one.label} {b.rps:.0f}/{a.rps:.0f} = {ratio(b.rps, a.rps)}")
        print(f"  {scenario:<20}" + "   ".join(cells))


# --------------------------------------------------------------------------- main


def parse_peers(values: list[str] | None) -> list[Peer]:
    if not values:
        values = [f"idp={REPO_IDP}", "node"]
    peers = []
    for value in values:
        if value == "node":
            peers.append(Peer("node", "node"))
            continue
        name, sep, path = value.partition("=")
        if not sep:
            name, path = "idp", value
        idp = Path(path).expanduser()
        if idp.is_dir():
            idp = idp / ("bin/idp" if (idp / "bin" / "idp").exists() else ".venv/bin/idp")
        if not idp.exists():
            raise SystemExit(f"--peer {value}: no idp command at {idp}")
        peers.append(Peer(name, "idp", idp.resolve()))
    if len({p.name for p in peers}) != len(peers):
        raise SystemExit("peer names must differ (--peer NAME=PATH)")
    return peers


async def estimate_codes(server: Server, conns: int, seconds: float) -> int:
    """How many codes a phase of `seconds` needs, from a short untimed trial (generous: a
    trial this short, just after start, runs slower than a phase)."""
    phase = Codes(server, conns)
    await phase.prepare(8 * conns)
    trial = await run_phase(phase, 0, 10)
    rate = trial.requests / trial.seconds if trial.seconds else 100
    return int(rate * seconds * 2.5) + 2 * conns


async def run_setup(
    setup: str, workers: int, peers: list[Peer], args: argparse.Namespace, services: Services
) -> None:
    """Every peer with one process, and (workers > 1) again with `workers` processes."""
    label = setup if workers == 1 else f"{setup}, 1 and {workers} processes"
    servers: list[Server] = []
    homes: list[tempfile.TemporaryDirectory] = []
    results: dict[tuple[str, str], Figures] = {}
    variants = [(p, 1) for p in peers] + [(p, workers) for p in peers if workers > 1]
    try:
        for peer, n in variants:
            if n > 1 and not peer.supports_workers():
                log(f"[{label}] {peer.name}: `idp serve` has no --workers; skipped")
                continue
            home = tempfile.TemporaryDirectory(prefix=f"bench-{peer.name}-")
            homes.append(home)
            start = start_idp if peer.kind == "idp" else start_node
            servers.append(start(peer, setup, n, services, Path(home.name)))
        for server in servers:
            wait_ready(server)
            login(server)
            what = await check(server)
            log(f"[{label}] {server.label} ready on :{server.port} (pid {server.proc.pid}); "
                f"checked: {what}")  # fmt: skip
        scenarios = args.scenarios
        need: dict[str, int] = {}
        if "code" in scenarios:
            for server in servers:
                need[server.label] = await estimate_codes(
                    server, args.connections, args.warmup + args.duration
                )
        for n in range(args.rounds):
            for scenario in scenarios:
                for server in servers:
                    if server.proc.poll() is not None:
                        raise RuntimeError(f"{server.label} died; see {server.log_path}")
                    phase = make_phase(scenario, server, args.connections)
                    await phase.prepare(need.get(server.label, 0))
                    r = await run_phase(phase, args.warmup, args.duration)
                    results.setdefault((scenario, server.label), Figures()).rounds.append(r)
                    if scenario == "code":  # the next round mints for this round's pace
                        name = server.label
                        pace = int(r.rps * (args.warmup + args.duration) * 1.5)
                        need[name] = max(pace + 2 * args.connections, need[name])
                        if r.ran_out:
                            need[name] = max(need[name], int(need[name] * 1.5))
                    log(
                        f"[{label}] round {n + 1}/{args.rounds} {scenario:<18} "
                        f"{server.label:<8} {r.rps:7.0f} req/s  "
                        f"{r.server_cpu / max(r.requests, 1) * 1000:7.3f} ms CPU/req"
                        + (f"  {r.errors} errors: {r.first_error}" if r.errors else "")
                    )
        entries = [Entry(s.label, s.peer.kind, s.workers) for s in servers]
        report(
            f"{label}: {SETUPS[setup]}; {args.connections} connections, {args.rounds} rounds "
            f"x {args.duration:g} s (+{args.warmup:g} s warm-up)",
            entries,
            results,
            scenarios,
        )
        scaling(workers, entries, results, scenarios)
    finally:
        for server in servers:
            server.stop()
        for home in homes:
            home.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--setups", default="embedded,redis",
                        help="comma-separated: embedded, redis (default both)")  # fmt: skip
    parser.add_argument("--peer", action="append", metavar="NAME=IDP|node",
                        help="a peer: NAME=path to an idp command (or its virtualenv or "
                        "checkout), or node; repeat to compare several "
                        "(default: idp=.venv/bin/idp, node)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=1,
                        help="in the redis setup, also run every peer with N processes "
                        "(idp serve --workers N; node cluster), alternating with the "
                        "1-process runs")  # fmt: skip
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)}")  # fmt: skip
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=2.0, help="timed seconds per phase")
    parser.add_argument("--warmup", type=float, default=0.5, help="untimed seconds per phase")
    parser.add_argument("--no-uvloop", action="store_true", help="plain asyncio event loop")
    args = parser.parse_args()
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {sorted(unknown)}")
    setups = [s for s in args.setups.split(",") if s]
    if set(setups) - set(SETUPS):
        parser.error(f"unknown setups: {sorted(set(setups) - set(SETUPS))}")
    peers = parse_peers(args.peer)
    if args.workers > 1 and "redis" not in setups:
        setups.append("redis")
    run: Callable = asyncio.run
    if not args.no_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            run = uvloop.run
    for peer in peers:
        print(f"peer {peer.name}: {peer.version()}")
    print(f"cpus: {os.cpu_count()}, load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    services = Services()
    started = time.monotonic()
    try:
        for setup in setups:
            workers = args.workers if setup == "redis" else 1
            try:
                run(run_setup(setup, workers, peers, args, services))
            except Exception as exc:  # one setup failing (e.g. no Redis) does not stop others
                log(f"[{setup}] failed: {type(exc).__name__}: {exc}")
                print(f"\n== {setup}: not run ({type(exc).__name__}: {str(exc)[:300]})")
            finally:
                services.cleanup()
    finally:
        services.cleanup()
    print(f"\n(total {time.monotonic() - started:.0f} s; load average now "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
