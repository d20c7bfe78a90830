"""The Swedish OpenID Connect Profile 1.0 (SWE-P), the Claims and Scopes Specification 1.0 (SWE-C)
and the userMessage parameter of the Request Parameter Extensions 1.1 (SWE-R): one test per
obligation of an OpenID Provider, named with its section, against the provider as `create_app`
wires it for BankID (the built-in simulator; the person plays through its app API), seen from a
relying party held to the profile (`profile: swedish-oidc`, private_key_jwt with inline keys).
Sections and rows follow shared/reference/signing-and-swedish-profile.md §1-§3.

Covered (test name prefix -> obligation):

SWE-P §2 Authentication requests
* swe_p_2_           code flow only, `response_type=code` (MUST)
* swe_p_2_1_1_       `scope` must contain `openid` (MUST)
* swe_p_2_1_2_       `state` is returned, on success and on error (MUST)
* swe_p_2_1_3_       `redirect_uri` by exact string match; missing or invalid rejected (MUST)
* swe_p_2_1_nonce_   `nonce` supported: returned in the ID token (REQUIRED for the OP)
* swe_p_2_1_acr_     `acr_values` supported, and voluntary (MUST)
* swe_p_2_1_4_       `prompt`: `login` always re-authenticates; `none` shows nothing, is
                     `login_required` without a session and answers from one (MUST)
* swe_p_2_1_5_       the OP side of §2.1.5: a person named by a `claims` value (what the
                     profile has relying parties use instead of login_hint) is the one BankID
                     asks for
* swe_p_2_1_6_       `claims` as a parameter and inside a request object (MUST)
* swe_p_2_1_7_       request objects by value, signed by the client's registered key, iss/aud,
                     issuer or authorization endpoint as `aud`, optionally encrypted (MUST)
* swe_p_2_1_8_       PKCE with S256; `plain` never; public clients must use PKCE (MUST)
* swe_p_2_2_         an essential `acr` that cannot be met: do not proceed,
                     `unmet_authentication_requirements` (MUST NOT / SHOULD)
* swe_p_2_3_         errors from the standard sets with `error_description`; a login not
                     completed is `access_denied`, told to the person before the redirect (MUST)
SWE-P §3 Token endpoint and ID token
* swe_p_3_1_         the authorization code grant; `code_verifier` checked (MUST)
* swe_p_3_1_1_       private_key_jwt (RS256 and ES256), a fresh assertion per call, the issuer
                     accepted as `aud`; other methods only where the operator permits them
                     (MUST / RECOMMENDED)
* swe_p_3_2_         the token response has an access token and an ID token (MUST)
* swe_p_3_2_1_       ID token signed, with iss, sub, aud, exp, iat, auth_time (the original
                     authentication under SSO), nonce, acr when requested essential (MUST)
* swe_p_3_2_1_1_     `sub`: public by default, pairwise offered, never the personal number
* swe_p_3_2_1_2_     ID token lifetime at most 5 minutes (MUST)
* swe_p_3_2_1_3_     `acr` per Core §5.5.1.1 (MUST)
SWE-P §4 UserInfo and claim release
* swe_p_4_1_         UserInfo denies requests without a valid access token; answers signed (MUST)
* swe_p_4_2_         no identity claims unless requested; never unauthorised claims; the
                     `claims` destination wins; a UserInfo claim moved to the ID token stays at
                     UserInfo (MUST)
SWE-P §5.2 Discovery, §6 client data, §7 cryptography
* swe_p_5_2_         every member §5.2 requires, with the required values (MUST)
* swe_p_6_           every client has redirect_uris, code, authorization_code, keys and an auth
                     method; subject_type defaults to public (MUST / SHOULD)
* swe_p_7_1_         RSA >= 2048 and P-256 keys (ours, and the clients'); RS256 and ES256
                     signatures; RSA-OAEP with A128GCM and A256GCM (MUST)
* swe_p_7_2_         `kid` in every JOSE header we produce (SHOULD, claimed)
SWE-C Claims and scopes
* swe_c_3_2_         naturalPersonNumber: personalIdentityNumber, or coordinationNumber for a
                     samordningsnummer, never both, in the ID token and at UserInfo
* swe_c_3_1_         naturalPersonInfo: family_name, given_name, name, birthdate at UserInfo
* swe_c_2_3_         authentication information (deviceIp, credentialValidFrom/To,
                     authnProvider) in the ID token, not at UserInfo; formats of §2.3.3, §2.3.5
* swe_c_3_3_         naturalPersonOrgId is not offered (see below) and grants nothing
* swe_c_2_claims_    claims_supported covers the claims of the offered scopes
SWE-R Request Parameter Extensions (userMessage, the one parameter supported)
* swe_r_2_1_         shown in the BankID app, in the UI locale; never with prompt=none; an
                     unsupported MIME type refused
* swe_r_3_           the discovery keys of what is supported, and only those

Deliberately not applicable:
* SWE-P §2.1.5 `login_hint` (its format is the OP's own; the MUST NOT binds relying parties)
  and the RP halves of §2.1.2/§2.1.6/§2.1.8: obligations of relying parties, not of the OP.
* SWE-P §6 `default_acr_values` (optional client metadata): not offered.
* SWE-P §7.1 RECOMMENDED RS384, RS512, ES384, ES512 and SHOULD P-384/P-521: not offered
  (RS256, ES256, PS256 are); not claimed.
* SWE-P §2.1.7 `request_uri` by reference: a MAY; only PAR's own request_uri values are taken
  (discovery says request_uri_parameter_supported: false). Unsigned (encrypted-only) request
  objects are refused: the profile wants objects signed by the RP's registered key, and JAR
  (RFC 9101 §4) requires the signature (reference §6.2, "(ours)").
* SWE-P §3.1.1 mTLS client authentication (RFC 8705): not offered; private_key_jwt is.
* SWE-P §3.2.1 encrypted ID tokens: a MAY, not offered.
* SWE-P §5.2 access-protected discovery: a MAY.
* SWE-P §7 TLS (NIST SP 800-52r2): terminated in front of the provider (README "Behind a
  proxy"), not testable in-process.
* SWE-C §2.1.2.1 coordinationNumberLevel, §2.1.2.2 previousCoordinationNumber, §2.2 the
  organisation claims (orgNumber, orgAffiliation, orgName, orgUnit) and so §3.3
  naturalPersonOrgId, §2.3.1 userCertificate, §2.3.2 userSignature, §2.3.4 authnEvidence:
  BankID authentication data holds no organisation or coordination-number level, and this
  provider does not release the certificate, signature or OCSP response under the SWE-C names
  (its own `bankid_evidence` scope carries them); none of them is advertised.
* SWE-R §2.2 authnProvider and §2.3 originalClientId/originalClientToken: not supported, so
  not advertised (checked in swe_r_3_).
"""

