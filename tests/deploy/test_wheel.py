"""What users install is what we test: the package built from this repository, installed into a
new virtual environment outside the checkout, runs every `idp` command from a folder that has
nothing of the repository in it.

The sdist is built from a copy of the working tree (so a file not yet committed counts), the
wheel from that sdist (so the sdist is self-contained too), and both are checked against the
repository's folders. One virtual environment gets the locked runtime dependencies; the package
is installed into it twice, as users do: from the wheel, then with `pip install .` from a copy
of the source. Each way runs the same checks.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
RESOURCE_FOLDERS = ("templates", "static", "migrations")
IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "data", "artifacts", "build", "dist", "*.egg-info",
    "__pycache__", "*.pyc", ".ruff_cache", ".mypy_cache", ".pytest_cache", ".hypothesis",
)  # fmt: skip
ANNA = "198501012382"
PIP_INSTALL = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]


def _run(argv: list[str | Path], *, cwd: Path, timeout: float = 300, **kw) -> str:
    out = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw
    )
    assert out.returncode == 0, f"{argv}: exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------ building


@dataclass
class Built:
    sdist: Path
    wheel: Path
    source: Path  # the copy of the working tree the sdist was built from


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    """sdist from a copy of the working tree, wheel from the unpacked sdist (PEP 517 hooks of
    the build backend that pyproject.toml names; no build isolation, so nothing is fetched)."""
    tmp = tmp_path_factory.mktemp("build")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=IGNORED)
    dist = tmp / "dist"
    dist.mkdir()
    hook = "import sys; from setuptools import build_meta as b; print(b.build_{}(sys.argv[1]))"
    name = _run([sys.executable, "-c", hook.format("sdist"), dist], cwd=source).split()[-1]
    sdist = dist / name
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp / "unpacked", filter="data")
    unpacked = next((tmp / "unpacked").iterdir())
    name = _run([sys.executable, "-c", hook.format("wheel"), dist], cwd=unpacked).split()[-1]
    return Built(sdist=sdist, wheel=dist / name, source=source)


def _repository_files(folder: str) -> set[str]:
    base = ROOT / folder
    return {
        p.relative_to(base).as_posix()
        for p in base.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def test_the_wheel_carries_every_template_static_file_and_migration(built):
    names = set(zipfile.ZipFile(built.wheel).namelist())
    for folder in RESOURCE_FOLDERS:
        expected = _repository_files(folder)
        assert expected, folder
        missing = sorted(f for f in expected if f"idp/{folder}/{f}" not in names)
        assert not missing, f"{folder}/ files missing from the wheel: {missing}"
    code = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "idp").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert sorted(code - names) == []
    # Nothing of the checkout's tooling or tests is installed.
    assert not [n for n in names if n.startswith(("tests/", "templates/", "static/", "scripts/"))]


def test_the_sdist_carries_what_the_wheel_is_built_from(built):
    with tarfile.open(built.sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for folder in (*RESOURCE_FOLDERS, "idp"):
        missing = sorted(f for f in _repository_files(folder) if f"{folder}/{f}" not in names)
        assert not missing, f"{folder}/ files missing from the sdist: {missing}"
    assert {"pyproject.toml", "README.md"} <= names


# ------------------------------------------------------------------------------ installing


@dataclass
class Installed:
    how: str
    bin: Path
    python: Path
    home: Path  # an empty folder outside the checkout: the working directory of every command
    env: dict[str, str]

    def idp(self, *args: str | Path, timeout: float = 120, check: bool = True, **kw):
        out = subprocess.run(
            [str(self.bin / "idp"), *map(str, args)],
            cwd=kw.pop("cwd", self.home),
            env={**self.env, **kw.pop("env", {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            **kw,
        )
        if check:
            assert out.returncode == 0, f"idp {args}: exit {out.returncode}\n{out.stderr}"
        return out


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A new virtual environment with the locked runtime dependencies and nothing else."""
    path = tmp_path_factory.mktemp("venv") / "v"
    _run([sys.executable, "-m", "venv", path], cwd=path.parent)
    pip = [path / "bin" / "python", *PIP_INSTALL]
    _run([*pip, "--require-hashes", "-r", RUNTIME_LOCK], cwd=path.parent, timeout=600)
    return path


