"""Hypothesis generators for hostile input: nesting depth, Unicode digits, huge and repeated
parameters, and JSON and JWTs built from them."""

import json
import string

from hypothesis import strategies as st

from tests.fuzz.support import ANNA, RP_CB, b64url

#: Up to 10,000 levels; the interesting depths (the decoders' limits and Python's recursion
#: limit) are always among the examples.
DEPTHS = st.one_of(
    st.sampled_from([1, 4, 5, 32, 33, 900, 1000, 1001, 2000, 10_000]),
    st.integers(min_value=0, max_value=10_000),
)

#: The zero of each run of ten Unicode decimal digits that `\d` and int() accept (Arabic-Indic,
#: extended Arabic-Indic, Devanagari, Bengali, Thai, fullwidth, mathematical bold), and ASCII.
DIGIT_ZEROS = (0x30, 0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0xFF10, 0x1D7CE)
#: Digits to str.isdigit() but not to int(): superscripts, circled.
ODD_DIGITS = "²³¹①⑨"
PERSONS = (ANNA, "197203152397", "196006072414")


def in_digits(number: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if c in string.digits else c for c in number)


def deep_json(depth: int, kind: str) -> str:
    """`depth` levels of arrays, objects, or both, as text; "open" never closes them."""
    if kind == "array":
        return "[" * depth + "]" * depth
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    if kind == "claims":  # a claims request whose value nests
        return '{"id_token":{"ssn":{"value":' + "[" * depth + "]" * depth + "}}}"
    if kind == "mixed":
        return '[{"a":' * (depth // 2) + "1" + "}]" * (depth // 2)
    return "[" * depth  # "open"


deep_json_text = st.builds(
    deep_json, DEPTHS, st.sampled_from(["array", "object", "claims", "mixed", "open"])
)


def jwt_with(header: str, payload: str) -> str:
    return f"{b64url(header.encode())}.{b64url(payload.encode())}.c2ln"


#: A compact JWS whose header or payload nests (a client assertion, a request object, an
#: id_token_hint, a bearer token).
deep_jwt = st.one_of(
    st.builds(lambda p: jwt_with('{"alg":"RS256","kid":"fuzz-key"}', p), deep_json_text),
    st.builds(lambda h: jwt_with(h, "{}"), deep_json_text),
)

#: Personal numbers in every digit family, mixed families, and digits int() refuses.
unicode_personal_number = st.one_of(
    st.builds(in_digits, st.sampled_from(PERSONS), st.sampled_from(DIGIT_ZEROS[1:])),
    st.builds(
        lambda n, zeros: "".join(in_digits(c, z) for c, z in zip(n, zeros, strict=False)),
        st.sampled_from(PERSONS),
        st.lists(st.sampled_from(DIGIT_ZEROS), min_size=12, max_size=12),
    ),
    st.builds(lambda n, c: n[:-1] + c, st.sampled_from(PERSONS), st.sampled_from(ODD_DIGITS)),
    st.builds(lambda n: f"sub:{n}", st.sampled_from(PERSONS)),
    st.builds(lambda n: f"sub:ssn:{n[:8]}-{n[8:]}", st.sampled_from(PERSONS)),
)
#: Numbers where an integer is expected (max_age, requested_expiry, t).
unicode_number = st.one_of(
    st.builds(in_digits, st.sampled_from(["10", "300", "0"]), st.sampled_from(DIGIT_ZEROS)),
    st.sampled_from([*ODD_DIGITS, "9" * 5000, "-1", "1e9", "0x10", " 10", "10\n"]),
)
huge = st.sampled_from([2049, 10_000, 70_000, 300_000]).map(lambda n: "x" * n)

#: Any value a parameter or a JSON member may carry.
values = st.one_of(
    st.sampled_from(
        [
            "",
            "web",
            "cs",
            "jwt",
            RP_CB,
            "openid",
            "openid profile ssn",
            "code",
            "S256",
            "urn:openid:params:grant-type:ciba",
            "authorization_code",
            "approve",
            "1.2.3.4",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "none",
            "login",
            *PERSONS,
        ]
    ),
    st.text(max_size=40),
    deep_json_text,
    deep_jwt,
    unicode_personal_number,
    unicode_number,
    huge,
)

PARAMETER_NAMES = (
    # OIDC, PAR, JAR, RAR
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "id_token_hint",
    "acr_values",
    "ui_locales",
    "claims",
    "request",
    "request_uri",
    "authorization_details",
    "user_message",
    "sign_request",
    "response_mode",
    "display",
    # token, introspection, revocation, client authentication
    "grant_type",
    "code",
    "code_verifier",
    "refresh_token",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "token",
    "token_type_hint",
    "auth_req_id",
    # CIBA
    "binding_message",
    "requested_expiry",
    "client_notification_token",
    "login_hint_token",
    "user_code",
    # logout, BankID pages
    "post_logout_redirect_uri",
    "logout_hint",
    "confirm",
    "csrf",
    "txn",
    "lang",
    "flow",
    "done",
    "order",
    "action",
    # BankID RP API and the simulator's app
    "endUserIp",
    "personalNumber",
    "requirement",
    "userVisibleData",
    "userNonVisibleData",
    "userVisibleDataFormat",
    "orderRef",
    "callInitiator",
    "returnUrl",
    "returnRisk",
    "app",
    "web",
    "userVisibleTransaction",
    "riskFlags",
    "qr",
    "autoStartToken",
    "referringDomain",
)
names = st.one_of(st.sampled_from(PARAMETER_NAMES), st.text(min_size=1, max_size=12))

#: Parameters as pairs, so that a name may come twice (or many times).
parameters = st.one_of(
    st.lists(st.tuples(names, values), max_size=8),
    st.builds(lambda n, v, k: [(n, v)] * k, names, values, st.integers(2, 50)),
)
#: A JSON member's value: a string, or JSON text inlined (nested, a huge number).
json_values = st.one_of(
    values.map(json.dumps),
    deep_json_text,
    st.sampled_from(["9" * 5000, "1e999", "NaN", "-Infinity", "null", "true", "{}", "[]"]),
    unicode_personal_number.map(lambda n: json.dumps({"personalNumber": n})),
)
json_bodies = st.one_of(
    st.lists(st.tuples(names, json_values), max_size=6).map(
        lambda pairs: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in pairs) + "}"
    ),
    deep_json_text,
    st.text(max_size=50),
)
