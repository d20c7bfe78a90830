"""An independent, certified relying party (npm openid-client v6) drives the whole flow.

The provider runs for real under uvicorn on a loopback port (issuer http://127.0.0.1:PORT) with
the fake authenticator; tests/oidc/rp/flow.mjs is the client; this test is the browser: it
follows the authorization URL the script prints through the fake login and hands the callback
URL back on the script's stdin.
"""

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from idp.app import create_app
from idp.clock import SystemClock
from idp.config import parse_settings
from idp.store.db import make_engine
from idp.store.memory import MemoryTTLStore
from idp.store.migrate import upgrade
from tests.oidc.conftest import client_entries
from tests.oidc.fake_authn import FakeAuthenticator
from tests.oidc.harness import LOGGED_OUT, PERSON, PUBLIC_CB, RP_CB, SECRETS, pkce_pair, query
from tests.services import require_service

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "rp" / "flow.mjs"
DEADLINE = 60  # seconds for the whole conversation with the script


def node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        require_service("Node.js", "no `node` on PATH (scripts/ensure-test-deps installs it)")
    if not (ROOT / "node_modules" / "openid-client" / "package.json").is_file():
        require_service(
            "openid-client", "node_modules/openid-client is missing (run `npm ci`)",
            where=str(ROOT / "node_modules"),
        )
    return node


