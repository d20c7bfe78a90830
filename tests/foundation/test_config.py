"""Configuration: one validated object; every problem reported with its file and path."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from idp.app import GRANTS
from idp.cli import main
from idp.config import ConfigError, SecretHash, embedded_default, load_settings

BAD = textwrap.dedent(
    """\
    issuer: https://id.example.com
    clients:
      - client_id: app-a
        client_secret: 0123456789abcdef0123
        redirect_uri: [https://a.example/cb]
      - client_id: app-b
        client_secret: 0123456789abcdef0123
      - client_id: app-c
        client_secret: 0123456789abcdef0123
        redirect_uris: ["not a url"]
      - client_id: app-d
        client_secret: ${UNDEFINED_SECRET_FOR_TEST}
        redirect_uris: [https://d.example/cb]
      - client_id: app-a
        client_secret: 0123456789abcdef0123
        redirect_uris: [https://a2.example/cb]
    """
)

GOOD = textwrap.dedent(
    """\
    issuer: https://id.example.com
    database_url: sqlite:///data/idp.db
    redis_url: redis://127.0.0.1:6379/0
    secret_key: ${IDP_SECRET}
    bankid:
      environment: test
      certificate: /etc/idp/rp.p12
      certificate_password: ${P12_PASSWORD}
    scopes:
      employee: [name]
    clients:
      - client_id: web
        client_name: Web app
        client_secret: ${WEB_SECRET}
        redirect_uris: [https://app.example.com/callback]
        scope: openid profile employee
      - client_id: mobile
        token_endpoint_auth_method: none
        redirect_uris: [com.example.app:/oauth/callback, http://127.0.0.1/cb]
    """
)

ENV = {"IDP_SECRET": "s" * 40, "P12_PASSWORD": "qwerty123", "WEB_SECRET": "w" * 32}


@pytest.fixture
def bad_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    return path


def test_all_five_problems_are_reported_with_their_paths(bad_file):
    with pytest.raises(ConfigError) as info:
        load_settings(bad_file, environ={})
    found = {(i.path, i.message.split(" ")[0]) for i in info.value.issues}
    paths = [i.path for i in info.value.issues]
    assert paths == [
        "clients[0].redirect_uri",
        "clients[1].redirect_uris",
        "clients[2].redirect_uris[0]",
        "clients[3].client_secret",
        "clients[4].client_id",
    ], found
    text = info.value.render()
    assert "unknown key (did you mean 'redirect_uris'?)" in text
    assert "${UNDEFINED_SECRET_FOR_TEST} is not set" in text
    assert "duplicate client_id 'app-a'" in text
    assert "'not a url'" in text
    assert all(line.startswith(str(bad_file)) for line in text.splitlines())


def test_check_config_prints_every_problem_and_exits_non_zero(bad_file, capsys):
    assert main(["check-config", str(bad_file)]) != 0
    err = capsys.readouterr().err
    for path in (
        "clients[0].redirect_uri",
        "clients[1].redirect_uris",
        "clients[2].redirect_uris[0]",
        "clients[3].client_secret",
        "clients[4].client_id",
    ):
        assert f"{bad_file}: {path}:" in err


def test_serve_refuses_to_start_on_a_bad_file(bad_file, capsys):
    assert main(["serve", "--config", str(bad_file), "--port", "1"]) != 0
    assert "clients[4].client_id: duplicate client_id" in capsys.readouterr().err


def test_a_valid_file_exits_zero_with_a_one_line_summary(tmp_path, capsys, monkeypatch):
    path = tmp_path / "good.yaml"
    # check-config also reads the certificate: BankID's public test one (password qwerty123).
    test_p12 = Path(__file__).resolve().parents[2] / "idp/bankid/certs/FPTestcert5_20240610.p12"
    path.write_text(GOOD.replace("/etc/idp/rp.p12", str(test_p12)))
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert "OK" in out[0] and "2 client(s)" in out[0]


def test_environment_interpolation_and_scope_merge(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    s = load_settings(path, environ=ENV)
    assert s.bankid.certificate_password.get() == "qwerty123"
    assert s.scopes["employee"] == ["name"]
    assert "profile" in s.scopes  # defaults stay
    assert s.client("mobile").is_public


def test_client_secrets_are_held_only_as_hashes(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    s = load_settings(path, environ=ENV)
    web = s.client("web")
    assert isinstance(web.client_secret, SecretHash)
    assert ENV["WEB_SECRET"] not in repr(s) and ENV["WEB_SECRET"] not in str(web.model_dump())
    assert ENV["IDP_SECRET"] not in repr(s)
    assert web.client_secret.verify(ENV["WEB_SECRET"])
    assert not web.client_secret.verify(ENV["WEB_SECRET"] + "x")
    assert not web.client_secret.verify(None)


@pytest.mark.parametrize(
    ("snippet", "path", "needle"),
    [
        ("issuer: ftp://x\n", "issuer", "expected an absolute http(s) URL"),
        ("issuer: http://id.example.com\n", "issuer", "https"),
        ("issuer: https://x\nbankid: {environment: prod}\n", "bankid.environment", "expected"),
        (
            "issuer: https://x\nclients:\n  - client_id: p\n    token_endpoint_auth_method: none\n"
            "    require_pkce: false\n    redirect_uris: [https://p/cb]\n",
            "clients[0].require_pkce",
            "never opt out",
        ),
        (
            "issuer: https://x\nclients:\n  - client_id: q\n    client_secret: 0123456789abcdef\n"
            "    redirect_uris: [https://q/cb#frag]\n",
            "clients[0].redirect_uris[0]",
            "fragment",
        ),
        (
            "issuer: https://x\nclients:\n  - client_id: r\n    client_secret: 0123456789abcdef\n"
            "    redirect_uris: [https://r/cb]\n    scope: openid nosuch\n",
            "clients[0].scope",
            "'nosuch' is not defined",
        ),
        (
            "issuer: https://x\nclients:\n  - client_id: c\n    client_secret: 0123456789abcdef\n"
            "    grant_types: ['urn:openid:params:grant-type:ciba']\n"
            "    backchannel_token_delivery_mode: ping\n",
            "clients[0].backchannel_client_notification_endpoint",
            "required for ping",
        ),
        ("issuer: https://x\nissuer: https://y\n", "", "duplicate key"),
    ],
)
def test_each_mistake_names_its_path(tmp_path, snippet, path, needle):
    f = tmp_path / "c.yaml"
    f.write_text(snippet)
    with pytest.raises(ConfigError) as info:
        load_settings(f, environ={})
    assert any(i.path == path and needle in i.message for i in info.value.issues), (
        info.value.render()
    )


def test_embedded_default_follows_host_and_port():
    s = embedded_default("0.0.0.0", 9123)
    assert s.issuer == "http://127.0.0.1:9123"
    demo = s.client("demo")
    assert demo.redirect_uris == ["http://127.0.0.1:9123/demo/callback"]
    assert demo.is_public and demo.require_pkce


def test_config_path_can_come_from_the_environment(bad_file, monkeypatch, capsys):
    monkeypatch.setenv("IDP_CONFIG", str(bad_file))
    assert main(["serve", "--port", "1"]) != 0
    assert str(bad_file) in capsys.readouterr().err


# One file, five kinds of mistake; an undefined ${VAR} must not hide its entry's other problems.
EVERY_PROBLEM = textwrap.dedent(
    """\
    issuer: https://id.example.com
    scope:
      employee: [name]
    clients:
      - client_id: webshop
        client_secret: ${IDP_TEST_UNDEFINED_WEBSHOP_SECRET}
      - client_id: mobile
        token_endpoint_auth_method: none
        redirect_uris: ["not a url"]
      - client_id: webshop
        client_secret: 0123456789abcdef0123
        redirect_uris: [https://shop.example/cb]
    """
)
EVERY_PROBLEM_REPORTED = [
    (
        "clients[0].client_secret",
        "environment variable ${IDP_TEST_UNDEFINED_WEBSHOP_SECRET} is not set",
    ),
    ("clients[0].redirect_uris", "a client with grant type authorization_code needs at least one"),
    ("clients[1].redirect_uris[0]", "'not a url'"),
    ("clients[2].client_id", "duplicate client_id 'webshop' (first used in clients[0])"),
    ("scope", "unknown key (did you mean 'scopes'?)"),
]


def assert_every_problem_reported(path, err):
    lines = err.strip().splitlines()
    assert lines[0] == f"{path}: {len(EVERY_PROBLEM_REPORTED)} problem(s):", err
    assert len(lines) == 1 + len(EVERY_PROBLEM_REPORTED), err
    for line, (where, needle) in zip(lines[1:], EVERY_PROBLEM_REPORTED, strict=True):
        assert line.startswith(f"{path}: {where}: ") and needle in line, (line, where, needle)


@pytest.fixture
def every_problem_file(tmp_path, monkeypatch):
    monkeypatch.delenv("IDP_TEST_UNDEFINED_WEBSHOP_SECRET", raising=False)
    path = tmp_path / "every-problem.yaml"
    path.write_text(EVERY_PROBLEM)
    return path


def test_check_config_reports_every_problem_in_one_run(every_problem_file, capsys):
    assert main(["check-config", str(every_problem_file)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_every_problem_reported(every_problem_file, captured.err)


def test_python_m_idp_check_config_reports_every_problem_in_one_run(every_problem_file):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("IDP_TEST_UNDEFINED_WEBSHOP_SECRET", "IDP_CONFIG")
    }
    run = subprocess.run(
        [sys.executable, "-m", "idp", "check-config", str(every_problem_file)],
        capture_output=True,
        text=True,
        env=env,
        cwd=every_problem_file.parent,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    assert_every_problem_reported(every_problem_file, run.stderr)


def test_an_undefined_variable_is_reported_once_for_its_value(tmp_path):
    """The value standing in for an undefined variable raises no complaint of its own."""
    path = tmp_path / "vars.yaml"
    path.write_text(
        "issuer: ${IDP_TEST_UNDEFINED_ISSUER}\n"
        "secret_key: ${IDP_TEST_UNDEFINED_KEY}\n"
        "clients:\n"
        "  - client_id: a\n"
        "    client_secret: ${IDP_TEST_UNDEFINED_A}\n"
        "    redirect_uris: ['https://${IDP_TEST_UNDEFINED_HOST}/cb']\n"
        "    scope: ${IDP_TEST_UNDEFINED_SCOPE}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert [(i.path, i.message) for i in info.value.issues] == [
        ("clients[0].client_secret", "environment variable ${IDP_TEST_UNDEFINED_A} is not set"),
        (
            "clients[0].redirect_uris[0]",
            "environment variable ${IDP_TEST_UNDEFINED_HOST} is not set",
        ),
        ("clients[0].scope", "environment variable ${IDP_TEST_UNDEFINED_SCOPE} is not set"),
        ("issuer", "environment variable ${IDP_TEST_UNDEFINED_ISSUER} is not set"),
        ("secret_key", "environment variable ${IDP_TEST_UNDEFINED_KEY} is not set"),
    ]


def test_a_bad_value_does_not_hide_its_entrys_other_problems(tmp_path):
    """An entry with an invalid value is still checked as a whole (here: its missing secret),
    without complaints that only the invalid value would explain."""
    path = tmp_path / "c.yaml"
    path.write_text(
        "issuer: https://x\n"
        "clients:\n"
        "  - client_id: a\n"
        "    redirect_uris: ['not a url']\n"
        "  - client_id: c\n"
        "    client_secret: 0123456789abcdef\n"
        "    grant_types: ['urn:openid:params:grant-type:ciba', nonsense]\n"
        "    backchannel_token_delivery_mode: poll\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={}, grant_types=GRANTS.names())
    assert [i.path for i in info.value.issues] == [
        "clients[0].client_secret",
        "clients[0].redirect_uris[0]",
        "clients[1].grant_types[1]",
    ], info.value.render()
