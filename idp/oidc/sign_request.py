"""The OIDC Sweden Signature Extension 1.1: signing through an authentication request.

A client asks for the scope ``https://id.oidc.se/scope/sign`` (have the person sign data) or
``https://id.oidc.se/scope/signApproval`` (have the person approve a signature an external
signing service makes), and sends ``https://id.oidc.se/param/signRequest``: a JSON object with
``tbs_data`` (base64 of the data to sign; required with ``sign``, forbidden for approval only)
and ``sign_message`` (shaped as the userMessage parameter: base64 text, per-language copies,
``mime_type``). The provider's checklist (§5.1), each failure ``invalid_request`` unless noted:

* a sign scope needs a signRequest, signed by the client: a member of a signed request object
  (by value or pushed), or the parameter's value a JWT the client signed (verified as a
  request object is); a signRequest without a sign scope is refused;
* ``prompt`` must contain ``login`` and ``consent``;
* a client not allowed the sign scope it asks for: ``unauthorized_client``;
* a sign_message of a MIME type this provider cannot show is refused.

What the person signs then goes the way of an approval (idp.authn.approval): the summary page,
BankID ``/sign`` with the message as ``userVisibleData`` (in the language the request asked
for) and ``tbs_data`` inside the non-visible data that binds the signature to the request, and
the signature in the ID token (§5.2: ``userSignature`` "MUST" be there). Single sign-on never
stands in for it and keeps nothing of it (§5.1).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, Final

from idp.authn import approval as approval_mod
from idp.authn import safejson
from idp.oidc.user_message import parse_user_message

PARAMETER: Final = "https://id.oidc.se/param/signRequest"
SIGN_SCOPE: Final = "https://id.oidc.se/scope/sign"
SIGN_APPROVAL_SCOPE: Final = "https://id.oidc.se/scope/signApproval"
SCOPES: Final = (SIGN_SCOPE, SIGN_APPROVAL_SCOPE)
#: BankID /sign shows at most 40,000 characters after base64 encoding.
MAX_SIGN_MESSAGE: Final = 40_000


class SignRequestError(ValueError):
    """A signRequest this provider must refuse; str() is the error_description."""


def sign_detail(
    value: str | Mapping[str, Any], *, sign: bool, locales: tuple[str, ...]
) -> dict[str, Any]:
    """The ``se.bankid.sign`` authorization detail a signRequest amounts to (validated as one:
    BankID's limits, no HTML in markdown). `value` is the JSON object, or its JSON text; `sign`:
    the ``sign`` scope was asked (so ``tbs_data`` must be there), else approval only."""
    if isinstance(value, str):
        try:
            value = safejson.loads(value)
        except ValueError:
            raise SignRequestError("signRequest must be a JSON object") from None
    if not isinstance(value, Mapping):
        raise SignRequestError("signRequest must be a JSON object")
    tbs = value.get("tbs_data")
    if sign and tbs is None:
        raise SignRequestError("signRequest needs tbs_data with the sign scope")
    if not sign and tbs is not None:
        raise SignRequestError("signRequest must not carry tbs_data for an approval only")
    if tbs is not None and not _is_base64(tbs):
        raise SignRequestError("signRequest tbs_data must be base64")
    if value.get("sign_message") is None:
        raise SignRequestError("signRequest needs a sign_message")
    try:
        message = parse_user_message(
            value["sign_message"], locales=locales, max_encoded=MAX_SIGN_MESSAGE
        )
    except ValueError as exc:
        raise SignRequestError(f"signRequest sign_message: {exc}") from None
    if message is None:
        raise SignRequestError("signRequest needs a sign_message")
    detail: dict[str, Any] = {
        "type": approval_mod.SIGN,
        "text": message.text,
        "format": "text/markdown" if message.markdown else "text/plain",
    }
    if tbs is not None:
        detail["nonVisibleData"] = tbs
    try:
        (checked,) = approval_mod.parse([detail], allowed_types=[approval_mod.SIGN])
    except approval_mod.InvalidDetails as exc:
        raise SignRequestError(f"signRequest: {exc}") from None
    return checked


def _is_base64(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


__all__ = [
    "MAX_SIGN_MESSAGE",
    "PARAMETER",
    "SCOPES",
    "SIGN_APPROVAL_SCOPE",
    "SIGN_SCOPE",
    "SignRequestError",
    "sign_detail",
]
