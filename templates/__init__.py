"""The page templates, installed as the package idp.templates (see pyproject.toml); read them
through idp.resources, never by path."""
