"""The settings schema: what a configuration file may say, as frozen pydantic models.

`Settings` is the whole file, validated: plain values, never changed after loading. What a
reload (SIGHUP) puts in service is held apart, in `idp.config.registry.Registry`. Reading the
file and reporting its problems is `idp.config.loading`'s job.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

CIBA_GRANT: Final = "urn:openid:params:grant-type:ciba"
GrantType = Literal[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:openid:params:grant-type:ciba",  # CIBA_GRANT
]
GRANT_TYPES: tuple[GrantType, ...] = get_args(GrantType)
assert CIBA_GRANT in GRANT_TYPES
SigningAlg = Literal["RS256", "ES256"]
SIGNING_ALGS: tuple[SigningAlg, ...] = get_args(SigningAlg)

# Scope name -> claims it releases. Operators extend or override these under `scopes:`.
DEFAULT_SCOPES: dict[str, list[str]] = {
    "openid": ["sub"],
    "profile": ["name", "given_name", "family_name", "birthdate"],
    "ssn": ["ssn"],
    "bankid_evidence": [
        "bankid_issue_date",
        "bankid_signature",
        "bankid_ocsp_response",
        "bankid_risk",
    ],
}


# --------------------------------------------------------------------------- secrets


class SecretHash:
    """A client secret reduced to its SHA-256 digest on load, compared in constant time.

    Client secrets are operator-generated, high-entropy strings, so a fast hash is the right
    tool (a slow password hash would put seconds of CPU on every token request). The clear
    value is never kept.
    """

    __slots__ = ("_digest",)

    def __init__(self, secret: str) -> None:
        self._digest = hashlib.sha256(secret.encode("utf-8")).digest()

    def verify(self, candidate: str | None) -> bool:
        if candidate is None:
            return False
        other = hashlib.sha256(candidate.encode("utf-8")).digest()
        return hmac.compare_digest(self._digest, other)

    # Defining __eq__ (a reload tells changed clients from unchanged) without __hash__ leaves
    # the class unhashable, as a value compared in constant time should be.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretHash):
            return NotImplemented
        return hmac.compare_digest(self._digest, other._digest)

    def __repr__(self) -> str:
        return "SecretHash(***)"


class Secret:
    """A server-side secret value that must never be printed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __eq__(self, other: object) -> bool:  # unhashable, as SecretHash
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __repr__(self) -> str:
        return "Secret(***)"


# --------------------------------------------------------------------------- URL checks

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


def _check_absolute_url(value: str, *, allow_http_loopback: bool = True) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(f"expected an absolute http(s) URL, got {value!r}")
    if parts.username or parts.password:
        raise ValueError("a URL must not carry user information")
    if parts.scheme == "http" and not (allow_http_loopback and is_loopback_url(value)):
        raise ValueError(f"expected an https URL (http only for loopback), got {value!r}")
    return value


def _check_redirect_uri(value: str) -> str:
    """RFC 9700 §2.1 / RFC 8252: https, http on loopback, or a private-use scheme for apps.

    Fragments are forbidden (RFC 6749 §3.1.2).
    """
    if not isinstance(value, str) or not value:
        raise ValueError("expected a redirect URI string")
    parts = urlsplit(value)
    if parts.fragment or "#" in value:
        raise ValueError(f"a redirect URI must not contain a fragment, got {value!r}")
    if parts.scheme in ("https", "http"):
        return _check_absolute_url(value)
    # Private-use URI scheme for native apps (RFC 8252 §7.1): reverse-domain, with a dot.
    if re.fullmatch(r"[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+", parts.scheme or "") and parts.path:
        return value
    raise ValueError(
        f"expected an absolute https URL (http only for loopback) or a private-use "
        f"scheme such as com.example.app:/callback, got {value!r}"
    )


RedirectURI = Annotated[str, AfterValidator(_check_redirect_uri)]


