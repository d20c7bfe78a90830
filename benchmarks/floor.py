"""The floor of the token endpoint: bare servers doing only a scenario's unavoidable work.

    .venv/bin/python benchmarks/floor.py                   # every scenario, 3 rounds
    .venv/bin/python benchmarks/floor.py --scenarios cc,refresh --no-redis
    .venv/bin/python benchmarks/floor.py --with-compare     # idp and node-oidc-provider too

Issue 12 holds idp to at most 1/1.2 of node-oidc-provider's CPU per token request, and where
a path cannot get there asks what the floor is: the bare crypto and the store round trips. This
measures that floor in each language, on the stack each real server uses: uvicorn (as
`idp serve` runs it: uvloop, httptools, no access log) with a Starlette app of one route in
Python; node:http with `jose` (node-oidc-provider's copy, signing as it does) in node
(`node/floor.mjs`). Each reads the form body, checks HTTP Basic client credentials against a
SHA-256 digest in constant time, and per scenario:

- `cc`: one RS256 JWT access token (idp's claim set, typ at+jwt, kid);
- `code`: takes the code from the store and checks client, redirect URI and PKCE S256, then
  an access token, an ID token with at_hash and a refresh token, stored;
- `refresh`: takes the refresh token (stored as its SHA-256), then the same three tokens.

The store is in-process (a dict, a Map) unless the scenario says: `+sqlite` (Python only:
the code from the dict, the refresh token in SQLite on the database's one thread, as idp's
embedded setup does: one INSERT, or an UPDATE ... RETURNING and an INSERT in one transaction),
`+postgres` (Python only: the code from Redis with GETDEL, the refresh token in PostgreSQL
through a worker thread, as idp's Redis + PostgreSQL setup keeps them: one INSERT, or one
statement that claims the old token and inserts its successor) or `+redis` (both languages:
one GETDEL and one SET per request). Both sign with the same
2048-bit key. The load is benchmarks/compare.py's (its phases and `run_phase`): 16 keep-alive
connections, a warm-up and a timed part, the server's CPU from /proc with no request in
flight at either reading, the floors alternating scenario by scenario, round by round. A
micro figure gives the cost of one RS256 signature in each language, in-process.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import gc
import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode

sys.path.insert(0, str(Path(__file__).parent))
import compare
from loadgen import Connection, Response, cpu_seconds, encode_request

HERE = Path(__file__).resolve().parent
NODE_FLOOR = HERE / "node" / "floor.mjs"
SECRET = compare.SECRET
CLIENT_ID = compare.CLIENT_ID
REDIS_URL = compare.REDIS_URL
ACCESS_TTL = 600
REFRESH_TTL = 8 * 3600
REDIRECT_URI = "http://127.0.0.1/cb"
VERIFIER = "floor-verifier-" + "x" * 40
KID = "floor-" + secrets.token_hex(4)
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=")

SCENARIOS = ["cc", "code", "refresh", "code+sqlite", "refresh+sqlite", "code+postgres",
             "refresh+postgres", "code+redis", "refresh+redis"]  # fmt: skip
#: The variants only the Python floor has.
PYTHON_ONLY = ("+sqlite", "+postgres")
TITLES = {
    "cc": "client_credentials: 1 JWT",
    "code": "code: 2 JWTs + refresh token, in-process store",
    "refresh": "refresh: 2 JWTs + refresh token, in-process store",
    "code+sqlite": "code: in-process code, refresh token INSERT in SQLite",
    "refresh+sqlite": "refresh: UPDATE..RETURNING + INSERT in SQLite",
    "code+postgres": "code: Redis GETDEL, refresh token INSERT in PostgreSQL",
    "refresh+postgres": "refresh: one UPDATE..RETURNING + INSERT statement in PostgreSQL",
    "code+redis": "code: Redis GETDEL + SET",
    "refresh+redis": "refresh: Redis GETDEL + SET",
}
#: compare.py's scenario for each floor scenario (--with-compare), and per compare.py setup
#: which floor is idp's (refresh tokens in SQLite, or codes in Redis and refresh tokens in
#: PostgreSQL) and node-oidc-provider's (its memory, or its Redis adapter).
REAL = {"cc": "client_credentials", "code": "code", "refresh": "refresh"}
IDP_FLOOR = {
    "embedded": {"cc": "cc", "code": "code+sqlite", "refresh": "refresh+sqlite"},
    "redis": {"cc": "cc", "code": "code+postgres", "refresh": "refresh+postgres"},
}
NODE_FLOOR_OF = {
    "embedded": {"cc": "cc", "code": "code", "refresh": "refresh"},
    "redis": {"cc": "cc", "code": "code+redis", "refresh": "refresh+redis"},
}


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sha256_b64(text: str) -> str:
    return b64url(hashlib.sha256(text.encode()).digest())


# --------------------------------------------------------------------------- the Python floor


class Sqlite:
    """Refresh tokens in one SQLite table, on one thread with one connection (WAL; as idp,
    whose calls to an SQLite file take turns on one thread)."""

    INSERT = (
        "INSERT INTO refresh_tokens (token_hash, client_id, grant_json, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)"
    )
    CLAIM = (
        "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL"
        " AND client_id = ? AND expires_at > ? RETURNING grant_json"
    )

    def __init__(self, path: str) -> None:
        self.path = path
        self.local = threading.local()
        self.thread = ThreadPoolExecutor(1)
        self.conn().execute(
            "CREATE TABLE IF NOT EXISTS refresh_tokens (token_hash TEXT PRIMARY KEY,"
            " client_id TEXT NOT NULL, grant_json TEXT NOT NULL, created_at REAL NOT NULL,"
            " expires_at REAL NOT NULL, used_at REAL)"
        )

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self.local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=15000"):
                conn.execute(f"PRAGMA {pragma}")
            self.local.conn = conn
        return conn

    def insert(self, rows: list[tuple[str, str]], now: float) -> None:
        conn = self.conn()
        conn.execute("BEGIN")
        conn.executemany(
            self.INSERT, [(h, CLIENT_ID, grant, now, now + REFRESH_TTL) for h, grant in rows]
        )
        conn.execute("COMMIT")

    def rotate(self, old: str, new: str, client_id: str, now: float) -> str | None:
        """Claim `old` and store `new` for its grant, in one transaction; the grant or None."""
        conn = self.conn()
        conn.execute("BEGIN")
        try:
            rows = conn.execute(self.CLAIM, (now, old, client_id, now)).fetchall()
            if not rows:
                conn.execute("ROLLBACK")
                return None
            grant: str = rows[0][0]
            conn.execute(self.INSERT, (new, client_id, grant, now, now + REFRESH_TTL))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return grant


class Postgres:
    """Refresh tokens in one PostgreSQL table, a connection per worker thread (as idp's pool).
    The rotation is one statement in autocommit: one round trip."""

    INSERT = Sqlite.INSERT.replace("?", "%s")
    ROTATE = (
        "WITH claimed AS (UPDATE refresh_tokens SET used_at = %(now)s WHERE token_hash = %(old)s"
        " AND used_at IS NULL AND client_id = %(client)s AND expires_at > %(now)s"
        " RETURNING grant_json)"
        " INSERT INTO refresh_tokens (token_hash, client_id, grant_json, created_at, expires_at)"
        " SELECT %(new)s, %(client)s, grant_json, %(now)s, %(expires)s FROM claimed"
        " RETURNING grant_json"
    )

    def __init__(self, url: str) -> None:
        self.url = url
        self.local = threading.local()
        self.conn().execute(
            "CREATE TABLE IF NOT EXISTS refresh_tokens (token_hash TEXT PRIMARY KEY,"
            " client_id TEXT NOT NULL, grant_json TEXT NOT NULL,"
            " created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL,"
            " used_at DOUBLE PRECISION)"
        )

    def conn(self) -> Any:
        import psycopg

        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = psycopg.connect(self.url, autocommit=True)
            self.local.conn = conn
        return conn

    def insert(self, rows: list[tuple[str, str]], now: float) -> None:
        with self.conn().cursor() as cur:
            cur.executemany(
                self.INSERT, [(h, CLIENT_ID, grant, now, now + REFRESH_TTL) for h, grant in rows]
            )

    def rotate(self, old: str, new: str, client_id: str, now: float) -> str | None:
        row = self.conn().execute(
            self.ROTATE,
            {"now": now, "old": old, "client": client_id, "new": new,
             "expires": now + REFRESH_TTL},
        ).fetchone()  # fmt: skip
        return None if row is None else str(row[0])


class Floor:
    """The Python floor's work: client authentication, the tokens, the stores."""

    def __init__(self, key_pem: bytes, kid: str, issuer: str, home: str, prefix: str) -> None:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        self.key = load_pem_private_key(key_pem, None)
        self.issuer = issuer
        self.at_headers = {"kid": kid, "typ": "at+jwt"}
        self.id_headers = {"kid": kid, "typ": "JWT"}
        self.secret = hashlib.sha256(SECRET.encode()).digest()
        self.memory: dict[str, Any] = {}
        self.sqlite = Sqlite(os.path.join(home, "floor.db"))
        url = os.environ.get("FLOOR_POSTGRES_URL")
        self.postgres = Postgres(url) if url else None
        self.prefix = prefix
        import redis.asyncio as aioredis  # as idp's Redis store: connects on first use

        pool = aioredis.BlockingConnectionPool.from_url(REDIS_URL, max_connections=64)
        self.redis = aioredis.Redis(connection_pool=pool)

    def authenticated(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except ValueError:
            return False
        client_id, colon, secret = decoded.partition(":")
        if not colon or unquote_plus(client_id) != CLIENT_ID:
            return False
        digest = hashlib.sha256(unquote_plus(secret).encode()).digest()
        return hmac.compare_digest(digest, self.secret)

    def sign(self, claims: dict[str, Any], headers: dict[str, str]) -> str:
        import jwt

        return jwt.encode(claims, self.key, algorithm="RS256", headers=headers)

    def access_token(self, sub: str, scope: str, extra: dict[str, Any]) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": sub, "aud": self.issuer, "exp": now + ACCESS_TTL,
                  "iat": now, "jti": secrets.token_urlsafe(16), "client_id": CLIENT_ID,
                  "scope": scope, **extra}  # fmt: skip
        return self.sign(claims, self.at_headers)

    def tokens(self, grant: dict[str, Any], nonce: str | None) -> tuple[dict[str, Any], str]:
        """The token response for a grant, and its new refresh token (not stored yet)."""
        access = self.access_token(
            grant["sub"], grant["scope"],
            {k: grant[k] for k in ("gid", "auth_time", "acr", "amr")},
        )  # fmt: skip
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": grant["sub"], "aud": CLIENT_ID, "exp": now + 300,
                  "iat": now, "auth_time": grant["auth_time"], "acr": grant["acr"],
                  "amr": grant["amr"], "sid": grant["sid"],
                  "at_hash": b64url(hashlib.sha256(access.encode()).digest()[:16])}  # fmt: skip
        if nonce:
            claims["nonce"] = nonce
        refresh = secrets.token_urlsafe(32)
        body = {"access_token": access, "token_type": "Bearer", "expires_in": ACCESS_TTL,
                "scope": grant["scope"], "id_token": self.sign(claims, self.id_headers),
                "refresh_token": refresh}  # fmt: skip
        return body, refresh

    async def in_thread(self, store: str, fn: Any, *args: Any) -> Any:
        """A database call: SQLite's on its one thread, PostgreSQL's in anyio's threads."""
        if store == "sqlite":
            return await asyncio.get_running_loop().run_in_executor(
                self.sqlite.thread, functools.partial(fn, *args)
            )
        import anyio.to_thread

        return await anyio.to_thread.run_sync(fn, *args)

    def database(self, store: str) -> Sqlite | Postgres | None:
        return self.sqlite if store == "sqlite" else self.postgres if store == "postgres" else None

    async def take_code(self, store: str, code: str) -> dict[str, Any] | None:
        if store in ("redis", "postgres"):
            raw = await self.redis.getdel(f"{self.prefix}code:{code}")
            return None if raw is None else json.loads(raw)
        found: dict[str, Any] | None = self.memory.pop(f"code:{code}", None)
        return found

    async def store_refresh(self, store: str, token: str, grant: dict[str, Any]) -> None:
        h = sha256_b64(token)
        db = self.database(store)
        if store == "redis":
            await self.redis.set(f"{self.prefix}rt:{h}", json.dumps(grant), ex=REFRESH_TTL)
        elif db is not None:
            await self.in_thread(store, db.insert, [(h, json.dumps(grant))], time.time())
        else:
            self.memory[f"rt:{h}"] = grant

    async def code_grant(self, store: str, form: dict[str, str]) -> dict[str, Any] | None:
        code = await self.take_code(store, form.get("code", ""))
        if code is None or code["client_id"] != CLIENT_ID:
            return None
        if code["redirect_uri"] != form.get("redirect_uri"):
            return None
        if not hmac.compare_digest(sha256_b64(form.get("code_verifier", "")), code["challenge"]):
            return None
        body, refresh = self.tokens(code["grant"], code["nonce"])
        await self.store_refresh(store, refresh, code["grant"])
        return body

    async def refresh_grant(self, store: str, form: dict[str, str]) -> dict[str, Any] | None:
        old = sha256_b64(form.get("refresh_token", ""))
        grant: dict[str, Any] | None
        db = self.database(store)
        if db is not None:
            new = secrets.token_urlsafe(32)
            found = await self.in_thread(
                store, db.rotate, old, sha256_b64(new), CLIENT_ID, time.time()
            )
            if found is None:
                return None
            grant = json.loads(found)
            body, _ = self.tokens(grant, None)
            body["refresh_token"] = new
            return body
        if store == "redis":
            raw = await self.redis.getdel(f"{self.prefix}rt:{old}")
            grant = None if raw is None else json.loads(raw)
        else:
            grant = self.memory.pop(f"rt:{old}", None)
        if grant is None or grant["client_id"] != CLIENT_ID:
            return None
        body, refresh = self.tokens(grant, None)
        await self.store_refresh(store, refresh, grant)
        return body

    def grant_record(self) -> dict[str, Any]:
        return {"client_id": CLIENT_ID, "sub": secrets.token_urlsafe(16),
                "scope": "openid profile", "gid": secrets.token_urlsafe(16),
                "auth_time": int(time.time()), "acr": "urn:bench:loa3", "amr": ["bankid"],
                "sid": secrets.token_urlsafe(16)}  # fmt: skip

    async def mint(self, store: str, form: dict[str, str]) -> list[str]:
        """Codes or refresh tokens for a phase (setup, never timed)."""
        values = [secrets.token_urlsafe(32) for _ in range(int(form.get("n", "1")))]
        if form.get("kind") == "code":
            entries = {f"code:{v}": {"client_id": CLIENT_ID,
                                     "redirect_uri": form.get("redirect_uri"),
                                     "challenge": form.get("challenge"),
                                     "nonce": secrets.token_urlsafe(8),
                                     "grant": self.grant_record()}
                       for v in values}  # fmt: skip
        else:
            entries = {f"rt:{sha256_b64(v)}": self.grant_record() for v in values}
        db = self.database(store)
        if store == "redis" or (store == "postgres" and form.get("kind") == "code"):
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, value in entries.items():
                    pipe.set(self.prefix + key, json.dumps(value), ex=REFRESH_TTL)
                await pipe.execute()
        elif db is not None and form.get("kind") != "code":
            rows = [(k.removeprefix("rt:"), json.dumps(v)) for k, v in entries.items()]
            await self.in_thread(store, db.insert, rows, time.time())
        else:
            self.memory.update(entries)
        return values


