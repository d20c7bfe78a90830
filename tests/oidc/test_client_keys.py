"""A client's public keys: registered inline or fetched from its jwks_uri, cached, size- and
time-limited, and never fetched from a non-public address unless the operator allows it."""

from __future__ import annotations

import json

import anyio
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from idp.clock import FixedClock
from idp.config import ClientSettings, parse_settings
from idp.oidc.client_keys import (
    AddressNotAllowed,
    ClientKeys,
    JwksTooLarge,
    JwksUnavailable,
    NoClientKeys,
    UnknownKey,
    is_public_address,
    select_keys,
)

pytestmark = pytest.mark.anyio

JWKS_URI = "https://rp.example/jwks"


def rsa_jwk(kid: str, bits: int = 2048, **extra) -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.pop("key_ops", None)
    return {**jwk, "kid": kid, **extra}


def ec_jwk(kid: str, **extra) -> dict:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.pop("key_ops", None)
    return {**jwk, "kid": kid, **extra}


@pytest.fixture(scope="module")
def key_a():
    return rsa_jwk("a", use="sig", alg="RS256")


@pytest.fixture(scope="module")
def key_b():
    return ec_jwk("b", use="sig", alg="ES256")


class Server:
    def __init__(self, handler=None, jwks=None) -> None:
        self.fetches = 0
        self.jwks = jwks
        self.handler = handler

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        if self.handler is not None:
            return await self.handler(request)
        return httpx.Response(200, json=self.jwks)


def resolver_to(*addresses: str):
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def client_keys(clock, server, *, addresses=("93.184.216.34",), **kw) -> ClientKeys:
    return ClientKeys(
        clock, transport=httpx.MockTransport(server), resolver=resolver_to(*addresses), **kw
    )


def uri_client(uri: str = JWKS_URI) -> ClientSettings:
    return ClientSettings(client_id="rp", jwks_uri=uri)


# --------------------------------------------------------------------------- where keys come from


async def test_inline_jwks_are_used_without_any_fetch(key_a):
    server = Server(jwks={"keys": []})
    keys = client_keys(FixedClock(), server)
    client = ClientSettings(client_id="rp", jwks={"keys": [key_a]})
    assert await keys.key_set(client, kid="other") == [key_a]
    assert keys.cached_key_set(client) == [key_a] and server.fetches == 0


async def test_a_client_without_keys_has_none():
    with pytest.raises(NoClientKeys):
        await client_keys(FixedClock(), Server()).key_set(ClientSettings(client_id="rp"))


async def test_jwks_uri_is_cached_for_cache_seconds(key_a):
    clock, server = FixedClock(), Server(jwks={"keys": [key_a]})
    keys = client_keys(clock, server, cache_seconds=300)
    assert keys.cached_key_set(uri_client()) is None  # nothing fetched yet: no I/O here
    await keys.key_set(uri_client())
    clock.advance(299)
    assert await keys.key_set(uri_client()) == [key_a]
    assert keys.cached_key_set(uri_client()) == [key_a] and server.fetches == 1
    clock.advance(1)
    await keys.key_set(uri_client())
    assert server.fetches == 2


async def test_a_changed_jwks_uri_is_fetched_anew(key_a):
    server = Server(jwks={"keys": [key_a]})
    keys = client_keys(FixedClock(), server)
    await keys.key_set(uri_client())
    await keys.key_set(uri_client("https://rp.example/jwks-v2"))
    assert server.fetches == 2


async def test_unknown_kid_refetches_once_per_interval_and_then_finds_the_new_key(key_a, key_b):
    clock, server = FixedClock(), Server(jwks={"keys": [key_a]})
    keys = client_keys(clock, server, refetch_interval_seconds=30)
    await keys.key_set(uri_client())
    server.jwks = {"keys": [key_a, key_b]}
    clock.advance(29)
    assert await keys.key_set(uri_client(), kid="b") == [key_a]  # too soon: no refetch
    clock.advance(1)
    assert await keys.key_set(uri_client(), kid="b") == [key_a, key_b]
    assert server.fetches == 2


