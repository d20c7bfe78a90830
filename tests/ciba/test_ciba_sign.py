"""Approvals through CIBA (RFC 9396 authorization_details of type se.bankid.sign): the person
signs the client's text in the BankID app on their phone (/phone/sign), the token response
carries the granted details and the ID token the signature, and the audit trail records what
was approved by its digest, never its text. What BankID cannot do on a phone (a payment, a
passport check) is refused at the backchannel endpoint."""

from __future__ import annotations

import base64
import hashlib
import json

import jwt
import pytest

from idp.authn.approval import AUTHN_EVIDENCE, USER_SIGNATURE, approval_of, parse
from idp.ciba.audit import audit_id_for
from idp.clock import FixedClock
from tests.asgi import app_client
from tests.ciba.conftest import build_app, ciba_clients, make_settings
from tests.ciba.fake_backchannel import FakeBackchannel
from tests.ciba.harness import ANNA, BJORN, ISSUER, CibaHarness, basic, error_of

pytestmark = pytest.mark.anyio

SIGN = "se.bankid.sign"
PAYMENT = "se.bankid.payment"
SIGNER = "cs-signer"
SIGNER_SECRET = "cs-signer-secret-0123456789abcdef"
TEXT = "Jag godkänner låneavtalet nr 4711.\nBelopp: 25 000 kr."
DIGEST = base64.b64encode(hashlib.sha256(b"the loan agreement").digest()).decode()


def sign_detail(**extra):
    return {"type": SIGN, "text": TEXT, "nonVisibleData": DIGEST, **extra}


def details(*items):
    return json.dumps(list(items))


def settings_with_signer(url, jwks):
    signer = {
        "client_id": SIGNER,
        "client_name": "Loan desk",
        "client_secret": SIGNER_SECRET,
        "grant_types": ["urn:openid:params:grant-type:ciba"],
        "backchannel_token_delivery_mode": "poll",
        "scope": "openid profile",
        "authorization_details_types": [SIGN, PAYMENT],
    }
    return make_settings(url, jwks, clients=[*ciba_clients(jwks), signer])


@pytest.fixture
def signer_settings(sqlite_url, ciba_client_jwks):
    return settings_with_signer(sqlite_url, ciba_client_jwks)


@pytest.fixture
async def ciba(signer_settings):
    """The provider with BankID phone authentication against the in-process simulator."""
    clock = FixedClock()
    app = build_app(signer_settings, clock)
    async with app_client(app, base_url=ISSUER) as http:
        yield CibaHarness(http, clock, app)


AUTH = basic(SIGNER, SIGNER_SECRET)


async def ask(ciba, person=ANNA, **params):
    return await ciba.backchannel(SIGNER, auth=AUTH, login_hint=person, **params)


async def sign_and_redeem(ciba, detail, person=ANNA, **params):
    """Request, the person approves in the app, one poll: the ack, the tokens, the order."""
    r = await ask(ciba, person, authorization_details=details(detail), **params)
    assert r.status_code == 200, r.text
    ack = r.json()
    (order,) = [o for o in ciba.sim._orders.values() if str(o.kind) == "phone/sign"]
    assert (await ciba.phone(person)).status_code == 200
    assert await ciba.settle(ack["auth_req_id"]) == "approved"
    ciba.clock.advance(ack["interval"])
    r = await ciba.token(ack["auth_req_id"], SIGNER, auth=AUTH)
    assert r.status_code == 200, r.text
    return ack, r.json(), order


async def test_a_sign_detail_is_signed_on_the_phone_and_returned_with_the_signature(ciba):
    ack, tokens, order = await sign_and_redeem(ciba, sign_detail(), binding_message="Lån 4711")

    # BankID /phone/sign showed the detail's text (not the binding message), exactly.
    assert order.visible_text == TEXT and order.user_visible_data_format is None
    # The non-visible data names this request (issuer, client, the audit id of the request)
    # and what was shown, and carries the client's own data.
    granted = [{**sign_detail(), "format": "text/plain"}]
    approval = approval_of(parse(details(sign_detail()), allowed_types=[SIGN]))
    bound = json.loads(base64.b64decode(order.user_non_visible_data))
    assert bound == {
        "binding": f"{ISSUER} {SIGNER} {audit_id_for(ack['auth_req_id'])}",
        "data": DIGEST,
        "shown": approval.digest,
    }

    assert tokens["authorization_details"] == granted
    id_token = await ciba.verify(tokens["id_token"], audience=SIGNER)
    assert id_token[USER_SIGNATURE] and id_token[AUTHN_EVIDENCE]
    xml = base64.b64decode(id_token[USER_SIGNATURE]).decode()
    assert order.user_visible_data in xml  # the signature is over exactly what was shown
    access = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert access["authorization_details"] == granted
    assert USER_SIGNATURE not in access and AUTHN_EVIDENCE not in access