def floor_app(floor: Floor) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response as HTTPResponse
    from starlette.routing import Route

    no_store = {"cache-control": "no-store", "pragma": "no-cache"}

    def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> HTTPResponse:
        return HTTPResponse(json.dumps(body), status, headers, "application/json")

    async def token(request: Request) -> HTTPResponse:
        store = request.path_params.get("store", "memory")
        if not floor.authenticated(request.headers.get("authorization")):
            return answer(401, {"error": "invalid_client"}, no_store)
        form = dict(parse_qsl((await request.body()).decode()))
        grant_type = form.get("grant_type")
        body: dict[str, Any] | None = None
        if grant_type == "client_credentials":
            scope = form.get("scope", "api")
            access = floor.access_token(CLIENT_ID, scope, {})
            body = {"access_token": access, "token_type": "Bearer", "expires_in": ACCESS_TTL,
                    "scope": scope}  # fmt: skip
        elif grant_type == "authorization_code":
            body = await floor.code_grant(store, form)
        elif grant_type == "refresh_token":
            body = await floor.refresh_grant(store, form)
        if body is None:
            return answer(400, {"error": "invalid_grant"}, no_store)
        return answer(200, body, no_store)

    async def mint(request: Request) -> HTTPResponse:
        form = dict(parse_qsl((await request.body()).decode()))
        return answer(200, await floor.mint(request.path_params["store"], form))

    return Starlette(
        routes=[
            Route("/token", token, methods=["POST"]),
            Route("/token/{store}", token, methods=["POST"]),
            Route("/mint/{store}", mint, methods=["POST"]),
        ]
    )


