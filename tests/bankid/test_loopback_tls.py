"""The client against the simulator over real loopback HTTPS with a client certificate.

A throwaway CA, server certificate and client certificate are made here with `cryptography`;
uvicorn runs the simulator in a background thread and requires a client certificate.
"""

import datetime as dt
import ipaddress
import socket
import threading

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from idp.bankid.client import BankIDClient
from idp.bankid.errors import BankIDConnectionError, BankIDTimeout
from idp.bankid.models import Status
from idp.bankid.qr import current_qr_payload
from idp.bankid.simulator import Fault, create_simulator_app, simulator_server_config
from idp.bankid.tls import CertificateError, create_ssl_context
from idp.clock import FixedClock

pytestmark = pytest.mark.anyio

PASSWORD = b"p12-secret"


def _cert(subject, key, issuer_name, issuer_key, *, ca=False, san=None, usage=None):
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(_name("Test RP API Root CA"), ca_key, _name("Test RP API Root CA"), ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _cert(_name("127.0.0.1"), server_key, ca.subject, ca_key,
                   san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                        x509.DNSName("localhost")],
                   usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert(_name("Test RP"), client_key, ca.subject, ca_key,
                   usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    files = {
        "ca": ca.public_bytes(serialization.Encoding.PEM),
        "server.pem": server.public_bytes(serialization.Encoding.PEM),
        "server.key": _pem_key(server_key),
        "client.pem": client.public_bytes(serialization.Encoding.PEM),
        "client.key": client_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSWORD)),
        "client.p12": pkcs12.serialize_key_and_certificates(
            b"rp", client_key, client, [ca], serialization.BestAvailableEncryption(PASSWORD)),
        "client-legacy.p12": pkcs12.serialize_key_and_certificates(
            b"rp", client_key, client, None,
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(2048)
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())
            .build(PASSWORD)),
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
    return d


class Running:
    def __init__(self, app, pki):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = simulator_server_config(
            app, host="127.0.0.1", port=self.port, certfile=pki / "server.pem",
            keyfile=pki / "server.key", client_ca=pki / "ca", log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.sock = sock

    def __enter__(self):
        self.thread.start()
        started = threading.Event()
        for _ in range(500):  # wait up to 5 s for the server to listen
            if self.server.started:
                break
            started.wait(0.01)
        assert self.server.started
        return f"https://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture(scope="module")
def clock():
    return FixedClock()


@pytest.fixture(scope="module")
def server(pki, clock):
    with Running(create_simulator_app(clock=clock, think_time=0), pki) as url:
        yield url


@pytest.mark.parametrize("form", ["pem", "pkcs12", "legacy-pkcs12"])
async def test_auth_and_collect_over_mutual_tls(server, pki, clock, form):
    cert = {
        "pem": {"cert_file": pki / "client.pem", "key_file": pki / "client.key"},
        "pkcs12": {"pkcs12_file": pki / "client.p12"},
        "legacy-pkcs12": {"pkcs12_file": pki / "client-legacy.p12"},
    }[form]
    context = create_ssl_context(ca_file=pki / "ca", password=PASSWORD, **cert)
    async with BankIDClient(f"{server}/rp/v6.0", clock=clock, ssl_context=context) as client, \
            httpx.AsyncClient(base_url=server, verify=context, trust_env=False) as app:
        order = await client.auth(end_user_ip="192.0.2.1")
        first = await client.collect(order.order_ref)
        assert first.status is Status.PENDING
        scanned = await app.post("/app/scan", json={"qr": current_qr_payload(order, clock)})
        assert scanned.status_code == 200, scanned.text
        result = await client.collect(order.order_ref)
        assert result.status is Status.COMPLETE
        assert result.completion_data.device.ip_address == "127.0.0.1"


async def test_a_client_without_a_certificate_is_refused(server, pki, clock):
    context = create_ssl_context(ca_file=pki / "ca")
    async with BankIDClient(f"{server}/rp/v6.0", clock=clock, ssl_context=context) as client:
        with pytest.raises(BankIDConnectionError):
            await client.auth(end_user_ip="192.0.2.1")


async def test_a_server_not_signed_by_the_trusted_root_is_refused(server, pki, clock):
    context = create_ssl_context(environment="test", cert_file=pki / "client.pem",
                                 key_file=pki / "client.key", password=PASSWORD)
    async with BankIDClient(f"{server}/rp/v6.0", clock=clock, ssl_context=context) as client:
        with pytest.raises(BankIDConnectionError):
            await client.auth(end_user_ip="192.0.2.1")


async def test_a_wrong_p12_password_is_a_certificate_error(pki):
    with pytest.raises(CertificateError):
        create_ssl_context(ca_file=pki / "ca", pkcs12_file=pki / "client.p12", password=b"x")


async def test_a_slow_simulator_makes_the_client_time_out(pki, clock):
    app = create_simulator_app(clock=clock, fault_rate=1.0, faults=(Fault.SLOW,),
                               slow_delay=0.5)
    context = create_ssl_context(ca_file=pki / "ca", pkcs12_file=pki / "client.p12",
                                 password=PASSWORD)
    with Running(app, pki) as url:
        async with BankIDClient(f"{url}/rp/v6.0", clock=clock, ssl_context=context,
                                timeout=0.1) as client:
            with pytest.raises(BankIDTimeout):
                await client.auth(end_user_ip="192.0.2.1")


def test_client_certificates_need_tls():
    with pytest.raises(ValueError):
        simulator_server_config(create_simulator_app(), client_ca="ca.pem")
