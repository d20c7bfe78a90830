"""`create_simulator_app`: the BankID RP API v6.0 simulator as one Starlette app.

Routes (relative to wherever it is mounted, e.g. ``/bankid-simulator``):

* ``POST /rp/v6.0/{auth,sign,payment,phone/auth,phone/sign,collect,cancel}``: the RP API;
* ``POST /app/{scan,autostart,phone}``: the scriptable user app;
* ``GET /`` and ``POST /orders/{order_ref}``: the human page;
* ``GET /ca.pem``: the CA certificate its signatures chain to (derived from the settings'
  ``evidence_seed``, so the same after a restart): the trust anchor for
  ``idp evidence verify --environment simulator`` or ``--ca``;
* ``GET /stats``: for load tests, the orders held and RP API calls so far: calls by endpoint,
  and by orderRef the ``collect`` calls and the shortest time between two of them (nothing the
  RP does not already know, no personal data).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from idp.bankid.simulator.evidence import ca_pem
from idp.bankid.simulator.orders import OrderBook
from idp.bankid.simulator.page import HumanPage
from idp.bankid.simulator.rp_api import RPApi
from idp.bankid.simulator.settings import SimulatorSettings
from idp.bankid.simulator.user_app import UserApp
from idp.clock import Clock, SystemClock

# The RP API answers every method itself, so a GET gets BankID's 405 JSON body.
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_simulator_app(
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    settings: SimulatorSettings | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    templates_dir: Path | None = None,
    **overrides: Any,
) -> Starlette:
    """A new simulator with its own in-memory orders.

    ``clock`` defaults to the system clock, ``rng`` to ``random.SystemRandom()`` (it makes order
    refs, tokens, secrets and fault decisions), ``sleep`` to ``anyio.sleep`` (slow faults).
    ``overrides`` replace single fields of ``settings``, e.g. ``think_time=0``.
    """
    settings = dataclasses.replace(settings or SimulatorSettings(), **overrides)
    rng = rng or random.SystemRandom()
    book = OrderBook(settings, clock or SystemClock(), rng)
    rp_api = RPApi(book, settings, rng, sleep or anyio.sleep)
    user_app = UserApp(book)
    page = HumanPage(book, templates_dir)

    async def stats(request: Request) -> Response:
        body = {"calls": dict(rp_api.calls), **book.stats()}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    ca = ca_pem(settings)

    async def ca_certificate(request: Request) -> Response:
        return Response(ca, media_type="application/x-pem-file")

    app = Starlette(
        routes=[
            Route("/rp/v6.0/{endpoint:path}", rp_api.handle, methods=_ALL_METHODS),
            Route("/app/scan", user_app.scan, methods=["POST"]),
            Route("/app/autostart", user_app.autostart, methods=["POST"]),
            Route("/app/phone", user_app.phone, methods=["POST"]),
            Route("/", page.index, methods=["GET"], name="simulator_home"),
            Route("/orders/{order_ref}", page.act, methods=["POST"], name="simulator_act"),
            Route("/ca.pem", ca_certificate, methods=["GET"]),
            Route("/stats", stats, methods=["GET"]),
        ]
    )
    app.state.simulator = book  # for the test suite's eyes only; the provider uses HTTP
    return app
