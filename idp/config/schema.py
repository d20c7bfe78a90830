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
from collections.abc import Mapping, Sequence
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
    model_validator,
)

CIBA_GRANT: Final = "urn:openid:params:grant-type:ciba"
#: The validation context key of the grant types the token endpoint serves. They are the grant
#: registry's (idp.oidc.grants), which the loader's caller passes in: this leaf package keeps
#: no list of its own, so a new grant needs no change here.
GRANT_TYPES_CONTEXT: Final = "grant_types"
SigningAlg = Literal["RS256", "ES256"]
SIGNING_ALGS: tuple[SigningAlg, ...] = get_args(SigningAlg)
# Client profiles: the Swedish OIDC Profile 1.0, and the OIDC Profile for Sweden Connect 1.0.
ClientProfile = Literal["swedish-oidc", "sweden-connect"]
PROFILE_ID_TOKEN_MAX_SECONDS: Final = 300
#: FAPI 2.0 Security Profile §5.4.1: "PS256, ES256 or EdDSA"; of these we sign and verify
#: PS256 and ES256 (our own keys: ES256 only, SigningAlg).
FAPI2_SIGNING_ALGS: Final = ("PS256", "ES256")
#: FAPI 2.0 Security Profile §5.3.2.1: authorization codes live "no more than 60 seconds".
FAPI2_CODE_MAX_SECONDS: Final = 60
# Key management algorithms of our request-object decryption keys (RFC 7518 §4.3).
EncryptionAlg = Literal["RSA-OAEP", "RSA-OAEP-256"]
ENCRYPTION_ALGS: tuple[EncryptionAlg, ...] = get_args(EncryptionAlg)
# RFC 9396 authorization_details types (idp.authn.approval.TYPES; the config names them
# itself, as it imports nothing else of idp).
AuthorizationDetailsType = Literal["se.bankid.sign", "se.bankid.payment"]

