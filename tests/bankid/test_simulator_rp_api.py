"""The simulator's RP API validation and error bodies, sent raw where the client would refuse."""

import base64

import httpx
import pytest

from idp.bankid import errors
from idp.bankid.simulator import DEFAULT_PERSON, Fault, UnknownOrderRef

pytestmark = pytest.mark.anyio

IP = "192.0.2.10"
PNR = DEFAULT_PERSON.personal_number
B64 = base64.b64encode(b"hej").decode()


def b64(n: int) -> str:
    """Exactly n base64 characters (n a multiple of 4) of valid UTF-8."""
    return base64.b64encode(b"x" * (n // 4 * 3)).decode()


async def expect(response, status, code, details=None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"errorCode", "details"} and body["errorCode"] == code, body
    if details is not None:
        assert details in body["details"]
    return body


INVALID = [
    ("auth", {}, "endUserIp"),
    ("auth", {"endUserIp": "300.1.1.1"}, "endUserIp"),
    ("auth", {"endUserIp": 17}, "endUserIp"),
    ("auth", {"endUserIp": IP, "personalNumber": PNR}, "Unknown parameter: personalNumber"),
    ("auth", {"endUserIp": IP, "userVisibleData": "not base64!"}, "userVisibleData"),
    ("auth", {"endUserIp": IP, "userVisibleData": base64.b64encode(b"\xff\xfe").decode()},
     "UTF-8"),
    ("auth", {"endUserIp": IP, "userVisibleData": ""}, "userVisibleData"),
    ("auth", {"endUserIp": IP, "userVisibleData": b64(1504)}, "userVisibleData"),
    ("auth", {"endUserIp": IP, "userNonVisibleData": b64(1504)}, "userNonVisibleData"),
    ("auth", {"endUserIp": IP, "userVisibleDataFormat": "simpleMarkdownV1"},
     "userVisibleDataFormat"),
    ("auth", {"endUserIp": IP, "userVisibleData": B64, "userVisibleDataFormat": "html"},
     "userVisibleDataFormat"),
    ("auth", {"endUserIp": IP, "returnUrl": ""}, "Invalid returnUrl"),
    ("auth", {"endUserIp": IP, "returnUrl": "https://x.test/" + "a" * 500}, "Invalid returnUrl"),
    ("auth", {"endUserIp": IP, "returnUrl": "not a url"}, "Invalid returnUrl"),
    ("auth", {"endUserIp": IP, "returnRisk": "yes"}, "returnRisk"),
    ("auth", {"endUserIp": IP, "web": {"userAgent": "x"}, "app": {"deviceOS": "y"}},
     "Only one of web and app"),
    ("auth", {"endUserIp": IP, "web": {}}, "web"),
    ("auth", {"endUserIp": IP, "web": {"referringDomain": "Exempel.SE"}}, "referringDomain"),
    ("auth", {"endUserIp": IP, "app": {"colour": "red"}}, "app.colour"),
    ("auth", {"endUserIp": IP, "requirement": {"personalNumber": "198501012383"}},
     "requirement.personalNumber"),
    ("auth", {"endUserIp": IP, "requirement": {"personalNumber": "8501012382"}},
     "requirement.personalNumber"),
    ("auth", {"endUserIp": IP, "requirement": {"pinCode": "true"}}, "requirement.pinCode"),
    ("auth", {"endUserIp": IP, "requirement": {"cardReader": "class3"}}, "cardReader"),
    ("auth", {"endUserIp": IP, "requirement": {"certificatePolicies": ["1.2.*"]}},
     "certificatePolicies"),
    ("auth", {"endUserIp": IP, "requirement": {"allowFingerprint": True}}, "allowFingerprint"),
    ("sign", {"endUserIp": IP}, "Missing userVisibleData"),
    ("sign", {"endUserIp": IP, "userVisibleData": b64(40_004)}, "userVisibleData"),
    ("payment", {"endUserIp": IP}, "userVisibleTransaction"),
    ("payment", {"endUserIp": IP, "userVisibleTransaction": {
        "transactionType": "npa", "recipient": {"name": "A"},
        "money": {"amount": "1,00", "currency": "SEK"}}}, "npa"),
    ("payment", {"endUserIp": IP, "userVisibleTransaction": {
        "transactionType": "card", "recipient": {"name": "A"},
        "money": {"amount": "1.00", "currency": "SEK"}}}, "money"),
    ("payment", {"endUserIp": IP, "riskFlags": ["whatever"], "userVisibleTransaction": {
        "transactionType": "card", "recipient": {"name": "A"}}}, "riskFlags"),
    ("phone/auth", {"callInitiator": "RP"}, "personalNumber"),
    ("phone/auth", {"personalNumber": PNR[:8] + "-" + PNR[8:], "callInitiator": "RP"},
     "personalNumber"),
    ("phone/auth", {"personalNumber": PNR, "callInitiator": "rp"}, "callInitiator"),
    ("phone/auth", {"personalNumber": PNR, "callInitiator": "RP", "returnUrl": "https://x"},
     "Unknown parameter: returnUrl"),
    ("phone/auth", {"personalNumber": PNR, "callInitiator": "RP", "endUserIp": IP},
     "Unknown parameter: endUserIp"),
    ("phone/sign", {"personalNumber": PNR, "callInitiator": "user"}, "Missing userVisibleData"),
    ("collect", {}, "orderRef"),
    ("collect", {"orderRef": 12}, "orderRef"),
    ("cancel", {"orderRef": "../etc"}, "orderRef"),
]


@pytest.mark.parametrize(("endpoint", "body", "details"), INVALID)
async def test_invalid_parameters(sim, endpoint, body, details):
    body = await expect(await sim.rp(endpoint, body), 400, "invalidParameters", details)
    assert PNR not in body["details"]


async def test_valid_raw_requests_pass(sim):
    ok = [
        ("auth", {"endUserIp": "2001:db8::5", "userVisibleData": b64(1500),
                  "userNonVisibleData": b64(1500), "userVisibleDataFormat": "plaintext",
                  "returnUrl": "https://x.test/" + "a" * 497, "returnRisk": False,
                  "web": {"referringDomain": "xn--exmpel-cua.se", "userAgent": "UA",
                          "deviceIdentifier": "d"},
                  "requirement": {"pinCode": True, "mrtd": False, "cardReader": "class2",
                                  "certificatePolicies": ["1.2.752.78.*", "1.2.3.4.25"],
                                  "risk": "low"}}),
        ("sign", {"endUserIp": IP, "userVisibleData": b64(40_000),
                  "userNonVisibleData": b64(200_000),
                  "app": {"appIdentifier": "se.x", "deviceOS": "IOS 17",
                          "deviceModelName": "iPhone", "deviceIdentifier": "d"}}),
    ]
    for endpoint, body in ok:
        response = await sim.rp(endpoint, body)
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"orderRef", "autoStartToken", "qrStartToken",
                                        "qrStartSecret"}
    response = await sim.rp("phone/auth", {"personalNumber": PNR, "callInitiator": "user"})
    assert response.status_code == 200 and set(response.json()) == {"orderRef"}


async def test_malformed_json_is_invalid_parameters(sim):
    await expect(await sim.rp("auth", b"{not json"), 400, "invalidParameters", "JSON")
    await expect(await sim.rp("auth", b"[1]"), 400, "invalidParameters", "JSON")


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=UTF-8", "application/json;charset=utf-8", "text/plain", None],
)
async def test_a_charset_or_another_media_type_is_415(sim, content_type):
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = await sim.rp("auth", {"endUserIp": IP}, headers=headers)
    await expect(response, 415, "unsupportedMediaType")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_anything_but_post_is_405(sim, method):
    response = await sim.http.request(method, "/rp/v6.0/collect")
    await expect(response, 405, "methodNotAllowed")
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("path", ["/rp/v6.0/authenticate", "/rp/v6.0/", "/rp/v6.0/phone"])
async def test_a_wrong_path_is_404_not_found(sim, path):
    response = await sim.http.post(path, json={})
    await expect(response, 404, "notFound")


