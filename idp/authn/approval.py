"""Rich Authorization Requests (RFC 9396) for BankID signing and payments.

Two `authorization_details` types ask the person to approve something in the BankID app rather
than only to log in: ``se.bankid.sign`` becomes a BankID ``/sign`` order (a text to sign) and
``se.bankid.payment`` a ``/payment`` order (a transaction to approve). `parse` checks what the
client sent, `approval_of` picks the one BankID approval out of the parsed details, and
`Approval.bankid_request` gives exactly the members the BankID client sends.

What RFC 9396 asks of us:

* §2: "an array of JSON objects. Each JSON object contains the data to specify the
  authorization requirements for a certain type of resource"; "type: ... REQUIRED".
* §5: the AS "MUST refuse to process any unknown authorization details type or authorization
  details not conforming to the respective type definition", and "MUST abort processing and
  respond with an error invalid_authorization_details to the client if any of the following
  are true ...: contains an unknown authorization details type value, is an object of known
  type but containing unknown fields, contains fields of the wrong type for the authorization
  details type, contains fields with invalid values for the authorization details type, or is
  missing required fields for the authorization details type". Every rule here raises
  `InvalidDetails`, whose text is the ``error_description``.
* §2.2 common data fields (``locations``, ``actions``, ``datatypes``, ``identifier``,
  ``privileges``): an AS may define which a type uses; neither BankID type uses any, so each
  is refused by name.
* §12 and §13: sanitise what is shown and keep personal data out of errors; a description
  names the member (``authorization_details[0].requirement.pinCode``) and never echoes a value,
  only a type or member name that is short and cannot be a personal number.

The BankID side (RP API v6, reference ``bankid-rp-v6.md`` §1.2, §1.3, §1.8): the visible text
is at most 40,000 characters *after* base64 encoding, ``userNonVisibleData`` at most 200,000;
``money`` is forbidden for ``npa``; ``cardReader`` "should always be combined with a
certificatePolicies for a smart card to avoid undefined behaviour" (BankID's ``requirement``
documentation, as quoted by ActiveLogin's ``Requirement.cs``): we require ``certificatePolicies``
next to ``cardReader`` but do not judge whether the policies name a smart card (production and
test OIDs differ, and ``1.2.752.78.*`` covers one).

The ``userNonVisibleData`` sent is always ours (`binding_data`): a small JSON that binds the
signature to the request and to the digest of what the person was shown, so a signature cannot
be replayed for another request; the client's own ``nonVisibleData`` travels inside it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from idp.authn import safejson

__all__ = [
    "AUTHN_EVIDENCE",
    "CURRENCIES",
    "EVIDENCE_CLAIMS",
    "MAX_NON_VISIBLE_DATA",
    "PAYMENT",
    "RISK_FLAGS",
    "SIGN",
    "TYPES",
    "USER_SIGNATURE",
    "Approval",
    "InvalidDetails",
    "approval_of",
    "binding_data",
    "binding_json",
    "metadata",
    "parse",
]

#: The evidence of an approval, as claims (OIDC Sweden Signature Extension §3.2.1, Claims
#: §2.3): the signature as the authenticator returned it, and its proof of validity at signing
#: time (for BankID: the XML signature and the OCSP response, base64). Only in the ID token.
USER_SIGNATURE: Final = "https://id.oidc.se/claim/userSignature"
AUTHN_EVIDENCE: Final = "https://id.oidc.se/claim/authnEvidence"
EVIDENCE_CLAIMS: Final = frozenset({USER_SIGNATURE, AUTHN_EVIDENCE})

SIGN: Final = "se.bankid.sign"
PAYMENT: Final = "se.bankid.payment"
TYPES: tuple[str, ...] = (SIGN, PAYMENT)

#: The raw parameter, refused before it is decoded when longer (UTF-8 bytes).
MAX_RAW_BYTES: Final = 256 * 1024
#: array > detail > requirement > certificatePolicies is the deepest a valid value goes.
MAX_DEPTH: Final = 4
#: BankID /sign: userVisibleData is 1-40,000 characters after base64 encoding (reference §1.2).
#: /payment's optional userVisibleData gets the same bound: BankID documents no separate one.
MAX_VISIBLE_BASE64: Final = 40_000
#: BankID /sign and /payment: userNonVisibleData is at most 200,000 base64 characters.
MAX_NON_VISIBLE_BASE64: Final = 200_000
#: Room kept in userNonVisibleData for the caller's binding: its UTF-8 length once JSON-escaped.
MAX_BINDING_BYTES: Final = 1024
#: Our own bounds where BankID documents none.
MAX_POLICIES: Final = 10
MAX_POLICY_LENGTH: Final = 128
MAX_RECIPIENT_NAME: Final = 100
MAX_RISK_WARNING: Final = 500
MAX_AMOUNT: Final = 30

FORMAT_PLAIN: Final = "text/plain"
FORMAT_MARKDOWN: Final = "text/markdown"
CARD: Final = "card"
NPA: Final = "npa"
CARD_READERS: Final = ("class1", "class2")

#: BankID's riskFlags (reference §1.3).
RISK_FLAGS: Final = frozenset(
    {
        "newCard",
        "newCustomer",
        "newRecipient",
        "highRiskRecipient",
        "largeAmount",
        "foreignCurrency",
        "cryptoCurrencyPurchase",
        "moneyTransfer",
        "overseasTransaction",
        "recurringPayment",
        "suspiciousPaymentPattern",
        "other",
    }
)

#: ISO 4217 list one, alphabetic codes (funds, metals and X-codes included), as of amendment
#: 180 (2025): ZWG (177), XAD (179) and XCG in; ANG, CUC, HRK, SLL and ZWL withdrawn; BGN
#: withdrawn after Bulgaria's changeover to the euro on 2026-01-01.
CURRENCIES: Final = frozenset(
    """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN BWP
    BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN
    ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK
    JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD
    MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP
    PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP
    SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV
    WST XAD XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR
    ZMW ZWG
    """.split()
)

#: RFC 9396 §2.2 common data fields: neither BankID type defines them.
COMMON_MEMBERS: Final = frozenset({"locations", "actions", "datatypes", "identifier", "privileges"})
_TEXT_MEMBERS: Final = ("text", "format", "nonVisibleData", "requirement")
SIGN_MEMBERS: Final = frozenset({"type", *_TEXT_MEMBERS})
PAYMENT_MEMBERS: Final = frozenset(
    {"type", "transactionType", "recipient", "money", "riskWarning", "riskFlags", *_TEXT_MEMBERS}
)
REQUIREMENT_MEMBERS: Final = frozenset({"pinCode", "mrtd", "cardReader", "certificatePolicies"})
#: BankID /phone/sign takes only these requirements (reference §1.4, ActiveLogin
#: ``PhoneRequirement.cs``).
PHONE_REQUIREMENT_MEMBERS: Final = frozenset({"pinCode", "certificatePolicies"})

# Explicit ASCII classes throughout: \d and str.isdigit also match "٣" and "３".
_AMOUNT: Final = re.compile(r"[0-9]+(?:,[0-9]+)?")
#: A dotted-decimal OID (no leading zeros), optionally ending in BankID's one wildcard, which
#: "is allowed from position 5 and forward" (``1.2.752.78.*``).
_OID: Final = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))+")
_OID_WILDCARD: Final = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*)){3,}\.\*")
_BASE64: Final = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_NUL: Final = re.compile("\x00")
#: C0, DEL and C1 control characters; visible text may keep TAB, LF and CR (line breaks).
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")
_TEXT_CONTROL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: Bidirectional embeddings, overrides and isolates can make shown text read unlike its
#: characters ("Trojan Source"); the marks LRM, RLM and ALM stay allowed.
_BIDI: Final = re.compile("[\u202a-\u202e\u2066-\u2069]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
#: simpleMarkdownV1 is not HTML: no tags, comments or processing instructions.
_HTML: Final = re.compile(r"<[A-Za-z/!?]")
#: A type or member name short and plain enough to repeat in an error; it starts with a
#: letter, so a personal number never qualifies.
_ECHOABLE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.:/-]{0,63}")


class InvalidDetails(ValueError):
    """A rule broken; str(exc) is the error_description (English, precise, names the member,
    never echoes a long value or any personal data). The endpoint answers
    ``invalid_authorization_details`` (RFC 9396 §5)."""


# --------------------------------------------------------------------------- the approval


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


@dataclass(frozen=True)
class Approval:
    """What the person approves in the BankID app, from one valid detail."""

    type: str  # SIGN or PAYMENT
    #: The detail as granted: normalised JSON object (what goes back in the token response, the
    #: JWT access token and introspection).
    detail: dict[str, Any]
    #: The visible text as the person reads it; None only for a payment without text.
    text: str | None
    markdown: bool  # text is simpleMarkdownV1
    non_visible_data: str | None  # base64 given by the client (sign: e.g. a document digest)
    #: BankID requirement members (pinCode, mrtd, cardReader, certificatePolicies).
    requirement: dict[str, Any]
    #: PAYMENT: BankID's userVisibleTransaction.
    transaction: dict[str, Any] | None
    risk_flags: tuple[str, ...]  # PAYMENT: riskFlags

    @property
    def digest(self) -> str:
        """base64url (no padding) SHA-256 of the canonical JSON of `detail` (sorted keys, no
        spaces, UTF-8): what the audit trail and the binding record."""
        raw = hashlib.sha256(_canonical(self.detail).encode("utf-8")).digest()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def binding_text(self, binding: str) -> str:
        """The userNonVisibleData before base64 (`binding_json`), for a client that encodes."""
        return binding_json(binding, self)

    def bankid_request(self, *, binding: str) -> dict[str, Any]:
        """The JSON members for BankID /sign (SIGN) or /payment (PAYMENT), minus
        endUserIp/returnUrl/web/app/personalNumber."""
        body: dict[str, Any] = {}
        if self.text is not None:
            body["userVisibleData"] = _b64(self.text)
            if self.markdown:
                body["userVisibleDataFormat"] = "simpleMarkdownV1"
        body["userNonVisibleData"] = binding_data(binding, self)
        if self.requirement:
            body["requirement"] = copy.deepcopy(self.requirement)
        if self.transaction is not None:
            body["userVisibleTransaction"] = copy.deepcopy(self.transaction)
        if self.risk_flags:
            body["riskFlags"] = list(self.risk_flags)
        return body

    def bankid_phone_request(self, *, binding: str) -> dict[str, Any]:
        """The members for BankID /phone/sign (CIBA), minus personalNumber/callInitiator.

        BankID has no phone payment, and /phone/sign takes only ``pinCode`` and
        ``certificatePolicies`` as requirements (reference §1.4): anything else is refused.
        """
        if self.type != SIGN:
            raise InvalidDetails(f"{self.type} cannot be approved in a BankID phone order")
        for name in self.requirement:
            if name not in PHONE_REQUIREMENT_MEMBERS:
                raise InvalidDetails(f"requirement.{name} cannot be used in a BankID phone order")
        return self.bankid_request(binding=binding)


def binding_json(binding: str, approval: Approval) -> str:
    """The userNonVisibleData as text, before base64: canonical UTF-8 JSON
    ``{"binding": ..., "data": <the client's nonVisibleData, if any>, "shown": <digest>}``."""
    if not isinstance(binding, str) or not binding:
        raise ValueError("binding must be a non-empty string")
    if len(_canonical(binding).encode("utf-8")) - 2 > MAX_BINDING_BYTES:
        raise ValueError(f"binding must be at most {MAX_BINDING_BYTES} bytes once JSON-escaped")
    wrapper = {"binding": binding, "shown": approval.digest}
    if approval.non_visible_data is not None:
        wrapper["data"] = approval.non_visible_data
    return _canonical(wrapper)


def binding_data(binding: str, approval: Approval) -> str:
    """base64 of the userNonVisibleData sent to BankID: it identifies the transaction so the
    signature cannot be replayed for another request (`binding_json`). The binding (issuer,
    client and request id, combined by the caller) is at most `MAX_BINDING_BYTES`; `parse`
    keeps the client's data small enough that the whole stays within BankID's 200,000."""
    encoded = _b64(binding_json(binding, approval))
    if len(encoded) > MAX_NON_VISIBLE_BASE64:  # unreachable for details that passed parse()
        raise ValueError("userNonVisibleData would exceed BankID's limit")
    return encoded


def _b64_length(n_bytes: int) -> int:
    return 4 * ((n_bytes + 2) // 3)


#: The longest nonVisibleData that leaves room for the wrapper and the longest binding.
MAX_NON_VISIBLE_DATA: Final = (
    MAX_NON_VISIBLE_BASE64 // 4 * 3
    - len(_canonical({"binding": "", "data": "", "shown": "A" * 43}))
    - MAX_BINDING_BYTES
)


def metadata() -> dict[str, Any]:
    """Discovery members (RFC 9396 §10)."""
    return {"authorization_details_types_supported": list(TYPES)}


# --------------------------------------------------------------------------- decoding


def _name(value: object) -> str | None:
    """``value`` when it may be repeated in an error, else None."""
    if isinstance(value, str) and _ECHOABLE.fullmatch(value):
        return value
    return None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            name = _name(key)
            raise InvalidDetails(
                f"authorization_details repeats the member {name}"
                if name
                else "authorization_details repeats a member"
            )
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise InvalidDetails("authorization_details is not valid JSON")


def _too_deep(value: Any) -> bool:
    """Whether ``value`` nests deeper than `MAX_DEPTH`, without recursion (and cycle-proof)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children: Collection[Any] = list(node.values())
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


TOO_LARGE: Final = f"authorization_details is too large (at most {MAX_RAW_BYTES} bytes)"
NOT_JSON: Final = "authorization_details is not valid JSON"
TOO_DEEP: Final = f"authorization_details nests too deeply (at most {MAX_DEPTH} levels)"
NOT_ARRAY: Final = "authorization_details must be a JSON array"
EMPTY: Final = "authorization_details must not be empty"
ONE_BANKID: Final = (
    f"authorization_details may hold only one {SIGN} or {PAYMENT} detail per request"
)


def _decode(value: object) -> Any:
    if isinstance(value, str):
        if len(value) > MAX_RAW_BYTES or len(value.encode("utf-8", "surrogatepass")) > (
            MAX_RAW_BYTES
        ):
            raise InvalidDetails(TOO_LARGE)
        try:
            data = safejson.loads(
                value, object_pairs_hook=_no_duplicates, parse_constant=_no_constant
            )
        except safejson.TooDeep:
            raise InvalidDetails(TOO_DEEP) from None
        except ValueError as exc:  # JSONDecodeError, and too many digits in an integer
            if isinstance(exc, InvalidDetails):
                raise
            raise InvalidDetails(NOT_JSON) from None
        if _too_deep(data):
            raise InvalidDetails(TOO_DEEP)
        return data
    if isinstance(value, list):
        if _too_deep(value):
            raise InvalidDetails(TOO_DEEP)
        try:
            text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            raise InvalidDetails(NOT_JSON) from None
        if len(text.encode("utf-8", "surrogatepass")) > MAX_RAW_BYTES:
            raise InvalidDetails(TOO_LARGE)
        # A deep copy that the caller's later changes cannot reach.
        return json.loads(text)
    raise InvalidDetails(NOT_ARRAY)


# --------------------------------------------------------------------------- member checks


def _members(obj: Mapping[str, Any], path: str, allowed: frozenset[str], owner: str) -> None:
    """RFC 9396 §5: "an object of known type but containing unknown fields" is refused."""
    for key in obj:
        if key in allowed:
            continue
        name = _name(key)
        if key in COMMON_MEMBERS:
            raise InvalidDetails(f"{path}.{key} (RFC 9396 common member) is not used by {owner}")
        if key == "personalNumber" and owner == "requirement":
            raise InvalidDetails(
                f"{path}.personalNumber is not accepted: the person is the one who logs in"
            )
        if name is None:
            raise InvalidDetails(f"{path} has a member that {owner} does not define")
        raise InvalidDetails(f"{path}.{name} is not a member of {owner}")


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidDetails(f"{path} must be a JSON object")
    return value


def _required(obj: Mapping[str, Any], name: str, path: str) -> Any:
    if name not in obj:
        raise InvalidDetails(f"{path}.{name} is missing")
    return obj[name]


def _string(value: Any, path: str, *, line_breaks: bool = False, limit: int = 0) -> str:
    """A JSON string that is valid Unicode and shows what it holds."""
    if not isinstance(value, str):
        raise InvalidDetails(f"{path} must be a string")
    if not value.strip():
        raise InvalidDetails(f"{path} must not be empty")
    if _SURROGATE.search(value):
        raise InvalidDetails(f"{path} must be valid UTF-8 text (it holds an unpaired surrogate)")
    if _NUL.search(value):
        raise InvalidDetails(f"{path} must not contain NUL")
    if line_breaks and _TEXT_CONTROL.search(value):
        raise InvalidDetails(f"{path} must not contain control characters other than TAB, LF, CR")
    if not line_breaks and _CONTROL.search(value):
        raise InvalidDetails(f"{path} must not contain control characters")
    if _BIDI.search(value):
        raise InvalidDetails(f"{path} must not contain bidirectional override characters")
    if limit and len(value) > limit:
        raise InvalidDetails(f"{path} is too long (at most {limit} characters)")
    return value


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidDetails(f"{path} must be true or false")
    return value


def _array(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidDetails(f"{path} must be a JSON array")
    return value


def _check_text(obj: dict[str, Any], path: str, *, required: bool) -> None:
    """``text`` and ``format``: BankID's userVisibleData and userVisibleDataFormat."""
    if "text" not in obj:
        if required:
            raise InvalidDetails(f"{path}.text is missing")
        if "format" in obj:
            raise InvalidDetails(f"{path}.format needs {path}.text")
        return
    text = _string(obj["text"], f"{path}.text", line_breaks=True)
    fmt = obj.get("format", FORMAT_PLAIN)
    if not isinstance(fmt, str):
        raise InvalidDetails(f"{path}.format must be a string")
    if fmt not in (FORMAT_PLAIN, FORMAT_MARKDOWN):
        raise InvalidDetails(f"{path}.format must be {FORMAT_PLAIN} or {FORMAT_MARKDOWN}")
    if _b64_length(len(text.encode("utf-8"))) > MAX_VISIBLE_BASE64:
        raise InvalidDetails(
            f"{path}.text is too long (BankID takes at most {MAX_VISIBLE_BASE64} characters "
            "after base64 encoding)"
        )
    if fmt == FORMAT_MARKDOWN and _HTML.search(text):
        raise InvalidDetails(
            f"{path}.text must not contain HTML tags (text/markdown is BankID simpleMarkdownV1)"
        )


def _check_non_visible(obj: dict[str, Any], path: str) -> None:
    if "nonVisibleData" not in obj:
        return
    where = f"{path}.nonVisibleData"
    value = obj["nonVisibleData"]
    if not isinstance(value, str):
        raise InvalidDetails(f"{where} must be a string")
    if not value:
        raise InvalidDetails(f"{where} must not be empty")
    if len(value) > MAX_NON_VISIBLE_DATA:
        raise InvalidDetails(
            f"{where} is too long (at most {MAX_NON_VISIBLE_DATA} characters: BankID takes "
            f"{MAX_NON_VISIBLE_BASE64} for userNonVisibleData, which also carries the binding)"
        )
    if not _BASE64.fullmatch(value):
        raise InvalidDetails(f"{where} must be standard base64 with padding")


def _check_policies(value: Any, path: str) -> None:
    policies = _array(value, path)
    if not policies:
        raise InvalidDetails(f"{path} must not be empty")
    if len(policies) > MAX_POLICIES:
        raise InvalidDetails(f"{path} may hold at most {MAX_POLICIES} policies")
    seen: set[str] = set()
    for i, policy in enumerate(policies):
        where = f"{path}[{i}]"
        if not isinstance(policy, str):
            raise InvalidDetails(f"{where} must be a string")
        if len(policy) > MAX_POLICY_LENGTH:
            raise InvalidDetails(f"{where} is too long (at most {MAX_POLICY_LENGTH} characters)")
        if not (_OID.fullmatch(policy) or _OID_WILDCARD.fullmatch(policy)):
            raise InvalidDetails(
                f"{where} must be a dotted-decimal OID, optionally ending in .* from the fifth "
                "arc (e.g. 1.2.752.78.1.5 or 1.2.752.78.*)"
            )
        if policy in seen:
            raise InvalidDetails(f"{where} repeats a policy")
        seen.add(policy)


def _check_requirement(obj: dict[str, Any], path: str) -> None:
    """BankID's ``requirement`` (reference §1.8), with BankID's own member names."""
    if "requirement" not in obj:
        return
    where = f"{path}.requirement"
    req = _object(obj["requirement"], where)
    _members(req, where, REQUIREMENT_MEMBERS, "requirement")
    for name in ("pinCode", "mrtd"):
        if name in req:
            _boolean(req[name], f"{where}.{name}")
    if "cardReader" in req:
        reader = req["cardReader"]
        if not isinstance(reader, str):
            raise InvalidDetails(f"{where}.cardReader must be a string")
        if reader not in CARD_READERS:
            raise InvalidDetails(f"{where}.cardReader must be class1 or class2")
    if "certificatePolicies" in req:
        _check_policies(req["certificatePolicies"], f"{where}.certificatePolicies")
    if "cardReader" in req and "certificatePolicies" not in req:
        # BankID: "This condition should always be combined with a certificatePolicies for a
        # smart card to avoid undefined behaviour."
        raise InvalidDetails(
            f"{where}.cardReader needs {where}.certificatePolicies (a smart-card policy)"
        )


def _check_money(obj: dict[str, Any], path: str) -> None:
    where = f"{path}.money"
    money = _object(obj["money"], where)
    _members(money, where, frozenset({"amount", "currency"}), "money")
    amount = _required(money, "amount", where)
    if not isinstance(amount, str):
        raise InvalidDetails(f"{where}.amount must be a string")
    if len(amount) > MAX_AMOUNT:
        raise InvalidDetails(f"{where}.amount is too long (at most {MAX_AMOUNT} characters)")
    if not _AMOUNT.fullmatch(amount):
        raise InvalidDetails(
            f"{where}.amount must be digits 0-9 with at most one comma as decimal separator "
            "(e.g. 1000,00)"
        )
    currency = _required(money, "currency", where)
    if not isinstance(currency, str):
        raise InvalidDetails(f"{where}.currency must be a string")
    if currency not in CURRENCIES:
        raise InvalidDetails(f"{where}.currency must be an ISO 4217 currency code (e.g. SEK)")


def _check_payment(obj: dict[str, Any], path: str) -> None:
    """BankID /payment's userVisibleTransaction and riskFlags (reference §1.3)."""
    kind = _required(obj, "transactionType", path)
    if not isinstance(kind, str):
        raise InvalidDetails(f"{path}.transactionType must be a string")
    if kind not in (CARD, NPA):
        raise InvalidDetails(f"{path}.transactionType must be {CARD} or {NPA}")
    recipient = _object(_required(obj, "recipient", path), f"{path}.recipient")
    _members(recipient, f"{path}.recipient", frozenset({"name"}), "recipient")
    name = _required(recipient, "name", f"{path}.recipient")
    _string(name, f"{path}.recipient.name", limit=MAX_RECIPIENT_NAME)
    if kind == CARD and "money" not in obj:
        raise InvalidDetails(f"{path}.money is missing (required when transactionType is card)")
    if kind == NPA and "money" in obj:
        raise InvalidDetails(f"{path}.money is not allowed when transactionType is npa")
    if "money" in obj:
        _check_money(obj, path)
    if "riskWarning" in obj:
        _string(obj["riskWarning"], f"{path}.riskWarning", limit=MAX_RISK_WARNING)
    if "riskFlags" in obj:
        flags = _array(obj["riskFlags"], f"{path}.riskFlags")
        for i, flag in enumerate(flags):
            where = f"{path}.riskFlags[{i}]"
            if not isinstance(flag, str):
                raise InvalidDetails(f"{where} must be a string")
            if flag not in RISK_FLAGS:
                raise InvalidDetails(f"{where} is not a BankID risk flag")
            if flag in flags[:i]:
                raise InvalidDetails(f"{where} repeats a risk flag")


def _check_detail(item: Any, index: int, allowed_types: Collection[str]) -> dict[str, Any]:
    """One detail checked and normalised: as given, plus the default ``format``."""
    path = f"authorization_details[{index}]"
    obj = _object(item, path)
    kind = _required(obj, "type", path)
    if not isinstance(kind, str):
        raise InvalidDetails(f"{path}.type must be a string")
    name = _name(kind)
    if kind not in TYPES:
        raise InvalidDetails(
            f"{path}.type {name} is not supported" if name else f"{path}.type is not supported"
        )
    if kind not in allowed_types:
        raise InvalidDetails(f"the client may not use authorization_details type {kind}")
    _members(obj, path, SIGN_MEMBERS if kind == SIGN else PAYMENT_MEMBERS, kind)
    if kind == PAYMENT:
        _check_payment(obj, path)
    _check_text(obj, path, required=kind == SIGN)
    _check_non_visible(obj, path)
    _check_requirement(obj, path)
    detail = copy.deepcopy(obj)
    if "text" in detail:
        detail.setdefault("format", FORMAT_PLAIN)
    return detail


# --------------------------------------------------------------------------- the API


def parse(value: str | list[Any], *, allowed_types: Collection[str]) -> list[dict[str, Any]]:
    """`authorization_details` as received: a JSON string (form/query parameter) or an
    already-decoded list (a request object member). Returns the normalised list. Raises
    InvalidDetails."""
    data = _decode(value)
    if not isinstance(data, list):
        raise InvalidDetails(NOT_ARRAY)
    if not data:
        raise InvalidDetails(EMPTY)
    details: list[dict[str, Any]] = []
    for index, item in enumerate(data):
        detail = _check_detail(item, index, allowed_types)
        if any(d["type"] in TYPES for d in details):
            raise InvalidDetails(ONE_BANKID)
        details.append(detail)
    return details


def approval_of(details: Sequence[Mapping[str, Any]]) -> Approval | None:
    """The BankID approval the (already parsed) details ask for; None when none of TYPES is
    present. At most one SIGN/PAYMENT detail per request (InvalidDetails otherwise)."""
    found = [
        (index, dict(detail))
        for index, detail in enumerate(details)
        if isinstance(detail, Mapping) and detail.get("type") in TYPES
    ]
    if not found:
        return None
    if len(found) > 1:
        raise InvalidDetails(ONE_BANKID)
    index, raw = found[0]
    detail = _check_detail(raw, index, TYPES)  # details may come back from storage
    text = detail.get("text")
    transaction: dict[str, Any] | None = None
    if detail["type"] == PAYMENT:
        transaction = {
            "transactionType": detail["transactionType"],
            "recipient": {"name": detail["recipient"]["name"]},
        }
        if "money" in detail:
            transaction["money"] = {
                "amount": detail["money"]["amount"],
                "currency": detail["money"]["currency"],
            }
        if "riskWarning" in detail:
            transaction["riskWarning"] = detail["riskWarning"]
    return Approval(
        type=detail["type"],
        detail=detail,
        text=text,
        markdown=text is not None and detail["format"] == FORMAT_MARKDOWN,
        non_visible_data=detail.get("nonVisibleData"),
        requirement=copy.deepcopy(detail.get("requirement", {})),
        transaction=transaction,
        risk_flags=tuple(detail.get("riskFlags", ())),
    )
