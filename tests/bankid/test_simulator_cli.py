"""`idp simulator --port N` serves the RP API and the user app standalone."""

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.foundation.test_quickstart import free_port

IDP = str(Path(sys.executable).parent / "idp")


def test_idp_simulator_serves_the_rp_api_and_the_app_api():
    port = free_port()
    proc = subprocess.Popen([IDP, "simulator", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        order = httpx.post(base + "/rp/v6.0/auth", json={"endUserIp": "127.0.0.1"}).json()
        assert {"orderRef", "autoStartToken", "qrStartToken", "qrStartSecret"} <= set(order)
        done = httpx.post(base + "/app/autostart",
                          json={"autoStartToken": order["autoStartToken"], "action": "approve"})
        assert done.status_code == 200, done.text
        bad = httpx.post(base + "/app/autostart", json={"autoStartToken": "nope"})
        assert bad.status_code >= 400 and {"error", "detail"} <= set(bad.json())
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
