"""Reading a configuration file: YAML, `${VAR}` interpolation, validation, and the problems.

This is the only module of idp that reads the environment (for `${VAR}` interpolation and
`IDP_CONFIG`). Every problem names the file, the path inside it and what was expected, and all
problems of a file are reported together, every time, so an operator fixes a file in one round:
an undefined variable is reported and a stand-in value lets the checks go on, and a value that
is invalid leaves the rest of its entry checked (without complaints that only that value
explains).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ValidationError

from idp.config.schema import (
    CIBA_GRANT,
    DEFAULT_SCOPES,
    GRANT_TYPES_CONTEXT,
    NATURAL_PERSON_NUMBER_SCOPE,
    ClientSettings,
    Settings,
    fapi2_problems,
    profile_problems,
    unknown_grant_type,
)


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


# --------------------------------------------------------------------------- YAML


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


# --------------------------------------------------------------------------- ${VAR}

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: What an undefined variable is replaced with, so that the checks go on: long enough for a
#: secret, and a valid host name inside a URL. A file with an undefined variable is refused, so
#: it never reaches a running provider.
UNDEFINED_STAND_IN = "undefined-environment-variable-stand-in"


def _interpolate(node: Any, env: Mapping[str, str], path: str, issues: list[ConfigIssue]) -> Any:
    if isinstance(node, str):

        def repl(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name = m.group(1)
            if name not in env:
                issues.append(ConfigIssue(path, f"environment variable ${{{name}}} is not set"))
                return UNDEFINED_STAND_IN
            return env[name]

        return _VAR.sub(repl, node)
    if isinstance(node, dict):
        return {k: _interpolate(v, env, _join(path, k), issues) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env, f"{path}[{i}]", issues) for i, v in enumerate(node)]
    return node


# --------------------------------------------------------------------------- paths


def _join(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _natural_key(path: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path)]


def _loc_path(prefix: str, loc: Iterable[str | int]) -> str:
    path = prefix
    for part in loc:
        path = _join(path, part)
    return path


def _keys_under(prefix: str, issues: Iterable[ConfigIssue]) -> set[str]:
    """The keys directly under `prefix` that have a problem somewhere inside them."""
    start = f"{prefix}." if prefix else ""
    keys = set()
    for issue in issues:
        if issue.path.startswith(start):
            key = re.split(r"[.\[]", issue.path[len(start) :], maxsplit=1)[0]
            if key:
                keys.add(key)
    return keys


# --------------------------------------------------------------------------- pydantic errors


def _model_fields(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """Field names valid at `loc` inside `model` (for 'did you mean' hints)."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        field = current.model_fields.get(part)
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
    if current is None:
        return []
    return [f.alias or name for name, f in current.model_fields.items()]  # as files spell them


@dataclass(frozen=True)
class _Invalid:
    """What validation found wrong in one entry: the problems, and the keys whose values are
    in doubt (an invalid value, or the key a misspelled one most likely meant)."""

    issues: list[ConfigIssue]
    keys: set[str]


def _pydantic_issues(exc: ValidationError, prefix: str, model: type[BaseModel]) -> _Invalid:
    issues = []
    keys: set[str] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if loc and isinstance(loc[0], str):
            keys.add(loc[0])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            known = _model_fields(model, loc)
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            msg = "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
            if close and len(loc) == 1:
                keys.add(close[0])
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["type"] == "literal_error":
            msg = msg.replace("Input should be", "expected")
        issues.append(ConfigIssue(_loc_path(prefix, loc), msg))
    return _Invalid(issues, keys)


# --------------------------------------------------------------------------- clients


def _validate_client(
    entry: Any, path: str, context: dict[str, Any]
) -> tuple[ClientSettings | None, _Invalid]:
    """The entry as a client, with what is wrong with it. An entry with invalid values is
    validated again without them (defaults stand in), so that the rules between its values
    can still be checked: then the client is returned along with the problems."""
    try:
        return ClientSettings.model_validate(entry, context=context), _Invalid([], set())
    except ValidationError as exc:
        invalid = _pydantic_issues(exc, path, ClientSettings)
    if not isinstance(entry, dict):
        return None, invalid
    rest = {k: v for k, v in entry.items() if k not in invalid.keys}
    rest.setdefault("client_id", "?")  # no rule reads it
    try:
        return ClientSettings.model_validate(rest, context=context), invalid
    except ValidationError:
        return None, invalid


