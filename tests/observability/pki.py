"""A throwaway PKI for certificate checks: a root, an RP CA under it, RP certificates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue(
    cn: str,
    issuer: Issued | None = None,
    *,
    ca: bool = False,
    not_before: dt.datetime = NOW - dt.timedelta(days=30),
    not_after: dt.datetime = NOW + dt.timedelta(days=365),
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    signer = issuer or Issued(None, key)  # type: ignore[arg-type]
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(issuer.cert.subject if issuer else name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return Issued(builder.sign(signer.key, hashes.SHA256()), key)


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def write_p12(path: Path, rp: Issued, password: bytes, *chain: x509.Certificate) -> Path:
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"rp",
            rp.key,
            rp.cert,
            list(chain) or None,
            serialization.BestAvailableEncryption(password),
        )
    )
    return path


@dataclass
class Pki:
    root: Issued
    rp_ca: Issued
    root_file: Path

    @classmethod
    def make(cls, directory: Path, label: str = "Test") -> Pki:
        root = issue(f"Example BankID Root CA v1 {label}", ca=True)
        rp_ca = issue(f"Example RP CA v1 for BankID {label}", root, ca=True)
        root_file = directory / f"root-{label.lower()}.pem"
        root_file.write_bytes(pem(root.cert))
        return cls(root, rp_ca, root_file)
