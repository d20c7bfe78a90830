"""The image recipe, the compose stack and the dependency locks, checked without a container
engine: every file, port, variable, service and command they name exists in this project and
fits together, and what the image and `make` install is exactly what the lock files pin."""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement

from idp.cli import build_parser
from idp.config import load_settings
from tests.deploy.recipes import (
    COMPOSE,
    ENV_EXAMPLE,
    IDP_CONFIG,
    NGINX_CONF,
    ROOT,
    Instruction,
    Stage,
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
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
DEV_LOCK = ROOT / "requirements" / "dev.txt"
# What the wheel is built from; none of it may reach the runtime stage as files.
SOURCE_FOLDERS = {"idp", "templates", "static", "migrations"}
DEV_EXTRA = PYPROJECT["project"]["optional-dependencies"]["dev"]


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


def run_mounts(run: Instruction) -> tuple[list[dict[str, str]], str]:
    """A RUN's `--mount=k=v,...` options, each as a dict, and the shell command after them."""
    mounts, rest = [], run.args
    while option := re.match(r"--(\w+)=(\S+)\s+", rest):
        if option[1] == "mount":
            mounts.append(dict(kv.partition("=")[::2] for kv in option[2].split(",")))
        rest = rest[option.end() :]
    return mounts, rest


def pip_calls(stage: Stage, verb: str) -> list[tuple[Instruction, list[str]]]:
    """Every `pip VERB ...` (also `python -m pip`, `/venv/bin/pip`) in a stage's RUNs: its
    arguments after VERB."""
    calls = []
    for run in stage.all("RUN"):
        for segment in re.split(r"&&|\|\||;", run_mounts(run)[1]):
            words = shlex.split(segment)
            for i, word in enumerate(words[:-1]):
                if re.search(r"(^|/)pip3?$", word) and words[i + 1] == verb:
                    calls.append((run, words[i + 2 :]))
                    break
    return calls


def option_value(args: list[str], *names: str) -> str | None:
    """The value of `--name VALUE` or `--name=VALUE` (any of names) in an argument list."""
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if name.startswith("--") and arg.startswith(f"{name}="):
                return arg.split("=", 1)[1]
    return None


def wheel_stage() -> tuple[Stage, str]:
    """The stage that builds our wheel, and the folder it writes the wheel to."""
    for stage in DOCKERFILE.stages[:-1]:
        for _run, args in pip_calls(stage, "wheel"):
            wheel_dir = option_value(args, "--wheel-dir", "-w")
            if wheel_dir:
                return stage, wheel_dir
    pytest.fail("no build stage runs `pip wheel --wheel-dir DIR ...`")


def context_sources(stage: Stage) -> list[tuple[Instruction, str]]:
    """What a stage takes from the build context: COPY sources and bind-mount sources."""
    found = []
    for copy in stage.all("COPY") + stage.all("ADD"):
        flags, operands = copy.flags_and_operands()
        if "from" not in flags:
            found += [(copy, source) for source in operands[:-1]]
    for run in stage.all("RUN"):
        for mount in run_mounts(run)[0]:
            if mount.get("type") == "bind" and "from" not in mount:
                found.append((run, mount.get("source", ".")))
    return found


def lock_entries(path: Path) -> dict[str, tuple[str, str, list[str]]]:
    """A lock file's requirements: canonical name -> (version, environment marker, hashes)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    entries = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        spec, _, marker = line.split(" --hash", 1)[0].partition(";")
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", spec.strip())
        assert match, f"{path.name}: not pinned with ==: {line[:80]}"
        hashes = re.findall(r"--hash=(\S+)", line)
        entries[canonical(match[1])] = (match[2], marker.strip(), hashes)
    return entries


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


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
    for stage in DOCKERFILE.stages:
        for run in stage.all("RUN"):
            for mount in run_mounts(run)[0]:
                if "from" in mount:
                    assert mount["from"] in stage_names, (
                        f"line {run.line}: no stage {mount['from']}"
                    )
                elif mount.get("type") == "bind":
                    source = mount["source"]
                    assert (ROOT / source).exists(), f"line {run.line}: {source} does not exist"
                    assert dockerignore_allows(source), f"line {run.line}: .dockerignore drops it"


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
        assert not re.search(r"apt-get|apk add|gcc|build-essential|pip wheel|-m build", run.args), (
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


def test_a_build_stage_builds_our_wheel_from_the_source_with_the_locked_backend():
    build, wheel_dir = wheel_stage()
    (_, args), *others = pip_calls(build, "wheel")
    assert not others, "one wheel: ours"
    assert "--no-deps" in args, "the dependencies come from the lock, not as wheels built here"
    assert "--no-build-isolation" in args, "build isolation would fetch an unlocked setuptools"
    assert args[-1] in (".", build.last("WORKDIR").args), "the wheel of the copied source"
    copied = {source.rstrip("/") for _, source in context_sources(build)}
    assert SOURCE_FOLDERS | {"pyproject.toml"} <= copied, "the build stage has the source"
    # The backend it builds with is the locked one, hash-checked.
    backend = [a for _, a in pip_calls(build, "install") if "--require-hashes" in a]
    assert backend, "the build stage installs setuptools from the lock with --require-hashes"
    assert "requirements/runtime.txt" in copied
    assert "setuptools" in lock_entries(RUNTIME_LOCK)
    assert wheel_dir.startswith("/"), "an absolute wheel folder, for the runtime stage to take"


def test_the_runtime_stage_installs_the_locked_requirements_then_the_wheel():
    final = DOCKERFILE.final
    build, wheel_dir = wheel_stage()
    installs = pip_calls(final, "install")
    locked = [a for _, a in installs if "--require-hashes" in a]
    assert len(locked) == 1, "one hash-checked install of the runtime lock"
    requirements = option_value(locked[0], "-r", "--requirement")
    assert requirements and requirements.endswith("requirements/runtime.txt"), locked[0]
    assert "requirements/runtime.txt" in {s for _, s in context_sources(final)}

    wheels = [a for _, a in installs if any(w.endswith(".whl") for w in a)]
    assert len(wheels) == 1, "the runtime stage installs our wheel"
    assert "--no-deps" in wheels[0], "the wheel brings no dependencies beyond the lock"
    wheel = next(w for w in wheels[0] if w.endswith(".whl"))
    # ... and it is the one the build stage wrote: mounted or copied from that stage.
    delivered = {
        mount["target"].rstrip("/")
        for run in final.all("RUN")
        for mount in run_mounts(run)[0]
        if mount.get("from") == build.name and mount.get("source", "/").rstrip("/") == wheel_dir
    } | {
        operands[-1].rstrip("/")
        for copy in final.all("COPY")
        for flags, operands in [copy.flags_and_operands()]
        if flags.get("from") == build.name and operands[0].rstrip("/") == wheel_dir
    }
    assert str(Path(wheel).parent) in delivered, f"{wheel} is not the build stage's {wheel_dir}"
    order = [args for _, args in installs]
    assert order.index(locked[0]) < order.index(wheels[0]), "the lock first, then the wheel"
    assert len(installs) == 2, "nothing else is installed in the runtime stage"
    removed = [a for _, a in pip_calls(final, "uninstall")]
    assert removed and {"pip", "setuptools"} <= set(removed[-1]), "no installers left behind"


def test_the_runtime_stage_copies_no_source_folder():
    final = DOCKERFILE.final
    build, _ = wheel_stage()
    build_workdir = build.last("WORKDIR").args.rstrip("/")

    def from_source_tree(path: str) -> bool:
        return path == build_workdir or path.startswith(f"{build_workdir}/")

    # From the build context (COPY, bind mounts): nothing of the source, and not all of it.
    for instruction, source in context_sources(final):
        path = Path(source.rstrip("/") or ".")
        assert str(path) != ".", f"line {instruction.line}: takes the whole build context"
        assert path.parts[0] not in SOURCE_FOLDERS, f"line {instruction.line}: takes {source}"
    # From the build stage: its wheel, never its copy of the source.
    for copy in final.all("COPY") + final.all("ADD"):
        flags, operands = copy.flags_and_operands()
        for source in operands[:-1] if "from" in flags else []:
            path = source.rstrip("/") or "/"
            assert not from_source_tree(path), f"line {copy.line}: copies {source}"
            assert Path(path).name not in SOURCE_FOLDERS, f"line {copy.line}: copies {source}"
    for run in final.all("RUN"):
        for mount in run_mounts(run)[0]:
            if "from" in mount:
                source = mount.get("source", "/").rstrip("/") or "/"
                assert not from_source_tree(source), f"line {run.line}: mounts {source}"
                assert Path(source).name not in SOURCE_FOLDERS, f"line {run.line}: {source}"


def test_nothing_is_installed_in_editable_mode():
    for stage in DOCKERFILE.stages:
        for run, args in pip_calls(stage, "install"):
            editable = [a for a in args if a in ("-e", "--editable") or a.startswith("--editable=")]
            assert not editable, f"line {run.line}: an editable install points at source files"


# --------------------------------------------------------------------------- dependency locks


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=lambda p: p.name)
def test_every_locked_requirement_is_pinned_and_hashed_and_nothing_is_machine_local(lock):
    text = lock.read_text()
    assert re.search(r"^# .*\bscripts/lock\b", text, re.M), "the header says how to regenerate"
    for needle in ("file:", "/opt/", "/tmp/", "/root/", "/home/", str(ROOT)):
        assert needle not in text, f"{lock.name} names a path of this machine: {needle}"
    options = re.findall(r"^\s*(-[-\w]+)", text.replace("--hash=", "#"), re.M)
    assert not options, f"{lock.name}: index/find-links/editable options: {options}"
    entries = lock_entries(lock)
    assert entries
    for name, (_version, _marker, hashes) in entries.items():
        assert hashes, f"{lock.name}: {name} has no --hash"
        for value in hashes:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", value), f"{lock.name}: {name}: {value}"


@pytest.mark.parametrize(
    "lock, declared",
    [
        (RUNTIME_LOCK, PYPROJECT["project"]["dependencies"]),
        (DEV_LOCK, [*PYPROJECT["project"]["dependencies"], *DEV_EXTRA]),
    ],
    ids=["runtime", "dev"],
)
def test_every_declared_dependency_is_pinned_in_its_lock(lock, declared):
    entries = lock_entries(lock)
    # Installed with --no-build-isolation, so the build backend must be in the set too.
    for spec in [*declared, *PYPROJECT["build-system"]["requires"]]:
        requirement = Requirement(spec)
        name = canonical(requirement.name)
        assert name in entries, f"{lock.name} does not pin {name}"
        version = entries[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock.name}: {name}=={version} does not satisfy {spec}"
        )
    assert "idp" not in entries, "the project itself is installed from source or its wheel"


def test_the_dev_lock_extends_the_runtime_lock_at_the_same_versions():
    runtime, dev = lock_entries(RUNTIME_LOCK), lock_entries(DEV_LOCK)
    for name, (version, marker, hashes) in runtime.items():
        assert name in dev, f"dev.txt lacks {name}"
        assert dev[name][0] == version, f"{name}: runtime {version}, dev {dev[name][0]}"
        assert dev[name][1] == marker and set(dev[name][2]) == set(hashes), name
    assert set(dev) > set(runtime)


MAKE_VARIABLES = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")


def test_make_installs_the_runtime_set_for_serve_and_the_dev_set_for_test():
    def planned(target: str) -> list[str]:
        result = subprocess.run(
            ["make", "--dry-run", "--always-make", "--no-print-directory", target],
            cwd=ROOT,
            # Under `make test` the outer make's flags would leak in (-w prints directories).
            env={k: v for k, v in os.environ.items() if k not in MAKE_VARIABLES},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()

    serve, test = planned("serve"), planned("test")
    for plan, lock, absent in ((serve, "runtime", "dev"), (test, "dev", "runtime")):
        assert any(
            "pip install" in c and "--require-hashes" in c and f"requirements/{lock}.txt" in c
            for c in plan
        ), plan
        assert not any(f"requirements/{absent}.txt" in c for c in plan), plan
        project = [c for c in plan if "pip install" in c and "requirements/" not in c]
        assert project and all("--no-deps" in c and "--no-build-isolation" in c for c in project)
    assert serve[-1].endswith("idp serve")
    assert test[-1].endswith("/pytest"), "make test ends with the test suite"
    assert any(c.endswith("/mypy") for c in test) and any("lint-imports" in c for c in test)


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
