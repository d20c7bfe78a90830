"""`idp check-config` on a test or production file also checks the BankID RP certificate."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from tests.observability.pki import Pki, issue, write_p12

IDP = str(Path(sys.executable).parent / "idp")
CERTS = Path(__file__).resolve().parents[2] / "idp" / "bankid" / "certs"


def check_config(path):
    return subprocess.run(
        [IDP, "check-config", str(path)], capture_output=True, text=True, timeout=60
    )


def config(tmp_path, **bankid):
    lines = ["issuer: https://login.example.com", "bankid:"]
    lines += [f"  {k}: {v}" for k, v in bankid.items()]
    path = tmp_path / "idp.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def pki(tmp_path):
    return Pki.make(tmp_path, "Production")


def rp_p12(tmp_path, pki, days):
    now = dt.datetime.now(dt.UTC)
    rp = issue(
        "RP",
        pki.rp_ca,
        not_before=now - dt.timedelta(days=400),
        not_after=now + dt.timedelta(days=days, hours=1),
    )
    return write_p12(tmp_path / "rp.p12", rp, b"pw", pki.rp_ca.cert)


def test_test_environment_with_the_public_certificate_passes_with_a_note(tmp_path):
    result = check_config(config(tmp_path, environment="test"))
    assert result.returncode == 0, result.stderr
    assert ": OK: " in result.stdout
    assert "note: bankid.certificate: chain not verified" in result.stderr


def test_a_certificate_expiring_in_12_days_is_a_warning_line(tmp_path, pki):
    path = config(
        tmp_path,
        environment="production",
        certificate=rp_p12(tmp_path, pki, 12),
        certificate_password="pw",
        ca_certificate=pki.root_file,
    )
    result = check_config(path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(f"{path}: warning: bankid.certificate: expires in 12 days (")
    assert ": OK: " in result.stdout


def test_an_expired_certificate_fails(tmp_path, pki):
    path = config(
        tmp_path,
        environment="production",
        certificate=rp_p12(tmp_path, pki, -3),
        certificate_password="pw",
        ca_certificate=pki.root_file,
    )
    result = check_config(path)
    assert result.returncode == 2
    assert f"{path}: bankid.certificate: expired on " in result.stderr
    assert result.stdout == ""


def test_wrong_password_wrong_ca_and_test_certificate_in_production_fail(tmp_path, pki):
    p12 = rp_p12(tmp_path, pki, 200)
    wrong_password = check_config(
        config(
            tmp_path,
            environment="production",
            certificate=p12,
            certificate_password="no",
            ca_certificate=pki.root_file,
        )
    )
    assert wrong_password.returncode == 2
    assert "bankid.certificate: not a PKCS#12 file, or the password is wrong" in (
        wrong_password.stderr
    )
    # A bundle with its whole chain, checked against another root.
    full = write_p12(
        tmp_path / "full.p12", issue("RP", pki.rp_ca), b"pw", pki.rp_ca.cert, pki.root.cert
    )
    other = Pki.make(tmp_path, "Other")
    wrong_ca = check_config(
        config(
            tmp_path,
            environment="production",
            certificate=full,
            certificate_password="pw",
            ca_certificate=other.root_file,
        )
    )
    assert wrong_ca.returncode == 2
    assert "bankid.certificate: does not chain to the BankID production CA" in wrong_ca.stderr
    test_cert = check_config(
        config(
            tmp_path,
            environment="production",
            certificate=CERTS / "FPTestcert5_20240610.p12",
            certificate_password="qwerty123",
        )
    )
    assert test_cert.returncode == 2
    assert "a BankID test CA, not for production" in test_cert.stderr


def test_the_simulator_needs_no_certificate(tmp_path):
    path = config(tmp_path, environment="simulator")
    # An https issuer may have the simulator only as a shared test deployment.
    path.write_text("test_deployment: true\n" + path.read_text())
    result = check_config(path)
    assert result.returncode == 0 and result.stderr == ""
