"""Reloading the clients and scopes without a restart: in-process through app.state.reload, and
in a real `idp serve` process through SIGHUP. A valid new file replaces the clients wherever
they are used; an invalid one is refused with check-config's messages and the old one stays."""

import ast
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from idp.app import create_app
from idp.clock import FixedClock
from idp.config import RELOADABLE, ConfigError, Registry, Settings, load_settings, parse_settings
from idp.store.db import make_engine
from idp.store.memory import MemoryTTLStore
from idp.store.migrate import upgrade
from tests.asgi import app_client

pytestmark = pytest.mark.anyio

IDP = str(Path(sys.executable).parent / "idp")
SECRET_A = "client-a-secret-0123456789"
SECRET_B = "client-b-secret-0123456789"


def client(client_id, secret, scope="openid"):
    return {
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uris": [f"https://{client_id}.example/cb"],
        "grant_types": ["authorization_code", "client_credentials"],
        "scope": scope,
    }


def write(path, issuer, database_url, clients, scopes=None):
    doc = {"issuer": issuer, "database_url": database_url, "clients": clients}
    if scopes:
        doc["scopes"] = scopes
    path.write_text(yaml.safe_dump(doc))


def authorize_params(client_id):
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": f"https://{client_id}.example/cb",
        "scope": "openid",
        "state": "s",
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
    }


async def client_credentials(http, client_id, secret, scope="openid"):
    return await http.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client_id, secret),
    )


@pytest.fixture
def config_file(tmp_path, sqlite_url):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    engine.dispose()
    path = tmp_path / "idp.yaml"
    write(path, "https://id.example.com", sqlite_url, [client("a", SECRET_A)])
    return path


async def test_a_valid_file_replaces_the_clients_and_scopes_everywhere(
    config_file, sqlite_url, caplog
):
    clock = FixedClock()
    app = create_app(load_settings(config_file), clock=clock, store=MemoryTTLStore(clock))
    caplog.set_level(logging.INFO, logger="idp")
    async with app_client(app, base_url="https://id.example.com") as http:
        assert (await http.get("/authorize", params=authorize_params("a"))).status_code == 303
        assert (await client_credentials(http, "a", SECRET_A)).status_code == 200
        unknown = await http.get("/authorize", params=authorize_params("b"))
        assert unknown.status_code == 400

        write(
            config_file,
            "https://id.example.com",
            sqlite_url,
            [client("b", SECRET_B, "openid employee")],
            scopes={"employee": ["name"]},
        )
        assert app.state.reload() is True

        assert (await http.get("/authorize", params=authorize_params("b"))).status_code == 303
        gone = await http.get("/authorize", params=authorize_params("a"))
        assert gone.status_code == 400 and "invalid_client" in gone.text
        assert (await client_credentials(http, "a", SECRET_A)).status_code == 401
        granted = await client_credentials(http, "b", SECRET_B, "openid employee")
        assert granted.status_code == 200 and granted.json()["scope"] == "openid employee"
        doc = (await http.get("/.well-known/openid-configuration")).json()
        assert "employee" in doc["scopes_supported"]
        assert doc["grant_types_supported"].count("client_credentials") == 1
    assert "added b, removed a, changed none; scopes changed" in caplog.text


async def test_an_invalid_file_is_refused_with_check_configs_messages_and_the_old_one_stays(
    config_file, sqlite_url, caplog
):
    app = create_app(load_settings(config_file), store=MemoryTTLStore())
    caplog.set_level(logging.INFO, logger="idp")
    bad = [client("a", SECRET_A), {**client("b", "short"), "redirect_uris": ["http://x/cb"]}]
    write(config_file, "https://id.example.com", sqlite_url, bad)
    with pytest.raises(ConfigError) as refused:  # what `idp check-config` prints
        load_settings(config_file)
    async with app_client(app, base_url="https://id.example.com") as http:
        assert app.state.reload() is False
        assert (await client_credentials(http, "a", SECRET_A)).status_code == 200
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert logged[:-1] == refused.value.render().splitlines()
    assert any("clients[1].client_secret: expected a string of at least 16" in m for m in logged)
    assert logged[-1].startswith("configuration reload refused")
    assert SECRET_A not in caplog.text


