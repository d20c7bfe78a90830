"""The life of a backchannel request: accept, follow the authentication, deliver the result.

Shaped like node-oidc-provider's CIBA: the core hands the request to an authenticator
(`triggerAuthenticationDevice`) and later records its result (`backchannelResult`). Here the
result is fetched by a *follower*: one background task per request, across all instances,
holding a lease in the TTL store and polling the authenticator every `poll_interval` seconds
(BankID: collect every 2 s), however often the client polls us. If the instance that follows a
request goes away, its lease runs out and the next token poll, on any instance, takes over.

The token endpoint's view of a request (`redeem`) answers with the errors of CIBA Core §11:
authorization_pending, slow_down, expired_token, access_denied, invalid_grant; or the request,
exactly once across instances, for tokens.

A request may ask the person to approve something (RFC 9396 ``authorization_details``: a text
to sign). The authenticator then has it approved, bound to this request by
`approval_binding`, and returns the evidence; the tokens carry the granted details and the ID
token the evidence, as in the code flow. An authentication without the evidence is no approval:
the request is denied.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from authlib.oauth2.rfc6749 import AccessDeniedError, InvalidGrantError
from authlib.oauth2.rfc8628 import AuthorizationPendingError, ExpiredTokenError, SlowDownError

from idp.authn import (
    Authentication,
    BackchannelAuthenticator,
    BackchannelRequest,
    Failure,
    FailureReason,
    Pending,
)
from idp.authn.approval import EVIDENCE_CLAIMS, Approval
from idp.ciba.audit import CibaAuditLog, audit_id_for
from idp.ciba.errors import (
    DENIED_DESCRIPTIONS,
    START_FAILURES,
    AccessDenied,
    TemporarilyUnavailable,
)
from idp.ciba.links import SubjectLinks
from idp.ciba.notify import PingNotifier
from idp.ciba.state import (
    FOLLOW,
    PING,
    POLL,
    REQUEST,
    SLOW,
    SLOW_DOWN_STEP,
    CibaRequest,
    Status,
)
from idp.clock import Clock, SystemClock
from idp.config import ClientSettings, Registry, Settings
from idp.oidc import claims as claims_mod
from idp.oidc.subject import subject_for
from idp.store.db import engine_of, run_db
from idp.store.ttl import TTLStore

log = logging.getLogger("idp.ciba")

AUTH_REQ_ID_BYTES = 32  # 256 bits; §7.3 asks for at least 128, recommends 160
TICK = 0.01  # how often a follower looks at an injected (non-system) clock


@dataclass(frozen=True)
class Accepted:
    """A validated backchannel request, as the endpoint hands it over."""

    identity: str = ""  # the person, in the authenticator's namespace (personal data)
    scope: str = "openid"
    acr_values: tuple[str, ...] = ()
    binding_message: str | None = None
    expires_in: int = 120
    notification_token: str | None = None
    call_initiator: str = "RP"
    #: RFC 9396: the parsed details, and the approval they ask for (idp.authn.approval).
    authorization_details: tuple[dict[str, Any], ...] = ()
    approval: Approval | None = None
    #: Who at the client asked (`requested_by`), as the client names them: for the audit.
    requested_by: str | None = None

    def __repr__(self) -> str:
        return f"Accepted(scope={self.scope!r}, expires_in={self.expires_in})"


class StillPending(AuthorizationPendingError):
    """authorization_pending (CIBA Core §11), with the request's `progress` as an extension
    member once there is one (RFC 6749 §5.2 errors may carry more members; clients ignore what
    they do not know): ``{"error": "authorization_pending", ..., "progress": "call_confirmed"}``.
    """

    def __init__(self, progress: str | None) -> None:
        super().__init__("the user has not yet authenticated")
        self.progress = progress

    def get_body(self) -> list[tuple[str, Any]]:
        body = super().get_body()
        return body if self.progress is None else [*body, ("progress", self.progress)]


class Denied(AccessDeniedError):
    """access_denied (CIBA Core §11) with the reason as an extension member (``reason``:
    cancelled, declined, rejected, start_failed, ...; `DENIED_DESCRIPTIONS` lists them), so
    that a client can tell "the person declined the call" from "the person cancelled" without
    parsing the description."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(DENIED_DESCRIPTIONS.get(reason or "", "the authentication failed"))
        self.reason = reason if reason in DENIED_DESCRIPTIONS else None

    def get_body(self) -> list[tuple[str, Any]]:
        body = super().get_body()
        return body if self.reason is None else [*body, ("reason", self.reason)]


