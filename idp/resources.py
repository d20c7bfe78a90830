"""The files the installed package carries besides its code: page templates, static files and
database migrations.

In the repository they are the top-level folders ``templates/``, ``static/`` and ``migrations/``;
the build installs them inside the package as ``idp.templates``, ``idp.static`` and
``idp.migrations`` (``pyproject.toml``), and an editable install maps the same names to the
folders. They are found by package name through :mod:`importlib.resources`, so a wheel installed
anywhere finds its own copy, whatever the working directory. They must lie on a file system
(Jinja2, Alembic and the static-file server read folders), which every pip install gives.
"""

from __future__ import annotations

import ast
import functools
import re
from importlib import resources
from pathlib import Path

__all__ = ["MissingResource", "migration_heads", "migrations", "static", "templates", "verify"]

#: Each resource folder: its package, and a file it must contain to be whole.
_FOLDERS = {
    "templates": ("idp.templates", "base.html"),
    "static": ("idp.static", "css/idp.css"),
    "migrations": ("idp.migrations", "env.py"),
}


class MissingResource(RuntimeError):
    """A resource folder of the package is not installed (a broken or partial install)."""


@functools.cache
def _folder(name: str) -> Path:
    package, marker = _FOLDERS[name]
    try:
        root = resources.files(package)
    except ModuleNotFoundError:
        root = None
    if not isinstance(root, Path) or not (root / marker).is_file():
        raise MissingResource(
            f"the installed idp package has no {name} ({package}/{marker} not found); "
            "reinstall idp from its wheel"
        )
    return root


def templates() -> Path:
    """The folder of Jinja2 page templates."""
    return _folder("templates")


def static() -> Path:
    """The folder of static files served at ``/static``."""
    return _folder("static")


def migrations() -> Path:
    """The Alembic script folder."""
    return _folder("migrations")


_REVISION = re.compile(r"^(revision|down_revision)(?:\s*:[^=\n]+)?\s*=\s*(.+)$", re.MULTILINE)


@functools.cache
def migration_heads() -> frozenset[str] | None:
    """The head revisions of the migrations, read from the scripts' ``revision`` and
    ``down_revision`` lines without loading Alembic (a start with a current schema does not
    need it); None when a script does not say them plainly (then ask Alembic)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in sorted((migrations() / "versions").glob("*.py")):
        found = dict(_REVISION.findall(script.read_text(encoding="utf-8")))
        try:
            revision = ast.literal_eval(found["revision"].strip())
            down = ast.literal_eval(found["down_revision"].strip())
        except (KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(down)
        elif down is not None:
            return None
    return frozenset(revisions - parents) or None


def verify() -> None:
    """Raise :class:`MissingResource` unless every resource folder is installed."""
    for name in _FOLDERS:
        _folder(name)
