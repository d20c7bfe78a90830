"""A public (https) deployment never runs what only the embedded default and shared test
deployments may: the BankID simulator, the demo, the demo CIBA client; and the demo CIBA
client's secret is generated on first start, not a constant in the source."""

import os
import stat
import textwrap

import pytest

from idp.cli import main
from idp.config import DEMO_CIBA_CLIENT_ID, embedded_default

PUBLIC = textwrap.dedent(
    """\
    issuer: https://login.example.com
    bankid:
      environment: simulator
    demo:
      enabled: true
    clients:
      - client_id: demo-ciba
        client_secret: 0123456789abcdef0123456789abcdef
        grant_types: ["urn:openid:params:grant-type:ciba"]
        backchannel_token_delivery_mode: poll
        scope: openid profile
      - client_id: copied
        client_secret: demo-ciba-secret-of-the-embedded-default
        redirect_uris: [https://app.example.com/cb]
    """
)


@pytest.fixture
def public_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "idp.yaml"
    path.write_text(PUBLIC)
    return path


def test_check_config_and_serve_refuse_test_features_on_an_https_issuer(public_file, capsys):
    assert main(["check-config", str(public_file)]) == 2
    err = capsys.readouterr().err
    for where in ("bankid.environment", "demo.enabled", "clients[0]", "clients[1]"):
        assert f"{public_file}: {where}: " in err, err
    assert "test_deployment: true" in err
    assert main(["serve", "--config", str(public_file), "--port", "1"]) == 2
    assert f"{public_file}: bankid.environment: " in capsys.readouterr().err


def test_a_shared_test_deployment_says_so_and_passes(public_file, capsys):
    public_file.write_text("test_deployment: true\n" + PUBLIC)
    assert main(["check-config", str(public_file)]) == 0, capsys.readouterr().err
    assert "OK" in capsys.readouterr().out


def test_the_embedded_default_is_unaffected_and_its_demo_ciba_secret_is_generated(
    tmp_path, monkeypatch
):
    from idp.config import unsafe_deployment

    monkeypatch.chdir(tmp_path)
    settings = embedded_default()
    assert unsafe_deployment(settings) == []
    kept = tmp_path / "data" / "demo-ciba-secret"
    secret = kept.read_text().strip()
    assert len(secret) >= 32 and secret != "demo-ciba-secret-of-the-embedded-default"
    if os.name == "posix":
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    client = settings.client(DEMO_CIBA_CLIENT_ID)
    assert client is not None and client.client_secret is not None
    assert client.client_secret.verify(secret)
    assert not client.client_secret.verify("demo-ciba-secret-of-the-embedded-default")
    # The next start (and `idp ciba`) finds the same secret; another directory, another one.
    again = embedded_default().client(DEMO_CIBA_CLIENT_ID)
    assert again is not None and again.client_secret == client.client_secret
    monkeypatch.chdir(tmp_path / "data")
    other = embedded_default().client(DEMO_CIBA_CLIENT_ID)
    assert other is not None and other.client_secret != client.client_secret


def test_idp_ciba_reads_the_generated_secret_without_asking(tmp_path, monkeypatch, capsys):
    import idp.ciba.tryout as tryout

    monkeypatch.chdir(tmp_path)
    seen = {}

    def run(**kw):
        seen.update(kw)
        raise tryout.TryoutError("stopped here")

    monkeypatch.setattr(tryout, "run", run)
    monkeypatch.setattr("getpass.getpass", lambda *a: pytest.fail("asked for the secret"))
    assert main(["ciba", "--personal-number", "199001019802"]) == 1
    assert seen["client_id"] == DEMO_CIBA_CLIENT_ID
    assert seen["client_secret"] == (tmp_path / "data" / "demo-ciba-secret").read_text().strip()
