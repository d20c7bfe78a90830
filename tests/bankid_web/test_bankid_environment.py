"""Which BankID the provider talks to: the mounted simulator in-process, a standalone simulator,
or BankID's test and production services over mutual TLS with BankID's own root CA."""

import ssl

import pytest

from idp.bankid.client import AiohttpLink, HttpxLink
from idp.bankid.environment import IN_PROCESS_SIMULATOR, make_client
from idp.bankid.simulator import create_simulator_app
from idp.bankid.tls import PRODUCTION_BASE_URL, TEST_BASE_URL, TEST_RP_PEM
from idp.clock import FixedClock
from idp.config import BankIDSettings

pytestmark = pytest.mark.anyio


def base_and_verify(client):
    link = client.link
    assert isinstance(link, AiohttpLink)  # the network, not an injected httpx transport
    return link.base_url, link.ssl_context


async def test_the_simulator_environment_uses_the_mounted_simulator_over_asgi():
    clock = FixedClock()
    sim = create_simulator_app(clock=clock)
    client = make_client(BankIDSettings(), clock, simulator=sim)
    assert isinstance(client.link, HttpxLink) and client.link.base_url == IN_PROCESS_SIMULATOR
    order = await client.auth(end_user_ip="192.0.2.1")
    assert sim.state.simulator.find(order.order_ref) is not None  # the same simulator instance
    await client.aclose()


async def test_the_test_environment_defaults_to_bankids_url_and_public_test_certificate():
    client = make_client(BankIDSettings(environment="test"), FixedClock())
    base, context = base_and_verify(client)
    assert base == TEST_BASE_URL + "/"
    assert isinstance(context, ssl.SSLContext) and context.verify_mode is ssl.CERT_REQUIRED
    roots = {c["subject"] for c in context.get_ca_certs()}
    assert any("Test BankID SSL Root CA v1 Test" in str(s) for s in roots)
    await client.aclose()


async def test_production_needs_its_own_certificate_and_uses_the_production_root():
    settings = BankIDSettings(
        environment="production", certificate=TEST_RP_PEM, certificate_password="qwerty123"
    )
    client = make_client(settings, FixedClock())
    base, context = base_and_verify(client)
    assert base == PRODUCTION_BASE_URL + "/"
    roots = {str(c["subject"]) for c in context.get_ca_certs()}
    assert any("BankID SSL Root CA v1" in s and "Test" not in s for s in roots)
    await client.aclose()


async def test_a_standalone_simulator_over_plain_http():
    client = make_client(BankIDSettings(base_url="http://127.0.0.1:8444/rp/v6.0"), FixedClock())
    assert isinstance(client.link, AiohttpLink) and client.link.ssl_context is None
    assert client.link.base_url == "http://127.0.0.1:8444/rp/v6.0/"
    await client.aclose()
