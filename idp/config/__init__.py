"""Settings: one validated object, loaded once from YAML and passed down; and the registry of
what a reload changes.

- `schema`: the models (`Settings` and its parts): frozen, plain values.
- `loading`: YAML, `${VAR}` interpolation, and every problem of a file with its path
  (`ConfigError`); the only reader of the environment.
- `embedded`: the zero-configuration default.
- `registry`: the clients and scopes in service (`Registry`), replaced by a reload.

A leaf package: it imports nothing else of idp.
"""

from idp.config.embedded import (
    DEMO_CIBA_CLIENT_ID,
    EMBEDDED_SOURCE,
    demo_ciba_secret,
    embedded_default,
    unsafe_deployment,
)
from idp.config.loading import (
    ConfigError,
    ConfigIssue,
    client_issues,
    config_path_from_env,
    load_settings,
    parse_settings,
    unknown_grant_types,
)
from idp.config.registry import RELOADABLE, Registrations, Registry, Reloaded
from idp.config.schema import (
    CIBA_GRANT,
    DEFAULT_SCOPES,
    ENCRYPTION_ALGS,
    FAPI2_CODE_MAX_SECONDS,
    FAPI2_SIGNING_ALGS,
    PRIVATE_NETWORKS,
    PROFILE_ID_TOKEN_MAX_SECONDS,
    SIGNING_ALGS,
    SWEDEN_CONNECT_SESSION_MAX_SECONDS,
    AcrSettings,
    BankIDSettings,
    BrandingSettings,
    CibaSettings,
    ClientProfile,
    ClientSettings,
    DemoSettings,
    GrantType,
    KeySettings,
    MetricsSettings,
    ParSettings,
    Secret,
    SecretHash,
    SessionSettings,
    Settings,
    SigningAlg,
    SimulatorSettings,
    TokenSettings,
    is_loopback_url,
)

__all__ = [
    "CIBA_GRANT",
    "DEFAULT_SCOPES",
    "DEMO_CIBA_CLIENT_ID",
    "EMBEDDED_SOURCE",
    "ENCRYPTION_ALGS",
    "FAPI2_CODE_MAX_SECONDS",
    "FAPI2_SIGNING_ALGS",
    "PRIVATE_NETWORKS",
    "PROFILE_ID_TOKEN_MAX_SECONDS",
    "RELOADABLE",
    "SIGNING_ALGS",
    "SWEDEN_CONNECT_SESSION_MAX_SECONDS",
    "AcrSettings",
    "BankIDSettings",
    "BrandingSettings",
    "CibaSettings",
    "ClientProfile",
    "ClientSettings",
    "ConfigError",
    "ConfigIssue",
    "DemoSettings",
    "GrantType",
    "KeySettings",
    "MetricsSettings",
    "ParSettings",
    "Registrations",
    "Registry",
    "Reloaded",
    "Secret",
    "SecretHash",
    "SessionSettings",
    "Settings",
    "SigningAlg",
    "SimulatorSettings",
    "TokenSettings",
    "client_issues",
    "config_path_from_env",
    "demo_ciba_secret",
    "embedded_default",
    "is_loopback_url",
    "load_settings",
    "parse_settings",
    "unknown_grant_types",
    "unsafe_deployment",
]