from __future__ import annotations

import base64
import json
import secrets
import warnings

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwe
from joserfc.jwk import RSAKey
from jwt.warnings import InsecureKeyLengthWarning

from idp.config import ConfigError, parse_settings
from tests.bankid_web.support import current_frame, phone, poll_until, simulator_book, status_text
from tests.profiles.conftest import profile_clients, public_jwk, swedish_client
from tests.profiles.swedish_rp import (
    ACR_BANKID,
    ACR_QR,
    ANNA,
    AUTHN_PROVIDER,
    BJORN,
    COORDINATION,
    COORDINATION_PERSON,
    DEVICE_IP,
    INFO_SCOPE,
    ISSUER,
    LOA4,
    NATIVE_CB,
    NUMBER_SCOPE,
    ORG_SCOPE,
    PHONE_IP,
    PNR,
    RP_CB,
    UNCERTIFIED_LOA3,
    USER_MESSAGE,
    VALID_FROM,
    VALID_TO,
    dumps,
    error_page,
    query,
    redirect_error,
    user_message,
)

pytestmark = pytest.mark.anyio

IDENTITY_CLAIMS = (
    PNR,
    COORDINATION,
    "ssn",
    "name",
    "given_name",
    "family_name",
    "birthdate",
    "middle_name",
)
AUTHENTICATION_INFO = (DEVICE_IP, VALID_FROM, VALID_TO, AUTHN_PROVIDER)
#: RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6 and Unmet Authentication Requirements 1.0 (SWE-P §2.3).
STANDARD_ERRORS = frozenset(
    {
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
        "request_uri_not_supported",
        "registration_not_supported",
        "unmet_authentication_requirements",
    }
)


async def code_of(response) -> str:
    assert response.status_code == 303, (response.status_code, response.text[:300])
    q = query(response.headers["location"])
    assert "code" in q, q
    return q["code"]


async def discovery(rp) -> dict:
    r = await rp.server.get("/.well-known/openid-configuration")
    assert r.status_code == 200, r.text
    return r.json()


# ============================================================================ SWE-P §2


async def test_swe_p_2_code_flow_only_response_type_code(rp):
    for response_type in ("id_token", "token", "code id_token", "code token", "id_token token"):
        params = rp.auth_params(response_type=response_type)
        redirect_error(
            await rp.authorize(params), "unsupported_response_type", state=params["state"]
        )
    params = rp.auth_params()
    assert params["response_type"] == "code"
    final = await rp.login(params)
    assert query(final.headers["location"])["code"]
    assert (await discovery(rp))["response_types_supported"] == ["code"]


async def test_swe_p_2_1_1_scope_must_contain_openid(rp):
    params = rp.auth_params(scope=NUMBER_SCOPE)
    redirect_error(await rp.authorize(params), "invalid_scope", state=params["state"])
    params = rp.auth_params(scope=None)
    redirect_error(await rp.authorize(params), "invalid_scope", state=params["state"])


async def test_swe_p_2_1_2_state_is_returned_on_success_and_on_error(rp):
    params = rp.auth_params()
    final = await rp.login(params)
    assert query(final.headers["location"])["state"] == params["state"]
    # Errors carry it too: one found by the checks, and one after the login pages.
    params = rp.auth_params(scope="profile")
    redirect_error(await rp.authorize(params), "invalid_scope", state=params["state"])
    params = rp.auth_params(prompt="login")
    await rp.open_bankid(await rp.authorize(params))
    cancelled = await rp.submit("/bankid/cancel")
    back = await rp.http.get(cancelled.headers["location"])
    redirect_error(back, "access_denied", state=params["state"])


@pytest.mark.parametrize(
    "redirect_uri",
    [
        None,
        "",
        RP_CB + "/",
        RP_CB + "?x=1",
        RP_CB + "#",
        "https://RP.example/cb",
        "https://rp.example/CB",
        "https://rp.example:443/cb",
        "http://rp.example/cb",
        "https://rp.example/cb/../cb",
        "https://rp.example/c%62",
        "https://rp.example.evil.example/cb",
        NATIVE_CB,  # registered, but for another client
    ],
)
async def test_swe_p_2_1_3_redirect_uri_is_matched_by_exact_string_comparison(rp, redirect_uri):
    params = rp.auth_params(redirect_uri=redirect_uri)
    error_page(await rp.authorize(params))
    error_page(await rp.authorize(params, method="POST"))


async def test_swe_p_2_1_3_the_registered_redirect_uri_itself_is_accepted(rp):
    final = await rp.login(rp.auth_params(redirect_uri=RP_CB))
    assert final.headers["location"].startswith(RP_CB + "?code=")


async def test_swe_p_2_1_nonce_is_returned_in_the_id_token(rp):
    params = rp.auth_params(nonce="n-" + secrets.token_urlsafe(24))
    claims = await rp.id_token(await rp.tokens(params))
    assert claims["nonce"] == params["nonce"]


async def test_swe_p_2_1_acr_values_are_supported_and_voluntary(rp_factory):
    met = rp_factory()
    claims = await met.id_token(await met.tokens(met.auth_params(acr_values=UNCERTIFIED_LOA3)))
    assert claims["acr"] == UNCERTIFIED_LOA3
    # A way named in acr_values is the way offered, and the one the token names.
    qr = rp_factory()
    claims = await qr.id_token(await qr.tokens(qr.auth_params(acr_values=ACR_QR)))
    assert claims["acr"] == ACR_QR
    # Voluntary: a value that cannot be met does not stop the login; the token says what was.
    unmet = rp_factory()
    claims = await unmet.id_token(await unmet.tokens(unmet.auth_params(acr_values=LOA4)))
    assert claims["acr"] == UNCERTIFIED_LOA3


