"""Our keys: the one owner of private keys. Generates, stores, rotates, signs, decrypts, publishes.

Two kinds live in one table, told apart by `alg`: signing keys (RS256, ES256; `use: "sig"` in
JWKS) and encryption keys (RSA-OAEP; `use: "enc"`), with which clients encrypt request objects
to us (RFC 9101 §6.1, Swedish OIDC Profile §2.1.7 and §7.1). Both are created, rotated and
retired the same way; a signature is never made with an encryption key, and no key decrypts
with an algorithm other than its own (RFC 8725 §3.1: one key, one algorithm).

Rotation follows the publish-before-use rule (node-oidc-provider's jwks docs, OIDC Core §10.1.1):
a new key is published in JWKS from the moment it is created and signs only from
`active_from`; the key it replaces keeps signing until then, and stays published for a grace
period after retirement so that tokens it signed still verify. Every instance rereads the key
table every `reload_seconds`, so a rotation made by `idp keys rotate` reaches a running fleet
without a restart. A running app rereads it from a background task (`refresh`, off the event
loop); when the database cannot be read, signing and JWKS go on with the keys in hand.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import os
import secrets
import stat
import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from sqlalchemy import URL, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from idp.authn import safejson
from idp.clock import Clock
from idp.config import ENCRYPTION_ALGS, KeySettings, Secret
from idp.store.models import SigningKey

log = logging.getLogger(__name__)


#: Key management algorithms an encryption key may be made for (one key per algorithm).
KeyUse = Literal["sig", "enc"]


def key_use(alg: str) -> KeyUse:
    """What a key of this algorithm is for: "enc" for a key management algorithm, else "sig"."""
    return "enc" if alg in ENCRYPTION_ALGS else "sig"


class KeyError_(Exception):
    """Raised when no usable key exists for an algorithm, or a stored key cannot be read."""


class DecryptionError(KeyError_):
    """Raised when a JWE cannot be decrypted with our keys: an algorithm we do not accept, a
    malformed token, or a ciphertext no key of ours opens. The message is a fixed text."""


class UnknownDecryptionKey(DecryptionError):
    """Raised when a JWE names (`kid`) no encryption key of ours that is still published."""


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key: never the private part."""

    kid: str
    alg: str
    state: str  # "pending" | "active" | "retired"
    active_from: float
    retired_at: float | None
    published_until: float | None
    use: KeyUse = "sig"


@dataclass(frozen=True)
class Decrypted:
    """The plaintext of a JWE and its (protected) header."""

    plaintext: bytes
    header: dict[str, Any]
    kid: str


@dataclass(frozen=True)
class _Loaded:
    kid: str
    alg: str
    generation: int
    private: Any
    public_jwk: dict[str, Any]
    active_from: float
    retired_at: float | None
    published_until: float | None
    #: The stored (encrypted) private key this was decrypted from: a row whose text is
    #: unchanged is not decrypted again on the next reread.
    pem: str = ""
    public: Any = None


@dataclass(frozen=True)
class JwksDocument:
    """The JWKS as sent: the JSON body, its ETag, and until when it holds (the earliest
    `published_until` still ahead, when a retired key leaves it; None: until the keys change)."""

    body: bytes
    etag: str
    version: int
    valid_until: float | None


