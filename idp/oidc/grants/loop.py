"""Token-endpoint grants whose Authlib logic runs on the event loop.

The bridge (idp.oidc.bridge) serves a `LoopGrant` in steps, all on the event loop:

1. client authentication, Authlib's, synchronous (idp.oidc.client_auth);
2. `await grant.load()`: what validation needs from the TTL store (a code consumed, a CIBA
   request redeemed) or the database (a refresh token rotated);
3. `grant.validate_token_request()`: Authlib's checks, synchronous, on what was loaded;
4. `await grant.prepare()`: the database work of issuing (a grant read, a refresh token
   stored), after validation;
5. `grant.create_token_response()`: Authlib's, synchronous; the generator signs the tokens.

A grant's database work is one worker-thread call (one transaction) per request, in `load` or
in `prepare`: synchronous SQLAlchemy never runs on the loop, so a slow or unreachable database
holds up only the requests that need it. A grant that is not a `LoopGrant` runs in a worker
thread as a whole, as Authlib's synchronous code, and reaches the store with `call_async`.
"""

from __future__ import annotations

from idp.oidc.clients import Client


class LoopGrant:
    """Mix in before the Authlib grant class."""

    #: The client the bridge authenticated before `load` (step 1).
    authenticated_client: Client | None = None

    def authenticate_token_endpoint_client(self) -> Client:
        """Authlib calls this first in `validate_token_request`: the client is already known."""
        if self.authenticated_client is not None:
            return self.authenticated_client
        client: Client = super().authenticate_token_endpoint_client()  # type: ignore[misc]
        return client

    async def load(self) -> None:
        """Step 2: await what `validate_token_request` will need."""

    async def prepare(self) -> None:
        """Step 4: the database work of issuing, once the request is valid."""


__all__ = ["LoopGrant"]
