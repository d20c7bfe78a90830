"""The Alembic migrations, installed as the package idp.migrations (see pyproject.toml); run by
idp.store.migrate."""
