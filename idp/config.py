"""Settings: one validated object, loaded once from YAML and passed down.

This is the only module that reads the environment (for `${VAR}` interpolation and
`IDP_CONFIG`). Every error names the file, the path inside it and what was expected, and all
errors of a file are reported together, so an operator fixes a file in one round.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", CIBA_GRANT)
SIGNING_ALGS = ("RS256", "ES256")

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

    def __eq__(self, other: object) -> bool:  # a reload tells changed clients from unchanged
        if not isinstance(other, SecretHash):
            return NotImplemented
        return hmac.compare_digest(self._digest, other._digest)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "SecretHash(***)"


class Secret:
    """A server-side secret value that must never be printed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    __hash__ = None  # type: ignore[assignment]

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
    grant_types: list[Literal[GRANT_TYPES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["authorization_code"]
    )
    response_types: list[Literal["code"]] = Field(default_factory=lambda: ["code"])
    token_endpoint_auth_method: Literal[
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"
    ] = "client_secret_basic"
    scope: str = "openid"
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    id_token_signed_response_alg: Literal[SIGNING_ALGS] = "RS256"  # type: ignore[valid-type]
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
    deny_risk: list[Literal["moderate", "high"]] = Field(default_factory=lambda: ["high"])

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
    algorithms: list[Literal[SIGNING_ALGS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(SIGNING_ALGS)
    )
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

    @cached_property
    def _client_index(self) -> tuple[tuple[ClientSettings, ...], dict[str, ClientSettings]]:
        return self.clients, {c.client_id: c for c in self.clients}

    def client(self, client_id: str) -> ClientSettings | None:
        clients, index = self._client_index
        if clients is not self.clients:  # a model_copy carried another copy's cache along
            return next((c for c in self.clients if c.client_id == client_id), None)
        return index.get(client_id)


# --------------------------------------------------------------------------- live settings

#: What a reload changes in a running process; everything else takes a restart.
RELOADABLE = ("clients", "scopes", "claims_parameter_scopes")


@dataclass(frozen=True)
class Reloaded:
    """What a reload changed (client ids), and what it could not change without a restart."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    scopes_changed: bool
    needs_restart: tuple[str, ...]


class LiveSettings:
    """The settings in service: every component reads its settings through this one object,
    so a reload (SIGHUP) that replaces the clients and scopes reaches all of them at once.

    Attribute access is forwarded to the current `Settings`, so it stands in for one. Only
    `RELOADABLE` parts change; a new file's other values (issuer, database, secrets, ...) are
    reported as needing a restart and the running ones stay.
    """

    def __init__(self, settings: Settings) -> None:
        self._current = settings

    @property
    def current(self) -> Settings:
        return self._current

    def __getattr__(self, name: str) -> Any:
        return getattr(self._current, name)

    def client(self, client_id: str) -> ClientSettings | None:
        return self._current.client(client_id)

    def replace(self, new: Settings) -> Reloaded:
        """Put the clients and scopes of `new` (an already validated file) in service."""
        old = self._current
        merged = old.model_copy(update={name: getattr(new, name) for name in RELOADABLE})
        merged.__dict__.pop("_client_index", None)  # the copy must index its own clients
        before = {c.client_id: c for c in old.clients}
        after = {c.client_id: c for c in new.clients}
        self._current = merged
        return Reloaded(
            added=tuple(sorted(after.keys() - before.keys())),
            removed=tuple(sorted(before.keys() - after.keys())),
            changed=tuple(sorted(k for k in before.keys() & after.keys() if before[k] != after[k])),
            scopes_changed=(old.scopes, old.claims_parameter_scopes)
            != (new.scopes, new.claims_parameter_scopes),
            needs_restart=tuple(
                name
                for name in Settings.model_fields
                if name not in (*RELOADABLE, "source") and getattr(old, name) != getattr(new, name)
            ),
        )

    def reload(self, environ: Mapping[str, str] | None = None) -> Reloaded:
        """Read and validate the file the settings came from again, and put its clients and
        scopes in service; a ConfigError (every problem, as `idp check-config` shows them)
        leaves the running settings untouched."""
        return self.replace(load_settings(self._current.source, environ=environ))


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class ConfigIssue:
    path: str
    message: str


class ConfigError(Exception):
    """Raised when a configuration file cannot be used; carries every problem found."""

    def __init__(self, source: str, issues: list[ConfigIssue]) -> None:
        self.source = source
        self.issues = issues
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{self.source}: {len(self.issues)} problem(s):"]
        lines += [f"{self.source}: {i.path or '<top>'}: {i.message}" for i in self.issues]
        return "\n".join(lines)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _interpolate(node: Any, env: Mapping[str, str], path: str, issues: list[ConfigIssue]) -> Any:
    if isinstance(node, str):

        def repl(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name = m.group(1)
            if name not in env:
                issues.append(ConfigIssue(path, f"environment variable ${{{name}}} is not set"))
                return ""
            return env[name]

        return _VAR.sub(repl, node)
    if isinstance(node, dict):
        return {k: _interpolate(v, env, _join(path, k), issues) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env, f"{path}[{i}]", issues) for i, v in enumerate(node)]
    return node


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _natural_key(path: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path)]


def _loc_path(prefix: str, loc: Iterable[Any]) -> str:
    path = prefix
    for part in loc:
        path = _join(path, part)
    return path


def _model_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names valid at `loc` inside `model` (for 'did you mean' hints)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        field = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if field is None:
            return []
        ann = field.annotation
        current = next(
            (
                a
                for a in (ann, *getattr(ann, "__args__", ()))
                if isinstance(a, type) and issubclass(a, BaseModel)
            ),
            None,
        )
    return list(current.model_fields) if current is not None else []


def _pydantic_issues(
    exc: ValidationError, prefix: str, model: type[BaseModel]
) -> list[ConfigIssue]:
    issues = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            known = _model_fields(model, loc)
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            msg = "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["type"] == "literal_error":
            msg = msg.replace("Input should be", "expected")
        issues.append(ConfigIssue(_loc_path(prefix, loc), msg))
    return issues


def _client_semantics(c: ClientSettings, path: str, scopes: Mapping[str, Any]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    grants = set(c.grant_types)
    auth = c.token_endpoint_auth_method

    def add(sub: str, msg: str) -> None:
        issues.append(ConfigIssue(_join(path, sub) if sub else path, msg))

    if "authorization_code" in grants and not c.redirect_uris:
        add("redirect_uris", "a client with grant type authorization_code needs at least one")
    if auth in ("client_secret_basic", "client_secret_post") and c.client_secret is None:
        add("client_secret", f"required for token_endpoint_auth_method {auth}")
    if auth in ("none", "private_key_jwt") and c.client_secret is not None:
        add("client_secret", f"not used with token_endpoint_auth_method {auth}; remove it")
    if auth == "private_key_jwt" and not (c.jwks or c.jwks_uri):
        add("jwks", "private_key_jwt needs the client's public keys in jwks or jwks_uri")
    if c.jwks and c.jwks_uri:
        add("jwks_uri", "give jwks or jwks_uri, not both (RFC 7591 §2)")
    if c.jwks is not None and not isinstance(c.jwks.get("keys"), list):
        add("jwks", "expected a JWK Set: an object with a 'keys' list")
    if auth == "none" and not c.require_pkce:
        add("require_pkce", "a public client can never opt out of PKCE (RFC 9700 §2.1.1)")
    if auth == "none" and "client_credentials" in grants:
        add("grant_types", "client_credentials needs a confidential client")
    if "refresh_token" in grants and not ({"authorization_code", CIBA_GRANT} & grants):
        add("grant_types", "refresh_token needs authorization_code or the CIBA grant")
    if CIBA_GRANT in grants:
        if auth == "none":
            add("token_endpoint_auth_method", "CIBA clients must authenticate (CIBA Core §7.1)")
        if c.backchannel_token_delivery_mode is None:
            add("backchannel_token_delivery_mode", "required for the CIBA grant: poll or ping")
    if (
        c.backchannel_token_delivery_mode == "ping"
        and not c.backchannel_client_notification_endpoint
    ):
        add("backchannel_client_notification_endpoint", "required for ping delivery")
    for scope in c.scopes:
        if scope not in scopes:
            add("scope", f"scope {scope!r} is not defined under the top-level scopes")
    if "openid" not in c.scopes:
        add("scope", "must include openid")
    if c.subject_type == "pairwise" and c.pairwise_sector is None:
        hosts = {urlsplit(u).hostname for u in c.redirect_uris}
        if len(hosts) > 1:
            add("pairwise_sector", "redirect URIs span several hosts; name the sector")
    return issues


def parse_settings(raw: Any, *, source: str, environ: Mapping[str, str] | None = None) -> Settings:
    """Validate a parsed YAML document; raise ConfigError with every problem found."""
    env = os.environ if environ is None else environ
    issues: list[ConfigIssue] = []
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, [ConfigIssue("", "expected a mapping at the top level")])
    raw = _interpolate(raw, env, "", issues)
    raw_clients = raw.pop("clients", [])
    if not isinstance(raw_clients, list):
        issues.append(ConfigIssue("clients", "expected a list of client entries"))
        raw_clients = []

    settings: Settings | None = None
    try:
        settings = Settings.model_validate({**raw, "source": source})
    except ValidationError as exc:
        issues += _pydantic_issues(exc, "", Settings)
    scopes = settings.scopes if settings else {**DEFAULT_SCOPES, **(raw.get("scopes") or {})}

    clients: list[ClientSettings] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(raw_clients):
        path = f"clients[{i}]"
        if isinstance(entry, dict) and isinstance(entry.get("client_id"), str):
            cid = entry["client_id"]
            if cid in seen:
                issues.append(
                    ConfigIssue(
                        f"{path}.client_id",
                        f"duplicate client_id {cid!r} (first used in clients[{seen[cid]}])",
                    )
                )
            else:
                seen[cid] = i
        try:
            client = ClientSettings.model_validate(entry)
        except ValidationError as exc:
            issues += _pydantic_issues(exc, path, ClientSettings)
            continue
        issues += _client_semantics(client, path, scopes)
        clients.append(client)

    # A missing ${VAR} already explains any later complaint about the same value.
    undefined = {i.path for i in issues if i.message.startswith("environment variable")}
    issues = [
        i for i in issues if i.path not in undefined or i.message.startswith("environment variable")
    ]
    if issues or settings is None:
        issues.sort(key=lambda i: _natural_key(i.path))
        raise ConfigError(source, issues)
    return settings.model_copy(update={"clients": tuple(clients)})


def load_settings(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate a YAML configuration file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [ConfigIssue("", f"cannot read file: {exc.strerror}")]) from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [ConfigIssue("", f"{where}invalid YAML: {problem}")]) from None
    return parse_settings(raw, source=source, environ=environ)


def config_path_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return env.get("IDP_CONFIG") or None


#: The embedded default's customer-service client, for `idp ciba` (its BankID is the simulator).
DEMO_CIBA_CLIENT_ID = "demo-ciba"
DEMO_CIBA_SECRET = "demo-ciba-secret-of-the-embedded-default"


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
    return parse_settings(raw, source="<embedded default>", environ={})
