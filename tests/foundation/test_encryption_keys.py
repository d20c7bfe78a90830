"""Our encryption keys (request objects encrypted to us): published with use "enc", rotated and
retired like the signing keys, stored encrypted, and never used to sign."""

import json

import jwt
import pytest
from joserfc import jwe
from joserfc.jwk import RSAKey

from idp.cli import main
from idp.clock import FixedClock
from idp.config import KeySettings, Secret
from idp.keys import DecryptionError, KeyError_, SigningKeys, UnknownDecryptionKey
from idp.store.db import make_engine, make_sessionmaker
from idp.store.migrate import upgrade
from idp.store.models import SigningKey

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}
ENCS = ("A128GCM", "A256GCM")


@pytest.fixture
def sessions(sqlite_url):
    engine = make_engine(sqlite_url)
    upgrade(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def make_keys(sessions, clock, secret=None, **kw):
    return SigningKeys(sessions, clock, KeySettings(**kw), encryption_secret=secret)


def enc_jwks(keys):
    return [k for k in keys.jwks()["keys"] if k["use"] == "enc"]


def encrypt_to(jwk, plaintext=b"hello", enc="A256GCM", alg=None):
    header = {"alg": alg or jwk["alg"], "enc": enc, "kid": jwk["kid"]}
    return jwe.encrypt_compact(
        header, plaintext, RSAKey.import_key(jwk), algorithms=[header["alg"], enc]
    )


def test_the_encryption_key_is_published_with_use_enc_and_signing_keys_with_use_sig(sessions):
    keys = make_keys(sessions, FixedClock())
    keys.ensure()
    published = keys.jwks()["keys"]
    uses = {k["alg"]: k["use"] for k in published}
    assert uses == {"RS256": "sig", "ES256": "sig", "RSA-OAEP": "enc"}
    (enc,) = enc_jwks(keys)
    assert enc["kty"] == "RSA" and not PRIVATE_MEMBERS & set(enc)
    assert [k.kid for k in keys.decryption_keys()] == [enc["kid"]]


@pytest.mark.parametrize("enc", ENCS)
def test_what_is_encrypted_to_the_published_key_decrypts(sessions, enc):
    keys = make_keys(sessions, FixedClock())
    keys.ensure()
    (jwk,) = enc_jwks(keys)
    got = keys.decrypt(encrypt_to(jwk, b"a nested JWT", enc), encryptions=ENCS)
    assert got.plaintext == b"a nested JWT" and got.kid == jwk["kid"]
    assert got.header["enc"] == enc


def test_rotation_keeps_the_old_encryption_key_decrypting_during_the_grace_period(sessions):
    clock = FixedClock()
    keys = make_keys(sessions, clock, activation_delay_seconds=300, retired_grace_seconds=3600)
    keys.ensure()
    (old,) = enc_jwks(keys)
    new_kids = set(keys.rotate())
    (new,) = [k for k in enc_jwks(keys) if k["kid"] in new_kids]
    # Published before use: a client may already encrypt to the pending key.
    assert keys.decrypt(encrypt_to(new), encryptions=ENCS).kid == new["kid"]
    clock.advance(300 + 3599)  # the old key retired at activation, its grace nearly over
    assert keys.decrypt(encrypt_to(old), encryptions=ENCS).kid == old["kid"]
    assert {k.kid for k in keys.decryption_keys()} == {old["kid"], new["kid"]}
    clock.advance(1)
    with pytest.raises(UnknownDecryptionKey):
        keys.decrypt(encrypt_to(old), encryptions=ENCS)
    assert [k["kid"] for k in enc_jwks(keys)] == [new["kid"]]
    assert [k.kid for k in keys.decryption_keys()] == [new["kid"]]


def test_signing_never_uses_an_encryption_key(sessions):
    clock = FixedClock()
    keys = make_keys(sessions, clock)
    keys.ensure()
    keys.rotate(immediately=True)
    enc_kids = {k["kid"] for k in enc_jwks(keys)}
    for alg in ("RS256", "ES256"):
        assert jwt.get_unverified_header(keys.sign({"x": 1}, alg))["kid"] not in enc_kids
    with pytest.raises(KeyError_):
        keys.sign({"x": 1}, "RSA-OAEP")
    # Nor does an encryption key verify: a token naming one is refused.
    assert all(keys.public_key(kid) is None for kid in enc_kids)


def test_a_key_decrypts_only_with_its_own_algorithm(sessions):
    keys = make_keys(sessions, FixedClock(), encryption_algorithms=["RSA-OAEP", "RSA-OAEP-256"])
    keys.ensure()
    by_alg = {k["alg"]: k for k in enc_jwks(keys)}
    assert set(by_alg) == {"RSA-OAEP", "RSA-OAEP-256"}
    assert keys.decrypt(encrypt_to(by_alg["RSA-OAEP-256"]), encryptions=ENCS).plaintext
    wrong = encrypt_to(by_alg["RSA-OAEP"], alg="RSA-OAEP-256")  # right key, other algorithm
    with pytest.raises(UnknownDecryptionKey):
        keys.decrypt(wrong, encryptions=ENCS)


def test_decrypt_refuses_other_algorithms_compression_and_garbage(sessions):
    keys = make_keys(sessions, FixedClock())
    keys.ensure()
    (jwk,) = enc_jwks(keys)
    with pytest.raises(DecryptionError):
        keys.decrypt(encrypt_to(jwk, enc="A256GCM"), encryptions=("A128GCM",))
    compressed = jwe.encrypt_compact(
        {"alg": "RSA-OAEP", "enc": "A256GCM", "zip": "DEF", "kid": jwk["kid"]},
        b"x" * 100,
        RSAKey.import_key(jwk),
        algorithms=["RSA-OAEP", "A256GCM", "DEF"],
    )
    with pytest.raises(DecryptionError):
        keys.decrypt(compressed, encryptions=ENCS)
    head, ek, iv, ct, tag = encrypt_to(jwk).split(".")
    with pytest.raises(DecryptionError):
        keys.decrypt(f"{head}.{ek}.{iv}.{ct[:-4]}AAAA.{tag}", encryptions=ENCS)
    with pytest.raises(DecryptionError):
        keys.decrypt("not.a.jwe.at.all", encryptions=ENCS)


def test_encryption_can_be_turned_off(sessions):
    clock = FixedClock()
    keys = make_keys(sessions, clock)
    keys.ensure()
    (jwk,) = enc_jwks(keys)
    off = make_keys(sessions, clock, encryption_algorithms=[])
    assert off.ensure() == [] and off.rotate(immediately=True)  # signing keys only
    assert enc_jwks(off) == [] and off.decryption_keys() == []
    with pytest.raises(DecryptionError):
        off.decrypt(encrypt_to(jwk), encryptions=ENCS)


def test_a_fresh_database_with_encryption_off_has_no_encryption_key(sessions):
    keys = make_keys(sessions, FixedClock(), encryption_algorithms=[])
    assert len(keys.ensure()) == 2
    assert all(k.use == "sig" for k in keys.describe())


def test_encryption_keys_are_encrypted_at_rest_with_the_secret_key(sessions):
    keys = make_keys(sessions, FixedClock(), secret=Secret("k" * 40))
    keys.ensure()
    with sessions() as s:
        (row,) = s.query(SigningKey).filter_by(alg="RSA-OAEP")
        pem, stored = row.private_pem, json.loads(row.public_jwk)
    assert "ENCRYPTED PRIVATE KEY" in pem
    assert stored["use"] == "enc" and not PRIVATE_MEMBERS & set(stored)


def test_keys_list_shows_the_encryption_key(sessions, sqlite_url, tmp_path, capsys):
    keys = make_keys(sessions, FixedClock())
    keys.ensure()
    (enc,) = enc_jwks(keys)
    config = tmp_path / "idp.yaml"
    config.write_text(f"issuer: https://op.example\ndatabase_url: {sqlite_url}\n")
    assert main(["keys", "list", "--config", str(config)]) == 0
    listing = capsys.readouterr().out
    (line,) = [line for line in listing.splitlines() if line.startswith(enc["kid"])]
    assert line.split()[1:5] == ["enc", "RSA-OAEP", "active", "yes"]
    assert "PRIVATE" not in listing
