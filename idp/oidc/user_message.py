"""The `https://id.oidc.se/param/userMessage` request parameter (Authentication Request Parameter
Extensions for the Swedish OpenID Connect Profile 1.1, §2.1, §3.1).

The value is a JSON object (form-encoded JSON as a plain parameter, a JSON member inside a
request object): ``message`` is "the base64-encoding of the UTF-8 string holding the message to
display to the user", with per-language copies ``message#sv``, ``message#en`` (OIDC Core §5.2
language tags), and ``mime_type`` ``text/plain`` ("If no value is given for this field,
`text/plain` MUST be assumed") or ``text/markdown``.

Rules kept here: "An OpenID Provider MUST refuse to display a message if it does not support a
given MIME type" (a request naming another type is refused); the OP "MUST display the message
matching the user interface locale [...] If no message matches that current locale the OP MUST
choose the message without a given language tag [...] If no message parameter without a
language tag is received, the OP MAY [...] select a message from the provided message
parameters" (`parse_user_message` picks in that order; `UserMessage.for_locale` lets the login
page pick again for the language it settled on). "Should a message contain illegal characters
[...] the OP MAY choose not to display the message": a message with control characters, or
Markdown with HTML, is refused. The rule "MUST NOT display a user message" with ``prompt=none``
belongs to the authorization request's checks.

The message is shown in the BankID app (``userVisibleData``), whose ``/auth`` takes at most
1,500 characters after base64 encoding: a longer variant is refused here, where the client can
still be told.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any, Final

from idp.authn import UserMessage, safejson

PARAMETER: Final = "https://id.oidc.se/param/userMessage"
PLAIN: Final = "text/plain"
MARKDOWN: Final = "text/markdown"
MIME_TYPES: Final = (PLAIN, MARKDOWN)
#: The longest message the authenticating app shows, in base64 characters (BankID `/auth`
#: `userVisibleData`: 1-1,500 characters after base64 encoding).
MAX_ENCODED_LENGTH: Final = 1_500

_MEMBER = re.compile(r"^message(?:#([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*))?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HTML = re.compile(r"<[A-Za-z!/?]")


def metadata() -> dict[str, Any]:
    """Discovery (§3): "An OpenID Provider supporting any of the [parameters] MUST include the
    corresponding discovery parameter value"."""
    return {
        "https://id.oidc.se/disco/userMessageSupported": True,
        "https://id.oidc.se/disco/userMessageSupportedMimeTypes": list(MIME_TYPES),
    }


def _decode(value: object, max_encoded: int = MAX_ENCODED_LENGTH) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("userMessage message must be base64 of UTF-8 text")
    try:
        raw = base64.b64decode(value, validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise ValueError("userMessage message must be base64 of UTF-8 text") from None
    if not text.strip():
        raise ValueError("userMessage message is empty")
    if _CONTROL.search(text):
        raise ValueError("userMessage message contains control characters")
    if len(base64.b64encode(text.encode("utf-8"))) > max_encoded:
        raise ValueError(f"userMessage message is too long ({max_encoded} characters after base64)")
    return text


def _primary(tag: str) -> str:
    return tag.split("-")[0].lower()


def parse_user_message(
    value: str | Mapping[str, Any] | None,
    *,
    locales: tuple[str, ...] = (),
    max_encoded: int = MAX_ENCODED_LENGTH,
) -> UserMessage | None:
    """The message a request asks to show, chosen for `locales` (``ui_locales`` order); None
    when the parameter is absent or empty. Raises ValueError, with a description that never
    repeats the input, for a value this provider must refuse. `max_encoded`: the longest
    variant, in base64 characters (a text to sign may be longer than a login's message)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = safejson.loads(value)
        except ValueError:
            raise ValueError("userMessage must be a JSON object") from None
    if not isinstance(value, Mapping):
        raise ValueError("userMessage must be a JSON object")
    mime_type = value.get("mime_type", PLAIN)
    if not isinstance(mime_type, str) or mime_type.split(";")[0].strip().lower() not in MIME_TYPES:
        raise ValueError("userMessage mime_type must be text/plain or text/markdown")
    markdown = mime_type.split(";")[0].strip().lower() == MARKDOWN

    untagged: str | None = None
    tagged: list[tuple[str, str]] = []  # (language tag, text), in the order given
    for key, member in value.items():
        m = _MEMBER.match(key) if isinstance(key, str) else None
        if m is None:
            continue  # other members (mime_type, extensions) are not messages
        text = _decode(member, max_encoded)
        if markdown and _HTML.search(text):
            raise ValueError("userMessage markdown must not contain HTML")
        if m.group(1) is None:
            untagged = text
        else:
            tagged.append((m.group(1), text))
    if untagged is None and not tagged:
        raise ValueError("userMessage has no message")

    def for_language(wanted: str) -> str | None:
        exact = [text for tag, text in tagged if tag.lower() == wanted.lower()]
        close = [text for tag, text in tagged if _primary(tag) == _primary(wanted)]
        found = exact or close
        return found[0] if found else None

    chosen = next((t for t in (for_language(loc) for loc in locales if loc) if t), None)
    if chosen is None:
        chosen = untagged if untagged is not None else tagged[0][1]
    by_language: dict[str, str] = {} if untagged is None else {"": untagged}
    for tag, text in tagged:
        by_language.setdefault(_primary(tag), text)
    return UserMessage(text=chosen, markdown=markdown, by_language=tuple(by_language.items()))


__all__ = ["MAX_ENCODED_LENGTH", "MIME_TYPES", "PARAMETER", "metadata", "parse_user_message"]