async def test_swe_p_2_1_4_prompt_login_always_reauthenticates(rp):
    first = await rp.id_token(await rp.tokens())
    rp.clock.advance(120)
    # The session is there: without prompt the provider answers from it, with no page.
    sso = await rp.authorize(rp.auth_params())
    assert sso.headers["location"].startswith(RP_CB + "?code="), sso.headers
    # prompt=login: the BankID login again, never the session.
    params = rp.auth_params(prompt="login")
    again = await rp.authorize(params)
    assert again.status_code == 303 and again.headers["location"].startswith("/bankid/login?")
    await rp.open_bankid(again)
    await rp.app_scan()
    final = await rp.finish()
    r = await rp.token(await code_of(final))
    second = await rp.id_token(r.json())
    assert second["auth_time"] >= first["auth_time"] + 120, (first, second)
    assert second["sid"] != first["sid"]


async def test_swe_p_2_1_4_prompt_none_without_a_session_is_login_required(rp):
    params = rp.auth_params(prompt="none")
    redirect_error(await rp.authorize(params), "login_required", state=params["state"])


async def test_swe_p_2_1_4_prompt_none_with_a_session_answers_without_any_page(rp):
    first = await rp.id_token(await rp.tokens())
    rp.clock.advance(30)
    params = rp.auth_params(prompt="none")
    r = await rp.authorize(params)
    assert r.headers["location"].startswith(RP_CB + "?"), r.headers
    assert query(r.headers["location"])["state"] == params["state"]
    claims = await rp.id_token((await rp.token(await code_of(r))).json())
    assert claims["auth_time"] == first["auth_time"] and claims["sub"] == first["sub"]


async def test_swe_p_2_1_4_prompt_values_combined_with_none_are_refused(rp):
    params = rp.auth_params(prompt="none login")
    redirect_error(await rp.authorize(params), "invalid_request", state=params["state"])


async def test_swe_p_2_1_5_a_person_named_by_a_claims_value_is_the_one_bankid_asks_for(rp):
    """The profile steers relying parties from login_hint to `claims` with a `value`; the
    provider honours it (from an authenticated request: here a signed request object) by
    ordering BankID for that person only (requirement.personalNumber)."""
    asked = {"id_token": {PNR: {"essential": True, "value": BJORN}}}
    inner = rp.auth_params(scope=f"openid {NUMBER_SCOPE}", claims=asked)
    await rp.open_bankid(
        await rp.authorize({"client_id": rp.client_id, "request": rp.request_object(inner)})
    )
    frame = await current_frame(rp.app, rp)
    refused = await phone(rp.app, "scan", {"qr": frame, "personalNumber": ANNA})
    assert refused.status_code == 403 and refused.json()["error"] == "personal_number_mismatch"
    await rp.app_scan(person=BJORN)
    claims = await rp.id_token((await rp.token(await code_of(await rp.finish()))).json())
    assert claims[PNR] == BJORN
    # The same value in a request the client did not authenticate is refused, naming no one.
    params = rp.auth_params(scope=f"openid {NUMBER_SCOPE}", claims=dumps(asked))
    q = redirect_error(await rp.authorize(params), "invalid_request", state=params["state"])
    assert BJORN not in q["error_description"]


async def test_swe_p_2_1_6_the_claims_parameter_is_honoured(rp):
    asked = {"id_token": {"given_name": None, "family_name": {"essential": True}}}
    params = rp.auth_params(scope=f"openid {INFO_SCOPE}", claims=dumps(asked))
    claims = await rp.id_token(await rp.tokens(params))
    assert claims["given_name"] == "Anna" and claims["family_name"] == "Andersson"
    assert "name" not in claims and "birthdate" not in claims  # not asked into the ID token


async def test_swe_p_2_1_6_claims_inside_a_request_object_are_honoured(rp):
    inner = rp.auth_params(
        scope=f"openid {INFO_SCOPE}", claims={"id_token": {"birthdate": {"essential": True}}}
    )
    outer = {"client_id": rp.client_id, "request": rp.request_object(inner)}
    claims = await rp.id_token(await rp.tokens(outer))
    assert claims["birthdate"] == "1985-01-01" and "given_name" not in claims


async def test_swe_p_2_1_7_a_signed_request_object_by_value_is_supported(rp):
    inner = rp.auth_params(scope=f"openid {NUMBER_SCOPE}")
    outer = {"client_id": rp.client_id, "request": rp.request_object(inner)}
    final = await rp.login(outer)
    q = query(final.headers["location"])
    assert q["state"] == inner["state"] and q["iss"] == ISSUER
    claims = await rp.id_token((await rp.token(q["code"])).json())
    assert claims["nonce"] == inner["nonce"] and claims[PNR] == ANNA
    assert (await discovery(rp))["request_parameter_supported"] is True


@pytest.mark.parametrize("aud", [ISSUER, ISSUER + "/authorize", [ISSUER, "https://other.example"]])
async def test_swe_p_2_1_7_issuer_or_authorization_endpoint_accepted_as_audience(rp, aud):
    inner = rp.auth_params()
    # The relying party "should POST" it: both ways are taken.
    outer = {"client_id": rp.client_id, "request": rp.request_object(inner, aud=aud)}
    final = await rp.login(outer, method="POST")
    assert query(final.headers["location"])["state"] == inner["state"]


async def test_swe_p_2_1_7_a_request_object_must_be_signed_by_the_clients_registered_key(rp):
    def outer(request):
        return {
            "client_id": rp.client_id,
            "redirect_uri": RP_CB,
            "state": "outer",
            "request": request,
        }

    inner = rp.auth_params()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(rp.clock.now())
    body = {
        "iss": rp.client_id,
        "aud": ISSUER,
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_urlsafe(8),
        **inner,
    }
    forged = jwt.encode(body, other, algorithm="RS256", headers={"kid": "rp-rsa"})
    unsigned = jwt.encode(body, None, algorithm="none")
    for request in (
        forged,
        unsigned,
        rp.request_object(inner, iss="someone-else"),  # iss must be the client
        rp.request_object(inner, aud="https://other.example"),  # aud must name us
        rp.request_object(inner, aud=None, iss=None),  # no iss, no aud
    ):
        redirect_error(await rp.authorize(outer(request)), "invalid_request_object", state="outer")