def client_issues(
    c: ClientSettings,
    path: str,
    scopes: Collection[str] | None,
    unsure: Collection[str] = (),
    *,
    session_lifetime: int | None = None,
    key_algorithms: Sequence[str] | None = None,
) -> list[ConfigIssue]:
    """The rules between a client's values. A rule that reads a key in `unsure` (its value was
    invalid or undefined, and is reported already) is skipped: a default stands in for that
    value, and a complaint about the default would be noise. `scopes` are the defined scope
    names, or None if the top-level `scopes` is itself in doubt."""
    issues: list[ConfigIssue] = []
    grants = set(c.grant_types)
    auth = c.token_endpoint_auth_method

    def add(key: str, msg: str, *reads: str) -> None:
        if not {key, *reads} & set(unsure):
            issues.append(ConfigIssue(_join(path, key), msg))

    method = "token_endpoint_auth_method"
    if "authorization_code" in grants and not c.redirect_uris:
        add(
            "redirect_uris",
            "a client with grant type authorization_code needs at least one",
            "grant_types",
        )
    if auth in ("client_secret_basic", "client_secret_post") and c.client_secret is None:
        add("client_secret", f"required for token_endpoint_auth_method {auth}", method)
    if auth in ("none", "private_key_jwt") and c.client_secret is not None:
        add("client_secret", f"not used with token_endpoint_auth_method {auth}; remove it", method)
    if auth == "private_key_jwt" and not (c.jwks or c.jwks_uri):
        add(
            "jwks",
            "private_key_jwt needs the client's public keys in jwks or jwks_uri",
            method,
            "jwks_uri",
        )
    if c.jwks and c.jwks_uri:
        add("jwks_uri", "give jwks or jwks_uri, not both (RFC 7591 §2)", "jwks")
    if c.jwks is not None and not isinstance(c.jwks.get("keys"), list):
        add("jwks", "expected a JWK Set: an object with a 'keys' list")
    if auth == "none" and not c.require_pkce:
        add("require_pkce", "a public client can never opt out of PKCE (RFC 9700 §2.1.1)", method)
    if auth == "none" and "client_credentials" in grants:
        add("grant_types", "client_credentials needs a confidential client", method)
    if "refresh_token" in grants and not ({"authorization_code", CIBA_GRANT} & grants):
        add("grant_types", "refresh_token needs authorization_code or the CIBA grant")
    if CIBA_GRANT in grants:
        if auth == "none":
            add(method, "CIBA clients must authenticate (CIBA Core §7.1)", "grant_types")
        if c.backchannel_token_delivery_mode is None:
            add(
                "backchannel_token_delivery_mode",
                "required for the CIBA grant: poll or ping",
                "grant_types",
            )
    if (
        c.backchannel_token_delivery_mode == "ping"
        and not c.backchannel_client_notification_endpoint
    ):
        add(
            "backchannel_client_notification_endpoint",
            "required for ping delivery",
            "backchannel_token_delivery_mode",
        )
    if scopes is not None:
        for scope in c.scopes:
            if scope not in scopes:
                add("scope", f"scope {scope!r} is not defined under the top-level scopes")
    if "openid" not in c.scopes:
        add("scope", "must include openid")
    if c.subject_type == "pairwise" and c.pairwise_sector is None:
        hosts = {urlsplit(u).hostname for u in c.redirect_uris}
        if len(hosts) > 1:
            add(
                "pairwise_sector",
                "redirect URIs span several hosts; name the sector",
                "subject_type",
                "redirect_uris",
            )
    # The profile a client declares (profile: swedish-oidc | sweden-connect).
    for key, message, reads in profile_problems(c, session_lifetime=session_lifetime):
        add(key, message, *reads)
    # FAPI 2.0 Security Profile mode (fapi2: true).
    for key, message, reads in fapi2_problems(c, key_algorithms=key_algorithms):
        add(key, message, *reads)
    return issues


def unknown_grant_types(settings: Settings, known: Collection[str]) -> list[ConfigIssue]:
    """The clients' grant types that are not among `known`, as parse_settings reports them
    (for settings validated without the served grant types)."""
    message = unknown_grant_type(tuple(known))
    return [
        ConfigIssue(f"clients[{i}].grant_types[{j}]", message)
        for i, c in enumerate(settings.clients)
        for j, grant_type in enumerate(c.grant_types)
        if grant_type not in known
    ]


# --------------------------------------------------------------------------- the console


