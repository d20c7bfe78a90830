"""CPU time per request for the two documents every relying party fetches: discovery and JWKS.

Starts `idp serve` on the embedded default (one process, in a temporary folder), sends N
sequential GETs to each document over one keep-alive connection, and reads the server
process's own CPU time (user + system, /proc/PID/stat) before and after each batch, so the
figure does not depend on how busy the shared machine is. Several rounds alternate the two
documents; the median is printed.

    .venv/bin/python benchmarks/document_cpu.py --requests 2000 --rounds 3
    PYTHONPATH=/path/to/other/checkout .venv/bin/python benchmarks/document_cpu.py   # a peer
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "IDP_CONFIG"}
    with tempfile.TemporaryDirectory() as home:
        proc = subprocess.Popen(
            [sys.executable, "-m", "idp", "serve", "--port", str(port), "--log-level", "warning"],
            cwd=home,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            figures: dict[str, list[float]] = {"discovery": [], "jwks": []}
            paths = {"discovery": "/.well-known/openid-configuration", "jwks": "/jwks"}
            with httpx.Client(base_url=base, timeout=10) as http:
                for path in paths.values():  # warm up
                    for _ in range(200):
                        http.get(path).raise_for_status()
                for _ in range(args.rounds):
                    for name, path in paths.items():
                        before = cpu_seconds(proc.pid)
                        for _ in range(args.requests):
                            http.get(path)
                        spent = cpu_seconds(proc.pid) - before
                        figures[name].append(spent / args.requests * 1000)
            for name, values in figures.items():
                rounds = " ".join(f"{v:.3f}" for v in values)
                print(
                    f"{name:<10} {statistics.median(values):.3f} ms CPU/request "
                    f"(median of {args.rounds}; rounds: {rounds})"
                )
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
