"""Which BankID the provider talks to, from `bankid:` settings: the one place that builds the
production client (create_app calls it once).

* ``simulator`` without ``base_url``: the simulator instance mounted at /bankid-simulator,
  reached over HTTP semantics through ``httpx.ASGITransport``, so the pages, the simulator's
  user app and the provider share one set of orders.
* ``simulator`` with ``base_url``: a standalone simulator (``idp simulator``) over the network
  (the client's aiohttp link), optionally over mutual TLS with ``ca_certificate`` and a client
  certificate.
* ``test`` / ``production``: BankID's URL (or ``base_url``) over mutual TLS with BankID's own
  root CA (reference 8). The test environment falls back to BankID's public test certificate.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import httpx
from starlette.types import ASGIApp

from idp.bankid.client import BankIDClient
from idp.bankid.tls import (
    PRODUCTION_BASE_URL,
    TEST_BASE_URL,
    TEST_RP_PASSWORD,
    TEST_RP_PKCS12,
    Environment,
    create_ssl_context,
)
from idp.clock import Clock
from idp.config import BankIDSettings

#: A name that never resolves: requests to it go to the in-process simulator only.
IN_PROCESS_SIMULATOR = "http://bankid-simulator.invalid/rp/v6.0/"


def make_client(
    settings: BankIDSettings, clock: Clock, *, simulator: ASGIApp | None = None
) -> BankIDClient:
    """The BankID client for these settings; `simulator` is the mounted simulator ASGI app."""
    timeout = settings.timeout_seconds
    if settings.environment == "simulator" and settings.base_url is None:
        if simulator is None:
            raise ValueError("the in-process simulator app is needed for environment simulator")
        transport = httpx.ASGITransport(app=simulator)
        return BankIDClient(IN_PROCESS_SIMULATOR, clock=clock, transport=transport, timeout=timeout)
    if settings.environment == "simulator":
        assert settings.base_url is not None
        context = None
        if settings.base_url.startswith("https://"):
            context = create_ssl_context(
                ca_file=settings.ca_certificate,
                **_client_certificate(settings),
            )
        return BankIDClient(settings.base_url, clock=clock, ssl_context=context, timeout=timeout)
    env = Environment(settings.environment)
    default = PRODUCTION_BASE_URL if env is Environment.PRODUCTION else TEST_BASE_URL
    certificate = _client_certificate(settings)
    if not certificate and env is Environment.TEST:
        certificate = {"pkcs12_file": TEST_RP_PKCS12, "password": TEST_RP_PASSWORD}
    context = create_ssl_context(environment=env, ca_file=settings.ca_certificate, **certificate)
    return BankIDClient(
        settings.base_url or default, clock=clock, ssl_context=context, timeout=timeout
    )


class ClientCertificate(TypedDict, total=False):
    """The RP certificate, as `create_ssl_context` takes it."""

    cert_file: Path
    key_file: Path | None
    pkcs12_file: Path
    password: str | None


def _client_certificate(settings: BankIDSettings) -> ClientCertificate:
    if settings.certificate is None:
        return {}
    password = settings.certificate_password.get() if settings.certificate_password else None
    if settings.certificate_key is not None or settings.certificate.suffix.lower() == ".pem":
        return {
            "cert_file": settings.certificate,
            "key_file": settings.certificate_key,
            "password": password,
        }
    return {"pkcs12_file": settings.certificate, "password": password}