# Scope name -> claims it releases. Operators extend or override these under `scopes:`.
# The two https://id.oidc.se/ scopes are the Swedish OIDC Claims and Scopes Specification's
# (§3.1, §3.2); profile and ssn are this provider's older names for the same data.
DEFAULT_SCOPES: dict[str, list[str]] = {
    "openid": ["sub"],
    "https://id.oidc.se/scope/naturalPersonNumber": [
        "https://id.oidc.se/claim/personalIdentityNumber",
        "https://id.oidc.se/claim/coordinationNumber",
    ],
    "https://id.oidc.se/scope/naturalPersonInfo": [
        "family_name",
        "given_name",
        "name",
        "birthdate",
    ],
    "profile": ["name", "given_name", "family_name", "birthdate"],
    "ssn": ["ssn"],
    # OIDC Sweden Signature Extension 1.1 §2, §5.3 (idp.oidc.sign_request): a signature in the
    # ID token, or an approval for an external signing service. A client gets them only when
    # its entry lists them.
    "https://id.oidc.se/scope/sign": ["https://id.oidc.se/claim/userSignature"],
    "https://id.oidc.se/scope/signApproval": [],
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


def unknown_grant_type(known: Sequence[str]) -> str:
    """What is said of a grant type that is not one of `known` (as of an unknown literal)."""
    quoted = [repr(k) for k in known]
    if len(quoted) < 2:
        return f"expected {''.join(quoted) or 'no grant type'}"
    return f"expected {', '.join(quoted[:-1])} or {quoted[-1]}"


def _check_grant_type(value: str, info: ValidationInfo) -> str:
    known = (info.context or {}).get(GRANT_TYPES_CONTEXT)
    if known is not None and value not in known:
        raise ValueError(unknown_grant_type(known))
    return value


#: A `grant_types` entry: one the token endpoint serves, when the loader was told which.
GrantType = Annotated[str, AfterValidator(_check_grant_type)]


# --------------------------------------------------------------------------- models


def wrap_secret(value: Any, min_length: int) -> Any:
    """A configured secret as a `Secret` (None stays None): a random string of at least
    `min_length` characters."""
    if value is None or isinstance(value, Secret):
        return value
    if not isinstance(value, str) or len(value) < min_length:
        raise ValueError(f"expected a random string of at least {min_length} characters")
    return Secret(value)


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
    # OIDC Back-Channel Logout 1.0 §2.2: where logout tokens are POSTed (absolute, no fragment;
    # https, http only on loopback), and whether this client needs `sid` in them.
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False
    # Project-specific settings.
    require_pkce: bool = True
    pairwise_sector: str | None = None
    access_token_audience: list[str] = Field(default_factory=list)
    ciba_call_initiator: Literal["RP", "user"] = "RP"
    ciba_allow_call_initiator_override: bool = False
    ciba_sign_binding_message: bool = False
    # RFC 9126 §6: only pushed authorization requests; RFC 9101 §10.5: only signed request
    # objects (by value, or pushed).
    require_pushed_authorization_requests: bool = False
    require_signed_request_object: bool = False
    # RFC 9449 §5.2: every token request of this client must carry a DPoP proof (its access
    # tokens are always DPoP-bound); `dpop_nonce_required`: its proofs at the token and PAR
    # endpoints must carry a server nonce (§8, use_dpop_nonce).
    dpop_bound_access_tokens: bool = False
    dpop_nonce_required: bool = False
    # RFC 9396 §10: the authorization_details types this client may ask for (approvals:
    # signing and payments, idp.authn.approval); none unless listed.
    authorization_details_types: list[AuthorizationDetailsType] = Field(default_factory=list)
    # The Swedish OIDC profile this client is held to (README "Swedish OIDC profiles");
    # `profile_problems` below holds the rules each adds.
    profile: ClientProfile | None = None
    # swedish-oidc only: client_secret_basic, client_secret_post or none instead of
    # private_key_jwt, "if the context permits" (Swedish OIDC Profile §3.1.1).
    allow_weaker_client_auth: bool = False
    # FAPI 2.0 Security Profile mode (README "Clients"; `fapi2_problems` below): PAR only,
    # private_key_jwt only, DPoP-bound tokens only, codes of at most 60 s, PS256/ES256 only,
    # refresh tokens not rotated. It sets require_pushed_authorization_requests and
    # dpop_bound_access_tokens unless the entry gives them (check-config refuses false).
    fapi2: bool = False
    # OIDC Registration §2: signed UserInfo responses (application/jwt); always signed for a
    # client held to a profile (Swedish OIDC Profile §4.1), by default with the ID token's alg.
    userinfo_signed_response_alg: SigningAlg | None = None
    # RFC 9701 §6: signed introspection responses (application/token-introspection+jwt) for
    # this client when it asks for one with its Accept header; None: JSON only (a request
    # that accepts nothing else is answered 406, idp.oidc.introspection).
    introspection_signed_response_alg: SigningAlg | None = None
    # This client's ID token lifetime (default tokens.id_token_ttl_seconds); at most
    # PROFILE_ID_TOKEN_MAX_SECONDS under a profile (Swedish OIDC Profile §3.2.1.2).
    id_token_lifetime_seconds: int | None = Field(default=None, gt=0, le=24 * 3600)
    # RFC 7591 §2 / OIDC Registration §2 metadata; Sweden Connect requires them (SC-P §3.2).
    client_name_sv: str | None = Field(default=None, alias="client_name#sv", min_length=1)
    client_name_en: str | None = Field(default=None, alias="client_name#en", min_length=1)
    logo_uri: str | None = None
    client_uri: str | None = None
    contacts: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _fapi2_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("fapi2") is True:
            implied = {"require_pushed_authorization_requests": True}
            implied["dpop_bound_access_tokens"] = True
            return {**implied, **data}
        return data

    @field_validator("client_secret", mode="before")
    @classmethod
    def _hash_secret(cls, value: Any) -> Any:
        if value is None or isinstance(value, SecretHash):
            return value
        if not isinstance(value, str) or len(value) < 16:
            raise ValueError("expected a string of at least 16 characters")
        return SecretHash(value)

    @field_validator(
        "jwks_uri", "backchannel_client_notification_endpoint", "logo_uri", "client_uri"
    )
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_absolute_url(value)

    @field_validator("backchannel_logout_uri")
    @classmethod
    def _check_logout_uri(cls, value: str | None) -> str | None:
        # Back-Channel Logout §2.2: "an absolute URI ... MUST NOT include a fragment component".
        if value is not None and (urlsplit(value).fragment or "#" in value):
            raise ValueError(
                f"a back-channel logout URI must not contain a fragment, got {value!r}"
            )
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

    def name_for(self, locale: str) -> str:
        """The name a person sees in `locale` ("sv", "en"): client_name#sv or #en, else
        client_name, else the client_id."""
        localized = self.client_name_sv if locale == "sv" else self.client_name_en
        return localized or self.display_name

    @property
    def held_to_profile(self) -> bool:
        """Held to the Swedish OIDC Profile (swedish-oidc, or sweden-connect which extends it)."""
        return self.profile is not None

    @property
    def is_sweden_connect(self) -> bool:
        return self.profile == "sweden-connect"

    @property
    def userinfo_alg(self) -> SigningAlg | None:
        """How UserInfo answers are signed; None: plain JSON."""
        if self.userinfo_signed_response_alg is not None:
            return self.userinfo_signed_response_alg
        return self.id_token_signed_response_alg if self.held_to_profile else None

    @property
    def signs_userinfo(self) -> bool:
        return self.userinfo_alg is not None

    def id_token_lifetime(self, default: int) -> int:
        """Seconds an ID token lives: this client's setting or the server's `default`, capped
        under a profile ("The lifetime [...] MUST NOT exceed 5 minutes", SWE-P §3.2.1.2)."""
        lifetime = self.id_token_lifetime_seconds or default
        if self.held_to_profile:
            return min(lifetime, PROFILE_ID_TOKEN_MAX_SECONDS)
        return lifetime


#: Sweden Connect's longest session: "MUST NOT exceed 60 minutes" (SC-P §2.2.1).
SWEDEN_CONNECT_SESSION_MAX_SECONDS: Final = 3600


def profile_problems(
    c: ClientSettings, *, session_lifetime: int | None = None
) -> list[tuple[str, str, tuple[str, ...]]]:
    """What in a client's entry contradicts the profile it declares, as (key, problem, other
    keys the rule reads). `session_lifetime` is session.lifetime_seconds (None: not known)."""
    if c.profile is None:
        return []
    out: list[tuple[str, str, tuple[str, ...]]] = []
    name = c.profile
    method = c.token_endpoint_auth_method
    if "authorization_code" not in c.grant_types:
        out.append(
            ("grant_types", f"{name} is the authorization code flow (SWE-P §2)", ("profile",))
        )
    if not c.require_pkce:
        out.append(("require_pkce", f"{name} requires PKCE with S256 (SWE-P §2.1.8)", ("profile",)))
    if c.is_sweden_connect:
        if method != "private_key_jwt":
            out.append(
                (
                    "token_endpoint_auth_method",
                    "sweden-connect clients authenticate with private_key_jwt (SC-P §2.3.1)",
                    ("profile",),
                )
            )
        if c.allow_weaker_client_auth:
            out.append(
                ("allow_weaker_client_auth", "not allowed for sweden-connect (SC-P §2.3.1)", ())
            )
    elif method != "private_key_jwt" and not c.allow_weaker_client_auth:
        out.append(
            (
                "token_endpoint_auth_method",
                f"swedish-oidc clients authenticate with private_key_jwt (SWE-P §3.1.1); {method} "
                "needs allow_weaker_client_auth: true",
                ("profile", "allow_weaker_client_auth"),
            )
        )
    lifetime = c.id_token_lifetime_seconds
    if lifetime is not None and lifetime > PROFILE_ID_TOKEN_MAX_SECONDS:
        out.append(
            (
                "id_token_lifetime_seconds",
                f"at most {PROFILE_ID_TOKEN_MAX_SECONDS} under {name} (SWE-P §3.2.1.2)",
                ("profile",),
            )
        )
    if not c.is_sweden_connect:
        return out
    for key, value in (("client_name#sv", c.client_name_sv), ("client_name#en", c.client_name_en)):
        if not value:
            out.append((key, "required for sweden-connect (SC-P §3.2)", ("profile",)))
    for key, url in (("logo_uri", c.logo_uri), ("client_uri", c.client_uri)):
        if url is None:
            out.append((key, "required for sweden-connect: an https URL (SC-P §3.2)", ("profile",)))
        elif not url.startswith("https://"):
            out.append((key, "sweden-connect requires an https URL (SC-P §3.2)", ("profile",)))
    if not c.contacts:
        out.append(("contacts", "required for sweden-connect (SC-P §3.2)", ("profile",)))
    if session_lifetime is not None and session_lifetime > SWEDEN_CONNECT_SESSION_MAX_SECONDS:
        out.append(
            (
                "profile",
                f"sweden-connect needs session.lifetime_seconds of at most "
                f"{SWEDEN_CONNECT_SESSION_MAX_SECONDS} (SC-P §2.2.1), not {session_lifetime}",
                (),
            )
        )
    return out


def fapi2_problems(
    c: ClientSettings, *, key_algorithms: Sequence[str] | None = None
) -> list[tuple[str, str, tuple[str, ...]]]:
    """What in a `fapi2: true` entry contradicts the FAPI 2.0 Security Profile, as
    `profile_problems` gives them. `key_algorithms` is keys.algorithms (None: not known)."""
    if not c.fapi2:
        return []
    out: list[tuple[str, str, tuple[str, ...]]] = []
    algs = " or ".join(FAPI2_SIGNING_ALGS)
    # §5.3.2.1: "shall only support confidential clients"; "shall support [...] MTLS [...] or
    # private_key_jwt" (client certificates are not supported here).
    if c.token_endpoint_auth_method != "private_key_jwt":
        out.append(
            (
                "token_endpoint_auth_method",
                "fapi2 clients authenticate with private_key_jwt (FAPI 2.0 §5.3.2.1), not "
                f"{c.token_endpoint_auth_method}",
                ("fapi2",),
            )
        )
    # §5.3.2.2: "shall require [...] pushed authorization requests".
    if not c.require_pushed_authorization_requests:
        out.append(
            (
                "require_pushed_authorization_requests",
                "must be true for a fapi2 client (FAPI 2.0 §5.3.2.2)",
                ("fapi2",),
            )
        )
    # §5.3.2.1: "shall only issue sender-constrained access tokens".
    if not c.dpop_bound_access_tokens:
        out.append(
            (
                "dpop_bound_access_tokens",
                "must be true for a fapi2 client: sender-constrained tokens only "
                "(FAPI 2.0 §5.3.2.1)",
                ("fapi2",),
            )
        )
    if not c.require_pkce:
        out.append(("require_pkce", "fapi2 requires PKCE with S256 (FAPI 2.0 §5.3.2.2)", ()))
    if "authorization_code" not in c.grant_types:
        out.append(
            ("grant_types", "fapi2 is the authorization code flow (FAPI 2.0 §5.3.2.2)", ("fapi2",))
        )
    # §5.4.1: "shall use PS256, ES256 or EdDSA".
    for key, value in (
        ("id_token_signed_response_alg", c.id_token_signed_response_alg),
        ("userinfo_signed_response_alg", c.userinfo_signed_response_alg),
        ("introspection_signed_response_alg", c.introspection_signed_response_alg),
    ):
        if value is not None and value not in FAPI2_SIGNING_ALGS:
            out.append((key, f"{algs} for a fapi2 client (FAPI 2.0 §5.4.1), not {value}", ()))
    if key_algorithms is not None and not set(FAPI2_SIGNING_ALGS) & set(key_algorithms):
        out.append(
            (
                "fapi2",
                f"the provider has no {algs} signing key (keys.algorithms lists "
                f"{', '.join(key_algorithms) or 'none'}): add ES256 to keys.algorithms",
                (),
            )
        )
    return out


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
    # Same-device logins: what to do when the address of the device that completed the order
    # (completionData.device.ipAddress) is not the one that started it. `log` by default: the
    # returnUrl nonce already stops a relayed app link, and a hard check refuses people whose
    # browser and app leave by different addresses (iCloud Private Relay, VPNs, IPv4 and IPv6).
    same_device_ip_policy: Literal["ignore", "log", "refuse"] = "log"

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


class AcrSettings(_Strict):
    """Authentication context classes (idp.oidc.acr)."""

    # BankID logins meet the Swedish eID framework's self-declared
    # http://id.swedenconnect.se/loa/1.0/uncertified-loa3; true (only once Digg has reviewed
    # and approved this provider) adds http://id.elegnamnden.se/loa/1.0/loa3.
    certified_loa3: bool = False


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
    # Our keys for decrypting request objects (published with use "enc"), rotated with the
    # signing keys. RSA-OAEP is required by the Swedish OIDC Profile §7.1; [] turns them off.
    encryption_algorithms: list[EncryptionAlg] = ["RSA-OAEP"]


class ClientJwksSettings(_Strict):
    """Fetching clients' public keys from their jwks_uri."""

    cache_seconds: int = Field(default=300, ge=0, le=24 * 3600)
    # An unknown kid refetches the set (the client rotated), at most this often per client.
    refetch_interval_seconds: int = Field(default=30, ge=0, le=3600)
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    max_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024)
    # Fetch from loopback, private, link-local and other non-public addresses (SSRF guard).
    allow_private_addresses: bool = False