def _b64(n: int, length: int | None = None) -> str:
    raw = n.to_bytes(length or (n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _public_jwk(private: Any, alg: str) -> dict[str, Any]:
    pub = private.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        nums = pub.public_numbers()
        jwk = {"kty": "RSA", "n": _b64(nums.n), "e": _b64(nums.e)}
    else:
        nums = pub.public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "x": _b64(nums.x, 32), "y": _b64(nums.y, 32)}
    # RFC 7638 thumbprint as kid: stable, derived from the public key only.
    members = {k: jwk[k] for k in sorted(jwk)}
    thumb = hashlib.sha256(json.dumps(members, separators=(",", ":")).encode()).digest()
    jwk["kid"] = base64.urlsafe_b64encode(thumb).rstrip(b"=").decode()
    jwk.update({"use": key_use(alg), "alg": alg})
    return jwk


def _fingerprint(k: _Loaded) -> tuple[Any, ...]:
    """What of a key decides where it is used and published (not the private part)."""
    return (k.kid, k.alg, k.generation, k.active_from, k.retired_at, k.published_until, k.pem)


def _jwe_header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWE (five parts), read before any key is chosen."""
    parts = token.split(".")
    if len(parts) != 5:
        raise DecryptionError("the encrypted token is malformed")
    try:
        raw = base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4))
        header = safejson.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise DecryptionError("the encrypted token is malformed") from None
    if not isinstance(header, dict):
        raise DecryptionError("the encrypted token is malformed")
    return header


#: Without `secret_key`, the secret signing keys are encrypted with: generated on first start,
#: next to a SQLite database (the embedded default's data/key-encryption-secret), else in
#: `data_dir`. Readable by its owner only; a copy of the database alone opens no key.
KEY_ENCRYPTION_SECRET_FILE = "key-encryption-secret"
_ENCRYPTED_PEM = "-----BEGIN ENCRYPTED PRIVATE KEY-----"


def key_encryption_secret(configured: Secret | None, database: str | URL, data_dir: Path) -> Secret:
    """What signing keys are encrypted with at rest: `secret_key` when configured; without it,
    a secret kept in a file (KEY_ENCRYPTION_SECRET_FILE); for an in-memory database, whose keys
    die with the process, one random secret per process. Raises KeyError_ when the file can be
    read by others than its owner, or does not hold a secret."""
    if configured is not None:
        return configured
    url = make_url(database)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:" or url.query.get("mode") == "memory":
            return _process_secret()
        return _secret_file(Path(url.database).parent / KEY_ENCRYPTION_SECRET_FILE)
    return _secret_file(data_dir / KEY_ENCRYPTION_SECRET_FILE)


@functools.cache
def _process_secret() -> Secret:
    return Secret(secrets.token_urlsafe(32))


def _secret_file(path: Path) -> Secret:
    """Read the secret; the first start creates it (0600, atomically: of two processes starting
    at once, one secret wins). A file others could read is refused, not tightened: the secret
    may already be copied, and only the operator can tell (and then rotate the keys)."""
    value = _read_secret(path)
    if value is None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # fails if another process made it first: theirs is read
            except FileExistsError:
                pass
        finally:
            tmp.unlink()
        value = _read_secret(path)
    if value is None or len(value) < 32:
        raise KeyError_(f"{path} does not hold a key-encryption secret (32 characters or more)")
    return Secret(value)


def _read_secret(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, encoding="utf-8") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise KeyError_(f"{path} is not a file; it should hold the key-encryption secret")
        if os.name == "posix" and mode & 0o077:
            raise KeyError_(
                f"{path} can be read by others than its owner (mode {stat.S_IMODE(mode):04o}): "
                f"run chmod 600 {path} (and idp keys rotate --now if others may have read it)"
            )
        return f.read().strip()


def _generate(alg: str) -> Any:
    if alg == "RS256" or alg in ENCRYPTION_ALGS:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise KeyError_(f"unsupported key algorithm {alg}")


class SigningKeys:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        settings: KeySettings,
        *,
        encryption_secret: Secret | None = None,
        background: bool = False,
    ) -> None:
        """With `background`, the table is reread only by `refresh` (a running app calls it
        from a background task); otherwise lazily, by whoever finds the keys older than
        `reload_seconds` (the CLI, tests)."""
        self._sessions = sessions
        self._clock = clock
        self._settings = settings
        self._password = (
            hashlib.sha256(b"idp signing keys|" + encryption_secret.get().encode()).digest()
            if encryption_secret
            else None
        )
        self._lock = threading.Lock()
        self._keys: list[_Loaded] = []
        #: Bumped whenever a reread finds the key table changed (a key added, retired, ...).
        self.version = 0
        self._jwks: JwksDocument | None = None
        self._loaded_at = float("-inf")
        self._background = background
        self._failing = False
        self._headers: dict[tuple[str, str], dict[str, str]] = {}

    # ---------------------------------------------------------------- storage

    def _encrypt(self, private: Any) -> str:
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(self._password)
            if self._password
            else serialization.NoEncryption()
        )
        return private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc
        ).decode()

    def _decrypt(self, pem: str) -> Any:
        try:
            return serialization.load_pem_private_key(pem.encode(), password=self._password)
        except (ValueError, TypeError):
            raise KeyError_(
                "a stored signing key cannot be decrypted: is the key-encryption secret "
                f"(secret_key, or without it {KEY_ENCRYPTION_SECRET_FILE}) the one it was made "
                "with?"
            ) from None

    def encrypt_stored(self) -> int:
        """Encrypt the private keys an earlier version stored in clear (without secret_key):
        read, encrypt, write back, in one transaction. Returns how many; none are lost."""
        if self._password is None:
            return 0
        with self._sessions.begin() as s:
            rows = s.scalars(select(SigningKey).with_for_update()).all()
            migrated = 0
            for row in rows:
                if row.private_pem.lstrip().startswith(_ENCRYPTED_PEM):
                    continue
                try:
                    private = serialization.load_pem_private_key(
                        row.private_pem.encode(), password=None
                    )
                except TypeError:
                    continue  # encrypted in another PEM form: reload decrypts (or says it cannot)
                except ValueError:
                    raise KeyError_(f"the stored signing key {row.kid} is not a key") from None
                row.private_pem = self._encrypt(private)
                migrated += 1
        if migrated:
            log.info("encrypted %d signing key(s) an earlier version stored in clear", migrated)
        return migrated

    def _insert(self, session: Session, alg: str, generation: int, active_from: float) -> str:
        private = _generate(alg)
        jwk = _public_jwk(private, alg)
        session.add(
            SigningKey(
                kid=jwk["kid"],
                alg=alg,
                generation=generation,
                private_pem=self._encrypt(private),
                public_jwk=json.dumps(jwk),
                created_at=self._clock.now(),
                active_from=active_from,
            )
        )
        return jwk["kid"]

    def _managed(self) -> list[str]:
        """The algorithms keys are kept for: signing, then encryption."""
        return [*self._settings.algorithms, *self._settings.encryption_algorithms]

    def ensure(self) -> list[str]:
        """Create a first key for each configured algorithm that has none (after encrypting
        keys stored in clear). Safe to race."""
        self.encrypt_stored()
        created = []
        for alg in self._managed():
            try:
                with self._sessions.begin() as s:
                    exists = s.scalar(select(SigningKey.kid).where(SigningKey.alg == alg).limit(1))
                    if exists is None:
                        created.append(self._insert(s, alg, 1, self._clock.now()))
            except IntegrityError:
                continue  # another instance created it first
        self.reload()
        return created

    def rotate(self, *, immediately: bool = False) -> list[str]:
        """Introduce a new key per algorithm; the current one retires when it activates.

        `immediately` skips the publication delay (for a suspected key compromise).
        """
        now = self._clock.now()
        activate = now if immediately else now + self._settings.activation_delay_seconds
        created = []
        for alg in self._managed():
            with self._sessions.begin() as s:
                rows = s.scalars(
                    select(SigningKey).where(SigningKey.alg == alg).order_by(SigningKey.generation)
                ).all()
                for row in rows:
                    if row.retired_at is None:
                        row.retired_at = activate
                        row.published_until = activate + self._settings.retired_grace_seconds
                generation = (rows[-1].generation + 1) if rows else 1
                created.append(self._insert(s, alg, generation, activate))
        self.reload()
        return created

    def reload(self) -> None:
        """Reread the key table. A key already in hand (same kid, same stored text) is not
        decrypted again: decryption derives the key from `secret_key` and is slow by design."""
        with self._lock:
            known = {k.kid: k for k in self._keys}
        with self._sessions() as s:
            rows = s.scalars(select(SigningKey).order_by(SigningKey.generation)).all()
            loaded = []
            for r in rows:
                old = known.get(r.kid)
                if old is not None and old.pem == r.private_pem:
                    private, public, jwk = old.private, old.public, old.public_jwk
                else:
                    private = self._decrypt(r.private_pem)
                    public, jwk = private.public_key(), json.loads(r.public_jwk)
                loaded.append(
                    _Loaded(
                        kid=r.kid,
                        alg=r.alg,
                        generation=r.generation,
                        private=private,
                        public_jwk=jwk,
                        active_from=r.active_from,
                        retired_at=r.retired_at,
                        published_until=r.published_until,
                        pem=r.private_pem,
                        public=public,
                    )
                )
        with self._lock:
            if [_fingerprint(k) for k in loaded] != [_fingerprint(k) for k in self._keys]:
                self.version += 1
                self._jwks = None
            self._keys = loaded
            self._loaded_at = self._clock.now()

    def refresh(self) -> bool:
        """Reread the key table; if the database cannot be read, keep the keys in hand (and try
        again after `reload_seconds`). True when the table was read. Logs once per outage."""
        try:
            self.reload()
        except SQLAlchemyError as exc:
            with self._lock:
                self._loaded_at = self._clock.now()
            if not self._failing:
                log.warning(
                    "cannot reread the signing keys (%s); signing goes on with the %d in hand",
                    type(exc).__name__,
                    len(self._keys),
                )
            self._failing = True
            return False
        if self._failing:
            log.info("signing keys reread again")
        self._failing = False
        return True

    def _current(self) -> list[_Loaded]:
        stale = self._clock.now() - self._loaded_at >= self._settings.reload_seconds
        if stale and (not self._background or not self._keys):
            self.refresh()
        with self._lock:
            return list(self._keys)

    # ---------------------------------------------------------------- use

    def _state(self, k: _Loaded, now: float) -> str:
        if now < k.active_from:
            return "pending"
        if k.retired_at is not None and now >= k.retired_at:
            return "retired"
        return "active"

    def _info(self, k: _Loaded, now: float) -> KeyInfo:
        state = self._state(k, now)
        return KeyInfo(
            k.kid, k.alg, state, k.active_from, k.retired_at, k.published_until, key_use(k.alg)
        )

    def describe(self) -> list[KeyInfo]:
        now = self._clock.now()
        return [self._info(k, now) for k in self._current()]

    def _published(self, k: _Loaded, now: float) -> bool:
        if key_use(k.alg) == "enc" and k.alg not in self._settings.encryption_algorithms:
            return False  # encryption turned off: clients must not encrypt to us any more
        return k.published_until is None or now < k.published_until

    def jwks(self) -> dict[str, Any]:
        """Public keys only: pending, active, and retired ones still within their grace period;
        signing keys with `use: "sig"`, encryption keys with `use: "enc"`."""
        now = self._clock.now()
        return {"keys": [dict(k.public_jwk) for k in self._current() if self._published(k, now)]}

    def jwks_document(self) -> JwksDocument:
        """`jwks()` encoded once: the same bytes until the key table changes or a retired key's
        grace period ends (the JWKS endpoint serves these)."""
        keys = self._current()
        now = self._clock.now()
        doc = self._jwks
        if doc is not None and (doc.valid_until is None or now < doc.valid_until):
            return doc
        with self._lock:
            version = self.version
        body = json.dumps(
            {"keys": [k.public_jwk for k in keys if self._published(k, now)]},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        ends = [
            k.published_until
            for k in keys
            if k.published_until is not None and k.published_until > now
        ]
        digest = hashlib.sha256(body).digest()[:12]
        doc = JwksDocument(
            body=body,
            etag='"' + base64.urlsafe_b64encode(digest).decode() + '"',
            version=version,
            valid_until=min(ends) if ends else None,
        )
        with self._lock:
            if self.version == version:
                self._jwks = doc
        return doc

    def _signing(self, alg: str) -> _Loaded:
        if key_use(alg) != "sig":
            raise KeyError_(f"{alg} is not a signing algorithm")
        now = self._clock.now()
        mine = [k for k in self._current() if k.alg == alg]
        active = [k for k in mine if self._state(k, now) == "active"]
        if not active:
            # A key whose successor is not active yet keeps signing (retired_at is in the future
            # only by configuration); fall back to the newest key already activated.
            started = [k for k in mine if k.active_from <= now]
            if not started:
                raise KeyError_(f"no signing key for {alg}")
            return started[-1]
        return active[-1]

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(self._settings.algorithms)

    def sign(self, claims: dict[str, Any], alg: str = "RS256", *, typ: str = "JWT") -> str:
        key = self._signing(alg)
        headers = self._headers.get((key.kid, typ))
        if headers is None:
            headers = self._headers.setdefault((key.kid, typ), {"kid": key.kid, "typ": typ})
        return jwt.encode(claims, key.private, algorithm=alg, headers=headers)

    def public_key(self, kid: str) -> tuple[Any, str] | None:
        """The public key and algorithm of a published signing key (never an encryption key)."""
        now = self._clock.now()
        for k in self._current():
            if k.kid == kid and key_use(k.alg) == "sig" and self._published(k, now):
                return (k.public if k.public is not None else k.private.public_key()), k.alg
        return None

    # ---------------------------------------------------------------- decryption

    @property
    def encryption_algorithms(self) -> tuple[str, ...]:
        """The key management algorithms clients may encrypt to us with (for discovery)."""
        return tuple(self._settings.encryption_algorithms)

    def _decrypting(self) -> list[_Loaded]:
        """Encryption keys that still decrypt, newest first: every one that is published.

        A pending key is already in JWKS, so a client may encrypt to it; a retired one keeps
        decrypting for `retired_grace_seconds`, like a retired signing key keeps verifying.
        """
        now = self._clock.now()
        usable = [k for k in self._current() if key_use(k.alg) == "enc" and self._published(k, now)]
        return sorted(usable, key=lambda k: k.generation, reverse=True)

    def decryption_keys(self) -> list[KeyInfo]:
        """The encryption keys that decrypt now (current, pending and those in their grace
        period), newest first; never the private part."""
        now = self._clock.now()
        return [self._info(k, now) for k in self._decrypting()]

    def decrypt(self, token: str, *, encryptions: Collection[str]) -> Decrypted:
        """Decrypt a JWE (compact serialization) with one of our encryption keys.

        The header's `alg` must be one of ours and match the key's own algorithm; its `enc`
        must be in `encryptions`. With a `kid`, only that key is tried; without, each key of
        the header's algorithm. Compression (`zip`) is refused: nothing here decompresses
        attacker-chosen data. Raises DecryptionError (UnknownDecryptionKey for a `kid` that is
        not ours or no longer published).
        """
        header = _jwe_header(token)
        alg, enc, kid = header.get("alg"), header.get("enc"), header.get("kid")
        if not isinstance(alg, str) or alg not in self._settings.encryption_algorithms:
            raise DecryptionError("the encryption algorithm is not allowed")
        if not isinstance(enc, str) or enc not in encryptions:
            raise DecryptionError("the content encryption algorithm is not allowed")
        if "zip" in header:
            raise DecryptionError("compressed encrypted content is not accepted")
        if kid is not None and not isinstance(kid, str):
            raise DecryptionError("the encrypted token is malformed")
        candidates = [k for k in self._decrypting() if k.alg == alg]
        if kid is not None:
            candidates = [k for k in candidates if k.kid == kid]
            if not candidates:
                raise UnknownDecryptionKey("the encryption key is unknown")
        for k in candidates:
            key = RSAKey(k.private, k.private, {"kid": k.kid, "alg": k.alg, "use": "enc"})
            try:
                obj = jwe.decrypt_compact(token, key, algorithms=[alg, enc])
            except (JoseError, ValueError, TypeError):
                continue
            if obj.plaintext is None:
                continue
            return Decrypted(obj.plaintext, dict(obj.protected), k.kid)
        raise DecryptionError("the encrypted token cannot be decrypted")

    def verify(
        self,
        token: str,
        *,
        audience: str | list[str] | None = None,
        issuer: str | None = None,
        verify_exp: bool = True,
        typ: str | None = None,
    ) -> dict[str, Any]:
        """Verify a token this provider signed; raises jwt.InvalidTokenError otherwise."""
        header = jwt.get_unverified_header(token)
        if typ is not None and str(header.get("typ", "")).lower() != typ.lower():
            raise jwt.InvalidTokenError("unexpected token type")
        found = self.public_key(str(header.get("kid", "")))
        if found is None:
            raise jwt.InvalidTokenError("unknown key")
        public, alg = found
        if header.get("alg") != alg:
            raise jwt.InvalidTokenError("algorithm does not match the key")
        claims = jwt.decode(
            token,
            public,
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            options={
                # Time is checked below against the injected clock, not the system clock.
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": audience is not None,
            },
        )
        now = self._clock.now()
        if verify_exp:
            exp = claims.get("exp")
            if not isinstance(exp, int | float) or now >= exp:
                raise jwt.ExpiredSignatureError("token has expired")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and now < nbf:
            raise jwt.ImmatureSignatureError("token is not yet valid")
        return claims