def serve(args: argparse.Namespace) -> int:
    """The Python floor server (started by this script; uvicorn's options as `idp serve`)."""
    import uvicorn

    issuer = f"http://127.0.0.1:{args.port}"
    floor = Floor(Path(args.key).read_bytes(), args.kid, issuer, args.home, args.prefix)
    app = floor_app(floor)
    gc.freeze()  # as `idp serve` does once its app is built
    uvicorn.run(app, host="127.0.0.1", port=args.port, proxy_headers=False, server_header=False,
                log_config=None, log_level="warning", access_log=False)  # fmt: skip
    return 0


# --------------------------------------------------------------------------- micro figure


def python_micro(key_pem: bytes, kid: str, seconds: float) -> dict[str, dict[str, float]]:
    """CPU ms per RS256 JWT (pyjwt) and per bare RSA signature (cryptography), in-process."""
    import jwt
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key: Any = load_pem_private_key(key_pem, None)
    now = int(time.time())
    claims = {"iss": "http://127.0.0.1", "sub": "client", "aud": "http://127.0.0.1",
              "client_id": CLIENT_ID, "scope": "api", "iat": now,
              "exp": now + ACCESS_TTL}  # fmt: skip
    headers = {"kid": kid, "typ": "at+jwt"}
    data = b"eyJhbGciOiJSUzI1NiJ9." + b64url(json.dumps(claims).encode()).encode()

    def measure(fn: Any) -> dict[str, float]:
        for _ in range(50):
            fn()
        start, n = time.process_time(), 0
        while time.process_time() - start < seconds:
            for _ in range(20):
                fn()
            n += 20
        return {"ms": (time.process_time() - start) * 1000 / n, "n": n}

    return {
        "jwt": measure(
            lambda: jwt.encode({**claims, "jti": secrets.token_urlsafe(16)}, key, "RS256", headers)
        ),
        "bare": measure(lambda: key.sign(data, padding.PKCS1v15(), hashes.SHA256())),
    }