# --------------------------------------------------------------------------- models


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class ClientSettings(_Strict):
    """One relying party, in the metadata names of RFC 7591 / OIDC Dynamic Registration."""

    client_id: str = Field(min_length=1, max_length=255)
    client_secret: SecretHash | None = None
    client_name: str | None = None
    redirect_uris: list[RedirectURI] = Field(default_factory=list)
    post_logout_redirect_uris: list[RedirectURI] = Field(default_factory=list)
    # Pydantic copies a list default for every instance.
    grant_types: list[GrantType] = ["authorization_code"]
    response_types: list[Literal["code"]] = ["code"]
    token_endpoint_auth_method: Literal[
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"
    ] = "client_secret_basic"
    scope: str = "openid"
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    id_token_signed_response_alg: SigningAlg = "RS256"
    subject_type: Literal["public", "pairwise"] = "public"
    backchannel_token_delivery_mode: Literal["poll", "ping"] | None = None
    backchannel_client_notification_endpoint: str | None = None
    # Project-specific settings.
    require_pkce: bool = True
    pairwise_sector: str | None = None
    access_token_audience: list[str] = Field(default_factory=list)
    ciba_call_initiator: Literal["RP", "user"] = "RP"
    ciba_allow_call_initiator_override: bool = False
    ciba_sign_binding_message: bool = False

    @field_validator("client_secret", mode="before")
    @classmethod
    def _hash_secret(cls, value: Any) -> Any:
        if value is None or isinstance(value, SecretHash):
            return value
        if not isinstance(value, str) or len(value) < 16:
            raise ValueError("expected a string of at least 16 characters")
        return SecretHash(value)

    @field_validator("jwks_uri", "backchannel_client_notification_endpoint")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_absolute_url(value)

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.scope.split())

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    @property
    def display_name(self) -> str:
        return self.client_name or self.client_id


class SimulatorSettings(_Strict):
    """The built-in simulator (environment: simulator)."""

    # Seconds the simulated user spends in each pending state once the app has the order.
    think_time_seconds: float = Field(default=1.0, ge=0)
    # Chance per RP API request of an injected fault (maintenance, internalError, slow).
    fault_rate: float = Field(default=0.0, ge=0, le=1)


