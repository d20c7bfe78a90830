"""The client against an injected httpx.MockTransport: what goes on the wire, what comes back."""

import base64
import json
import socket

import httpx
import pytest

from idp.authn.personal_number import with_check_digit
from idp.bankid import errors
from idp.bankid.client import BankIDClient
from idp.bankid.models import (
    AppDevice,
    CallInitiator,
    CardReader,
    HintCode,
    Money,
    Requirement,
    RiskLevel,
    Status,
    TransactionType,
    UserVisibleDataFormat,
    UserVisibleTransaction,
    WebDevice,
)
from idp.clock import FixedClock

pytestmark = pytest.mark.anyio

PNR = with_check_digit("19900101123")
ORDER = {
    "orderRef": "131daac9-16c6-4618-beb0-365768f37288",
    "autoStartToken": "7c40b5c9-fa74-49cf-b98c-bfe651f9a7c6",
    "qrStartToken": "67df3917-fa0d-44e5-b327-edcc928297f8",
    "qrStartSecret": "d28db9a7-4cde-429e-a983-359be676944c",
}


class Recorder:
    def __init__(self, status=200, body=None, headers=None, raise_exc=None):
        self.requests: list[httpx.Request] = []
        self.status, self.body, self.headers, self.raise_exc = status, body, headers, raise_exc

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.raise_exc is not None:
            raise self.raise_exc
        body = ORDER if self.body is None else self.body
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(self.status, content=content, headers=self.headers)

    @property
    def sent(self) -> dict:
        return json.loads(self.requests[-1].content)


def make(recorder, clock=None):
    return BankIDClient(
        "https://bankid.example/rp/v6.0",
        clock=clock or FixedClock(),
        transport=httpx.MockTransport(recorder),
    )


async def test_auth_sends_every_field_as_bankid_expects():
    rec, clock = Recorder(), FixedClock(5000.0)
    async with make(rec, clock) as client:
        order = await client.auth(
            end_user_ip="192.0.2.1",
            requirement=Requirement(
                pin_code=True, mrtd=False, card_reader=CardReader.CLASS1,
                certificate_policies=("1.2.752.78.*",), personal_number=PNR,
            ),
            user_visible_data="Logga in på Exempel",
            user_non_visible_data="nonce-1",
            user_visible_data_format=UserVisibleDataFormat.SIMPLE_MARKDOWN_V1,
            return_url="https://idp.example/bankid/return?n=abc",
            return_risk=True,
            web=WebDevice("example.com", "Mozilla/5.0 " + "x" * 400, "dev-1"),
        )
    req = rec.requests[0]
    assert req.method == "POST" and req.url == "https://bankid.example/rp/v6.0/auth"
    assert req.headers["content-type"] == "application/json"  # no charset
    assert rec.sent == {
        "endUserIp": "192.0.2.1",
        "requirement": {
            "pinCode": True, "mrtd": False, "cardReader": "class1",
            "certificatePolicies": ["1.2.752.78.*"], "personalNumber": PNR,
        },
        "userVisibleData": base64.b64encode("Logga in på Exempel".encode()).decode(),
        "userNonVisibleData": base64.b64encode(b"nonce-1").decode(),
        "userVisibleDataFormat": "simpleMarkdownV1",
        "returnUrl": "https://idp.example/bankid/return?n=abc",
        "returnRisk": True,
        "web": {"referringDomain": "example.com", "userAgent": ("Mozilla/5.0 " + "x" * 400)[:256],
                "deviceIdentifier": "dev-1"},
    }
    assert order.order_ref == ORDER["orderRef"] and order.qr_start_secret == ORDER["qrStartSecret"]
    assert order.received_at == 5000.0


async def test_minimal_auth_sends_only_end_user_ip_and_ignores_unknown_answer_fields():
    rec = Recorder(body={**ORDER, "somethingNew": {"x": 1}})
    async with make(rec) as client:
        order = await client.auth(end_user_ip="2001:db8::1")
    assert rec.sent == {"endUserIp": "2001:db8::1"}
    assert order.auto_start_token == ORDER["autoStartToken"]


