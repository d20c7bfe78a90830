"""Mutual TLS for the BankID RP API: the one place that touches the RP certificate's key.

The server is validated against BankID's *own* root CA for the environment, never the public
Web PKI (reference section 8). The RP certificate comes from PEM (certificate and key, possibly
in one file, key optionally encrypted) or PKCS#12 with a password. Python's ``ssl`` module
cannot read PKCS#12, so the bundle is opened with ``cryptography`` and handed to
``load_cert_chain`` through a private temporary directory that is removed at once; the key is
written there re-encrypted under a one-time random password, never in the clear.
"""

from __future__ import annotations

import os
import secrets
import ssl
import tempfile
from enum import StrEnum
from importlib import resources
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

#: BankID's root CAs and public test certificate, shipped in the package (files on disk: ssl
#: and cryptography read paths).
CERTS_DIR = Path(str(resources.files("idp.bankid").joinpath("certs")))

TEST_BASE_URL = "https://appapi2.test.bankid.com/rp/v6.0"
PRODUCTION_BASE_URL = "https://appapi2.bankid.com/rp/v6.0"


class Environment(StrEnum):
    TEST = "test"
    PRODUCTION = "production"


ROOT_CA_FILES: dict[Environment, Path] = {
    Environment.TEST: CERTS_DIR / "bankid-test-root-ca.pem",
    Environment.PRODUCTION: CERTS_DIR / "bankid-production-root-ca.pem",
}

#: BankID's public RP test certificate (password ``qwerty123``); test environment only.
TEST_RP_PKCS12 = CERTS_DIR / "FPTestcert5_20240610.p12"
TEST_RP_PEM = CERTS_DIR / "FPTestcert5_20240610.pem"
TEST_RP_PASSWORD = "qwerty123"


class CertificateError(ValueError):
    """Raised when the RP certificate or the trust anchor cannot be loaded.

    The message names the file and the problem, never key material.
    """


def _as_bytes(password: str | bytes | None) -> bytes | None:
    if password is None:
        return None
    return password.encode("utf-8") if isinstance(password, str) else password


def _load_pkcs12(context: ssl.SSLContext, path: Path, password: bytes | None) -> None:
    try:
        key, cert, chain = pkcs12.load_key_and_certificates(path.read_bytes(), password)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"{path}: not a PKCS#12 file or wrong password") from exc
    if key is None or cert is None:
        raise CertificateError(f"{path}: the PKCS#12 file holds no key and certificate")
    one_time = secrets.token_bytes(32)
    pem_chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, *(chain or [])))
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(one_time),
    )
    with tempfile.TemporaryDirectory(prefix="bankid-rp-") as tmp:  # mode 0700
        cert_path = Path(tmp) / "cert.pem"
        key_path = Path(tmp) / "key.pem"
        for target, data in ((cert_path, pem_chain), (key_path, pem_key)):
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        context.load_cert_chain(cert_path, key_path, password=one_time)


def create_ssl_context(
    *,
    environment: Environment | str = Environment.TEST,
    ca_file: str | Path | None = None,
    cert_file: str | Path | None = None,
    key_file: str | Path | None = None,
    pkcs12_file: str | Path | None = None,
    password: str | bytes | None = None,
) -> ssl.SSLContext:
    """An ``ssl.SSLContext`` for `BankIDClient` (``ssl_context=``; aiohttp's connector uses it).

    Trust: only ``ca_file`` when given, else BankID's root CA for ``environment``.
    Client certificate: ``pkcs12_file`` (with ``password``), or ``cert_file`` in PEM with
    ``key_file`` (omit it when the key is in ``cert_file``; ``password`` decrypts the key).
    With neither, no client certificate is presented (only useful for the simulator).
    """
    if pkcs12_file is not None and (cert_file is not None or key_file is not None):
        raise CertificateError("give either pkcs12_file or cert_file/key_file, not both")
    trust = Path(ca_file) if ca_file is not None else ROOT_CA_FILES[Environment(environment)]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no default CAs: only ours
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_verify_locations(cafile=trust)
    except (OSError, ssl.SSLError) as exc:
        raise CertificateError(f"{trust}: cannot load the CA certificate") from exc
    try:
        if pkcs12_file is not None:
            _load_pkcs12(context, Path(pkcs12_file), _as_bytes(password))
        elif cert_file is not None:
            context.load_cert_chain(cert_file, key_file, password=_as_bytes(password))
        elif key_file is not None:
            raise CertificateError("key_file given without cert_file")
    except (OSError, ssl.SSLError) as exc:
        path = pkcs12_file or cert_file
        raise CertificateError(f"{path}: cannot load the RP certificate and key") from exc
    return context