@pytest.mark.parametrize("enc", ["A128GCM", "A256GCM"])
async def test_swe_p_2_1_7_an_encrypted_signed_request_object_is_accepted(rp, enc):
    keys = (await rp.jwks())["keys"]
    ours = next(k for k in keys if k.get("use") == "enc" and k.get("alg") == "RSA-OAEP")
    inner = rp.auth_params()
    token = jwe.encrypt_compact(
        {"alg": "RSA-OAEP", "enc": enc, "kid": ours["kid"], "cty": "JWT"},
        rp.request_object(inner).encode(),
        RSAKey.import_key(ours),
    )
    final = await rp.login({"client_id": rp.client_id, "request": token})
    assert query(final.headers["location"])["state"] == inner["state"]


async def test_swe_p_2_1_8_plain_code_challenge_method_is_never_allowed(rp):
    verifier = secrets.token_urlsafe(48)
    for method in ("plain", None, "s256", "S512"):
        params = rp.auth_params(code_challenge=verifier, code_challenge_method=method)
        redirect_error(await rp.authorize(params), "invalid_request", state=params["state"])
    assert "plain" not in (await discovery(rp))["code_challenge_methods_supported"]


async def test_swe_p_2_1_8_pkce_s256_is_supported(rp):
    params = rp.auth_params()
    assert params["code_challenge_method"] == "S256"
    tokens = await rp.tokens(params)
    assert tokens["id_token"] and tokens["access_token"]


async def test_swe_p_2_1_8_public_clients_must_use_pkce(rp_factory):
    app = rp_factory("se-native", redirect_uri=NATIVE_CB)
    params = app.auth_params(code_challenge=None, code_challenge_method=None)
    redirect_error(await app.authorize(params), "invalid_request", state=params["state"])
    params = app.auth_params(scope=f"openid {NUMBER_SCOPE}")
    code = await code_of(await app.login(params))
    without = await app.token(code, verifier=None, auth={"client_id": "se-native"})
    assert without.status_code == 400, without.text
    assert without.json()["error"] in ("invalid_grant", "invalid_request"), without.text
    params = app.auth_params()
    code = await code_of(await app.login(params))
    r = await app.token(code, auth={"client_id": "se-native"})
    assert r.status_code == 200, r.text


async def test_swe_p_2_2_an_essential_acr_that_cannot_be_met_is_refused_before_any_login(rp):
    book = simulator_book(rp.app)
    asked = {"id_token": {"acr": {"essential": True, "values": [LOA4]}}}
    params = rp.auth_params(claims=dumps(asked))
    redirect_error(
        await rp.authorize(params), "unmet_authentication_requirements", state=params["state"]
    )
    assert book.pending_orders() == []  # nothing was started at BankID
    # The same with a value that can be met proceeds to the login.
    asked = {"id_token": {"acr": {"essential": True, "values": [LOA4, UNCERTIFIED_LOA3]}}}
    r = await rp.authorize(rp.auth_params(claims=dumps(asked)))
    assert r.headers["location"].startswith("/bankid/login?")


async def test_swe_p_2_3_a_login_cancelled_in_the_app_is_access_denied_after_telling_the_person(
    rp,
):
    params = rp.auth_params(ui_locales="en")
    await rp.open_bankid(await rp.authorize(params))
    await rp.app_scan(action="cancel")
    failed = await poll_until(rp, rp.clock, "failed")
    assert failed["next"] is None  # the page stays: nothing goes back to the client yet
    page = await rp.get(f"/bankid/wait?txn={rp.txn}")
    assert page.status_code == 200
    assert status_text(page.text) == ("RFA6", "The action was cancelled.")
    assert 'action="/bankid/cancel"' in page.text and 'action="/bankid/retry"' in page.text
    # The person acknowledges (Cancel): then the client hears access_denied, with a reason.
    cancelled = await rp.submit("/bankid/cancel")
    assert cancelled.status_code == 303, cancelled.text[:300]
    back = await rp.http.get(cancelled.headers["location"])
    q = redirect_error(back, "access_denied", state=params["state"])
    assert q["error_description"] == "The user cancelled the login."


async def test_swe_p_2_3_a_login_cancelled_on_the_page_is_access_denied(rp):
    params = rp.auth_params()
    await rp.open_bankid(await rp.authorize(params))
    cancelled = await rp.submit("/bankid/cancel")
    back = await rp.http.get(cancelled.headers["location"])
    redirect_error(back, "access_denied", state=params["state"])


async def test_swe_p_2_3_error_codes_are_the_standard_ones_with_a_description(rp):
    bad = [
        {"scope": "profile"},
        {"response_type": "token"},
        {"prompt": "none"},
        {"prompt": "bogus"},
        {"max_age": "-1"},
        {"claims": "not json"},
        {"code_challenge_method": "plain"},
        {"request": "not.a.jwt"},
        {USER_MESSAGE: '{"message": "x"}'},
        {"claims": dumps({"id_token": {"acr": {"essential": True, "value": LOA4}}})},
        {"id_token_hint": "x.y.z"},
        {"response_mode": "fragment"},
    ]
    seen = set()
    for overrides in bad:
        params = rp.auth_params(**overrides)
        r = await rp.authorize(params)
        assert r.status_code == 303, (overrides, r.text[:300])
        q = query(r.headers["location"])
        assert q["error"] in STANDARD_ERRORS and q["error_description"], (overrides, q)
        seen.add(q["error"])
    assert len(seen) >= 5, seen


# ============================================================================ SWE-P §3


async def test_swe_p_3_1_the_code_verifier_is_checked_at_the_token_endpoint(rp):
    code = await code_of(await rp.login())
    wrong = await rp.token(code, verifier=secrets.token_urlsafe(48))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant", wrong.text
    code = await code_of(await rp.login())
    missing = await rp.token(code, verifier=None)
    assert missing.status_code == 400 and missing.json()["error"] in (
        "invalid_grant",
        "invalid_request",
    ), missing.text
    code = await code_of(await rp.login())
    assert (await rp.token(code)).status_code == 200


