"""The image recipe and the compose stack, checked without a container engine: every file,
port, variable, service and command they name exists in this project and fits together."""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from idp.cli import build_parser
from idp.config import load_settings
from tests.deploy.recipes import (
    COMPOSE,
    ENV_EXAMPLE,
    IDP_CONFIG,
    NGINX_CONF,
    ROOT,
    depends_on,
    dockerignore_allows,
    interpolate,
    load_compose,
    parse_dockerfile,
    read_env_file,
    service_environment,
    startup_order,
    variables_in,
)

IDP = str(Path(sys.executable).parent / "idp")
DOCKERFILE = parse_dockerfile()
COMPOSE_DOC = load_compose()
SERVICES: dict = COMPOSE_DOC["services"]
EXAMPLE_ENV = read_env_file()


def parses(argv: list[str]):
    """Our CLI's own parser on a command line; argparse's complaint becomes a test failure."""
    try:
        return build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"`idp {' '.join(argv)}` does not parse with idp.cli.build_parser")


def runs_our_image(service: dict) -> bool:
    return service.get("build") in (".", "./") or service.get("image") == "idp:local"


def idp_command(service: dict) -> list[str]:
    command = service.get("command")
    if command is None:
        return DOCKERFILE.final.last("CMD").exec_form()
    assert isinstance(command, list), "use the exec (list) form for idp commands"
    return command


# --------------------------------------------------------------------------- Dockerfile


def test_every_copy_source_exists_and_is_in_the_build_context():
    stage_names = {s.name for s in DOCKERFILE.stages}
    copies = [i for s in DOCKERFILE.stages for i in s.all("COPY") + s.all("ADD")]
    assert copies
    for copy in copies:
        assert copy.keyword == "COPY", f"line {copy.line}: use COPY, not ADD"
        flags, operands = copy.flags_and_operands()
        *sources, _destination = operands
        if "from" in flags:
            assert flags["from"] in stage_names, f"line {copy.line}: no stage {flags['from']}"
            continue
        for source in sources:
            assert (ROOT / source).exists(), f"line {copy.line}: {source} does not exist"
            assert dockerignore_allows(source), f"line {copy.line}: .dockerignore drops {source}"


def test_base_image_is_a_pinned_python_311_slim_bookworm_in_every_stage():
    for stage in DOCKERFILE.stages:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", stage.base)


def test_final_stage_runs_as_a_non_root_user_without_build_tools():
    final = DOCKERFILE.final
    user = final.last("USER")
    assert user is not None
    name = user.args.split(":")[0]
    assert name not in ("root", "0")
    # The user exists: created in this stage, by name or by the uid given.
    created = " ".join(r.args for r in final.all("RUN"))
    assert re.search(rf"useradd\b.*(--uid {name}\b|\s{name}$|\s{name}\s)", created)
    for run in final.all("RUN"):
        assert not re.search(r"apt-get|apk add|pip install|gcc|build-essential", run.args), (
            f"line {run.line}: the runtime stage installs build tooling"
        )


def test_healthcheck_asks_healthz_with_python_on_the_served_port():
    check = DOCKERFILE.final.last("HEALTHCHECK")
    assert check is not None
    argv = check.exec_form()
    assert argv and argv[0] == "python", "slim images have no curl: use the interpreter"
    url = re.search(r"http://[^'\"]+", argv[-1])[0]
    cmd = parses(DOCKERFILE.final.last("CMD").exec_form())
    assert urlsplit(url).path == "/healthz"
    assert urlsplit(url).port == cmd.port
    assert f"{cmd.port}" in DOCKERFILE.final.last("EXPOSE").args.split()


def test_entrypoint_is_our_console_script_and_cmd_parses_with_our_cli():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert DOCKERFILE.final.last("ENTRYPOINT").exec_form() == ["idp"]
    assert scripts["idp"] == "idp.cli:main"
    args = parses(DOCKERFILE.final.last("CMD").exec_form())
    assert args.command == "serve" and args.host == "0.0.0.0"


