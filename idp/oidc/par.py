"""Pushed authorization requests (RFC 9126).

The client posts its authorization request to ``/par`` directly, authenticated as at the token
endpoint (§2); the whole check pipeline (``idp.oidc.checks``) runs at push time; the client
gets a single-use ``request_uri`` (§2.2) bound to it, which the browser then carries to
``/authorize``. A pushed request is authenticated: only such a request (or a signed request
object) may name the person a BankID order is for.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from idp.clock import Clock
from idp.config import ClientSettings, Settings
from idp.oidc import checks
from idp.oidc.checks import REQUEST_URI_PREFIX, Context, Pushed, Services
from idp.oidc.dpop import NONCE_HEADER, DPoPError, DPoPVerifier
from idp.oidc.errors import AuthorizationError, InvalidRedirectUri, InvalidRequestUri
from idp.oidc.http import MAX_PAR_BODY, BadRequest, oauth_json, read_form
from idp.store.db import DatabaseUnavailable
from idp.store.ttl import StoreUnavailable, TTLStore

KIND = "par"
#: Client authentication parameters (RFC 6749 §2.3.1, RFC 7523 §2.2): not part of the request.
CLIENT_AUTH_PARAMS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})

#: Authenticates the client of a back-channel request as the token endpoint does; raises
#: ``idp.oidc.errors.InvalidClient`` (RFC 9126 §2: "the same rules as ... the token endpoint").
ClientAuthentication = Callable[[Request, dict[str, str]], Awaitable[ClientSettings]]


class PushedRequests:
    """The pushed requests, in the TTL store: shared by every instance, each used once."""

    def __init__(self, store: TTLStore, clock: Clock, settings: Settings) -> None:
        self.store = store
        self.clock = clock
        self.lifetime = settings.par.request_uri_lifetime_seconds

    async def push(
        self, client: ClientSettings, params: dict[str, str], *, signed: bool, authenticated: bool
    ) -> str:
        """§2.2: the request_uri "MUST" be unguessable; it names one pushed request."""
        ref = secrets.token_urlsafe(32)
        value: dict[str, Any] = {
            "client_id": client.client_id,
            "params": params,
            "signed": signed,
            "authenticated": authenticated,
            "expires_at": self.clock.now() + self.lifetime,
        }
        await self.store.put(KIND, ref, value, self.lifetime + 5)
        return REQUEST_URI_PREFIX + ref

    async def take(self, request_uri: str, client: ClientSettings) -> Pushed:
        """§4: "expired request_uri values MUST be rejected"; §7.3: one-time use; §2.2 and
        §7.1: the request_uri is bound to the client that pushed it (another client's attempt
        does not use it up)."""
        ref = request_uri.removeprefix(REQUEST_URI_PREFIX)
        seen = await self.store.get(KIND, ref) if ref else None
        if seen is None:
            raise InvalidRequestUri("the request_uri is unknown or has expired")
        if seen.get("client_id") != client.client_id:
            raise InvalidRequestUri("the request_uri was not pushed by this client")
        consumed = await self.store.consume(KIND, ref)
        if consumed is None:
            raise InvalidRequestUri("the request_uri is unknown or has expired")
        if not consumed.first:
            raise InvalidRequestUri("the request_uri was already used")
        value = consumed.value
        # Keep only what single use needs, not the parameters (a login_hint, claims).
        await self.store.update(KIND, ref, {"client_id": value["client_id"]})
        if self.clock.now() >= float(value["expires_at"]):
            raise InvalidRequestUri("the request_uri has expired")
        return Pushed(
            dict(value["params"]), bool(value.get("signed")), bool(value.get("authenticated"))
        )


class PushedAuthorizationEndpoint:
    def __init__(
        self,
        *,
        pushed: PushedRequests,
        services: Services,
        authenticate: ClientAuthentication,
        dpop: DPoPVerifier | None = None,
    ) -> None:
        self.pushed = pushed
        self.services = services
        self.authenticate = authenticate
        self.dpop = dpop

    async def push(self, request: Request) -> Response:
        """§2.1: authenticate the client, reject request_uri, validate the request as the
        authorization endpoint would; §2.2: 201 with request_uri and expires_in; §2.3: errors
        in the token endpoint's format."""
        try:
            form = await read_form(request, max_body=MAX_PAR_BODY)
        except BadRequest as exc:
            return oauth_json(400, {"error": "invalid_request", "error_description": str(exc)})
        nonce: dict[str, str] = {}
        try:
            client = await self.authenticate(request, form)
            raw = [(k, v) for k, v in form.items() if k not in CLIENT_AUTH_PARAMS]
            if self.dpop is not None and request.headers.getlist("dpop"):
                nonce = {NONCE_HEADER: self.dpop.nonce()}
                raw = await self._dpop_bound(request, client, raw)
            ctx = Context(raw=raw, endpoint="par", authenticated_client=client)
            await checks.run(ctx, self.services, checks.FRONT)
            await checks.run(ctx, self.services, checks.CHECKS)
            request_uri = await self.pushed.push(
                client, ctx.params, signed=ctx.signed, authenticated=ctx.authenticated
            )
        except AuthorizationError as exc:
            return _json_error(exc, nonce)
        except DPoPError as exc:
            body = {"error": exc.error, "error_description": exc.description}
            return oauth_json(400, body, nonce)
        except (StoreUnavailable, DatabaseUnavailable):
            return oauth_json(
                503,
                {"error": "temporarily_unavailable", "error_description": "try again shortly"},
                {"Retry-After": "5"},
            )
        return oauth_json(
            201, {"request_uri": request_uri, "expires_in": self.pushed.lifetime}, nonce
        )

    async def _dpop_bound(
        self, request: Request, client: ClientSettings, raw: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """RFC 9449 §10.1: a DPoP proof at PAR binds the code as dpop_jkt does; "if both
        mechanisms are used at the same time, the authorization server MUST reject the request
        if the JWK Thumbprint in dpop_jkt does not match the public key in the DPoP header"."""
        assert self.dpop is not None
        proof = await self.dpop.verify(
            request.headers, "POST", "/par", require_nonce=client.dpop_nonce_required
        )
        assert proof is not None
        if not proof.allowed_for(client):
            raise DPoPError("this client's DPoP proofs must be signed with PS256 or ES256")
        given = [v for k, v in raw if k == "dpop_jkt"]
        if any(v != proof.jkt for v in given):
            raise DPoPError("dpop_jkt is not the thumbprint of the DPoP proof's key")
        return raw if given else [*raw, ("dpop_jkt", proof.jkt)]


def _json_error(exc: AuthorizationError, extra: dict[str, str] | None = None) -> Response:
    body = exc.json()
    if isinstance(exc, InvalidRedirectUri):
        # §2.4 and §2.3: a redirect URI the client may not use is an invalid_request here.
        body["error"] = "invalid_request"
    # As at the token endpoint: a challenge only for a client that tried HTTP Basic.
    headers = getattr(exc, "headers", None) if exc.status_code == 401 else None
    status = exc.status_code if exc.status_code in (401, 500, 503) else 400
    return oauth_json(status, body, {**(headers or {}), **(extra or {})})


__all__ = ["ClientAuthentication", "PushedAuthorizationEndpoint", "PushedRequests"]
