"""A grant keeps the claims released to its client (userinfo and refreshed ID tokens need them),
a personal number among them with the ssn scope. In the database they are sealed with a key
derived from a server secret: a copy of the grants table alone reveals nothing, the provider
still serves them, grants written before sealing still work, and a grant sealed under another
secret is refused cleanly."""

import pytest
from sqlalchemy import select, update

from idp.store.models import Grant
from idp.store.secrets import sealer
from tests.oidc.harness import PERSON, refresh, userinfo

pytestmark = pytest.mark.anyio


def grant_rows(h):
    with h.runtime.sessions() as s:
        return list(s.scalars(select(Grant)))


def set_auth(h, grant_id, value):
    with h.runtime.sessions.begin() as s:
        s.execute(update(Grant).where(Grant.id == grant_id).values(auth=value))


async def test_released_claims_are_sealed_at_rest_and_still_served(oidc):
    tokens, _ = await oidc.tokens(params={"scope": "openid profile ssn"})
    (row,) = grant_rows(oidc)
    assert not row.auth.startswith("{")  # not JSON (a three-letter key could occur by chance)
    for value in (*PERSON.values(), "claims"):
        assert value not in row.auth
    # Sealed with the provider's grant secret, under the grant purpose.
    opened = sealer(oidc.runtime.secrets["grants"], "grant-auth").decrypt(row.auth.encode())
    assert PERSON["claim_ssn"].encode() in opened

    info = await userinfo(oidc, tokens["access_token"])
    assert info.status_code == 200, info.text
    assert info.json()["ssn"] == PERSON["claim_ssn"]
    assert info.json()["name"] == PERSON["claim_name"]
    renewed = await refresh(oidc, tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text


async def test_a_grant_written_before_sealing_still_works(oidc):
    tokens, _ = await oidc.tokens(params={"scope": "openid profile ssn"})
    (row,) = grant_rows(oidc)
    plain = oidc.app.state.provider.tokens.grant(row.id).auth.to_json()
    set_auth(oidc, row.id, plain)

    info = await userinfo(oidc, tokens["access_token"])
    assert info.status_code == 200, info.text
    assert info.json()["ssn"] == PERSON["claim_ssn"]


async def test_a_grant_sealed_under_another_secret_is_refused_cleanly(oidc, caplog):
    tokens, _ = await oidc.tokens(params={"scope": "openid profile ssn"})
    (row,) = grant_rows(oidc)
    plain = oidc.app.state.provider.tokens.grant(row.id).auth.to_json()
    foreign = sealer(b"another secret, as after secret_key changed", "grant-auth")
    set_auth(oidc, row.id, foreign.encrypt(plain.encode()).decode())

    info = await userinfo(oidc, tokens["access_token"])
    assert info.status_code == 401 and "invalid_token" in info.headers["www-authenticate"]
    renewed = await refresh(oidc, tokens["refresh_token"])
    assert renewed.status_code == 400 and renewed.json()["error"] == "invalid_grant"
    assert "could not be unsealed" in caplog.text
    assert PERSON["claim_ssn"] not in caplog.text
