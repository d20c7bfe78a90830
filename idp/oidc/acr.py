"""Authentication context classes: which requested `acr` values a login meets, and which one
the tokens carry (OIDC Core §3.1.2.1 `acr_values`, §5.5.1.1 `acr` as a claim request).

Three kinds of value meet a request:

* the authenticator's own value, e.g. ``urn:grn:authn:se:bankid:qr`` (an animated QR code
  read by another device) or ``urn:grn:authn:se:bankid:same-device`` (autostart), and
  ``urn:grn:authn:se:bankid:phone`` (BankID phone authentication, CIBA);
* a family it belongs to: ``urn:grn:authn:se:bankid`` is met by any of the above (a value met
  by every value that extends it with ``:<more>``);
* the Swedish eID framework's level of assurance (Sweden Connect, Registry for Identifiers
  §3.1.1). BankID is certified at Swedish trust level 3, but the URI describes the provider
  that issues the assertion: "only providers reviewed and approved by Digg" may use
  ``http://id.elegnamnden.se/loa/1.0/loa3``; a broker not reviewed uses the self-declared
  ``http://id.swedenconnect.se/loa/1.0/uncertified-loa3`` (§3.1.1.2). So BankID logins meet
  `UNCERTIFIED_LOA3` always, and `LOA3` too only with ``acr.certified_loa3: true``.

What the tokens say (`token_acr`): the login's own value when it was asked for; else the first
requested value it meets, except that a voluntary request for a family gets the more precise
value (``...:qr`` for ``urn:grn:authn:se:bankid``); an *essential* request always gets a value
it named ("MUST return an acr Claim Value that matches one of the requested values", Core
§5.5.1.1). Nothing met, or nothing asked: the login's own value, or for a client held to the
Swedish OIDC profile the level of assurance (what a Sweden Connect relying party reads).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from idp.config import Settings

LOA3: Final = "http://id.elegnamnden.se/loa/1.0/loa3"
UNCERTIFIED_LOA3: Final = "http://id.swedenconnect.se/loa/1.0/uncertified-loa3"
#: Login methods (acr families) that reach level of assurance 3: BankID, whichever way it was
#: started. The authenticators wired in idp.app report values in this family.
LOA3_METHODS: Final = ("urn:grn:authn:se:bankid",)


def _in_family(value: str, family: str) -> bool:
    return value == family or value.startswith(family + ":")


class AcrPolicy:
    """Which `acr` values this provider can meet, and which one a token carries."""

    def __init__(
        self,
        *,
        authenticator_values: Iterable[str] = (),
        certified_loa3: bool = False,
        loa3_methods: Iterable[str] = LOA3_METHODS,
    ) -> None:
        self.authenticator_values = tuple(dict.fromkeys(authenticator_values))
        self.loa3_methods = tuple(loa3_methods)
        #: The level-of-assurance URIs a level-3 login meets, the strongest first.
        self.loa_values: tuple[str, ...] = (
            (LOA3, UNCERTIFIED_LOA3) if certified_loa3 else (UNCERTIFIED_LOA3,)
        )
        self._families = frozenset(self.loa3_methods) | frozenset(self.authenticator_values)

    @classmethod
    def from_settings(
        cls, settings: Settings, authenticator_values: Iterable[str] = ()
    ) -> AcrPolicy:
        return cls(
            authenticator_values=authenticator_values,
            certified_loa3=settings.acr.certified_loa3,
        )

    # ------------------------------------------------------------------ what meets what

    def reaches_loa3(self, achieved: str) -> bool:
        return any(_in_family(achieved, m) for m in self.loa3_methods)

    def meets(self, achieved: str, requested: str) -> bool:
        """Whether a login with `achieved` meets the single requested value."""
        if achieved == requested:
            return True
        if requested in self._families and _in_family(achieved, requested):
            return True
        return requested in self.loa_values and self.reaches_loa3(achieved)

    def satisfies(self, requested: Iterable[str], achieved: str) -> bool:
        """Whether `achieved` meets at least one requested value (an empty request is met):
        e.g. whether an SSO session's login may serve a request with an essential acr."""
        values = tuple(requested)
        return not values or any(self.meets(achieved, r) for r in values)

    def supported(self) -> list[str]:
        """Discovery `acr_values_supported`: the authenticator's values, and the level of
        assurance when one of them reaches it."""
        loa = [v for v in self.loa_values if any(map(self.reaches_loa3, self.authenticator_values))]
        return [*self.authenticator_values, *loa]

    def can_meet(self, requested: Iterable[str]) -> tuple[str, ...]:
        """The requested values some login of the authenticator would meet, in request order
        (none of an essential request met: `unmet_authentication_requirements`)."""
        return tuple(
            r
            for r in dict.fromkeys(requested)
            if any(self.meets(a, r) for a in self.authenticator_values)
        )

    def flows_for(self, requested: Iterable[str]) -> tuple[str, ...]:
        """The authenticator's values whose logins would meet at least one requested value:
        what a `LoginRequest.acr_values` should carry so that the authenticator offers only
        those ways (BankID: QR, this device, or both). No request: every value. A request none
        of them meets: empty (the caller decides: voluntary values may be ignored)."""
        values = tuple(requested)
        if not values:
            return self.authenticator_values
        return tuple(a for a in self.authenticator_values if self.satisfies(values, a))

    # ------------------------------------------------------------------ the token's acr

    def token_acr(
        self,
        achieved: str,
        requested: Iterable[str] = (),
        *,
        essential: bool = False,
        prefer_loa: bool = False,
    ) -> str:
        """The ID token's (and access token's) `acr` for a login with `achieved`."""
        values = tuple(requested)
        if achieved in values:
            return achieved
        for value in values:
            if self.meets(achieved, value):
                if essential or value in self.loa_values:
                    return value
                return achieved  # a voluntary family: the precise value says more
        if prefer_loa and self.reaches_loa3(achieved):
            return self.loa_values[0]
        return achieved


def requested_acr(
    acr_values: Iterable[str], claims_request: Mapping[str, Any]
) -> tuple[tuple[str, ...], bool]:
    """The acr values a request asked for, and whether as an essential claim: the `acr` claim
    request of the ID token (Core §5.5.1.1, its `value` or `values`) if there is one, else
    `acr_values` (voluntary, Core §3.1.2.1)."""
    member = (claims_request.get("id_token") or {}).get("acr")
    if isinstance(member, Mapping):
        values: list[str] = []
        if isinstance(member.get("value"), str):
            values.append(member["value"])
        if isinstance(member.get("values"), list):
            values += [v for v in member["values"] if isinstance(v, str)]
        if values:
            return tuple(dict.fromkeys(values)), member.get("essential") is True
    return tuple(dict.fromkeys(acr_values)), False


__all__ = ["LOA3", "LOA3_METHODS", "UNCERTIFIED_LOA3", "AcrPolicy", "requested_acr"]
