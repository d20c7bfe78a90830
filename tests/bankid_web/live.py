"""A live provider for the browser tests: uvicorn in a thread on 127.0.0.1, the system clock,
the in-process simulator; plus headless Chromium (Debian's, never downloaded), zbarimg and the
openid-client relying party."""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import uvicorn

from idp.app import create_app
from idp.config import parse_settings
from idp.store.db import make_engine
from idp.store.migrate import upgrade
from tests.bankid_web.support import RP_SECRET, client_settings
from tests.services import require_service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
RP_SCRIPT = Path(__file__).parent / "rp" / "login.mjs"
PAR_RP_SCRIPT = Path(__file__).parent / "rp" / "par_login.mjs"
SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"


def need_browser_tools() -> None:
    if not CHROMIUM.exists():
        require_service("Chromium", "not installed (apt-get install chromium)", where=str(CHROMIUM))
    if shutil.which("zbarimg") is None:
        require_service("zbarimg", "not installed (apt-get install zbar-tools)")


def need_node_rp() -> None:
    if shutil.which("node") is None:
        require_service("Node.js", "not installed (apt-get install nodejs)")
    if not (ROOT / "node_modules" / "openid-client" / "package.json").exists():
        require_service("openid-client", "not installed (npm ci)", where=str(ROOT / "node_modules"))


class _AppCallback(BaseHTTPRequestHandler):
    """The relying party's redirect URI: a page to land on (the RP process reads the URL)."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>RP</title><p>The app's callback</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class LiveProvider:
    def __init__(
        self,
        tmp: Path,
        *,
        think_time: float = 3.0,
        extra_clients: Callable[[str], list[dict]] | None = None,
        extra_settings: dict | None = None,
    ) -> None:
        """`extra_clients(redirect_uri)`: more client entries, given the RP's callback URL;
        `extra_settings`: more top-level configuration (e.g. `branding`)."""
        self.rp_server = ThreadingHTTPServer(("127.0.0.1", 0), _AppCallback)
        self.rp_callback = f"http://127.0.0.1:{self.rp_server.server_address[1]}/cb"
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        database = f"sqlite:///{tmp}/idp.db"
        engine = make_engine(database)
        upgrade(engine)
        engine.dispose()
        demo = {
            "client_id": "demo",
            "client_name": "Demo app",
            "token_endpoint_auth_method": "none",
            "redirect_uris": [f"{self.url}/demo/callback"],
            "post_logout_redirect_uris": [f"{self.url}/demo"],
            "scope": "openid profile ssn bankid_evidence",
        }
        self.settings = parse_settings(
            {
                "issuer": self.url,
                "database_url": database,
                "bankid": {"simulator": {"think_time_seconds": think_time}},
                "demo": {"enabled": True},
                # Every browser here comes from 127.0.0.1 and the same few test persons log in
                # again and again: the per-address and per-person limits have their own tests
                # (test_rate_limit_answers, the two-instance test).
                "limits": {
                    "per_person": {"count": 100_000},
                    "authorize_per_address": {"count": 100_000},
                    "bankid_start_per_address": {"count": 100_000},
                    "pending_logins_per_address": 100_000,
                },
                "clients": [
                    *client_settings(self.rp_callback),
                    demo,
                    *(extra_clients(self.rp_callback) if extra_clients else []),
                ],
                **(extra_settings or {}),
            },
            source="browser-tests",
            environ={},
        )
        self.app = create_app(self.settings)
        # Leave the process's logging alone (no dictConfig, no logger levels): other tests
        # configure and inspect it.
        config = uvicorn.Config(
            self.app, log_config=None, log_level=None, access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )

    def __enter__(self) -> LiveProvider:
        threading.Thread(target=self.rp_server.serve_forever, daemon=True).start()
        self.thread.start()
        ready = threading.Event()
        for _ in range(1000):
            if self.server.started:
                break
            ready.wait(0.01)
        assert self.server.started, "the provider did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()
        self.rp_server.shutdown()
        self.rp_server.server_close()

    def phone(self, path: str, body: dict) -> dict:
        """The person's BankID app: the simulator's user app API."""
        r = httpx.post(f"{self.url}/bankid-simulator/app/{path}", json=body, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()


class RelyingParty:
    """tests/bankid_web/rp/login.mjs: openid-client v6 builds the request and checks the result."""

    def __init__(self, live: LiveProvider, *, acr_values: str, ui_locales: str) -> None:
        config = {
            "issuer": live.url,
            "client_id": "rp",
            "client_secret": RP_SECRET,
            "redirect_uri": live.rp_callback,
            "scope": "openid profile ssn bankid_evidence",
            "acr_values": acr_values,
            "ui_locales": ui_locales,
        }
        self.proc = subprocess.Popen(
            ["node", str(RP_SCRIPT), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            raise AssertionError(f"the relying party died: {self.proc.stderr.read()}")  # type: ignore[union-attr]
        return json.loads(line)

    def authorization_url(self) -> str:
        message = self._read()
        assert "authorize" in message, message
        return message["authorize"]

    def callback(self, url: str) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(url + "\n")
        self.proc.stdin.flush()
        message = self._read()
        self.proc.wait(timeout=10)
        assert "result" in message, message
        return message["result"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


class ScriptedRelyingParty(RelyingParty):
    """tests/bankid_web/rp/par_login.mjs (oauth4webapi or openid-client, with PAR): `config` is
    the script's JSON argument. `first()` is its first message: {"authorize", "pushed"}, or
    {"fatal"} when the library or the provider refused the pushed request."""

    def __init__(self, config: dict, script: Path = PAR_RP_SCRIPT) -> None:
        self.proc = subprocess.Popen(
            ["node", str(script), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.pushed: dict = {}

    def first(self) -> dict:
        message = self._read()
        self.pushed = message.get("pushed", {})
        return message

    def authorization_url(self) -> str:
        message = self.first()
        assert "authorize" in message, message
        return message["authorize"]

    def finish(self, url: str) -> dict:
        """The script's last message for the callback `url`: {"result"} or {"fatal"}."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(url + "\n")
        self.proc.stdin.flush()
        message = self._read()
        self.proc.wait(timeout=10)
        return message


def decode_qr(png: Path) -> str:
    """Read the QR code from a screenshot, as a phone camera would."""
    out = subprocess.run(
        ["zbarimg", "--raw", "-q", str(png)],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert out.returncode == 0, (out.returncode, out.stderr)
    return out.stdout.strip().splitlines()[0]


@contextlib.contextmanager
def launch_chromium() -> Iterator[object]:
    """Debian's Chromium through Playwright: explicit executable, headless, no sandbox."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def new_browser_page(chromium, lang: str, **context_options):
    """A page in a fresh context in `lang`; the BankID app's universal links go nowhere."""
    context = chromium.new_context(locale="sv-SE" if lang == "sv" else "en-GB", **context_options)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.route("https://app.bankid.com/**", lambda route: route.abort())
    return page


def read_qr(page, tmp_path: Path) -> str:
    """The QR code on the page, read from a screenshot as a phone camera would."""
    page.wait_for_function(  # drawn by the page's script (an <svg>), not the server's <img>
        "() => { const i = document.getElementById('qr-img');"
        " return i && i.tagName.toLowerCase() === 'svg' && i.querySelector('path[d^=M]')"
        " && i.getBoundingClientRect().width > 0; }"
    )
    png = tmp_path / f"qr-{secrets.token_hex(4)}.png"
    page.locator("#qr-img").screenshot(path=str(png))
    return decode_qr(png)
