import random

import httpx
import pytest

from idp.bankid.client import BankIDClient
from idp.bankid.simulator import create_simulator_app
from idp.clock import FixedClock

BASE = "http://simulator.test"


class Sim:
    """One simulator reached over HTTP only: the RP client, and a raw client for /app/*."""

    def __init__(self, clock: FixedClock, **options):
        self.clock = clock
        self.app = create_simulator_app(clock=clock, rng=random.Random(4711), **options)
        transport = httpx.ASGITransport(app=self.app, client=("198.51.100.7", 50000))
        self.client = BankIDClient(f"{BASE}/rp/v6.0", clock=clock, transport=transport)
        self.http = httpx.AsyncClient(transport=transport, base_url=BASE)

    async def rp(self, endpoint: str, body, **kwargs) -> httpx.Response:
        """A raw RP API call, for what the client would refuse to send."""
        kwargs.setdefault("headers", {"Content-Type": "application/json"})
        content = body if isinstance(body, bytes) else httpx.Request(
            "POST", "/", json=body).content
        return await self.http.post(f"/rp/v6.0/{endpoint}", content=content, **kwargs)

    async def app_call(self, path: str, body) -> httpx.Response:
        return await self.http.post(f"/app/{path}", json=body)

    async def aclose(self):
        await self.client.aclose()
        await self.http.aclose()


@pytest.fixture
def clock():
    return FixedClock()


@pytest.fixture
async def sim(clock):
    simulator = Sim(clock)
    yield simulator
    await simulator.aclose()


@pytest.fixture
async def make_sim(clock):
    made = []

    def factory(**options):
        simulator = Sim(clock, **options)
        made.append(simulator)
        return simulator

    yield factory
    for simulator in made:
        await simulator.aclose()