@pytest.fixture
def live_provider(sqlite_url, client_jwks):
    """The real app under uvicorn in a background thread, on a free loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    issuer = f"http://127.0.0.1:{port}"
    engine = make_engine(sqlite_url)
    upgrade(engine)
    engine.dispose()
    settings = parse_settings(
        {"issuer": issuer, "database_url": sqlite_url, "clients": client_entries(client_jwks)},
        source="test",
        environ={},
    )
    clock = SystemClock()
    app = create_app(
        settings, clock=clock, store=MemoryTTLStore(clock),
        authenticator=lambda handoff: FakeAuthenticator(handoff, clock),
    )
    server = uvicorn.Server(uvicorn.Config(
        app, log_config=None, lifespan="on", ws="none", http="h11", access_log=False,
    ))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = time.monotonic()
    while not server.started:  # waiting for a real server to bind, not protocol time
        assert thread.is_alive() and time.monotonic() - started < 20, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield issuer
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class Browser:
    """Follows redirects by hand like a browser, logging in at the fake authenticator."""

    def __init__(self, issuer):
        self.issuer = issuer
        self.http = httpx.Client(base_url=issuer, timeout=10)
        self.cookies: dict[str, str] = {}
        self.visited: list[tuple[str, str, int]] = []

    def _remember(self, r):
        # http.cookiejar never returns `Secure` cookies over http, but browsers treat loopback
        # as a secure context (so __Host- cookies work on http://127.0.0.1): keep them by hand.
        for header in r.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in header.lower() or not value:
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value

    def request(self, method, url, **kw):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        r = self.http.request(method, url, headers=headers, **kw)
        self._remember(r)
        self.visited.append((method, str(r.url), r.status_code))
        return r

    def follow(self, url, stop_at):
        """Walk the redirects from `url` until one leaves for `stop_at`; returns that URL."""
        r = self.request("GET", url)
        for _ in range(10):
            assert r.status_code in (302, 303), (r.status_code, r.text[:300], self.visited)
            loc = r.headers["location"]
            if loc.startswith(stop_at):
                return loc
            if loc.startswith("/fake/login"):
                form = {"txn": query(loc)["txn"], "action": "approve", "subject": "person-1",
                        **PERSON}
                r = self.request("POST", "/fake/login", data=form)
            else:
                r = self.request("GET", loc)
        raise AssertionError(f"too many redirects: {self.visited}")


def converse(node, config, browser):
    proc = subprocess.Popen(
        [node, str(SCRIPT), json.dumps(config)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(DEADLINE, proc.kill)
    watchdog.start()
    transcript = []
    logged_out = {}
    try:
        for line in proc.stdout:
            message = json.loads(line)
            transcript.append(message)
            if "authorize" in message:
                redirect = next(c["redirect_uri"] for c in config["clients"]
                                if c["client_id"] == message["client_id"])
                answer = browser.follow(message["authorize"], redirect)
            elif "logout" in message:
                r = browser.request("GET", message["logout"])
                answer = r.headers.get("location", f"status {r.status_code}")
                # Right after the logout, silent authentication in this browser must fail.
                silent = browser.request("GET", "/authorize", params=silent_params())
                logged_out[message["client_id"]] = silent.headers.get("location", "")
            elif "result" in message:
                for result in message["result"]:
                    result["silent_after_logout"] = logged_out.get(result["client_id"])
                return message["result"]
            else:
                raise AssertionError(f"the RP script failed: {json.dumps(message, indent=1)}")
            proc.stdin.write(answer + "\n")
            proc.stdin.flush()
        raise AssertionError(f"the RP script ended early: {transcript} {proc.stderr.read()}")
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
        proc.stdin.close()


def test_openid_client_drives_the_whole_flow(live_provider):
    node = node_or_skip()
    issuer = live_provider
    config = {
        "issuer": issuer,
        "clients": [
            {"client_id": "confidential", "client_secret": SECRETS["confidential"],
             "auth": "client_secret_basic", "redirect_uri": RP_CB,
             "post_logout_redirect_uri": LOGGED_OUT, "negatives": True},
            {"client_id": "public", "auth": "none", "redirect_uri": PUBLIC_CB},
        ],
    }
    browser = Browser(issuer)
    try:
        confidential, public = converse(node, config, browser)
        # The public client ran after the confidential one's logout and logged in anew: this
        # browser has a session again, so silent authentication works.
        silent = browser.request("GET", "/authorize", params=silent_params())
        assert "code" in query(silent.headers["location"]), silent.headers["location"]
    finally:
        browser.http.close()

    # Discovery, as the library read it.
    assert confidential["discovery"]["issuer"] == issuer
    assert confidential["discovery"]["code_challenge_methods_supported"] == ["S256"]
    assert confidential["discovery"]["authorization_response_iss_parameter_supported"] is True

    for result, client_id in ((confidential, "confidential"), (public, "public")):
        sent = query(result["authorization_url"])
        assert sent["code_challenge_method"] == "S256" and sent["state"] and sent["nonce"]
        assert query(result["callback"])["iss"] == issuer
        token = result["token"]
        assert token["token_type"].lower() == "bearer" and token["has_refresh_token"]
        claims = token["id_token_claims"]
        assert claims["iss"] == issuer and claims["aud"] in (client_id, [client_id])
        assert claims["nonce"] == sent["nonce"]
        assert result["userinfo"]["sub"] == claims["sub"]
        assert result["userinfo"]["name"] == PERSON["claim_name"]
        assert result["userinfo_wrong_subject"]["rejected"] is True
        assert result["refresh"]["rotated"] and result["refresh"]["new_access_token"]
        assert result["refresh"]["sub"] in (None, claims["sub"])
        reuse = result["old_refresh_token_reuse"]
        assert reuse["rejected"] and reuse["error"] == "invalid_grant", reuse
        family = result["newest_refresh_token_after_reuse"]
        assert family["rejected"] and family["error"] == "invalid_grant", family

    # The library refuses a callback with a wrong state, a missing iss or a wrong iss, itself,
    # before the code goes anywhere (the exchange below then works with the same code).
    for case, about in (("wrong_state", "state"), ("missing_iss", "iss"), ("wrong_iss", "iss")):
        negative = confidential["negatives"][case]
        assert negative["rejected"] is True, (case, negative)
        assert negative["name"] != "ResponseBodyError", (case, negative)
        assert about in (negative["cause"] or negative["message"]), (case, negative)

    logout = confidential["logout"]
    assert query(logout["url"])["id_token_hint"]
    assert logout["landed"] == f"{LOGGED_OUT}?state={logout['state']}", logout

    assert "login_required" in confidential["silent_after_logout"], confidential

    live = confidential["introspection"]
    assert not live["rejected"], live
    assert live["value"]["active"] is True and live["value"]["client_id"] == "confidential"
    assert confidential["revocation"]["rejected"] is False, confidential["revocation"]
    after = confidential["introspection_after_revocation"]
    assert not after["rejected"] and after["value"]["active"] is False, after


def silent_params():
    _, challenge = pkce_pair()
    return {"response_type": "code", "client_id": "confidential", "redirect_uri": RP_CB,
            "scope": "openid", "prompt": "none", "code_challenge": challenge,
            "code_challenge_method": "S256", "state": "silent"}


def test_node_skip_logic_names_what_is_missing(monkeypatch):
    """Without node, the test is skipped with a reason, or fails when services are required."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("IDP_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"Node\.js"):
        node_or_skip()
    monkeypatch.setenv("IDP_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match=r"Node\.js"):
        node_or_skip()
    assert os.environ["IDP_REQUIRE_SERVICES"] == "1"
