"""The embedded default: the zero-configuration provider `idp serve` starts without a file."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from idp.config.loading import ConfigIssue, parse_settings
from idp.config.schema import CIBA_GRANT, Settings, staff_hmac

#: The embedded default's customer-service client, for `idp ciba` (its BankID is the simulator).
DEMO_CIBA_CLIENT_ID = "demo-ciba"
#: Where the embedded default keeps what it generates (its SQLite database is data/idp.db).
EMBEDDED_DATA_DIR = Path("data")
#: The demo CIBA client's secret, made on first start, readable by its owner only.
DEMO_CIBA_SECRET_FILE = "demo-ciba-secret"
#: The constant the demo CIBA client's secret once was in the source: public, so never safe.
PUBLISHED_DEMO_CIBA_SECRET = "demo-ciba-secret-of-the-embedded-default"
EMBEDDED_SOURCE = "<embedded default>"
#: The embedded default's customer-service console client (idp.console) and its secrets.
CONSOLE_CLIENT_ID = "console"
CONSOLE_SECRET_FILE = "console-secret"
CONSOLE_CLIENT_NAME = "Customer-service console (embedded default)"
CONSOLE_STAFF_KEY_FILE = "console-staff-key"
#: The simulator's default person (idp.bankid.simulator.persons.DEFAULT_PERSON, which the
#: config package may not import; a test keeps the two equal): the embedded console's staff.
SIMULATOR_DEFAULT_PERSON = "198501012382"


def generated_secret(name: str, data_dir: Path = EMBEDDED_DATA_DIR) -> str:
    """A secret of the embedded default: random, generated the first time and kept in
    `data_dir`/`name` (mode 0600), where `idp serve` and the other commands find it."""
    path = data_dir / name
    with contextlib.suppress(FileNotFoundError):
        return path.read_text(encoding="utf-8").strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".{name}.{secrets.token_hex(8)}"
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


def demo_ciba_secret(data_dir: Path = EMBEDDED_DATA_DIR) -> str:
    """The demo CIBA client's secret (`generated_secret`), for `idp serve` and `idp ciba`."""
    return generated_secret(DEMO_CIBA_SECRET_FILE, data_dir)


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
        # The embedded console's client: its staff is the simulator's default person.
        if client.client_id == CONSOLE_CLIENT_ID and client.client_name == CONSOLE_CLIENT_NAME:
            issues.append(ConfigIssue(f"clients[{i}]", f"the embedded console's client {why}"))
    return issues


def embedded_default(host: str = "127.0.0.1", port: int = 8000) -> Settings:
    """The zero-configuration provider: SQLite, in-process store, simulator, demo clients and
    the console for the simulator's default person (its generated state in ./data)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    issuer = f"http://{shown}:{port}"
    console_secret = generated_secret(CONSOLE_SECRET_FILE)
    staff_key = generated_secret(CONSOLE_STAFF_KEY_FILE)
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
            {
                # The console (idp.console): staff sign in with the code flow (ssn: the
                # staff list names them by a keyed hash of the number), callers by CIBA.
                "client_id": CONSOLE_CLIENT_ID,
                "client_name": CONSOLE_CLIENT_NAME,
                "client_secret": console_secret,
                "redirect_uris": [f"{issuer}/console/callback"],
                "post_logout_redirect_uris": [f"{issuer}/console/?out=1"],
                "grant_types": ["authorization_code", CIBA_GRANT],
                "backchannel_token_delivery_mode": "poll",
                "scope": "openid profile ssn",
                "ciba_allow_call_initiator_override": True,
                "authorization_details_types": ["se.bankid.sign"],
            },
        ],
        "console": {
            "enabled": True,
            "client_id": CONSOLE_CLIENT_ID,
            "client_secret": console_secret,
            "staff_key": staff_key,
            "staff": [
                {
                    "personal_number_hmac": staff_hmac(staff_key, SIMULATOR_DEFAULT_PERSON),
                    "name": "Anna Andersson",
                }
            ],
            "operators": [
                {
                    "personal_number_hmac": staff_hmac(staff_key, SIMULATOR_DEFAULT_PERSON),
                    "name": "Anna Andersson",
                }
            ],
            "scopes": "openid profile",
        },
    }
    return parse_settings(raw, source=EMBEDDED_SOURCE, environ={})