async def test_verification_keys_raise_unknown_key_when_none_fits(key_a):
    keys = client_keys(FixedClock(), Server(jwks={"keys": [key_a]}))
    assert [k.kid for k in await keys.verification_keys(uri_client(), alg="RS256")] == ["a"]
    with pytest.raises(UnknownKey):
        await keys.verification_keys(uri_client(), alg="ES256", kid="a")


# --------------------------------------------------------------------------- fetch limits


async def test_redirects_are_not_followed(key_a):
    async def redirect(request):
        return httpx.Response(302, headers={"location": "http://169.254.169.254/latest"})

    server = Server(redirect)
    with pytest.raises(JwksUnavailable):
        await client_keys(FixedClock(), server).key_set(uri_client())
    assert server.fetches == 1


async def test_oversize_jwks_without_content_length_is_cut_off(key_a):
    async def endless(request):
        async def body():
            yield b'{"keys": ['
            for _ in range(100):
                yield b" " * 1024

        return httpx.Response(200, content=body())

    with pytest.raises(JwksTooLarge):
        await client_keys(FixedClock(), Server(endless), max_bytes=64 * 1024).key_set(uri_client())


async def test_oversize_jwks_by_content_length_is_refused_before_reading(key_a):
    async def big(request):
        return httpx.Response(200, content=b" " * (64 * 1024 + 1))

    with pytest.raises(JwksTooLarge):
        await client_keys(FixedClock(), Server(big), max_bytes=64 * 1024).key_set(uri_client())


async def test_a_slow_jwks_uri_times_out():
    async def slow(request):
        await anyio.sleep(5)
        return httpx.Response(200, json={"keys": []})

    with anyio.fail_after(2), pytest.raises(JwksUnavailable):
        await client_keys(FixedClock(), Server(slow), timeout_seconds=0.05).key_set(uri_client())


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500),
        httpx.Response(200, content=b"not json"),
        httpx.Response(200, json=["not", "a", "set"]),
        httpx.Response(200, json={"keys": "nope"}),
    ],
    ids=["status", "not-json", "not-an-object", "keys-not-a-list"],
)
async def test_a_jwks_uri_that_does_not_serve_a_jwk_set_is_unavailable(response):
    async def answer(request):
        return response

    with pytest.raises(JwksUnavailable):
        await client_keys(FixedClock(), Server(answer)).key_set(uri_client())


async def test_a_failed_fetch_is_not_retried_within_the_refetch_interval(key_a):
    clock = FixedClock()
    answers = [httpx.Response(503), httpx.Response(200, json={"keys": [key_a]})]

    async def flaky(request):
        return answers.pop(0)

    server = Server(flaky)
    keys = client_keys(clock, server, refetch_interval_seconds=30)
    for _ in range(3):
        with pytest.raises(JwksUnavailable):
            await keys.key_set(uri_client())
    assert server.fetches == 1
    clock.advance(30)
    assert await keys.key_set(uri_client()) == [key_a] and server.fetches == 2


async def test_a_name_that_does_not_resolve_is_unavailable():
    async def fail(host, port):
        raise OSError("no such host")

    keys = ClientKeys(FixedClock(), transport=httpx.MockTransport(Server()), resolver=fail)
    with pytest.raises(JwksUnavailable):
        await keys.key_set(uri_client())


