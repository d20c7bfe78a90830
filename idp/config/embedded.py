"""The embedded default: the zero-configuration provider `idp serve` starts without a file."""

from __future__ import annotations

from idp.config.loading import parse_settings
from idp.config.schema import CIBA_GRANT, Settings

#: The embedded default's customer-service client, for `idp ciba` (its BankID is the simulator).
DEMO_CIBA_CLIENT_ID = "demo-ciba"
DEMO_CIBA_SECRET = "demo-ciba-secret-of-the-embedded-default"
EMBEDDED_SOURCE = "<embedded default>"


def embedded_default(host: str = "127.0.0.1", port: int = 8000) -> Settings:
    """The zero-configuration provider: SQLite, in-process store, simulator, demo client."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    issuer = f"http://{shown}:{port}"
    raw = {
        "issuer": issuer,
        "bankid": {"environment": "simulator"},
        "demo": {"enabled": True},
        "clients": [
            {
                "client_id": "demo",
                "client_name": "Demo app",
                "token_endpoint_auth_method": "none",
                "redirect_uris": [f"{issuer}/demo/callback"],
                "post_logout_redirect_uris": [f"{issuer}/demo"],
                "grant_types": ["authorization_code", "refresh_token"],
                "scope": "openid profile ssn bankid_evidence",
                # The demo's "Sign a text" and "Approve a payment" (idp.demo).
                "authorization_details_types": ["se.bankid.sign", "se.bankid.payment"],
            },
            {
                "client_id": DEMO_CIBA_CLIENT_ID,
                "client_name": "Demo customer service",
                "client_secret": DEMO_CIBA_SECRET,
                "grant_types": [CIBA_GRANT],
                "backchannel_token_delivery_mode": "poll",
                "scope": "openid profile ssn",
            },
        ],
    }
    return parse_settings(raw, source=EMBEDDED_SOURCE, environ={})
