import datetime as dt
from pathlib import Path

import pytest

from idp.clock import FixedClock
from idp.config import parse_settings
from idp.observability.certs import (
    Chain,
    Severity,
    check_bankid_certificate,
    inspect_certificate,
)
from tests.observability.pki import NOW, Pki, issue, key_pem, pem, write_p12

CERTS = Path(__file__).resolve().parents[2] / "idp" / "bankid" / "certs"
TEST_P12 = CERTS / "FPTestcert5_20240610.p12"
TEST_ROOT = CERTS / "bankid-test-root-ca.pem"
PROD_ROOT = CERTS / "bankid-production-root-ca.pem"
ROOTS = {"test": TEST_ROOT, "production": PROD_ROOT}


def messages(report, severity):
    return [p.message for p in report.problems if p.severity is severity]


def test_bankids_public_test_certificate_is_healthy_for_the_test_environment():
    report = inspect_certificate(
        TEST_P12, environment="test", trust_anchors=TEST_ROOT, now=NOW, password="qwerty123"
    )
    assert report.ok and report.key_matches
    assert report.subject == "FP Testcert 5"
    assert report.issuer == "BankID RP CA v1 for BankID TEST"
    assert report.not_after == dt.datetime(2027, 5, 28, 21, 59, 59, tzinfo=dt.UTC)
    assert 361 < report.days_left < 362
    # The shipped root is BankID's SSL root; the RP CA that issued this one is not shipped.
    assert report.chain is Chain.INCOMPLETE
    assert messages(report, Severity.NOTE) == [
        "chain not verified: the issuing CA 'BankID RP CA v1 for BankID TEST' is neither in "
        "the file nor in the trusted CA certificates (bankid-test-root-ca.pem)"
    ]
    assert not report.warnings


def test_the_public_test_certificate_in_pem_reads_with_its_password():
    report = inspect_certificate(
        CERTS / "FPTestcert5_20240610.pem",
        environment="test",
        trust_anchors=TEST_ROOT,
        now=NOW,
        password="qwerty123",
    )
    assert report.ok and report.key_matches


def test_a_test_certificate_is_an_error_in_production():
    report = inspect_certificate(
        TEST_P12, environment="production", trust_anchors=PROD_ROOT, now=NOW, password="qwerty123"
    )
    assert not report.ok
    assert messages(report, Severity.ERROR) == [
        "issued by 'BankID RP CA v1 for BankID TEST', a BankID test CA, not for production"
    ]


@pytest.mark.parametrize(
    ("password", "key", "message"),
    [
        ("wrong", "certificate", "not a PKCS#12 file, or the password is wrong"),
        (None, "certificate", "not a PKCS#12 file, or the password is wrong"),
    ],
)
def test_unreadable_pkcs12_is_an_error_naming_the_setting(password, key, message):
    report = inspect_certificate(
        TEST_P12, environment="test", trust_anchors=TEST_ROOT, now=NOW, password=password
    )
    assert [(p.severity, p.key, p.message) for p in report.problems] == [
        (Severity.ERROR, key, message)
    ]
    assert report.chain is Chain.UNKNOWN and report.days_left is None


def test_missing_file_is_an_error(tmp_path):
    report = inspect_certificate(
        tmp_path / "nope.p12", environment="test", trust_anchors=TEST_ROOT, now=NOW
    )
    assert report.errors[0].message.startswith("cannot read ")


def test_a_chain_through_the_file_to_the_trusted_root_is_verified(tmp_path):
    pki = Pki.make(tmp_path, "Test")
    rp = issue("RP", pki.rp_ca)
    p12 = write_p12(tmp_path / "rp.p12", rp, b"pw", pki.rp_ca.cert)
    report = inspect_certificate(
        p12, environment="test", trust_anchors=pki.root_file, now=NOW, password="pw"
    )
    assert report.chain is Chain.VERIFIED
    assert report.problems == ()


def test_a_chain_to_another_root_is_an_error(tmp_path):
    ours, theirs = Pki.make(tmp_path, "Test"), Pki.make(tmp_path, "Other")
    rp = issue("RP", theirs.rp_ca)
    p12 = write_p12(tmp_path / "rp.p12", rp, b"pw", theirs.rp_ca.cert, theirs.root.cert)
    report = inspect_certificate(
        p12, environment="test", trust_anchors=ours.root_file, now=NOW, password="pw"
    )
    assert report.chain is Chain.UNTRUSTED
    assert messages(report, Severity.ERROR) == [
        "does not chain to the BankID test CA: it ends at 'Example BankID Root CA v1 Other', "
        "not a trusted root"
    ]