async def test_the_audit_row_holds_the_digest_of_what_was_approved_never_the_text(ciba):
    ack, tokens, _ = await sign_and_redeem(ciba, sign_detail())
    (entry,) = ciba.service.audit.entries(SIGNER)
    approval = approval_of(parse(details(sign_detail()), allowed_types=[SIGN]))
    assert entry.id == audit_id_for(ack["auth_req_id"])
    assert (entry.approval_type, entry.approval_digest) == (SIGN, approval.digest)
    assert entry.outcome == "approved" and entry.tokens_issued_at is not None
    # By whom: the pseudonymous sub the client received.
    assert (
        entry.subject == jwt.decode(tokens["id_token"], options={"verify_signature": False})["sub"]
    )
    assert "låneavtalet" not in repr(entry) and DIGEST not in repr(entry)


async def test_a_login_without_details_records_no_approval(ciba):
    ack = (await ask(ciba, BJORN)).json()
    assert await ciba.status(ack["auth_req_id"]) == "pending"
    (entry,) = ciba.service.audit.entries(SIGNER)
    assert entry.approval_type is None and entry.approval_digest is None


async def test_markdown_is_signed_as_simple_markdown(ciba):
    _, tokens, order = await sign_and_redeem(
        ciba, sign_detail(text="# Avtal\n*Belopp*: 25 000 kr", format="text/markdown")
    )
    assert order.user_visible_data_format == "simpleMarkdownV1"
    assert tokens["authorization_details"][0]["format"] == "text/markdown"


async def test_an_approval_as_large_as_bankid_allows_fits_the_form(ciba):
    """Larger than an ordinary form (64 KiB): up to a pushed request's limit."""
    detail = sign_detail(text="x" * 29_000, nonVisibleData="QUJD" * 15_000)
    _, tokens, order = await sign_and_redeem(ciba, detail)
    assert len(order.visible_text) == 29_000
    assert tokens["authorization_details"][0]["nonVisibleData"] == "QUJD" * 15_000


async def test_a_pin_code_and_certificate_policies_may_be_required(ciba):
    detail = sign_detail(requirement={"pinCode": True, "certificatePolicies": ["1.2.752.78.*"]})
    _, tokens, _ = await sign_and_redeem(ciba, detail)
    assert tokens["authorization_details"][0]["requirement"]["pinCode"] is True


async def test_a_payment_is_refused_bankid_has_no_phone_payment(ciba):
    payment = {
        "type": PAYMENT,
        "transactionType": "card",
        "recipient": {"name": "Shop AB"},
        "money": {"amount": "100,00", "currency": "SEK"},
    }
    body = error_of(
        await ask(ciba, authorization_details=details(payment)),
        400,
        "invalid_authorization_details",
    )
    assert "no phone payment" in body["error_description"]
    assert not ciba.sim._orders  # nothing started at BankID


async def test_a_client_whose_entry_lacks_the_type_is_refused(ciba):
    r = await ciba.backchannel("cs-poll", authorization_details=details(sign_detail()))
    body = error_of(r, 400, "invalid_authorization_details")
    assert body["error_description"] == "the client may not use authorization_details type " + SIGN
    (entry,) = ciba.service.audit.entries("cs-poll")
    assert (entry.outcome, entry.detail) == ("rejected", "invalid_authorization_details")
    assert not ciba.sim._orders


@pytest.mark.parametrize(
    ("value", "description"),
    [
        (details({"type": SIGN}), "authorization_details[0].text is missing"),
        ("not json", "authorization_details is not valid JSON"),
        (
            details(sign_detail(requirement={"pinCode": "yes"})),
            "authorization_details[0].requirement.pinCode must be true or false",
        ),
    ],
)
async def test_an_invalid_detail_is_refused_with_its_description(ciba, value, description):
    body = error_of(
        await ask(ciba, authorization_details=value), 400, "invalid_authorization_details"
    )
    assert body["error_description"] == description
    assert not ciba.sim._orders


async def test_a_requirement_phone_sign_does_not_take_is_refused_at_the_endpoint(ciba):
    for requirement in ({"mrtd": True}, {"cardReader": "class1", "certificatePolicies": ["1.2.3"]}):
        body = error_of(
            await ask(ciba, authorization_details=details(sign_detail(requirement=requirement))),
            400,
            "invalid_authorization_details",
        )
        name = next(iter(requirement))
        assert body["error_description"] == (
            f"authorization_details[0].requirement.{name} cannot be used in a BankID phone order"
        )
    assert not ciba.sim._orders


async def test_an_authentication_without_the_approvals_evidence_is_denied(signer_settings):
    """An authenticator that ignored the approval (no signature came back) approves nothing."""
    clock = FixedClock()
    fake = FakeBackchannel(clock)
    app = build_app(signer_settings, clock, backchannel=fake)
    async with app_client(app, base_url=ISSUER) as http:
        core = CibaHarness(http, clock, app)
        r = await core.backchannel(
            SIGNER, auth=AUTH, login_hint="person-1", authorization_details=details(sign_detail())
        )
        ack = r.json()
        started = fake.started[fake.only()]
        assert started.approval is not None and started.approval.text == TEXT
        assert started.approval_binding == f"{ISSUER} {SIGNER} {audit_id_for(ack['auth_req_id'])}"
        fake.approve(fake.only())
        assert await core.settle(ack["auth_req_id"]) == "denied"
        r = await core.token(ack["auth_req_id"], SIGNER, auth=AUTH)
        body = error_of(r, 400, "access_denied")
        assert body["error_description"] == (
            "the authentication did not include the requested approval"
        )