def approval_binding(issuer: str, client_id: str, audit_id: str) -> str:
    """What identifies a backchannel request in the approval made for it, shaped as the code
    flow's (idp.oidc.authorize.approval_binding): the request is named by its audit id (the
    SHA-256 of the auth_req_id, `audit_id_for`), never by the bearer value itself."""
    return f"{issuer} {client_id} {audit_id}"


def valid_auth_req_id(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= 128
        and all(c.isascii() and (c.isalnum() or c in "-._") for c in value)
    )


class CibaService:
    def __init__(
        self,
        *,
        settings: Settings,
        registry: Registry,
        store: TTLStore,
        clock: Clock,
        authenticator: BackchannelAuthenticator,
        subject_secret: bytes,
        audit: CibaAuditLog,
        links: SubjectLinks,
        notifier: PingNotifier,
        follow_lease: float | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.store = store
        self.clock = clock
        self.authenticator = authenticator
        self.subject_secret = subject_secret
        self.audit = audit
        self.links = links
        #: Where the audit's and the links' database calls run (idp.store.db.in_db_thread).
        self.engine = engine_of(audit.sessions)
        self.notifier = notifier
        self._follow_lease = follow_lease
        self._tg: anyio.abc.TaskGroup | None = None
        self._followers: set[str] = set()
        #: Told each outcome (accepted, invalid_request, unauthorized, failed, approved, denied,
        #: expired), e.g. a metrics counter; never anything about the person.
        self.observers: list[Callable[[str], None]] = []

    def observe(self, outcome: str) -> None:
        for observer in self.observers:
            try:
                observer(outcome)
            except Exception as exc:  # an observer must never break a login
                log.error("ciba observer raised %s", type(exc).__name__)

    # ------------------------------------------------------------------ lifecycle

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run followers for the app's lifetime (entered from the app's lifespan)."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                yield
            finally:
                self._tg = None
                tg.cancel_scope.cancel()

    @property
    def following(self) -> int:
        """How many requests this instance follows right now."""
        return len(self._followers)

    @property
    def lease_ttl(self) -> float:
        """How long a follower's lease lasts without renewal: longer than one slow poll (given
        as `follow_lease`; BankID calls time out after 10 s), short enough that another
        instance soon takes over."""
        return max(self._follow_lease or 20.0, 5 * self.authenticator.poll_interval)

    def sub_for(self, client: ClientSettings, identity: str) -> str:
        return subject_for(self.subject_secret, client, identity)

    # ------------------------------------------------------------------ accept

    async def begin(self, client: ClientSettings, accepted: Accepted) -> CibaRequest:
        """Store the request, start authenticating and follow it; raise a BackchannelError."""
        if self._tg is None:
            raise TemporarilyUnavailable("backchannel authentication is not running")
        auth_req_id = secrets.token_urlsafe(AUTH_REQ_ID_BYTES)
        now = self.clock.now()
        req = CibaRequest(
            id=auth_req_id,
            client_id=client.client_id,
            scope=accepted.scope,
            sub=self.sub_for(client, accepted.identity),
            created_at=now,
            expires_at=now + accepted.expires_in,
            interval=self.settings.ciba.interval_seconds,
            delivery_mode=client.backchannel_token_delivery_mode or "poll",
            audit_id=audit_id_for(auth_req_id),
            acr_values=accepted.acr_values,
            notification_token=accepted.notification_token,
            grace=self.settings.ciba.remember_seconds,
            authorization_details=accepted.authorization_details,
        )
        await self.store.put(REQUEST, req.id, req.to_json(), req.ttl)
        try:  # no account of it, no request
            await run_db(
                lambda: self.audit.requested(
                    audit_id=req.audit_id,
                    client_id=client.client_id,
                    subject=req.sub,
                    delivery_mode=req.delivery_mode,
                    approval=accepted.approval,
                    requested_by=accepted.requested_by,
                ),
                engine=self.engine,
            )
        except Exception:
            await self.store.delete(REQUEST, req.id)
            raise
        binding = (
            None
            if accepted.approval is None
            else approval_binding(self.settings.issuer, client.client_id, req.audit_id)
        )
        try:
            failure = await self.authenticator.start(
                BackchannelRequest(
                    request_id=req.id,
                    client_id=client.client_id,
                    client_name=client.display_name,
                    subject=accepted.identity,
                    binding_message=accepted.binding_message,
                    acr_values=accepted.acr_values,
                    options={
                        "call_initiator": accepted.call_initiator,
                        "sign": client.ciba_sign_binding_message,
                        "expires_in": accepted.expires_in,
                    },
                    approval=accepted.approval,
                    approval_binding=binding,
                )
            )
        except Exception as exc:  # an authenticator bug must not become a 500 with details
            log.error("ciba start for client %s raised %s", client.client_id, type(exc).__name__)
            failure = Failure(FailureReason.INTERNAL)
        if failure is not None:
            await self.store.delete(REQUEST, req.id)
            await run_db(
                self.audit.finished,
                req.audit_id,
                "failed",
                failure.reason.value,
                engine=self.engine,
            )
            log.info(
                "ciba request for client %s could not start: %s",
                client.client_id,
                failure.reason.value,
            )
            error_cls, description = START_FAILURES.get(
                failure.reason, (AccessDenied, "the authentication could not be started")
            )
            self.observe("failed")
            raise error_cls(description)
        token = secrets.token_hex(8)
        await self.store.put(FOLLOW, req.id, {"by": token}, self.lease_ttl)
        self._spawn(req.id, token)
        self.observe("accepted")
        log.info(
            "ciba request accepted for client %s (%s delivery, expires in %d s)",
            client.client_id,
            req.delivery_mode,
            accepted.expires_in,
        )
        return req

    # ------------------------------------------------------------------ follow

    def _spawn(self, request_id: str, token: str) -> None:
        if self._tg is None:
            return
        # The schedule is fixed now, not when the task first runs.
        self._tg.start_soon(self._follow, request_id, token, self.clock.now())

    async def _wait_until(self, when: float) -> None:
        """Wait until clock time `when`: a real sleep on the system clock, else watch the clock."""
        if isinstance(self.clock, SystemClock):
            await anyio.sleep(max(0.0, when - self.clock.now()))
            return
        while self.clock.now() < when:  # noqa: ASYNC110 - an injected clock has no event
            await anyio.sleep(TICK)

    async def _load(self, request_id: str) -> CibaRequest | None:
        value = await self.store.get(REQUEST, request_id)
        return None if value is None else CibaRequest.from_json(value)

    async def _follow(self, request_id: str, token: str, since: float) -> None:
        self._followers.add(request_id)
        interval = self.authenticator.poll_interval
        last = since
        try:
            while True:
                # `interval` seconds of clock time after the last poll, however long it took.
                await self._wait_until(last + interval)
                last = self.clock.now()
                req = await self._load(request_id)
                if req is None or req.status is not Status.PENDING:
                    return
                lease = await self.store.get(FOLLOW, request_id)
                if lease is not None and lease.get("by") != token:
                    return  # another instance took over while we were away
                if req.expired(self.clock.now()):
                    await self._cancel(request_id)
                    await self._finish(req, Status.EXPIRED, FailureReason.EXPIRED.value)
                    return
                await self.store.put(FOLLOW, request_id, {"by": token}, self.lease_ttl)
                try:
                    result = await self.authenticator.poll(request_id)
                except Exception as exc:
                    log.error("ciba poll raised %s; will try again", type(exc).__name__)
                    continue
                if isinstance(result, Pending):
                    if result.progress is not None and result.progress != req.progress:
                        progressed = dataclasses.replace(req, progress=result.progress)
                        await self.store.update(REQUEST, request_id, progressed.to_json())
                    continue
                await self._conclude(req, result)
                return
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            log.error("following a ciba request failed: %s", type(exc).__name__)
        finally:
            self._followers.discard(request_id)
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                lease = await self.store.get(FOLLOW, request_id)
                if lease is not None and lease.get("by") == token:
                    await self.store.delete(FOLLOW, request_id)

    async def _cancel(self, request_id: str) -> None:
        try:
            await self.authenticator.cancel(request_id)
        except Exception as exc:
            log.info("ciba cancel raised %s", type(exc).__name__)

    async def _conclude(self, req: CibaRequest, result: Authentication | Failure) -> None:
        registered = self.registry.current
        client = registered.client(req.client_id)
        if client is None:  # the configuration no longer has this client
            await self._finish(req, Status.DENIED, FailureReason.INTERNAL.value)
            return
        if isinstance(result, Failure):
            if result.reason is FailureReason.EXPIRED:
                await self._finish(req, Status.EXPIRED, result.reason.value)
            else:
                await self._finish(req, Status.DENIED, result.reason.value)
            return
        if self.sub_for(client, result.subject) != req.sub:
            log.warning(
                "ciba authentication for client %s verified another person", client.client_id
            )
            await self._finish(req, Status.DENIED, "subject_mismatch")
            return
        released = claims_mod.release(result.claims, req.scope.split(), registered, client)
        if req.authorization_details:
            # The approval's evidence, for the ID token whatever the scopes (Signature
            # Extension §5.2: "MUST" be in the ID token), as in the code flow.
            evidence = claims_mod.evidence_of(result.claims)
            if evidence.keys() != EVIDENCE_CLAIMS:
                log.warning(
                    "ciba authentication for client %s came without the approval's evidence",
                    client.client_id,
                )
                await self._finish(req, Status.DENIED, "no_approval")
                return
            released |= evidence
        payload = {
            "acr": result.acr,
            "amr": list(result.amr),
            "auth_time": int(result.auth_time),
            "claims": released,
        }
        try:
            await run_db(
                self.links.remember,
                client.client_id,
                req.sub,
                result.subject,
                engine=self.engine,
            )
        except Exception as exc:  # id_token_hint for this person will not resolve; not fatal
            log.warning("could not remember the subject link: %s", type(exc).__name__)
        await self._finish(req, Status.APPROVED, None, payload)

    async def _finish(
        self,
        req: CibaRequest,
        status: Status,
        reason: str | None,
        result: dict[str, Any] | None = None,
    ) -> None:
        current = await self._load(req.id)
        if current is None or current.status is not Status.PENDING:
            return  # another follower (after a takeover) got there first: its outcome stands
        done = req.with_outcome(status, reason, result)
        if not await self.store.update(REQUEST, req.id, done.to_json()):
            return
        acr = result["acr"] if result else None
        try:
            await run_db(
                self.audit.finished, req.audit_id, status.value, reason, acr, engine=self.engine
            )
        except Exception as exc:
            log.error("ciba audit update failed: %s", type(exc).__name__)
        log.info("ciba request for client %s ended: %s", req.client_id, status.value)
        self.observe(status.value)
        if done.delivery_mode == "ping":
            await self._ping(done)

    async def _ping(self, req: CibaRequest) -> None:
        client = self.registry.client(req.client_id)
        endpoint = client.backchannel_client_notification_endpoint if client else None
        if not endpoint or not req.notification_token:
            return
        if not await self.store.add(PING, req.id, {}, req.ttl):
            return  # already sent (by us or another instance)
        await self.notifier.notify(req.client_id, endpoint, req.notification_token, req.id)

    # ------------------------------------------------------------------ the token endpoint

    async def redeem(self, auth_req_id: str, client_id: str) -> CibaRequest:
        """The request for tokens, once; otherwise raise the token error CIBA Core §11 names."""
        if not valid_auth_req_id(auth_req_id):
            raise InvalidGrantError("the auth_req_id is unknown, expired long ago or used")
        value = await self.store.get(REQUEST, auth_req_id)
        req = None if value is None else CibaRequest.from_json(value)
        if req is None or req.client_id != client_id or req.status is Status.REDEEMED:
            # Another client's auth_req_id looks exactly like an unknown one.
            raise InvalidGrantError("the auth_req_id is unknown, expired long ago or used")
        now = self.clock.now()
        if req.status is Status.PENDING:
            await self._take_over_if_abandoned(req)
            if req.expired(now):
                raise ExpiredTokenError("the auth_req_id has expired; start a new request")
            await self._check_interval(req)
            raise StillPending(req.progress)
        if req.status is Status.EXPIRED or req.expired(now):
            raise ExpiredTokenError("the auth_req_id has expired; start a new request")
        if req.status is Status.DENIED:
            raise Denied(req.reason)
        consumed = await self.store.consume(REQUEST, auth_req_id)
        if consumed is None or not consumed.first:
            raise InvalidGrantError("the auth_req_id is unknown, expired long ago or used")
        # The claims (and the approved text) are not needed any more once they leave with the
        # tokens.
        redeemed = dataclasses.replace(
            req.with_outcome(Status.REDEEMED, None), authorization_details=()
        )
        await self.store.update(REQUEST, auth_req_id, redeemed.to_json())
        return req

    async def _check_interval(self, req: CibaRequest) -> None:
        """CIBA Core §7.3 `interval` and §11 `slow_down`, atomic across instances.

        Each pending poll takes a lease for the current interval with SET NX; a poll that
        finds it held came too fast, gets slow_down, and the interval grows by 5 seconds for
        this and every later poll ("the interval MUST be increased by at least 5 seconds").
        """
        slowed = await self.store.get(SLOW, req.id)
        count = slowed if isinstance(slowed, int) else 0
        interval = req.interval + SLOW_DOWN_STEP * count
        if await self.store.add(POLL, req.id, {}, interval):
            return
        count = await self.store.incr(SLOW, req.id, req.ttl)
        await self.store.put(POLL, req.id, {}, req.interval + SLOW_DOWN_STEP * count)
        raise SlowDownError("polling too fast: add 5 seconds to the interval")

    async def _take_over_if_abandoned(self, req: CibaRequest) -> None:
        if self._tg is None or req.id in self._followers:
            return
        token = secrets.token_hex(8)
        if await self.store.add(FOLLOW, req.id, {"by": token}, self.lease_ttl):
            log.info("ciba request of client %s was not followed; following it here", req.client_id)
            self._spawn(req.id, token)