@pytest.fixture(scope="module", params=["wheel", "pip install ."])
def installed(request, built, venv, tmp_path_factory) -> Installed:
    target = built.wheel if request.param == "wheel" else built.source
    pip = [venv / "bin" / "python", *PIP_INSTALL]
    # `pip install .` builds in an isolated environment as users' pip does.
    _run([*pip, "--no-deps", "--force-reinstall", target], cwd=target.parent, timeout=600)
    home = tmp_path_factory.mktemp("home")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"IDP_CONFIG", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return Installed(request.param, venv / "bin", venv / "bin" / "python", home, env)


def test_the_package_runs_from_its_install_not_from_the_checkout(installed):
    where = subprocess.run(
        [installed.python, "-c", "import idp, idp.resources as r; print(idp.__file__);"
         "print(r.templates()); print(r.static()); print(r.migrations())"],
        cwd=installed.home, env=installed.env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    site = str(installed.bin.parent / "lib")
    assert len(where) == 4 and all(p.startswith(site) for p in where), where
    assert not any(str(ROOT) in p for p in where)


def test_version_from_idp_and_python_dash_m(installed):
    expected = subprocess.run(
        [installed.python, "-c", "from importlib.metadata import version; print(version('idp'))"],
        cwd=installed.home, env=installed.env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", expected)
    assert installed.idp("--version").stdout.strip() == f"idp {expected}"
    dash_m = subprocess.run(
        [installed.python, "-m", "idp", "--version"],
        cwd=installed.home, env=installed.env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert dash_m.stdout.strip() == f"idp {expected}"


# ------------------------------------------------------------------------------ serving


class Server:
    """`idp serve ...` from the installed package, its output in a file the log check reads."""

    def __init__(
        self, installed: Installed, *args: str | Path, port: int | None = None, log_check=None
    ) -> None:
        self.port = port or _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = installed.home / f"serve-{self.port}.log"
        self.log_check = log_check
        self._file = self.log.open("w")
        self.proc = subprocess.Popen(
            [str(installed.bin / "idp"), "serve", "--port", str(self.port), *map(str, args)],
            cwd=installed.home,
            env=installed.env,
            stdout=self._file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"idp serve did not start:\n{self.log.read_text()}")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._file.close()
        text = self.log.read_text()
        if self.log_check is not None:
            for line in text.splitlines():
                self.log_check.check_line(f"idp serve ({self.log.name})", line)
        return text


@pytest.fixture
def serve(installed, log_check) -> Iterator:
    servers: list[Server] = []

    def start(*args: str | Path, port: int | None = None) -> Server:
        servers.append(Server(installed, *args, port=port, log_check=log_check))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def _login_through_the_demo(base: str, folder: Path) -> httpx.Response:
    """A person at the demo app, logging in with the QR code; their phone is the simulator's
    app API. Returns the demo's result page."""
    with httpx.Client(base_url=base, timeout=15, headers={"accept-language": "en"}) as browser:
        assert browser.get("/demo/").status_code == 200
        r = browser.post("/demo/login", data={"flow": "qr"})
        for _ in range(6):  # /authorize -> /bankid/login
            if r.status_code != 303:
                break
            r = browser.get(r.headers["location"])
        # One way to log in: the page's script posts its form to start the order.
        assert r.status_code == 200 and 'data-autosubmit="1"' in r.text, (r.status_code, r.url)
        start = r.text[r.text.index('action="/bankid/start"') :]
        fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', start[: start.index("</form>")]))
        r = browser.post("/bankid/start", data=fields)
        assert r.status_code == 303, r.text
        r = browser.get(r.headers["location"])  # /bankid/wait
        assert r.status_code == 200 and "/bankid/wait" in str(r.url), (r.status_code, r.url)
        assert "qr" in r.text.lower()
        txn = parse_qs(urlsplit(str(r.url)).query)["txn"][0]
        # The page draws the QR code from the frame text: in the page at first, then from
        # each status answer (never the qrStartSecret).
        frame = r"bankid\.[0-9a-f-]{36}\.\d+\.[0-9a-f]{64}"
        first = re.search(rf'data-qr="({frame})"', r.text)
        status = browser.get("/bankid/status", params={"txn": txn}).json()
        assert first and re.fullmatch(frame, status["qr"]), status
        assert first[1].split(".")[1] == status["qr"].split(".")[1]
        scanned = httpx.post(
            f"{base}/bankid-simulator/app/scan",
            json={"qr": status["qr"], "personalNumber": ANNA},
            timeout=10,
        )
        assert scanned.status_code == 200, scanned.text
        deadline = time.monotonic() + 20
        while status.get("next") is None and time.monotonic() < deadline:
            time.sleep(0.2)  # the page's own polling pace; the order completes when it collects
            status = browser.get("/bankid/status", params={"txn": txn}).json()
        assert status["state"] == "complete" and status["next"], status
        r = browser.get(status["next"])
        for _ in range(4):  # /bankid/done -> /demo/callback
            if r.status_code not in (302, 303):
                break
            r = browser.get(r.headers["location"])
        return r


def test_embedded_default_serves_and_logs_a_person_in(installed, serve):
    server = serve()
    base = server.base
    doc = httpx.get(f"{base}/.well-known/openid-configuration").json()
    assert doc["issuer"] == base
    assert len(httpx.get(f"{base}/jwks").json()["keys"]) >= 2
    assert httpx.get(f"{base}/static/css/idp.css").status_code == 200
    assert httpx.get(f"{base}/static/__init__.py").status_code == 404  # the package marker
    simulator_page = httpx.get(f"{base}/bankid-simulator/")
    assert simulator_page.status_code == 200 and "BankID" in simulator_page.text
    # The customer-service console, with its stylesheet and script from the install.
    console = httpx.get(f"{base}/console/")
    assert console.status_code == 200 and 'id="console-sign-in"' in console.text
    for asset in ("css/console.css", "js/console.js"):
        assert httpx.get(f"{base}/static/{asset}").status_code == 200, asset
    result = _login_through_the_demo(base, installed.home)
    assert result.status_code == 200, result.text[:2000]
    assert "Logged in as Anna Andersson" in result.text
    # The embedded default keeps its data in the working directory, wherever that is.
    assert (installed.home / "data" / "idp.db").exists()

    # `idp ciba` against the running provider: the person approves on their phone.
    ciba = subprocess.Popen(
        [str(installed.bin / "idp"), "ciba", "--issuer", base, "--personal-number", ANNA,
         "--message", "Wheel test"],
        cwd=installed.home, env=installed.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = httpx.post(
                f"{base}/bankid-simulator/app/phone",
                json={"personalNumber": ANNA, "action": "approve"},
                timeout=10,
            )
            if r.status_code == 200:
                break
            time.sleep(0.2)  # until the order has reached the simulator
        assert r.status_code == 200, r.text
        out, err = ciba.communicate(timeout=60)
    finally:
        if ciba.poll() is None:
            ciba.kill()
            ciba.wait()
    assert ciba.returncode == 0, err
    assert "Anna Andersson" in out


def test_the_standalone_simulator(installed):
    port = _free_port()
    log = installed.home / "simulator.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(installed.bin / "idp"), "simulator", "--port", str(port)],
            cwd=installed.home, env=installed.env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline, page = time.monotonic() + 30, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", params={"lang": "en"}, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert page is not None and page.status_code == 200, log.read_text()
        assert "BankID simulator" in page.text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def _configured(installed: Installed, database_url: str) -> Path:
    path = installed.home / f"idp-{abs(hash(database_url)) % 10**8}.yaml"
    port = _free_port()
    path.write_text(
        yaml.safe_dump(
            {
                "issuer": f"http://127.0.0.1:{port}",
                "database_url": database_url,
                "secret_key": "wheel-test-secret-key-0123456789abcdef",
                "bankid": {"environment": "simulator"},
                "clients": [
                    {
                        "client_id": "app",
                        "client_secret": "app-secret-0123456789",
                        "redirect_uris": ["https://app.example/cb"],
                        "scope": "openid profile",
                    }
                ],
            }
        )
    )
    return path


def _serve_configured(installed: Installed, serve, config: Path) -> None:
    issuer = yaml.safe_load(config.read_text())["issuer"]
    # On a fresh database, serve refuses in one line until the schema is there.
    refused = installed.idp("serve", "--config", config, "--port", "9", check=False, timeout=60)
    assert refused.returncode == 2 and "idp db upgrade" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    assert "latest schema" in installed.idp("db", "upgrade", "--config", config).stdout
    assert "OK" in installed.idp("check-config", config).stdout
    assert installed.idp("keys", "rotate", "--config", config).stdout.count("new key") >= 1
    assert "pending" in installed.idp("keys", "list", "--config", config).stdout
    server = serve("--config", config, port=int(issuer.rsplit(":", 1)[1]))
    doc = httpx.get(f"{server.base}/.well-known/openid-configuration").json()
    assert doc["issuer"] == issuer
    assert len(httpx.get(f"{server.base}/jwks").json()["keys"]) >= 2


def test_configured_on_a_fresh_sqlite_file(installed, serve):
    config = _configured(installed, f"sqlite:///{installed.home}/configured.db")
    _serve_configured(installed, serve, config)


@pytest.mark.postgres
def test_configured_on_a_fresh_postgresql_database(installed, serve, postgres_url):
    _serve_configured(installed, serve, _configured(installed, postgres_url))


def test_check_config_on_the_example_file_with_python_dash_m(installed):
    env = {
        **installed.env,
        "DB_PASSWORD": "db-password",
        "IDP_SECRET_KEY": "example-secret-key-0123456789abcdef0123",
        "BANKID_P12_PASSWORD": "qwerty123",
        "WEBSHOP_SECRET": "webshop-secret-0123456789",
        "CS_SECRET": "cs-secret-0123456789abcdef",
    }
    out = subprocess.run(
        [installed.python, "-m", "idp", "check-config", ROOT / "examples" / "idp.yaml"],
        cwd=installed.home, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "Traceback" not in out.stderr
    # The example names a production certificate file that is not on this machine: every
    # other part of it is valid, and that one problem is reported with its path.
    assert out.returncode == 2, out.stderr
    assert "1 problem(s)" in out.stderr, out.stderr
    assert "idp.yaml: bankid.certificate: cannot read /run/secrets/bankid-rp.p12" in out.stderr


def test_console_staff_hash_and_sessions_revoke_run_from_the_install(installed):
    """The two commands of the console and of ending sessions, from an empty folder."""
    import hmac as hmac_mod
    from hashlib import sha256

    key = "staff-key-0123456789abcdef"
    config = installed.home / "console.yaml"
    config.write_text(
        yaml.safe_dump({"issuer": "http://127.0.0.1:9", "console": {"staff_key": key}}),
        encoding="utf-8",
    )
    out = installed.idp("console-staff-hash", "--config", config, input="19850101-2382\n")
    digest = hmac_mod.new(key.encode(), b"198501012382", sha256).hexdigest()
    assert out.stdout.strip() == f"personal_number_hmac: hmac-sha256:{digest}", out.stdout
    assert "198501012382" not in out.stdout + out.stderr
    # Without a shared store there are no sessions to reach from outside the serving process.
    out = installed.idp("sessions", "revoke", "--config", config, "--sub", "x", check=False)
    assert out.returncode == 2 and "redis_url" in out.stderr, out
    assert "Traceback" not in out.stderr


def test_a_broken_install_says_what_is_missing_in_one_line(installed):
    """Last in the module: it takes a folder away from the install, then puts it back."""
    site = Path(
        subprocess.run(
            [installed.python, "-c", "import idp, os; print(os.path.dirname(idp.__file__))"],
            cwd=installed.home, env=installed.env, capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    migrations = site / "migrations"
    migrations.rename(site / "migrations-away")
    try:
        for argv in (["serve", "--port", "9"], ["db", "upgrade"]):
            out = installed.idp(*argv, check=False, timeout=60)
            assert out.returncode == 1, out
            assert out.stderr.strip().count("\n") == 0, out.stderr
            assert "Traceback" not in out.stderr
            assert "no migrations" in out.stderr and "reinstall" in out.stderr
    finally:
        (site / "migrations-away").rename(migrations)


def test_evidence_verify_runs_from_the_install(installed):
    """`idp evidence verify` finds BankID's roots and the simulator's CA inside the install."""
    make = (
        "import base64, json, random, time\n"
        "from idp.bankid.simulator.evidence import EvidenceFactory\n"
        "from idp.bankid.simulator.persons import person_for\n"
        "sig, ocsp = EvidenceFactory(random.Random(1)).signature(\n"
        "    person_for('198501012382'), time.time(),\n"
        "    user_visible_data=base64.b64encode('Jag godkänner.'.encode()).decode(),\n"
        "    user_non_visible_data=None, visible_format=None, function='Signing')\n"
        "print(json.dumps({'userSignature': sig, 'authnEvidence': ocsp}))\n"
    )
    evidence = subprocess.run(
        [installed.python, "-c", make],
        cwd=installed.home, env=installed.env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    ok = subprocess.run(
        [installed.bin / "idp", "evidence", "verify", "-", "--expect-text", "Jag godkänner."],
        input=evidence, cwd=installed.home, env=installed.env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "Jag godkänner." in ok.stdout and "OK" in ok.stdout
    wrong = subprocess.run(
        [installed.bin / "idp", "evidence", "verify", "-", "--environment", "production"],
        input=evidence, cwd=installed.home, env=installed.env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
