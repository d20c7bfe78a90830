"""The Swedish OpenID Connect Profile 1.0 and its Claims and Scopes Specification 1.0, as a
relying party sees them: scopes and claims, where each claim is delivered, signed UserInfo,
ID-token lifetime, `acr`, and discovery (reference: signing-and-swedish-profile.md §1-§3, §5).

The authenticator is the fake one, reporting BankID's acr values, so that these tests hold the
protocol core to the profile without BankID (the BankID side: tests/bankid*)."""

import shutil

import httpx
import jwt
import pytest

from idp.config import parse_settings
from tests.oidc.conftest import running_provider
from tests.oidc.fake_authn import FakeAuthenticator
from tests.oidc.harness import (
    ISSUER,
    JWT_BEARER,
    PERSON,
    RP_CB,
    client_assertion,
    discovery,
    dumps,
    jwks,
    query,
    userinfo,
    verify_jwt,
)

pytestmark = pytest.mark.anyio

SCOPE = "https://id.oidc.se/scope/"
CLAIM = "https://id.oidc.se/claim/"
PNR = CLAIM + "personalIdentityNumber"
NUMBER_SCOPE = SCOPE + "naturalPersonNumber"
INFO_SCOPE = SCOPE + "naturalPersonInfo"
ALL_SCOPES = f"openid profile ssn {NUMBER_SCOPE} {INFO_SCOPE}"
ACR_QR = "urn:grn:authn:se:bankid:qr"
UNCERTIFIED_LOA3 = "http://id.swedenconnect.se/loa/1.0/uncertified-loa3"
LOA3 = "http://id.elegnamnden.se/loa/1.0/loa3"
SECRET = "swedish-claims-secret-0123456789"
NAMES = ("name", "given_name", "family_name", "birthdate")
# What the authenticator reports, as BankID's does (idp.bankid.outcomes).
LOGIN = {
    **PERSON,
    f"claim_{PNR}": PERSON["claim_ssn"],
    f"claim_{CLAIM}authnProvider": "urn:grn:authn:se:bankid",
    f"claim_{CLAIM}deviceIp": "198.51.100.20",
    "claim_txn": "txn-0123456789",
}


class BankIDLikeAuthenticator(FakeAuthenticator):
    acr_values = ("urn:grn:authn:se:bankid", ACR_QR, "urn:grn:authn:se:bankid:same-device")


def clients(jwks):
    def secret_client(cid, **kw):
        return {
            "client_id": cid,
            "client_secret": SECRET,
            "redirect_uris": [RP_CB],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": ALL_SCOPES,
            **kw,
        }

    def key_client(cid, **kw):
        return {
            "client_id": cid,
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": jwks,
            "redirect_uris": [RP_CB],
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": ALL_SCOPES,
            **kw,
        }

    return [
        secret_client("classic"),
        secret_client("classic-signed", userinfo_signed_response_alg="ES256"),
        secret_client("classic-short", id_token_lifetime_seconds=120),
        key_client("swedish", profile="swedish-oidc"),
        key_client(
            "sweden-connect",
            profile="sweden-connect",
            contacts=["ops@rp.example"],
            client_uri="https://rp.example/",
            logo_uri="https://rp.example/logo.svg",
            **{"client_name#sv": "Tjänsten", "client_name#en": "The service"},
        ),
    ]


def make_settings(tmp_path, template_db, jwks, **extra):
    shutil.copy(template_db, tmp_path / "idp.db")
    raw = {
        "issuer": ISSUER,
        "database_url": f"sqlite:///{tmp_path}/idp.db",
        "clients": clients(jwks),
        **extra,
    }
    return parse_settings(raw, source="test", environ={})


@pytest.fixture
async def h(tmp_path, template_db, client_jwks, client_private_key):
    async with _start(make_settings(tmp_path, template_db, client_jwks)) as running:
        running.private_key = client_private_key
        yield running


def _start(settings):
    """A provider with the BankID-like fake authenticator (async context manager)."""
    return running_provider(settings, authenticator=BankIDLikeAuthenticator)


