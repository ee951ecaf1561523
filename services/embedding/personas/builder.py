"""The persona builder: the user's categorized files merged into one persona per category, in
the source document's structure (type, name, lastUpdated, completeness, summary, insights,
dataPoints, traits, sources).

Built from every categorized file of the user each time, records counted once by their
fingerprint: a later upload updates a persona (and its sources), never duplicates a record.
A persona whose content did not change keeps its lastUpdated.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from services.embedding.personas.traits import TRAIT_BUILDERS
from services.embedding.personas.vocabulary import CATEGORIES, NAMES

Item = dict[str, Any]


def items_by_category(docs: Iterable[dict[str, Any]]) -> dict[str, list[tuple[Item, str]]]:
    """Each category's items with the file each came from, every record once."""
    seen: set[str] = set()
    out: dict[str, list[tuple[Item, str]]] = defaultdict(list)
    for doc in sorted(docs, key=lambda d: d["uploaded_at"]):
        for item in doc["items"]:
            if item["fingerprint"] in seen:
                continue
            seen.add(item["fingerprint"])
            for category in item["categories"]:
                if category in CATEGORIES:
                    out[category].append((item, doc["source"]))
    return out


def build_personas(
    docs: Iterable[dict[str, Any]], existing: dict[str, Any] | None, now: datetime
) -> dict[str, Any]:
    personas: dict[str, Any] = {}
    for category, pairs in items_by_category(docs).items():
        items = [item for item, _ in pairs]
        built = TRAIT_BUILDERS[category](items)
        filled = sum(1 for v in built.traits.values() if v not in (None, [], "", 0))
        persona = {
            "type": category,
            "name": NAMES[category],
            "lastUpdated": now.isoformat(),
            "completeness": round(100 * filled / len(built.traits)),
            "summary": built.summary,
            "insights": built.insights,
            "dataPoints": built.data_points,
            "traits": built.traits,
            "sources": list(Counter(source for _, source in pairs)),
            "records": len(items),
        }
        before = (existing or {}).get(category)
        if before and _content(before) == _content(persona):
            persona["lastUpdated"] = before["lastUpdated"]
        personas[category] = persona
    return personas


def _content(persona: dict[str, Any]) -> Any:
    return {k: v for k, v in persona.items() if k != "lastUpdated"}
