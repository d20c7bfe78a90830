"""Running the simulator standalone under uvicorn, optionally over mutual TLS.

``idp simulator --port N`` calls `serve_simulator`; tests build the same server with
`simulator_server_config` and run it in a thread.
"""

from __future__ import annotations

import gc
import ssl
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from idp.bankid.simulator.app import create_simulator_app


def simulator_server_config(
    app: ASGIApp | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8444,
    certfile: str | Path | None = None,
    keyfile: str | Path | None = None,
    client_ca: str | Path | None = None,
    log_level: str = "info",
) -> uvicorn.Config:
    """A uvicorn config; with ``client_ca`` every client must present a certificate it signed."""
    if client_ca is not None and certfile is None:
        raise ValueError("client certificates need TLS: give certfile (and keyfile) too")
    tls: dict[str, Any] = {}
    if certfile is not None:
        tls = {
            "ssl_certfile": str(certfile),
            "ssl_keyfile": None if keyfile is None else str(keyfile),
        }
        if client_ca is not None:
            tls.update(ssl_ca_certs=str(client_ca), ssl_cert_reqs=ssl.CERT_REQUIRED)
    return uvicorn.Config(
        app or create_simulator_app(),
        host=host,
        port=port,
        log_level=log_level,
        lifespan="off",
        proxy_headers=False,
        server_header=False,
        **tls,
    )


def serve_simulator(
    host: str = "127.0.0.1",
    port: int = 8444,
    *,
    certfile: str | Path | None = None,
    keyfile: str | Path | None = None,
    client_ca: str | Path | None = None,
    app: ASGIApp | None = None,
    log_level: str = "info",
) -> None:
    """Serve the simulator until interrupted (blocking). Plain HTTP without ``certfile``."""
    config = simulator_server_config(
        app,
        host=host,
        port=port,
        certfile=certfile,
        keyfile=keyfile,
        client_ca=client_ca,
        log_level=log_level,
    )
    gc.freeze()  # what start-up built stays: out of the collector's way (idp.app does the same)
    uvicorn.Server(config).run()
