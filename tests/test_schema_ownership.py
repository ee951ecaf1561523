"""Each Postgres schema is named in SQL only by its owner, and shared lake paths live in one place.

A service's code may name in SQL its own schema only (`services/<name>/` owns the schema
`<name>`). Another service's tables are read through a named contract its owner maintains in
libs/common (listed in CONTRACTS), a task or HTTP; libs/common's own `common` schema is named
by libs/common, and by the services listed in SHARED_COMMON for the protocol tables whose
lifecycle they drive. Lake tables that several services read (raw/events, the tenant and
pulled tables, quarantine) are named only in libs/common/lake_tables.py. Migrations are
history and are not scanned; docstrings are prose and are not either.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "main.py").exists())
SCHEMAS = [*SERVICES, "common"]

# libs/common modules that are a service's contract with the others, and the schema they name.
CONTRACTS = {
    "libs/common/consent.py": {"consent"},  # consent state, erased subjects
    "libs/common/lake_tables.py": {"ingest"},  # pull jobs' ids (a pulled table's lock key)
}
# Tables of libs/common's `common` schema that a service names itself, and which services.
SHARED_COMMON = {
    # libs/common/subject_rights.py: every service's step runner records its step there;
    # compliance creates the requests and advances them through their phases.
    "subject_requests": {"compliance"},
    "subject_request_steps": {"compliance"},
    # libs/common/audit.py: every service appends; compliance chains it into the audit log.
    "audit_outbox": {"compliance"},
}
LAKE_CONTRACT = "libs/common/lake_tables.py"
SHARED_LAKE_PATH = re.compile(r"^raw/(events|tenants|pulled|quarantine)\b")

_SQL = re.compile(
    r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE|TRUNCATE|EXISTS|ONLY|REFERENCES)\s+\(?\s*"
    rf'"?({"|".join(SCHEMAS)})"?\s*\.\s*"?(\w+)',
    re.IGNORECASE,
)


def _sources() -> Iterator[Path]:
    for folder in ("services", "libs/common"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" not in path.relative_to(ROOT).parts:
                yield path


def _docstrings(tree: ast.Module) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                ids.add(id(value))
    return ids


def _strings(source: str) -> Iterator[tuple[int, str]]:
    """The string constants of a module (f-string parts included), docstrings left out."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value


def _may_name(rel: str, schema: str, table: str) -> bool:
    """Whether the module at `rel` (relative to the root) may name `schema.table` in SQL."""
    parts = rel.split("/")
    owner = parts[1] if parts[0] == "services" else "common"
    if schema == owner:
        return True
    if rel in CONTRACTS:
        return schema in CONTRACTS[rel]
    return schema == "common" and owner in SHARED_COMMON.get(table, set())


def schema_violations(rel: str, source: str) -> list[str]:
    found = []
    for line, value in _strings(source):
        for match in _SQL.finditer(value):
            schema, table = match.group(1).lower(), match.group(2).lower()
            if not _may_name(rel, schema, table):
                found.append(f"{rel}:{line} names {schema}.{table}")
    for line, schema, table in _orm_names(source):
        if schema in SCHEMAS and not _may_name(rel, schema, table):
            found.append(f"{rel}:{line} maps onto {schema}.{table or '*'}")
    return found


def _orm_names(source: str) -> Iterator[tuple[int, str, str]]:
    """Schemas named by ORM calls: `ForeignKey("schema.table.column")`, `schema="..."`."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        first = node.args[0] if node.args else None
        if (
            name == "ForeignKey"
            and isinstance(first, ast.Constant)
            and isinstance(first.value, str)
        ):
            schema, _, rest = first.value.partition(".")
            yield node.lineno, schema, rest.partition(".")[0]
        for keyword in node.keywords:
            if keyword.arg == "schema" and isinstance(keyword.value, ast.Constant):
                yield node.lineno, str(keyword.value.value), ""


def lake_path_violations(rel: str, source: str) -> list[str]:
    if rel == LAKE_CONTRACT:
        return []
    return [
        f"{rel}:{line} spells the shared lake path {value!r}"
        for line, value in _strings(source)
        if SHARED_LAKE_PATH.match(value)
    ]


def _scan(check: Callable[[str, str], list[str]]) -> list[str]:
    found = []
    for path in _sources():
        found += check(path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8"))
    return found


def test_every_schema_is_named_only_by_its_owner_or_a_contract() -> None:
    assert _scan(schema_violations) == []


def test_shared_lake_tables_are_named_in_one_place() -> None:
    assert _scan(lake_path_violations) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('text("SELECT user_id FROM consent.current")', "names consent.current"),
        ('text("INSERT INTO consent.tombstones (subject_key) VALUES (:s)")', "consent.tombstones"),
        ('text("UPDATE ingest.pull_jobs SET name = :n")', "names ingest.pull_jobs"),
        ('sql = f"SELECT 1 FROM {x} JOIN export.exports e ON true"', "names export.exports"),
        ("fk = ForeignKey('consent.ledger.id')", "maps onto consent.ledger"),
        ("t = Table('x', metadata, schema='ingest')", "maps onto ingest.*"),
        ('q = "DELETE FROM common.data_keys"', "names common.data_keys"),
    ],
)
def test_the_check_catches_another_services_schema(source: str, expected: str) -> None:
    violations = schema_violations("services/compliance/probe.py", source + "\n")
    assert len(violations) == 1
    assert expected in violations[0]


def test_the_check_reads_code_not_prose() -> None:
    source = '"""Reads FROM consent.current, see raw/events."""\nx = "raw/events"\n'
    assert schema_violations("services/export/probe.py", source) == []
    assert lake_path_violations("services/export/probe.py", source) == [
        "services/export/probe.py:2 spells the shared lake path 'raw/events'"
    ]
    assert lake_path_violations(LAKE_CONTRACT, source) == []


def test_the_owner_and_the_contracts_may_name_their_schema() -> None:
    own = "services/compliance/x.py"
    assert _may_name(own, "compliance", "audit_log")
    assert _may_name(own, "common", "subject_requests")
    assert not _may_name(own, "common", "data_keys")
    assert _may_name("libs/common/consent.py", "consent", "current")
    assert not _may_name("libs/common/crypto.py", "consent", "tombstones")
