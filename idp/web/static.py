"""The static files at ``/static``: only the kinds of file a page loads, from the package."""

from __future__ import annotations

import os
from pathlib import PurePosixPath

from starlette.staticfiles import StaticFiles

from idp import resources

#: What a page may load. Anything else in the folder (its package marker ``__init__.py``) is 404.
SERVED_SUFFIXES = frozenset({".css", ".js", ".svg", ".png", ".ico", ".woff2"})


class PackageStaticFiles(StaticFiles):
    def __init__(self) -> None:
        super().__init__(directory=str(resources.static()))

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if PurePosixPath(path).suffix.lower() not in SERVED_SUFFIXES:
            return "", None
        return super().lookup_path(path)
