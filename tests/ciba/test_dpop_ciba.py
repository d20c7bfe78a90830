"""DPoP at the CIBA token endpoint (RFC 9449 §5): a client polling with a proof gets a
DPoP-bound access token (`token_type: DPoP`, `cnf.jkt` of the proof's key, §6.1); a client whose
entry sets `dpop_bound_access_tokens` is refused a poll without one (§5.2); and the bound token
reads UserInfo only with a proof of that key (§7)."""

import httpx
import pytest

from idp.clock import FixedClock
from idp.config import CIBA_GRANT, parse_settings
from tests.asgi import app_client
from tests.ciba.conftest import build_app, ciba_clients, make_settings
from tests.ciba.fake_backchannel import FakeBackchannel
from tests.ciba.harness import ISSUER, CibaHarness, basic, error_of
from tests.oidc.dpop_proof import Prover

pytestmark = pytest.mark.anyio

BOUND = "cs-bound"
BOUND_SECRET = "cs-bound-secret-0123456789abcdef"


@pytest.fixture
async def core(sqlite_url, ciba_client_jwks):
    base = make_settings(sqlite_url, ciba_client_jwks)  # migrates the database
    bound = {
        "client_id": BOUND,
        "client_secret": BOUND_SECRET,
        "grant_types": [CIBA_GRANT],
        "backchannel_token_delivery_mode": "poll",
        "scope": "openid profile",
        "dpop_bound_access_tokens": True,
    }
    raw = {
        "issuer": ISSUER,
        "database_url": base.database_url,
        "clients": [*ciba_clients(ciba_client_jwks), bound],
    }
    settings = parse_settings(raw, source="test", environ={})
    clock = FixedClock()
    fake = FakeBackchannel(clock)
    app = build_app(settings, clock, backchannel=fake)
    async with app_client(app, base_url=ISSUER) as http:
        h = CibaHarness(http, clock, app)
        h.fake = fake
        yield h


def auth_of(client_id):
    return httpx.BasicAuth(BOUND, BOUND_SECRET) if client_id == BOUND else basic(client_id)


async def approved(h, client_id):
    """A request of `client_id` the person approved, ready to be fetched."""
    r = await h.backchannel(client_id, auth=auth_of(client_id), login_hint="person-1")
    assert r.status_code == 200, r.text
    ack = r.json()
    h.fake.approve(h.fake.only())
    assert await h.settle(ack["auth_req_id"]) == "approved"
    h.clock.advance(ack["interval"])
    return ack["auth_req_id"]


async def poll(h, auth_req_id, client_id, proof=None):
    headers = {} if proof is None else {"DPoP": proof}
    data = {"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id}
    return await h.http.post("/token", data=data, headers=headers, auth=auth_of(client_id))


async def userinfo(h, at, scheme="DPoP", proof=None):
    headers = {"Authorization": f"{scheme} {at}"}
    if proof is not None:
        headers["DPoP"] = proof
    return await h.http.get("/userinfo", headers=headers)


async def test_rfc9449_5_a_ciba_poll_with_a_proof_gets_a_dpop_bound_token(core):
    prover = Prover(core.clock)
    rid = await approved(core, "cs-poll")
    r = await poll(core, rid, "cs-poll", prover.proof())
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert tokens["token_type"] == "DPoP", tokens
    assert r.headers["dpop-nonce"]  # §8.2
    claims = await core.verify(tokens["access_token"])
    assert claims["cnf"] == {"jkt": prover.jkt}, claims  # §6.1


async def test_rfc9449_5_2_a_bound_ciba_client_polling_without_a_proof_is_refused(core):
    rid = await approved(core, BOUND)
    error_of(await poll(core, rid, BOUND), 400, "invalid_dpop_proof")
    # The refusal did not use the request up: a poll with a proof gets the tokens.
    core.clock.advance(10)
    prover = Prover(core.clock)
    r = await poll(core, rid, BOUND, prover.proof())
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text


async def test_rfc9449_7_a_ciba_token_reads_userinfo_only_with_a_proof_of_its_key(core):
    prover, thief = Prover(core.clock), Prover(core.clock)
    rid = await approved(core, BOUND)
    r = await poll(core, rid, BOUND, prover.proof())
    assert r.status_code == 200, r.text
    at = r.json()["access_token"]
    for refused in (
        await userinfo(core, at, "Bearer"),  # §7.2
        await userinfo(core, at),  # no proof
        await userinfo(core, at, proof=thief.for_resource(at)),  # another key
    ):
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"].startswith("DPoP "), refused.headers
    r = await userinfo(core, at, proof=prover.for_resource(at))
    assert r.status_code == 200 and r.json()["sub"], r.text