def node_micro(env: dict[str, str], seconds: float) -> dict[str, dict[str, float]]:
    out = subprocess.run(
        ["node", str(NODE_FLOOR), "micro", str(seconds)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, dict[str, float]] = json.loads(out.stdout)
    return result


# --------------------------------------------------------------------------- the floors, driven


@dataclass
class FloorServer:
    """A running floor (or, with --with-compare, a compare.Server under the same interface)."""

    label: str
    kind: str  # "py" | "node"
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT if self.kind == "py" else signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_floor(kind: str, home: Path, env: dict[str, str], prefix: str) -> FloorServer:
    port = free_port()
    log_path = home / f"{kind}-floor.log"
    if kind == "py":
        command = [sys.executable, str(Path(__file__).resolve()), "serve", "--port", str(port),
                   "--key", env["KEY_FILE"], "--kid", env["KID"], "--home", str(home),
                   "--prefix", prefix]  # fmt: skip
        env = {**env}
    else:
        command = ["node", str(NODE_FLOOR)]
        env = {**env, "PORT": str(port), "REDIS_PREFIX": prefix, "NODE_ENV": "production"}
    with log_path.open("wb") as out:
        proc = subprocess.Popen(command, cwd=home, env=env, stdout=out, stderr=out)
    server = FloorServer(f"{kind}-floor", kind, port, proc, log_path)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{server.label} exited: {log_path.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return server
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.label} did not start: {log_path}")
        time.sleep(0.1)


def store_of(scenario: str) -> str:
    return scenario.partition("+")[2] or "memory"


def grant_of(scenario: str) -> str:
    return scenario.partition("+")[0]


def floor_request(server: FloorServer, store: str, body: dict[str, str]) -> bytes:
    path = "/token" if store == "memory" else f"/token/{store}"
    headers = {
        "Authorization": compare.AUTHORIZATION,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return encode_request(
        "POST", path, f"127.0.0.1:{server.port}", headers, urlencode(body).encode()
    )


async def mint(server: FloorServer, store: str, kind: str, n: int) -> list[str]:
    conn = await Connection.open("127.0.0.1", server.port)
    try:
        body = {"kind": kind, "n": str(n), "challenge": CHALLENGE.decode(),
                "redirect_uri": REDIRECT_URI}  # fmt: skip
        r = await conn.request("POST", f"/mint/{store}", body=urlencode(body).encode())
    finally:
        await conn.close()
    if r.status != 200:
        raise RuntimeError(f"{server.label}: mint {kind}: {r.status} {r.body[:200]!r}")
    values: list[str] = json.loads(r.body)
    return values


class FloorCodes(compare.Phase):
    def __init__(self, server: Any, conns: int, store: str) -> None:
        super().__init__(server, conns)
        self.store = store

    async def prepare(self, expected: int) -> None:
        self.pool = deque(await mint(self.server, self.store, "code", expected))

    def next(self, i: int) -> bytes | None:
        if not self.pool:
            return None
        body = {"grant_type": "authorization_code", "code": self.pool.popleft(),
                "redirect_uri": REDIRECT_URI, "code_verifier": VERIFIER}  # fmt: skip
        return floor_request(self.server, self.store, body)


class FloorRefresh(compare.Phase):
    def __init__(self, server: Any, conns: int, store: str) -> None:
        super().__init__(server, conns)
        self.store = store

    async def prepare(self, expected: int) -> None:
        self.chain = await mint(self.server, self.store, "refresh", self.conns)

    def next(self, i: int) -> bytes | None:
        body = {"grant_type": "refresh_token", "refresh_token": self.chain[i]}
        return floor_request(self.server, self.store, body)

    def feed(self, i: int, response: Response) -> None:
        token = compare.field_of(response.body, "refresh_token")
        if token:
            self.chain[i] = token


def floor_phase(scenario: str, server: FloorServer, conns: int) -> compare.Phase:
    store, grant = store_of(scenario), grant_of(scenario)
    if grant == "cc":
        body = {"grant_type": "client_credentials", "scope": "api"}
        return compare.Fixed(server, conns, floor_request(server, store, body))  # type: ignore[arg-type]
    return (FloorCodes if grant == "code" else FloorRefresh)(server, conns, store)


async def check_floor(server: FloorServer, scenarios: list[str]) -> None:
    """One request per scenario, so a broken floor fails loudly before anything is timed."""
    for scenario in scenarios:
        phase = floor_phase(scenario, server, 1)
        await phase.prepare(2)
        conn = await Connection.open("127.0.0.1", server.port)
        try:
            data = phase.next(0)
            assert data is not None
            r = await conn.send_raw(data)
        finally:
            await conn.close()
        body = json.loads(r.body)
        assert r.status == 200, (server.label, scenario, r.status, r.body[:300])
        assert compare.jwt_header(body["access_token"]) == {"alg": "RS256", "typ": "at+jwt",
                                                            "kid": KID}, body  # fmt: skip
        if grant_of(scenario) != "cc":
            assert compare.jwt_header(body["id_token"])["alg"] == "RS256", body
            assert body["refresh_token"], body
            assert r.headers.get("cache-control") == "no-store", r.headers


@dataclass
class Runner:
    """One entry to measure: its label, kind, and how to make a phase for a scenario."""

    label: str
    kind: str  # "py" | "node" | "idp" | "oidc"
    server: Any
    scenarios: list[str]


async def run_all(args: argparse.Namespace, runners: list[Runner]) -> dict[tuple[str, str], Any]:
    results: dict[tuple[str, str], Any] = {}
    span = args.warmup + args.duration
    need: dict[tuple[str, str], int] = {}
    for runner in runners:
        for scenario in runner.scenarios:
            if grant_of(scenario) != "code":
                continue
            if runner.kind in ("idp", "oidc"):
                need[(scenario, runner.label)] = await compare.estimate_codes(
                    runner.server, args.connections, span
                )
            else:
                need[(scenario, runner.label)] = int(3000 * span)
    for n in range(args.rounds):
        for scenario in args.scenarios:
            for runner in runners:
                if scenario not in runner.scenarios:
                    continue
                if runner.server.proc.poll() is not None:
                    raise RuntimeError(f"{runner.label} died; see {runner.server.log_path}")
                if runner.kind in ("idp", "oidc"):
                    phase = compare.make_phase(REAL[scenario], runner.server, args.connections)
                else:
                    phase = floor_phase(scenario, runner.server, args.connections)
                key = (scenario, runner.label)
                await phase.prepare(need.get(key, 0))
                r = await compare.run_phase(phase, args.warmup, args.duration)
                results.setdefault(key, compare.Figures()).rounds.append(r)
                if key in need:  # the next round mints for this round's pace
                    need[key] = max(int(r.rps * span * 1.5) + 2 * args.connections, need[key])
                    if r.ran_out:
                        need[key] = int(need[key] * 1.5)
                log(
                    f"round {n + 1}/{args.rounds} {scenario:<15} {runner.label:<11}"
                    f"{r.rps:7.0f} req/s {r.server_cpu / max(r.requests, 1) * 1000:7.3f} ms CPU/req"
                    + (f"  {r.errors} errors: {r.first_error}" if r.errors else "")
                )
    return results


# --------------------------------------------------------------------------- report


def report(args: argparse.Namespace, runners: list[Runner], results: dict[tuple[str, str], Any]):
    print(f"\n== {args.connections} connections, {args.rounds} rounds x {args.duration:g} s "
          f"(+{args.warmup:g} s warm-up)")  # fmt: skip
    print(compare.table_head("scenario / server"))
    for scenario in args.scenarios:
        print(TITLES[scenario])
        for runner in runners:
            f = results.get((scenario, runner.label))
            if f is not None and f.rounds:
                print(compare.figures_row(runner.label, f))
        pairs = [("py-floor", "node-floor"), ("idp", "node")]
        for a, b in pairs:
            fa, fb = results.get((scenario, a)), results.get((scenario, b))
            if fa and fb and fa.rounds and fb.rounds:
                print(compare.ratios_row(f"{a}/{b}", fa, fb))


def overheads(args: argparse.Namespace, results: dict[tuple[str, str], Any], setup: str) -> None:
    """idp over the Python floor of its setup, node-oidc-provider over node's (--with-compare)."""
    ours, theirs = ", ".join(IDP_FLOOR[setup].values()), ", ".join(NODE_FLOOR_OF[setup].values())
    print(f"\n== over the floor (CPU ms/req, medians), compare.py's {setup} setup: idp against "
          f"the Python floor of its stores ({ours}), node-oidc-provider against node's "
          f"({theirs})")  # fmt: skip
    print(f"  {'scenario':<10}{'idp':>8}{'floor':>8}{'over':>8}{'idp/floor':>11}"
          f"{'node':>8}{'floor':>8}{'over':>8}{'node/floor':>12}{'idp/node':>10}"
          f"{'node/1.2':>10}")  # fmt: skip
    for scenario in REAL:
        if scenario not in args.scenarios:
            continue

        def cpu(s: str, label: str) -> float:
            f = results.get((s, label))
            return f.cpu_ms if f is not None and f.rounds else float("nan")

        idp, node = cpu(scenario, "idp"), cpu(scenario, "node")
        py_floor = cpu(IDP_FLOOR[setup][scenario], "py-floor")
        node_floor = cpu(NODE_FLOOR_OF[setup][scenario], "node-floor")
        print(
            f"  {scenario:<10}{idp:>8.3f}{py_floor:>8.3f}{idp - py_floor:>8.3f}"
            f"{compare.ratio(idp, py_floor):>11}{node:>8.3f}{node_floor:>8.3f}"
            f"{node - node_floor:>8.3f}{compare.ratio(node, node_floor):>12}"
            f"{compare.ratio(idp, node):>10}{node / 1.2:>10.3f}"
        )


def print_micro(py: dict[str, dict[str, float]], node: dict[str, dict[str, float]]) -> None:
    print("\n== RS256 signing, in-process, one thread (CPU ms per call)")
    for name, what in (("jwt", "JWT (pyjwt / jose CompactSign)"),
                       ("bare", "bare RSA-2048 PKCS#1 v1.5 sign")):  # fmt: skip
        p, n = py[name], node[name]
        print(f"  {what:<34} python {p['ms']:.3f} ({p['n']:.0f} calls)   node {n['ms']:.3f} "
              f"({n['n']:.0f} calls)   python/node {compare.ratio(p['ms'], n['ms'])}")  # fmt: skip


# --------------------------------------------------------------------------- main


def make_key(home: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = home / "key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def drop_prefixes(prefixes: list[str]) -> None:
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    for prefix in prefixes:
        batch = list(r.scan_iter(match=prefix + "*", count=1000))
        for i in range(0, len(batch), 500):
            r.delete(*batch[i : i + 500])


def measure(args: argparse.Namespace) -> int:
    compare.ensure_node()
    if not (HERE / "node" / "node_modules" / "jose").exists():
        raise SystemExit("benchmarks/node/node_modules/jose is missing (npm ci in benchmarks/node)")
    loadavg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    jose = json.loads((HERE / "node/node_modules/jose/package.json").read_text())["version"]
    node_version = subprocess.run(["node", "--version"], capture_output=True, text=True)
    import jwt
    import uvicorn

    print(f"python {sys.version.split()[0]}, uvicorn {uvicorn.__version__}, pyjwt "
          f"{jwt.__version__}; node {node_version.stdout.strip()}, jose {jose}")  # fmt: skip
    print(f"cpus: {os.cpu_count()}, load average: {loadavg}")
    started = time.monotonic()
    servers: list[Any] = []
    prefixes = [f"floor-py-{secrets.token_hex(4)}:", f"floor-node-{secrets.token_hex(4)}:"]
    services = compare.Services()
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        home = Path(tmp)
        key_file = make_key(home)
        env = {**os.environ, "KEY_FILE": str(key_file), "KID": KID, "CLIENT_ID": CLIENT_ID,
               "CLIENT_SECRET": SECRET, "REDIS_URL": REDIS_URL}  # fmt: skip
        if any("+postgres" in s for s in args.scenarios):  # a throwaway database, dropped at exit
            env["FLOOR_POSTGRES_URL"] = services.database().replace("+psycopg", "")
        if not args.no_micro:
            py = python_micro(key_file.read_bytes(), KID, args.micro_seconds)
            print_micro(py, node_micro(env, args.micro_seconds))
            sys.stdout.flush()
        try:
            runners = []
            for kind in ("py", "node"):
                floor = start_floor(kind, home, env, prefixes[kind == "node"])
                servers.append(floor)
                mine = [
                    s for s in args.scenarios
                    if not (kind == "node" and any(v in s for v in PYTHON_ONLY))
                ]  # fmt: skip
                asyncio.run(check_floor(floor, mine))
                log(f"{floor.label} ready on :{floor.port} (pid {floor.proc.pid})")
                runners.append(Runner(floor.label, kind, floor, mine))
            if args.with_compare:
                for peer in (compare.Peer("idp", "idp", compare.REPO_IDP),
                             compare.Peer("node", "node")):  # fmt: skip
                    peer_home = home / peer.name
                    peer_home.mkdir()
                    start = compare.start_idp if peer.kind == "idp" else compare.start_node
                    server = start(peer, args.compare_setup, 1, services, peer_home)
                    servers.append(server)
                    compare.wait_ready(server)
                    compare.login(server)
                    asyncio.run(compare.check(server))
                    log(f"{peer.name} ready on :{server.port} (pid {server.proc.pid})")
                    mine = [s for s in args.scenarios if s in REAL]
                    runners.append(Runner(peer.name, "idp" if peer.kind == "idp" else "oidc",
                                          server, mine))  # fmt: skip
            results = run(run_all(args, runners), args.no_uvloop)
            report(args, runners, results)
            if args.with_compare:
                overheads(args, results, args.compare_setup)
        finally:
            for server in servers:
                server.stop()
            services.cleanup()
            with contextlib.suppress(Exception):
                drop_prefixes(prefixes)
    print(f"\n(total {time.monotonic() - started:.0f} s; load average now "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})")  # fmt: skip
    return 0


def run(coro: Any, no_uvloop: bool) -> Any:
    if not no_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            return uvloop.run(coro)
    return asyncio.run(coro)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    server = sub.add_parser("serve", help="(internal) run the Python floor server")
    server.add_argument("--port", type=int, required=True)
    server.add_argument("--key", required=True)
    server.add_argument("--kid", required=True)
    server.add_argument("--home", required=True)
    server.add_argument("--prefix", required=True)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)}")  # fmt: skip
    parser.add_argument("--no-sqlite", action="store_true", help="leave out the +sqlite variants")
    parser.add_argument("--no-redis", action="store_true", help="leave out the +redis variants")
    parser.add_argument("--no-postgres", action="store_true",
                        help="leave out the +postgres variants")  # fmt: skip
    parser.add_argument("--with-compare", action="store_true",
                        help="also run idp and node-oidc-provider (compare.py's setup "
                        "--compare-setup) on cc, code, refresh, alternating with the "
                        "floors")  # fmt: skip
    parser.add_argument("--compare-setup", choices=sorted(IDP_FLOOR), default="embedded",
                        help="compare.py's setup for --with-compare")  # fmt: skip
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=2.0, help="timed seconds per phase")
    parser.add_argument("--warmup", type=float, default=0.5, help="untimed seconds per phase")
    parser.add_argument("--micro-seconds", type=float, default=1.0,
                        help="CPU seconds per micro figure")  # fmt: skip
    parser.add_argument("--no-micro", action="store_true", help="skip the signing micro figure")
    parser.add_argument("--no-uvloop", action="store_true", help="plain asyncio event loop")
    args = parser.parse_args()
    if args.command == "serve":
        return serve(args)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {sorted(unknown)}")
    args.scenarios = [
        s
        for s in args.scenarios
        if not (args.no_sqlite and "+sqlite" in s)
        and not (args.no_redis and "+redis" in s)
        and not (args.no_postgres and "+postgres" in s)
    ]
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
