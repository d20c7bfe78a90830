"""The embedded default: the zero-configuration provider `idp serve` starts without a file."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from idp.config.loading import ConfigIssue, parse_settings
from idp.config.schema import CIBA_GRANT, Settings

#: The embedded default's customer-service client, for `idp ciba` (its BankID is the simulator).
DEMO_CIBA_CLIENT_ID = "demo-ciba"
#: Where the embedded default keeps what it generates (its SQLite database is data/idp.db).
EMBEDDED_DATA_DIR = Path("data")
#: The demo CIBA client's secret, made on first start, readable by its owner only.
DEMO_CIBA_SECRET_FILE = "demo-ciba-secret"
#: The constant the demo CIBA client's secret once was in the source: public, so never safe.
PUBLISHED_DEMO_CIBA_SECRET = "demo-ciba-secret-of-the-embedded-default"
EMBEDDED_SOURCE = "<embedded default>"


def demo_ciba_secret(data_dir: Path = EMBEDDED_DATA_DIR) -> str:
    """The demo CIBA client's secret: random, generated the first time and kept in
    `data_dir` (mode 0600), where `idp serve` and `idp ciba` of the embedded default find it."""
    path = data_dir / DEMO_CIBA_SECRET_FILE
    with contextlib.suppress(FileNotFoundError):
        return path.read_text(encoding="utf-8").strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".{DEMO_CIBA_SECRET_FILE}.{secrets.token_hex(8)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_urlsafe(32) + "\n")
    try:
        os.link(tmp, path)  # atomic: of two processes starting at once, one secret wins
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text(encoding="utf-8").strip()


def unsafe_deployment(settings: Settings) -> list[ConfigIssue]:
    """What only the embedded default and shared test deployments may have, found in a file
    with an https issuer (a public deployment) that does not say `test_deployment: true`: the
    BankID simulator (anyone logs in as anyone), the demo, or the demo CIBA client."""
    if not settings.issuer.startswith("https://") or settings.test_deployment:
        return []
    why = "on an https issuer; set test_deployment: true if this is a shared test deployment"
    issues = []
    if settings.bankid.environment == "simulator":
        issues.append(ConfigIssue("bankid.environment", f"the BankID simulator {why}"))
    if settings.demo.enabled:
        issues.append(ConfigIssue("demo.enabled", f"the demo {why}"))
    for i, client in enumerate(settings.clients):
        published = client.client_secret and client.client_secret.verify(PUBLISHED_DEMO_CIBA_SECRET)
        if client.client_id == DEMO_CIBA_CLIENT_ID or published:
            issues.append(ConfigIssue(f"clients[{i}]", f"the demo CIBA client {why}"))
    return issues


def embedded_default(host: str = "127.0.0.1", port: int = 8000) -> Settings:
    """The zero-configuration provider: SQLite, in-process store, simulator, demo client (its
    generated state in ./data)."""
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
                "client_secret": demo_ciba_secret(),
                "grant_types": [CIBA_GRANT],
                "backchannel_token_delivery_mode": "poll",
                "scope": "openid profile ssn",
            },
        ],
    }
    return parse_settings(raw, source=EMBEDDED_SOURCE, environ={})
