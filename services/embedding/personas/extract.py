"""What a record says, read from its fields: an amount, a date, a merchant, an employer, a role,
the free text, and the section of the export it came from.

Field names decide (`Amount`, `Posted Date`, `Description`, `employer`, ...): exports name
their columns, and a column is read far more reliably than a guess at a sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dateutil import parser as dateparser

from services.embedding.personas.parsing import Record

# Identifier fields are dropped before anything reads the record: never kept, never embedded.
IDENTIFIER_KEY = re.compile(
    r"user_?name|handle|screen_?name|e-?mail|phone|user_?id|account_?(number|no)|iban|"
    r"sort_?code|routing|card_?number|address|ip|password|full_?name|first_?name|last_?name",
    re.I,
)
_AMOUNT_KEY = re.compile(r"amount|debit|credit|price|cost|total|paid|value|sum", re.I)
_DATE_KEY = re.compile(r"date|time|timestamp|created|posted|when", re.I)
_MERCHANT_KEY = re.compile(
    r"description|merchant|payee|narrative|details|memo|counterparty|vendor|name", re.I
)
_EMPLOYER_KEY = re.compile(r"employer|company|organi[sz]ation", re.I)
_ROLE_KEY = re.compile(r"\b(title|position|role|job)\b", re.I)
_SKILL_KEY = re.compile(r"skill", re.I)
_TEXT_KEY = re.compile(r"text|caption|content|body|message|post|comment|bio|note", re.I)
_COUNT_KEY = re.compile(r"followers|following|friends|connections", re.I)
_NUMBER = re.compile(r"^\(?-?[£$€¥₹]?\s?-?[\d,]*\.?\d+\s?[A-Z]{0,3}\)?$")
_CURRENCY = {"£": "GBP", "$": "USD", "€": "EUR", "¥": "JPY", "₹": "INR"}


@dataclass
class Fields:
    section: str | None = None
    amount: float | None = None
    currency: str | None = None
    date: datetime | None = None
    merchant: str | None = None  # raw: scrubbed before it is kept
    employer: str | None = None
    role: str | None = None
    skills: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # followers, friends, ...
    free_text: str = ""  # the record's prose (posts, lines of a text file)


def _leaf(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def parse_amount(value: Any) -> tuple[float, str | None] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value), None
    if not isinstance(value, str) or not _NUMBER.match(value.strip()):
        return None
    text = value.strip()
    currency = next((code for sym, code in _CURRENCY.items() if sym in text), None)
    negative = text.startswith("(") or "-" in text
    digits = re.sub(r"[^\d.]", "", text)
    try:
        amount = float(digits)
    except ValueError:
        return None
    return (-amount if negative else amount), currency


def parse_date(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 1e9:
        seconds = value / 1000 if value > 1e12 else value  # epoch milliseconds or seconds
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not 6 <= len(value) <= 40 or not re.search(r"\d", value):
        return None
    try:
        parsed: datetime = dateparser.parse(value, dayfirst=False)
    except (ValueError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _take_amount(out: Fields, leaf: str, value: object) -> bool:
    """Fill the amount (and its currency) from an amount-like column; False if it is not one."""
    if not _AMOUNT_KEY.search(leaf) or out.amount is not None:
        return False
    parsed = parse_amount(value)
    if parsed is None:
        return False
    amount, currency = parsed
    # a separate debit column holds spending as a positive number
    out.amount = -abs(amount) if re.search("debit", leaf, re.I) else amount
    out.currency = currency
    return True


def fields_of(record: Record) -> Fields:
    out = Fields(section=record.get("_section"))
    texts: list[str] = []
    for key, value in record.items():
        leaf = _leaf(key)
        if key == "_section" or IDENTIFIER_KEY.fullmatch(leaf):
            continue
        if _take_amount(out, leaf, value):
            continue
        if leaf.lower() == "currency" and isinstance(value, str):
            out.currency = value.upper()[:3]
        elif _DATE_KEY.search(leaf) and out.date is None and (d := parse_date(value)):
            out.date = d
        elif _EMPLOYER_KEY.search(leaf) and isinstance(value, str):
            out.employer = value
        elif _ROLE_KEY.search(leaf) and isinstance(value, str):
            out.role = value
        elif _SKILL_KEY.search(leaf):
            out.skills += value if isinstance(value, list) else [str(value)]
        elif _COUNT_KEY.search(leaf) and isinstance(value, int | float):
            out.counts[leaf.lower()] = int(value)
        elif _MERCHANT_KEY.search(leaf) and isinstance(value, str) and out.merchant is None:
            out.merchant = value
        elif _TEXT_KEY.search(leaf) and isinstance(value, str):
            texts.append(value)
        elif leaf == "text" or (leaf == "value" and isinstance(value, str)):
            texts.append(str(value))
    out.free_text = " ".join(texts)
    return out


def record_text(record: Record) -> str:
    """The record as one line for the model and the scrubber: `section: key: value; ...`."""
    parts = [
        f"{_leaf(k)}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in record.items()
        if k != "_section" and not IDENTIFIER_KEY.fullmatch(_leaf(k))
    ]
    head = f"{record['_section']}: " if record.get("_section") else ""
    return (head + "; ".join(parts))[:1000]


_PII_TAG = re.compile(r"<[A-Z][A-Z_]*(?::[0-9a-f]+)?>")
_REFERENCE = re.compile(r"[*#]?\b[\w-]*\d[\w-]*\b|[^\w\s&'+.-]")


def merchant_name(description: str) -> str:
    """A bank descriptor as a name: `NETFLIX.COM 8732 LON` -> `Netflix.Com Lon`; references
    (anything with a digit) dropped, at most three words."""
    words = _REFERENCE.sub(" ", _PII_TAG.sub(" ", description)).split()
    name = " ".join(words[:3]).strip(" .-")
    return name.title() if name.isupper() or name.islower() else name
