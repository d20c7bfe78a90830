"""Acceptance 4 of issue 17: the console uses only the provider's public HTTP interfaces.

Provider B is `idp serve` in a process of its own, with the console's client entry and the
BankID simulator. App A runs the console (uvicorn, real sockets) with
``console.provider_url`` naming B, and has no console client of its own: a shortcut to A's own
internals (its registry, its CIBA service, its simulator) would find nothing. A staff member
signs in in Chromium through B's authorization endpoint and B's simulator, asks for a caller,
the caller approves at B's simulator (/app/phone), A's console shows the verified name, and
A's history lists the request from B's CIBA audit endpoint."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.bankid_web.live import launch_chromium, need_browser_tools, new_browser_page
from tests.ciba.harness import BJORN
from tests.console.harness import ANNA
from tests.console.live import (
    LiveConsole,
    app_call,
    ask,
    console_entry,
    console_staff,
    free_port,
    live_settings,
    sign_in,
)
from tests.scaleout.processes import Process, healthy, wait_until

pytestmark = pytest.mark.browser

IDP = str(Path(sys.executable).parent / "idp")


class ProviderProcess:
    """`idp serve --config` for provider B, on a free port, its output in a log file."""

    def __init__(self, directory: Path, console_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        raw = live_settings(
            self.url,
            f"sqlite:///{directory}/b.db",
            console=None,
            clients=[console_entry(console_url)],
            secret_key=secrets.token_urlsafe(32),
        )
        self.config = directory / "b.yaml"
        self.config.write_text(yaml.safe_dump(raw))
        env = {k: v for k, v in os.environ.items() if k != "IDP_CONFIG"}
        migrate = subprocess.run(
            [IDP, "db", "upgrade", "--config", str(self.config)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        argv = [IDP, "serve", "--config", str(self.config), "--port", str(self.port)]
        self.process = Process("provider-b", argv, directory / "b.log", env)

    def __enter__(self) -> ProviderProcess:
        self.process.start()
        wait_until(lambda: healthy(self.url) or not self.process.running, 60, "provider B to start")
        assert self.process.running, self.process.text()[-3000:]
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stop()


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    """(A, B): A's console on B, in two processes."""
    need_browser_tools()
    tmp = tmp_path_factory.mktemp("second-provider")
    a_port = free_port()
    a_url = f"http://127.0.0.1:{a_port}"
    with ProviderProcess(tmp, a_url) as b:
        console = {**console_staff(operator=None), "provider_url": b.url}
        raw = live_settings(a_url, f"sqlite:///{tmp}/a.db", console=console, clients=[])
        with LiveConsole(tmp, raw, port=a_port) as a:
            yield a, b


def test_the_console_works_against_a_provider_in_another_process(two, tmp_path, log_check):
    a, b = two
    assert a.app.state.console.registry.client("console") is None  # A has no console client
    assert b.url != a.url
    with launch_chromium() as chromium:
        page = new_browser_page(chromium, "en", viewport={"width": 1280, "height": 800})
        try:
            sign_in(page, a.url, b.url, ANNA, tmp_path)  # through B's /authorize and simulator
            ask(page, BJORN, message="Case 4711")
            app_call(b.url, "phone", {"personalNumber": BJORN})  # B's simulator: the caller's app
            page.locator("#verified-name").wait_for()
            assert page.locator("#verified-name").inner_text() == "Björn Berglund"
            reference = page.locator("#verified-reference").inner_text()

            page.goto(f"{a.url}/console/history")  # from B's audit endpoint
            row = page.locator("#history tbody tr").first
            row.wait_for()
            assert reference in row.inner_text()
            assert page.locator("#history tbody tr").count() == 1
        finally:
            page.context.close()
    # A's own BankID (its simulator) has no order for the caller: it all went to B.
    mine = httpx.post(
        f"{a.url}/bankid-simulator/app/phone", json={"personalNumber": BJORN}, timeout=10
    )
    assert mine.status_code == 404, mine.text
    # B's access log: the console called B's public endpoints, over HTTP.
    log = b.process.text()
    for call in (
        "GET /authorize 303",
        "POST /token 200",
        "POST /backchannel-authentication 200",
        "ciba tokens issued to client console",
        "POST /backchannel-authentication/audit 200",
    ):
        assert call in log, (call, log[-2000:])
    for line in log.splitlines():  # and no personal number or secret in it
        log_check.check_line("provider B (b.log)", line)


def test_the_provider_b_discovery_names_b(two):
    """A precondition of the test above: B is a provider of its own, not A."""
    a, b = two
    meta = httpx.get(f"{b.url}/.well-known/openid-configuration", timeout=10).json()
    assert meta["issuer"] == b.url != a.url
    assert "backchannel_authentication_audit_endpoint" in meta
