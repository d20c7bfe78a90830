"""RFC 9449 §11.1 and §8 across instances: two providers sharing a real Redis (and a database)
refuse a proof replayed on the other one, and accept each other's nonces."""

import httpx
import pytest

from idp.app import create_app
from idp.clock import FixedClock
from idp.store.redis import RedisTTLStore
from tests.asgi import app_client
from tests.oidc.dpop_proof import Prover
from tests.oidc.fake_authn import FakeAuthenticator
from tests.oidc.harness import ISSUER
from tests.oidc.test_dpop_flows import NONCE_SECRET, extra_clients
from tests.services import REDIS_URL
from tests.services import redis_prefix as shared_prefix

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

CC = {"grant_type": "client_credentials", "scope": "openid"}


@pytest.fixture
async def redis_prefix():
    async with shared_prefix("dpop") as prefix:
        yield prefix


@pytest.fixture
async def two_instances(oidc_settings, client_jwks, redis_prefix):
    settings = extra_clients(oidc_settings, client_jwks)
    clock = FixedClock()

    def app():
        return create_app(
            settings,
            clock=clock,
            store=RedisTTLStore.from_url(REDIS_URL, prefix=redis_prefix),
            authenticator=lambda handoff: FakeAuthenticator(handoff, clock),
        )

    async with (
        app_client(app(), base_url=ISSUER) as a,
        app_client(app(), base_url=ISSUER) as b,
    ):
        yield a, b, clock


async def cc_token(http, proof, client=("cc", "client-credentials-secret-0123")):
    return await http.post(
        "/token", data=CC, auth=httpx.BasicAuth(*client), headers={"DPoP": proof}
    )


async def test_rfc9449_11_1_a_proof_replayed_on_another_instance_is_refused(two_instances):
    a, b, clock = two_instances
    proof = Prover(clock).proof()
    r = await cc_token(a, proof)
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text
    r = await cc_token(b, proof)
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    assert "used before" in r.json()["error_description"]


async def test_rfc9449_8_a_nonce_from_one_instance_is_accepted_by_the_other(two_instances):
    a, b, clock = two_instances
    prover = Prover(clock)
    client = ("nonce-client", NONCE_SECRET)
    r = await cc_token(a, prover.proof(), client)
    assert r.status_code == 400 and r.json()["error"] == "use_dpop_nonce", r.text
    r = await cc_token(b, prover.proof(nonce=r.headers["DPoP-Nonce"]), client)
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP", r.text