# --------------------------------------------------------------------------- SSRF


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "224.0.0.1",
        "0.0.0.0",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1%eth0",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
    ],
)
def test_non_public_addresses_are_not_public(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_public(address):
    assert is_public_address(address)


async def test_a_name_resolving_to_any_private_address_is_refused(key_a):
    server = Server(jwks={"keys": [key_a]})
    keys = client_keys(FixedClock(), server, addresses=("93.184.216.34", "10.0.0.5"))
    with pytest.raises(AddressNotAllowed):
        await keys.key_set(uri_client())
    assert server.fetches == 0


@pytest.mark.parametrize("uri", ["http://127.0.0.1:8080/jwks", "http://[::1]:8080/jwks"])
async def test_a_literal_loopback_jwks_uri_is_refused_unless_allowed(key_a, uri):
    server = Server(jwks={"keys": [key_a]})
    with pytest.raises(AddressNotAllowed):
        await client_keys(FixedClock(), server).key_set(uri_client(uri))
    allowed = client_keys(FixedClock(), server, allow_private_addresses=True)
    assert await allowed.key_set(uri_client(uri)) == [key_a] and server.fetches == 1


async def test_the_request_goes_to_the_checked_address_with_the_name_for_host_and_tls(key_a):
    seen = []

    async def record(request):
        seen.append(request)
        return httpx.Response(200, json={"keys": [key_a]})

    keys = client_keys(FixedClock(), Server(record), addresses=("2606:4700:4700::1111",))
    await keys.key_set(uri_client("https://rp.example:8443/jwks"))
    (request,) = seen
    assert request.url.host == "2606:4700:4700::1111" and request.url.port == 8443
    assert request.headers["host"] == "rp.example:8443"
    assert request.extensions["sni_hostname"] == "rp.example"


async def test_settings_configure_the_size_limit_and_the_private_address_switch(key_a):
    def settings(**client_jwks):
        raw = {"issuer": "https://op.example", "client_jwks": client_jwks}
        return parse_settings(raw, source="test.yaml", environ={})

    server = Server(jwks={"keys": [key_a]})
    loopback = uri_client("http://127.0.0.1:8080/jwks")
    transport = httpx.MockTransport(server)
    default = ClientKeys.from_settings(settings(), FixedClock(), transport=transport)
    with pytest.raises(AddressNotAllowed):
        await default.key_set(loopback)
    allowing = ClientKeys.from_settings(
        settings(allow_private_addresses=True), FixedClock(), transport=transport
    )
    assert await allowing.key_set(loopback) == [key_a]
    small = ClientKeys.from_settings(
        settings(allow_private_addresses=True, max_bytes=1024), FixedClock(), transport=transport
    )
    server.jwks = {"keys": [key_a] * 4}  # about 1.7 KiB as JSON
    with pytest.raises(JwksTooLarge):
        await small.key_set(loopback)


# --------------------------------------------------------------------------- choosing a key


def test_select_keys_picks_by_kid_type_curve_use_and_alg():
    good_rsa = rsa_jwk("r1", use="sig", alg="RS256")
    bare_rsa = rsa_jwk("r2")  # no use, no alg: fits any RSA algorithm
    enc = rsa_jwk("r3", use="enc", alg="RSA-OAEP")
    ps_only = rsa_jwk("r4", alg="PS256")
    small = rsa_jwk("r5", bits=1024)
    verify_only_not = rsa_jwk("r6", key_ops=["encrypt"])
    private = {**rsa_jwk("r7"), "d": "AQAB"}
    p256 = ec_jwk("e1")
    jwks = [good_rsa, bare_rsa, enc, ps_only, small, verify_only_not, private, p256]
    assert [k.kid for k in select_keys(jwks, alg="RS256")] == ["r1", "r2", "r7"]
    assert [k.kid for k in select_keys(jwks, alg="PS256")] == ["r2", "r4", "r7"]
    assert [k.kid for k in select_keys(jwks, alg="ES256")] == ["e1"]
    assert [k.kid for k in select_keys(jwks, alg="RS256", kid="r2")] == ["r2"]
    assert select_keys(jwks, alg="HS256") == [] and select_keys(jwks, alg="none") == []
    # Only public members are imported, even from a key that carried private ones.
    (imported,) = select_keys(jwks, alg="RS256", kid="r7")
    assert not imported.is_private


async def test_published_private_keys_are_dropped_from_a_fetched_set(key_a):
    leaked = {**rsa_jwk("leaked"), "d": "AQAB"}
    keys = client_keys(FixedClock(), Server(jwks={"keys": [key_a, leaked]}))
    assert await keys.key_set(uri_client()) == [key_a]
