"""Client-Initiated Backchannel Authentication (CIBA Core 1.0), poll and ping delivery.

`install_ciba` builds the pieces and binds its service to the CIBA grant, which the app
registers with the token endpoint's other grants (`CIBA`, for the grant registry); the app
mounts `Ciba.routes()`, contributes `Ciba.metadata()` to discovery and runs `Ciba.running()`
for its lifetime (the followers live there). Push delivery is not offered (FAPI-CIBA forbids
it; node-oidc-provider and Keycloak leave it out too).

What other packages may use; the module `tryout` (`idp ciba`: a relying party's side of a
backchannel login) is public as a whole.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.routing import BaseRoute, Route

from idp.authn import BackchannelAuthenticator
from idp.ciba.audit import AuditEntry, CibaAuditLog
from idp.ciba.audit_endpoint import PATH as AUDIT_PATH
from idp.ciba.audit_endpoint import AuditEndpoint
from idp.ciba.endpoint import PATH, BackchannelEndpoint, check_binding_message
from idp.ciba.grant import CIBA
from idp.ciba.links import SubjectLinks
from idp.ciba.notify import PingNotifier
from idp.ciba.service import CibaService
from idp.clock import Clock
from idp.config import CIBA_GRANT, Registry, Settings
from idp.keys import SigningKeys
from idp.oidc.bridge import OAuthBridge
from idp.store.ttl import TTLStore

DELIVERY_MODES = ["poll", "ping"]


@dataclass
class Ciba:
    settings: Settings
    service: CibaService
    endpoint: BackchannelEndpoint
    audit_endpoint: AuditEndpoint
    #: Called when the app stops (e.g. closing a BankID client built for CIBA alone).
    closing: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(PATH, self.endpoint.endpoint, methods=["POST"]),
            Route(AUDIT_PATH, self.audit_endpoint.endpoint, methods=["POST"]),
        ]

    def metadata(self) -> dict[str, Any]:
        """CIBA Core §4: what discovery says about backchannel authentication; and the acr
        values its logins carry (BankID phone), added to the browser's in
        `acr_values_supported` (OIDC Discovery §3)."""
        return {
            "acr_values_supported": list(self.service.authenticator.acr_values),
            "backchannel_authentication_endpoint": self.settings.issuer + PATH,
            # An extension (idp.ciba.audit_endpoint): the client's own audit trail.
            "backchannel_authentication_audit_endpoint": self.settings.issuer + AUDIT_PATH,
            "backchannel_token_delivery_modes_supported": DELIVERY_MODES,
            "backchannel_user_code_parameter_supported": False,
        }

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Enter from the app's lifespan: the followers run inside."""
        try:
            async with self.service.running():
                yield
        finally:
            for close in self.closing:
                await close()


def install_ciba(
    *,
    settings: Settings,
    registry: Registry,
    clock: Clock,
    store: TTLStore,
    sessions: sessionmaker[Session],
    keys: SigningKeys,
    bridge: OAuthBridge,
    authenticator: BackchannelAuthenticator,
    subject_secret: bytes,
    link_secret: bytes,
    notifier: PingNotifier | None = None,
    follow_lease: float | None = None,
) -> Ciba:
    audit = CibaAuditLog(sessions, clock)
    links = SubjectLinks(sessions, link_secret, clock, settings.ciba.id_token_hint_max_age_seconds)
    service = CibaService(
        settings=settings,
        registry=registry,
        store=store,
        clock=clock,
        authenticator=authenticator,
        subject_secret=subject_secret,
        audit=audit,
        links=links,
        notifier=notifier or PingNotifier(),
        follow_lease=follow_lease,
    )
    bridge.bind(CIBA_GRANT, service=service)
    endpoint = BackchannelEndpoint(
        settings=settings,
        registry=registry,
        bridge=bridge,
        service=service,
        authenticator=authenticator,
        keys=keys,
        links=links,
        clock=clock,
    )
    return Ciba(settings, service, endpoint, AuditEndpoint(bridge, audit))


__all__ = [
    "CIBA",
    "DELIVERY_MODES",
    "PATH",
    "AuditEntry",
    "Ciba",
    "CibaAuditLog",
    "CibaService",
    "PingNotifier",
    "check_binding_message",
    "install_ciba",
    "tryout",
]