async def tokens(h, client_id, *, scope=ALL_SCOPES, claims=None, acr=ACR_QR, **params):
    """A code flow for `client_id` (secret or private_key_jwt); the token response."""
    if claims is not None:
        params["claims"] = dumps(claims)
    auth_params, verifier = h.auth_params(client_id, scope=scope, **params)
    final = await h.login(auth_params, acr=acr, claims=LOGIN)
    assert final.status_code in (302, 303), final.text
    code = query(final.headers["location"])["code"]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": RP_CB,
        "code_verifier": verifier,
    }
    auth = None
    if client_id.startswith("classic"):
        auth = httpx.BasicAuth(client_id, SECRET)
    else:
        data["client_assertion_type"] = JWT_BEARER
        data["client_assertion"] = client_assertion(
            h.private_key, client_id=client_id, now=h.clock.now()
        )
    r = await h.token(data, auth=auth)
    assert r.status_code == 200, r.text
    return r.json()


async def id_token(h, tokens_json, client_id):
    _, claims = await verify_jwt(h, tokens_json["id_token"], audience=client_id)
    return claims


async def signed_userinfo(h, text, client_id, algorithms=("RS256", "ES256")):
    """A signed UserInfo answer checked against /jwks: (header, claims). OIDC Core §5.3.2 asks
    for iss and aud; it has no lifetime of its own (the access token has)."""
    header = jwt.get_unverified_header(text)
    assert header["alg"] in algorithms and header["kid"], header
    key = next(k for k in (await jwks(h))["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(
        text,
        jwt.PyJWK(key, algorithm=header["alg"]).key,
        algorithms=[header["alg"]],
        audience=client_id,
        issuer=ISSUER,
        options={"require": ["iss", "aud", "sub"]},
    )
    return header, claims


async def info(h, tokens_json, client_id):
    """The UserInfo answer's claims, verified when it is signed."""
    r = await userinfo(h, tokens_json["access_token"])
    assert r.status_code == 200, r.text
    if r.headers["content-type"].startswith("application/jwt"):
        return (await signed_userinfo(h, r.text, client_id))[1]
    return r.json()


# ----------------------------------------------------------------------------- scopes, claims


async def test_natural_person_number_scope_puts_the_personal_number_in_id_token_and_userinfo(h):
    for client_id in ("classic", "swedish"):
        t = await tokens(h, client_id, scope=f"openid {NUMBER_SCOPE}")
        assert (await id_token(h, t, client_id))[PNR] == PERSON["claim_ssn"]
        assert (await info(h, t, client_id))[PNR] == PERSON["claim_ssn"]
        assert set(t["scope"].split()) == {"openid", NUMBER_SCOPE}


async def test_natural_person_info_is_delivered_at_userinfo_under_the_profile(h):
    t = await tokens(h, "swedish", scope=f"openid {INFO_SCOPE}")
    token, answer = await id_token(h, t, "swedish"), await info(h, t, "swedish")
    for name in NAMES:
        assert name not in token
        assert answer[name] == PERSON[f"claim_{name}"]
    assert PNR not in answer and PNR not in token


async def test_a_client_not_held_to_the_profile_keeps_identity_claims_in_both_places(h):
    t = await tokens(h, "classic", scope=f"openid {INFO_SCOPE} ssn")
    token, answer = await id_token(h, t, "classic"), await info(h, t, "classic")
    for name in (*NAMES, "ssn"):
        assert token[name] == answer[name] == PERSON[f"claim_{name}"]


async def test_no_identity_claim_without_a_scope_or_claims_request_asking_for_it(h):
    for client_id in ("classic", "swedish"):
        t = await tokens(h, client_id, scope="openid")
        token, answer = await id_token(h, t, client_id), await info(h, t, client_id)
        for name in (*NAMES, "ssn", PNR):
            assert name not in token and name not in answer, (client_id, name)
        assert set(answer) - {"iss", "aud"} == {"sub"}  # iss and aud: a signed answer


async def test_the_personal_number_is_never_released_through_the_claims_parameter(h):
    asked = {"id_token": {PNR: {"essential": True}}, "userinfo": {PNR: None}}
    t = await tokens(h, "swedish", scope="openid profile", claims=asked)
    assert PNR not in await id_token(h, t, "swedish")
    assert PNR not in await info(h, t, "swedish")


async def test_authentication_information_is_in_the_id_token_and_not_at_userinfo(h):
    t = await tokens(h, "swedish", scope=f"openid {NUMBER_SCOPE}")
    token, answer = await id_token(h, t, "swedish"), await info(h, t, "swedish")
    assert token[CLAIM + "authnProvider"] == "urn:grn:authn:se:bankid"
    assert token[CLAIM + "deviceIp"] == "198.51.100.20"
    assert token["txn"] == "txn-0123456789"
    for name in (CLAIM + "authnProvider", CLAIM + "deviceIp", "txn"):
        assert name not in answer


async def test_device_ip_goes_to_other_clients_only_when_they_ask_for_it(h):
    plain = await id_token(h, await tokens(h, "classic", scope="openid"), "classic")
    assert CLAIM + "deviceIp" not in plain
    assert plain[CLAIM + "authnProvider"] == "urn:grn:authn:se:bankid"  # a process claim
    asked = {"id_token": {CLAIM + "deviceIp": None}}
    token = await id_token(h, await tokens(h, "classic", scope="openid", claims=asked), "classic")
    assert token[CLAIM + "deviceIp"] == "198.51.100.20"


async def test_the_claims_parameter_destination_wins_over_the_scope_rule(h):
    # name: the scope says UserInfo; claims also asks for it in the ID token -> both places.
    asked = {"id_token": {"name": {"essential": True}}}
    t = await tokens(h, "swedish", scope=f"openid {INFO_SCOPE}", claims=asked)
    assert (await id_token(h, t, "swedish"))["name"] == PERSON["claim_name"]
    assert (await info(h, t, "swedish"))["name"] == PERSON["claim_name"]
    # the personal number: the scope says both; claims asks for it at UserInfo only.
    asked = {"userinfo": {PNR: {"essential": True}}}
    t = await tokens(h, "swedish", scope=f"openid {NUMBER_SCOPE}", claims=asked)
    assert PNR not in await id_token(h, t, "swedish")
    assert (await info(h, t, "swedish"))[PNR] == PERSON["claim_ssn"]
    # authentication information asked for at UserInfo goes there instead.
    asked = {"userinfo": {CLAIM + "deviceIp": None}}
    t = await tokens(h, "swedish", scope="openid", claims=asked)
    assert CLAIM + "deviceIp" not in await id_token(h, t, "swedish")
    assert (await info(h, t, "swedish"))[CLAIM + "deviceIp"] == "198.51.100.20"


# ----------------------------------------------------------------------------- UserInfo, ID token


async def test_userinfo_is_signed_for_a_client_held_to_the_profile(h):
    for client_id in ("swedish", "sweden-connect"):
        t = await tokens(h, client_id, scope=f"openid {NUMBER_SCOPE}")
        r = await userinfo(h, t["access_token"])
        assert r.status_code == 200 and r.headers["content-type"] == "application/jwt"
        header, claims = await signed_userinfo(h, r.text, client_id, ("RS256",))
        assert claims["iss"] == ISSUER and claims["aud"] == client_id
        assert claims["sub"] == (await id_token(h, t, client_id))["sub"]
        assert claims[PNR] == PERSON["claim_ssn"] and header["kid"]


async def test_userinfo_is_signed_with_the_alg_a_client_registered(h):
    t = await tokens(h, "classic-signed", scope="openid profile")
    r = await userinfo(h, t["access_token"])
    assert r.headers["content-type"] == "application/jwt"
    header, claims = await signed_userinfo(h, r.text, "classic-signed", ("ES256",))
    assert header["alg"] == "ES256" and claims["name"] == PERSON["claim_name"]
    plain = await userinfo(h, (await tokens(h, "classic", scope="openid"))["access_token"])
    assert plain.headers["content-type"].startswith("application/json")


async def test_id_token_lifetime_is_per_client_and_at_most_five_minutes_under_the_profile(h):
    assert h.app.state.runtime.settings.tokens.id_token_ttl_seconds == 600
    lifetimes = {}
    for client_id in ("classic", "classic-short", "swedish", "sweden-connect"):
        claims = await id_token(h, await tokens(h, client_id, scope="openid"), client_id)
        lifetimes[client_id] = claims["exp"] - claims["iat"]
    assert lifetimes == {
        "classic": 600,
        "classic-short": 120,
        "swedish": 300,
        "sweden-connect": 300,
    }


# ----------------------------------------------------------------------------- acr


async def test_acr_names_the_level_of_assurance_an_essential_claims_request_asked_for(h):
    asked = {"id_token": {"acr": {"essential": True, "values": [UNCERTIFIED_LOA3]}}}
    t = await tokens(h, "classic", scope="openid", claims=asked)
    assert (await id_token(h, t, "classic"))["acr"] == UNCERTIFIED_LOA3
    access = jwt.decode(t["access_token"], options={"verify_signature": False})
    assert access["acr"] == UNCERTIFIED_LOA3  # the access token says the same


async def test_acr_of_a_profile_client_that_asked_nothing_is_the_level_of_assurance(h):
    assert (await id_token(h, await tokens(h, "swedish", scope="openid"), "swedish"))[
        "acr"
    ] == UNCERTIFIED_LOA3
    assert (await id_token(h, await tokens(h, "classic", scope="openid"), "classic"))[
        "acr"
    ] == ACR_QR  # as before the profile


async def test_certified_loa3_is_claimed_only_where_configured(h):
    # Swedish OIDC Profile §2.2: an essential acr that cannot be met stops the request with
    # unmet_authentication_requirements; a voluntary one is not claimed.
    asked = {"id_token": {"acr": {"essential": True, "values": [LOA3]}}}
    params, _ = h.auth_params("classic", scope="openid", claims=dumps(asked))
    r = await h.authorize(params)
    assert query(r.headers["location"])["error"] == "unmet_authentication_requirements"
    t = await tokens(h, "classic", scope="openid", acr_values=LOA3)
    assert (await id_token(h, t, "classic"))["acr"] == ACR_QR  # loa3 not met: not claimed
    doc = await discovery(h)
    assert UNCERTIFIED_LOA3 in doc["acr_values_supported"]
    assert LOA3 not in doc["acr_values_supported"]


async def test_certified_loa3_when_the_operator_says_digg_approved_the_provider(
    tmp_path, template_db, client_jwks, client_private_key
):
    settings = make_settings(tmp_path, template_db, client_jwks, acr={"certified_loa3": True})
    async with _start(settings) as h:
        h.private_key = client_private_key
        asked = {"id_token": {"acr": {"essential": True, "values": [LOA3]}}}
        t = await tokens(h, "classic", scope="openid", claims=asked)
        assert (await id_token(h, t, "classic"))["acr"] == LOA3
        plain = await id_token(h, await tokens(h, "swedish", scope="openid"), "swedish")
        assert plain["acr"] == LOA3
        assert {LOA3, UNCERTIFIED_LOA3} <= set((await discovery(h))["acr_values_supported"])


# ----------------------------------------------------------------------------- discovery


async def test_discovery_has_every_member_the_swedish_profile_requires(h):
    """SWE-P §5.2 (reference §1.3), SWE-R §3.1, SC-P §2.1."""
    doc = await discovery(h)
    for member in ("token_endpoint", "userinfo_endpoint", "jwks_uri", "authorization_endpoint"):
        assert doc[member].startswith(ISSUER)
    assert {"openid", NUMBER_SCOPE, INFO_SCOPE, "profile", "ssn"} <= set(doc["scopes_supported"])
    assert "code" in doc["response_types_supported"]
    assert set(doc["acr_values_supported"]) >= {UNCERTIFIED_LOA3, ACR_QR}
    assert {"public", "pairwise"} <= set(doc["subject_types_supported"])
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
    algs = doc["token_endpoint_auth_signing_alg_values_supported"]
    assert {"RS256", "ES256"} <= set(algs) and "none" not in algs
    assert {PNR, CLAIM + "authnProvider", CLAIM + "deviceIp", "txn", *NAMES} <= set(
        doc["claims_supported"]
    )
    assert doc["claims_parameter_supported"] is True
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert {"RS256", "ES256"} <= set(doc["userinfo_signing_alg_values_supported"])
    assert {"sv", "en"} <= set(doc["ui_locales_supported"])
    assert doc["https://id.oidc.se/disco/userMessageSupported"] is True
    assert doc["https://id.oidc.se/disco/userMessageSupportedMimeTypes"] == [
        "text/plain",
        "text/markdown",
    ]
