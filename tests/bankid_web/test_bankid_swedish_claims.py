"""A BankID login's claims under the Swedish OIDC Claims and Scopes Specification 1.0 (claim
mappings §2 "BankID"): completionData becomes personalIdentityNumber, deviceIp, the
certificate's validity and authnProvider, plus our own transaction id, and a client held to
the profile finds them where the profile puts them."""

import base64
import datetime as dt
import json
import logging
import random

import jwt
import pytest

from idp.bankid.outcomes import claims_from_completion, credential_validity
from idp.bankid.simulator.evidence import EvidenceFactory
from idp.bankid.simulator.persons import person_for
from tests.bankid_web.conftest import build_app, make_settings
from tests.bankid_web.support import (
    ANNA,
    RP_CB,
    RP_SECRET,
    Browser,
    poll_until,
    query,
    scan,
)

pytestmark = pytest.mark.anyio

CLAIM = "https://id.oidc.se/claim/"
PNR = CLAIM + "personalIdentityNumber"
COORDINATION = CLAIM + "coordinationNumber"
NUMBER_SCOPE = "https://id.oidc.se/scope/naturalPersonNumber"
INFO_SCOPE = "https://id.oidc.se/scope/naturalPersonInfo"
UNCERTIFIED_LOA3 = "http://id.swedenconnect.se/loa/1.0/uncertified-loa3"


def completion(number=ANNA, **extra):
    person = person_for(number)
    signature, ocsp = EvidenceFactory(random.Random(7)).signature(
        person,
        dt.datetime(2026, 1, 15, tzinfo=dt.UTC).timestamp(),
        user_visible_data=None,
        user_non_visible_data=None,
        visible_format=None,
        function="Identification",
    )
    return {
        "personal_number": number,
        "name": person.name,
        "given_name": person.given_name,
        "surname": person.surname,
        "bank_id_issue_date": "2023-01-01",
        "signature": signature,
        "ocsp_response": ocsp,
        "risk": "low",
        "device_ip": "198.51.100.20",
        "uhi": "x",
        "mrtd": None,
        "txn": "our-own-txn",
        **extra,
    }


def test_completion_data_maps_to_the_swedish_claims():
    claims = claims_from_completion(completion())
    assert claims[PNR] == ANNA and COORDINATION not in claims
    assert claims[CLAIM + "deviceIp"] == "198.51.100.20"
    assert claims[CLAIM + "authnProvider"] == "urn:grn:authn:se:bankid"
    assert claims["txn"] == "our-own-txn"
    issued = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
    valid_from = dt.datetime.fromtimestamp(claims[CLAIM + "credentialValidFrom"], dt.UTC)
    valid_to = dt.datetime.fromtimestamp(claims[CLAIM + "credentialValidTo"], dt.UTC)
    assert valid_from == issued - dt.timedelta(days=365)  # the simulator's user certificate
    assert valid_to == issued + dt.timedelta(days=3 * 365)


def test_a_coordination_number_is_never_released_as_a_personal_identity_number():
    number = "199001712380"  # day 71: a samordningsnummer (a valid one)
    claims = claims_from_completion(completion(number))
    assert claims[COORDINATION] == number and PNR not in claims


def test_the_certificate_validity_comes_only_from_a_readable_user_certificate():
    assert credential_validity(None) is None
    assert credential_validity("not base64!") is None
    assert credential_validity(base64.b64encode(b"<Signature/>").decode()) is None
    # The CA's certificate alone is not the person's: no validity.
    xml = base64.b64decode(completion()["signature"]).decode()
    first = xml.index("<X509Certificate>")
    end = xml.index("</X509Certificate>") + len("</X509Certificate>")
    only_ca = xml[:first] + xml[end:]
    assert credential_validity(base64.b64encode(only_ca.encode()).decode()) is None
    claims = claims_from_completion(completion(signature=None))
    assert CLAIM + "credentialValidFrom" not in claims


def profile_client(**kw):
    return {
        "client_id": "rp",
        "client_name": "Test RP",
        "client_secret": RP_SECRET,
        "token_endpoint_auth_method": "client_secret_basic",
        "allow_weaker_client_auth": True,
        "profile": "swedish-oidc",
        "redirect_uris": [RP_CB],
        "grant_types": ["authorization_code"],
        "scope": f"openid {NUMBER_SCOPE} {INFO_SCOPE}",
        **kw,
    }


@pytest.fixture
async def swedish_app(sqlite_url, clock):
    settings = make_settings(sqlite_url, clients=[profile_client()])
    app = build_app(settings, clock)
    async with app.router.lifespan_context(app):
        yield app


async def test_a_bankid_login_gives_a_profile_client_what_the_profile_places(
    swedish_app, clock, caplog
):
    caplog.set_level(logging.INFO, logger="idp.bankid.orders")
    b = Browser(swedish_app)
    essential_loa = {"id_token": {"acr": {"essential": True, "values": [UNCERTIFIED_LOA3]}}}
    await b.open_login(scope=f"openid {NUMBER_SCOPE}", claims=json.dumps(essential_loa))
    await b.choose("qr")
    await scan(swedish_app, b)
    q = query(await b.finish(await poll_until(b, clock, "complete")))
    tokens = await b.token(q["code"])
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims[PNR] == ANNA and "name" not in claims and "ssn" not in claims
    assert claims[CLAIM + "authnProvider"] == "urn:grn:authn:se:bankid"
    assert claims[CLAIM + "deviceIp"] == "198.51.100.20"  # the phone's, as BankID saw it
    assert (
        claims[CLAIM + "credentialValidFrom"] < claims["iat"] < claims[CLAIM + "credentialValidTo"]
    )
    assert claims["acr"] == UNCERTIFIED_LOA3  # Sweden Connect's LoA for a broker of BankID
    assert claims["exp"] - claims["iat"] == 300
    # The transaction id is logged when the order completes, so a report can be traced.
    assert claims["txn"] and any(claims["txn"] in r.getMessage() for r in caplog.records)
    info = await b.http.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert info.headers["content-type"] == "application/jwt"
    answer = jwt.decode(info.text, options={"verify_signature": False})
    assert answer[PNR] == ANNA and answer["aud"] == "rp"
    assert CLAIM + "deviceIp" not in answer and "txn" not in answer
