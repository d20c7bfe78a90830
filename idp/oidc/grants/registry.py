"""Which grants the token endpoint serves: one list, read by everything that must agree.

The bridge registers each grant with Authlib; discovery's `grant_types_supported` lists the
enabled ones; the configuration accepts exactly their names in a client's `grant_types`. A new
grant is its module and one line in `OAUTH_GRANTS` (or, for a grant of another package such as
CIBA, one `plus(...)` where the app wires it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from idp.config import Registrations
from idp.oidc.grants.authorization_code import CodeGrant, pkce
from idp.oidc.grants.client_credentials import ClientCredentials
from idp.oidc.grants.refresh_token import RefreshGrant

#: Whether discovery lists a grant, given the registrations in service and its grant_type.
Enabled = Callable[[Registrations, str], bool]


def always(registered: Registrations, grant_type: str) -> bool:
    return True


def when_a_client_uses(registered: Registrations, grant_type: str) -> bool:
    """Listed only while some client is registered for it (a reload may change that)."""
    return any(grant_type in c.grant_types for c in registered.clients)


@dataclass(frozen=True)
class GrantDescriptor:
    """One grant: an Authlib token-endpoint grant class (its `GRANT_TYPE` is the name), the
    Authlib extensions it is registered with (made fresh per bridge), and when it is listed."""

    grant: type[Any]
    extensions: Callable[[], list[Any]] = list
    enabled: Enabled = always

    @property
    def grant_type(self) -> str:
        return str(self.grant.GRANT_TYPE)


class GrantRegistry:
    """Grants by grant_type, in order; immutable (`plus` makes a larger one)."""

    def __init__(self, descriptors: Iterable[GrantDescriptor] = ()) -> None:
        by_type: dict[str, GrantDescriptor] = {}
        for descriptor in descriptors:
            if descriptor.grant_type in by_type:
                raise ValueError(f"grant type {descriptor.grant_type!r} is registered twice")
            by_type[descriptor.grant_type] = descriptor
        self._by_type = MappingProxyType(by_type)

    def plus(self, *descriptors: GrantDescriptor) -> GrantRegistry:
        return GrantRegistry([*self, *descriptors])

    def names(self) -> tuple[str, ...]:
        """Every grant_type served: what a client's `grant_types` may name."""
        return tuple(self._by_type)

    def enabled(self, registered: Registrations) -> list[str]:
        """The grant types discovery lists now (OIDC Discovery §3 grant_types_supported)."""
        return [name for name, d in self._by_type.items() if d.enabled(registered, name)]

    def __getitem__(self, grant_type: str) -> GrantDescriptor:
        return self._by_type[grant_type]

    def __contains__(self, grant_type: object) -> bool:
        return grant_type in self._by_type

    def __iter__(self) -> Iterator[GrantDescriptor]:
        return iter(self._by_type.values())

    def __len__(self) -> int:
        return len(self._by_type)

    def __repr__(self) -> str:
        return f"GrantRegistry({list(self._by_type)})"


#: The OAuth grants of the protocol core, in the order discovery lists them.
OAUTH_GRANTS = GrantRegistry(
    [
        GrantDescriptor(CodeGrant, extensions=pkce),
        GrantDescriptor(RefreshGrant),
        GrantDescriptor(ClientCredentials, enabled=when_a_client_uses),
    ]
)

__all__ = [
    "OAUTH_GRANTS",
    "Enabled",
    "GrantDescriptor",
    "GrantRegistry",
    "always",
    "when_a_client_uses",
]
