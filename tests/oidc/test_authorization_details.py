"""RFC 9396 authorization_details for BankID signing and payments: every rule's exact
error_description, the BankID request a valid detail becomes, the digest and the binding, and
fuzzing that nothing but InvalidDetails ever comes out of `parse`."""

import base64
import copy
import hashlib
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.authn.approval import (
    CURRENCIES,
    MAX_BINDING_BYTES,
    MAX_NON_VISIBLE_DATA,
    MAX_RAW_BYTES,
    PAYMENT,
    SIGN,
    TYPES,
    Approval,
    InvalidDetails,
    approval_of,
    binding_data,
    binding_json,
    metadata,
    parse,
)

AD = "authorization_details"
D0 = "authorization_details[0]"
#: RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E (no quote, no backslash).
DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")
BINDING = "https://idp.example|rp-1|req-42"

SIGN_OK = {"type": SIGN, "text": "Jag godkänner avtalet.\r\nRad två\tmed tabb"}
CARD_OK = {
    "type": PAYMENT,
    "transactionType": "card",
    "recipient": {"name": "Kaffebaren AB"},
    "money": {"amount": "1000,00", "currency": "SEK"},
}
NPA_OK = {"type": PAYMENT, "transactionType": "npa", "recipient": {"name": "Banken"}}


def sign(**changes):
    return [{**SIGN_OK, **changes}]


def card(**changes):
    return [{**CARD_OK, **changes}]


def without(detail, name):
    return [{k: v for k, v in detail.items() if k != name}]


def refused(value, allowed=TYPES):
    with pytest.raises(InvalidDetails) as info:
        parse(value, allowed_types=allowed)
    description = str(info.value)
    assert DESCRIPTION.fullmatch(description), description
    return description


def b64decode_text(value):
    return base64.b64decode(value, validate=True).decode("utf-8")


def deep_list(depth):
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


# --------------------------------------------------------------------------- the rules

TOO_LARGE = f"{AD} is too large (at most {MAX_RAW_BYTES} bytes)"
NOT_JSON = f"{AD} is not valid JSON"
TOO_DEEP = f"{AD} nests too deeply (at most 4 levels)"
NOT_ARRAY = f"{AD} must be a JSON array"
ONE_BANKID = f"{AD} may hold only one {SIGN} or {PAYMENT} detail per request"

