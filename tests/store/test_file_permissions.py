"""Data at rest on disk (issue 14): the embedded default's SQLite file is created owner-only."""

import stat

from idp.store.db import make_engine


def test_a_new_sqlite_database_is_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "data" / "idp.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect():
        pass
    engine.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
