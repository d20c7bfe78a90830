"""`idp serve --workers N`: N worker processes on one port, sharing logins through Redis."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from idp.cli import EXIT_CONFIG, main
from tests.scaleout.processes import PrivateRedis, free_port

IDP = str(Path(sys.executable).parent / "idp")
PID = re.compile(r'^idp_process_info\{pid="(\d+)"\} 1\.0$', re.MULTILINE)


async def pids_of_a_burst(port: int, n: int) -> set[str]:
    """The worker pids that answer `n` connections opened together, one request on each."""
    streams = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(n)))
    request = f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    for _, writer in streams:
        writer.write(request.encode())
    answers = await asyncio.gather(*(reader.read() for reader, _ in streams))
    for _, writer in streams:
        writer.close()
    return {pid for answer in answers for pid in PID.findall(answer.decode())}


def write_config(path: Path, port: int, database: Path, redis_url: str | None) -> Path:
    config = {
        "issuer": f"http://127.0.0.1:{port}",
        "database_url": f"sqlite:///{database}",
        "secret_key": "workers-test-secret-key-0123456789abcdef",
        "bankid": {"environment": "simulator"},
    }
    if redis_url:
        config |= {"redis_url": redis_url, "redis_key_prefix": "idp-workers:"}
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def test_more_than_one_worker_needs_redis(tmp_path, capsys):
    config = write_config(tmp_path / "idp.yaml", 8000, tmp_path / "idp.db", None)
    assert main(["serve", "--workers", "2", "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--workers 2 needs redis_url" in err
    assert not (tmp_path / "idp.db").exists()  # refused before anything was touched


@pytest.mark.redis
def test_two_workers_answer_on_one_port_and_stop_on_sigterm(tmp_path, log_check):
    redis = PrivateRedis(tmp_path)
    redis.start()
    port = free_port()
    config = write_config(tmp_path / "idp.yaml", port, tmp_path / "idp.db", redis.url)
    env = {k: v for k, v in os.environ.items() if k != "IDP_CONFIG"}
    upgrade = [IDP, "db", "upgrade", "--config", str(config)]
    subprocess.run(upgrade, env=env, check=True, capture_output=True, timeout=120)
    log = (tmp_path / "serve.log").open("w")
    argv = [IDP, "serve", "--config", str(config), "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    pids: set[str] = set()
    try:
        # Each new connection is accepted by whichever worker gets to it first: ask on new
        # connections until both have answered (bounded, should a worker never come up).
        deadline = time.monotonic() + 120
        while len(pids) < 2 and time.monotonic() < deadline and proc.poll() is None:
            try:
                with httpx.Client(timeout=5) as http:  # a new connection each time
                    metrics = http.get(f"http://127.0.0.1:{port}/metrics")
                    doc = http.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration")
            except httpx.HTTPError:  # not listening yet
                time.sleep(0.1)
                continue
            assert metrics.status_code == 200 and doc.status_code == 200
            assert doc.json()["issuer"] == f"http://127.0.0.1:{port}"
            pids.update(PID.findall(metrics.text))
        assert len(pids) == 2, (tmp_path / "serve.log").read_text()
        assert str(proc.pid) not in pids  # the parent only supervises
        # A burst of connections opened at once (a client's keep-alive pool) is spread over
        # the workers: on one shared listening socket, the first worker awake took them all.
        burst = asyncio.run(pids_of_a_burst(port, 16))
        assert burst == pids, burst
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
            redis.stop()
    text = (tmp_path / "serve.log").read_text()
    for line in text.splitlines():
        log_check.check_line("idp serve --workers 2", line)
    assert proc.returncode == 0, text
    assert "Traceback" not in text
    assert '"logger": "idp.access"' in text and '"logger": "uvicorn.access"' not in text
    for pid in pids:
        assert f"Finished server process [{pid}]" in text