SHAPE = [
    pytest.param("[" + " " * MAX_RAW_BYTES + "]", TOO_LARGE, id="too-large"),
    pytest.param('["' + "å" * (MAX_RAW_BYTES // 2) + '"]', TOO_LARGE, id="too-large-in-bytes"),
    pytest.param([{"type": SIGN, "text": "x" * MAX_RAW_BYTES}], TOO_LARGE, id="list-too-large"),
    pytest.param("", NOT_JSON, id="empty-string"),
    pytest.param("[{", NOT_JSON, id="truncated"),
    pytest.param("[] x", NOT_JSON, id="trailing-garbage"),
    pytest.param("[NaN]", NOT_JSON, id="nan"),
    pytest.param("[-Infinity]", NOT_JSON, id="infinity"),
    pytest.param("[" + "1" * 5000 + "]", NOT_JSON, id="huge-integer"),
    pytest.param("[{'type': 'x'}]", NOT_JSON, id="single-quotes"),
    pytest.param([float("nan")], NOT_JSON, id="list-nan"),
    pytest.param([object()], NOT_JSON, id="list-not-json"),
    pytest.param([{"type": SIGN, "text": b"bytes"}], NOT_JSON, id="list-bytes"),
    pytest.param("[" * 100_000 + "]" * 100_000, TOO_DEEP, id="deep-string"),
    pytest.param(json.dumps(deep_list(5)), TOO_DEEP, id="five-levels"),
    pytest.param(deep_list(100_000), TOO_DEEP, id="deep-list"),
    pytest.param(
        sign(requirement={"certificatePolicies": [["1.2.3.4.5"]]}), TOO_DEEP, id="deep-member"
    ),
    pytest.param('{"type": "se.bankid.sign"}', NOT_ARRAY, id="object"),
    pytest.param('"[]"', NOT_ARRAY, id="string"),
    pytest.param("null", NOT_ARRAY, id="null"),
    pytest.param({"type": SIGN}, NOT_ARRAY, id="dict-given"),
    pytest.param(None, NOT_ARRAY, id="none-given"),
    pytest.param("[]", f"{AD} must not be empty", id="empty"),
    pytest.param([], f"{AD} must not be empty", id="empty-list"),
    pytest.param(
        '[{"type": "se.bankid.sign", "text": "a", "text": "b"}]',
        f"{AD} repeats the member text",
        id="duplicate-member",
    ),
    pytest.param('[{"1990": 1, "1990": 2}]', f"{AD} repeats a member", id="duplicate-unnamed"),
    pytest.param([1], f"{D0} must be a JSON object", id="not-object"),
    pytest.param([SIGN_OK, "x"], f"{AD}[1] must be a JSON object", id="second-not-object"),
    pytest.param([{"text": "a"}], f"{D0}.type is missing", id="no-type"),
    pytest.param([{"type": 1}], f"{D0}.type must be a string", id="type-not-string"),
    pytest.param(
        [{"type": "payment_initiation"}],
        f"{D0}.type payment_initiation is not supported",
        id="unknown-type",
    ),
    pytest.param([{"type": "199001011234"}], f"{D0}.type is not supported", id="type-pnr"),
    pytest.param([{"type": "a" * 65}], f"{D0}.type is not supported", id="type-long"),
    pytest.param([{"type": 'x"y'}], f"{D0}.type is not supported", id="type-quote"),
    pytest.param(
        [{**SIGN_OK, "foo": 1}], f"{D0}.foo is not a member of {SIGN}", id="unknown-member"
    ),
    pytest.param(
        [{**CARD_OK, "userVisibleData": "eA=="}],
        f"{D0}.userVisibleData is not a member of {PAYMENT}",
        id="unknown-payment-member",
    ),
    pytest.param(
        [{**SIGN_OK, "191212121212": 1}],
        f"{D0} has a member that {SIGN} does not define",
        id="unknown-member-pnr",
    ),
    pytest.param([SIGN_OK, SIGN_OK], ONE_BANKID, id="two-signs"),
    pytest.param([SIGN_OK, CARD_OK], ONE_BANKID, id="sign-and-payment"),
] + [
    pytest.param(
        [{**SIGN_OK, name: []}],
        f"{D0}.{name} (RFC 9396 common member) is not used by {SIGN}",
        id=f"common-{name}",
    )
    for name in ("locations", "actions", "datatypes", "identifier", "privileges")
]

TEXT = "must not contain control characters other than TAB, LF, CR"
HTML = "must not contain HTML tags (text/markdown is BankID simpleMarkdownV1)"
TEXT_TOO_LONG = "is too long (BankID takes at most 40000 characters after base64 encoding)"
MD = "text/markdown"

SIGN_RULES = [
    pytest.param(without(SIGN_OK, "text"), f"{D0}.text is missing", id="text-missing"),
    pytest.param(sign(text=1), f"{D0}.text must be a string", id="text-number"),
    pytest.param(sign(text=None), f"{D0}.text must be a string", id="text-null"),
    pytest.param(sign(text=["a"]), f"{D0}.text must be a string", id="text-array"),
    pytest.param(sign(text=""), f"{D0}.text must not be empty", id="text-empty"),
    pytest.param(sign(text=" \r\n\t"), f"{D0}.text must not be empty", id="text-blank"),
    pytest.param(
        sign(text="a\ud800b"),
        f"{D0}.text must be valid UTF-8 text (it holds an unpaired surrogate)",
        id="text-surrogate",
    ),
    pytest.param(
        '[{"type": "se.bankid.sign", "text": "a\\udc00"}]',
        f"{D0}.text must be valid UTF-8 text (it holds an unpaired surrogate)",
        id="text-surrogate-escape",
    ),
    pytest.param(sign(text="a\x00b"), f"{D0}.text must not contain NUL", id="text-nul"),
    pytest.param(sign(text="a\x07b"), f"{D0}.text {TEXT}", id="text-bell"),
    pytest.param(sign(text="\x1b[31mred"), f"{D0}.text {TEXT}", id="text-escape"),
    pytest.param(sign(text="a\x7f"), f"{D0}.text {TEXT}", id="text-del"),
    pytest.param(sign(text="a\x85b"), f"{D0}.text {TEXT}", id="text-c1"),
    pytest.param(sign(text="a\x0bb"), f"{D0}.text {TEXT}", id="text-vt"),
    pytest.param(
        sign(text="pay \u202e0001 SEK"),
        f"{D0}.text must not contain bidirectional override characters",
        id="text-bidi-override",
    ),
    pytest.param(
        sign(text="a\u2066b"),
        f"{D0}.text must not contain bidirectional override characters",
        id="text-bidi-isolate",
    ),
    pytest.param(sign(text="x" * 30_001), f"{D0}.text {TEXT_TOO_LONG}", id="text-too-long"),
    pytest.param(sign(text="å" * 15_001), f"{D0}.text {TEXT_TOO_LONG}", id="text-too-long-utf8"),
    pytest.param(sign(format=1), f"{D0}.format must be a string", id="format-number"),
    pytest.param(
        sign(format="text/html"),
        f"{D0}.format must be text/plain or text/markdown",
        id="format-unknown",
    ),
    pytest.param(
        sign(format="simpleMarkdownV1"),
        f"{D0}.format must be text/plain or text/markdown",
        id="format-bankid-name",
    ),
    pytest.param(sign(format=MD, text="<b>x</b>"), f"{D0}.text {HTML}", id="md-tag"),
    pytest.param(sign(format=MD, text="a </p>"), f"{D0}.text {HTML}", id="md-close-tag"),
    pytest.param(sign(format=MD, text="a <!-- b -->"), f"{D0}.text {HTML}", id="md-comment"),
    pytest.param(sign(format=MD, text="<?xml"), f"{D0}.text {HTML}", id="md-pi"),
    pytest.param(sign(nonVisibleData=1), f"{D0}.nonVisibleData must be a string", id="nvd-number"),
    pytest.param(sign(nonVisibleData=""), f"{D0}.nonVisibleData must not be empty", id="nvd-empty"),
    pytest.param(
        sign(nonVisibleData="A" * (MAX_NON_VISIBLE_DATA + 4)),
        f"{D0}.nonVisibleData is too long (at most {MAX_NON_VISIBLE_DATA} characters: BankID "
        "takes 200000 for userNonVisibleData, which also carries the binding)",
        id="nvd-too-long",
    ),
] + [
    pytest.param(
        sign(nonVisibleData=value),
        f"{D0}.nonVisibleData must be standard base64 with padding",
        id=f"nvd-{name}",
    )
    for name, value in {
        "short": "abc",
        "no-padding": "YWI",
        "inner-padding": "YW=j",
        "newline": "YWJj\n",
        "space": "YW Jj",
        "urlsafe": "-_-_",
        "too-much-padding": "YQ===",
        "arabic-digit": "YW٣j",
    }.items()
]

REQ = f"{D0}.requirement"
OID = (
    "must be a dotted-decimal OID, optionally ending in .* from the fifth arc "
    "(e.g. 1.2.752.78.1.5 or 1.2.752.78.*)"
)


def req(**members):
    return sign(requirement=members)


REQUIREMENT_RULES = [
    pytest.param(sign(requirement=[]), f"{REQ} must be a JSON object", id="not-object"),
    pytest.param(req(risk="low"), f"{REQ}.risk is not a member of requirement", id="risk"),
    pytest.param(
        req(personalNumber="191212121212"),
        f"{REQ}.personalNumber is not accepted: the person is the one who logs in",
        id="personal-number",
    ),
    pytest.param(req(pinCode="true"), f"{REQ}.pinCode must be true or false", id="pin-string"),
    pytest.param(req(pinCode=1), f"{REQ}.pinCode must be true or false", id="pin-number"),
    pytest.param(req(mrtd=None), f"{REQ}.mrtd must be true or false", id="mrtd-null"),
    pytest.param(
        req(cardReader=1, certificatePolicies=["1.2.752.78.1.2"]),
        f"{REQ}.cardReader must be a string",
        id="reader-number",
    ),
    pytest.param(
        req(cardReader="class3", certificatePolicies=["1.2.752.78.1.2"]),
        f"{REQ}.cardReader must be class1 or class2",
        id="reader-unknown",
    ),
    pytest.param(
        req(cardReader="class2"),
        f"{REQ}.cardReader needs {REQ}.certificatePolicies (a smart-card policy)",
        id="reader-without-policies",
    ),
    pytest.param(
        req(certificatePolicies="1.2.752.78.1.5"),
        f"{REQ}.certificatePolicies must be a JSON array",
        id="policies-string",
    ),
    pytest.param(
        req(certificatePolicies=[]),
        f"{REQ}.certificatePolicies must not be empty",
        id="policies-empty",
    ),
    pytest.param(
        req(certificatePolicies=[f"1.2.3.{i}" for i in range(11)]),
        f"{REQ}.certificatePolicies may hold at most 10 policies",
        id="policies-too-many",
    ),
    pytest.param(
        req(certificatePolicies=[1.2]),
        f"{REQ}.certificatePolicies[0] must be a string",
        id="policy-number",
    ),
    pytest.param(
        req(certificatePolicies=["1." * 64 + "1"]),
        f"{REQ}.certificatePolicies[0] is too long (at most 128 characters)",
        id="policy-long",
    ),
    pytest.param(
        req(certificatePolicies=["1.2.752.78.1.5", "1.2.752.78.1.5"]),
        f"{REQ}.certificatePolicies[1] repeats a policy",
        id="policy-duplicate",
    ),
] + [
    pytest.param(
        req(certificatePolicies=[policy]),
        f"{REQ}.certificatePolicies[0] {OID}",
        id=f"policy-{name}",
    )
    for name, policy in {
        "one-arc": "1",
        "letter": "1.2.x",
        "leading-zero": "01.2",
        "empty-arc": "1..2",
        "trailing-dot": "1.2.",
        "early-wildcard": "1.2.3.*",
        "inner-wildcard": "1.2.752.78.*.1",
        "two-wildcards": "1.2.752.*.*",
        "arabic-indic": "١.٢.٣",
        "fullwidth": "1.2.３",
        "space": "1.2.752.78.1.5 ",
        "newline": "1.2.752.78.1.5\n",
    }.items()
]

MONEY = f"{D0}.money"
AMOUNT = "must be digits 0-9 with at most one comma as decimal separator (e.g. 1000,00)"
NAME = f"{D0}.recipient.name"

PAYMENT_RULES = (
    [
        pytest.param(
            without(CARD_OK, "transactionType"),
            f"{D0}.transactionType is missing",
            id="kind-missing",
        ),
        pytest.param(
            card(transactionType=1), f"{D0}.transactionType must be a string", id="kind-number"
        ),
        pytest.param(
            card(transactionType="CARD"),
            f"{D0}.transactionType must be card or npa",
            id="kind-case",
        ),
        pytest.param(
            without(CARD_OK, "recipient"), f"{D0}.recipient is missing", id="no-recipient"
        ),
        pytest.param(
            card(recipient="x"), f"{D0}.recipient must be a JSON object", id="recipient-str"
        ),
        pytest.param(
            card(recipient={"name": "A", "iban": "SE00"}),
            f"{D0}.recipient.iban is not a member of recipient",
            id="recipient-member",
        ),
        pytest.param(card(recipient={}), f"{NAME} is missing", id="name-missing"),
        pytest.param(card(recipient={"name": 7}), f"{NAME} must be a string", id="name-number"),
        pytest.param(card(recipient={"name": " "}), f"{NAME} must not be empty", id="name-empty"),
        pytest.param(
            card(recipient={"name": "A\nB"}),
            f"{NAME} must not contain control characters",
            id="name-newline",
        ),
        pytest.param(
            card(recipient={"name": "A\x00"}), f"{NAME} must not contain NUL", id="name-nul"
        ),
        pytest.param(
            card(recipient={"name": "x" * 101}),
            f"{NAME} is too long (at most 100 characters)",
            id="name-long",
        ),
        pytest.param(
            without(CARD_OK, "money"),
            f"{MONEY} is missing (required when transactionType is card)",
            id="card-without-money",
        ),
        pytest.param(
            [{**NPA_OK, "money": CARD_OK["money"]}],
            f"{MONEY} is not allowed when transactionType is npa",
            id="npa-with-money",
        ),
        pytest.param(card(money="1000 SEK"), f"{MONEY} must be a JSON object", id="money-string"),
        pytest.param(
            card(money={"amount": "1", "currency": "SEK", "vat": "0"}),
            f"{MONEY}.vat is not a member of money",
            id="money-member",
        ),
        pytest.param(card(money={"currency": "SEK"}), f"{MONEY}.amount is missing", id="no-amount"),
        pytest.param(
            card(money={"amount": 100, "currency": "SEK"}),
            f"{MONEY}.amount must be a string",
            id="amount-number",
        ),
        pytest.param(
            card(money={"amount": "1" * 31, "currency": "SEK"}),
            f"{MONEY}.amount is too long (at most 30 characters)",
            id="amount-long",
        ),
        pytest.param(card(money={"amount": "1"}), f"{MONEY}.currency is missing", id="no-currency"),
        pytest.param(
            card(money={"amount": "1", "currency": 752}),
            f"{MONEY}.currency must be a string",
            id="currency-number",
        ),
        pytest.param(
            card(riskWarning=True), f"{D0}.riskWarning must be a string", id="warning-bool"
        ),
        pytest.param(
            card(riskWarning=""), f"{D0}.riskWarning must not be empty", id="warning-empty"
        ),
        pytest.param(
            card(riskWarning="x" * 501),
            f"{D0}.riskWarning is too long (at most 500 characters)",
            id="warning-long",
        ),
        pytest.param(
            card(riskWarning="a\tb"),
            f"{D0}.riskWarning must not contain control characters",
            id="warning-tab",
        ),
        pytest.param(
            card(riskFlags="newCard"), f"{D0}.riskFlags must be a JSON array", id="flags-string"
        ),
        pytest.param(card(riskFlags=[1]), f"{D0}.riskFlags[0] must be a string", id="flag-number"),
        pytest.param(
            card(riskFlags=["newCard", "lowRisk"]),
            f"{D0}.riskFlags[1] is not a BankID risk flag",
            id="flag-unknown",
        ),
        pytest.param(
            card(riskFlags=["newcard"]),
            f"{D0}.riskFlags[0] is not a BankID risk flag",
            id="flag-case",
        ),
        pytest.param(
            card(riskFlags=["other", "other"]),
            f"{D0}.riskFlags[1] repeats a risk flag",
            id="flag-duplicate",
        ),
        pytest.param(
            card(format="text/plain"), f"{D0}.format needs {D0}.text", id="format-without-text"
        ),
        pytest.param(card(text=""), f"{D0}.text must not be empty", id="payment-text-empty"),
        pytest.param(
            card(text="x" * 30_001), f"{D0}.text {TEXT_TOO_LONG}", id="payment-text-too-long"
        ),
        pytest.param(
            card(requirement={"mrtd": "yes"}),
            f"{D0}.requirement.mrtd must be true or false",
            id="payment-requirement",
        ),
        pytest.param(
            card(nonVisibleData="!"),
            f"{D0}.nonVisibleData must be standard base64 with padding",
            id="payment-nvd",
        ),
        pytest.param(
            [{**CARD_OK, "privileges": []}],
            f"{D0}.privileges (RFC 9396 common member) is not used by {PAYMENT}",
            id="payment-common",
        ),
    ]
    + [
        pytest.param(
            card(money={"amount": amount, "currency": "SEK"}), f"{MONEY}.amount {AMOUNT}", id=name
        )
        for name, amount in {
            "amount-empty": "",
            "amount-point": "1000.00",
            "amount-thousands": "1.000,00",
            "amount-trailing-comma": "10,",
            "amount-leading-comma": ",5",
            "amount-two-commas": "1,0,0",
            "amount-negative": "-5",
            "amount-space": " 5",
            "amount-newline": "5\n",
            "amount-exponent": "1e3",
            "amount-arabic-indic": "٣",
            "amount-arabic-indic-decimals": "10,٣٠",
            "amount-fullwidth": "１００",
            "amount-devanagari": "१०",
            "amount-superscript": "1²",
        }.items()
    ]
    + [
        pytest.param(
            card(money={"amount": "1", "currency": currency}),
            f"{MONEY}.currency must be an ISO 4217 currency code (e.g. SEK)",
            id=f"currency-{currency or 'empty'}",
        )
        for currency in ("sek", "XYZ", "HRK", "SEK ", "", "KRONOR")
    ]
)


@pytest.mark.parametrize(("value", "description"), SHAPE)
def test_shape_rules(value, description):
    assert refused(value) == description


@pytest.mark.parametrize(("value", "description"), SIGN_RULES)
def test_sign_rules(value, description):
    assert refused(value) == description


@pytest.mark.parametrize(("value", "description"), REQUIREMENT_RULES)
def test_requirement_rules(value, description):
    assert refused(value) == description


@pytest.mark.parametrize(("value", "description"), PAYMENT_RULES)
def test_payment_rules(value, description):
    assert refused(value) == description


def test_a_cyclic_list_is_too_deep():
    value: list = [SIGN_OK]
    value.append(value)
    assert refused(value) == TOO_DEEP


def test_the_raw_size_limit_is_inclusive():
    text = "x" * 1000
    raw = json.dumps(sign(text=text))
    padded = raw[:-1] + " " * (MAX_RAW_BYTES - len(raw)) + "]"
    assert len(padded) == MAX_RAW_BYTES
    assert parse(padded, allowed_types=TYPES)[0]["text"] == text
    assert refused(padded[:-1] + " ]") == TOO_LARGE


def test_a_type_the_client_may_not_use_is_refused_by_name():
    assert refused(sign(), allowed=[PAYMENT]) == f"the client may not use {AD} type {SIGN}"
    assert refused(card(), allowed=[SIGN]) == f"the client may not use {AD} type {PAYMENT}"
    assert refused(sign(), allowed=()) == f"the client may not use {AD} type {SIGN}"
    assert parse(sign(), allowed_types=[SIGN])[0]["type"] == SIGN
    assert parse(card(), allowed_types={PAYMENT})[0]["type"] == PAYMENT


def test_an_unknown_type_is_unknown_even_when_allowed():
    assert refused([{"type": "openid"}], allowed=["openid"]) == f"{D0}.type openid is not supported"


# --------------------------------------------------------------------------- what passes


@pytest.mark.parametrize(
    "detail",
    [
        pytest.param({**SIGN_OK, "text": "a < b, 1<2, <3 and -> arrows"}, id="plain-lt"),
        pytest.param({**SIGN_OK, "text": "<b>shown as is</b>"}, id="plain-html-is-text"),
        pytest.param({**SIGN_OK, "format": MD, "text": "# Avtal\n*a* < b | c\n---"}, id="md"),
        pytest.param({**SIGN_OK, "text": "x" * 30_000}, id="text-at-limit"),
        pytest.param({**SIGN_OK, "text": "å" * 15_000}, id="utf8-text-at-limit"),
        pytest.param({**SIGN_OK, "text": "שלום \u200f عربي"}, id="rtl-mark"),
        pytest.param({**SIGN_OK, "nonVisibleData": "YQ=="}, id="nvd-padded"),
        pytest.param({**SIGN_OK, "requirement": {}}, id="empty-requirement"),
        pytest.param(
            {**SIGN_OK, "requirement": {"certificatePolicies": ["1.2.752.78.*", "1.2.3.4.25"]}},
            id="wildcard-policy",
        ),
        pytest.param({**CARD_OK, "money": {"amount": "0", "currency": "EUR"}}, id="amount-zero"),
        pytest.param({**CARD_OK, "money": {"amount": "007,5", "currency": "XCG"}}, id="xcg"),
        pytest.param({**CARD_OK, "riskFlags": []}, id="no-flags"),
        pytest.param({**CARD_OK, "recipient": {"name": "x" * 100}}, id="name-at-limit"),
        pytest.param(NPA_OK, id="npa"),
    ],
)
def test_valid_details_pass(detail):
    [parsed] = parse([detail], allowed_types=TYPES)
    expected = (
        {**detail, "format": detail.get("format", "text/plain")} if "text" in detail else detail
    )
    assert parsed == expected
    assert approval_of([parsed]) is not None


def test_the_string_and_the_list_form_parse_alike():
    value = [{**CARD_OK, "text": "Köp", "riskFlags": ["newCard"]}]
    assert parse(json.dumps(value), allowed_types=TYPES) == parse(value, allowed_types=TYPES)


def test_parse_copies_what_it_was_given():
    value = sign(requirement={"certificatePolicies": ["1.2.752.78.1.5"]})
    parsed = parse(value, allowed_types=TYPES)
    value[0]["requirement"]["certificatePolicies"].append("1.2.3.4.5")
    value[0]["text"] = "changed"
    assert parsed[0]["text"] == SIGN_OK["text"]
    assert parsed[0]["requirement"] == {"certificatePolicies": ["1.2.752.78.1.5"]}


def test_normalisation_adds_the_default_format_and_drops_nothing():
    [parsed] = parse(sign(nonVisibleData="YWJj"), allowed_types=TYPES)
    assert parsed == {**SIGN_OK, "nonVisibleData": "YWJj", "format": "text/plain"}
    [payment] = parse(card(), allowed_types=TYPES)
    assert payment == CARD_OK  # no text, so no format


# --------------------------------------------------------------------------- round trips


def approval(detail):
    parsed = parse([detail], allowed_types=TYPES)
    result = approval_of(parsed)
    assert result is not None
    return result


def unwrap(request):
    return json.loads(b64decode_text(request["userNonVisibleData"]))


def test_a_sign_detail_becomes_a_bankid_sign_request():
    detail = {
        **SIGN_OK,
        "format": MD,
        "nonVisibleData": base64.b64encode(hashlib.sha256(b"doc").digest()).decode(),
        "requirement": {"pinCode": True, "mrtd": False, "certificatePolicies": ["1.2.752.78.1.5"]},
    }
    a = approval(detail)
    assert (a.type, a.text, a.markdown) == (SIGN, SIGN_OK["text"], True)
    assert (a.non_visible_data, a.transaction, a.risk_flags) == (detail["nonVisibleData"], None, ())
    request = a.bankid_request(binding=BINDING)
    assert set(request) == {
        "userVisibleData",
        "userVisibleDataFormat",
        "userNonVisibleData",
        "requirement",
    }
    assert b64decode_text(request["userVisibleData"]) == SIGN_OK["text"]
    assert request["userVisibleDataFormat"] == "simpleMarkdownV1"
    assert request["requirement"] == detail["requirement"]
    assert unwrap(request) == {
        "binding": BINDING,
        "data": detail["nonVisibleData"],
        "shown": a.digest,
    }


def test_a_plain_sign_sends_no_format_and_no_requirement():
    a = approval({**SIGN_OK, "requirement": {}})
    request = a.bankid_request(binding=BINDING)
    assert set(request) == {"userVisibleData", "userNonVisibleData"}
    assert unwrap(request) == {"binding": BINDING, "shown": a.digest}
    assert a.detail == {**SIGN_OK, "requirement": {}, "format": "text/plain"}


def test_a_card_payment_becomes_a_bankid_payment_request():
    detail = {
        **CARD_OK,
        "riskWarning": "Mottagaren är ny för dig",
        "riskFlags": ["newRecipient", "largeAmount"],
        "requirement": {"cardReader": "class1", "certificatePolicies": ["1.2.752.78.1.2"]},
    }
    a = approval(detail)
    assert (a.type, a.text, a.markdown, a.non_visible_data) == (PAYMENT, None, False, None)
    request = a.bankid_request(binding=BINDING)
    assert request == {
        "userNonVisibleData": request["userNonVisibleData"],
        "requirement": {"cardReader": "class1", "certificatePolicies": ["1.2.752.78.1.2"]},
        "userVisibleTransaction": {
            "transactionType": "card",
            "recipient": {"name": "Kaffebaren AB"},
            "money": {"amount": "1000,00", "currency": "SEK"},
            "riskWarning": "Mottagaren är ny för dig",
        },
        "riskFlags": ["newRecipient", "largeAmount"],
    }
    assert unwrap(request) == {"binding": BINDING, "shown": a.digest}
    assert a.risk_flags == ("newRecipient", "largeAmount")


def test_an_npa_payment_with_text_becomes_a_bankid_payment_request():
    a = approval(
        {**NPA_OK, "text": "Logga in hos *Bänken*", "format": MD, "nonVisibleData": "eA=="}
    )
    request = a.bankid_request(binding=BINDING)
    assert request == {
        "userVisibleData": base64.b64encode("Logga in hos *Bänken*".encode()).decode(),
        "userVisibleDataFormat": "simpleMarkdownV1",
        "userNonVisibleData": request["userNonVisibleData"],
        "userVisibleTransaction": {"transactionType": "npa", "recipient": {"name": "Banken"}},
    }
    assert unwrap(request) == {"binding": BINDING, "data": "eA==", "shown": a.digest}


def test_the_request_does_not_share_state_with_the_approval():
    a = approval({**CARD_OK, "requirement": {"certificatePolicies": ["1.2.3.4.5"]}})
    request = a.bankid_request(binding=BINDING)
    request["requirement"]["certificatePolicies"].append("9.9")
    request["userVisibleTransaction"]["recipient"]["name"] = "Mallory"
    again = a.bankid_request(binding=BINDING)
    assert again["requirement"] == {"certificatePolicies": ["1.2.3.4.5"]}
    assert again["userVisibleTransaction"]["recipient"] == {"name": "Kaffebaren AB"}


def test_the_digest_is_sha256_of_the_canonical_detail():
    a = approval(SIGN_OK)
    canonical = json.dumps(
        {**SIGN_OK, "format": "text/plain"},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    assert a.digest == expected
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", a.digest)


def test_the_digest_is_stable():
    reordered = dict(reversed(list(SIGN_OK.items())))
    explicit = {**SIGN_OK, "format": "text/plain"}
    digests = {approval(d).digest for d in (SIGN_OK, reordered, explicit, copy.deepcopy(SIGN_OK))}
    assert len(digests) == 1
    assert approval(SIGN_OK).bankid_request(binding=BINDING) == approval(reordered).bankid_request(
        binding=BINDING
    )


FULL_CARD = {
    **CARD_OK,
    "text": "Köp",
    "format": "text/plain",
    "riskWarning": "Varning",
    "riskFlags": ["newCard"],
    "nonVisibleData": "YWJj",
    "requirement": {"pinCode": True, "certificatePolicies": ["1.2.752.78.1.5"]},
}


def _set(path, value):
    def change(detail):
        node = detail
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


CHANGES = {
    "text": _set(("text",), "Köp!"),
    "format": _set(("format",), MD),
    "transactionType": lambda d: (d.update(transactionType="npa"), d.pop("money")),
    "recipient": _set(("recipient", "name"), "Kaffebaren AB "),
    "amount": _set(("money", "amount"), "1000,01"),
    "currency": _set(("money", "currency"), "EUR"),
    "riskWarning": _set(("riskWarning",), "Varning!"),
    "riskFlags": _set(("riskFlags",), ["newCard", "other"]),
    "nonVisibleData": _set(("nonVisibleData",), "YWJk"),
    "pinCode": _set(("requirement", "pinCode"), False),
    "policies": _set(("requirement", "certificatePolicies"), ["1.2.752.78.1.2"]),
    "mrtd": _set(("requirement", "mrtd"), False),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_the_digest_changes_with_any_member(change):
    changed = copy.deepcopy(FULL_CARD)
    change(changed)
    before, after = approval(FULL_CARD), approval(changed)
    assert before.digest != after.digest
    assert unwrap(before.bankid_request(binding=BINDING))["shown"] == before.digest
    assert unwrap(after.bankid_request(binding=BINDING))["shown"] == after.digest


def test_binding_data_is_base64_of_canonical_json():
    a = approval({**SIGN_OK, "nonVisibleData": "YWJj"})
    text = binding_json("issuer|client|räksmörgås", a)
    assert text == (
        '{"binding":"issuer|client|räksmörgås","data":"YWJj","shown":"' + a.digest + '"}'
    )
    assert b64decode_text(binding_data("issuer|client|räksmörgås", a)) == text
    assert a.binding_text("issuer|client|räksmörgås") == text


def test_binding_data_leaves_room_for_the_longest_binding():
    data = "A" * (MAX_NON_VISIBLE_DATA // 4 * 4)
    a = approval({**SIGN_OK, "nonVisibleData": data})
    longest = "\U0001f600" * (MAX_BINDING_BYTES // 4)  # four UTF-8 bytes each
    encoded = binding_data(longest, a)
    assert 199_000 < len(encoded) <= 200_000
    assert json.loads(b64decode_text(encoded))["data"] == data


@pytest.mark.parametrize(
    "binding", ["", "x" * (MAX_BINDING_BYTES + 1), '"' * (MAX_BINDING_BYTES // 2 + 1)]
)
def test_binding_data_refuses_a_binding_out_of_bounds(binding):
    with pytest.raises(ValueError, match="binding") as info:
        binding_data(binding, approval(SIGN_OK))
    assert not isinstance(info.value, InvalidDetails)  # the caller's bug, not the client's


def test_approval_of_finds_none_without_a_bankid_detail():
    assert approval_of([]) is None
    assert approval_of([{"type": "openid", "actions": ["x"]}]) is None


def test_approval_of_refuses_two_bankid_details():
    with pytest.raises(InvalidDetails) as info:
        approval_of([{**SIGN_OK, "format": "text/plain"}, dict(CARD_OK)])
    assert str(info.value) == ONE_BANKID


def test_approval_of_checks_details_it_is_handed():
    with pytest.raises(InvalidDetails) as info:
        approval_of([{"type": SIGN, "text": "a\x00"}])
    assert str(info.value) == f"{D0}.text must not contain NUL"


def test_an_approval_is_frozen():
    a = approval(SIGN_OK)
    assert isinstance(a, Approval)
    with pytest.raises(AttributeError):
        a.text = "other"  # type: ignore[misc]


def test_a_phone_sign_takes_only_phone_requirements():
    a = approval(
        {**SIGN_OK, "requirement": {"pinCode": True, "certificatePolicies": ["1.2.752.78.1.5"]}}
    )
    assert a.bankid_phone_request(binding=BINDING) == a.bankid_request(binding=BINDING)
    with pytest.raises(InvalidDetails) as info:
        approval({**SIGN_OK, "requirement": {"mrtd": True}}).bankid_phone_request(binding=BINDING)
    assert str(info.value) == "requirement.mrtd cannot be used in a BankID phone order"
    with pytest.raises(InvalidDetails) as info:
        approval(CARD_OK).bankid_phone_request(binding=BINDING)
    assert str(info.value) == f"{PAYMENT} cannot be approved in a BankID phone order"


def test_metadata_lists_both_types():
    assert metadata() == {"authorization_details_types_supported": [SIGN, PAYMENT]}


def test_the_currency_list_is_iso_4217_alphabetic():
    assert {"SEK", "EUR", "NOK", "DKK", "USD", "ZWG", "XCG"} <= CURRENCIES
    assert not {"HRK", "ZWL", "CUC", "ANG"} & CURRENCIES
    assert all(re.fullmatch(r"[A-Z]{3}", c) for c in CURRENCIES)


# --------------------------------------------------------------------------- fuzzing

UNICODE_DIGITS = "0123456789٠١٢٣٤٥٦٧٨٩۰۱۲۳०१२३০১২੦੧০੨୦୧௦௧౦౧೦೧൦൧๐๑໐໑༠༡၀၁០១᠐᠑０１２３𝟎𝟏𝟘𝟙²³¹"
NAMES = sorted(
    {
        "type",
        "text",
        "format",
        "nonVisibleData",
        "requirement",
        "pinCode",
        "mrtd",
        "cardReader",
        "certificatePolicies",
        "transactionType",
        "recipient",
        "name",
        "money",
        "amount",
        "currency",
        "riskWarning",
        "riskFlags",
        "locations",
        "personalNumber",
    }
)
VALUES = [SIGN, PAYMENT, "card", "npa", "class1", "class2", MD, "text/plain", "SEK", "newCard"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.text(alphabet=UNICODE_DIGITS + ",.*", max_size=12)
    | st.sampled_from(VALUES)
)
keys = st.sampled_from(NAMES) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=30,
)
#: Details that look nearly right: BankID's member names, mostly good values, some bad.
requirements = st.fixed_dictionaries(
    {},
    optional={
        "pinCode": st.booleans() | json_values,
        "mrtd": st.booleans(),
        "cardReader": st.sampled_from(["class1", "class2"]) | json_values,
        "certificatePolicies": st.lists(
            st.sampled_from(["1.2.752.78.1.5", "1.2.752.78.*", "1.2.3.4.25"])
            | st.text(alphabet=UNICODE_DIGITS + ".*", max_size=14),
            min_size=1,
            max_size=3,
        )
        | json_values,
    },
)
texts = {
    "text": st.text(min_size=1, max_size=30) | json_values,
    "format": st.sampled_from(["text/plain", MD]) | json_values,
    "nonVisibleData": st.sampled_from(["YWJj", "YQ==", "٣٣٣="]) | json_values,
    "requirement": requirements | json_values,
}
near_sign = st.fixed_dictionaries(
    {"type": st.just(SIGN), "text": st.text(min_size=1, max_size=30)},
    optional={k: v for k, v in texts.items() if k != "text"},
)
amounts = st.text(alphabet=UNICODE_DIGITS + ",", min_size=1, max_size=8)
near_payment = st.fixed_dictionaries(
    {
        "type": st.just(PAYMENT),
        "transactionType": st.sampled_from(["card", "npa"]),
        "recipient": st.fixed_dictionaries({"name": st.text(min_size=1, max_size=10)}),
    },
    optional={
        **texts,
        "money": st.fixed_dictionaries(
            {
                "amount": st.sampled_from(["0", "1000,00", "12"]) | amounts,
                "currency": st.sampled_from(["SEK", "EUR", "sek", "XXX", "١٢٣"]),
            }
        )
        | json_values,
        "riskWarning": st.text(min_size=1, max_size=10),
        "riskFlags": st.lists(st.sampled_from(["newCard", "other", "x"]), max_size=3) | json_values,
    },
)
near_details = near_sign | near_payment
nesting = st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n + "]" * n)
inputs = (
    st.lists(json_values | near_details, max_size=3)
    | st.lists(near_details, min_size=1, max_size=2).map(json.dumps)
    | json_values.map(json.dumps)
    | nesting
    | st.text(max_size=40)
    | json_values
)

FUZZ = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(value=inputs)
def test_parse_raises_only_invalid_details(value):
    try:
        details = parse(value, allowed_types=TYPES)
    except InvalidDetails as exc:
        description = str(exc)
        assert DESCRIPTION.fullmatch(description), description
        assert len(description) <= 300
        return
    a = approval_of(details)
    assert a is not None
    request = a.bankid_request(binding=BINDING)
    assert len(request["userNonVisibleData"]) <= 200_000
    if "userVisibleData" in request:
        assert 1 <= len(request["userVisibleData"]) <= 40_000
    amount = (a.transaction or {}).get("money", {}).get("amount", "0")
    assert re.fullmatch(r"[0-9]+(,[0-9]+)?", amount, re.ASCII)
    for policy in a.requirement.get("certificatePolicies", ()):
        assert re.fullmatch(r"[0-9.*]+", policy, re.ASCII)


@FUZZ
@given(amount=st.text(min_size=1, max_size=10).filter(lambda s: not s.isascii()))
def test_no_non_ascii_amount_passes(amount):
    assert refused(card(money={"amount": amount, "currency": "SEK"})).startswith(f"{MONEY}.amount")


@FUZZ
@given(policy=st.text(alphabet=UNICODE_DIGITS[10:] + ".", min_size=1, max_size=20))
def test_no_non_ascii_digit_passes_as_a_policy(policy):
    assert refused(req(certificatePolicies=[policy])).startswith(f"{REQ}.certificatePolicies[0]")
