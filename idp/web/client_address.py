"""The address of the person's device, as BankID's `endUserIp` needs it (reference 1.1).

Behind a reverse proxy the peer is the proxy, not the person. `X-Forwarded-For` is believed only
when the peer is one of the configured `trusted_proxies`; then the header is read from the right
(the hop nearest to us) and the first address that is not itself a trusted proxy is the client.
Anyone can write the header, so an untrusted peer's header is ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import Request

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddress:
    def __init__(self, trusted_proxies: Iterable[str] = ()) -> None:
        self.trusted: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(p, strict=False) for p in trusted_proxies
        )

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def forwarded(self, request: Request) -> bool:
        """The request came through one of the trusted proxies (it says for whom)."""
        peer = request.client.host if request.client else ""
        return self._is_trusted(peer) and bool(request.headers.getlist("x-forwarded-for"))

    def __call__(self, request: Request) -> str:
        peer = request.client.host if request.client else ""
        if not _valid(peer):
            peer = "127.0.0.1"  # an in-process call (tests, ASGI transports) has no peer
        if not self.trusted or not self._is_trusted(peer):
            return peer
        hops = [
            h.strip()
            for line in request.headers.getlist("x-forwarded-for")
            for h in line.split(",")
        ]
        for hop in reversed(hops):
            if not _valid(hop):
                return peer  # a garbled header: trust nothing in it
            if not self._is_trusted(hop):
                return str(ipaddress.ip_address(hop))
        return peer


def _valid(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True
