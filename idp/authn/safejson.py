"""JSON from outside (a request, a token, a peer's answer), decoded with bounded depth and size.

The standard library's decoder recurses once per nesting level: ``[[[[...]]]]`` a few thousand
levels deep raises RecursionError, which no caller expects, and an integer of more than 4,300
digits raises a plain ValueError. `loads` measures the nesting without recursing before it
decodes, and turns every failure into one exception, `InvalidJSON` (a ValueError, so callers
that catch ValueError keep working), or into the caller's own error type (`error=`).

Every module that decodes JSON it did not write itself uses this one. In idp.authn, the leaf
package, so that every package may import it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from itertools import accumulate
from typing import Any, Final

#: Deeper than any document this provider reads (claims requests, JWT headers and payloads,
#: JWKS, authorization details, BankID's answers), far below the interpreter's recursion limit.
MAX_DEPTH: Final = 32
#: Characters; callers with a tighter limit of their own pass it.
MAX_SIZE: Final = 1_000_000

_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # linear: no overlap
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class InvalidJSON(json.JSONDecodeError):
    """Raised for text that is not JSON, or nests deeper or is longer than the caller allows.

    A JSONDecodeError (and so a ValueError) whose message never repeats the input."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "", 0)
        self.msg = message
        self.args = (message,)

    def __str__(self) -> str:
        return self.msg


class TooDeep(InvalidJSON):
    """Raised (with the default `error`) for text nested deeper than the caller allows."""


def depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text`, counted without recursion (for
    text that is not JSON, a number that `loads` will refuse anyway)."""
    brackets = re.sub(r"[^\[\]{}]+", "", _STRINGS.sub("", text))
    return max(accumulate(_STEP[ord(ch)] for ch in brackets), default=0)


def loads(
    data: str | bytes | bytearray,
    *,
    max_depth: int = MAX_DEPTH,
    max_size: int = MAX_SIZE,
    error: Callable[[str], Exception] = InvalidJSON,
    **hooks: Any,
) -> Any:
    """`json.loads` for text from outside. Raises ``error(description)`` (`InvalidJSON` unless
    the caller names its own) for bytes that are not UTF-8, text longer than `max_size`
    characters or nested deeper than `max_depth`, and anything the decoder refuses. `hooks` go
    to `json.loads` (``object_pairs_hook``, ``parse_constant``, ...); an exception a hook
    raises passes through unchanged."""
    if isinstance(data, (bytes, bytearray)):
        if len(data) > 4 * max_size:
            raise error("the JSON text is too long")
        try:
            data = bytes(data).decode(json.detect_encoding(bytes(data)))
        except (UnicodeDecodeError, LookupError):
            raise error("the JSON text is not valid UTF-8") from None
    if len(data) > max_size:
        raise error("the JSON text is too long")
    if (
        data.count("[") + data.count("{") > max_depth  # else it cannot be too deep
        and depth(data) > max_depth
    ):
        message = f"the JSON text nests too deeply (at most {max_depth} levels)"
        raise TooDeep(message) if error is InvalidJSON else error(message)
    try:
        return json.loads(data, **hooks)
    except json.JSONDecodeError:
        raise error("the text is not valid JSON") from None
    except RecursionError:  # a hook that recurses; the depth check keeps the decoder's own
        raise error("the JSON text nests too deeply") from None
    except ValueError as exc:
        if type(exc) is not ValueError:  # a hook's own ValueError subclass
            raise
        raise error("the text is not valid JSON") from None  # e.g. an integer of 5,000 digits
