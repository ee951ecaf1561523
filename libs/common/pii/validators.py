"""Checks that turn a regex match into a finding: checksums and shape rules, no I/O."""

from __future__ import annotations

import re

_NON_DIGIT = re.compile(r"\D")
_EXTENSION = re.compile(r"\s?(?:x|ext\.?|extension)\s?\d+$", re.IGNORECASE)
_SSN_SAMPLES = frozenset({"123456789", "987654320", "078051120", "219099999"})


def digits_of(value: str) -> str:
    return _NON_DIGIT.sub("", value)


def luhn_ok(digits: str) -> bool:
    """The mod-10 check every payment card number carries."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_ok(value: str) -> bool:
    digits = digits_of(value)
    n = len(digits)
    # Issuer prefixes start 1-6 (0604 is an old Maestro range); 12 digits is Maestro only,
    # elsewhere it is far more often an order number.
    if not 12 <= n <= 19 or not (digits[0] in "123456" or digits.startswith("0604")):
        return False
    if n == 12 and digits[0] not in "56" and not digits.startswith("0604"):
        return False
    if digits.count(digits[0]) == n:
        return False
    return luhn_ok(digits)


def ssn_ok(value: str) -> bool:
    """SSA rules: no 000/666/9xx area, no 00 group, no 0000 serial, no published samples."""
    digits = digits_of(value)
    if len(digits) != 9 or digits in _SSN_SAMPLES:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return digits.count(digits[0]) != 9


def phone_ok(value: str) -> bool:
    """Digit counts of real numbers: 10-11 national, up to 15 with a country code (E.164)."""
    main = _EXTENSION.sub("", value)
    digits = digits_of(main)
    n = len(digits)
    if main.startswith("+"):
        return 9 <= n <= 15
    if main.isdigit():
        # An unbroken run is a phone only at national lengths; longer runs are cards or ids.
        return n in (10, 11)
    return 10 <= n <= 14
