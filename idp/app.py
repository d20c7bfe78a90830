"""create_app(settings): the one place that wires the protocol core and BankID together.

It also wires what runs alongside: Prometheus metrics (the BankID observers, the CIBA outcome
observers, the request middleware) and request ids, the background reread of signing keys,
the BankID certificate's expiry, and the reload of clients on SIGHUP (`ClientReload`).

Components get the frozen `Settings` for what stays until a restart, and the one `Registry`
for what a reload replaces (clients, scopes, claims-parameter scopes).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from idp.authn import BackchannelAuthenticator, BrowserAuthenticator, LoginHandoff
from idp.bankid.client import BankIDClient
from idp.ciba import CIBA, Ciba, install_ciba
from idp.ciba import PATH as CIBA_PATH
from idp.clock import Clock, SystemClock
from idp.config import (
    CIBA_GRANT,
    EMBEDDED_SOURCE,
    BankIDSettings,
    ConfigError,
    Registry,
    Settings,
    load_settings,
    unknown_grant_types,
)
from idp.keys import SigningKeys, key_encryption_secret
from idp.observability import (
    CertificateReport,
    Metrics,
    RequestObserver,
    check_bankid_certificate,
)
from idp.oidc import BackchannelLogout, Resolver
from idp.oidc import discovery as discovery_mod
from idp.oidc.grants import OAUTH_GRANTS, GrantRegistry
from idp.oidc.provider import AuthenticatorFactory, OpenIDProvider
from idp.store import DueQueue
from idp.store.db import (
    DRIVER_UNAVAILABLE,
    DatabaseUnavailable,
    make_engine,
    make_sessionmaker,
    ping,
    run_db,
)
from idp.store.memory import MemoryTTLStore
from idp.store.sealed import Seal
from idp.store.secrets import server_secret
from idp.store.ttl import StoreBusy, StoreUnavailable, TTLStore
from idp.web import errors, overload
from idp.web.client_address import ClientAddress
from idp.web.cookies import Cookies
from idp.web.headers import SecurityPolicy
from idp.web.ratelimit import RateLimiter
from idp.web.static import Branding, PackageStaticFiles
from idp.web.templating import Templates

log = logging.getLogger("idp")

#: Endpoints whose callers are programs: an unavailable Redis or database is answered there
#: with `temporarily_unavailable` JSON, elsewhere with the friendly page.
BACKCHANNEL_PATHS = frozenset(
    {
        "/token",
        "/introspect",
        "/revoke",
        "/userinfo",
        CIBA_PATH,
        "/jwks",
        "/.well-known/openid-configuration",
        "/bankid/status",
    }
)
#: The busiest routes, tried first (Starlette tries routes in order): every waiting BankID
#: page polls the status, and every token request is a POST to /token. Exact paths that no
#: other route matches, so the order changes no answer.
HOT_PATHS = ("/bankid/status", "/token")
CERTIFICATE_WARN_DAYS = 30
#: The grants the token endpoint serves: discovery lists them (idp.oidc.grants), and a client's
#: `grant_types` may name only these (`idp check-config`, start, reload).
GRANTS = OAUTH_GRANTS.plus(CIBA)


@dataclass
class Runtime:
    """Everything a running instance holds, built once by create_app."""

    settings: Settings
    registry: Registry
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    store: TTLStore
    keys: SigningKeys
    templates: Templates
    discovery: discovery_mod.Discovery
    metrics: Metrics
    secrets: dict[str, bytes] = field(default_factory=dict)


def make_store(settings: Settings, clock: Clock) -> TTLStore:
    if settings.redis_url:
        from idp.store.redis import RedisTTLStore  # only then: no Redis client otherwise

        return RedisTTLStore.from_url(settings.redis_url, prefix=settings.redis_key_prefix)
    return MemoryTTLStore(clock)


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    store: TTLStore | None = None,
    engine: Engine | None = None,
) -> Runtime:
    registry = Registry(settings)
    clock = clock or SystemClock()
    engine = engine or make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    # Without secret_key, a generated secret next to the database (never keys in clear).
    secret = key_encryption_secret(settings.secret_key, engine.url, settings.data_dir)
    keys = SigningKeys(sessions, clock, settings.keys, encryption_secret=secret, background=True)
    return Runtime(
        settings=settings,
        registry=registry,
        clock=clock,
        engine=engine,
        sessions=sessions,
        store=store if store is not None else make_store(settings, clock),
        keys=keys,
        templates=Templates(
            settings.default_locale,
            secure=settings.issuer.startswith("https://"),
            branding=Branding(settings.branding),
            registry=registry,
        ),
        discovery=discovery_mod.Discovery(
            settings, registry, keys.algorithms, keys_version=lambda: keys.version
        ),
        metrics=Metrics(),
    )


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    store: TTLStore | None = None,
    engine: Engine | None = None,
    authenticator: AuthenticatorFactory | None = None,
    backchannel: BackchannelAuthenticator | None = None,
    reload_on_sighup: bool = False,
    grants: GrantRegistry = GRANTS,
    jwks_transport: httpx.AsyncBaseTransport | None = None,
    jwks_resolver: Resolver | None = None,
    logout_transport: httpx.AsyncBaseTransport | None = None,
    logout_resolver: Resolver | None = None,
) -> Starlette:
    """The provider. Components read clients and scopes from one `Registry`, so a reload of
    them (``app.state.reload``, or SIGHUP with `reload_on_sighup`) reaches them all.

    Settings that name a grant type outside `grants` are refused (ConfigError), whether or
    not they were loaded with them."""
    unknown = unknown_grant_types(settings, grants.names())
    if unknown:
        raise ConfigError(settings.source, unknown)
    rt = build_runtime(settings, clock=clock, store=store, engine=engine)
    registry = rt.registry
    metrics = rt.metrics
    # Secrets shared by every instance: read once, before serving (they live in the database
    # unless secret_key derives them).
    migrate_if_embedded(rt)
    rt.keys.ensure()
    for name in ("cookies", "subject", "grants"):
        rt.secrets[name] = server_secret(rt.sessions, name, rt.clock, settings.secret_key)
    cookies = Cookies(
        secure=settings.issuer.startswith("https://"), signing_key=rt.secrets["cookies"]
    )
    provider = OpenIDProvider(
        settings=settings,
        registry=registry,
        clock=rt.clock,
        store=rt.store,
        db=rt.sessions,
        keys=rt.keys,
        templates=rt.templates,
        cookies=cookies,
        subject_secret=rt.secrets["subject"],
        grant_secret=rt.secrets["grants"],
        grants=grants,
        jwks_transport=jwks_transport,
        jwks_resolver=jwks_resolver,
    )
    sim = simulator_app(settings.bankid, rt.clock) if mounts_simulator(settings.bankid) else None
    bankid_client = None
    if authenticator is None:
        from idp.bankid.environment import make_client

        bankid_client = make_client(settings.bankid, rt.clock, simulator=sim)
        bankid_client.observers.append(metrics)
        authenticator = bankid_authenticator(settings, rt, cookies, bankid_client)
    attached = provider.attach(authenticator)
    limiter = RateLimiter.from_settings(
        settings.limits,
        rt.store,
        rt.clock,
        server_secret(rt.sessions, "rate-limits", rt.clock, settings.secret_key),
        client_address=ClientAddress(settings.trusted_proxies),
        on_limited=metrics.rate_limited,
    )
    provider.limit(limiter)
    if hasattr(attached, "limiter"):  # the BankID login: orders and pending logins
        attached.limiter = limiter
    rt.discovery.contribute(lambda: provider.metadata(rt.discovery))
    ciba = backchannel_login(settings, rt, provider, backchannel, bankid_client, sim)
    ciba.service.observers.append(metrics.ciba_request)
    ciba.endpoint.limiter = limiter
    ciba.audit_endpoint.limiter = limiter
    rt.discovery.contribute(ciba.metadata)
    logout_delivery = backchannel_logout(
        settings, rt, provider, transport=logout_transport, resolver=logout_resolver
    )
    watch_certificate(settings.bankid, rt.clock, metrics)
    reload = ClientReload(settings, registry, grants.names())

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        failing = []
        try:
            await run_db(ping, rt.engine, engine=rt.engine)
        except DatabaseUnavailable:
            failing.append("database")
        try:
            await rt.store.ping()
        except StoreUnavailable:
            failing.append("redis" if settings.redis_url else "store")
        if failing:
            return JSONResponse({"status": "unavailable", "failing": failing}, status_code=503)
        return JSONResponse({"status": "ready"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        try:
            async with (
                ciba.running(),
                logout_delivery.running() if logout_delivery else contextlib.nullcontext(),
                anyio.create_task_group() as tg,
            ):
                tg.start_soon(reread_keys, rt)
                if reload_on_sighup:
                    tg.start_soon(reload.on_sighup)
                yield {}
                tg.cancel_scope.cancel()
        finally:
            if bankid_client is not None:
                await bankid_client.aclose()
            await rt.store.close()
            rt.engine.dispose()

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *(
            [Route("/metrics", metrics_endpoint(settings, metrics), methods=["GET"])]
            if settings.metrics.enabled
            else []
        ),
        *discovery_mod.routes(rt.discovery, rt.keys.jwks_document),
        *provider.routes(),
        *ciba.routes(),
        Mount("/static", PackageStaticFiles(), name="static"),
        # The operator's logo, favicon (and /favicon.ico) and /branding.css.
        *rt.templates.branding.routes(),
        # RP-initiated logout's cancel, without a post-logout URI to go back to.
        Route("/logout/cancel", provider.logout.cancel, methods=["GET"]),
    ]
    if sim is not None:
        routes.append(Mount("/bankid-simulator", app=sim))
    demo = None
    if settings.demo.enabled:
        from idp.demo import DemoApp

        demo = DemoApp(settings, registry, rt.store, rt.templates, rt.clock)
        routes.append(Mount("/demo", app=demo.app()))
    console = None
    if settings.console.enabled:
        from idp.console import ConsoleApp

        console = ConsoleApp(settings, registry, rt.store, rt.templates, rt.clock)
        routes.append(Mount("/console", app=console.app()))
    routes.sort(key=lambda route: getattr(route, "path", None) not in HOT_PATHS)  # stable
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            # One layer for every request: its id, metrics, access line and security headers.
            Middleware(
                RequestObserver,
                metrics=metrics,
                request_ids=True,
                access_log=True,
                response_headers=SecurityPolicy(hsts=settings.issuer.startswith("https://")),
            ),
            # Overload answered as overload (503, Retry-After), inside the observer so it is
            # counted, logged and carries the security headers.
            Middleware(
                overload.AdmissionLimit,
                templates=rt.templates,
                max_in_flight=settings.limits.max_in_flight,
                backchannel=BACKCHANNEL_PATHS,
                rejected=metrics.overload_rejected.inc,
            ),
        ],
    )
    errors.install(
        app,
        rt.templates,
        unavailable={
            StoreUnavailable: "Redis" if settings.redis_url else "the store",
            DatabaseUnavailable: "the database",
            **dict.fromkeys(DRIVER_UNAVAILABLE, "the database"),
        },
        backchannel=BACKCHANNEL_PATHS,
        busy=(StoreBusy,),
        overloaded=metrics.overload_rejected.inc,
    )
    if demo is not None:
        demo.provider = app  # the demo reaches this provider over HTTP semantics, in-process
    if console is not None:
        console.provider_app = app  # unless console.provider_url names another provider
    app.state.console = console
    app.state.runtime = rt
    app.state.provider = provider
    app.state.ciba = ciba
    app.state.backchannel_logout = logout_delivery
    app.state.metrics = metrics
    app.state.reload = reload.reload
    return app


def mounts_simulator(bankid: BankIDSettings) -> bool:
    """The in-process simulator serves only when no standalone one is configured (base_url):
    instances that share a simulator must never answer from one of their own."""
    return bankid.environment == "simulator" and bankid.base_url is None


async def reread_keys(rt: Runtime) -> None:
    """Reread the signing keys every keys.reload_seconds, off the event loop; a rotation by
    `idp keys rotate` reaches every instance this way. A database outage keeps the keys in
    hand (SigningKeys.refresh)."""
    while True:
        await anyio.sleep(rt.settings.keys.reload_seconds)
        try:
            await anyio.to_thread.run_sync(rt.keys.refresh)
        except Exception as exc:  # e.g. a key that cannot be decrypted: keep serving
            log.error("rereading the signing keys failed: %s", exc)


class ClientReload:
    """Reload of the clients and scopes from the configuration file, without a restart.

    The file is read and validated in full, as at start; an invalid file is refused with the
    same messages as `idp check-config` (logged) and the running configuration stays in
    service. Changes to anything else are named in a warning and take effect on restart.
    """

    def __init__(
        self, settings: Settings, registry: Registry, grant_types: Collection[str]
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.grant_types = grant_types

    def reload(self) -> bool:
        source = self.settings.source
        if source.startswith("<"):
            log.warning("configuration reload: %s has no file to reread", source)
            return False
        try:
            result = self.registry.replace(load_settings(source, grant_types=self.grant_types))
        except ConfigError as exc:
            for line in exc.render().splitlines():
                log.error("%s", line)
            log.error("configuration reload refused: %s stays in service as it was", source)
            return False
        log.info(
            "configuration reloaded from %s: %d client(s); added %s, removed %s, changed %s%s",
            source,
            len(self.registry.current.clients),
            ", ".join(result.added) or "none",
            ", ".join(result.removed) or "none",
            ", ".join(result.changed) or "none",
            "; scopes changed" if result.scopes_changed else "",
        )
        if result.needs_restart:
            log.warning(
                "configuration reload: %s changed in %s; that takes a restart, the running "
                "value stays",
                ", ".join(result.needs_restart),
                source,
            )
        return True

    async def on_sighup(self) -> None:
        with anyio.open_signal_receiver(signal.SIGHUP) as signals:
            async for _ in signals:
                try:
                    await anyio.to_thread.run_sync(self.reload)
                except Exception:
                    log.exception("configuration reload failed; the running one stays")


def metrics_endpoint(
    settings: Settings, metrics: Metrics
) -> Callable[[Request], Awaitable[Response]]:
    """GET /metrics for a scraper on the internal network: only from `metrics.allow` peers,
    and never for a request a trusted proxy forwarded (metrics do not go out through the
    public entrance). Anyone else gets the ordinary 404."""
    allow = [ipaddress.ip_network(n, strict=False) for n in settings.metrics.allow]
    proxies = ClientAddress(settings.trusted_proxies)

    async def endpoint(request: Request) -> Response:
        peer = request.client.host if request.client else ""
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            address = ipaddress.ip_address("127.0.0.1")  # in-process (tests): no peer
        if not any(address in net for net in allow) or proxies.forwarded(request):
            raise HTTPException(404)
        return await metrics.endpoint(request)

    return endpoint


def certificate_report(bankid: BankIDSettings, clock: Clock) -> CertificateReport | None:
    """The RP certificate of a test or production setup, checked as `idp check-config` does."""
    if bankid.environment not in ("test", "production"):
        return None
    from idp.bankid.tls import ROOT_CA_FILES, TEST_RP_PASSWORD, TEST_RP_PKCS12

    return check_bankid_certificate(
        bankid,
        clock,
        root_ca_files={env.value: path for env, path in ROOT_CA_FILES.items()},
        default_test_certificate=(TEST_RP_PKCS12, TEST_RP_PASSWORD),
    )


def watch_certificate(bankid: BankIDSettings, clock: Clock, metrics: Metrics) -> None:
    """At start: the certificate's days left as a gauge (counting down by itself), and a
    warning in the log when it expires within CERTIFICATE_WARN_DAYS."""
    report = certificate_report(bankid, clock)
    if report is None:
        return
    if report.not_after is not None:
        metrics.certificate_expires_at(
            report.not_after.timestamp(), clock, warn_days=CERTIFICATE_WARN_DAYS
        )
    for problem in report.problems:
        level = {"error": logging.ERROR, "warning": logging.WARNING}.get(
            str(problem.severity), logging.INFO
        )
        log.log(level, "BankID certificate: bankid.%s: %s", problem.key, problem.message)


def bankid_authenticator(
    settings: Settings, rt: Runtime, cookies: Cookies, client: BankIDClient
) -> AuthenticatorFactory:
    """The BankID browser login (the default authenticator)."""
    from idp.bankid.authenticator import BankIDAuthenticator
    from idp.bankid.orders import COLLECT_WAIT, LoginOrders
    from idp.web.client_address import ClientAddress

    ttl = settings.tokens.login_transaction_ttl_seconds
    orders = LoginOrders(
        client,
        rt.store,
        rt.clock,
        ttl=ttl,
        deny_risk=settings.bankid.deny_risk,
        same_device_ip_policy=settings.bankid.same_device_ip_policy,
        seal=Seal.from_secret(rt.secrets["grants"], "bankid-order"),
        # A slow BankID answer must not hold up the poll that asked (an in-process simulator
        # answers at once, and tests decide nothing by the wall clock).
        collect_wait=COLLECT_WAIT if client.over_network else None,
    )

    def factory(handoff: LoginHandoff) -> BrowserAuthenticator:
        return BankIDAuthenticator(
            handoff,
            orders=orders,
            store=rt.store,
            clock=rt.clock,
            templates=rt.templates,
            cookies=cookies,
            issuer=settings.issuer,
            client_address=ClientAddress(settings.trusted_proxies),
            ttl=ttl,
        )

    return factory


def backchannel_login(
    settings: Settings,
    rt: Runtime,
    provider: OpenIDProvider,
    backchannel: BackchannelAuthenticator | None,
    client: BankIDClient | None,
    sim: Starlette | None,
) -> Ciba:
    """CIBA (idp.ciba) through BankID phone authentication, or through `backchannel` (tests)."""
    owned: BankIDClient | None = None
    if backchannel is None:
        from idp.bankid.phone import PhoneAuthenticator

        if client is None:
            from idp.bankid.environment import make_client

            client = owned = make_client(settings.bankid, rt.clock, simulator=sim)
            client.observers.append(rt.metrics)
        # The order must outlive the longest CIBA request, with room for clock differences.
        backchannel = PhoneAuthenticator(
            client, rt.store, rt.clock, ttl=settings.ciba.max_expires_in_seconds + 30
        )
    ciba = install_ciba(
        settings=settings,
        registry=rt.registry,
        clock=rt.clock,
        store=rt.store,
        sessions=rt.sessions,
        keys=rt.keys,
        bridge=provider.bridge,
        authenticator=backchannel,
        subject_secret=rt.secrets["subject"],
        link_secret=server_secret(rt.sessions, "subject-links", rt.clock, settings.secret_key),
        # A follower's lease outlasts two BankID calls that time out: then another takes over.
        follow_lease=2 * settings.bankid.timeout_seconds,
    )
    # An approval made through CIBA keeps its evidence as one in the browser does.
    provider.bridge.bind(CIBA_GRANT, evidence=provider.evidence)
    if owned is not None:
        ciba.closing.append(owned.aclose)
    return ciba


def backchannel_logout(
    settings: Settings,
    rt: Runtime,
    provider: OpenIDProvider,
    *,
    transport: httpx.AsyncBaseTransport | None,
    resolver: Resolver | None,
) -> BackchannelLogout | None:
    """Logout tokens for the clients of each ended SSO session (idp.oidc.backchannel),
    delivered from the store's due queue; None (and not advertised) on a store without one."""
    if not isinstance(rt.store, DueQueue):
        return None
    delivery = BackchannelLogout(
        settings=settings,
        registry=rt.registry,
        store=rt.store,
        db=rt.sessions,
        keys=rt.keys,
        clock=rt.clock,
        client_sid=provider.tokens.client_sid,
        seal=Seal.from_secret(rt.secrets["grants"], "backchannel-logout"),
        transport=transport,
        resolver=resolver,
        sweep=provider.sessions.expire_due,
    )
    provider.sessions.ended.append(delivery.session_ended)
    rt.discovery.contribute(delivery.metadata)
    return delivery


def simulator_app(bankid: BankIDSettings, clock: Clock) -> Starlette:
    """The built-in BankID simulator, served in-process under /bankid-simulator."""
    from idp.bankid.simulator import create_simulator_app

    sim = bankid.simulator
    return create_simulator_app(
        clock=clock, think_time=sim.think_time_seconds, fault_rate=sim.fault_rate
    )


def migrate_if_embedded(rt: Runtime) -> None:
    """The embedded default applies migrations itself; a configured deployment runs
    `idp db upgrade` (the CLI refuses to serve a schema that is behind)."""
    if rt.settings.source == EMBEDDED_SOURCE:
        from idp.store.db import schema_is_current

        if schema_is_current(rt.engine):  # the usual start: no Alembic to load
            return
        from idp.store.migrate import upgrade

        upgrade(rt.engine)
