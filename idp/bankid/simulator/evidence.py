"""Realistic `completionData` for the simulator: an XML signature and a DER OCSP response.

The shapes follow BankID's (reference 2.4): ``signature`` is base64 of an XML-DSig document
whose ``bankIdSignedData`` holds the visible and non-visible data, ``ocspResponse`` is base64 of
a real OCSP response whose nonce is SHA-1 of the base64 signature followed by 12 random bytes.
Both are signed by a throwaway CA made per simulator instance; they look right but prove
nothing, which is the point of a simulator.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from idp.bankid.simulator.persons import Person

_DSIG = "http://www.w3.org/2000/09/xmldsig#"
_BANKID_NS = "http://www.bankid.com/signature/v1.0.0/types"


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Simulated Bank AB"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


@dataclass
class _Issued:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


@dataclass
class EvidenceFactory:
    """Makes signatures and OCSP responses; keys are generated lazily and cached."""

    rng: random.Random
    _ca: _Issued | None = None
    _responder: _Issued | None = None
    _users: dict[str, _Issued] = field(default_factory=dict)

    def _issue(
        self, subject: x509.Name, issuer: _Issued | None, now: dt.datetime, *, ca: bool = False
    ) -> _Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.cert.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(self.rng.getrandbits(63) + 1)
            .not_valid_before(now - dt.timedelta(days=365))
            .not_valid_after(now + dt.timedelta(days=3 * 365))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
        return _Issued(key, cert)

    def _chain(self, person: Person, now: dt.datetime) -> tuple[_Issued, _Issued, _Issued]:
        if self._ca is None:
            self._ca = self._issue(_name("Simulated BankID Customer CA v1"), None, now, ca=True)
            self._responder = self._issue(_name("Simulated BankID OCSP v1"), self._ca, now)
        user = self._users.get(person.personal_number)
        if user is None:
            subject = x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
                    x509.NameAttribute(NameOID.SURNAME, person.surname),
                    x509.NameAttribute(NameOID.GIVEN_NAME, person.given_name),
                    x509.NameAttribute(NameOID.SERIAL_NUMBER, person.personal_number),
                    x509.NameAttribute(NameOID.COMMON_NAME, person.name),
                ]
            )
            user = self._issue(subject, self._ca, now)
            self._users[person.personal_number] = user
        assert self._responder is not None
        return self._ca, self._responder, user

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
        ca, responder, user = self._chain(person, when)
        nonce = base64.b64encode(self.rng.randbytes(20)).decode()
        fmt = f' format="{escape(visible_format)}"' if visible_format else ""
        visible = (
            f'<usrVisibleData charset="UTF-8" visible="wysiwys"{fmt}>{user_visible_data}'
            "</usrVisibleData>"
            if user_visible_data
            else ""
        )
        non_visible = (
            f"<usrNonVisibleData>{user_non_visible_data}</usrNonVisibleData>"
            if user_non_visible_data
            else ""
        )
        signed_data = (
            f'<bankIdSignedData xmlns="{_BANKID_NS}" Id="bidSignedData">{visible}{non_visible}'
            f"<srvInfo><name>{escape(_b64('Simulated RP'))}</name><nonce>{nonce}</nonce>"
            f"<displayName>{_b64('Simulated RP')}</displayName></srvInfo>"
            f"<clientInfo><funcId>{function}</funcId><version>{_b64('Personal=8.0.0')}"
            f"</version><env><ai><type>{_b64('IOS')}</type>"
            f"<deviceInfo>{_b64('17.4')}</deviceInfo><uhi>{self.uhi(person)}</uhi>"
            f"<fsib>0</fsib><utb>cs1</utb><requirement><condition><type>CertificatePolicies"
            f"</type><value>1.2.3.4.25</value></condition></requirement><uauth>pin</uauth>"
            f"</ai></env></clientInfo></bankIdSignedData>"
        )
        digest = base64.b64encode(hashlib.sha256(signed_data.encode()).digest()).decode()
        signed_info = (
            f'<SignedInfo xmlns="{_DSIG}"><CanonicalizationMethod '
            'Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>'
            '<SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>'
            f'<Reference Type="{_BANKID_NS}" URI="#bidSignedData"><Transforms><Transform '
            'Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/></Transforms>'
            '<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
            f"<DigestValue>{digest}</DigestValue></Reference></SignedInfo>"
        )
        value = user.key.sign(signed_info.encode(), ec.ECDSA(hashes.SHA256()))
        certs = "".join(
            f"<X509Certificate>{_der_b64(c.cert)}</X509Certificate>" for c in (user, ca)
        )
        xml = (
            '<?xml version="1.0" encoding="UTF-8" standalone="no"?>'
            f'<Signature xmlns="{_DSIG}">{signed_info}'
            f"<SignatureValue>{base64.b64encode(value).decode()}</SignatureValue>"
            f"<KeyInfo><X509Data>{certs}</X509Data></KeyInfo>"
            f"<Object>{signed_data}</Object></Signature>"
        )
        signature = base64.b64encode(xml.encode()).decode()
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


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
