"""The grants of the token endpoint, one module each, and the registry that lists them.

What other packages may use: the registry (`OAUTH_GRANTS`, and `GrantDescriptor` to add a
grant of their own, as CIBA does), and `LoopGrant`, for a grant that runs on the event loop.
"""

from idp.oidc.grants.loop import LoopGrant
from idp.oidc.grants.registry import (
    OAUTH_GRANTS,
    Enabled,
    GrantDescriptor,
    GrantRegistry,
    always,
    when_a_client_uses,
)

__all__ = [
    "OAUTH_GRANTS",
    "Enabled",
    "GrantDescriptor",
    "GrantRegistry",
    "LoopGrant",
    "always",
    "when_a_client_uses",
]
