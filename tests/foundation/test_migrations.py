"""Migrations create the schema on SQLite and PostgreSQL, and agree with the models."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from idp.store.db import make_engine
from idp.store.migrate import upgrade
from idp.store.models import Base


def _assert_models_match_migrations(url):
    engine = make_engine(url)
    try:
        upgrade(engine)
        upgrade(engine)  # idempotent
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
    finally:
        engine.dispose()


def test_schema_from_migrations_matches_models_on_sqlite(sqlite_url):
    _assert_models_match_migrations(sqlite_url)


@pytest.mark.postgres
def test_schema_from_migrations_matches_models_on_postgresql(postgres_url):
    _assert_models_match_migrations(postgres_url)


def test_a_model_change_without_migration_is_detected(sqlite_url):
    """The agreement check can fail: an extra column on the models shows up as a diff."""
    from sqlalchemy import Column, Integer, MetaData, Table

    engine = make_engine(sqlite_url)
    try:
        upgrade(engine)
        extra = MetaData()
        for table in Base.metadata.tables.values():
            table.to_metadata(extra)
        Table("signing_keys", extra, Column("surprise", Integer), extend_existing=True)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), extra)
        assert any(d[0] == "add_column" for d in diff)
    finally:
        engine.dispose()


def test_the_quick_schema_check_agrees_with_alembic(sqlite_url):
    """`idp serve` checks the schema without loading Alembic; it must see what Alembic sees."""
    from alembic.script import ScriptDirectory

    from idp.resources import migration_heads
    from idp.store.db import schema_is_current
    from idp.store.migrate import alembic_config

    heads = ScriptDirectory.from_config(alembic_config(sqlite_url)).get_heads()
    assert migration_heads() == frozenset(heads)
    engine = make_engine(sqlite_url)
    try:
        assert not schema_is_current(engine)  # a new database: no alembic_version yet
        upgrade(engine, "0001")
        assert not schema_is_current(engine)
        upgrade(engine)
        assert schema_is_current(engine)
    finally:
        engine.dispose()
