"""`idp ciba`: an operator starts a backchannel login from the command line against a running
provider and sees the verified result."""

import threading
import time

import httpx
import pytest

from idp.cli import main
from idp.config import CIBA_GRANT, DEMO_CIBA_CLIENT_ID, embedded_default
from tests.ciba.harness import BJORN, SECRETS


def approve_when_pending(issuer, person, action="approve", deadline=20):
    """The person's BankID app: act as soon as the phone order exists."""
    started = time.monotonic()
    while time.monotonic() - started < deadline:
        r = httpx.post(
            f"{issuer}/bankid-simulator/app/phone",
            json={"personalNumber": person, "action": action},
        )
        if r.status_code == 200:
            return
        assert r.json()["error"] == "no_pending_order", r.text
        time.sleep(0.05)
    raise AssertionError("no phone order appeared")


def run_cli(argv):
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("code", main(argv)))
    thread.start()
    return thread, result


def test_idp_ciba_shows_the_verified_person(live_provider, tmp_path, capsys):
    secret = tmp_path / "secret"
    secret.write_text(SECRETS["cs-poll"] + "\n")
    argv = [
        "ciba", "--issuer", live_provider, "--client-id", "cs-poll",
        "--client-secret-file", str(secret), "--personal-number", BJORN,
        "--message", "Kundtjänst ärende 12",
    ]  # fmt: skip
    thread, result = run_cli(argv)
    approve_when_pending(live_provider, BJORN)
    thread.join(timeout=30)
    assert result.get("code") == 0
    out = capsys.readouterr().out
    assert "Verified:" in out and "Björn Berglund" in out
    assert "urn:grn:authn:se:bankid:phone" in out
    assert "the personal number is the one you asked for" in out
    assert BJORN not in out and BJORN[2:] not in out


def test_idp_ciba_reports_a_declined_call(live_provider, tmp_path, capsys):
    secret = tmp_path / "secret"
    secret.write_text(SECRETS["cs-poll"])
    argv = [
        "ciba", "--issuer", live_provider, "--client-id", "cs-poll",
        "--client-secret-file", str(secret), "--personal-number", BJORN,
    ]  # fmt: skip
    thread, result = run_cli(argv)
    approve_when_pending(live_provider, BJORN, "decline_call")
    thread.join(timeout=30)
    assert result.get("code") == 1
    err = capsys.readouterr().err
    assert "Not verified" in err and "access_denied" in err and BJORN not in err


def test_idp_ciba_refusal_is_reported(live_provider, tmp_path, capsys):
    secret = tmp_path / "secret"
    secret.write_text("wrong-secret-0123456789")
    code = main(
        ["ciba", "--issuer", live_provider, "--client-id", "cs-poll",
         "--client-secret-file", str(secret), "--personal-number", BJORN]
    )  # fmt: skip
    assert code == 1
    assert "invalid_client" in capsys.readouterr().err


def test_the_embedded_default_has_a_customer_service_client_for_idp_ciba():
    client = embedded_default().client(DEMO_CIBA_CLIENT_ID)
    assert client is not None and CIBA_GRANT in client.grant_types
    assert client.backchannel_token_delivery_mode == "poll"
    assert not client.is_public


def test_idp_ciba_help(capsys):
    with pytest.raises(SystemExit):
        main(["ciba", "--help"])
    assert "--personal-number" in capsys.readouterr().out
