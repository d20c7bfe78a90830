"""The README's production section, followed literally up to the first command that needs a
container engine; then what the engine would run first (the `migrate` service), against the
real PostgreSQL."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.recipes import (
    COMPOSE,
    ROOT,
    interpolate,
    load_compose,
    read_env_file,
    service_environment,
)

README = (ROOT / "README.md").read_text()
BIN = str(Path(sys.executable).parent)


def production_section() -> str:
    match = re.search(r"^## Production\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert match, "README.md has a Production section"
    return match[1]


def quick_start_commands() -> list[str]:
    block = re.search(r"### Compose quick start.*?```sh\n(.*?)```", production_section(), re.S)
    assert block, "the quick start is one sh block"
    return [line.split("  #")[0].strip() for line in block[1].strip().splitlines()]


def until_container_engine(commands: list[str]) -> list[str]:
    engine = next(i for i, c in enumerate(commands) if c.split()[0] in ("docker", "podman"))
    assert engine > 0
    return commands[:engine]


@pytest.fixture
def checkout(tmp_path):
    """The files the quick start reads, in a scratch copy of the repository root."""
    for name in ("docker-compose.yml", "Dockerfile", ".dockerignore"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    return tmp_path


def run_shell(commands: list[str], cwd: Path, *, extra: str = "") -> subprocess.CompletedProcess:
    script = "set -eu\n" + "\n".join(commands) + "\n" + extra
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_quick_start_ends_with_compose_up_on_this_repository():
    commands = quick_start_commands()
    assert commands[-1].startswith("docker compose up")
    assert (ROOT / "docker-compose.yml").is_file() and COMPOSE.name == "docker-compose.yml"


def test_quick_start_up_to_the_container_engine_succeeds(checkout):
    steps = until_container_engine(quick_start_commands())
    assert steps[0] == "cp deploy/.env.example .env"
    assert any(s.startswith("idp check-config") for s in steps)
    result = run_shell(steps, checkout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "deploy/idp.compose.yaml: OK" in result.stdout
    assert (checkout / ".env").read_text() == (ROOT / "deploy" / ".env.example").read_text()


def test_quick_start_check_fails_loudly_when_a_secret_is_missing(checkout):
    steps = until_container_engine(quick_start_commands())
    # An operator who deletes a line from .env learns it from the check, not from a container.
    steps.insert(1, "sed -i '/^IDP_SECRET_KEY=/d' .env")
    result = run_shell(steps, checkout)
    assert result.returncode == 2
    assert "secret_key: environment variable ${IDP_SECRET_KEY} is not set" in result.stderr


@pytest.mark.postgres
def test_the_migrate_service_upgrades_a_real_postgresql(checkout, postgres_url):
    """After the quick start, compose starts `migrate` first: `idp <its command>` with its
    environment and the mounted configuration. The only stand-in is the engine's DNS: the
    `postgres` service is the test database."""
    assert run_shell(until_container_engine(quick_start_commands()), checkout).returncode == 0
    env_file = read_env_file(checkout / ".env")
    service = interpolate(load_compose(checkout / "docker-compose.yml"), env_file)["services"][
        "migrate"
    ]
    mounted = next(v for v in service["volumes"] if v.endswith(":/etc/idp/idp.yaml:ro"))
    config = yaml.safe_load((checkout / mounted.split(":")[0]).read_text())
    assert config["database_url"].startswith("postgresql+psycopg://idp:${POSTGRES_PASSWORD}@")
    config["database_url"] = postgres_url
    (checkout / "idp.yaml").write_text(yaml.safe_dump(config))

    env = {
        **service_environment(service),
        "IDP_CONFIG": str(checkout / "idp.yaml"),
        "PATH": f"{BIN}:/usr/bin:/bin",
    }
    result = subprocess.run(
        [f"{BIN}/idp", *service["command"]],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is at the latest schema" in result.stdout

    # Every `docker compose up` runs it again: on a current schema it is a no-op.
    again = subprocess.run(
        [f"{BIN}/idp", *service["command"]], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
