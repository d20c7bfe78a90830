"""What a reload changes in a running provider: the clients, the scopes, and the scopes whose
claims the `claims` parameter may ask for. They live in one `Registry`, which every component
that needs them reads, so a reload (SIGHUP) that replaces them reaches all of them at once.

Everything else is `Settings`: frozen, read at start, changed only by a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from idp.config.schema import ClientSettings, Settings

#: The parts of `Settings` a reload puts in service; everything else takes a restart.
RELOADABLE = ("clients", "scopes", "claims_parameter_scopes")


@dataclass(frozen=True)
class Registrations:
    """The clients and scopes in service at one moment (immutable; a reload makes new ones)."""

    clients: tuple[ClientSettings, ...]
    #: Scope name -> the claims it releases.
    scopes: Mapping[str, tuple[str, ...]]
    #: Scopes whose claims a client may also ask for one by one (OIDC Core §5.5).
    claims_parameter_scopes: frozenset[str]
    _by_id: Mapping[str, ClientSettings] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id = MappingProxyType({c.client_id: c for c in self.clients})
        object.__setattr__(self, "_by_id", by_id)

    @classmethod
    def of(cls, settings: Settings) -> Registrations:
        return cls(
            clients=settings.clients,
            scopes=MappingProxyType({k: tuple(v) for k, v in settings.scopes.items()}),
            claims_parameter_scopes=frozenset(settings.claims_parameter_scopes),
        )

    def client(self, client_id: str) -> ClientSettings | None:
        return self._by_id.get(client_id)


@dataclass(frozen=True)
class Reloaded:
    """What a reload changed (client ids), and what it could not change without a restart."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    scopes_changed: bool
    needs_restart: tuple[str, ...]


class Registry:
    """The registrations in service, replaced as a whole by `replace`.

    Built from the settings the process started with; `replace` takes a newer, already
    validated `Settings` (the file read again) and puts its `RELOADABLE` parts in service. Its
    other values are only compared with the running ones and named as needing a restart.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._current = Registrations.of(settings)

    @property
    def current(self) -> Registrations:
        """The registrations in service now: read it once for a consistent view."""
        return self._current

    def client(self, client_id: str) -> ClientSettings | None:
        return self._current.client(client_id)

    def replace(self, new: Settings) -> Reloaded:
        """Put the clients and scopes of `new` in service (one assignment: every reader sees
        the old registrations or the new ones, never a mix)."""
        old, fresh = self._current, Registrations.of(new)
        before = {c.client_id: c for c in old.clients}
        after = {c.client_id: c for c in fresh.clients}
        self._current = fresh
        running = self._settings
        return Reloaded(
            added=tuple(sorted(after.keys() - before.keys())),
            removed=tuple(sorted(before.keys() - after.keys())),
            changed=tuple(sorted(k for k in before.keys() & after.keys() if before[k] != after[k])),
            scopes_changed=(old.scopes, old.claims_parameter_scopes)
            != (fresh.scopes, fresh.claims_parameter_scopes),
            needs_restart=tuple(
                name
                for name in Settings.model_fields
                if name not in (*RELOADABLE, "source")
                and getattr(running, name) != getattr(new, name)
            ),
        )