async def test_sign_payment_phone_collect_cancel_use_their_paths():
    rec = Recorder()
    async with make(rec) as client:
        await client.sign(end_user_ip="192.0.2.1", user_visible_data="Sign this",
                          app=AppDevice("se.example.app", "IOS 17", "iPhone14,3", "d"))
        assert rec.sent["app"] == {"appIdentifier": "se.example.app", "deviceOS": "IOS 17",
                                   "deviceModelName": "iPhone14,3", "deviceIdentifier": "d"}
        await client.payment(
            end_user_ip="192.0.2.1",
            user_visible_transaction=UserVisibleTransaction(
                TransactionType.CARD, "Shop AB", Money("100,00", "SEK")),
            risk_flags=("newCard",),
        )
        assert rec.sent["userVisibleTransaction"] == {
            "transactionType": "card", "recipient": {"name": "Shop AB"},
            "money": {"amount": "100,00", "currency": "SEK"}}
        rec.body = {"orderRef": "r1"}
        phone = await client.phone_auth(personal_number=PNR, call_initiator=CallInitiator.RP,
                                        requirement=Requirement(pin_code=True))
        assert phone.order_ref == "r1"
        assert rec.sent == {"personalNumber": PNR, "callInitiator": "RP",
                            "requirement": {"pinCode": True}}
        await client.phone_sign(personal_number=PNR[:8] + "-" + PNR[8:],
                                call_initiator=CallInitiator.USER, user_visible_data="x")
        assert rec.sent["personalNumber"] == PNR and rec.sent["callInitiator"] == "user"
        rec.body = {"orderRef": "r1", "status": "pending", "hintCode": "outstandingTransaction"}
        await client.collect("r1")
        rec.body = {}
        assert await client.cancel("r1") is None
        assert rec.sent == {"orderRef": "r1"}
    paths = [r.url.path for r in rec.requests]
    assert paths == ["/rp/v6.0/sign", "/rp/v6.0/payment", "/rp/v6.0/phone/auth",
                     "/rp/v6.0/phone/sign", "/rp/v6.0/collect", "/rp/v6.0/cancel"]
    assert all(r.headers["content-type"] == "application/json" for r in rec.requests)


async def test_collect_parses_full_completion_data():
    rec = Recorder(body={
        "orderRef": "r1", "status": "complete",
        "completionData": {
            "user": {"personalNumber": PNR, "name": "Anna Andersson", "givenName": "Anna",
                     "surname": "Andersson"},
            "device": {"ipAddress": "192.0.2.9", "uhi": "OZvYM9VvyiAmG7NA5jU5zRGcSXBPn3ZcrWd"},
            "stepUp": {"mrtd": True},
            "bankIdIssueDate": "2023-01-01",
            "signature": "PD94bWw+", "ocspResponse": "MIIH", "risk": "moderate",
            "futureField": 1,
        },
    })
    async with make(rec) as client:
        result = await client.collect("r1")
    assert result.status is Status.COMPLETE and result.is_final and result.hint_code is None
    data = result.completion_data
    assert data.user.personal_number == PNR and data.user.given_name == "Anna"
    assert data.device.ip_address == "192.0.2.9" and data.device.uhi.startswith("OZv")
    assert data.step_up.mrtd is True and data.risk is RiskLevel.MODERATE
    assert (data.bank_id_issue_date, data.signature, data.ocsp_response) == (
        "2023-01-01", "PD94bWw+", "MIIH")
    assert PNR not in repr(result)  # personal data stays out of logs


async def test_unknown_hint_and_status_parse_to_unknown():
    rec = Recorder(body={"orderRef": "r", "status": "pending", "hintCode": "brandNewHint"})
    async with make(rec) as client:
        result = await client.collect("r")
        assert result.hint_code is HintCode.UNKNOWN and result.raw_hint_code == "brandNewHint"
        rec.body = {"orderRef": "r", "status": "paused"}
        assert (await client.collect("r")).status is Status.UNKNOWN


@pytest.mark.parametrize(
    ("body", "match"),
    [({"status": "pending"}, "orderRef"), ({"orderRef": "r", "status": "complete"},
      "completionData"), ({"orderRef": "r", "status": "complete", "completionData": {}}, "user"),
     (b"not json", "not JSON"), ([1, 2], "not a JSON object")],
)
async def test_malformed_answers_raise_protocol_error(body, match):
    async with make(Recorder(body=body)) as client:
        with pytest.raises(errors.BankIDProtocolError, match=match):
            await client.collect("r")


# --- checks before sending ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"end_user_ip": "not-an-ip"}, "endUserIp"),
        ({"user_visible_data": ""}, "userVisibleData must be 1..1500"),
        ({"user_visible_data": "å" * 563}, "userVisibleData must be 1..1500"),  # 1502 in base64
        ({"user_non_visible_data": "x" * 1126}, "userNonVisibleData must be 1..1500"),
        ({"return_url": ""}, "returnUrl"),
        ({"return_url": "https://x/" + "a" * 503}, "returnUrl"),
        ({"web": WebDevice("example.com"), "app": AppDevice("a")}, "never both"),
        ({"web": WebDevice()}, "at least one member"),
        ({"app": AppDevice()}, "at least one member"),
        ({"web": WebDevice("Exempel.se")}, "referringDomain"),
        ({"requirement": Requirement(personal_number="199001011234")}, "check digit"),
        ({"requirement": Requirement(certificate_policies=("nope",))}, "OIDs"),
        ({"user_visible_data_format": UserVisibleDataFormat.SIMPLE_MARKDOWN_V1}, "needs"),
    ],
)
async def test_invalid_requests_are_rejected_before_sending(kwargs, match):
    rec = Recorder()
    async with make(rec) as client:
        with pytest.raises(errors.InvalidRequest, match=match) as info:
            await client.auth(**{"end_user_ip": "192.0.2.1", **kwargs})
    assert rec.requests == []
    assert "199001011234" not in str(info.value)


