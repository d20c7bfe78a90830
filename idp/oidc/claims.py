"""Scopes and claims: what a client may receive, and where (ID token or UserInfo).

Granted scopes are the requested ones narrowed to what the client may ask for (RFC 6749 §3.3:
the server may fully or partially ignore the requested scope); claims come from the
authenticator's result through the `scopes:` mapping, so a new scope needs no code. The
`claims` request parameter (OIDC Core §5.5) can ask for individual claims, but only claims of
the client's allowed scopes that are listed in `claims_parameter_scopes` (default: profile), so
the personal number is never released without its own scope.

The Swedish OIDC Profile 1.0 §4.2: "no identity claims unless requested by scope/claims [...]
(sub and non-identifying transaction/process claims exempt)", and the location rule: "the
`claims` parameter's destination wins; else the scope's rule; else UserInfo. A claim put in the
ID token by `claims`, whose scope says UserInfo, must also be at UserInfo." The scopes' rules
(Swedish OIDC Claims and Scopes 1.0) are rules per claim, which `default_location` holds:

* the personal number (`naturalPersonNumber` §3.2, and its older name `ssn`): ID token and
  UserInfo;
* authentication information (§2.3: "should be in the ID token, not UserInfo"): ID token;
* everything else (`naturalPersonInfo` §3.1, `profile`, ...): UserInfo for a client held to the
  profile; for other clients both, as this provider always did.

Authentication information is released without a scope: `authnProvider` and `txn` (process
claims) to every client, `deviceIp` and the credential's validity to clients held to the profile
or that ask for them with `claims`.

The scopes come from the registrations in service (`idp.config.Registrations`), which a reload
replaces: callers pass the ones they read once for the request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from idp.authn import safejson
from idp.authn.approval import EVIDENCE_CLAIMS
from idp.config import (
    NATURAL_PERSON_NUMBER_SCOPE,
    PERSONAL_IDENTITY_NUMBER_CLAIM,
    ClientSettings,
    Registrations,
)

SCOPE_NATURAL_PERSON_NUMBER: Final = NATURAL_PERSON_NUMBER_SCOPE
SCOPE_NATURAL_PERSON_INFO: Final = "https://id.oidc.se/scope/naturalPersonInfo"
PERSONAL_IDENTITY_NUMBER: Final = PERSONAL_IDENTITY_NUMBER_CLAIM
COORDINATION_NUMBER: Final = "https://id.oidc.se/claim/coordinationNumber"
AUTHN_PROVIDER: Final = "https://id.oidc.se/claim/authnProvider"
DEVICE_IP: Final = "https://id.oidc.se/claim/deviceIp"
CREDENTIAL_VALID_FROM: Final = "https://id.oidc.se/claim/credentialValidFrom"
CREDENTIAL_VALID_TO: Final = "https://id.oidc.se/claim/credentialValidTo"
TXN: Final = "txn"  # RFC 8417 §2.2 transaction identifier (Sweden Connect: transactionIdentifier)

ID_TOKEN: Final = "id_token"
USERINFO: Final = "userinfo"
BOTH: Final = frozenset({ID_TOKEN, USERINFO})

#: Non-identifying process claims: released to every client, in the ID token.
PROCESS_CLAIMS: Final = frozenset({AUTHN_PROVIDER, TXN})
#: Authentication information about the person's device and credential.
AUTHENTICATION_INFO: Final = frozenset({DEVICE_IP, CREDENTIAL_VALID_FROM, CREDENTIAL_VALID_TO})
AUTHENTICATION_CLAIMS: Final = PROCESS_CLAIMS | AUTHENTICATION_INFO
#: In the ID token and at UserInfo (SWE-C §3.2).
PERSON_NUMBERS: Final = frozenset({PERSONAL_IDENTITY_NUMBER, COORDINATION_NUMBER, "ssn"})


def granted_scopes(
    requested: Iterable[str], client: ClientSettings, registered: Registrations
) -> list[str]:
    allowed = set(client.scopes) & set(registered.scopes)
    return [s for s in dict.fromkeys(requested) if s in allowed]


def requestable_claims(client: ClientSettings, registered: Registrations) -> set[str]:
    """Claims the `claims` parameter may ask for: those of the client's allowed scopes that
    operators marked as requestable one by one (never the personal number by default), and the
    authentication information (not identity claims)."""
    scopes = set(client.scopes) & registered.claims_parameter_scopes
    return {c for s in scopes for c in registered.scopes.get(s, ())} | AUTHENTICATION_CLAIMS


def scope_claims(scopes: Iterable[str], registered: Registrations) -> set[str]:
    return {c for s in scopes for c in registered.scopes.get(s, ())}


def parse_claims_request(raw: str | None) -> dict[str, Any]:
    """Validate the `claims` parameter: a JSON object with optional userinfo/id_token members."""
    if raw is None or raw == "":
        return {}
    try:
        value = safejson.loads(raw)
    except ValueError:
        raise ValueError("claims is not valid JSON") from None
    if not isinstance(value, dict):
        raise ValueError("claims must be a JSON object")
    out: dict[str, Any] = {}
    for target in ("userinfo", "id_token"):
        member = value.get(target)
        if member is None:
            continue
        if not isinstance(member, dict) or not all(
            v is None or isinstance(v, dict) for v in member.values()
        ):
            raise ValueError(f"claims.{target} must map claim names to null or objects")
        out[target] = member
    return out


def requested_names(claims_request: Mapping[str, Any], target: str) -> set[str]:
    return set(claims_request.get(target, {}) or {})


def release(
    available: Mapping[str, Any],
    scopes: Iterable[str],
    registered: Registrations,
    client: ClientSettings,
    extra: Iterable[str] = (),
) -> dict[str, Any]:
    """The claims of `available` that the scopes (plus permitted individual requests, plus the
    authentication claims this client gets anyway) release; wherever they go."""
    names = scope_claims(scopes, registered) | (set(extra) & requestable_claims(client, registered))
    names |= PROCESS_CLAIMS
    if client.held_to_profile:
        names |= AUTHENTICATION_INFO
    names -= {"sub"}
    return {k: available[k] for k in sorted(names) if k in available}


def default_location(claim: str, client: ClientSettings) -> frozenset[str]:
    """Where a claim released by a scope (or without one) goes when `claims` does not say."""
    if claim in AUTHENTICATION_CLAIMS or claim in EVIDENCE_CLAIMS:
        return frozenset({ID_TOKEN})
    if claim in PERSON_NUMBERS or not client.held_to_profile:
        return BOTH
    return frozenset({USERINFO})


def for_id_token(
    released: Mapping[str, Any], claims_request: Mapping[str, Any], client: ClientSettings
) -> dict[str, Any]:
    """The released claims that belong in the ID token: those `claims` asks for there, and,
    unless `claims` sends them to UserInfo instead, those whose rule says ID token."""
    asked_here = requested_names(claims_request, ID_TOKEN)
    asked_there = requested_names(claims_request, USERINFO)
    return {
        k: v
        for k, v in released.items()
        if k in asked_here or (k not in asked_there and ID_TOKEN in default_location(k, client))
    }


def for_userinfo(
    released: Mapping[str, Any], claims_request: Mapping[str, Any], client: ClientSettings
) -> dict[str, Any]:
    """The released claims (of the granted scopes and of `claims`' userinfo member) that belong
    at UserInfo: those `claims` asks for there, and those whose rule says UserInfo (a scope's
    UserInfo claim stays there even when `claims` also put it in the ID token)."""
    asked_here = requested_names(claims_request, USERINFO)
    return {
        k: v
        for k, v in released.items()
        if (k in asked_here or USERINFO in default_location(k, client))
        and k not in EVIDENCE_CLAIMS  # an approval's evidence is the ID token's alone
    }


def evidence_of(auth_claims: Mapping[str, Any]) -> dict[str, Any]:
    """An approval's evidence among a grant's claims (idp.authn.approval.EVIDENCE_CLAIMS): it
    goes to the ID token whatever the scopes (Signature Extension §5.2)."""
    return {k: v for k, v in auth_claims.items() if k in EVIDENCE_CLAIMS}


def supported_claims(registered: Registrations) -> list[str]:
    """Discovery `claims_supported`: the scopes' claims and the authentication claims."""
    scoped = {c for cs in registered.scopes.values() for c in cs}
    standard = {"iss", "sub", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "sid"}
    return sorted(scoped | standard | AUTHENTICATION_CLAIMS)
