"""Acceptance 1: npm openid-client v6 (initiateBackchannelAuthentication,
pollBackchannelAuthenticationGrant) against the provider running under uvicorn on loopback;
the person approves through the simulator's /app/phone; the ID token validates and names the
right person."""

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import jwt
import pytest

from tests.ciba.harness import BJORN, CIBA, SECRETS
from tests.services import require_service

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "rp" / "ciba.mjs"
DEADLINE = 60


def node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        require_service("Node.js", "no `node` on PATH")
    if not (ROOT / "node_modules" / "openid-client" / "package.json").is_file():
        require_service("openid-client", "node_modules/openid-client is missing (run `npm ci`)")
    return node


def test_openid_client_ciba_poll_mode(live_provider):
    node = node_or_skip()
    issuer = live_provider
    config = {
        "issuer": issuer,
        "client_id": "cs-poll",
        "client_secret": SECRETS["cs-poll"],
        "scope": "openid profile ssn",
        "login_hint": BJORN,
        "binding_message": "Kundtjänst 4711",
    }
    proc = subprocess.Popen(
        [node, str(SCRIPT), json.dumps(config)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(DEADLINE, proc.kill)
    watchdog.start()
    messages = []
    try:
        for line in proc.stdout:
            message = json.loads(line)
            messages.append(message)
            if "ack" in message:
                # The person confirms the call and the message in their BankID app.
                r = httpx.post(
                    f"{issuer}/bankid-simulator/app/phone",
                    json={"personalNumber": BJORN, "action": "approve"},
                )
                assert r.status_code == 200, r.text
                proc.stdin.write("approved\n")
                proc.stdin.flush()
            else:
                break
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.wait(timeout=10)
        stderr = proc.stderr.read()
        for stream in (proc.stdout, proc.stderr, proc.stdin):
            stream.close()
    assert messages and "result" in messages[-1], (messages, stderr)
    ack = messages[0]["ack"]
    assert ack["expires_in"] == 120 and ack["interval"] == 1
    result = messages[-1]["result"]
    assert result["discovery"] == {
        "backchannel_authentication_endpoint": issuer + "/backchannel-authentication",
        "backchannel_token_delivery_modes_supported": ["poll", "ping"],
        "grant_types_supported": result["discovery"]["grant_types_supported"],
    }
    assert CIBA in result["discovery"]["grant_types_supported"]

    # The ID token, validated here too: signature against /jwks, issuer, audience, lifetime.
    id_token = result["tokens"]["id_token"]
    header = jwt.get_unverified_header(id_token)
    jwks = httpx.get(f"{issuer}/jwks").json()
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    claims = jwt.decode(
        id_token,
        jwt.PyJWK(jwk, algorithm=header["alg"]).key,
        algorithms=[header["alg"]],
        audience="cs-poll",
        issuer=issuer,
    )
    assert claims == result["claims"]
    assert claims["name"] == "Björn Berglund" and claims["ssn"] == BJORN
    assert claims["acr"] == "urn:grn:authn:se:bankid:phone"
    assert claims["sub"] != BJORN and abs(claims["auth_time"] - time.time()) < 30
    assert result["tokens"]["token_type"].lower() == "bearer"
    assert "refresh_token" in result["tokens"]