async def test_limits_are_counted_after_base64_and_differ_for_sign():
    rec = Recorder()
    async with make(rec) as client:
        await client.auth(end_user_ip="192.0.2.1", user_visible_data="x" * 1125)  # 1500 chars
        await client.sign(end_user_ip="192.0.2.1", user_visible_data="x" * 30_000,
                          user_non_visible_data="y" * 150_000)
        with pytest.raises(errors.InvalidRequest):
            await client.sign(end_user_ip="192.0.2.1", user_visible_data="x" * 30_001)
        with pytest.raises(errors.InvalidRequest):
            await client.phone_auth(personal_number="12345", call_initiator=CallInitiator.USER)
        with pytest.raises(errors.InvalidRequest, match="callInitiator"):
            await client.phone_auth(personal_number=PNR, call_initiator="bank")
    assert len(rec.requests) == 2


# --- the error family -----------------------------------------------------------------------

ERROR_CASES = [
    (400, "alreadyInProgress", errors.AlreadyInProgress, "RFA4", False),
    (400, "invalidParameters", errors.InvalidParameters, "RFA22", False),
    (401, "unauthorized", errors.Unauthorized, "RFA22", False),
    (403, "unauthorized", errors.Unauthorized, "RFA22", False),
    (404, "notFound", errors.NotFound, "RFA22", False),
    (405, "methodNotAllowed", errors.MethodNotAllowed, "RFA5", False),
    (408, "requestTimeout", errors.RequestTimeout, "RFA5", False),
    (415, "unsupportedMediaType", errors.UnsupportedMediaType, "RFA22", False),
    (500, "internalError", errors.InternalError, "RFA5", False),
    (503, "maintenance", errors.Maintenance, "RFA5", True),
    (400, "somethingBrandNew", errors.UnknownBankIDError, "RFA22", False),
]


@pytest.mark.parametrize(("status", "code", "cls", "rfa", "retry"), ERROR_CASES)
async def test_each_error_code_maps_to_its_class(status, code, cls, rfa, retry):
    rec = Recorder(status=status, body={"errorCode": code, "details": "Some details"})
    async with make(rec) as client:
        with pytest.raises(cls) as info:
            await client.auth(end_user_ip="192.0.2.1")
    err = info.value
    assert type(err) is cls and isinstance(err, errors.BankIDAPIError)
    assert (err.status_code, err.raw_error_code, err.details) == (status, code, "Some details")
    assert err.rfa == rfa and err.retry_allowed is retry
    if cls is errors.UnknownBankIDError:
        assert err.error_code is errors.ErrorCode.UNKNOWN


async def test_429_parses_rate_limit_headers():
    rec = Recorder(status=429, body=b"", headers={
        "RateLimit-Limit": "100", "RateLimit-Remaining": "0", "RateLimit-Reset": "17"})
    async with make(rec) as client:
        with pytest.raises(errors.RateLimited) as info:
            await client.collect("r")
    err = info.value
    assert (err.limit, err.remaining, err.reset) == (100, 0, 17)
    assert err.retry_allowed and err.rfa == "RFA5"


async def test_503_without_a_body_is_maintenance_and_other_bare_statuses_map_by_status():
    async with make(Recorder(status=503, body=b"<html>down</html>")) as client:
        with pytest.raises(errors.Maintenance) as info:
            await client.collect("r")
    assert info.value.raw_error_code is None
    async with make(Recorder(status=502, body=b"")) as client:
        with pytest.raises(errors.UnknownBankIDError):
            await client.collect("r")


@pytest.mark.parametrize(
    "exc", [httpx.ConnectTimeout("slow"), httpx.ReadTimeout("slow"), httpx.WriteTimeout("slow"),
            httpx.PoolTimeout("slow")],
)
async def test_timeouts(exc):
    async with make(Recorder(raise_exc=exc)) as client:
        with pytest.raises(errors.BankIDTimeout) as info:
            await client.collect("r")
    assert info.value.rfa == "RFA5" and not info.value.retry_allowed


async def test_connection_failure_from_the_transport():
    async with make(Recorder(raise_exc=httpx.ConnectError("refused"))) as client:
        with pytest.raises(errors.BankIDConnectionError) as info:
            await client.collect("r")
    assert info.value.retry_allowed


async def test_real_connection_refused_on_a_closed_loopback_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with BankIDClient(f"http://127.0.0.1:{port}/rp/v6.0", clock=FixedClock(),
                            timeout=2.0) as client:
        with pytest.raises(errors.BankIDConnectionError):
            await client.collect("r")
