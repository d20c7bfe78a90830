"""Personal numbers and integers are ASCII digits only, everywhere: `\\d`, str.isdigit() and int()
also take "١٩٨٥٠١٠١٢٣٨٢" (Arabic-Indic) and "１９８５…" (fullwidth), which then passed as a person
at CIBA and ended in a 500 (issue 14)."""

import datetime as dt
import json

import pytest

from idp.authn import personal_number as pnr
from tests.fuzz.strategies import DIGIT_ZEROS, in_digits
from tests.fuzz.support import ANNA, RP_CB, basic

pytestmark = pytest.mark.anyio

FOREIGN = [in_digits(ANNA, zero) for zero in DIGIT_ZEROS[1:]]
NAMES = ["arabic-indic", "ext-arabic-indic", "devanagari", "bengali", "thai", "fullwidth", "math"]
FORMS = [
    *FOREIGN,
    in_digits(f"{ANNA[:8]}-{ANNA[8:]}", 0xFF10),
    ANNA[:-1] + in_digits(ANNA[-1], 0x660),  # one foreign digit is enough
    ANNA[:-1] + "²",  # a digit to isdigit(), not to int()
]


@pytest.mark.parametrize("number", FORMS)
def test_personal_numbers_in_other_digits_are_not_personal_numbers(number):
    with pytest.raises(pnr.InvalidPersonalNumber):
        pnr.parse(number)
    assert not pnr.is_valid(number)
    assert pnr.from_login_hint(number) is None
    assert pnr.from_login_hint(f"sub:{number}") is None


@pytest.mark.parametrize("number", FOREIGN, ids=NAMES)
def test_luhn_and_birthdate_take_ascii_digits_only(number):
    assert not pnr.luhn_ok(number[2:])
    with pytest.raises(ValueError):
        pnr.birthdate(number)
    assert pnr.luhn_ok(ANNA[2:]) and pnr.birthdate(ANNA) == dt.date(1985, 1, 1)


def test_a_trailing_newline_is_not_part_of_a_personal_number():
    assert pnr.from_login_hint(ANNA + "\n") == ANNA  # stripped, as any hint
    assert not pnr.luhn_ok(ANNA[2:] + "\n")


@pytest.mark.parametrize("number", FORMS)
async def test_ciba_login_hint_in_other_digits_is_unknown_user_id(provider, tracebacks, number):
    _, http = provider
    for hint in (number, f"sub:ssn:{number}"):
        r = await http.post(
            "/backchannel-authentication",
            data={"scope": "openid", "login_hint": hint},
            headers={"Authorization": basic("cs")},
        )
        assert r.status_code == 400, (r.status_code, r.text)
        assert r.json()["error"] == "unknown_user_id", r.json()
        tracebacks("CIBA login_hint")


@pytest.mark.parametrize("number", FORMS)
async def test_authorize_and_par_login_hint_in_other_digits_names_nobody(
    provider, tracebacks, number
):
    """A hint that is no personal number is only a hint: the client "web" may not name a person,
    so a hint read as one would be refused; this one goes on to the login."""
    _, http = provider
    params = {
        "response_type": "code",
        "client_id": "web",
        "redirect_uri": RP_CB,
        "scope": "openid",
        "state": "st",
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
        "login_hint": number,
    }
    r = await http.get("/authorize", params=params)
    assert r.status_code in (302, 303), (r.status_code, r.text[:200])
    assert "error=" not in r.headers["location"], r.headers["location"]
    r = await http.post("/par", data=params, headers={"Authorization": basic("web")})
    assert r.status_code == 201, r.text
    r = await http.get(
        "/authorize", params={"client_id": "web", "request_uri": r.json()["request_uri"]}
    )
    assert r.status_code in (302, 303), (r.status_code, r.text[:200])
    assert "error=" not in r.headers["location"], r.headers["location"]
    tracebacks("authorize login_hint")


@pytest.mark.parametrize("value", ["١٠", "１０", "²", "1²"])
async def test_max_age_in_other_digits_is_invalid_request(provider, tracebacks, value):
    _, http = provider
    params = {
        "response_type": "code",
        "client_id": "web",
        "redirect_uri": RP_CB,
        "scope": "openid",
        "state": "st",
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
        "max_age": value,
    }
    r = await http.get("/authorize", params=params)
    assert r.status_code in (302, 303), (r.status_code, r.text[:200])
    assert "error=invalid_request&" in r.headers["location"], r.headers["location"]
    tracebacks("max_age")


@pytest.mark.parametrize("number", FORMS)
async def test_claims_values_in_other_digits_never_break_the_provider(provider, tracebacks, number):
    _, http = provider
    claims = json.dumps(
        {"id_token": {"ssn": {"value": number}}, "userinfo": {"ssn": {"values": [number]}}}
    )
    r = await http.get(
        "/authorize",
        params={
            "response_type": "code",
            "client_id": "web",
            "redirect_uri": RP_CB,
            "scope": "openid ssn",
            "state": "st",
            "code_challenge": "c" * 43,
            "code_challenge_method": "S256",
            "claims": claims,
        },
    )
    assert r.status_code in (302, 303, 400), (r.status_code, r.text[:200])
    r = await http.post(
        "/backchannel-authentication",
        data={"scope": "openid ssn", "login_hint": ANNA, "claims": claims},
        headers={"Authorization": basic("cs")},
    )
    assert r.status_code < 500, (r.status_code, r.text[:200])
    tracebacks("claims values")


@pytest.mark.parametrize("number", FORMS)
async def test_the_simulator_takes_ascii_personal_numbers_only(simulator, tracebacks, number):
    _, http = simulator
    r = await http.post("/app/phone", json={"personalNumber": number, "action": "approve"})
    assert r.status_code == 400, (r.status_code, r.text)
    assert r.json()["error"] == "invalid_personal_number"
    for endpoint, body in (
        ("auth", {"endUserIp": "192.0.2.1", "requirement": {"personalNumber": number}}),
        ("phone/auth", {"personalNumber": number, "callInitiator": "RP"}),
    ):
        r = await http.post(f"/rp/v6.0/{endpoint}", json=body)
        assert r.status_code == 400, (r.status_code, r.text)
        assert r.json()["errorCode"] == "invalidParameters"
    tracebacks("simulator")
