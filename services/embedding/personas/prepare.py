"""Records made safe and readable: each record's text scrubbed of personal data (the one PII
scrubber every part of MindLake uses), its fields read, and the names it mentions found.

Everything kept from here on comes from the scrubbed text or from numbers and dates: a
categorized file never carries what the scrubber would remove.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from spacy.language import Language

from libs.common.pii.ner import load_ner
from libs.common.pii.scrubber import PIIScrubber, get_scrubber
from services.embedding.personas.extract import Fields, fields_of, merchant_name, record_text
from services.embedding.personas.parsing import Record
from services.embedding.personas.vocabulary import INCOME_WORDS, activities, named

# "started a new job as a data analyst at Globex": the employer and the role in prose.
_EMPLOYER_IN_TEXT = re.compile(
    r"\b(?:job|work(?:s|ing|ed)?|position|role|started|joined|hired|employed)\b[^.!?]*?"
    r"\b(?:at|for|by|joined)\s+((?:[A-Z][\w&'-]*\s?){1,3})"
)
_ROLE_IN_TEXT = re.compile(r"\bas an? ((?:[a-z]+ ){0,3}?[a-z]+)\s+(?:at|for|with|in)\b")


@dataclass
class Prepared:
    text: str  # scrubbed
    fields: Fields
    entities: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""


@lru_cache(maxsize=1)
def _nlp() -> Language:
    return load_ner()


def prepare(
    records: Sequence[Record], *, scrubber: PIIScrubber | None = None, nlp: Language | None = None
) -> list[Prepared]:
    scrubber = scrubber or get_scrubber()
    fields = [fields_of(r) for r in records]
    # One scrub batch: per record its text, free text, merchant, employer, role and skills.
    per_record = [
        [record_text(r), f.free_text, f.merchant or "", f.employer or "", f.role or "", *f.skills]
        for r, f in zip(records, fields, strict=True)
    ]
    scrubbed = iter(r.text for r in scrubber.scrub_many([v for vs in per_record for v in vs]))
    clean = [[next(scrubbed) for _ in values] for values in per_record]
    docs = list((nlp or _nlp()).pipe([c[1] for c in clean], batch_size=64))
    out = []
    for f, values, doc in zip(fields, clean, docs, strict=True):
        text, f.free_text, merchant, employer, role, *skills = values
        f.merchant, f.employer, f.role = merchant or None, employer or None, role or None
        f.skills = [s for s in skills if s]
        item = Prepared(text=text, fields=f, entities=_entities(text, f, doc))
        item.fingerprint = _fingerprint(item)
        out.append(item)
    return out


def _entities(text: str, f: Fields, doc: Any) -> dict[str, Any]:
    ents: dict[str, Any] = {
        "platforms": named("social", text),
        "professional_platforms": named("professional", text),
        "services": named("entertainment", text),
        "wellbeing_services": named("wellbeing_services", text),
        "activities": activities(f.free_text or text),
        "institutions": named("financial", text),
        "organizations": sorted({e.text for e in doc.ents if e.label_ == "ORG"} - {"<PERSON>"}),
        "money_mentions": [e.text for e in doc.ents if e.label_ == "MONEY"],
    }
    if f.merchant:
        known = named("entertainment", f.merchant) or named("wellbeing_services", f.merchant)
        known = known or named("financial", f.merchant) or named("social", f.merchant)
        ents["merchant"] = known[0] if known else merchant_name(f.merchant)
    if f.amount is not None:
        ents["amount"] = round(f.amount, 2)
        ents["income"] = f.amount > 0 and bool(INCOME_WORDS.search(text))
    if f.currency:
        ents["currency"] = f.currency
    if f.date is not None:
        ents["date"] = f.date.isoformat()
    if f.free_text and not f.employer and (job := _EMPLOYER_IN_TEXT.search(f.free_text)):
        ents["employer"] = job.group(1).strip()
    if f.free_text and not f.role and (role := _ROLE_IN_TEXT.search(f.free_text)):
        ents["role"] = role.group(1).strip()
    for name in ("employer", "role"):
        if value := getattr(f, name):
            ents[name] = value
    if f.skills:
        ents["skills"] = f.skills[:20]
    if f.counts:
        ents["counts"] = f.counts
    return {k: v for k, v in ents.items() if v not in ([], None, "")}


def _fingerprint(p: Prepared) -> str:
    """Two copies of one record (overlapping exports) have one fingerprint: counted once."""
    key = "|".join((p.fields.section or "", p.text, str(p.entities.get("date", ""))))
    return hashlib.sha256(key.encode()).hexdigest()[:24]