def test_a_forged_intermediate_is_an_error(tmp_path):
    pki = Pki.make(tmp_path, "Test")
    impostor = issue(pki.rp_ca.cert.subject.rfc4514_string().removeprefix("CN="), ca=True)
    rp = issue("RP", impostor)  # issuer name matches the real RP CA, signature does not
    p12 = write_p12(tmp_path / "rp.p12", rp, b"pw", pki.rp_ca.cert)
    report = inspect_certificate(
        p12, environment="test", trust_anchors=pki.root_file, now=NOW, password="pw"
    )
    assert report.chain is Chain.UNTRUSTED


def test_expiry_within_30_days_warns_and_after_expiry_fails(tmp_path):
    pki = Pki.make(tmp_path)
    rp = issue("RP", pki.rp_ca, not_after=NOW + dt.timedelta(days=12, hours=3))
    p12 = write_p12(tmp_path / "rp.p12", rp, b"pw", pki.rp_ca.cert)

    def at(now):
        return inspect_certificate(
            p12, environment="test", trust_anchors=pki.root_file, now=now, password="pw"
        )

    soon = at(NOW)
    assert soon.ok
    assert messages(soon, Severity.WARNING) == ["expires in 12 days (2026-06-13)"]
    late = at(NOW + dt.timedelta(days=13))
    assert messages(late, Severity.ERROR) == ["expired on 2026-06-13"]
    assert late.days_left < 0
    early = at(NOW - dt.timedelta(days=31))
    assert messages(early, Severity.ERROR) == ["not valid before 2026-05-02"]


def test_pem_key_must_match_and_decrypt(tmp_path):
    pki = Pki.make(tmp_path)
    rp, other = issue("RP", pki.rp_ca), issue("Other", pki.rp_ca)
    cert = tmp_path / "rp.pem"
    cert.write_bytes(pem(rp.cert, pki.rp_ca.cert))
    key = tmp_path / "rp.key"

    def check(key_bytes, password=None):
        key.write_bytes(key_bytes)
        return inspect_certificate(
            cert,
            environment="test",
            trust_anchors=pki.root_file,
            now=NOW,
            password=password,
            key=key,
        )

    assert check(key_pem(rp.key)).problems == ()
    assert check(key_pem(rp.key, b"secret"), "secret").problems == ()
    mismatch = check(key_pem(other.key))
    assert mismatch.key_matches is False
    assert messages(mismatch, Severity.ERROR) == [
        "the private key does not belong to the certificate"
    ]
    encrypted = check(key_pem(rp.key, b"secret"))
    assert [(p.key, p.message) for p in encrypted.errors] == [
        ("certificate_password", "the private key is encrypted; set the password")
    ]
    wrong = check(key_pem(rp.key, b"secret"), "nope")
    assert [p.key for p in wrong.errors] == ["certificate_password"]

    # Key inside the certificate file; none at all.
    cert.write_bytes(pem(rp.cert) + key_pem(rp.key))
    assert inspect_certificate(
        cert, environment="test", trust_anchors=pki.root_file, now=NOW
    ).key_matches
    cert.write_bytes(pem(rp.cert))
    missing = inspect_certificate(cert, environment="test", trust_anchors=pki.root_file, now=NOW)
    assert [(p.key, p.message) for p in missing.errors] == [
        ("certificate_key", "the PEM file holds no key; set certificate_key")
    ]


def bankid_settings(**bankid):
    return parse_settings(
        {"issuer": "https://login.example.com", "bankid": bankid}, source="t.yaml", environ={}
    ).bankid


def test_check_bankid_certificate_follows_the_settings(tmp_path):
    clock = FixedClock(NOW.timestamp())
    default = (TEST_P12, "qwerty123")
    assert check_bankid_certificate(bankid_settings(), clock, root_ca_files=ROOTS) is None
    report = check_bankid_certificate(
        bankid_settings(environment="test"),
        clock,
        root_ca_files=ROOTS,
        default_test_certificate=default,
    )
    assert report.ok and report.subject == "FP Testcert 5"
    missing = check_bankid_certificate(
        bankid_settings(environment="production"), clock, root_ca_files=ROOTS
    )
    assert [(p.key, p.message) for p in missing.errors] == [
        ("certificate", "required for environment production")
    ]
    # bankid.ca_certificate replaces the shipped root.
    pki = Pki.make(tmp_path, "Production")
    rp = issue("RP", pki.rp_ca)
    p12 = write_p12(tmp_path / "rp.p12", rp, b"pw", pki.rp_ca.cert)
    report = check_bankid_certificate(
        bankid_settings(
            environment="production",
            certificate=str(p12),
            certificate_password="pw",
            ca_certificate=str(pki.root_file),
        ),
        clock,
        root_ca_files=ROOTS,
    )
    assert report.chain is Chain.VERIFIED and report.problems == ()
