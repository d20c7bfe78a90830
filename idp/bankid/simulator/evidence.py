"""Real, verifiable `completionData` evidence for the simulator: an XML-DSig signature and a DER
OCSP response, in BankID's shapes (reference 8.5).

``signature`` is base64 of a ``<Signature>`` document signed with signxml: ``SignedInfo``
(Canonical XML 1.0, ECDSA-SHA256) references ``#bidSignedData`` (typed
``http://www.bankid.com/signature/v1.0.0/types``) and ``#bidKeyInfo`` with SHA-256, as BankID's
own documents do; ``KeyInfo`` carries the user's certificate, then the CA's; ``Object`` holds
``bankIdSignedData`` with the RP's base64 values verbatim. ``ocspResponse`` is base64 of an OCSP
response from a responder certified by the same CA, whose nonce is SHA-1 of the base64
signature followed by 12 random bytes.

The CA and the responder derive from :attr:`SimulatorSettings.evidence_seed` (deterministic keys
and certificates), so evidence stays verifiable after a restart against :func:`ca_pem`, which
the simulator also publishes at ``GET /ca.pem``. User keys are made per process; they chain to
the CA. Verify with :func:`idp.bankid.evidence.verify`.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lxml import etree  # type: ignore[import-untyped]
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
    SignatureReference,
    XMLSigner,
)

from idp.bankid.simulator.persons import Person
from idp.bankid.simulator.settings import SimulatorSettings

__all__ = ["CA_NOT_AFTER", "CA_NOT_BEFORE", "EvidenceFactory", "ca_certificate", "ca_pem"]

_DSIG = "http://www.w3.org/2000/09/xmldsig#"
_BANKID_NS = "http://www.bankid.com/signature/v1.0.0/types"
_C14N = CanonicalizationMethod.CANONICAL_XML_1_0

#: The simulator CA's and responder's fixed validity window (their certificates are the same
#: bytes on every start with the same seed).
CA_NOT_BEFORE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
CA_NOT_AFTER = dt.datetime(2044, 1, 1, tzinfo=dt.UTC)
# The order of P-256: a derived scalar must lie in [1, n - 1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Simulated Bank AB"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


@dataclass(frozen=True)
class _Issued:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _derived_key(label: bytes, seed: str) -> ec.EllipticCurvePrivateKey:
    digest = hashlib.sha256(label + seed.encode()).digest()
    scalar = int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


@functools.cache
def _authority(seed: str) -> tuple[_Issued, _Issued]:
    """The CA and the OCSP responder for ``seed``: deterministic keys and certificates."""
    ca_key = _derived_key(b"idp-simulator-ca:", seed)
    ca_name = _name("Simulated BankID Customer CA v1")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(CA_NOT_BEFORE)
        .not_valid_after(CA_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    responder_key = _derived_key(b"idp-simulator-ocsp:", seed)
    responder_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Simulated BankID OCSP v1"))
        .issuer_name(ca_name)
        .public_key(responder_key.public_key())
        .serial_number(2)
        .not_valid_before(CA_NOT_BEFORE)
        .not_valid_after(CA_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .sign(ca_key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    return _Issued(ca_key, ca_cert), _Issued(responder_key, responder_cert)


def _key_usage(*, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=not cert_sign,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def ca_certificate(seed: str) -> x509.Certificate:
    """The simulator CA's certificate for ``seed`` (the same on every start)."""
    return _authority(seed)[0].cert


