"""The console in a real browser: a live provider (uvicorn in a thread on 127.0.0.1) with the
console enabled and a clock that runs with the system clock but that a test can move forward
(expiry without waiting), and the steps a staff member takes in Chromium."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from idp.app import create_app
from idp.config import parse_settings, staff_hmac
from idp.store.db import make_engine
from idp.store.migrate import upgrade
from tests.bankid_web.live import read_qr
from tests.bankid_web.support import simulator_book
from tests.console.harness import (
    ANNA,
    CECILIA,
    CONSOLE_SECRET,
    STAFF_KEY,
    console_block,
    console_client,
)


class ShiftedClock:
    """The system clock plus an offset a test may advance: live pages keep their real timers,
    and a request can still expire at once."""

    def __init__(self) -> None:
        self.offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.offset += seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def console_staff(*, operator: str | None = CECILIA) -> dict[str, Any]:
    """The console block: Anna is staff, `operator` an operator."""
    operators = []
    if operator is not None:
        mac = staff_hmac(STAFF_KEY, operator)
        operators = [{"personal_number_hmac": mac, "name": "Cecilia Carlsson"}]
    return console_block(
        staff=[{"personal_number_hmac": staff_hmac(STAFF_KEY, ANNA), "name": "Anna Andersson"}],
        operators=operators,
    )


def live_settings(
    url: str,
    database_url: str,
    *,
    console: dict[str, Any] | None,
    clients: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    """A browser-test provider's raw configuration at `url`: the simulator without think time,
    limits no test here reaches, CIBA polled once a second."""
    raw: dict[str, Any] = {
        "issuer": url,
        "database_url": database_url,
        "bankid": {"simulator": {"think_time_seconds": 0}},
        "limits": {
            "per_person": {"count": 100_000},
            "authorize_per_address": {"count": 100_000},
            "bankid_start_per_address": {"count": 100_000},
            "pending_logins_per_address": 100_000,
        },
        "ciba": {"expires_in_seconds": 120, "interval_seconds": 1},
        "clients": clients,
        **extra,
    }
    if console is not None:
        raw["console"] = console
    return raw


def console_entry(console_url: str) -> dict[str, Any]:
    """The console's client entry for a console at `console_url`."""
    return console_client(
        client_secret=CONSOLE_SECRET,
        redirect_uris=[f"{console_url}/console/callback"],
        post_logout_redirect_uris=[f"{console_url}/console/?out=1"],
    )


class LiveConsole:
    """A provider with the console, served by uvicorn in a thread (create_app in-process)."""

    def __init__(self, tmp: Path, raw: dict[str, Any] | None = None, port: int = 0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.clock = ShiftedClock()
        if raw is None:
            raw = live_settings(
                self.url,
                f"sqlite:///{tmp}/idp.db",
                console=console_staff(),
                clients=[console_entry(self.url)],
            )
        engine = make_engine(raw["database_url"])
        upgrade(engine)
        engine.dispose()
        self.settings = parse_settings(raw, source="console-browser-tests", environ={})
        self.app = create_app(self.settings, clock=self.clock)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            log_level=None,
            access_log=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveConsole:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "no live console"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def phone(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The person's BankID app: the simulator's user app API."""
        return app_call(self.url, path, body)

    @contextmanager
    def think_time(self, seconds: float) -> Iterator[None]:
        """The simulated person takes `seconds` in each step (so a state can be seen)."""
        book = simulator_book(self.app)
        before = book.settings
        book.settings = dataclasses.replace(before, think_time=seconds)
        try:
            yield
        finally:
            book.settings = before


def app_call(provider_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(f"{provider_url}/bankid-simulator/app/{path}", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


# ---------------------------------------------------------------------- a staff member's steps


def open_sign_in(page: Any, console_url: str) -> None:
    page.goto(f"{console_url}/console/")
    page.locator("#console-sign-in").wait_for()


def bankid_login(page: Any, provider_url: str, person: str, tmp_path: Path) -> None:
    """From the console's sign-in button through the provider's BankID page: the QR code (on a
    phone, the other way first) scanned by `person`'s app at the provider's simulator."""
    page.click("#console-sign-in")
    page.locator("#launch, #qr-img path[d^=M]").first.wait_for()
    if page.locator("button[value=qr]").count() and not page.locator("#qr-img").count():
        page.click("button[value=qr]")
    app_call(provider_url, "scan", {"qr": read_qr(page, tmp_path), "personalNumber": person})


def sign_in(page: Any, console_url: str, provider_url: str, person: str, tmp_path: Path) -> None:
    """Sign in to the console as `person` (staff): ends on the request form."""
    open_sign_in(page, console_url)
    bankid_login(page, provider_url, person, tmp_path)
    page.wait_for_url(f"{console_url}/console/")
    page.locator("#pnr").wait_for()


def ask(page: Any, pnr: str, message: str = "") -> str:
    """Send a request for `pnr` from the form; the request page's path."""
    page.fill("#pnr", pnr)
    if message:
        page.fill("#message", message)
    page.click("#send-request")
    page.locator("#request-state").wait_for()
    return str(page.url)


def wait_state(page: Any, *states: str) -> str:
    """Wait until the request page shows one of `states` (console.js follows it live)."""
    selector = ", ".join(f"#request-state[data-state={s}]" for s in states)
    page.locator(selector).wait_for()
    return str(page.locator("#request-state").get_attribute("data-state"))
