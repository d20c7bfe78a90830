"""Simulator evidence is real XML-DSig + OCSP, and `idp.bankid.evidence.verify` (and
`idp evidence verify`) accepts it and refuses every tampering with a precise message."""

import base64
import datetime as dt
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from idp.bankid.evidence import EvidenceError, Trust, verify
from idp.bankid.simulator import DEFAULT_PERSON, SimulatorSettings, create_simulator_app
from idp.bankid.simulator.evidence import EvidenceFactory, ca_pem

VISIBLE = "Jag godkänner **avtalet**\nrad två"
VISIBLE_B64 = base64.b64encode(VISIBLE.encode()).decode()
HIDDEN_B64 = base64.b64encode(b"\x00\x01 hidden payload").decode()
SIMULATOR = Trust.builtin("simulator")


def make(seed="idp-simulator", visible=VISIBLE_B64, hidden=HIDDEN_B64, function="Signing"):
    factory = EvidenceFactory(random.Random(11), seed=seed)
    return factory.signature(
        DEFAULT_PERSON,
        time.time(),
        user_visible_data=visible,
        user_non_visible_data=hidden,
        visible_format="simpleMarkdownV1",
        function=function,
    )


def xml_of(signature: str) -> str:
    return base64.b64decode(signature).decode()


def b64(xml: str) -> str:
    return base64.b64encode(xml.encode()).decode()


def rejected(signature: str, ocsp: str | None, trust: Trust = SIMULATOR) -> str:
    with pytest.raises(EvidenceError) as caught:
        verify(signature, ocsp, trust=trust)
    return str(caught.value)


def test_a_simulator_signature_verifies_and_yields_exactly_the_data_signed():
    signature, ocsp = make()
    result = verify(signature, ocsp, trust=SIMULATOR)
    assert result.visible_text == VISIBLE and result.visible_format == "simpleMarkdownV1"
    assert result.non_visible_data == HIDDEN_B64
    assert result.function == "Signing" and result.ocsp_checked
    assert result.personal_number == DEFAULT_PERSON.personal_number
    assert (result.name, result.given_name, result.surname) == (
        DEFAULT_PERSON.name,
        DEFAULT_PERSON.given_name,
        DEFAULT_PERSON.surname,
    )
    assert result.environment == "simulator"
    assert result.issuer == "CN=Simulated BankID Customer CA v1,O=Simulated Bank AB,C=SE"


def test_the_document_has_bankids_layout():
    signature, _ = make(function="Identification")
    xml = xml_of(signature)
    assert (
        xml.startswith("<?xml") and '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">' in xml
    )
    assert 'Type="http://www.bankid.com/signature/v1.0.0/types"' in xml
    assert 'URI="#bidSignedData"' in xml and '<KeyInfo Id="bidKeyInfo">' in xml
    assert (
        '<Object><bankIdSignedData xmlns="http://www.bankid.com/signature/v1.0.0/types" '
        'Id="bidSignedData">' in xml
    )
    assert f'visible="wysiwys" format="simpleMarkdownV1">{VISIBLE_B64}</usrVisibleData>' in xml
    assert f"<usrNonVisibleData>{HIDDEN_B64}</usrNonVisibleData>" in xml
    assert "<funcId>Identification</funcId>" in xml
    assert verify(signature, None, trust=Trust.builtin()).function == "Identification"


@pytest.mark.anyio
async def test_the_ca_is_derived_from_the_seed_and_published():
    assert ca_pem() == ca_pem(SimulatorSettings())  # the same on every start
    other = SimulatorSettings(evidence_seed="other")
    assert ca_pem(other) != ca_pem()
    transport = httpx.ASGITransport(app=create_simulator_app(settings=other))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.test") as client:
        response = await client.get("/ca.pem")
    assert response.status_code == 200 and response.text == ca_pem(other)


def test_altered_visible_data_is_refused():
    signature, _ = make()
    other = base64.b64encode("Jag godkänner inget".encode()).decode()
    forged = b64(xml_of(signature).replace(VISIBLE_B64, other))
    message = rejected(forged, None)
    assert message.startswith("the signed data was altered: Digest mismatch for reference 0")
    assert "#bidSignedData" in message


def test_a_signature_from_another_ca_is_refused():
    signature, ocsp = make(seed="another simulator")
    message = rejected(signature, ocsp)
    assert message == (
        "the certificate chain does not lead to a trusted root (tried: simulator); the top "
        "certificate was issued by CN=Simulated BankID Customer CA v1,O=Simulated Bank AB,C=SE"
    )
    mine, ocsp = make()
    assert rejected(mine, ocsp, Trust.builtin("test")).startswith(
        "the certificate chain does not lead to a trusted root (tried: test)"
    )