class RequestObjectSettings(_Strict):
    """Request objects (RFC 9101): how long one may live, and the tolerated clock skew."""

    max_lifetime_seconds: int = Field(default=3600, ge=1, le=3600)
    clock_skew_seconds: int = Field(default=10, ge=0, le=60)


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


class ParSettings(_Strict):
    """Pushed authorization requests (RFC 9126)."""

    # §5 require_pushed_authorization_requests, for every client.
    required: bool = False
    # §2.2: the request_uri's lifetime; short ("5 to 600 seconds"), used once.
    request_uri_lifetime_seconds: int = Field(default=60, ge=5, le=600)


class RateLimit(_Strict):
    """At most `count` requests in each window of `window_seconds`."""

    count: int = Field(ge=1, le=10_000_000)
    window_seconds: int = Field(default=60, ge=1, le=86_400)


class LimitsSettings(_Strict):
    """What one process takes on before it answers 503 with Retry-After (idp/web/overload.py)."""

    # Requests in progress at once in one process; more are refused at once as overload, not
    # queued until Redis or the database time out. Health checks and /metrics are not counted.
    # Most requests in progress wait (a status poll for BankID's collect answer), so the limit
    # bounds the backlog's memory; a process short of CPU is caught otherwise: requests are
    # refused while the event loop runs more than 0.5 s late with many in progress.
    max_in_flight: int = Field(default=1000, ge=1, le=100_000)

    # Rate limits shared by every instance (idp/web/ratelimit.py): at most `count` requests per
    # fixed window of `window_seconds`, then 429 with Retry-After until the window ends.
    authorize_per_address: RateLimit = Field(default_factory=lambda: RateLimit(count=60))
    bankid_start_per_address: RateLimit = Field(default_factory=lambda: RateLimit(count=10))
    token_per_client: RateLimit = Field(default_factory=lambda: RateLimit(count=600))
    par_per_client: RateLimit = Field(default_factory=lambda: RateLimit(count=600))
    ciba_per_client: RateLimit = Field(default_factory=lambda: RateLimit(count=600))
    # Failed client authentication at /token, /par and CIBA, per address; past it, that
    # address is refused until the window ends. (Per client_id alone, anyone could lock a
    # client out by naming it; the per-client limits above count per client and address.)
    client_auth_failures: RateLimit = Field(default_factory=lambda: RateLimit(count=30))
    # CIBA requests and person-restricted BankID orders per person (keyed by an HMAC of the
    # personal number): a client cannot push-bomb someone's phone.
    per_person: RateLimit = Field(default_factory=lambda: RateLimit(count=5, window_seconds=600))
    # BankID logins waiting at once (an order started, not yet ended), per address and in all.
    pending_logins_per_address: int = Field(default=20, ge=1, le=1_000_000)
    pending_logins_total: int = Field(default=5000, ge=1, le=10_000_000)

    def rules(self) -> dict[str, RateLimit]:
        """The counted limits by name (the `limit` label of idp_rate_limited_total)."""
        return {
            "authorize": self.authorize_per_address,
            "bankid_start": self.bankid_start_per_address,
            "token": self.token_per_client,
            "par": self.par_per_client,
            "ciba": self.ciba_per_client,
            "client_auth_failures": self.client_auth_failures,
            "person": self.per_person,
        }


