"""The CIBA grant at the token endpoint: grant_type=urn:openid:params:grant-type:ciba (§10.1).

It runs on the event loop (a `LoopGrant`, idp.oidc.grants.loop): once the client is
authenticated, `load` redeems the request from the async TTL store (`CibaService.redeem`);
after Authlib's checks, `prepare` stores the grant (and its refresh token) and the audit
record in one worker-thread call. Tokens are made by the bridge's generator, as for the code
flow: an ID token with the claims the granted scopes release, a JWT access token, and a
refresh token only when the client's entry has the refresh_token grant. A request that had
the person approve something (RFC 9396) grants its authorization_details with the tokens, and
its ID token carries the approval's evidence (CibaService).

`CIBA` is its entry for the grant registry: the app adds it to the OAuth grants, and
`install_ciba` binds the service to the registered class.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import anyio.lowlevel
from authlib.oauth2.rfc6749 import InvalidRequestError, UnauthorizedClientError
from authlib.oauth2.rfc6749.grants import BaseGrant, TokenEndpointMixin
from sqlalchemy.exc import SQLAlchemyError

from idp.ciba.service import CibaRequest, CibaService, approval_binding
from idp.config import CIBA_GRANT
from idp.oidc.bridge import OAuthBridge
from idp.oidc.client_auth import CONFIDENTIAL_METHODS
from idp.oidc.evidence import EvidenceStore
from idp.oidc.grants import GrantDescriptor, LoopGrant
from idp.oidc.issuance import TokenUser
from idp.oidc.tokens import AuthContext, new_id
from idp.store.db import in_db_thread

log = logging.getLogger("idp.ciba")


class CibaGrant(LoopGrant, BaseGrant, TokenEndpointMixin):
    GRANT_TYPE = CIBA_GRANT
    # §10.1: "the Client MUST authenticate to the token endpoint using the authentication
    # method registered for its client_id"; public clients cannot use CIBA.
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS
    bridge: OAuthBridge
    service: ClassVar[CibaService]
    #: Where an approval's evidence is kept (the app binds it with the service).
    evidence: ClassVar[EvidenceStore | None] = None
    _redeemed: CibaRequest | None = None
    _user: TokenUser | None = None

    async def load(self) -> None:
        """Redeem the request, once the client is authenticated and may use CIBA (the checks
        of `validate_token_request`, which reports what fails). Raises the token errors of
        CIBA Core §11 (authorization_pending, slow_down, ...)."""
        client = self.authenticated_client
        auth_req_id = self.request.form.get("auth_req_id")
        if client is None or not client.check_grant_type(CIBA_GRANT) or not auth_req_id:
            return
        try:
            self._redeemed = await self.service.redeem(auth_req_id, client.client_id)
        finally:
            # A poll that took the request over spawned a follower: let it start before the
            # answer goes out (so the instance that answered is the one following it).
            await anyio.lowlevel.checkpoint()

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(CIBA_GRANT):
            raise UnauthorizedClientError("this client is not allowed to use the CIBA grant")
        auth_req_id = self.request.form.get("auth_req_id")
        if not auth_req_id:
            raise InvalidRequestError("auth_req_id is required")
        self.request.client = client
        self.request.credential = self._redeemed

    async def prepare(self) -> None:
        """The grant, its refresh token (when the client may refresh) and the audit record:
        one worker-thread call."""
        client = self.request.client
        req: CibaRequest = self.request.credential
        result = req.result or {}
        auth = AuthContext(
            acr=result["acr"],
            amr=tuple(result["amr"]),
            auth_time=int(result["auth_time"]),
            claims=dict(result["claims"]),
            claims_request={},
            # RFC 9396 §7: the token response "MUST" carry the granted authorization_details.
            authorization_details=req.authorization_details,
        )
        grant_id = new_id(24)
        refresh_scope = req.scope if client.check_grant_type("refresh_token") else None

        def store() -> str | None:
            refresh_token = self.bridge.tokens.create_grant(
                grant_id=grant_id,
                client=client.settings,
                sub=req.sub,
                sid=None,
                scope=req.scope,
                auth=auth,
                refresh_scope=refresh_scope,
            )
            if req.authorization_details and self.evidence is not None:
                # Kept before the tokens leave: if it cannot be, no tokens (idp.oidc.evidence).
                self.evidence.keep(
                    client_id=client.client_id,
                    sub=req.sub,
                    auth=auth,
                    details=req.authorization_details,
                    binding=approval_binding(
                        self.bridge.settings.issuer, client.client_id, req.audit_id
                    ),
                )
            try:
                self.service.audit.tokens_issued(req.audit_id)
            except SQLAlchemyError:
                log.error("ciba audit of issued tokens failed")
            return refresh_token

        refresh_token = await in_db_thread(self.bridge.tokens.engine, store)
        self._user = TokenUser(
            sub=req.sub, grant_id=grant_id, auth=auth, refresh_token=refresh_token
        )

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        client = self.request.client
        req = self.request.credential
        token = self.generate_token(
            user=self._user,
            scope=req.scope,
            include_refresh_token=True,  # the generator adds one only if the client may refresh
        )
        log.info("ciba tokens issued to client %s", client.client_id)
        return 200, token, self.TOKEN_RESPONSE_HEADER


#: The CIBA grant in the grant registry: always listed in discovery (the endpoint is mounted).
CIBA = GrantDescriptor(CibaGrant)
