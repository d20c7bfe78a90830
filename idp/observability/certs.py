"""Inspecting the BankID RP certificate: readable, key matches, not expired, days left, issued
for the configured BankID environment and chaining to its CA.

This only *reads* the certificate to report on it; the TLS context that uses the key is built
by idp.bankid.tls alone. BankID issues RP certificates from an RP CA ("BankID RP CA v1 for
BankID TEST" for the test environment), which is not the SSL root that signs BankID's server
certificate. When the issuing CA is neither in the certificate file nor among the trust
anchors, the chain cannot be verified here; the result says so, and the environment is then
judged by the issuer's name.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from idp.clock import Clock
from idp.config import BankIDSettings

WARN_DAYS = 30


class Severity(enum.StrEnum):
    ERROR = "error"  # the certificate cannot be used: check-config fails
    WARNING = "warning"  # usable now, needs attention soon
    NOTE = "note"  # something the check could not establish


class Chain(enum.StrEnum):
    VERIFIED = "verified"  # signatures verified up to a trust anchor
    INCOMPLETE = "incomplete"  # the issuing CA is not available to check against
    UNTRUSTED = "untrusted"  # a signature fails, or the chain ends at a foreign root
    UNKNOWN = "unknown"  # the certificate could not be read


@dataclass(frozen=True)
class Problem:
    severity: Severity
    key: str  # the bankid.* setting it is about: certificate, certificate_key, ...
    message: str


@dataclass(frozen=True)
class CertificateReport:
    """What `inspect_certificate` found. `problems` is empty for a healthy certificate."""

    source: str
    subject: str | None = None
    issuer: str | None = None
    not_after: dt.datetime | None = None
    days_left: float | None = None
    key_matches: bool | None = None
    chain: Chain = Chain.UNKNOWN
    problems: tuple[Problem, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.WARNING)


class _Unreadable(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def _password(value: str | bytes | None) -> bytes | None:
    if value is None or value == "":
        return None
    return value.encode("utf-8") if isinstance(value, str) else value


def _read(path: Path, key: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _Unreadable(key, f"cannot read {path}: {exc.strerror}") from None


def _load_pem_key(data: bytes, password: bytes | None, key: str) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(data, password)
    except TypeError:
        if password is None:
            raise _Unreadable(
                "certificate_password", "the private key is encrypted; set the password"
            ) from None
        raise _Unreadable(key, "the private key is not encrypted; remove the password") from None
    except ValueError:
        raise _Unreadable(
            "certificate_password" if password else key,
            "cannot decrypt the private key (wrong password?)"
            if password
            else "no readable private key",
        ) from None


def _load(
    certificate: Path, password: bytes | None, key_file: Path | None
) -> tuple[x509.Certificate, PrivateKeyTypes, list[x509.Certificate]]:
    data = _read(certificate, "certificate")
    if b"-----BEGIN" not in data:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, password)
        except (ValueError, TypeError):
            raise _Unreadable(
                "certificate", "not a PKCS#12 file, or the password is wrong"
            ) from None
        if cert is None or key is None:
            raise _Unreadable("certificate", "the PKCS#12 file holds no key and certificate")
        return cert, key, list(extra or [])
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise _Unreadable("certificate", "no PEM certificate in the file") from None
    if key_file is not None:
        key = _load_pem_key(_read(key_file, "certificate_key"), password, "certificate_key")
    elif b"PRIVATE KEY-----" in data:
        key = _load_pem_key(data, password, "certificate")
    else:
        raise _Unreadable("certificate_key", "the PEM file holds no key; set certificate_key")
    return certs[0], key, certs[1:]


def _public_bytes(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _cn(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(values[0].value) if values else name.rfc4514_string()


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
) -> tuple[Chain, str]:
    current = leaf
    for _ in range(8):
        for anchor in anchors:
            if anchor.subject == current.issuer and _issued_by(current, anchor):
                return Chain.VERIFIED, _cn(anchor.subject)
        if current.issuer == current.subject:
            return Chain.UNTRUSTED, f"it ends at {_cn(current.subject)!r}, not a trusted root"
        named = [c for c in (*intermediates, *anchors) if c.subject == current.issuer]
        if not named:
            return Chain.INCOMPLETE, _cn(current.issuer)
        signer = next((c for c in named if _issued_by(current, c)), None)
        if signer is None:
            return Chain.UNTRUSTED, f"the signature of {_cn(current.subject)!r} does not verify"
        current = signer
    return Chain.UNTRUSTED, "the chain is too long"


_TEST_MARK = re.compile(r"(?i)\btest\b")


def inspect_certificate(
    certificate: Path,
    *,
    environment: str,
    trust_anchors: Path,
    now: dt.datetime,
    password: str | bytes | None = None,
    key: Path | None = None,
    warn_days: int = WARN_DAYS,
) -> CertificateReport:
    """Inspect an RP certificate (PKCS#12, or PEM with the key inside or in `key`) for BankID
    `environment` ("test" or "production"), trusting the certificates in `trust_anchors`."""
    source = str(certificate)
    try:
        cert, private_key, extra = _load(certificate, _password(password), key)
    except _Unreadable as exc:
        return CertificateReport(source, problems=(Problem(Severity.ERROR, exc.key, exc.message),))
    problems: list[Problem] = []

    def add(severity: Severity, message: str, setting: str = "certificate") -> None:
        problems.append(Problem(severity, setting, message))

    matches = _public_bytes(private_key.public_key()) == _public_bytes(cert.public_key())
    if not matches:
        add(Severity.ERROR, "the private key does not belong to the certificate")

    not_after = cert.not_valid_after_utc
    days_left = (not_after - now).total_seconds() / 86400
    if now < cert.not_valid_before_utc:
        add(Severity.ERROR, f"not valid before {cert.not_valid_before_utc:%Y-%m-%d}")
    if days_left < 0:
        add(Severity.ERROR, f"expired on {not_after:%Y-%m-%d}")
    elif days_left < warn_days:
        add(Severity.WARNING, f"expires in {int(days_left)} days ({not_after:%Y-%m-%d})")

    try:
        anchors = x509.load_pem_x509_certificates(trust_anchors.read_bytes())
    except (OSError, ValueError):
        anchors = []
        add(Severity.ERROR, f"cannot read the CA certificate {trust_anchors}", "ca_certificate")
    chain, detail = _chain(cert, extra, anchors) if anchors else (Chain.UNKNOWN, "")
    issuer = _cn(cert.issuer)
    names = " ".join([issuer, *(_cn(c.subject) for c in extra if c.subject == cert.issuer)])
    looks_test = bool(_TEST_MARK.search(names))
    if chain is Chain.UNTRUSTED:
        add(Severity.ERROR, f"does not chain to the BankID {environment} CA: {detail}")
    if environment == "production" and looks_test:
        add(Severity.ERROR, f"issued by {issuer!r}, a BankID test CA, not for production")
    elif environment == "test" and not looks_test and chain is not Chain.VERIFIED:
        add(Severity.WARNING, f"issued by {issuer!r}, which does not look like a BankID test CA")
    if chain is Chain.INCOMPLETE:
        add(
            Severity.NOTE,
            f"chain not verified: the issuing CA {detail!r} is neither in the file nor in the "
            f"trusted CA certificates ({trust_anchors.name})",
        )
    return CertificateReport(
        source,
        subject=_cn(cert.subject),
        issuer=issuer,
        not_after=not_after,
        days_left=days_left,
        key_matches=matches,
        chain=chain,
        problems=tuple(problems),
    )


def check_bankid_certificate(
    settings: BankIDSettings,
    clock: Clock,
    *,
    root_ca_files: Mapping[str, Path],
    default_test_certificate: tuple[Path, str] | None = None,
    warn_days: int = WARN_DAYS,
) -> CertificateReport | None:
    """Inspect the certificate that `settings` make the provider present to BankID.

    `root_ca_files` maps "test"/"production" to the shipped BankID roots (the caller knows
    where they are; `bankid.ca_certificate` overrides them). Without `bankid.certificate` the
    test environment uses `default_test_certificate` (BankID's public one). None when no RP
    certificate is involved (the simulator without one).
    """
    environment = settings.environment
    certificate, password = settings.certificate, settings.certificate_password
    secret = password.get() if password is not None else None
    if certificate is None:
        if environment == "test" and default_test_certificate is not None:
            certificate, secret = default_test_certificate
        elif environment == "production":
            return CertificateReport(
                "",
                problems=(
                    Problem(Severity.ERROR, "certificate", "required for environment production"),
                ),
            )
        else:
            return None
    if environment not in root_ca_files and settings.ca_certificate is None:
        return None  # a simulator with a client certificate but no CA to judge it by
    anchors = settings.ca_certificate or root_ca_files[environment]
    return inspect_certificate(
        certificate,
        environment=environment,
        trust_anchors=anchors,
        now=dt.datetime.fromtimestamp(clock.now(), dt.UTC),
        password=secret,
        key=settings.certificate_key,
        warn_days=warn_days,
    )
