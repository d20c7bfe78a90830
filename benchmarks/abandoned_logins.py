"""Abandoned BankID logins: what 5,000 of them cost one idp process on Redis (issue #14).

Starts the BankID simulator out of process (orders stay pending: nobody scans) and one
`idp serve` on Redis (127.0.0.1:6379, a key prefix of its own) and a throwaway PostgreSQL
database, with 127.0.0.1 as a trusted proxy and `limits.pending_logins_total` set low enough
(``--cap``, 1,000) that the cap shows. Then ``--logins`` emulated browsers, each from an
address of its own among ``--addresses`` (X-Forwarded-For), start a BankID QR login and walk
away: GET /authorize, the start page, POST /bankid/start, and never a poll. It prints:

* the answers to each step, by status (the start: 303 an order, 429 refused by a cap);
* the BankID orders the simulator saw (its ``GET /stats``): at most the cap;
* Redis memory before and after (INFO memory ``used_memory``), and the bytes under the
  prefix (MEMORY USAGE summed over its keys), per abandoned login;
* idp's resident memory (VmRSS) before and after;
* idp's refusals by limit (``idp_rate_limited_total`` on /metrics).

Everything it started is stopped and removed at the end (processes, the database, the
prefix's Redis keys). It takes a minute or two:

    .venv/bin/python benchmarks/abandoned_logins.py --logins 5000 --cap 1000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import hashlib
import json
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).parent))
from loadgen import Connection
from pending_logins import (
    CALLBACK,
    IDP,
    QR,
    SIMULATOR,
    UA,
    free_port,
    local,
    start_form,
    wait_for_port,
)

TIMEOUT = 15.0


class Servers:
    def __init__(self, args: argparse.Namespace, home: Path) -> None:
        import redis

        self.args, self.home = args, home
        self.sim_port, self.idp_port = free_port(), free_port()
        self.prefix = f"bench-abandoned-{secrets.token_hex(4)}:"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.database: str | None = None
        self.idp: subprocess.Popen[bytes] | None = None
        self.redis = redis.Redis.from_url(args.redis_url)

    def _spawn(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k != "IDP_CONFIG"}
        with (self.home / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.home, env=env
            )
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        from sqlalchemy import create_engine, text

        a = self.args
        sim = self._spawn(
            [sys.executable, "-c", SIMULATOR, str(self.sim_port), "3600"], "simulator"
        )
        name = f"idp_bench_{secrets.token_hex(4)}"
        admin = create_engine(a.postgres + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.database = name
        config = {
            "issuer": f"http://127.0.0.1:{self.idp_port}",
            "database_url": f"{a.postgres}/{name}",
            "redis_url": a.redis_url,
            "redis_key_prefix": self.prefix,
            "secret_key": secrets.token_urlsafe(32),
            "trusted_proxies": ["127.0.0.1/32"],
            "bankid": {
                "environment": "simulator",
                "base_url": f"http://127.0.0.1:{self.sim_port}/rp/v6.0/",
            },
            "limits": {"pending_logins_total": a.cap},
            "clients": [
                {
                    "client_id": "bench",
                    "redirect_uris": [CALLBACK],
                    "token_endpoint_auth_method": "none",
                    "scope": "openid",
                }
            ],
        }
        path = self.home / "idp.yaml"
        path.write_text(json.dumps(config, indent=1))  # JSON is YAML
        env = {k: v for k, v in os.environ.items() if k != "IDP_CONFIG"}
        subprocess.run(
            [IDP, "db", "upgrade", "--config", str(path)],
            cwd=self.home,
            env=env,
            check=True,
            capture_output=True,
            timeout=180,
        )
        argv = [IDP, "serve", "--config", str(path), "--port", str(self.idp_port)]
        self.idp = self._spawn([*argv, "--log-level", "warning"], "idp")
        wait_for_port(self.sim_port, sim, "the simulator", self.home / "simulator.log")
        wait_for_port(self.idp_port, self.idp, "idp", self.home / "idp.log")

    def used_memory(self) -> int:
        return int(self.redis.info("memory")["used_memory"])

    def prefix_bytes(self) -> tuple[int, int]:
        """(keys, bytes) under the prefix (MEMORY USAGE of each key)."""
        keys = list(self.redis.scan_iter(match=self.prefix + "*", count=1000))
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.memory_usage(key, samples=0)
        return len(keys), sum(v or 0 for v in pipe.execute())

    def rss(self) -> int:
        assert self.idp is not None
        with open(f"/proc/{self.idp.pid}/status") as f:
            m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
        return int(m.group(1)) * 1024 if m else 0

    async def get(self, port: int, path: str) -> bytes:
        conn = await Connection.open("127.0.0.1", port)
        try:
            r = await conn.request("GET", path)
        finally:
            await conn.close()
        return r.body

    async def orders(self) -> int:
        stats = json.loads(await self.get(self.sim_port, "/stats"))
        return int(stats["calls"].get("auth", 0))

    async def refusals(self) -> dict[str, float]:
        text = (await self.get(self.idp_port, "/metrics")).decode()
        found = re.findall(r'^idp_rate_limited_total\{limit="(\w+)"\} (\S+)$', text, re.M)
        return {limit: float(n) for limit, n in found if float(n)}

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        keys = list(self.redis.scan_iter(match=self.prefix + "*", count=1000))
        for i in range(0, len(keys), 500):
            self.redis.delete(*keys[i : i + 500])
        self.redis.close()
        if self.database is not None:
            from sqlalchemy import create_engine, text

            admin = create_engine(self.args.postgres + "/postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            admin.dispose()


async def abandon(port: int, address: str, answers: collections.Counter[str]) -> None:
    """One login from `address`, up to its BankID start; then the browser goes away."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = urlencode(
        {
            "response_type": "code",
            "client_id": "bench",
            "redirect_uri": CALLBACK,
            "scope": "openid",
            "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
            "acr_values": QR,
        }
    )
    headers = {"User-Agent": UA, "X-Forwarded-For": address}
    conn = await Connection.open("127.0.0.1", port)
    try:
        async with asyncio.timeout(TIMEOUT):
            r = await conn.request("GET", "/authorize?" + query, headers)
            answers[f"authorize {r.status}"] += 1
            if r.status != 303:
                return
            cookies = "; ".join(c.split(";", 1)[0] for c in r.cookies)
            if cookies:
                headers["Cookie"] = cookies
            page = await conn.request("GET", local(r.headers["location"]), headers)
            answers[f"start page {page.status}"] += 1
            if page.status != 200:
                return
            body = urlencode(start_form(page.body.decode())).encode()
            form = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
            r = await conn.request("POST", "/bankid/start", form, body)
            answers[f"start {r.status}"] += 1
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
        answers[f"no answer {type(exc).__name__}"] += 1
    finally:
        await conn.close()


