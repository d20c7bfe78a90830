"""A client's public keys: its registered `jwks`, or the JWK Set at its `jwks_uri`.

A `jwks_uri` is fetched on demand and cached for `cache_seconds`; a `kid` the cached set does
not hold refetches it (the client rotated: OIDC Core §10.1.1 "the verifier ... SHOULD refetch
the JWK Set"), at most once per `refetch_interval_seconds` per client, so a stream of made-up
`kid`s cannot turn this provider into a request generator. Each fetch has a deadline and a
size limit, follows no redirect, and, unless `allow_private_addresses` is set, connects only to
a public address: the host name is resolved, every address is checked, and the request goes to
a checked address (the name is kept for `Host` and TLS), so a name that resolves once to a
public and then to an internal address cannot slip through (RFC 9700 §4.16, SSRF).

Errors are `ClientKeysError`s with fixed texts; callers turn them into their own wire errors.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import anyio
import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeyParameters, RSAKey

from idp.authn import safejson
from idp.clock import Clock
from idp.config import ClientSettings, Settings

__all__ = [
    "AddressNotAllowed",
    "ClientKeys",
    "ClientKeysError",
    "JwksTooLarge",
    "JwksUnavailable",
    "NoClientKeys",
    "Resolver",
    "UnknownKey",
    "VerificationKey",
    "select_keys",
    "strong_enough",
]

#: Resolves a host name to its addresses (default: the system resolver, off the event loop).
Resolver = Callable[[str, int], Awaitable[list[str]]]
VerificationKey = RSAKey | ECKey

#: Key type (and curve) each signature algorithm needs (RFC 7518 §3.1).
_KEY_TYPES: Final[dict[str, tuple[str, str | None]]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
}
_PUBLIC_MEMBERS: Final = {"RSA": ("n", "e"), "EC": ("crv", "x", "y")}
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: Swedish OIDC Profile §7.1: RSA keys of at least 2048 bits.
MIN_RSA_BITS: Final = 2048
#: A JWK Set holds a few keys; more than this is not a key set we want to try one by one.
MAX_KEYS: Final = 20


class ClientKeysError(Exception):
    """A client's keys cannot be had, or hold no key that fits. `reason` is a fixed text that
    echoes nothing the client sent."""

    reason: ClassVar[str] = "the client's keys cannot be used"

    def __init__(self) -> None:
        super().__init__(self.reason)


class NoClientKeys(ClientKeysError):
    """Raised when the client registered neither `jwks` nor `jwks_uri`."""

    reason = "the client has no registered keys"


class JwksUnavailable(ClientKeysError):
    """Raised when the `jwks_uri` cannot be fetched: a network error or timeout, a status other
    than 200 (redirects included), or a body that is not a JWK Set."""

    reason = "the client's jwks_uri cannot be fetched"


class JwksTooLarge(JwksUnavailable):
    """Raised when the `jwks_uri` answers with more than `max_bytes`."""

    reason = "the client's jwks_uri answered with too much data"


class AddressNotAllowed(JwksUnavailable):
    """Raised when the `jwks_uri` host is, or resolves to, an address that is not public
    (loopback, private, link-local, shared, multicast, unspecified or reserved) and the
    operator did not allow those (`client_jwks.allow_private_addresses`)."""

    reason = "the client's jwks_uri is not on a public address"


class UnknownKey(ClientKeysError):
    """Raised when no key of the client has the `kid` and fits the algorithm, even after a
    refetch."""

    reason = "unknown key id"


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
    )


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class NotPublic(Exception):
    """A name resolved to an address that is not public (`outbound_address`)."""


async def outbound_address(host: str, port: int, resolve: Resolver, *, allow_private: bool) -> str:
    """The address to connect to for a request to a client's URL (jwks_uri, back-channel
    logout): every address the name resolves to must be public unless `allow_private`; the
    first is used, so that the check and the connection see the same one. OSError when the
    name resolves to nothing; NotPublic."""
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]  # already an address
    except ValueError:
        addresses = await resolve(host, port)
    if not addresses:
        raise OSError("no address")
    if not allow_private and not all(is_public_address(a) for a in addresses):
        raise NotPublic()
    return addresses[0].split("%", 1)[0]


def pinned(url: httpx.URL, address: str, headers: dict[str, str]) -> tuple[httpx.URL, dict, dict]:
    """The request to `url` sent to `address` (`outbound_address`), keeping the name for Host
    and TLS (SNI and the certificate check): the target URL, the headers and httpx's
    extensions."""
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return url.copy_with(host=address), {"Host": url.netloc.decode("ascii"), **headers}, extensions


def select_keys(
    jwks: list[dict[str, Any]], *, alg: str, kid: str | None = None
) -> list[VerificationKey]:
    """The keys of a JWK Set that may verify a signature made with `alg` (and `kid`, if
    given): the right key type and curve, `use` absent or "sig", `key_ops` absent or with
    "verify", `alg` absent or equal (RFC 7517 §4.2–4.4, RFC 8725 §3.1). Only public members
    are imported; keys that cannot be imported or RSA keys under 2048 bits are skipped."""
    kty, crv = _KEY_TYPES.get(alg, (None, None))
    if kty is None:
        return []
    found: list[VerificationKey] = []
    for jwk in jwks[:MAX_KEYS]:
        if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", alg) != alg:
            continue
        ops = jwk.get("key_ops")
        if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
            continue
        if kid is not None and jwk.get("kid") != kid:
            continue
        public: dict[str, str | list[str]] = {"kty": kty}
        for member in _PUBLIC_MEMBERS[kty]:
            value = jwk.get(member)
            if isinstance(value, str):
                public[member] = value
        if len(public) != 1 + len(_PUBLIC_MEMBERS[kty]):
            continue
        params: KeyParameters | None = (
            {"kid": jwk["kid"]} if isinstance(jwk.get("kid"), str) else None
        )
        try:
            if kty == "RSA":
                if _bits(str(public["n"])) < MIN_RSA_BITS:
                    continue
                found.append(RSAKey.import_key(public, params))
            else:
                found.append(ECKey.import_key(public, params))
        except (JoseError, ValueError, TypeError):
            continue
    return found


def _bits(modulus: str) -> int:
    raw = base64.urlsafe_b64decode(modulus + "=" * (-len(modulus) % 4))
    return int.from_bytes(raw, "big").bit_length()


def strong_enough(jwk: Any) -> bool:
    """A JWK object that is not an RSA key under MIN_RSA_BITS (Swedish OIDC Profile §7.1; a
    malformed modulus counts as weak)."""
    if not isinstance(jwk, dict):
        return False
    if jwk.get("kty") != "RSA":
        return True
    try:
        return _bits(str(jwk.get("n"))) >= MIN_RSA_BITS
    except (binascii.Error, ValueError):
        return False


def _usable(keys: Any) -> list[dict[str, Any]]:
    """The JWK objects of a set's `keys` member that carry no private part."""
    if not isinstance(keys, list):
        raise JwksUnavailable()
    return [k for k in keys if isinstance(k, dict) and not _PRIVATE_MEMBERS & k.keys()]


