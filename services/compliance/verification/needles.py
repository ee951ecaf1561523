"""What the erasure scan searches for: the user's identifiers and sentences only they wrote.

Built from the parts the stores' handlers collected before the erase (`Collected`):
identifiers (user id, emails, phones) are matched as whole tokens, sentences as substrings.
A sentence is cut where a serializer could rewrite it (a quote or backslash is escaped in JSON,
doubled in CSV and in Postgres' row text; `<`, `>`, `&` are escaped by HTML-safe encoders) and
where the PII scrubber replaced something (`<PERSON>`, `<EMAIL_ADDRESS:3fa2...>`, `****1234`):
what is left are fragments that appear verbatim wherever the text was copied. A fragment with
non-ASCII letters is searched in its JSON `\\uXXXX` form as well.

The needles' text never leaves this process: the scan reports needles by index.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from libs.common.subject_rights import Collected

Kind = Literal["identifier", "sentence"]

MIN_IDENTIFIER_CHARS = 3  # a shorter id would match every other number or word
# A scrubber replacement: a tag, a keyed-hash tag, a mask (libs/common/pii/operators.py).
PII_TAG = re.compile(r"<[A-Z][A-Z_]*(?::[0-9a-f]+)?>|\*{3,}")
# A keyed-hash tag unique to the user's value; a hashed name is not (another John hashes alike).
# Searched without its brackets (an HTML-safe encoder escapes those).
HASHED_ID = re.compile(r"<((?!PERSON:)[A-Z][A-Z_]*:[0-9a-f]{8,})>")
# Where JSON, CSV or row text could rewrite a sentence: cut there.
UNSAFE = re.compile(r"[\"\\<>&\x00-\x1f\x7f]+")
SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+|\n+")
PHONE = re.compile(r"^\+?[\d\s().-]{7,}$")
# Prose, not a token: an id, hash or file name the user never wrote (an upload id, a reason
# code) is shared by other records and would make the scan fail forever.
MIN_SENTENCE_WORDS = 4
WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass(frozen=True)
class Form:
    """One byte string to search for, standing for needle `index` of `kind`."""

    kind: Kind
    index: int
    text: bytes  # ASCII-lowercased: the scan lowercases what it searches


@dataclass
class Needles:
    subject_key: str
    identifiers: list[str] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)

    def forms(self) -> Iterator[Form]:
        """Every byte string the scan looks for (several per needle for phones and non-ASCII
        sentences), lowercased: identifiers match case-insensitively (emails do), and a
        sentence found in another case is the user's sentence all the same."""
        seen: set[bytes] = set()
        for kind, values in (("identifier", self.identifiers), ("sentence", self.sentences)):
            for index, value in enumerate(values):
                for variant in _variants(kind, value):  # type: ignore[arg-type]
                    data = variant.encode().lower()
                    if data and data not in seen:
                        seen.add(data)
                        yield Form(kind, index, data)  # type: ignore[arg-type]


def _variants(kind: Kind, value: str) -> list[str]:
    out = [value]
    if kind == "identifier" and PHONE.match(value):
        digits = re.sub(r"\D", "", value)
        if len(digits) >= 7:
            out += [digits, "+" + digits]
    if not value.isascii():
        out.append(json.dumps(value)[1:-1])  # the JSON \uXXXX form (ensure_ascii encoders)
    return out


def _is_prose(fragment: str) -> bool:
    words = fragment.split()
    return len(words) >= MIN_SENTENCE_WORDS and len(WORD.findall(fragment)) >= MIN_SENTENCE_WORDS


def split_sentences(text: str, *, min_chars: int) -> list[str]:
    """The verbatim-safe fragments of `text` at least `min_chars` long."""
    out: list[str] = []
    for sentence in SENTENCE_END.split(text):
        for piece in PII_TAG.split(sentence):
            for raw in UNSAFE.split(piece):
                fragment = raw.strip().strip(",;:.!?\u3002\uff01\uff1f").strip()
                if len(fragment) >= min_chars and _is_prose(fragment):
                    out.append(fragment)
    return out


