import collections
import json

import httpx
import pytest

from idp.app import create_app
from idp.bankid.authenticator import BankIDAuthenticator
from idp.bankid.client import BankIDClient
from idp.bankid.orders import LoginOrders
from idp.clock import FixedClock
from idp.config import parse_settings
from idp.store.db import make_engine
from idp.store.memory import MemoryTTLStore
from idp.store.migrate import upgrade
from idp.web.client_address import ClientAddress
from tests.bankid_web.support import ISSUER, client_settings


@pytest.fixture
def clock():
    return FixedClock()


def make_settings(sqlite_url, **extra):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    engine.dispose()
    raw = {
        "issuer": ISSUER,
        "database_url": sqlite_url,
        "bankid": {"simulator": {"think_time_seconds": 3}},
        "clients": client_settings(),
    }
    raw.update(extra)
    return parse_settings(raw, source="test", environ={})


@pytest.fixture
def settings(sqlite_url):
    return make_settings(sqlite_url)


class SimulatorLink(httpx.AsyncBaseTransport):
    """The BankID client's way to the simulator mounted in the app under test: counts calls per
    RP API endpoint and can answer the next calls of an endpoint with a BankID error."""

    def __init__(self):
        self.app = None
        self.calls = collections.Counter()
        self.faults: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
        self.bodies: list[dict] = []  # the /auth request bodies, as sent

    def fail(self, endpoint, times, status=503, code="maintenance"):
        self.faults[endpoint] += [(status, code)] * times

    async def handle_async_request(self, request):
        endpoint = request.url.path.split("/rp/v6.0/", 1)[1]
        self.calls[endpoint] += 1
        if endpoint == "auth":
            self.bodies.append(json.loads(request.content))
        if self.faults[endpoint]:
            status, code = self.faults[endpoint].pop(0)
            return httpx.Response(status, json={"errorCode": code, "details": "injected"})
        return await httpx.ASGITransport(app=self.app).handle_async_request(request)


def build_app(settings, clock, store=None, *, link=None, trusted_proxies=(), login=None):
    """The provider with the BankID authenticator wired as in idp.app, except that its BankID
    client reaches the mounted simulator through a `SimulatorLink` (counting, faults).
    `login(LoginRequest) -> LoginRequest` changes what the core hands the authenticator."""
    store = MemoryTTLStore(clock) if store is None else store
    link = link or SimulatorLink()
    client = BankIDClient("http://sim.test/bankid-simulator/rp/v6.0", clock=clock, transport=link)
    ttl = settings.tokens.login_transaction_ttl_seconds

    async def no_sleep(seconds):
        return None

    orders = LoginOrders(
        client, store, clock, ttl=ttl, deny_risk=settings.bankid.deny_risk, sleep=no_sleep
    )

    def factory(handoff):
        return BankIDAuthenticator(
            handoff if login is None else ChangedLogin(handoff, login),
            orders=orders,
            store=store,
            clock=clock,
            templates=handoff.templates,
            cookies=handoff.cookies,
            issuer=settings.issuer,
            client_address=ClientAddress(trusted_proxies),
            ttl=ttl,
        )

    app = create_app(settings, clock=clock, store=store, authenticator=factory)
    link.app = app
    app.state.link = link
    return app


class ChangedLogin:
    """A hand-off whose login requests are changed on the way to the authenticator (to hand it
    what the authorization request's checks would, independently of them)."""

    def __init__(self, handoff, change):
        self.handoff, self.change = handoff, change
        self.templates, self.cookies = handoff.templates, handoff.cookies

    async def load(self, request, transaction_id):
        found = await self.handoff.load(request, transaction_id)
        return None if found is None else self.change(found)

    async def finish(self, request, transaction_id, result):
        return await self.handoff.finish(request, transaction_id, result)

    async def rebind(self, request, transaction_id):
        return await self.handoff.rebind(request, transaction_id)


@pytest.fixture
async def app(settings, clock):
    application = build_app(settings, clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def wired_app(settings, clock):
    """Exactly as create_app wires it (its own in-process simulator client)."""
    application = create_app(settings, clock=clock, store=MemoryTTLStore(clock))
    async with application.router.lifespan_context(application):
        yield application