class EvidenceSettings(_Strict):
    """Approval evidence (idp.oidc.evidence): how long the provider keeps what a person
    approved, and its signature, for the client that asked (POST /evidence)."""

    # Days a row is kept after the approval; then it is gone (404, and purged).
    retention_days: int = Field(default=365, ge=1, le=3650)


# --------------------------------------------------------------------------- console

#: The OIDC Sweden scope and claim of the personal number (Swedish OIDC Claims §2, §3); the
#: older names are the scope and claim ``ssn``.
NATURAL_PERSON_NUMBER_SCOPE: Final = "https://id.oidc.se/scope/naturalPersonNumber"
PERSONAL_IDENTITY_NUMBER_CLAIM: Final = "https://id.oidc.se/claim/personalIdentityNumber"

#: How a staff entry names a person by personal number without holding it (idp.console):
#: ``hmac-sha256:`` and the hex HMAC-SHA256, under console.staff_key, of the 12 digits.
STAFF_HMAC_PREFIX: Final = "hmac-sha256:"
_STAFF_HMAC = re.compile(r"hmac-sha256:[0-9a-f]{64}")


def staff_hmac(staff_key: str, personal_number: str) -> str:
    """The ``personal_number_hmac`` of a staff entry for `personal_number` (12 digits)."""
    mac = hmac.new(staff_key.encode("utf-8"), personal_number.encode("ascii"), hashlib.sha256)
    return STAFF_HMAC_PREFIX + mac.hexdigest()


