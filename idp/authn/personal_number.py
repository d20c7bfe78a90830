"""Swedish personal identity numbers (personnummer), 12-digit form YYYYMMDDNNNN.

The last ten digits carry a Luhn check digit (Skatteverket, SKV 704). Coordination numbers
(samordningsnummer) add 60 to the day of birth; BankID issues IDs for them too.
"""

from __future__ import annotations

import datetime as dt
import re

# ASCII digits only: `\d` and int() also take Arabic-Indic, fullwidth and other Unicode digits,
# which would pass here and then reach BankID (or a log) in a form nobody compares against.
_FORMS = re.compile(r"^([0-9]{8})-?([0-9]{4})\Z")
_ASCII_DIGITS = re.compile(r"^[0-9]+\Z")


class InvalidPersonalNumber(ValueError):
    """Raised for a string that is not a valid 12-digit personal or coordination number.

    The message never repeats the input: personal numbers are personal data.
    """


def luhn_ok(digits: str) -> bool:
    if not _ASCII_DIGITS.match(digits):
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def parse(value: str) -> str:
    """Return the canonical 12 digits, accepting an optional dash before the last four."""
    m = _FORMS.match(value.strip()) if isinstance(value, str) else None
    if not m:
        raise InvalidPersonalNumber("expected 12 digits, YYYYMMDDNNNN or YYYYMMDD-NNNN")
    digits = m.group(1) + m.group(2)
    try:
        birthdate(digits)
    except ValueError:
        raise InvalidPersonalNumber("the first eight digits are not a valid date") from None
    if not luhn_ok(digits[2:]):
        raise InvalidPersonalNumber("the check digit is wrong")
    return digits


def is_valid(value: str) -> bool:
    try:
        parse(value)
    except InvalidPersonalNumber:
        return False
    return True


_HINT = re.compile(r"^(?:sub:)?([0-9]{12})\Z")


def from_login_hint(login_hint: str | None) -> str | None:
    """The person a ``login_hint`` names: 12 digits or ``sub:<12 digits>`` of a valid personal
    number; None for anything else (an e-mail address, say, is only a hint). The one reading
    of a hint: the protocol core decides whether the request may name a person with it, the
    BankID order is restricted to that person (``requirement.personalNumber``)."""
    m = _HINT.match(login_hint.strip()) if login_hint else None
    if m is None or not is_valid(m.group(1)):
        return None
    return m.group(1)


def birthdate(digits: str) -> dt.date:
    """Date of birth; coordination numbers (day + 60) map back to the real day. ValueError for
    anything but eight ASCII digits of a real date."""
    if not _ASCII_DIGITS.match(digits[:8]) or len(digits) < 8:
        raise ValueError("expected ASCII digits")
    year, month, day = int(digits[0:4]), int(digits[4:6]), int(digits[6:8])
    if day > 60:
        day -= 60
    return dt.date(year, month, day)


def with_check_digit(first_eleven: str) -> str:
    """Complete an 11-digit prefix with its Luhn check digit (used for test data)."""
    for d in "0123456789":
        if luhn_ok(first_eleven[2:] + d):
            return first_eleven + d
    raise AssertionError("unreachable")