async def test_settings_that_need_a_restart_are_named_and_kept(config_file, sqlite_url, caplog):
    app = create_app(load_settings(config_file), store=MemoryTTLStore())
    caplog.set_level(logging.INFO, logger="idp")
    write(config_file, "https://elsewhere.example.com", sqlite_url, [client("a", SECRET_A)])
    assert app.state.reload() is True
    assert app.state.runtime.settings.issuer == "https://id.example.com"
    assert "issuer changed in" in caplog.text and "takes a restart" in caplog.text


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_sighup_reloads_a_running_process(config_file, sqlite_url, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    write(config_file, base, sqlite_url, [client("a", SECRET_A)])
    log_path = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if k != "IDP_CONFIG"}
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            [IDP, "serve", "--config", str(config_file), "--port", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
    http = httpx.Client(base_url=base, timeout=5)
    try:

        def up():
            try:
                return http.get("/healthz").status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None

        assert wait_for(up) and proc.poll() is None, log_path.read_text()

        def grant(client_id, secret):
            return http.post(
                "/token",
                data={"grant_type": "client_credentials", "scope": "openid"},
                auth=(client_id, secret),
            ).status_code

        assert grant("a", SECRET_A) == 200 and grant("b", SECRET_B) == 401
        write(config_file, base, sqlite_url, [client("b", SECRET_B)])
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: grant("b", SECRET_B) == 200), log_path.read_text()
        assert grant("a", SECRET_A) == 401

        write(config_file, base, sqlite_url, [{**client("c", "short")}])
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "configuration reload refused" in log_path.read_text())
        assert grant("b", SECRET_B) == 200 and proc.poll() is None
    finally:
        http.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    messages = [entry["message"] for entry in lines]
    assert any(m.startswith("configuration reloaded from") for m in messages)
    assert any("clients[0].client_secret: expected a string" in m for m in messages)
    assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled


def settings_with(clients, scopes=None, **more):
    raw = {"issuer": "https://id.example.com", "clients": clients, **more}
    if scopes is not None:
        raw["scopes"] = scopes
    return parse_settings(raw, source="test.yaml", environ={})


def test_the_registry_replaces_clients_and_scopes_and_names_the_rest():
    started = settings_with([client("a", SECRET_A), client("b", SECRET_B)])
    registry = Registry(started)
    before = registry.current
    assert registry.client("a") is started.client("a") and registry.client("c") is None

    newer = settings_with(
        [client("b", SECRET_B, "openid employee"), client("c", SECRET_A)],
        scopes={"employee": ["name"]},
        issuer="https://elsewhere.example.com",
        claims_parameter_scopes=["profile", "employee"],
    )
    result = registry.replace(newer)

    assert (result.added, result.removed, result.changed) == (("c",), ("a",), ("b",))
    assert result.scopes_changed and result.needs_restart == ("issuer",)
    now = registry.current
    assert now is not before and before.client("a") is not None  # a reader's view stays whole
    assert registry.client("a") is None and registry.client("c") is not None
    assert now.scopes["employee"] == ("name",)
    assert now.claims_parameter_scopes == {"profile", "employee"}
    assert started.client("a") is not None  # Settings never change


def test_the_same_file_again_changes_nothing():
    registry = Registry(settings_with([client("a", SECRET_A)]))
    result = registry.replace(settings_with([client("a", SECRET_A)]))
    assert result.added == result.removed == result.changed == result.needs_restart == ()
    assert not result.scopes_changed


def test_running_code_reads_what_reloads_only_from_the_registry():
    """Components hold the start-up `Settings` too; clients and scopes read from there would
    miss a reload."""
    root = Path(__file__).resolve().parents[2] / "idp"
    files = [*root.glob("oidc/**/*.py"), *root.glob("ciba/*.py"), root / "demo.py", root / "app.py"]
    reloadable = {*RELOADABLE, "client"}
    assert set(RELOADABLE) < set(Settings.model_fields)
    # Not the Settings: Authlib's client model keeps the client's entry as `settings`.
    entries = {("idp/oidc/clients.py", "self.settings.scopes")}
    found = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in reloadable
                and (
                    (isinstance(node.value, ast.Name) and node.value.id == "settings")
                    or (isinstance(node.value, ast.Attribute) and node.value.attr == "settings")
                )
            ):
                where, what = str(path.relative_to(root.parent)), ast.unparse(node)
                if (where, what) not in entries:
                    found.append(f"{where}:{node.lineno}: {what}")
    assert found == []