def console_issues(settings: Settings, clients: Sequence[ClientSettings]) -> list[ConfigIssue]:
    """The rules between console: and the rest (idp.console). Its client is checked here only
    when it is one of ours (no provider_url): confidential, with the code flow back to
    {issuer}/console/callback and the CIBA grant, and every console scope among its own."""
    console = settings.console
    if not console.enabled:
        return []
    issues: list[ConfigIssue] = []
    if not console.members:
        issues.append(ConfigIssue("console.staff", "the console is enabled but lists no staff"))
    if console.client_secret is None:
        issues.append(ConfigIssue("console.client_secret", "required when the console is on"))
    for group in ("staff", "operators"):
        for i, member in enumerate(getattr(console, group)):
            if member.personal_number_hmac is not None and console.staff_key is None:
                issues.append(
                    ConfigIssue(
                        f"console.{group}[{i}].personal_number_hmac",
                        "needs console.staff_key (the key the hash was made with)",
                    )
                )
    if "openid" not in console.scopes.split():
        issues.append(ConfigIssue("console.scopes", "must include openid"))
    if console.provider_url is not None:
        return issues
    client = next((c for c in clients if c.client_id == console.client_id), None)
    if client is None:
        issues.append(
            ConfigIssue("console.client_id", f"no client {console.client_id!r} under clients")
        )
        return issues
    where = f"console.client_id ({console.client_id})"
    if client.is_public or client.token_endpoint_auth_method == "private_key_jwt":
        issues.append(
            ConfigIssue(where, "the console's client must authenticate with client_secret_basic")
        )
    elif (
        console.client_secret is not None
        and client.client_secret is not None
        and not client.client_secret.verify(console.client_secret.get())
    ):
        issues.append(
            ConfigIssue("console.client_secret", "is not the client_secret of its client entry")
        )
    for grant in ("authorization_code", CIBA_GRANT):
        if grant not in client.grant_types:
            issues.append(ConfigIssue(where, f"the console's client needs grant type {grant}"))
    callback = f"{settings.issuer}/console/callback"
    if callback not in client.redirect_uris:
        issues.append(ConfigIssue(where, f"the console's client needs redirect_uri {callback}"))
    beyond = [s for s in console.scopes.split() if s not in client.scopes]
    if beyond:
        issues.append(
            ConfigIssue("console.scopes", f"beyond its client's scope: {' '.join(beyond)}")
        )
    if console.names_by_personal_number and not {"ssn", NATURAL_PERSON_NUMBER_SCOPE} & set(
        client.scopes
    ):
        issues.append(
            ConfigIssue(where, "staff named by personal_number_hmac need scope ssn on the client")
        )
    return issues


# --------------------------------------------------------------------------- the file


def parse_settings(
    raw: Any,
    *,
    source: str,
    environ: Mapping[str, str] | None = None,
    grant_types: Collection[str] | None = None,
) -> Settings:
    """Validate a parsed YAML document; raise ConfigError with every problem found.

    `grant_types` are the grant types the token endpoint serves (the grant registry's names,
    given by the app or the CLI): a client may name only those. None checks no names."""
    env = os.environ if environ is None else environ
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, [ConfigIssue("", "expected a mapping at the top level")])
    undefined: list[ConfigIssue] = []
    raw = _interpolate(raw, env, "", undefined)
    issues: list[ConfigIssue] = []
    raw_clients = raw.pop("clients", [])
    if not isinstance(raw_clients, list):
        issues.append(ConfigIssue("clients", "expected a list of client entries"))
        raw_clients = []

    settings: Settings | None = None
    unsure = _keys_under("", undefined)
    try:
        settings = Settings.model_validate({**raw, "source": source})
    except ValidationError as exc:
        invalid = _pydantic_issues(exc, "", Settings)
        issues += invalid.issues
        unsure |= invalid.keys
    scopes: Collection[str] | None
    if settings is not None:
        scopes = settings.scopes
    elif "scopes" in unsure:
        scopes = None  # the clients' scopes cannot be checked against it
    else:
        scopes = {**DEFAULT_SCOPES, **(raw.get("scopes") or {})}

    context = {} if grant_types is None else {GRANT_TYPES_CONTEXT: tuple(grant_types)}
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
        client, invalid = _validate_client(entry, path, context)
        issues += invalid.issues
        if client is None:
            continue
        in_doubt = invalid.keys | _keys_under(path, undefined)
        lifetime = None if settings is None else settings.session.lifetime_seconds
        algs = None if settings is None else settings.keys.algorithms
        issues += client_issues(
            client, path, scopes, in_doubt, session_lifetime=lifetime, key_algorithms=algs
        )
        clients.append(client)

    if settings is not None and "console" not in unsure:
        issues += console_issues(settings, clients)

    # A missing ${VAR} already explains any other complaint about the same value.
    explained = {i.path for i in undefined}
    issues = undefined + [i for i in issues if i.path not in explained]
    if issues or settings is None:
        issues.sort(key=lambda i: _natural_key(i.path))
        raise ConfigError(source, issues)
    return settings.model_copy(update={"clients": tuple(clients)})


def load_settings(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    grant_types: Collection[str] | None = None,
) -> Settings:
    """Read and validate a YAML configuration file (`grant_types`: as for parse_settings)."""
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
    return parse_settings(raw, source=source, environ=environ, grant_types=grant_types)


def config_path_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return env.get("IDP_CONFIG") or None