async def test_swe_p_3_1_a_code_is_used_once(rp):
    code = await code_of(await rp.login())
    assert (await rp.token(code)).status_code == 200
    again = await rp.token(code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_swe_p_3_1_1_private_key_jwt_is_supported(rp, alg):
    code = await code_of(await rp.login())
    r = await rp.token(code, auth=rp.client_auth(alg=alg))
    assert r.status_code == 200, r.text


async def test_swe_p_3_1_1_the_issuer_is_accepted_as_the_assertions_audience(rp):
    code = await code_of(await rp.login())
    r = await rp.token(code, auth=rp.client_auth(aud=ISSUER))
    assert r.status_code == 200, r.text


async def test_swe_p_3_1_1_a_fresh_assertion_is_needed_for_every_call(rp):
    assertion = rp.client_auth()
    code = await code_of(await rp.login())
    assert (await rp.token(code, auth=assertion)).status_code == 200
    code = await code_of(await rp.login())
    replay = await rp.token(code, auth=assertion)
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"


async def test_swe_p_3_1_1_a_profile_client_authenticates_only_with_its_registered_key(rp):
    code = await code_of(await rp.login())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(rp.clock.now())
    forged = jwt.encode(
        {
            "iss": rp.client_id,
            "sub": rp.client_id,
            "aud": ISSUER + "/token",
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(8),
        },
        other,
        algorithm="RS256",
        headers={"kid": "rp-rsa"},
    )
    for auth in (
        {"client_id": rp.client_id},
        {"client_id": rp.client_id, "client_secret": "a-guessed-secret-0123456789"},
        {"client_assertion_type": rp.client_auth()["client_assertion_type"],
         "client_assertion": forged},
    ):  # fmt: skip
        r = await rp.token(code, auth=auth)
        assert r.status_code == 401 and r.json()["error"] == "invalid_client", (auth, r.text)
    assert (await rp.token(code)).status_code == 200  # the code was still good


def test_swe_p_3_1_1_other_client_authentication_only_where_the_operator_permits(rp_jwks):
    secret = {"client_secret": "s" * 24}
    for method in ("client_secret_basic", "client_secret_post"):
        raw = {
            "issuer": ISSUER,
            "clients": [swedish_client("x", None, token_endpoint_auth_method=method, **secret)],
        }
        with pytest.raises(ConfigError) as info:
            parse_settings(raw, source="idp.yaml", environ={})
        assert any("token_endpoint_auth_method" in i.path for i in info.value.issues)
        allowed = swedish_client(
            "x", None, token_endpoint_auth_method=method, allow_weaker_client_auth=True, **secret
        )
        settings = parse_settings(
            {"issuer": ISSUER, "clients": [allowed]}, source="idp.yaml", environ={}
        )
        assert settings.clients[0].token_endpoint_auth_method == method


async def test_swe_p_3_2_the_token_response_has_an_access_token_and_an_id_token(rp):
    code = await code_of(await rp.login())
    r = await rp.token(code)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"].lower() == "bearer" and body["expires_in"] > 0
    assert body["access_token"] and body["id_token"]
    assert (await rp.userinfo(body["access_token"])).status_code == 200  # the token is for it


async def test_swe_p_3_2_1_the_id_token_is_signed_and_has_the_required_claims(rp):
    start = int(rp.clock.now())
    params = rp.auth_params()
    header, claims = await rp.verify((await rp.tokens(params))["id_token"])
    assert header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == ISSUER and claims["aud"] == rp.client_id and claims["sub"]
    assert claims["exp"] > claims["iat"] >= start
    assert start <= claims["auth_time"] <= claims["iat"]
    assert claims["nonce"] == params["nonce"]
    assert claims["acr"]


async def test_swe_p_3_2_1_auth_time_is_the_original_authentication_under_sso(rp):
    first = await rp.id_token(await rp.tokens())
    rp.clock.advance(600)
    r = await rp.authorize(rp.auth_params())
    claims = await rp.id_token((await rp.token(await code_of(r))).json())
    assert claims["auth_time"] == first["auth_time"]
    assert claims["iat"] >= first["iat"] + 600


async def test_swe_p_3_2_1_acr_is_in_the_id_token_when_requested_as_essential(rp):
    asked = {"id_token": {"acr": {"essential": True, "values": [ACR_BANKID]}}}
    claims = await rp.id_token(await rp.tokens(rp.auth_params(claims=dumps(asked))))
    assert claims["acr"] == ACR_BANKID


async def test_swe_p_3_2_1_1_sub_is_public_by_default_and_never_the_personal_number(rp_factory):
    one, other, pairwise = rp_factory("se-rp"), rp_factory("se-other"), rp_factory("se-pairwise")
    subs = {}
    for rp in (one, other, pairwise):
        tokens = await rp.tokens(rp.auth_params(scope=f"openid {NUMBER_SCOPE}"))
        claims = await rp.id_token(tokens)
        assert claims[PNR] == ANNA
        subs[rp.client_id] = claims["sub"]
        assert ANNA not in claims["sub"] and ANNA[2:] not in claims["sub"]
        decoded = base64.urlsafe_b64decode(claims["sub"] + "=" * (-len(claims["sub"]) % 4))
        assert ANNA.encode() not in decoded and ANNA[2:].encode() not in decoded
    # se-rp and se-other registered no subject_type: public, the same for both.
    assert subs["se-rp"] == subs["se-other"]
    # Pairwise is offered (SHOULD): another sector sees another sub.
    assert subs["se-pairwise"] != subs["se-rp"]
    assert {"public", "pairwise"} <= set((await discovery(one))["subject_types_supported"])


async def test_swe_p_3_2_1_2_id_token_lifetime_at_most_five_minutes(rp_factory):
    from tests.profiles.conftest import SERVER_ID_TOKEN_TTL

    assert SERVER_ID_TOKEN_TTL > 300  # the server default is longer; the profile caps it
    for client_id in ("se-rp", "se-es256"):
        rp = rp_factory(client_id)
        claims = await rp.id_token(await rp.tokens())
        assert 0 < claims["exp"] - claims["iat"] <= 300, claims


async def test_swe_p_3_2_1_3_acr_follows_core_5_5_1_1(rp_factory):
    # Essential: the token names one of the requested values, the first the login met.
    rp = rp_factory()
    asked = {"id_token": {"acr": {"essential": True, "values": [LOA4, UNCERTIFIED_LOA3]}}}
    claims = await rp.id_token(await rp.tokens(rp.auth_params(claims=dumps(asked))))
    assert claims["acr"] == UNCERTIFIED_LOA3
    # A single essential value.
    rp = rp_factory()
    asked = {"id_token": {"acr": {"essential": True, "value": ACR_QR}}}
    claims = await rp.id_token(await rp.tokens(rp.auth_params(claims=dumps(asked))))
    assert claims["acr"] == ACR_QR
    # Nothing asked: the level of assurance (what a relying party of the profile reads).
    rp = rp_factory()
    assert (await rp.id_token(await rp.tokens()))["acr"] == UNCERTIFIED_LOA3


# ============================================================================ SWE-P §4


async def test_swe_p_4_1_userinfo_denies_requests_without_a_valid_access_token(rp):
    tokens = await rp.tokens()
    no_token = await rp.server.get("/userinfo")
    assert no_token.status_code == 401
    assert no_token.headers["www-authenticate"].startswith("Bearer")
    for bad in ("garbage", tokens["id_token"], tokens["access_token"] + "x"):
        r = await rp.userinfo(bad)
        assert r.status_code == 401, (bad[:20], r.text)
        assert 'error="invalid_token"' in r.headers["www-authenticate"]
    in_query = await rp.server.get("/userinfo", params={"access_token": tokens["access_token"]})
    assert in_query.status_code in (400, 401)
    assert (await rp.userinfo(tokens["access_token"])).status_code == 200


async def test_swe_p_4_1_userinfo_responses_are_signed(rp):
    tokens = await rp.tokens(rp.auth_params(scope=f"openid {NUMBER_SCOPE}"))
    r = await rp.userinfo(tokens["access_token"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/jwt")
    header, claims = await rp.verify(r.text)  # signature, iss, aud
    assert header["kid"] and header["alg"] in ("RS256", "ES256")
    assert claims["sub"] == (await rp.id_token(tokens))["sub"]
    assert claims[PNR] == ANNA


async def test_swe_p_4_2_no_identity_claims_without_a_scope_or_claims_request(rp):
    tokens = await rp.tokens(rp.auth_params(scope="openid"))
    claims = await rp.id_token(tokens)
    info = await rp.userinfo_claims(tokens["access_token"])
    for name in IDENTITY_CLAIMS:
        assert name not in claims and name not in info, name
    assert set(info) <= {"sub", "iss", "aud"}, info


async def test_swe_p_4_2_never_claims_the_client_is_not_authorised_for(rp_factory):
    narrow = rp_factory("se-narrow")  # allowed only openid
    asked = {
        "id_token": {PNR: {"essential": True}, "given_name": {"essential": True}},
        "userinfo": {"name": None, "birthdate": None, "ssn": None},
    }
    params = narrow.auth_params(
        scope=f"openid {NUMBER_SCOPE} {INFO_SCOPE} profile ssn", claims=dumps(asked)
    )
    tokens = await narrow.tokens(params)
    assert tokens.get("scope", "openid").split() == ["openid"]
    claims = await narrow.id_token(tokens)
    info = await narrow.userinfo_claims(tokens["access_token"])
    for name in IDENTITY_CLAIMS:
        assert name not in claims and name not in info, name
    # A client allowed the scope, not asking for it, cannot get the number by `claims` alone.
    rp = rp_factory("se-rp")
    asked = {"id_token": {PNR: {"essential": True}}, "userinfo": {PNR: None}}
    tokens = await rp.tokens(rp.auth_params(scope="openid", claims=dumps(asked)))
    assert PNR not in await rp.id_token(tokens)
    assert PNR not in await rp.userinfo_claims(tokens["access_token"])


async def test_swe_p_4_2_the_claims_destination_wins_over_the_scope_rule(rp):
    # naturalPersonNumber says ID token and UserInfo; the claims parameter says UserInfo only.
    asked = {"userinfo": {PNR: None}}
    params = rp.auth_params(scope=f"openid {NUMBER_SCOPE}", claims=dumps(asked))
    tokens = await rp.tokens(params)
    assert PNR not in await rp.id_token(tokens)
    assert (await rp.userinfo_claims(tokens["access_token"]))[PNR] == ANNA


async def test_swe_p_4_2_a_userinfo_claim_put_in_the_id_token_stays_at_userinfo(rp):
    asked = {"id_token": {"given_name": None}}
    params = rp.auth_params(scope=f"openid {INFO_SCOPE}", claims=dumps(asked))
    tokens = await rp.tokens(params)
    claims = await rp.id_token(tokens)
    info = await rp.userinfo_claims(tokens["access_token"])
    assert claims["given_name"] == "Anna" and info["given_name"] == "Anna"
    assert "family_name" not in claims and info["family_name"] == "Andersson"


# ============================================================================ SWE-P §5.2


async def test_swe_p_5_2_discovery_names_the_endpoints_and_keys_with_kid(rp):
    doc = await discovery(rp)
    assert doc["issuer"] == ISSUER
    for member, path in (
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
        ("authorization_endpoint", "/authorize"),
    ):
        assert doc[member] == ISSUER + path, member
    keys = (await rp.jwks())["keys"]
    assert keys and all(k.get("kid") for k in keys), keys
    assert len({k["kid"] for k in keys}) == len(keys)


async def test_swe_p_5_2_discovery_scopes_response_types_subject_types_and_acr(rp):
    doc = await discovery(rp)
    assert "openid" in doc["scopes_supported"]
    assert {NUMBER_SCOPE, INFO_SCOPE} <= set(doc["scopes_supported"])
    assert "code" in doc["response_types_supported"]
    assert "public" in doc["subject_types_supported"]
    assert "pairwise" in doc["subject_types_supported"]  # SHOULD
    assert UNCERTIFIED_LOA3 in doc["acr_values_supported"]
    assert doc["claims_supported"] and PNR in doc["claims_supported"]


async def test_swe_p_5_2_discovery_client_authentication_private_key_jwt_rs256_es256(rp):
    doc = await discovery(rp)
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
    algs = doc["token_endpoint_auth_signing_alg_values_supported"]
    assert {"RS256", "ES256"} <= set(algs) and "none" not in algs
    assert not any(a.startswith("HS") for a in algs)  # a shared secret is not the client's key


async def test_swe_p_5_2_discovery_claims_and_request_parameters_supported(rp):
    doc = await discovery(rp)
    assert doc["claims_parameter_supported"] is True
    assert doc["request_parameter_supported"] is True


async def test_swe_p_5_2_discovery_pkce_s256_and_never_plain(rp):
    doc = await discovery(rp)
    assert "S256" in doc["code_challenge_methods_supported"]
    assert "plain" not in doc["code_challenge_methods_supported"]


# ============================================================================ SWE-P §6, §7


def test_swe_p_6_every_profile_client_has_keys_the_code_flow_and_an_auth_method(rp_jwks):
    def refused(entry, key):
        raw = {"issuer": ISSUER, "clients": [entry]}
        with pytest.raises(ConfigError) as info:
            parse_settings(raw, source="idp.yaml", environ={})
        paths = {i.path for i in info.value.issues}
        assert any(key in p for p in paths), paths

    refused(swedish_client("x", None), "jwks")  # private_key_jwt without keys
    refused(swedish_client("x", rp_jwks, redirect_uris=[]), "redirect_uris")
    refused(swedish_client("x", rp_jwks, response_types=["id_token"]), "response_types")
    refused(swedish_client("x", rp_jwks, grant_types=["refresh_token"]), "grant_types")
    refused(swedish_client("x", rp_jwks, token_endpoint_auth_method="tls_client_auth"),
            "token_endpoint_auth_method")  # fmt: skip
    settings = parse_settings(
        {"issuer": ISSUER, "clients": profile_clients(rp_jwks)}, source="t", environ={}
    )
    for client in settings.clients:
        assert client.redirect_uris and client.response_types == ["code"]
        assert "authorization_code" in client.grant_types
        assert client.token_endpoint_auth_method
        if client.token_endpoint_auth_method == "private_key_jwt":
            assert client.jwks or client.jwks_uri
    rp_entry = next(c for c in settings.clients if c.client_id == "se-rp")
    assert rp_entry.subject_type == "public"  # the default


async def test_swe_p_7_1_our_keys_are_rsa_2048_or_p256_and_rsa_oaep_for_encryption(rp):
    keys = (await rp.jwks())["keys"]
    signing = [k for k in keys if k.get("use", "sig") == "sig"]
    assert {k["alg"] for k in signing} >= {"RS256", "ES256"}
    for k in keys:
        if k["kty"] == "RSA":
            n = base64.urlsafe_b64decode(k["n"] + "=" * (-len(k["n"]) % 4))
            assert len(n) * 8 >= 2048, k["kid"]
        else:
            assert k["kty"] == "EC" and k["crv"] in ("P-256", "P-384", "P-521"), k
    assert any(k.get("use") == "enc" and k.get("alg") == "RSA-OAEP" for k in keys)
    doc = await discovery(rp)
    algs = [a for key, values in doc.items() if key.endswith("_alg_values_supported")
            for a in values]  # fmt: skip
    assert algs and not [a for a in algs if a in ("RS1", "HS1", "RSA1_5", "none")], algs
    assert "RSA-OAEP" in doc["request_object_encryption_alg_values_supported"]
    assert {"A128GCM", "A256GCM"} <= set(doc["request_object_encryption_enc_values_supported"])


async def test_swe_p_7_1_id_tokens_are_signed_with_rs256_or_es256_as_registered(rp_factory):
    for client_id, alg in (("se-rp", "RS256"), ("se-es256", "ES256")):
        rp = rp_factory(client_id)
        tokens = await rp.tokens()
        header, _ = await rp.verify(tokens["id_token"])
        assert header["alg"] == alg
        info = await rp.userinfo(tokens["access_token"])
        assert jwt.get_unverified_header(info.text)["alg"] == alg  # UserInfo: the same alg
        await rp.verify(info.text)


async def test_swe_p_7_1_a_client_rsa_key_under_2048_bits_is_not_accepted(
    tmp_path, profile_template_db, clock, rp_jwks
):
    """Both where the client's key signs: private_key_jwt (at PAR, authenticated as at the
    token endpoint) and request objects."""
    from idp.app import create_app
    from idp.store.memory import MemoryTTLStore
    from tests.profiles.conftest import settings_for
    from tests.profiles.swedish_rp import SwedishRP

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwks = {"keys": [public_jwk(weak, "weak", "RS256")]}
    settings = settings_for(tmp_path, profile_template_db, [swedish_client("se-weak", jwks)])
    app = create_app(settings, clock=clock, store=MemoryTTLStore(clock))
    rp = SwedishRP(app, clock, "se-weak", {"RS256": (weak, "weak")})
    async with app.router.lifespan_context(app):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)  # that is the point
            pushed = await rp.par(rp.auth_params())
            assert pushed.status_code == 401, pushed.text
            assert pushed.json()["error"] == "invalid_client"
            r = await rp.authorize(
                {
                    "client_id": "se-weak",
                    "redirect_uri": RP_CB,
                    "state": "s",
                    "request": rp.request_object(rp.auth_params()),
                }
            )
            redirect_error(r, "invalid_request_object", state="s")
        await rp.aclose()


async def test_swe_p_7_2_every_jose_header_of_ours_carries_a_kid(rp):
    tokens = await rp.tokens()
    info = await rp.userinfo(tokens["access_token"])
    for token in (tokens["id_token"], tokens["access_token"], info.text):
        header = jwt.get_unverified_header(token)
        assert header.get("kid"), header


# ============================================================================ SWE-C


async def test_swe_c_3_2_natural_person_number_in_id_token_and_userinfo(rp):
    tokens = await rp.tokens(rp.auth_params(scope=f"openid {NUMBER_SCOPE}"))
    claims = await rp.id_token(tokens)
    info = await rp.userinfo_claims(tokens["access_token"])
    assert claims[PNR] == ANNA and info[PNR] == ANNA
    assert len(claims[PNR]) == 12 and claims[PNR].isdigit()  # §2.1.1: 12 digits
    assert COORDINATION not in claims and COORDINATION not in info
    assert "naturalPersonNumber" in tokens.get("scope", NUMBER_SCOPE)


async def test_swe_c_3_2_a_coordination_number_is_released_as_such_never_both(rp):
    tokens = await rp.tokens(
        rp.auth_params(scope=f"openid {NUMBER_SCOPE}"), person=COORDINATION_PERSON
    )
    claims = await rp.id_token(tokens)
    info = await rp.userinfo_claims(tokens["access_token"])
    assert claims[COORDINATION] == COORDINATION_PERSON == info[COORDINATION]
    assert PNR not in claims and PNR not in info


async def test_swe_c_3_1_natural_person_info_at_userinfo(rp):
    tokens = await rp.tokens(rp.auth_params(scope=f"openid {INFO_SCOPE}"))
    info = await rp.userinfo_claims(tokens["access_token"])
    assert info["family_name"] == "Andersson" and info["given_name"] == "Anna"
    assert info["name"] == "Anna Andersson" and info["birthdate"] == "1985-01-01"
    claims = await rp.id_token(tokens)
    for name in ("family_name", "given_name", "name", "birthdate"):
        assert name not in claims, name  # delivery: userinfo
    assert PNR not in info and PNR not in claims  # not this scope's


async def test_swe_c_2_3_authentication_information_in_the_id_token_not_userinfo(rp):
    start = int(rp.clock.now())
    tokens = await rp.tokens(rp.auth_params(scope=f"openid {NUMBER_SCOPE} {INFO_SCOPE}"))
    claims = await rp.id_token(tokens)
    info = await rp.userinfo_claims(tokens["access_token"])
    for name in AUTHENTICATION_INFO:
        assert name in claims and name not in info, name
    assert claims[DEVICE_IP] == PHONE_IP  # §2.3.3.3: the device that holds the credential
    # §2.3.3.1-2: epoch seconds, around now.
    assert isinstance(claims[VALID_FROM], int) and isinstance(claims[VALID_TO], int)
    assert claims[VALID_FROM] < start < claims[VALID_TO]


async def test_swe_c_2_3_3_3_device_ip_is_an_ip_address(rp):
    import ipaddress

    claims = await rp.id_token(await rp.tokens())
    ipaddress.ip_address(claims[DEVICE_IP])


async def test_swe_c_2_3_5_authn_provider_names_bankid_as_a_uri(rp):
    claims = await rp.id_token(await rp.tokens())
    assert claims[AUTHN_PROVIDER] == "urn:grn:authn:se:bankid"
    assert claims["txn"] and ANNA not in claims["txn"]  # non-identifying process claim


async def test_swe_c_3_3_natural_person_org_id_is_not_offered_and_grants_nothing(rp):
    doc = await discovery(rp)
    assert ORG_SCOPE not in doc["scopes_supported"]
    org = {"orgAffiliation", "orgName", "orgNumber", "orgUnit"}
    assert not {"https://id.oidc.se/claim/" + c for c in org} & set(doc["claims_supported"])
    tokens = await rp.tokens(rp.auth_params(scope=f"openid {ORG_SCOPE}"))
    assert ORG_SCOPE not in tokens.get("scope", "")
    claims = await rp.id_token(tokens)
    info = await rp.userinfo_claims(tokens["access_token"])
    assert not any("org" in name for name in (*claims, *info)), (claims, info)
    assert "name" not in info


async def test_swe_c_2_claims_supported_covers_the_claims_of_the_offered_scopes(rp):
    doc = await discovery(rp)
    supported = set(doc["claims_supported"])
    assert {PNR, COORDINATION, "family_name", "given_name", "name", "birthdate"} <= supported
    assert set(AUTHENTICATION_INFO) <= supported


# ============================================================================ SWE-R


async def test_swe_r_2_1_the_user_message_is_shown_in_the_bankid_app_in_the_ui_locale(rp):
    message = user_message(sv="Logga in hos Svensk tjänst", en="Log in to the Swedish service")
    for locale, text in (
        ("en", "Log in to the Swedish service"),
        ("sv", "Logga in hos Svensk tjänst"),
    ):
        shown = []
        params = rp.auth_params(ui_locales=locale, prompt="login", **{USER_MESSAGE: message})
        await rp.login(params, shown=shown)
        assert shown[0]["userVisibleData"] == text, shown
    markdown = user_message("text/markdown", default="# Rubrik\n\n*Viktigt*")
    shown = []
    await rp.login(rp.auth_params(prompt="login", **{USER_MESSAGE: markdown}), shown=shown)
    assert shown[0]["userVisibleDataFormat"] == "simpleMarkdownV1"


async def test_swe_r_2_1_a_user_message_inside_a_request_object_is_a_json_member(rp):
    value = json.loads(user_message(en="Signed and shown", sv="Signerad och visad"))
    inner = rp.auth_params(ui_locales="en", **{USER_MESSAGE: value})
    shown = []
    await rp.login({"client_id": rp.client_id, "request": rp.request_object(inner)}, shown=shown)
    assert shown[0]["userVisibleData"] == "Signed and shown", shown


async def test_swe_r_2_1_the_user_message_is_never_used_with_prompt_none(rp):
    params = rp.auth_params(prompt="none", **{USER_MESSAGE: user_message(default="Hej")})
    redirect_error(await rp.authorize(params), "invalid_request", state=params["state"])


async def test_swe_r_2_1_an_unsupported_mime_type_is_refused(rp):
    for mime in ("text/html", "application/pdf"):
        params = rp.auth_params(**{USER_MESSAGE: user_message(mime, default="<b>Hej</b>")})
        redirect_error(await rp.authorize(params), "invalid_request", state=params["state"])


async def test_swe_r_3_discovery_declares_the_supported_parameters_and_only_those(rp):
    doc = await discovery(rp)
    disco = "https://id.oidc.se/disco/"
    assert doc[disco + "userMessageSupported"] is True
    mime_types = doc[disco + "userMessageSupportedMimeTypes"]
    assert "text/plain" in mime_types
    for name in ("authnProviderSupported", "originalClientIdSupported",
                 "originalClientTokenSupported"):  # fmt: skip
        assert not doc.get(disco + name), name