def test_image_keeps_the_repository_layout_the_package_loads_files_from():
    """templating.py and migrate.py find templates/, static/, migrations/ at parents[2] of
    their own file, so those folders must sit next to idp/ in the image's WORKDIR."""
    from idp.store import migrate
    from idp.web import templating

    for module, folders in ((templating, ("templates", "static")), (migrate, ("migrations",))):
        assert Path(module.__file__).resolve().parents[2] == ROOT
        for folder in folders:
            assert (ROOT / folder).is_dir()
    workdir = DOCKERFILE.final.last("WORKDIR").args
    copied = {
        op[-1].rstrip("/")
        for i in DOCKERFILE.final.all("COPY")
        for op in [i.flags_and_operands()[1]]
    }
    assert {"idp", "templates", "static", "migrations"} <= copied
    build = DOCKERFILE.stages[0]
    assert build.last("WORKDIR").args == workdir, "the editable install points at WORKDIR/idp"
    assert any("pip install --no-deps -e ." in r.args for r in build.all("RUN"))


# --------------------------------------------------------------------------- compose


def test_every_service_has_a_valid_image_or_our_build():
    for name, service in SERVICES.items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            context = ROOT / service["build"]
            assert (context / "Dockerfile").is_file(), name
        if "image" in service and not runs_our_image(service):
            image = service["image"]
            assert re.fullmatch(r"[a-z0-9./-]+:[\w.-]+", image), f"{name}: pin {image} by tag"
            assert not image.endswith(":latest"), f"{name}: pin {image} by version"


def test_every_referenced_file_exists():
    referenced = []
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source")
            if source.startswith((".", "/")):
                referenced.append((name, source))
            else:
                assert source in (COMPOSE_DOC.get("volumes") or {}), f"{name}: volume {source}"
        env_files = service.get("env_file", [])
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            referenced.append((name, env_file))
    for kind in ("secrets", "configs"):
        for name, spec in (COMPOSE_DOC.get(kind) or {}).items():
            if "file" in spec:
                referenced.append((f"{kind}.{name}", spec["file"]))
    assert ("proxy", "./deploy/nginx.conf") in referenced
    assert ("idp1", "./deploy/idp.compose.yaml") in referenced
    for owner, path in referenced:
        assert (ROOT / path).exists(), f"{owner}: {path} does not exist"


def test_every_variable_is_defined_in_the_example_env_file():
    used = variables_in(COMPOSE_DOC)
    assert used, "the stack takes its secrets from .env"
    missing = used - set(EXAMPLE_ENV)
    assert not missing, f"add to deploy/.env.example: {sorted(missing)}"
    interpolate(COMPOSE_DOC, EXAMPLE_ENV)  # no ${VAR:?...} would stop compose


def test_the_idp_config_gets_every_variable_it_uses_from_the_container_environment():
    raw = yaml.safe_load(IDP_CONFIG.read_text())
    needed = variables_in(raw)
    for name, service in SERVICES.items():
        if runs_our_image(service) and idp_command(service)[0] != "simulator":
            missing = needed - set(service_environment(service))
            assert not missing, f"{name}: the config needs {sorted(missing)}"
            assert service_environment(service)["IDP_CONFIG"] == "/etc/idp/idp.yaml"
            assert "./deploy/idp.compose.yaml:/etc/idp/idp.yaml:ro" in service["volumes"]


def test_published_ports_do_not_collide():
    published = []
    for name, service in SERVICES.items():
        for port in interpolate(service.get("ports", []), EXAMPLE_ENV):
            host = str(port).rsplit(":", 1)[0] if ":" in str(port) else str(port)
            published.append((host, name))
    hosts = [h for h, _ in published]
    assert len(hosts) == len(set(hosts)), published
    assert [n for _, n in published] == ["proxy"], "only the proxy is reachable from outside"


def test_depends_on_names_exist_and_the_start_order_is_sane():
    for name, service in SERVICES.items():
        for dep, condition in depends_on(service).items():
            assert dep in SERVICES, f"{name} depends on unknown {dep}"
            if condition == "service_healthy":
                assert SERVICES[dep].get("healthcheck", {}).get("disable") is not True
                assert "healthcheck" in SERVICES[dep] or runs_our_image(SERVICES[dep]), dep
    order = startup_order(SERVICES)
    assert order.index("migrate") < order.index("idp1") and order.index("postgres") < order.index(
        "migrate"
    )
    assert depends_on(SERVICES["idp1"])["migrate"] == "service_completed_successfully"
    assert SERVICES["migrate"]["restart"] == "no"


