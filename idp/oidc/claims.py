"""Scopes and claims: what a client may receive, from one mapping that operators configure.

Granted scopes are the requested ones narrowed to what the client may ask for (RFC 6749 §3.3:
the server may fully or partially ignore the requested scope); claims come from the
authenticator's result through the `scopes:` mapping, so a new scope needs no code. The
`claims` request parameter (OIDC Core §5.5) can ask for individual claims, but only claims of
the client's allowed scopes that are listed in `claims_parameter_scopes` (default: profile), so
the personal number is never released without its own scope.

The scopes come from the registrations in service (`idp.config.Registrations`), which a reload
replaces: callers pass the ones they read once for the request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from idp.config import ClientSettings, Registrations


def granted_scopes(
    requested: Iterable[str], client: ClientSettings, registered: Registrations
) -> list[str]:
    allowed = set(client.scopes) & set(registered.scopes)
    return [s for s in dict.fromkeys(requested) if s in allowed]


def requestable_claims(client: ClientSettings, registered: Registrations) -> set[str]:
    """Claims the `claims` parameter may ask for: those of the client's allowed scopes that
    operators marked as requestable one by one (never the personal number by default)."""
    scopes = set(client.scopes) & registered.claims_parameter_scopes
    return {c for s in scopes for c in registered.scopes.get(s, ())}


def scope_claims(scopes: Iterable[str], registered: Registrations) -> set[str]:
    return {c for s in scopes for c in registered.scopes.get(s, ())}


def parse_claims_request(raw: str | None) -> dict[str, Any]:
    """Validate the `claims` parameter: a JSON object with optional userinfo/id_token members."""
    if raw is None or raw == "":
        return {}
    try:
        value = json.loads(raw)
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
    """The claims of `available` that the scopes (plus permitted individual requests) release."""
    names = scope_claims(scopes, registered) | (set(extra) & requestable_claims(client, registered))
    names -= {"sub"}
    return {k: available[k] for k in sorted(names) if k in available}