class StaffMember(_Strict):
    """One person who may use the customer-service console: by the pseudonymous `sub` the
    console client receives, or by the keyed hash of their personal number (`staff_hmac`)."""

    sub: str | None = Field(default=None, min_length=1, max_length=255)
    personal_number_hmac: str | None = None
    name: str = Field(min_length=1, max_length=100)

    @field_validator("personal_number_hmac")
    @classmethod
    def _check_hmac(cls, value: str | None) -> str | None:
        if value is not None and not _STAFF_HMAC.fullmatch(value):
            raise ValueError(
                "expected hmac-sha256: and 64 lowercase hex digits (idp console-staff-hash)"
            )
        return value

    @model_validator(mode="after")
    def _one_identity(self) -> StaffMember:
        if (self.sub is None) == (self.personal_number_hmac is None):
            raise ValueError("give exactly one of sub and personal_number_hmac")
        return self


class ConsoleSettings(_Strict):
    """The customer-service console at /console (idp.console): an ordinary confidential client
    of a provider (this one in-process, or `provider_url`), for the listed staff."""

    enabled: bool = False
    client_id: str = Field(default="console", min_length=1, max_length=255)
    # The clear secret the console authenticates with; its clients entry holds the same.
    client_secret: Secret | None = None
    # Another provider to use over the network (its issuer URL); None: this one, in-process.
    provider_url: str | None = None
    staff: list[StaffMember] = Field(default_factory=list)
    # Operators also see every request of the console client (and may sign in).
    operators: list[StaffMember] = Field(default_factory=list)
    # The HMAC key of personal_number_hmac entries.
    staff_key: Secret | None = None
    # What staff may see of a caller (the CIBA request's scope).
    scopes: str = "openid profile"
    session_minutes: int = Field(default=30, ge=1, le=480)
    requests_per_staff: RateLimit = Field(
        default_factory=lambda: RateLimit(count=30, window_seconds=3600)
    )

    @field_validator("client_secret", "staff_key", mode="before")
    @classmethod
    def _wrap_secret(cls, value: Any) -> Any:
        return wrap_secret(value, 16)

    @field_validator("provider_url")
    @classmethod
    def _check_provider(cls, value: str | None) -> str | None:
        return None if value is None else _check_absolute_url(value).rstrip("/")

    @property
    def members(self) -> list[StaffMember]:
        """Everyone who may sign in: staff and operators."""
        return [*self.staff, *self.operators]

    @property
    def names_by_personal_number(self) -> bool:
        """Whether an entry names its person by personal number (sign-in then needs it)."""
        return any(m.personal_number_hmac for m in self.members)