class BankIDSettings(_Strict):
    environment: Literal["simulator", "test", "production"] = "simulator"
    base_url: str | None = None
    certificate: Path | None = None
    certificate_password: Secret | None = None
    certificate_key: Path | None = None
    ca_certificate: Path | None = None
    timeout_seconds: float = Field(default=10.0, gt=0)
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    # Logins whose BankID risk indication (returnRisk) is one of these are refused.
    deny_risk: list[Literal["moderate", "high"]] = ["high"]

    @field_validator("certificate_password", mode="before")
    @classmethod
    def _wrap_password(cls, value: Any) -> Any:
        return Secret(str(value)) if value is not None and not isinstance(value, Secret) else value

    @field_validator("base_url")
    @classmethod
    def _check_base(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        # A standalone simulator on a private network (a compose service) may speak plain
        # http; BankID itself is only ever reached over https.
        if info.data.get("environment") == "simulator" and value.startswith("http://"):
            _check_absolute_url("https://" + value.removeprefix("http://"))
            return value
        return _check_absolute_url(value)


class SessionSettings(_Strict):
    """SSO session. BankID forbids turning a login into a lasting credential: keep it short."""

    lifetime_seconds: int = Field(default=3600, gt=0, le=12 * 3600)
    idle_timeout_seconds: int = Field(default=900, gt=0)


class TokenSettings(_Strict):
    authorization_code_ttl_seconds: int = Field(default=60, gt=0, le=600)
    access_token_ttl_seconds: int = Field(default=600, gt=0, le=24 * 3600)
    id_token_ttl_seconds: int = Field(default=600, gt=0, le=24 * 3600)
    refresh_token_ttl_seconds: int = Field(default=8 * 3600, gt=0, le=30 * 24 * 3600)
    login_transaction_ttl_seconds: int = Field(default=600, gt=0, le=3600)


class KeySettings(_Strict):
    algorithms: list[SigningAlg] = list(SIGNING_ALGS)
    # A new key is published this long before it signs anything (verifiers refresh JWKS).
    activation_delay_seconds: int = Field(default=300, ge=0)
    # A retired key stays in JWKS this long so tokens it signed still verify.
    retired_grace_seconds: int = Field(default=24 * 3600, ge=0)
    # How often a process rereads the key table (other instances may have rotated).
    reload_seconds: int = Field(default=30, gt=0)


class DemoSettings(_Strict):
    enabled: bool = False


#: Loopback and private networks: where a scraper on the internal network connects from.
PRIVATE_NETWORKS = [
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
]


class MetricsSettings(_Strict):
    """Prometheus metrics at /metrics, for a scraper that reaches each instance directly."""

    enabled: bool = True
    # Peers that may scrape (addresses or networks). A request forwarded by one of the
    # trusted_proxies is refused whatever its peer: metrics never go out through the proxy.
    allow: list[str] = Field(default_factory=lambda: list(PRIVATE_NETWORKS))

    @field_validator("allow")
    @classmethod
    def _check_networks(cls, values: list[str]) -> list[str]:
        for v in values:
            ipaddress.ip_network(v, strict=False)
        return values


class CibaSettings(_Strict):
    """Backchannel authentication (CIBA Core 1.0): request lifetime, polling, binding messages."""

    # Lifetime of an auth_req_id (expires_in); requested_expiry may ask for less, or for more
    # up to max_expires_in_seconds.
    expires_in_seconds: int = Field(default=120, ge=10, le=600)
    max_expires_in_seconds: int = Field(default=300, ge=10, le=600)
    # The minimum seconds between token polls (interval); faster polls get slow_down.
    interval_seconds: int = Field(default=5, ge=1, le=60)
    # binding_message is shown in the BankID app: at most this many characters.
    binding_message_max_length: int = Field(default=64, ge=8, le=255)
    # How long an ID token of ours can still name its person as id_token_hint.
    id_token_hint_max_age_seconds: int = Field(default=24 * 3600, ge=0)
    # How long a request is remembered after it expired, so that a late poll still gets
    # expired_token and a replayed auth_req_id invalid_grant.
    remember_seconds: int = Field(default=300, ge=0, le=3600)


class Settings(_Strict):
    """One configuration file (or the embedded default), validated; frozen, and never changed.

    `clients`, `scopes` and `claims_parameter_scopes` are the file's; a running provider reads
    them from its `Registry`, the one place a reload (SIGHUP) replaces them. Everything else
    here is in service until a restart.
    """

    issuer: str
    database_url: str = "sqlite:///data/idp.db"
    redis_url: str | None = None
    # Every key this provider writes to Redis starts with it (several deployments, or tests,
    # can share one Redis).
    redis_key_prefix: str = Field(default="idp:", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    data_dir: Path = Path("data")
    secret_key: Secret | None = None
    trusted_proxies: list[str] = Field(default_factory=list)
    default_locale: Literal["sv", "en"] = "sv"
    bankid: BankIDSettings = Field(default_factory=BankIDSettings)
    session: SessionSettings = Field(default_factory=SessionSettings)
    tokens: TokenSettings = Field(default_factory=TokenSettings)
    keys: KeySettings = Field(default_factory=KeySettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    ciba: CibaSettings = Field(default_factory=CibaSettings)
    scopes: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_SCOPES))
    # Scopes whose claims a client may also ask for one by one with the `claims` request
    # parameter (OIDC Core §5.5). Claims of other scopes (the personal number, BankID evidence)
    # are released only when their scope is granted.
    claims_parameter_scopes: list[str] = Field(default_factory=lambda: ["profile"])
    clients: tuple[ClientSettings, ...] = ()
    source: str = "<defaults>"

    @field_validator("issuer")
    @classmethod
    def _check_issuer(cls, value: str) -> str:
        """OIDC Discovery §3: https, no query or fragment (http only on loopback here)."""
        _check_absolute_url(value)
        parts = urlsplit(value)
        if parts.query or parts.fragment:
            raise ValueError("the issuer must not have a query or fragment")
        return value.rstrip("/")

    @field_validator("secret_key", mode="before")
    @classmethod
    def _wrap_secret(cls, value: Any) -> Any:
        if value is None or isinstance(value, Secret):
            return value
        if not isinstance(value, str) or len(value) < 32:
            raise ValueError("expected a random string of at least 32 characters")
        return Secret(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, values: list[str]) -> list[str]:
        for v in values:
            ipaddress.ip_network(v, strict=False)
        return values

    @field_validator("scopes", mode="before")
    @classmethod
    def _merge_scopes(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        merged = dict(DEFAULT_SCOPES)
        merged.update(value)
        return merged

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name in value:
            if not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", name):
                raise ValueError(f"scope name {name!r} has characters RFC 6749 §3.3 forbids")
        return value

    def client(self, client_id: str) -> ClientSettings | None:
        """The file's entry for `client_id` (a running provider asks its Registry instead)."""
        return next((c for c in self.clients if c.client_id == client_id), None)