async def test_the_client_sees_a_wrong_base_url_as_not_found(sim):
    from idp.bankid.client import BankIDClient

    transport = httpx.ASGITransport(app=sim.app)
    async with BankIDClient("http://simulator.test/rp/v5.1", clock=sim.clock,
                            transport=transport) as client:
        with pytest.raises(errors.NotFound):
            await client.collect(UNKNOWN_REF)


UNKNOWN_REF = "00000000-0000-4000-8000-000000000000"


async def test_an_order_ref_never_issued_is_404(sim):
    await expect(await sim.rp("collect", {"orderRef": UNKNOWN_REF}), 404, "notFound")
    with pytest.raises(errors.NotFound):
        await sim.client.cancel(UNKNOWN_REF)


async def test_unknown_order_ref_can_answer_invalid_parameters_instead(make_sim):
    sim = make_sim(unknown_order_ref=UnknownOrderRef.INVALID_PARAMETERS)
    await expect(await sim.rp("collect", {"orderRef": UNKNOWN_REF}), 400, "invalidParameters",
                 "No such order")
    with pytest.raises(errors.InvalidParameters):
        await sim.client.collect(UNKNOWN_REF)


@pytest.mark.parametrize(
    ("fault", "status", "cls"),
    [(Fault.MAINTENANCE, 503, errors.Maintenance),
     (Fault.INTERNAL_ERROR, 500, errors.InternalError),
     (Fault.RATE_LIMITED, 429, errors.RateLimited)],
)
async def test_fault_injection(make_sim, fault, status, cls):
    sim = make_sim(fault_rate=1.0, faults=(fault,))
    response = await sim.rp("auth", {"endUserIp": IP})
    assert response.status_code == status
    with pytest.raises(cls) as info:
        await sim.client.auth(end_user_ip=IP)
    if fault is Fault.RATE_LIMITED:
        assert (info.value.limit, info.value.remaining, info.value.reset) == (10, 0, 1)


async def test_slow_fault_sleeps_then_answers(make_sim):
    slept = []

    async def fake_sleep(seconds):
        slept.append(seconds)

    sim = make_sim(fault_rate=1.0, faults=(Fault.SLOW,), slow_delay=2.5, sleep=fake_sleep)
    order = await sim.client.auth(end_user_ip=IP)
    assert order.order_ref and slept == [2.5]


async def test_fault_rate_uses_the_injected_randomness(make_sim):
    sim = make_sim(fault_rate=0.5, faults=(Fault.MAINTENANCE,))
    statuses = [(await sim.rp("collect", {"orderRef": UNKNOWN_REF})).status_code
                for _ in range(40)]
    assert set(statuses) == {404, 503}  # some of each, reproducibly (seeded Random)
    again = make_sim(fault_rate=0.5, faults=(Fault.MAINTENANCE,))
    assert statuses == [(await again.rp("collect", {"orderRef": UNKNOWN_REF})).status_code
                        for _ in range(40)]


def test_settings_are_checked():
    from idp.bankid.simulator import SimulatorSettings

    for bad in ({"fault_rate": 2}, {"think_time": -1}, {"fault_rate": 0.1, "faults": ()}):
        with pytest.raises(ValueError):
            SimulatorSettings(**bad)
