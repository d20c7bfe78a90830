"""Graceful shutdown: SIGTERM while a request is in flight (a slow BankID call) lets it finish
with its ordinary answer, then the process stops; new connections are no longer accepted."""

from __future__ import annotations

import signal
import sys
import threading
import time

import httpx
import pytest
import yaml

from tests.scaleout.people import Browser, start_form
from tests.scaleout.processes import (
    RP_SECRET,
    Instance,
    Process,
    free_port,
    migrate,
    wait_until,
)

pytestmark = pytest.mark.scaleout

SLOW_SIMULATOR = """
import pathlib, sys
from idp.bankid.simulator import Fault, create_simulator_app, serve_simulator
slow = create_simulator_app(fault_rate=1.0, faults=(Fault.SLOW,), slow_delay=3.0)
arrived = pathlib.Path(sys.argv[2])

async def app(scope, receive, send):  # notes that an order request arrived, then is slow
    if scope["type"] == "http" and scope["path"].endswith("/auth"):
        arrived.touch()
    await slow(scope, receive, send)

serve_simulator("127.0.0.1", int(sys.argv[1]), app=app, log_level="warning")
"""


@pytest.fixture
def slow_bankid(tmp_path):
    port = free_port()
    arrived = tmp_path / "order-arrived"
    sim = Process("slow-simulator", [sys.executable, "-c", SLOW_SIMULATOR, str(port), str(arrived)],
                  tmp_path / "slow-simulator.log")  # fmt: skip
    sim.start()

    def up():
        try:
            return httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return not sim.running

    wait_until(up, 30, "the slow simulator")
    yield f"http://127.0.0.1:{port}", arrived
    sim.stop()


class OneInstance:
    """The fleet interface Browser needs, for one instance on SQLite and in-process state."""

    def __init__(self, tmp_path, bankid_url):
        self.issuer = f"http://localhost:{free_port()}"
        self.path = tmp_path / "idp.yaml"
        self.path.write_text(
            yaml.safe_dump(
                {
                    "issuer": self.issuer,
                    "database_url": f"sqlite:///{tmp_path}/idp.db",
                    "bankid": {
                        "environment": "simulator",
                        "base_url": f"{bankid_url}/rp/v6.0/",
                        "timeout_seconds": 10,
                    },
                    "clients": [
                        {
                            "client_id": "rp",
                            "client_secret": RP_SECRET,
                            "redirect_uris": ["http://127.0.0.1:9/cb"],
                            "scope": "openid profile",
                        }
                    ],
                }
            )
        )
        migrate(f"sqlite:///{tmp_path}/idp.db", tmp_path)
        self.instance = Instance("a", self.path, tmp_path)

    def url(self, name, path=""):
        return self.instance.url + (
            path[len(self.issuer) :] if path.startswith(self.issuer) else path
        )


def test_sigterm_lets_the_request_in_flight_finish(tmp_path, slow_bankid, log_check):
    bankid_url, order_arrived = slow_bankid
    one = OneInstance(tmp_path, bankid_url)
    one.instance.start()
    one.instance.wait_healthy()
    browser = Browser(one)
    first = browser.authorize("a")
    answers = []

    def start_login():  # POST /bankid/start starts the order: BankID takes 3 s to answer
        page = browser.get("a", first.headers["location"])
        started = time.monotonic()
        r = browser.post("a", "/bankid/start", data=start_form(page.text))
        answers.append((r.status_code, r.headers.get("location", ""), time.monotonic() - started))

    worker = threading.Thread(target=start_login)
    worker.start()
    # SIGTERM once the instance is inside the request: its order reached BankID, which answers
    # only after 3 s.
    wait_until(order_arrived.exists, 20, "the order to reach the slow BankID")
    one.instance.process.signal(signal.SIGTERM)
    worker.join(timeout=30)
    code = one.instance.process.wait(30)
    browser.close()

    ((status, location, took),) = answers
    assert status == 303 and location.startswith("/bankid/wait?txn=")  # its ordinary answer
    assert took >= 2.5  # it really was in flight while the process was told to stop
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
    log = one.instance.process.text()
    assert "Shutting down" in log and "Finished server process" in log
    assert "Traceback" not in log
    for line in log.splitlines():
        log_check.check_line("idp-a.log", line)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{one.instance.url}/healthz", timeout=2)
