"""Real processes for the scale-out tests: `idp serve` instances and the standalone BankID
simulator as subprocesses, and private Redis and PostgreSQL servers a test may stop and start
(never the machine's shared ones). Every wait is bounded."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from tests.services import require_service

IDP = str(Path(sys.executable).parent / "idp")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], T], timeout: float, what: str, step: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what}")
        time.sleep(step)


class Process:
    """A subprocess whose stdout and stderr go to a log file."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None):
        self.name, self.argv, self.log, self.env = name, argv, log, env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=self.log.parent
            )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def signal(self, sig: int) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"{self.name} did not stop within {timeout} s") from None

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait(10)

    def stop(self, timeout: float = 30) -> int | None:
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class Simulator:
    """`idp simulator`: one BankID for every instance."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [IDP, "simulator", "--port", str(self.port)]
        self.process = Process("simulator", argv, directory / "simulator.log")

    def start(self) -> None:
        self.process.start()
        wait_until(lambda: self._up() or not self.process.running, 30, "the simulator")
        assert self.process.running, self.process.text()

    def _up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def app(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The person's BankID app (the simulator's user app API)."""
        r = httpx.post(f"{self.url}/app/{path}", json=body, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()


# ---------------------------------------------------------------------- private services


class PrivateRedis:
    """A redis-server of our own on a free port, without persistence."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(binary):
            require_service("redis-server", "the binary is not installed", where=binary)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        argv = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ]
        self.process = Process("redis", argv, directory / "redis.log")

    def start(self) -> None:
        self.process.start()
        wait_until(lambda: self.ping() or not self.process.running, 20, "Redis to start")
        assert self.process.running, self.process.text()

    def ping(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), timeout=1) as s,
        ):
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False

    def stop(self) -> None:
        self.process.stop(20)


class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb, pg_ctl) in a temporary directory on a free
    port; run as the postgres user when we are root, as PostgreSQL insists."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        pg_ctl = found[-1] if found else shutil.which("pg_ctl")
        if not pg_ctl:
            require_service("PostgreSQL server binaries", "initdb and pg_ctl are not installed")
        self.bin = Path(pg_ctl).parent
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="idp-pg-"))
        self.data = self.dir / "data"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [*self.prefix, *argv], capture_output=True, text=True, timeout=timeout, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"),
            "-o", options, "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        from sqlalchemy import create_engine, text

        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url(name)

    def cleanup(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------- the fleet

RP_SECRET = "scaleout-rp-secret-0123456789"
CS_SECRET = "scaleout-cs-secret-0123456789"
RP_CALLBACK = "http://127.0.0.1:9/cb"  # never called: the test reads the redirect


def fleet_config(
    *,
    secret_key: str,
    issuer: str,
    database_url: str,
    redis_url: str,
    prefix: str,
    simulator_url: str,
) -> dict[str, Any]:
    """One configuration for every instance: shared stores, a shared secret_key, the shared
    simulator, and lifetimes short enough that everything expires within a test."""
    return {
        "issuer": issuer,
        "database_url": database_url,
        "redis_url": redis_url,
        "redis_key_prefix": prefix,
        "secret_key": secret_key,
        "trusted_proxies": ["127.0.0.1/32"],
        "bankid": {
            "environment": "simulator",
            "base_url": f"{simulator_url}/rp/v6.0/",
            "timeout_seconds": 2,
        },
        "session": {"lifetime_seconds": 20, "idle_timeout_seconds": 20},
        "tokens": {
            "authorization_code_ttl_seconds": 10,
            "access_token_ttl_seconds": 10,
            "id_token_ttl_seconds": 60,
            "refresh_token_ttl_seconds": 60,
            "login_transaction_ttl_seconds": 20,
        },
        "keys": {"reload_seconds": 1, "activation_delay_seconds": 0, "retired_grace_seconds": 60},
        # Short like every lifetime here, so that everything the fleet writes expires in a test.
        "limits": {"per_person": {"count": 5, "window_seconds": 20}},
        "ciba": {
            "expires_in_seconds": 20,
            "max_expires_in_seconds": 20,
            "interval_seconds": 1,
            "remember_seconds": 5,
        },
        "clients": [
            {
                "client_id": "rp",
                "client_secret": RP_SECRET,
                "redirect_uris": [RP_CALLBACK],
                "post_logout_redirect_uris": [RP_CALLBACK],
                "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                "scope": "openid profile",
            },
            {
                "client_id": "cs",
                "client_secret": CS_SECRET,
                "grant_types": ["urn:openid:params:grant-type:ciba"],
                "backchannel_token_delivery_mode": "poll",
                "scope": "openid profile",
            },
        ],
    }


class Instance:
    def __init__(self, name: str, config: Path, directory: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [IDP, "serve", "--config", str(config), "--port", str(self.port)]
        env = {k: v for k, v in os.environ.items() if k != "IDP_CONFIG"}
        self.process = Process(f"idp-{name}", argv, directory / f"idp-{name}.log", env)

    def start(self) -> None:
        self.process.start()

    def wait_healthy(self, timeout: float = 30) -> None:
        wait_until(
            lambda: healthy(self.url) or not self.process.running, timeout, f"{self.name} to start"
        )
        assert self.process.running, self.process.text()[-3000:]


class Fleet:
    """Instances A and B of `idp serve` on one configuration file."""

    def __init__(self, directory: Path, config: dict[str, Any]) -> None:
        self.directory = directory
        self.config = config
        self.path = directory / "idp.yaml"
        self.path.write_text(yaml.safe_dump(config))
        self.prefix = config["redis_key_prefix"]
        self.issuer = config["issuer"]
        self.instances = {name: Instance(name, self.path, directory) for name in ("a", "b")}

    def __getitem__(self, name: str) -> Instance:
        return self.instances[name]

    def migrate(self) -> None:
        result = subprocess.run(
            [IDP, "db", "upgrade", "--config", str(self.path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def start(self, *names: str) -> None:
        names = names or tuple(self.instances)
        for name in names:
            self.instances[name].start()
        for name in names:
            self.instances[name].wait_healthy()

    def ensure_running(self) -> None:
        self.start(*[n for n, i in self.instances.items() if not i.process.running])

    def stop(self) -> None:
        for instance in self.instances.values():
            if instance.process.running:
                instance.process.stop()

    def url(self, name: str, path: str = "") -> str:
        """`path` may be a path or a URL on the issuer (as in redirects): sent to `name`."""
        if path.startswith(self.issuer):
            path = path[len(self.issuer) :]
        return self.instances[name].url + path

    def logs(self) -> dict[str, str]:
        return {f"idp-{n}.log": i.process.text() for n, i in self.instances.items()}


def migrate(database_url: str, directory: Path) -> None:
    """`idp db upgrade` on a database, as an operator runs it once per release."""
    path = directory / "migrate.yaml"
    path.write_text(yaml.safe_dump({"issuer": "http://127.0.0.1", "database_url": database_url}))
    result = subprocess.run(
        [IDP, "db", "upgrade", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def check_logs(fleet: Fleet, log_check: Any) -> None:
    """The instances' own log files go through the session's log check too."""
    for name, text in fleet.logs().items():
        for line in text.splitlines():
            log_check.check_line(name, line)