async def run(servers: Servers, args: argparse.Namespace) -> None:
    answers: collections.Counter[str] = collections.Counter()
    addresses = [f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}" for i in range(args.addresses)]
    gate = asyncio.Semaphore(args.concurrency)

    async def one(i: int) -> None:
        async with gate:
            await abandon(servers.idp_port, addresses[i % len(addresses)], answers)

    orders0, used0, (keys0, bytes0), rss0 = (
        await servers.orders(),
        servers.used_memory(),
        servers.prefix_bytes(),
        servers.rss(),
    )
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(args.logins)))
    elapsed = time.perf_counter() - t0
    orders1, used1, (keys1, bytes1), rss1 = (
        await servers.orders(),
        servers.used_memory(),
        servers.prefix_bytes(),
        servers.rss(),
    )
    refusals = await servers.refusals()
    mib = 1024 * 1024
    print(
        f"{args.logins} abandoned logins from {args.addresses} addresses in {elapsed:.1f} s "
        f"({args.concurrency} at a time); pending_logins_total {args.cap}\n"
        f"  answers           {', '.join(f'{k} x{v}' for k, v in sorted(answers.items()))}\n"
        f"  BankID orders     {orders1 - orders0} (the simulator's auth calls)\n"
        f"  refused by limit  {refusals or 'none'} (idp_rate_limited_total)\n"
        f"  Redis used_memory {used0 / mib:.2f} MiB -> {used1 / mib:.2f} MiB "
        f"(+{(used1 - used0) / mib:.2f} MiB)\n"
        f"  Redis prefix      {keys0} keys {bytes0 / 1024:.0f} KiB -> {keys1} keys "
        f"{bytes1 / 1024:.0f} KiB; {(bytes1 - bytes0) / args.logins:.0f} bytes per abandoned "
        f"login, {(bytes1 - bytes0) / max(orders1 - orders0, 1):.0f} per order started\n"
        f"  idp RSS           {rss0 / mib:.1f} MiB -> {rss1 / mib:.1f} MiB",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=5000)
    parser.add_argument("--addresses", type=int, default=1000, help="distinct client addresses")
    parser.add_argument("--cap", type=int, default=1000, help="limits.pending_logins_total")
    parser.add_argument("--concurrency", type=int, default=50, help="logins at a time")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--keep", action="store_true", help="keep the logs' directory")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    home = Path(tempfile.mkdtemp(prefix="idp-abandoned-"))
    servers = Servers(args, home)
    try:
        servers.start()
        asyncio.run(run(servers, args))
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        servers.stop()
        if args.keep:
            print(f"logs in {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
