"""The static files, installed as the package idp.static (see pyproject.toml); served through
idp.resources, which never serves this file."""
