"""Signing keys: generated once, kept across restarts, rotated publish-before-use."""

import jwt
import pytest

from idp.clock import FixedClock
from idp.config import KeySettings, Secret
from idp.keys import SigningKeys
from idp.store.db import make_engine, make_sessionmaker
from idp.store.migrate import upgrade
from idp.store.models import SigningKey

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


@pytest.fixture
def sessions(sqlite_url):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def make_keys(sessions, clock, **kw):
    return SigningKeys(sessions, clock, KeySettings(**kw), encryption_secret=kw.pop("secret", None))


def test_keys_are_generated_once_and_survive_a_restart(sessions):
    clock = FixedClock()
    first = make_keys(sessions, clock)
    created = first.ensure()
    assert len(created) == 3  # RS256 and ES256 signing, RSA-OAEP encryption (request objects)
    again = make_keys(sessions, clock)  # a new process on the same database
    assert again.ensure() == []
    assert {k["kid"] for k in again.jwks()["keys"]} == set(created)


def test_jwks_holds_public_keys_only(sessions):
    keys = make_keys(sessions, FixedClock())
    keys.ensure()
    for jwk in keys.jwks()["keys"]:
        assert not PRIVATE_MEMBERS & set(jwk)
        assert jwk["kid"]
        assert (jwk["use"], jwk["alg"]) in {("sig", "RS256"), ("sig", "ES256"), ("enc", "RSA-OAEP")}


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_tokens_carry_kid_and_verify(sessions, alg):
    clock = FixedClock()
    keys = make_keys(sessions, clock)
    keys.ensure()
    token = keys.sign({"iss": "https://id", "exp": clock.now() + 60}, alg)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == alg and header["kid"] in {k["kid"] for k in keys.jwks()["keys"]}
    assert keys.verify(token, issuer="https://id")["iss"] == "https://id"
    clock.advance(61)
    with pytest.raises(jwt.ExpiredSignatureError):
        keys.verify(token, issuer="https://id")


def test_rotation_publishes_before_use_and_keeps_old_keys_for_the_grace_period(sessions):
    clock = FixedClock()
    keys = make_keys(sessions, clock, activation_delay_seconds=300, retired_grace_seconds=3600)
    old = set(keys.ensure())
    old_token = keys.sign({"exp": clock.now() + 10_000}, "RS256")
    new = set(keys.rotate())
    published = {k["kid"] for k in keys.jwks()["keys"]}
    assert old | new == published  # both published at once
    # Not used for signing before activation.
    assert jwt.get_unverified_header(keys.sign({"x": 1}, "RS256"))["kid"] in old
    clock.advance(300)
    assert jwt.get_unverified_header(keys.sign({"x": 1}, "RS256"))["kid"] in new
    assert keys.verify(old_token)  # old tokens still verify during the grace period
    clock.advance(3600)
    assert {k["kid"] for k in keys.jwks()["keys"]} == new
    with pytest.raises(jwt.InvalidTokenError):
        keys.verify(old_token)


def test_another_instance_sees_a_rotation_without_restart(sessions):
    clock = FixedClock()
    a = make_keys(sessions, clock, reload_seconds=30)
    b = make_keys(sessions, clock, reload_seconds=30)
    a.ensure()
    b.ensure()
    new = set(a.rotate(immediately=True))
    clock.advance(30)
    assert jwt.get_unverified_header(b.sign({"x": 1}, "ES256"))["kid"] in new


def test_private_keys_are_encrypted_at_rest_with_the_secret_key(sessions):
    keys = SigningKeys(sessions, FixedClock(), KeySettings(), encryption_secret=Secret("k" * 40))
    keys.ensure()
    with sessions() as s:
        pems = [row.private_pem for row in s.query(SigningKey)]
    assert pems and all("ENCRYPTED PRIVATE KEY" in p for p in pems)
    wrong = SigningKeys(sessions, FixedClock(), KeySettings(), encryption_secret=Secret("x" * 40))
    with pytest.raises(Exception, match="cannot be decrypted"):
        wrong.reload()


def test_jwks_document_is_encoded_once_until_the_keys_change(sessions):
    import json

    clock = FixedClock()
    keys = make_keys(sessions, clock, activation_delay_seconds=0, retired_grace_seconds=100)
    keys.ensure()
    doc = keys.jwks_document()
    assert json.loads(doc.body) == keys.jwks() and doc.etag.startswith('"')
    assert keys.jwks_document() is doc  # the same bytes, nothing encoded again
    keys.refresh()  # the table reread, unchanged
    assert keys.jwks_document() is doc
    version = keys.version
    new = set(keys.rotate())
    assert keys.version > version
    rotated = keys.jwks_document()
    assert rotated.etag != doc.etag
    assert {k["kid"] for k in json.loads(rotated.body)["keys"]} == {
        k["kid"] for k in keys.jwks()["keys"]
    }
    clock.advance(100)  # the retired keys' grace period ends: they leave at once
    assert {k["kid"] for k in json.loads(keys.jwks_document().body)["keys"]} == new


def test_a_reread_decrypts_only_keys_it_does_not_hold(sessions, monkeypatch):
    keys = SigningKeys(sessions, FixedClock(), KeySettings(), encryption_secret=Secret("k" * 40))
    keys.ensure()
    opened = []
    decrypt = keys._decrypt
    monkeypatch.setattr(keys, "_decrypt", lambda pem: opened.append(pem) or decrypt(pem))
    assert keys.refresh() and opened == []
    keys.rotate()
    assert len(opened) == 3  # the three new keys, not the three in hand