def test_an_ocsp_response_of_another_signature_is_refused():
    signature, _ = make()
    _, other_ocsp = make(visible=base64.b64encode(b"something else").decode())
    assert rejected(signature, other_ocsp) == (
        "the OCSP response belongs to another signature: its nonce does not start with "
        "SHA-1 of this signature"
    )


def test_a_truncated_document_is_refused():
    signature, ocsp = make()
    truncated = b64(xml_of(signature)[:-40])
    assert rejected(truncated, ocsp).startswith("userSignature is not well-formed XML:")
    assert rejected(signature[:-3], ocsp) == "userSignature is not valid base64"


def test_a_tampered_signature_value_is_refused():
    signature, _ = make()
    xml = xml_of(signature)
    start = xml.index("<SignatureValue>") + len("<SignatureValue>")
    value = bytearray(base64.b64decode(xml[start : xml.index("</SignatureValue>")]))
    value[5] ^= 0x01
    forged = (
        xml[:start]
        + base64.b64encode(bytes(value)).decode()
        + xml[xml.index("</SignatureValue>") :]
    )
    assert rejected(b64(forged), None).startswith(
        "SignatureValue does not verify with the signer's certificate (CN=Anna Andersson"
    )


def test_a_wrapping_attempt_is_refused():
    signature, _ = make()
    xml = xml_of(signature)
    evil = base64.b64encode("Jag skänker bort huset".encode()).decode()
    wrapper = (
        '<Object><bankIdSignedData xmlns="http://www.bankid.com/signature/v1.0.0/types" '
        f'Id="bidSignedData"><usrVisibleData charset="UTF-8" visible="wysiwys">{evil}'
        "</usrVisibleData><clientInfo><funcId>Signing</funcId></clientInfo>"
        "</bankIdSignedData></Object>"
    )
    # placed before the genuine one: the first element a naive reader finds
    forged = xml.replace("<Object>", wrapper + "<Object>", 1)
    message = rejected(b64(forged), None)
    assert message == (
        "the XML signature is malformed: Ambiguous reference URI #bidSignedData resolved to 2 "
        "nodes (more than one element has that Id: a signature-wrapping attempt?)"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "userSignature is not well-formed XML"),
        (b64("not xml at all"), "userSignature is not well-formed XML"),
        (b64("<a/>"), "userSignature is not an XML-DSig <Signature> document (a)"),
        (
            b64(
                '<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
                "<l>&b;&b;</l>"
            ),
            "userSignature contains a DTD; refused",
        ),
        ("A" * 1_000_004, "userSignature is too large"),
    ],
)
def test_garbage_is_refused_with_a_message(text, expected):
    assert rejected(text, None).startswith(expected)


IDP = Path(sys.executable).parent / "idp"


def run_idp(*args, stdin=""):
    return subprocess.run(
        [str(IDP), "evidence", "verify", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_verifies_a_json_evidence_object(tmp_path):
    signature, ocsp = make()
    body = json.dumps({"userSignature": signature, "authnEvidence": ocsp})
    done = run_idp("-", "--expect-text", VISIBLE, stdin=body)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "OK"
    assert "Anna Andersson (********2382)" in done.stdout and "(simulator)" in done.stdout
    assert DEFAULT_PERSON.personal_number not in done.stdout
    (tmp_path / "sig").write_text(signature)
    (tmp_path / "ocsp").write_text(ocsp)
    done = run_idp(
        "--signature",
        str(tmp_path / "sig"),
        "--ocsp",
        str(tmp_path / "ocsp"),
        "--environment",
        "simulator",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["visibleText"] == VISIBLE


def test_the_cli_fails_in_one_line_without_a_traceback(tmp_path):
    signature, ocsp = make()
    (tmp_path / "sig").write_text(signature)
    (tmp_path / "ocsp").write_text(ocsp)
    done = run_idp(
        "--signature",
        str(tmp_path / "sig"),
        "--ocsp",
        str(tmp_path / "ocsp"),
        "--environment",
        "test",
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("idp evidence verify: the certificate chain does not lead")
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    for garbage in ("{", "[]", '{"userSignature": "%%%"}', "\x00" * 100):
        done = run_idp(stdin=garbage)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert len(done.stderr.splitlines()) == 1


def test_an_error_about_the_signers_certificate_never_names_the_personal_number():
    """The signer's subject in a message leaves out its serialNumber (the personal number):
    the messages reach the demo's page and the command's standard error."""
    signature, _ = make()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=5 * 365)  # past the person's cert only
    with pytest.raises(EvidenceError) as caught:
        verify(signature, None, trust=SIMULATOR, at=later)
    message = str(caught.value)
    number = DEFAULT_PERSON.personal_number
    assert "was not valid at the signing time" in message and "Anna Andersson" in message
    assert number not in message and number[2:] not in message