def ca_pem(settings: SimulatorSettings | None = None) -> str:
    """The simulator CA's certificate as PEM, as ``GET /ca.pem`` serves it: the trust anchor
    for evidence this simulator (or any with the same ``evidence_seed``) makes."""
    seed = (settings or SimulatorSettings()).evidence_seed
    return ca_certificate(seed).public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class EvidenceFactory:
    """Makes signatures and OCSP responses; user keys are generated lazily and cached."""

    rng: random.Random
    seed: str = SimulatorSettings.evidence_seed
    _users: dict[str, _Issued] = field(default_factory=dict)

    def _user(self, person: Person, now: dt.datetime, ca: _Issued) -> _Issued:
        user = self._users.get(person.personal_number)
        if user is None:
            key = ec.generate_private_key(ec.SECP256R1())
            subject = x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
                    x509.NameAttribute(NameOID.SURNAME, person.surname),
                    x509.NameAttribute(NameOID.GIVEN_NAME, person.given_name),
                    x509.NameAttribute(NameOID.SERIAL_NUMBER, person.personal_number),
                    x509.NameAttribute(NameOID.COMMON_NAME, person.name),
                ]
            )
            cert = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(ca.cert.subject)
                .public_key(key.public_key())
                .serial_number(self.rng.getrandbits(63) + 1)
                .not_valid_before(now - dt.timedelta(days=365))
                .not_valid_after(now + dt.timedelta(days=3 * 365))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(_key_usage(), critical=True)
                .sign(ca.key, hashes.SHA256())
            )
            user = _Issued(key, cert)
            self._users[person.personal_number] = user
        return user

    def uhi(self, person: Person) -> str:
        digest = hashlib.sha256(b"uhi:" + person.personal_number.encode()).digest()
        return base64.b64encode(digest).decode()[:35].replace("+", "A").replace("/", "B")

    def signature(
        self,
        person: Person,
        now: float,
        *,
        user_visible_data: str | None,
        user_non_visible_data: str | None,
        visible_format: str | None,
        function: str,
    ) -> tuple[str, str]:
        """(base64 XML signature, base64 OCSP response) for ``person`` at ``now``."""
        when = dt.datetime.fromtimestamp(now, dt.UTC)
        ca, responder = _authority(self.seed)
        user = self._user(person, when, ca)
        signed_data = self._signed_data(
            person, user_visible_data, user_non_visible_data, visible_format, function
        )
        signature = base64.b64encode(_sign(signed_data, user, ca)).decode()
        ocsp_nonce = hashlib.sha1(signature.encode()).digest() + self.rng.randbytes(12)  # noqa: S324
        response = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=user.cert,
                issuer=ca.cert,
                algorithm=hashes.SHA1(),  # noqa: S303 - CertID hash, as OCSP responders use
                cert_status=ocsp.OCSPCertStatus.GOOD,
                this_update=when,
                next_update=None,
                revocation_time=None,
                revocation_reason=None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, responder.cert)
            .certificates([responder.cert])
            .add_extension(x509.OCSPNonce(ocsp_nonce), critical=False)
            .sign(responder.key, hashes.SHA256())
        )
        der = response.public_bytes(serialization.Encoding.DER)
        return signature, base64.b64encode(der).decode()

    def _signed_data(
        self,
        person: Person,
        visible: str | None,
        non_visible: str | None,
        visible_format: str | None,
        function: str,
    ) -> Any:
        def child(parent: Any, tag: str, text: str | None = None, **attrib: str) -> Any:
            element = etree.SubElement(parent, f"{{{_BANKID_NS}}}{tag}", attrib)
            element.text = text
            return element

        root = etree.Element(f"{{{_BANKID_NS}}}bankIdSignedData", nsmap={None: _BANKID_NS})
        root.set("Id", "bidSignedData")
        if visible:
            attrib = {"charset": "UTF-8", "visible": "wysiwys"}
            if visible_format:
                attrib["format"] = visible_format
            child(root, "usrVisibleData", visible, **attrib)
        if non_visible:
            child(root, "usrNonVisibleData", non_visible)
        srv = child(root, "srvInfo")
        child(srv, "name", _b64("cn=Simulated RP,o=Simulated RP AB,c=SE"))
        child(srv, "nonce", base64.b64encode(self.rng.randbytes(20)).decode())
        child(srv, "displayName", _b64("Simulated RP"))
        client = child(root, "clientInfo")
        child(client, "funcId", function)
        child(client, "version", _b64("Personal=8.0.0"))
        ai = child(child(client, "env"), "ai")
        child(ai, "type", _b64("IOS"))
        child(ai, "deviceInfo", _b64("17.4"))
        child(ai, "uhi", self.uhi(person))
        child(ai, "fsib", "0")
        child(ai, "utb", "cs1")
        condition = child(child(ai, "requirement"), "condition")
        child(condition, "type", "CertificatePolicies")
        child(condition, "value", "1.2.3.4.25")
        child(ai, "uauth", "pin")
        return root


def _sign(signed_data: Any, user: _Issued, ca: _Issued) -> bytes:
    """The ``<Signature>`` document over ``signed_data``, BankID's layout, signed by signxml.

    signxml's detached method signs referenced elements of a document it is given; the
    document here holds ``KeyInfo Id="bidKeyInfo"`` and ``bankIdSignedData``, each in the
    namespace context it has in the final layout (XML-DSig default namespace, BankID's own
    default namespace), so their canonical forms, and thus the digests, are the same there.
    """
    key_info = etree.Element(f"{{{_DSIG}}}KeyInfo", nsmap={None: _DSIG})
    key_info.set("Id", "bidKeyInfo")
    x509_data = etree.SubElement(key_info, f"{{{_DSIG}}}X509Data")
    for issued in (user, ca):
        der = issued.cert.public_bytes(serialization.Encoding.DER)
        etree.SubElement(x509_data, f"{{{_DSIG}}}X509Certificate").text = base64.b64encode(
            der
        ).decode()
    holder = etree.Element(f"{{{_DSIG}}}Object", nsmap={None: _DSIG})
    holder.append(key_info)
    holder.append(signed_data)

    def mark_reference_type(sig_root: Any, signing_settings: Any) -> None:
        # Runs before SignedInfo is canonicalised and signed: the Type is covered.
        # (signxml makes its elements without a namespace when XML-DSig is the default one)
        for reference in sig_root.iter():
            if etree.QName(reference).localname == "Reference":
                if reference.get("URI") == "#bidSignedData":
                    reference.set("Type", _BANKID_NS)

    signer = XMLSigner(
        method=SignatureConstructionMethod.detached,
        signature_algorithm=SignatureMethod.ECDSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=_C14N,
    )
    signer.namespaces = {None: _DSIG}  # type: ignore[dict-item]  # BankID: <Signature xmlns=...>
    signer.signature_annotators.append(mark_reference_type)
    signature = signer.sign(
        holder,
        key=user.key,
        reference_uri=[
            SignatureReference("#bidSignedData", c14n_method=_C14N),
            SignatureReference("#bidKeyInfo", c14n_method=_C14N),
        ],
        key_info=key_info,
        id_attribute="Id",
    )
    etree.SubElement(signature, f"{{{_DSIG}}}Object").append(signed_data)
    return bytes(
        etree.tostring(signature, xml_declaration=True, encoding="UTF-8", standalone=False)
    )


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
