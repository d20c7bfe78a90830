"""Offline verification of BankID evidence: the ``signature`` (XML-DSig) and ``ocspResponse`` of
``completionData``, from BankID production, BankID test or the simulator (reference 8.5, 8.6).

:func:`verify` checks, in order, and raises :class:`EvidenceError` with one precise message at
the first failure:

1. the signature is base64 of a well-formed XML ``<Signature>`` document with no DTD;
2. every ``KeyInfo`` certificate is signed by the next, the last by a root in :class:`Trust`,
   each valid at the signing time (the OCSP ``producedAt``, else now), not today;
3. the XML-DSig verifies (signxml) with the *first* certificate's key, passed explicitly once
   the chain holds; ``SignedInfo`` references ``#bidSignedData`` exactly once (and at most
   ``#bidKeyInfo`` besides, as BankID's documents do); the data is read only from the element
   signxml returns as verified, so a second, unsigned ``bankIdSignedData`` is never read;
4. the OCSP response: successful, GOOD, for the user certificate and its issuer, signed by that
   issuer or by a responder it certified for OCSP signing, its nonce starting with SHA-1 of the
   base64 signature string (reference 8.5).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lxml import etree  # type: ignore[import-untyped]
from signxml import SignatureConfiguration, XMLVerifier
from signxml.exceptions import InvalidDigest, InvalidInput
from signxml.exceptions import InvalidSignature as XMLInvalidSignature

__all__ = ["EvidenceError", "Trust", "TrustAnchor", "Verified", "verify"]

_DSIG = "http://www.w3.org/2000/09/xmldsig#"
_BANKID = "http://www.bankid.com/signature/v1.0.0/types"
_NS = {"ds": _DSIG, "bid": _BANKID}
#: Generous bounds on what BankID sends (visible data <= 40,000 and non-visible data <= 200,000
#: base64 characters, plus certificates), so a huge input is refused before any parsing.
MAX_SIGNATURE_CHARS = 1_000_000
MAX_OCSP_CHARS = 100_000

_CERTS = resources.files("idp.bankid").joinpath("certs")
#: The roots that issue BankID *user* certificates (not the RP API's TLS roots); see
#: idp/bankid/certs/README.md for their source.
_BUILTIN_ROOTS = {
    "production": "bankid-user-production-root-ca.pem",
    "test": "bankid-user-test-root-ca.pem",
}
ENVIRONMENTS = ("production", "test", "simulator")


class EvidenceError(Exception):
    """Raised by :func:`verify` when anything about the evidence does not hold; the message
    says what, in one line."""


@dataclass(frozen=True)
class TrustAnchor:
    name: str
    certificate: x509.Certificate


@dataclass(frozen=True)
class Trust:
    """The roots a signature may chain to, each with the environment name reported."""

    anchors: tuple[TrustAnchor, ...]

    @classmethod
    def builtin(cls, *names: str, simulator_seed: str | None = None) -> Trust:
        """Named anchors: ``production``, ``test``, ``simulator`` (all three by default)."""
        anchors = []
        for name in names or ENVIRONMENTS:
            if name == "simulator":
                from idp.bankid.simulator.evidence import ca_certificate
                from idp.bankid.simulator.settings import SimulatorSettings

                seed = simulator_seed or SimulatorSettings().evidence_seed
                anchors.append(TrustAnchor("simulator", ca_certificate(seed)))
            elif name in _BUILTIN_ROOTS:
                pem = _CERTS.joinpath(_BUILTIN_ROOTS[name]).read_bytes()
                anchors.append(TrustAnchor(name, x509.load_pem_x509_certificate(pem)))
            else:
                raise ValueError(f"unknown environment {name!r}; expected one of {ENVIRONMENTS}")
        return cls(tuple(anchors))

    @classmethod
    def from_pem(cls, path: str | Path, name: str | None = None) -> Trust:
        """Every certificate in a PEM file, named ``name`` (default: the file name)."""
        try:
            certs = x509.load_pem_x509_certificates(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            raise EvidenceError(f"{path}: not a readable PEM certificate file ({exc})") from None
        return cls(tuple(TrustAnchor(name or Path(path).name, cert) for cert in certs))

    def __add__(self, other: Trust) -> Trust:
        return Trust(self.anchors + other.anchors)


@dataclass(frozen=True)
class Verified:
    """What a verified signature proves: who approved what, when, under which root."""

    visible_text: str | None
    visible_format: str | None
    non_visible_data: str | None  # base64, as signed
    function: str  # funcId: Identification (auth) or Signing (sign, payment)
    name: str | None
    given_name: str | None
    surname: str | None
    personal_number: str | None
    signed_at: dt.datetime
    ocsp_checked: bool
    issuer: str
    environment: str


def verify(
    signature_b64: str, ocsp_b64: str | None, *, trust: Trust, at: dt.datetime | None = None
) -> Verified:
    """Verify BankID evidence offline; raise :class:`EvidenceError` unless all of it holds.

    The signing time is the OCSP response's ``producedAt``; without one, ``at`` (an archived
    signature's known time), else now.
    """
    signature_b64 = signature_b64.strip()
    document = _parse(_b64decode(signature_b64, "userSignature", MAX_SIGNATURE_CHARS))
    certs = _keyinfo_certificates(document)
    response = _ocsp(ocsp_b64) if ocsp_b64 is not None else None
    signed_at = response.produced_at_utc if response else (at or dt.datetime.now(dt.UTC))
    environment = _check_chain(certs, trust, signed_at)
    signed_data = _verify_xml(document, certs[0], signed_at)
    issuer = certs[1] if len(certs) > 1 else _anchor(trust, environment, certs[-1])
    if response is not None:
        _check_ocsp(response, certs[0], issuer, signature_b64)
    return _verified(signed_data, certs[0], signed_at, response is not None, environment)


def _b64decode(text: str, what: str, limit: int) -> bytes:
    if len(text) > limit:
        raise EvidenceError(f"{what} is too large ({len(text)} characters; at most {limit})")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise EvidenceError(f"{what} is not valid base64") from None


def _parser() -> Any:
    # No entities, no DTD, no network, no huge trees: XML bombs and XXE are refused.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _parse(xml: bytes) -> Any:
    try:
        root = etree.fromstring(xml, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise EvidenceError(f"userSignature is not well-formed XML: {exc}") from None
    docinfo = etree.ElementTree(root).docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise EvidenceError("userSignature contains a DTD; refused")
    if root.tag != f"{{{_DSIG}}}Signature":
        raise EvidenceError(f"userSignature is not an XML-DSig <Signature> document ({root.tag})")
    return root


def _keyinfo_certificates(root: Any) -> list[x509.Certificate]:
    certs = []
    for index, element in enumerate(
        root.iterfind("ds:KeyInfo/ds:X509Data/ds:X509Certificate", _NS), start=1
    ):
        try:
            der = base64.b64decode("".join((element.text or "").split()), validate=True)
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError:
            raise EvidenceError(
                f"KeyInfo certificate {index} is not a valid X.509 certificate"
            ) from None
    if not certs:
        raise EvidenceError("userSignature has no X509Certificate in KeyInfo/X509Data")
    return certs


def _subject(cert: x509.Certificate) -> str:
    """A certificate's subject for an error message, without its serialNumber: in a person's
    BankID certificate that is the personal number, and error messages reach pages and logs."""
    try:
        kept = [
            rdn for rdn in cert.subject.rdns if all(a.oid != NameOID.SERIAL_NUMBER for a in rdn)
        ]
        return x509.Name(kept).rfc4514_string()
    except ValueError:
        return "<unreadable subject>"


def _valid_at(cert: x509.Certificate, when: dt.datetime, what: str) -> None:
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        raise EvidenceError(
            f"{what} ({_subject(cert)}) was not valid at the signing time "
            f"{when:%Y-%m-%dT%H:%M:%SZ} (valid {cert.not_valid_before_utc:%Y-%m-%d} to "
            f"{cert.not_valid_after_utc:%Y-%m-%d})"
        )


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False


def _check_chain(certs: Sequence[x509.Certificate], trust: Trust, when: dt.datetime) -> str:
    """The name of the anchor the KeyInfo chain leads to, checked at ``when``."""
    for index, cert in enumerate(certs, start=1):
        _valid_at(cert, when, f"KeyInfo certificate {index}")
        if index > 1 and not _is_ca(cert):
            raise EvidenceError(f"KeyInfo certificate {index} ({_subject(cert)}) is not a CA")
        if index < len(certs) and not _issued_by(cert, certs[index]):
            raise EvidenceError(
                f"certificate chain broken: KeyInfo certificate {index} ({_subject(cert)}) is "
                f"not signed by certificate {index + 1} ({_subject(certs[index])})"
            )
    top = certs[-1]
    for anchor in trust.anchors:
        if top == anchor.certificate or _issued_by(top, anchor.certificate):
            _valid_at(anchor.certificate, when, f"the {anchor.name} root")
            return anchor.name
    names = ", ".join(a.name for a in trust.anchors) or "none"
    try:
        issuer = top.issuer.rfc4514_string()
    except ValueError:
        issuer = "<unreadable issuer>"
    raise EvidenceError(
        f"the certificate chain does not lead to a trusted root (tried: {names}); the top "
        f"certificate was issued by {issuer}"
    )


def _anchor(trust: Trust, name: str, top: x509.Certificate) -> x509.Certificate:
    for anchor in trust.anchors:
        if anchor.name == name and (
            top == anchor.certificate or _issued_by(top, anchor.certificate)
        ):
            return anchor.certificate
    raise EvidenceError("internal: matched trust anchor vanished")  # pragma: no cover


class _Verifier(XMLVerifier):
    # libxml2 2.14 (lxml 6) writes a spurious xmlns="" on grandchildren when it canonicalises a
    # subtree under a default namespace, which BankID's documents use (<Signature xmlns=...>),
    # so SignedInfo of a genuine BankID signature would not verify. No element of a BankID
    # document is in no namespace, so dropping xmlns="" restores the true canonical form; the
    # data is still read only from the verified canonical bytes (signxml #275, #283, #286).
    excise_empty_xmlns_declarations = True


def _verify_xml(root: Any, signer: x509.Certificate, when: dt.datetime) -> Any:
    uris = [ref.get("URI") for ref in root.iterfind("ds:SignedInfo/ds:Reference", _NS)]
    if (
        uris.count("#bidSignedData") != 1
        or any(uri not in ("#bidSignedData", "#bidKeyInfo") for uri in uris)
        or len(uris) != len(set(uris))
    ):
        raise EvidenceError(
            "SignedInfo must reference #bidSignedData exactly once (and at most #bidKeyInfo); "
            f"it references {', '.join(str(u) for u in uris) or 'nothing'}"
        )
    config = SignatureConfiguration(
        location="./", expect_references=len(uris), verification_time=when
    )
    try:
        results = _Verifier().verify(
            etree.tostring(root),
            x509_cert=signer,
            parser=_parser(),
            id_attribute="Id",
            expect_config=config,
        )
    except InvalidDigest as exc:
        raise EvidenceError(f"the signed data was altered: {exc}") from None
    except XMLInvalidSignature as exc:
        raise EvidenceError(
            "SignatureValue does not verify with the signer's certificate "
            f"({_subject(signer)}): {exc}".rstrip(": ")
        ) from None
    except InvalidInput as exc:
        message = str(exc)
        if "Ambiguous reference" in message:
            message += " (more than one element has that Id: a signature-wrapping attempt?)"
        raise EvidenceError(f"the XML signature is malformed: {message}") from None
    except Exception as exc:  # signxml raises plain errors for some malformed input
        raise EvidenceError(f"the XML signature does not verify: {exc}") from None
    signed = [
        r.signed_xml
        for r in (results if isinstance(results, list) else [results])
        if r.signed_xml is not None and r.signed_xml.tag == f"{{{_BANKID}}}bankIdSignedData"
    ]
    if len(signed) != 1 or signed[0].get("Id") != "bidSignedData":
        raise EvidenceError("the signature does not cover one bankIdSignedData element")
    return signed[0]


def _ocsp(text: str) -> ocsp.OCSPResponse:
    der = _b64decode(text.strip(), "ocspResponse", MAX_OCSP_CHARS)
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError:
        raise EvidenceError("ocspResponse is not a DER OCSP response") from None
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise EvidenceError(f"OCSP response status is {response.response_status.name}")
    return response


def _check_ocsp(
    response: ocsp.OCSPResponse,
    user: x509.Certificate,
    issuer: x509.Certificate,
    signature_b64: str,
) -> None:
    single = _single_response(response, user, issuer)
    if single.certificate_status is not ocsp.OCSPCertStatus.GOOD:
        raise EvidenceError(
            f"OCSP says the signer's certificate is {single.certificate_status.name}"
        )
    responder = _responder(response, issuer)
    _valid_at(responder, response.produced_at_utc, "the OCSP responder certificate")
    try:
        _verify_signed(responder, response.signature, response.tbs_response_bytes, response)
    except (InvalidSignature, TypeError, ValueError):
        raise EvidenceError(
            f"the OCSP response's signature does not verify with its responder "
            f"({_subject(responder)})"
        ) from None
    try:
        nonce = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except (x509.ExtensionNotFound, ValueError):
        raise EvidenceError("the OCSP response has no nonce extension") from None
    expected = hashlib.sha1(signature_b64.encode()).digest()  # noqa: S324 - BankID's recipe
    if nonce[:20] != expected:
        raise EvidenceError(
            "the OCSP response belongs to another signature: its nonce does not start with "
            "SHA-1 of this signature"
        )


def _single_response(
    response: ocsp.OCSPResponse, user: x509.Certificate, issuer: x509.Certificate
) -> ocsp.OCSPSingleResponse:
    for single in response.responses:
        request = (
            ocsp.OCSPRequestBuilder().add_certificate(user, issuer, single.hash_algorithm).build()
        )
        if (
            single.serial_number == request.serial_number
            and single.issuer_name_hash == request.issuer_name_hash
            and single.issuer_key_hash == request.issuer_key_hash
        ):
            return single
    raise EvidenceError(
        "the OCSP response is not about the signer's certificate "
        f"(serial {user.serial_number:x}, issuer {_subject(issuer)})"
    )


def _responder(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> x509.Certificate:
    """The certificate that signed ``response``: the issuer itself, or one it certified with
    id-kp-OCSPSigning (RFC 6960 §4.2.2.2)."""

    def named(cert: x509.Certificate) -> bool:
        if response.responder_key_hash is not None:
            ski = x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
            return ski.digest == response.responder_key_hash
        return cert.subject == response.responder_name

    if named(issuer):
        return issuer
    for cert in response.certificates:
        if not named(cert):
            continue
        if not _issued_by(cert, issuer):
            raise EvidenceError(
                f"the OCSP responder ({_subject(cert)}) is not certified by the signer's "
                f"issuer ({_subject(issuer)})"
            )
        try:
            usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (x509.ExtensionNotFound, ValueError):
            usages = x509.ExtendedKeyUsage([])
        if ExtendedKeyUsageOID.OCSP_SIGNING not in usages:
            raise EvidenceError(
                f"the OCSP responder ({_subject(cert)}) is not certified for OCSP signing"
            )
        return cert
    raise EvidenceError("the OCSP response's responder certificate is missing")


def _verify_signed(
    cert: x509.Certificate, signature: bytes, data: bytes, response: ocsp.OCSPResponse
) -> None:
    key = cert.public_key()
    algorithm = response.signature_hash_algorithm
    if algorithm is None:
        raise ValueError("no hash algorithm")
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(algorithm))
    else:
        raise TypeError("unsupported responder key type")


def _attribute(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    values = cert.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def _verified(
    signed: Any, user: x509.Certificate, when: dt.datetime, ocsp_checked: bool, environment: str
) -> Verified:
    visible = signed.find("bid:usrVisibleData", _NS)
    visible_text = None
    if visible is not None:
        try:
            raw = base64.b64decode("".join((visible.text or "").split()), validate=True)
            visible_text = raw.decode("utf-8")
        except (binascii.Error, ValueError):
            raise EvidenceError("usrVisibleData is not base64 of UTF-8 text") from None
    non_visible = signed.find("bid:usrNonVisibleData", _NS)
    function = signed.findtext("bid:clientInfo/bid:funcId", namespaces=_NS)
    if not function:
        raise EvidenceError("bankIdSignedData has no clientInfo/funcId")
    return Verified(
        visible_text=visible_text,
        visible_format=visible.get("format") if visible is not None else None,
        non_visible_data=(non_visible.text or "") if non_visible is not None else None,
        function=function,
        name=_attribute(user, NameOID.COMMON_NAME),
        given_name=_attribute(user, NameOID.GIVEN_NAME),
        surname=_attribute(user, NameOID.SURNAME),
        personal_number=_attribute(user, NameOID.SERIAL_NUMBER),
        signed_at=when,
        ocsp_checked=ocsp_checked,
        issuer=user.issuer.rfc4514_string(),
        environment=environment,
    )
