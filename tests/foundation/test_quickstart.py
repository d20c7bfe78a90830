"""The README's first command, as a person runs it: `idp serve` on the embedded default."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

IDP = str(Path(sys.executable).parent / "idp")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cwd, port, *args):
    env = {k: v for k, v in os.environ.items() if k != "IDP_CONFIG"}
    proc = subprocess.Popen(
        [IDP, "serve", "--port", str(port), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise AssertionError(proc.stdout.read()) from None
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not start")


def stop(proc):
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=20)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def test_embedded_default_serves_discovery_and_keeps_keys_across_restart(tmp_path):
    port = free_port()
    proc = start(tmp_path, port)
    try:
        base = f"http://127.0.0.1:{port}"
        doc = httpx.get(f"{base}/.well-known/openid-configuration").json()
        assert doc["issuer"] == base
        assert doc["jwks_uri"] == f"{base}/jwks"
        kids = {k["kid"] for k in httpx.get(doc["jwks_uri"]).json()["keys"]}
        assert len(kids) == 3  # RS256, ES256 (signing) and RSA-OAEP (request objects)
    finally:
        out = stop(proc)
    assert f"listening on http://127.0.0.1:{port}" in out
    # A newcomer's terminal gets plain lines, not JSON and not migration chatter.
    assert "Application startup complete." in out and '"level":' not in out
    assert "alembic" not in out
    assert (tmp_path / "data" / "idp.db").exists()

    # `idp keys rotate` on the same data, then a restart: old and new keys are published.
    env = {k: v for k, v in os.environ.items() if k != "IDP_CONFIG"}
    rotated = subprocess.run(
        [IDP, "keys", "rotate"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    assert rotated.stdout.count("new key") == 3
    listing = subprocess.run(
        [IDP, "keys", "list"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "pending" in listing and "PRIVATE" not in listing
    proc = start(tmp_path, port)
    try:
        after = {k["kid"] for k in httpx.get(f"http://127.0.0.1:{port}/jwks").json()["keys"]}
    finally:
        stop(proc)
    assert kids < after and len(after) == 6


@pytest.mark.parametrize(
    "cmd",
    [
        ["--help"],
        ["serve", "--help"],
        ["check-config", "--help"],
        ["db", "upgrade", "--help"],
        ["keys", "rotate", "--help"],
    ],
)
def test_every_command_has_help(cmd):
    out = subprocess.run([IDP, *cmd], capture_output=True, text=True)
    assert out.returncode == 0 and "usage: idp" in out.stdout