@dataclass
class _Cached:
    keys: list[dict[str, Any]] | None  # None: the last attempt failed
    fetched_at: float


class ClientKeys:
    """The public keys of clients, shared by every request (one per process)."""

    def __init__(
        self,
        clock: Clock,
        *,
        cache_seconds: float = 300,
        refetch_interval_seconds: float = 30,
        timeout_seconds: float = 5.0,
        max_bytes: int = 64 * 1024,
        allow_private_addresses: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._refetch_interval = refetch_interval_seconds
        self._timeout = timeout_seconds
        self._max_bytes = max_bytes
        self._allow_private = allow_private_addresses
        self._transport = transport
        self._resolve = resolver
        self._cache: dict[tuple[str, str], _Cached] = {}
        self._locks: dict[tuple[str, str], anyio.Lock] = {}

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        clock: Clock,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = system_resolver,
    ) -> ClientKeys:
        s = settings.client_jwks
        return cls(
            clock,
            cache_seconds=s.cache_seconds,
            refetch_interval_seconds=s.refetch_interval_seconds,
            timeout_seconds=s.timeout_seconds,
            max_bytes=s.max_bytes,
            allow_private_addresses=s.allow_private_addresses,
            transport=transport,
            resolver=resolver,
        )

    # ---------------------------------------------------------------- reading

    async def key_set(
        self, client: ClientSettings, *, kid: str | None = None
    ) -> list[dict[str, Any]]:
        """The client's public JWKs. With a `kid` the set lacks, a `jwks_uri` is refetched
        (at most once per `refetch_interval_seconds`); the result may still lack it."""
        if client.jwks is not None:
            return _usable(client.jwks.get("keys"))
        if client.jwks_uri is None:
            raise NoClientKeys()
        keys = await self._from_uri(client.client_id, client.jwks_uri, force=False)
        if kid is not None and not any(k.get("kid") == kid for k in keys):
            keys = await self._from_uri(client.client_id, client.jwks_uri, force=True)
        return keys

    def cached_key_set(self, client: ClientSettings) -> list[dict[str, Any]] | None:
        """The client's keys without any I/O (for synchronous code): the registered `jwks`, or
        a fresh cached copy of its `jwks_uri`; None when it would have to be fetched."""
        if client.jwks is not None:
            return _usable(client.jwks.get("keys"))
        if client.jwks_uri is None:
            return None
        cached = self._cache.get((client.client_id, client.jwks_uri))
        if cached is None or cached.keys is None or self._age(cached) >= self._cache_seconds:
            return None
        return cached.keys

    async def verification_keys(
        self, client: ClientSettings, *, alg: str, kid: str | None = None
    ) -> list[VerificationKey]:
        """The client's keys that may verify a signature made with `alg` (and `kid`), at
        least one, refetching once for an unknown `kid`; raises UnknownKey otherwise."""
        found = select_keys(await self.key_set(client, kid=kid), alg=alg, kid=kid)
        if not found:
            raise UnknownKey()
        return found

    # ---------------------------------------------------------------- fetching

    def _age(self, cached: _Cached) -> float:
        return self._clock.now() - cached.fetched_at

    def _fresh(self, cached: _Cached | None, *, force: bool) -> list[dict[str, Any]] | None:
        """The cached keys when no fetch is due; raises JwksUnavailable when the last attempt
        failed within the refetch interval (a broken jwks_uri is not hammered)."""
        if cached is None:
            return None
        age = self._age(cached)
        if cached.keys is None:
            if age < self._refetch_interval:
                raise JwksUnavailable()
            return None
        if age < (self._refetch_interval if force else self._cache_seconds):
            return cached.keys
        return None

    async def _from_uri(self, client_id: str, uri: str, *, force: bool) -> list[dict[str, Any]]:
        slot = (client_id, uri)
        keys = self._fresh(self._cache.get(slot), force=force)
        if keys is not None:
            return keys
        lock = self._locks.setdefault(slot, anyio.Lock())
        async with lock:
            # Another request may have fetched while this one waited.
            keys = self._fresh(self._cache.get(slot), force=force)
            if keys is not None:
                return keys
            try:
                keys = await self._fetch(uri)
            except ClientKeysError:
                self._cache[slot] = _Cached(None, self._clock.now())
                raise
            self._cache[slot] = _Cached(keys, self._clock.now())
            return keys

    async def _address(self, host: str, port: int) -> str:
        """The address to connect to (`outbound_address`)."""
        try:
            return await outbound_address(
                host, port, self._resolve, allow_private=self._allow_private
            )
        except OSError:
            raise JwksUnavailable() from None
        except NotPublic:
            raise AddressNotAllowed() from None

    async def _fetch(self, uri: str) -> list[dict[str, Any]]:
        url = httpx.URL(uri)
        if url.scheme not in ("https", "http") or not url.host:
            raise JwksUnavailable()
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            with anyio.fail_after(self._timeout):
                address = await self._address(url.host, port)
                body = await self._get(url, address)
        except TimeoutError:
            raise JwksUnavailable() from None
        try:
            document = safejson.loads(body, max_size=self._max_bytes)
        except (ValueError, UnicodeDecodeError):
            raise JwksUnavailable() from None
        if not isinstance(document, dict):
            raise JwksUnavailable()
        return _usable(document.get("keys"))

    async def _get(self, url: httpx.URL, address: str) -> bytes:
        """GET the URL from `address`, keeping the name for Host and TLS (SNI and certificate
        check); at most `max_bytes`, no redirects, no proxies from the environment."""
        target, headers, extensions = pinned(url, address, {"Accept": "application/json"})
        async with httpx.AsyncClient(
            transport=self._transport,
            timeout=self._timeout,
            follow_redirects=False,
            trust_env=False,
        ) as http:
            try:
                async with http.stream(
                    "GET", target, headers=headers, extensions=extensions
                ) as response:
                    if response.status_code != 200:
                        raise JwksUnavailable()
                    declared = response.headers.get("content-length", "")
                    ascii_digits = declared.isascii() and declared.isdigit()
                    if ascii_digits and int(declared) > self._max_bytes:
                        raise JwksTooLarge()
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > self._max_bytes:
                            raise JwksTooLarge()
                    return bytes(body)
            except httpx.HTTPError:
                raise JwksUnavailable() from None
