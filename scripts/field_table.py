"""The ingest API page's per-service field table, generated from the ingest schemas.

    python -m scripts.field_table            # print the Markdown
    python -m scripts.field_table --write    # replace it in docs/ingest.md, between the markers

tests/test_readme.py regenerates it and compares, so the docs cannot drift from the code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, get_args

from services.ingest.logs.actions import ActionEntry, action_of
from services.ingest.logs.fields import EntryBase
from services.ingest.logs.schemas import COMMON_FIELDS, ENTRY_TYPES

PAGE = Path(__file__).resolve().parents[1] / "docs" / "ingest.md"
START, END = "<!-- fields:start -->", "<!-- fields:end -->"
# Services that share a body are one row.
SAME_BODY = {"ai-service": "lyfbot-service"}
# For each service whose entries have an `action`: an event_type that names one (the table's
# example; `event_types` refuses one that names none).
ACTION_EVENT_TYPES = {
    "auth-service": "user.login",
    "community-service": "post_created",
    "payment-service": "charge.refunded",
}


def type_of(spec: dict[str, Any]) -> str:
    """A field's JSON schema in a few words: `text ≤200`, `integer 1-10`, `one of a/b`."""
    options = [s for s in spec.get("anyOf", [spec]) if s.get("type") != "null"]
    spec = options[0] if options else spec
    if {"number", "string"} <= {s.get("type") for s in options}:  # a Decimal
        low = spec.get("minimum")
        return "decimal" + (f" ≥{low:g}" if low is not None else "") + ", 2 places"
    if "enum" in spec:
        return "one of " + "/".join(str(v) for v in spec["enum"])
    if "const" in spec:
        return str(spec["const"])
    kind = spec.get("type")
    if kind == "array":
        limit = f" (≤{spec['maxItems']})" if "maxItems" in spec else ""
        return f"list of {type_of(spec.get('items', {}))}{limit}"
    if kind == "string":
        if spec.get("format") == "date-time":
            return "timestamp"
        if "pattern" in spec and spec["pattern"] == "^[A-Z]{3}$":
            return "ISO 4217 code"
        return f"text ≤{spec['maxLength']:,}" if "maxLength" in spec else "text"
    if kind in ("integer", "number"):
        low, high = spec.get("minimum"), spec.get("maximum")
        bounds = f" {low:g}-{high:g}" if low is not None and high is not None else ""
        bounds = bounds or (f" ≥{low:g}" if low is not None else "")
        return ("integer" if kind == "integer" else "number") + bounds
    if kind == "boolean":
        return "boolean"
    if kind == "object":
        return "object"
    return str(kind)


def field_cell(model: type[EntryBase], name: str, spec: dict[str, Any]) -> str:
    shown = f"**{name}**" if name in model.FREE_TEXT else name
    if name == "action" and issubclass(model, ActionEntry):
        shown += " (unless the event_type names one)"
    top_level = model.identifier_slots.__func__ is EntryBase.identifier_slots.__func__  # type: ignore[attr-defined]
    note = " (keyed hash)" if top_level and name in model.IDENTIFIERS else ""
    return f"{shown}: {type_of(spec)}{note}"


def event_types(service: str, model: type[EntryBase]) -> str:
    if "type" in model.model_fields:  # Segment: event_type is the message type
        return "the `type`: " + "/".join(get_args(model.model_fields["type"].annotation))
    if issubclass(model, ActionEntry):
        example = ACTION_EVENT_TYPES[service]
        if action_of(example, model.ACTIONS) is None:
            raise ValueError(f"{service}: {example!r} names no action; pick one that does")
        return f"any; one naming an action sets `action` (e.g. `{example}`)"
    return "any (default `log`)"


def render() -> str:
    """The Markdown table: one row per entry type."""
    rows = [
        "| service | event_type | required fields | optional fields |",
        "|---|---|---|---|",
    ]
    for service, model in sorted(ENTRY_TYPES.items()):
        if service in SAME_BODY:
            continue
        schema = model.model_json_schema(mode="validation", by_alias=False)
        props: dict[str, Any] = schema["properties"]
        required = set(schema.get("required", ()))
        body = [n for n in props if n not in COMMON_FIELDS]
        must = [field_cell(model, n, props[n]) for n in body if n in required]
        may = [field_cell(model, n, props[n]) for n in body if n not in required]
        names = [s for s, m in sorted(SAME_BODY.items()) if m == service]
        label = ", ".join(f"`{s}`" for s in [service, *names])
        if names:
            other = ENTRY_TYPES[names[0]]
            own = other.model_json_schema(mode="validation")["properties"]
            extra = [n for n in own if n not in model.model_fields]
            may.append(f"{names[0]} also " + "; ".join(field_cell(other, n, own[n]) for n in extra))
        if model.identifier_slots.__func__ is not EntryBase.identifier_slots.__func__:  # type: ignore[attr-defined]
            may.append("identifying traits and `context.ip` land as keyed hashes (see below)")
        kinds = event_types(service, model)
        rows.append(f"| {label} | {kinds} | {'; '.join(must) or '—'} | {'; '.join(may)} |")
    return "\n".join(rows) + "\n"


def replaced(page: str, table: str) -> str:
    head, start, rest = page.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"docs/ingest.md has no {START} … {END} section")
    return f"{head}{START}\n{table}{END}{tail}"


def section(page: str) -> str:
    """What the page holds between the markers."""
    return page.partition(START)[2].partition(END)[0].removeprefix("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update docs/ingest.md in place")
    args = parser.parse_args(argv)
    table = render()
    if args.write:
        PAGE.write_text(replaced(PAGE.read_text(), table))
    else:
        sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
