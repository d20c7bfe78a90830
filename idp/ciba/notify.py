"""Ping delivery: tell a client its backchannel request has a result (CIBA Core §10.2).

"the OP will send an HTTP POST request to the Client Notification Endpoint ... the request
MUST contain the auth_req_id ... and the client_notification_token as a bearer token". The
endpoint is the one the client's configuration names, never anything from a request; it must be
https (http only on loopback, for development). Redirects are never followed (a 3xx is a
failure, as the FAPI-CIBA ping tests expect), each attempt is bounded by a timeout, and only
connection failures, timeouts and 5xx answers are retried, a few times with a growing pause.
The answer's body is not read.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import anyio
import httpx

from idp.config import is_loopback_url

log = logging.getLogger("idp.ciba")

DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=3.0)


def allowed_endpoint(url: str) -> bool:
    parts = urlsplit(url)
    if not parts.netloc or parts.username or parts.password:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback_url(url))


class PingNotifier:
    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        attempts: int = 3,
        backoff: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.transport = transport
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.sleep = sleep

    async def notify(self, client_id: str, endpoint: str, token: str, auth_req_id: str) -> bool:
        """POST ``{"auth_req_id"}`` with the bearer token; True when the client answered 2xx."""
        if not allowed_endpoint(endpoint):
            log.warning("ciba ping for client %s refused: endpoint is not https", client_id)
            return False
        async with httpx.AsyncClient(
            transport=self.transport,
            timeout=self.timeout,
            follow_redirects=False,
            trust_env=False,
        ) as http:
            for attempt in range(1, self.attempts + 1):
                try:
                    async with http.stream(
                        "POST",
                        endpoint,
                        json={"auth_req_id": auth_req_id},
                        headers={"Authorization": f"Bearer {token}"},
                    ) as response:
                        status = response.status_code
                except httpx.HTTPError as exc:
                    log.info(
                        "ciba ping for client %s failed (attempt %d): %s",
                        client_id,
                        attempt,
                        type(exc).__name__,
                    )
                else:
                    if 200 <= status < 300:
                        log.info("ciba ping delivered to client %s", client_id)
                        return True
                    if status < 500:
                        # 3xx is not followed; 4xx means the client refused: do not retry.
                        log.warning("ciba ping for client %s answered %d", client_id, status)
                        return False
                    log.info(
                        "ciba ping for client %s answered %d (attempt %d)",
                        client_id,
                        status,
                        attempt,
                    )
                if attempt < self.attempts:
                    await self.sleep(self.backoff * attempt)
        log.warning("ciba ping for client %s gave up after %d attempts", client_id, self.attempts)
        return False