# --------------------------------------------------------------------------- branding

#: What the accent colour is used on (idp.css): white button text on it, and it as link and
#: secondary-button text on the white card and on the page's background.
ACCENT_BACKGROUNDS: Final = (
    ("#ffffff", "white (button text on the accent; the accent as text on the card)"),
    ("#f4f5f7", "the page background #f4f5f7 (the accent as link text in the header)"),
)
#: WCAG 2.1 AA, 1.4.3: normal text needs a contrast ratio of at least 4.5:1.
MIN_CONTRAST: Final = 4.5
#: The kinds of file each branding setting takes (by suffix), and its largest size in bytes.
BRANDING_FILES: Final = {
    "logo": ((".svg", ".png"), 256 * 1024),
    "favicon": ((".svg", ".png", ".ico"), 64 * 1024),
    "extra_css": ((".css",), 64 * 1024),
}


def relative_luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of a #rrggbb colour."""
    channels = []
    for i in (1, 3, 5):
        c = int(colour[i : i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2.1 contrast ratio of two #rrggbb colours, 1 to 21."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _check_accent(value: str) -> str:
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        raise ValueError(f"expected a colour as #rrggbb, got {value!r}")
    value = value.lower()
    for background, where in ACCENT_BACKGROUNDS:
        ratio = contrast_ratio(value, background)
        if ratio < MIN_CONTRAST:
            raise ValueError(
                f"accent colour {value} has a contrast ratio of {ratio:.2f}:1 against "
                f"{where}; WCAG 2.1 AA needs at least {MIN_CONTRAST}:1 (choose a darker colour)"
            )
    return value


def _sniff(suffix: str, data: bytes) -> str | None:
    """What is wrong with `data` as a file of `suffix`, or None."""
    if suffix == ".png" and not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "not a PNG image"
    if suffix == ".ico" and not data.startswith(b"\x00\x00\x01\x00"):
        return "not an ICO image"
    if suffix in (".svg", ".css"):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return "not UTF-8 text"
        lowered = text.lower()
        if suffix == ".svg":
            if "<svg" not in lowered:
                return "not an SVG image"
            # Shown with <img> no script runs, but the file is also served on its own.
            if "<script" in lowered or re.search(r"\son[a-z]+\s*=", lowered):
                return "an SVG with script (<script> or on* attributes) is refused"
        elif "@import" in lowered or re.search(r"url\(\s*['\"]?\s*(https?:)?//", lowered):
            return (
                "loads from another site (@import or url() with an address), which the pages' "
                "Content-Security-Policy blocks; keep everything in this file (data: URLs work "
                "for images)"
            )
    return None


def _check_branding_file(kind: str, value: Path) -> Path:
    suffixes, limit = BRANDING_FILES[kind]
    if value.suffix.lower() not in suffixes:
        raise ValueError(f"expected a {' or '.join(suffixes)} file, got {str(value)!r}")
    try:
        data = value.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {str(value)!r}: {exc.strerror}") from None
    if len(data) > limit:
        raise ValueError(f"{str(value)!r} is {len(data)} bytes; at most {limit}")
    problem = _sniff(value.suffix.lower(), data)
    if problem:
        raise ValueError(f"{str(value)!r}: {problem}")
    return value


class BrandingSettings(_Strict):
    """The operator's look on every page (README "Branding"): name, logo, accent colour,
    favicon, links, and a CSS file. Files are read once at start, relative to the working
    directory, and served from this provider's own origin (the pages' CSP allows nothing
    else)."""

    organisation_name: str | None = Field(default=None, min_length=1, max_length=100)
    organisation_name_sv: str | None = Field(
        default=None, alias="organisation_name#sv", min_length=1, max_length=100
    )
    organisation_name_en: str | None = Field(
        default=None, alias="organisation_name#en", min_length=1, max_length=100
    )
    logo: Path | None = None
    favicon: Path | None = None
    extra_css: Path | None = None
    accent_colour: str | None = None
    website_url: str | None = None
    support_url: str | None = None
    privacy_url: str | None = None

    @field_validator("logo", "favicon", "extra_css")
    @classmethod
    def _check_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _check_branding_file(str(info.field_name), value)

    @field_validator("accent_colour")
    @classmethod
    def _check_colour(cls, value: str | None) -> str | None:
        return None if value is None else _check_accent(value)

    @field_validator("website_url", "support_url", "privacy_url")
    @classmethod
    def _check_link(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _check_absolute_url(value)
        if not value.startswith("https://"):
            raise ValueError(f"expected an https URL, got {value!r}")
        return value

    def organisation(self, locale: str) -> str | None:
        """The organisation's name in `locale` ("sv", "en"), or None."""
        localized = self.organisation_name_sv if locale == "sv" else self.organisation_name_en
        fallback = self.organisation_name or self.organisation_name_sv
        return localized or fallback or self.organisation_name_en


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
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    # A shared test deployment (https, but no real users): only then may an https issuer have
    # the BankID simulator, the demo or the demo CIBA client; `idp check-config` and `idp
    # serve` refuse them otherwise (idp.config.embedded.unsafe_deployment).
    test_deployment: bool = False
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    ciba: CibaSettings = Field(default_factory=CibaSettings)
    acr: AcrSettings = Field(default_factory=AcrSettings)
    client_jwks: ClientJwksSettings = Field(default_factory=ClientJwksSettings)
    request_objects: RequestObjectSettings = Field(default_factory=RequestObjectSettings)
    par: ParSettings = Field(default_factory=ParSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
    branding: BrandingSettings = Field(default_factory=BrandingSettings)
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
        return wrap_secret(value, 32)

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
