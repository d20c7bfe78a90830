"""The console: block, checked with everything it depends on (`idp check-config` and `idp
serve` refuse contradictions), the embedded default's console, and `idp console-staff-hash`."""

import io

import pytest
import yaml

from idp.bankid.simulator.persons import DEFAULT_PERSON
from idp.cli import main
from idp.config import ConfigError, embedded_default, parse_settings, staff_hmac, unsafe_deployment
from idp.config.embedded import SIMULATOR_DEFAULT_PERSON
from tests.bankid_web.support import ISSUER
from tests.console.harness import ANNA, STAFF_KEY, console_block, console_client


def parse(console=None, clients=None, **extra):
    raw = {
        "issuer": ISSUER,
        "clients": clients if clients is not None else [console_client()],
        "console": console if console is not None else console_block(),
        **extra,
    }
    return parse_settings(raw, source="test", environ={})


def problems(**kw):
    with pytest.raises(ConfigError) as info:
        parse(**kw)
    return {i.path: i.message for i in info.value.issues}


def test_a_consistent_console_block_is_accepted():
    settings = parse()
    assert settings.console.enabled and settings.console.staff[0].name == "Anna Staff"


def test_the_console_is_off_by_default_and_then_nothing_is_checked():
    settings = parse_settings({"issuer": ISSUER}, source="test", environ={})
    assert not settings.console.enabled


@pytest.mark.parametrize(
    ("console", "clients", "path", "words"),
    [
        (console_block(staff=[], operators=[]), None, "console.staff", "lists no staff"),
        (console_block(client_id="nobody"), None, "console.client_id", "no client 'nobody'"),
        (
            None,
            [console_client(token_endpoint_auth_method="none", client_secret=None)],
            "console.client_id (console)",
            "client_secret_basic",
        ),
        (
            None,
            [
                console_client(
                    grant_types=["authorization_code"], backchannel_token_delivery_mode=None
                )
            ],
            "console.client_id (console)",
            "urn:openid:params:grant-type:ciba",
        ),
        (
            None,
            [console_client(redirect_uris=["https://elsewhere.example/cb"])],
            "console.client_id (console)",
            f"{ISSUER}/console/callback",
        ),
        (
            console_block(scopes="openid profile bankid_evidence"),
            None,
            "console.scopes",
            "bankid_evidence",
        ),
        (console_block(staff_key=None), None, "console.staff[0].personal_number_hmac", "staff_key"),
        (
            console_block(client_secret="another-secret-0123456789"),
            None,
            "console.client_secret",
            "not the client_secret",
        ),
        (
            console_block(staff=[{"personal_number_hmac": "hmac-sha256:abc", "name": "X"}]),
            None,
            "console.staff[0].personal_number_hmac",
            "64 lowercase hex",
        ),
        (console_block(staff=[{"name": "Nobody"}]), None, "console.staff[0]", "exactly one of sub"),
        (
            None,
            [console_client(scope="openid profile")],
            "console.client_id (console)",
            "scope ssn",
        ),
    ],
)
def test_contradictions_are_refused_with_their_path(console, clients, path, words):
    found = problems(console=console, clients=clients)
    assert path in found, found
    assert words in found[path]


def test_with_a_provider_url_the_client_is_the_other_providers():
    settings = parse(console=console_block(provider_url="https://other.example"), clients=[])
    assert settings.console.provider_url == "https://other.example"


def test_check_config_refuses_a_console_without_staff(tmp_path, capsys):
    path = tmp_path / "idp.yaml"
    raw = {
        "issuer": ISSUER,
        "database_url": f"sqlite:///{tmp_path}/idp.db",
        "clients": [console_client()],
        "console": console_block(staff=[], operators=[]),
    }
    path.write_text(yaml.safe_dump(raw))
    assert main(["check-config", str(path)]) == 2
    assert "console.staff: the console is enabled but lists no staff" in capsys.readouterr().err


def test_the_embedded_default_has_a_console_for_the_simulators_default_person(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert SIMULATOR_DEFAULT_PERSON == DEFAULT_PERSON.personal_number
    settings = embedded_default()
    console = settings.console
    assert console.enabled and console.provider_url is None
    key = (tmp_path / "data" / "console-staff-key").read_text().strip()
    assert console.staff[0].personal_number_hmac == staff_hmac(key, DEFAULT_PERSON.personal_number)
    secret = (tmp_path / "data" / "console-secret").read_text().strip()
    client = settings.client("console")
    assert client.client_secret.verify(secret) and console.client_secret.get() == secret
    assert (tmp_path / "data" / "console-secret").stat().st_mode & 0o777 == 0o600
    # The same secrets on the next start.
    assert embedded_default().console.staff == console.staff


def test_an_https_deployment_with_the_embedded_console_client_is_unsafe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    embedded = embedded_default()
    raw_clients = [
        {
            "client_id": "console",
            "client_name": embedded.client("console").client_name,
            "client_secret": embedded.console.client_secret.get(),
            "redirect_uris": [f"{ISSUER}/console/callback"],
            "grant_types": ["authorization_code", "urn:openid:params:grant-type:ciba"],
            "backchannel_token_delivery_mode": "poll",
            "scope": "openid profile ssn",
        }
    ]
    settings = parse(
        clients=raw_clients,
        console=console_block(client_secret=embedded.console.client_secret.get()),
        bankid={"environment": "test"},
    )
    assert any("embedded console" in i.message for i in unsafe_deployment(settings))
    assert not unsafe_deployment(parse(bankid={"environment": "test"}))


def test_console_staff_hash_prints_the_entry_for_a_number_from_stdin(tmp_path, monkeypatch, capsys):
    path = tmp_path / "idp.yaml"
    raw = {
        "issuer": ISSUER,
        "database_url": f"sqlite:///{tmp_path}/idp.db",
        "clients": [console_client()],
        "console": console_block(),
    }
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{ANNA[:8]}-{ANNA[8:]}\n"))
    assert main(["console-staff-hash", "-c", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out == f"personal_number_hmac: {staff_hmac(STAFF_KEY, ANNA)}\n"
    assert ANNA not in out.out + out.err

    monkeypatch.setattr("sys.stdin", io.StringIO("198501012383\n"))
    assert main(["console-staff-hash", "-c", str(path)]) == 1
    assert "check digit" in capsys.readouterr().err