def needles_from(
    parts: Iterable[Collected],
    *,
    subject_key: str,
    user_id: str | None = None,
    min_sentence_chars: int = 30,
    max_sentences: int = 500,
) -> Needles:
    """The needles for one user from every store's collected part.

    Identifiers: the user id, then the stores' identifiers and keyed-hash tags found in the
    texts, deduplicated in order. Sentences: fragments of at least `min_sentence_chars`,
    deduplicated, the longest `max_sentences` (longest first: the longer, the surer a match
    is the user's own words)."""
    identifiers: dict[str, None] = {}
    if user_id:
        identifiers[user_id.strip()] = None
    sentences: set[str] = set()
    for part in parts:
        for raw in part.identifiers:
            if len(ident := raw.strip()) >= MIN_IDENTIFIER_CHARS:
                identifiers[ident] = None
        for text in part.texts:
            for tag in HASHED_ID.findall(text):
                identifiers[tag] = None
            sentences.update(split_sentences(text, min_chars=min_sentence_chars))
    ids = [i for i in identifiers if len(i) >= MIN_IDENTIFIER_CHARS]
    kept = sorted(sentences, key=lambda s: (-len(s), s))[:max_sentences]
    return Needles(subject_key=subject_key, identifiers=ids, sentences=kept)


# --- matching ----------------------------------------------------------------------------------
# Bytes that continue an identifier: "u-1" is not in "u-10", "xu-1" or "a.jane@x.org". A "."
# after it continues it only before another such byte ("jane@x.org.uk"), not at a sentence end.
_TOKEN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@-.")
_WORD = _TOKEN - {ord(".")}
_DOT = ord(".")


@dataclass(frozen=True)
class Match:
    form: Form
    start: int
    end: int


class Matcher:
    """Every needle form at once (Aho-Corasick, one pass over the bytes whatever the number of
    needles); identifiers kept only where they stand as whole tokens."""

    def __init__(self, needles: Needles) -> None:
        import ahocorasick_rs

        self.needles = needles
        self.forms = list(needles.forms())
        self._automaton = (
            ahocorasick_rs.BytesAhoCorasick(
                [f.text for f in self.forms],
                implementation=ahocorasick_rs.Implementation.DFA,
            )
            if self.forms
            else None
        )

    def find(self, data: bytes | memoryview, *, tokens: bool = True) -> list[Match]:
        """Matches in lowercased `data`. With `tokens=False` identifiers are not checked for
        token edges and every match is returned: the caller checks the edges, when `data`
        holds many values end to end, and counts per value."""
        if self._automaton is None:
            return []
        out = []
        ends: set[tuple[str, int, int]] = set()  # two forms of a phone end at the same byte
        for number, start, end in self._automaton.find_matches_as_indexes(data, overlapping=True):
            form = self.forms[number]
            if tokens:
                if form.kind == "identifier" and not self.is_token(data, start, end):
                    continue
                # Only among token matches: a non-token form ending at the same byte (the
                # `+` form in `x+1555…`) must not hide the token one (`1555…`).
                if (form.kind, form.index, end) in ends:
                    continue
                ends.add((form.kind, form.index, end))
            out.append(Match(form, start, end))
        return out

    @staticmethod
    def is_token(
        data: bytes | memoryview, start: int, end: int, lo: int = 0, hi: int | None = None
    ) -> bool:
        hi = len(data) if hi is None else hi
        if start > lo and data[start - 1] in _TOKEN:
            return False
        if end < hi:
            after = data[end]
            if after in _WORD:
                return False
            if after == _DOT and end + 1 < hi and data[end + 1] in _WORD:
                return False
        return True

    def redact(self, text: str) -> str:
        """`text` (a path, a key name) with every needle in it replaced by its index (token
        edges or not: this is about what the report shows)."""
        data = text.encode()
        found = sorted(self.find(data.lower(), tokens=False), key=lambda m: (m.start, -m.end))
        out, pos = [], 0
        for m in found:
            if m.start < pos:
                continue
            out += [data[pos : m.start].decode(errors="replace"), f"<{m.form.kind}:{m.form.index}>"]
            pos = m.end
        out.append(data[pos:].decode(errors="replace"))
        return "".join(out)