def test_every_idp_command_line_parses_with_our_cli():
    seen = {}
    for name, service in SERVICES.items():
        if runs_our_image(service):
            args = parses(idp_command(service))
            seen[name] = args
            if args.command != "serve":
                # The image's HEALTHCHECK asks idp serve on 8000: others bring their own or none.
                assert "healthcheck" in service, f"{name}: override or disable the healthcheck"
    assert seen["migrate"].command == "db" and seen["migrate"].db_command == "upgrade"
    assert seen["simulator"].command == "simulator" and seen["simulator"].host == "0.0.0.0"
    serving = [n for n, a in seen.items() if a.command == "serve"]
    assert len(serving) == 2, "two idp instances"
    assert all(seen[n].host == "0.0.0.0" and seen[n].port == 8000 for n in serving)


def test_nginx_balances_the_instances_and_passes_the_client_address():
    conf = NGINX_CONF.read_text()
    upstream = re.search(r"upstream idp \{(.*?)\}", conf, re.S)[1]
    servers = re.findall(r"server (\S+):(\d+)", upstream)
    serving = {n for n, s in SERVICES.items() if runs_our_image(s) and idp_command(s)[0] == "serve"}
    assert {host for host, _ in servers} == serving
    assert all(port == "8000" for _, port in servers)
    for header, value in (
        ("X-Forwarded-For", "$remote_addr"),  # overwritten at the edge, never appended to
        ("X-Forwarded-Proto", "$scheme"),
        ("X-Forwarded-Host", "$http_host"),
    ):
        assert re.search(rf"proxy_set_header {header} \{value};", conf), header
    assert "proxy_add_x_forwarded_for" not in conf
    assert re.search(r"location = /metrics \{\s*return 404;", conf)
    simulator = re.search(r"upstream bankid_simulator \{\s*server (\S+):(\d+);", conf)
    args = parses(idp_command(SERVICES["simulator"]))
    assert simulator[1] == "simulator" and int(simulator[2]) == args.port
    listen = re.search(r"listen (\d+);", conf)[1]
    assert SERVICES["proxy"]["ports"][0].endswith(f":{listen}")


def test_the_idp_config_points_at_the_compose_services():
    settings = load_settings(IDP_CONFIG, environ=EXAMPLE_ENV)
    db = urlsplit(settings.database_url)
    pg = service_environment(SERVICES["postgres"])
    assert (db.hostname, db.port, db.username, db.path) == (
        "postgres",
        5432,
        pg["POSTGRES_USER"],
        f"/{pg['POSTGRES_DB']}",
    )
    assert urlsplit(settings.redis_url).hostname == "redis"
    base = urlsplit(settings.bankid.base_url)
    assert settings.bankid.environment == "simulator"
    simulator = parses(idp_command(SERVICES["simulator"]))
    assert (base.hostname, base.port) == ("simulator", simulator.port)
    assert base.path == "/rp/v6.0/"
    subnet = COMPOSE_DOC["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert [ipaddress.ip_network(p) for p in settings.trusted_proxies] == [
        ipaddress.ip_network(subnet)
    ]
    assert settings.issuer == EXAMPLE_ENV["IDP_PUBLIC_URL"]
    port = interpolate(SERVICES["proxy"]["ports"][0], EXAMPLE_ENV).split(":")[0]
    assert urlsplit(settings.issuer).port == int(port)


def test_the_idp_config_passes_check_config_with_the_example_env():
    result = subprocess.run(
        [IDP, "check-config", str(IDP_CONFIG)],
        env={"PATH": "/usr/bin:/bin", **EXAMPLE_ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout and "store redis" in result.stdout


def test_plain_http_base_url_is_accepted_only_for_the_simulator():
    from idp.config import ConfigError, parse_settings

    def bankid(**values):
        return parse_settings(
            {"issuer": "https://login.example.com", "bankid": values}, source="t.yaml", environ={}
        )

    url = "http://simulator:8001/rp/v6.0/"
    assert bankid(environment="simulator", base_url=url).bankid.base_url == url
    for environment in ("test", "production"):
        with pytest.raises(ConfigError, match=r"bankid\.base_url: expected an https URL"):
            bankid(environment=environment, base_url=url)
    with pytest.raises(ConfigError, match="user information"):
        bankid(environment="simulator", base_url="http://u:p@simulator:8001/")


def test_env_example_and_compose_are_not_committed_with_real_looking_secrets():
    assert "CHANGE" in EXAMPLE_ENV["IDP_SECRET_KEY"].upper()
    assert len(EXAMPLE_ENV["IDP_SECRET_KEY"]) >= 32
    assert re.fullmatch(r"[A-Za-z0-9]+", EXAMPLE_ENV["POSTGRES_PASSWORD"]), "used inside a URL"
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert COMPOSE.read_text().count("CHANGE") == 0 and ENV_EXAMPLE.exists()
