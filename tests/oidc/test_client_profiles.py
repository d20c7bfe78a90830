"""A client's declared profile (`profile: swedish-oidc | sweden-connect`): `idp check-config`
refuses an entry that contradicts it, naming the path, and ClientSettings says what it means."""

import pytest
import yaml

from idp.cli import main
from idp.config import ConfigError, parse_settings

JWKS = {"keys": [{"kty": "RSA", "n": "sXch", "e": "AQAB", "kid": "k1"}]}


def swedish(**kw):
    entry = {
        "client_id": "se",
        "profile": "swedish-oidc",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": JWKS,
        "redirect_uris": ["https://rp.example/cb"],
        "scope": "openid https://id.oidc.se/scope/naturalPersonNumber",
    }
    entry.update(kw)
    return entry


def sweden_connect(**kw):
    entry = swedish(
        client_id="sc",
        profile="sweden-connect",
        contacts=["ops@rp.example"],
        client_uri="https://rp.example/",
        logo_uri="https://rp.example/logo.svg",
        **{"client_name#sv": "Tjänsten", "client_name#en": "The service"},
    )
    entry.update(kw)
    return entry


def problems(*clients, **top):
    raw = {"issuer": "https://id.example.com", "clients": list(clients), **top}
    with pytest.raises(ConfigError) as info:
        parse_settings(raw, source="idp.yaml", environ={})
    return {i.path: i.message for i in info.value.issues}


def settings(*clients, **top):
    raw = {"issuer": "https://id.example.com", "clients": list(clients), **top}
    return parse_settings(raw, source="idp.yaml", environ={})


def test_entries_that_keep_their_profile_are_accepted():
    s = settings(swedish(), sweden_connect())
    se, sc = s.clients
    assert se.held_to_profile and not se.is_sweden_connect
    assert sc.held_to_profile and sc.is_sweden_connect
    assert sc.client_name_sv == "Tjänsten" and sc.client_name_en == "The service"


def test_swedish_oidc_requires_private_key_jwt_unless_the_operator_allows_another_method():
    found = problems(
        swedish(token_endpoint_auth_method="client_secret_basic", client_secret="s" * 20, jwks=None)
    )
    assert "private_key_jwt" in found["clients[0].token_endpoint_auth_method"]
    allowed = swedish(
        token_endpoint_auth_method="client_secret_basic",
        client_secret="s" * 20,
        jwks=None,
        allow_weaker_client_auth=True,
    )
    assert settings(allowed).clients[0].token_endpoint_auth_method == "client_secret_basic"


def test_sweden_connect_allows_only_private_key_jwt():
    found = problems(
        sweden_connect(
            token_endpoint_auth_method="client_secret_basic",
            client_secret="s" * 20,
            jwks=None,
            allow_weaker_client_auth=True,
        )
    )
    assert "SC-P §2.3.1" in found["clients[0].token_endpoint_auth_method"]
    assert "not allowed for sweden-connect" in found["clients[0].allow_weaker_client_auth"]


def test_a_profile_requires_pkce_and_the_code_flow():
    found = problems(swedish(require_pkce=False))
    assert "PKCE" in found["clients[0].require_pkce"]
    found = problems(swedish(grant_types=["client_credentials"], redirect_uris=[]))
    assert "authorization code" in found["clients[0].grant_types"]


def test_an_id_token_lifetime_over_five_minutes_contradicts_a_profile():
    found = problems(swedish(id_token_lifetime_seconds=301))
    assert found == {
        "clients[0].id_token_lifetime_seconds": "at most 300 under swedish-oidc (SWE-P §3.2.1.2)"
    }
    assert settings(swedish(id_token_lifetime_seconds=300)).clients[0].id_token_lifetime(600) == 300
    # Without a setting of its own, the server's default is capped for it.
    assert settings(swedish()).clients[0].id_token_lifetime(600) == 300
    plain = settings({**swedish(), "profile": None})
    assert plain.clients[0].id_token_lifetime(600) == 600


def test_sweden_connect_needs_names_in_swedish_and_english_and_https_uris():
    entry = sweden_connect(logo_uri="http://127.0.0.1/logo.svg", contacts=[])
    del entry["client_name#en"], entry["client_uri"]
    found = problems(entry)
    assert set(found) == {
        "clients[0].client_name#en",
        "clients[0].client_uri",
        "clients[0].logo_uri",
        "clients[0].contacts",
    }
    assert "https" in found["clients[0].logo_uri"]


def test_sweden_connect_sessions_last_at_most_an_hour():
    found = problems(sweden_connect(), session={"lifetime_seconds": 7200})
    assert "session.lifetime_seconds of at most 3600" in found["clients[0].profile"]
    assert settings(sweden_connect(), session={"lifetime_seconds": 3600})


def test_userinfo_is_signed_for_profile_clients_and_on_request():
    se, sc, plain, asked = settings(
        swedish(id_token_signed_response_alg="ES256"),
        sweden_connect(),
        {**swedish(client_id="plain"), "profile": None},
        {**swedish(client_id="asked"), "profile": None, "userinfo_signed_response_alg": "RS256"},
    ).clients
    assert (se.userinfo_alg, sc.userinfo_alg, plain.userinfo_alg, asked.userinfo_alg) == (
        "ES256",
        "RS256",
        None,
        "RS256",
    )
    assert se.signs_userinfo and not plain.signs_userinfo
    found = problems(swedish(userinfo_signed_response_alg="none"))
    assert "clients[0].userinfo_signed_response_alg" in found


def test_an_unknown_profile_is_refused():
    found = problems(swedish(profile="eidas"))
    assert "swedish-oidc" in found["clients[0].profile"]


def test_check_config_names_the_path_of_each_contradiction(tmp_path, capsys):
    path = tmp_path / "idp.yaml"
    entry = sweden_connect(require_pkce=False, id_token_lifetime_seconds=600)
    del entry["client_name#sv"]
    path.write_text(yaml.safe_dump({"issuer": "https://id.example.com", "clients": [entry]}))
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    for key in ("client_name#sv", "require_pkce", "id_token_lifetime_seconds"):
        assert f"idp.yaml: clients[0].{key}: " in err, err
