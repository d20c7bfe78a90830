"""Without `secret_key`, signing keys are encrypted at rest with a generated key-encryption
secret kept next to the database, readable by its owner only (issue 14, personal data at rest)."""

import json
import os
import sqlite3
import stat
import subprocess

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from idp.app import create_app
from idp.clock import FixedClock
from idp.config import KeySettings, Secret, embedded_default
from idp.keys import SigningKeys
from idp.store.db import make_engine, make_sessionmaker
from idp.store.migrate import upgrade
from tests.foundation.test_quickstart import IDP, free_port, start, stop

SECRET = "data/key-encryption-secret"


@pytest.fixture
def here(tmp_path, monkeypatch):
    """The embedded default's folder: its data/ is made here."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def start_embedded():
    """What `idp serve` does on the embedded default before serving; the JWKS kids."""
    app = create_app(embedded_default())
    rt = app.state.runtime
    kids = {k["kid"] for k in rt.keys.jwks()["keys"]}
    rt.engine.dispose()
    return kids


def stored_keys(folder):
    with sqlite3.connect(folder / "data" / "idp.db") as db:
        return db.execute("SELECT kid, private_pem, public_jwk FROM signing_keys").fetchall()


def assert_no_private_key_in_clear(folder):
    rows = stored_keys(folder)
    assert len(rows) == 3  # RS256, ES256, RSA-OAEP
    for _kid, private_pem, public_jwk in rows:
        assert "BEGIN PRIVATE KEY" not in private_pem
        assert private_pem.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert "d" not in json.loads(public_jwk)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def env():
    return {k: v for k, v in os.environ.items() if k != "IDP_CONFIG"}


def test_embedded_default_stores_no_private_key_in_clear_and_keeps_its_secret_owner_only(here):
    kids = start_embedded()
    assert_no_private_key_in_clear(here)
    assert mode(here / SECRET) == 0o600
    assert mode(here / "data" / "idp.db") == 0o600
    assert len((here / SECRET).read_text().strip()) >= 32
    # A restart reads the same keys with the same secret.
    assert start_embedded() == kids
    assert_no_private_key_in_clear(here)


def test_keys_stored_in_clear_by_an_earlier_version_are_encrypted_on_start(here):
    engine = make_engine("sqlite:///data/idp.db")
    upgrade(engine)
    # What an earlier version wrote without secret_key: PKCS#8 private keys in clear.
    SigningKeys(make_sessionmaker(engine), FixedClock(), KeySettings()).ensure()
    engine.dispose()
    before = {kid: pem for kid, pem, _ in stored_keys(here)}
    assert all(pem.startswith("-----BEGIN PRIVATE KEY-----") for pem in before.values())

    kids = start_embedded()

    assert_no_private_key_in_clear(here)
    # Nor is any line of the keys in clear left in the file (a free page, an old row).
    raw = (here / "data" / "idp.db").read_bytes()
    assert not [
        line for pem in before.values() for line in pem.splitlines() if line.encode() in raw
    ]
    assert kids == set(before)  # the same keys, never lost: only their storage changed
    # The secret file opens them, and they sign as the keys stored in clear did.
    engine = make_engine("sqlite:///data/idp.db")
    secret = Secret((here / SECRET).read_text().strip())
    keys = SigningKeys(
        make_sessionmaker(engine), FixedClock(), KeySettings(), encryption_secret=secret
    )
    for alg in ("RS256", "ES256"):
        token = keys.sign({"sub": "x"}, alg)
        kid = jwt.get_unverified_header(token)["kid"]
        clear = serialization.load_pem_private_key(before[kid].encode(), password=None)
        assert jwt.decode(token, clear.public_key(), algorithms=[alg]) == {"sub": "x"}
    engine.dispose()


def test_a_secret_file_others_can_read_is_refused_in_one_line(here):
    start_embedded()
    os.chmod(here / SECRET, 0o644)
    result = subprocess.run(
        [IDP, "keys", "list"], cwd=here, env=env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "key-encryption-secret" in result.stderr and "chmod 600" in result.stderr
    assert mode(here / SECRET) == 0o644  # not silently tightened: the operator decides


def test_keys_list_and_serve_from_another_folder(tmp_path):
    first, other = tmp_path / "first", tmp_path / "other"
    first.mkdir()
    other.mkdir()
    port = free_port()
    proc = start(first, port)
    try:
        jwks = httpx.get(f"http://127.0.0.1:{port}/jwks").json()
    finally:
        stop(proc)
    kids = {k["kid"] for k in jwks["keys"]}
    assert_no_private_key_in_clear(first)
    assert mode(first / SECRET) == 0o600

    listing = subprocess.run(
        [IDP, "keys", "list"], cwd=first, env=env(), capture_output=True, text=True, timeout=60
    )
    assert listing.returncode == 0, listing.stderr
    assert all(kid in listing.stdout for kid in kids)

    # Another folder is another embedded default: its own database, its own secret.
    listing = subprocess.run(
        [IDP, "keys", "list"], cwd=other, env=env(), capture_output=True, text=True, timeout=60
    )
    assert listing.returncode == 0, listing.stderr
    port = free_port()
    proc = start(other, port)
    try:
        jwks = httpx.get(f"http://127.0.0.1:{port}/jwks").json()
    finally:
        stop(proc)
    assert_no_private_key_in_clear(other)
    assert mode(other / SECRET) == 0o600
    assert (other / SECRET).read_text() != (first / SECRET).read_text()
    assert not kids & {k["kid"] for k in jwks["keys"]}
