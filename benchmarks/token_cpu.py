"""CPU time per token-endpoint request (client_credentials, client_secret_basic, JWT access
token) and per discovery request, read from the server process's /proc/PID/stat.

Starts `idp serve --config` on a fresh SQLite file with one client in a temporary folder, then
sends N sequential requests per round over one keep-alive connection; prints the median of the
rounds. Run it against two checkouts alternately (A B A B) to compare:

    .venv/bin/python benchmarks/token_cpu.py --requests 500 --rounds 3
    PYTHONPATH=/path/to/other/checkout .venv/bin/python benchmarks/token_cpu.py
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from document_cpu import cpu_seconds, free_port

SECRET = "benchmark-client-secret-0123456789"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "IDP_CONFIG"}
    with tempfile.TemporaryDirectory() as home:
        config = Path(home) / "idp.yaml"
        config.write_text(
            f"issuer: {base}\n"
            f"database_url: sqlite:///{home}/idp.db\n"
            "secret_key: benchmark-secret-key-0123456789abcdef\n"
            "clients:\n"
            "  - client_id: bench\n"
            f"    client_secret: {SECRET}\n"
            "    grant_types: [client_credentials]\n"
            "    scope: openid\n"
        )
        idp = [sys.executable, "-m", "idp"]
        subprocess.run([*idp, "db", "upgrade", "--config", str(config)], cwd=home, env=env,
                       check=True, capture_output=True)  # fmt: skip
        proc = subprocess.Popen(
            [*idp, "serve", "--config", str(config), "--port", str(port), "--log-level",
             "warning"],
            cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            calls = {
                "token": lambda h: h.post(
                    "/token",
                    data={"grant_type": "client_credentials", "scope": "openid"},
                    auth=("bench", SECRET),
                ),
                "discovery": lambda h: h.get("/.well-known/openid-configuration"),
            }
            figures: dict[str, list[float]] = {name: [] for name in calls}
            with httpx.Client(base_url=base, timeout=10) as http:
                for call in calls.values():  # warm up
                    for _ in range(50):
                        call(http).raise_for_status()
                for _ in range(args.rounds):
                    for name, call in calls.items():
                        before = cpu_seconds(proc.pid)
                        for _ in range(args.requests):
                            call(http)
                        spent = cpu_seconds(proc.pid) - before
                        figures[name].append(spent / args.requests * 1000)
            for name, values in figures.items():
                rounds = " ".join(f"{v:.2f}" for v in values)
                print(f"{name:<10} {statistics.median(values):.2f} ms CPU/request ({rounds})")
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
