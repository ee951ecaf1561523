"""Schemathesis against each service's OpenAPI, in process (ASGI, no server): no input may get
a 5xx, and every answer must match the schema the service publishes.

Not collected on its own (no `test_` prefix): tests/test_openapi_fuzz.py runs it in a child
pytest with a database, a Redis db and a lake of its own, because what it sends (retention
policies, consent changes, pull jobs, exports) would otherwise change what other tests of the
session find. Run it directly to read schemathesis' own report, e.g. longer:

    MINDLAKE_FUZZ_EXAMPLES=200 .venv/bin/pytest tests/openapi_fuzz.py -p no:cacheprovider

Each operation gets schemathesis' examples, coverage (boundary values, wrong types, huge
integers, missing fields) and fuzzing phases, positive and negative, with strings that may
hold NUL and any non-ASCII text. Generation is derandomized and the seed fixed, so a run
is reproducible and a failure is not flaky; no example database is written. Then a sweep
gives every path and query parameter each value that made a service fail before (past
bigint, NUL, non-ASCII), which random generation reaches only by luck.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from libs.common.auth import Scope, create_key
from libs.common.db import get_engine, session_maker

# Run directly, the lake is a temporary folder rather than the checkout's var/lake.
os.environ.setdefault("MINDLAKE_LAKE_ROOT", f"file://{tempfile.mkdtemp(prefix='mindlake-fuzz-')}")
EXAMPLES = int(os.environ.get("MINDLAKE_FUZZ_EXAMPLES", "10"))
SEED = int(os.environ.get("MINDLAKE_FUZZ_SEED", "20261123"))

# No 5xx, and each answer as documented: a status the operation declares (every 4xx is a
# problem+json, libs/common/errors.document_problems), its content type, headers and body.
# Not enabled: negative_data_rejection and positive_data_acceptance, which judge whether the
# service should have accepted an input by the schema alone (extras are kept, ids are looked
# up: a 2xx for "unknown" fields and a 404 for a valid id are correct here).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# Mixed into generated strings and integers (a quarter of them): what broke services before.
# Hypothesis can make NUL and non-ASCII on its own, but rarely in a few examples.
HOSTILE_STRINGS = [
    "\x00",
    "a\x00b",
    "ünïcødé ✓",
    "😀",
    "\u2028",
    "%00",
    "9223372036854775808",
    "-9223372036854775809",
    "340282366920938463463374607431768211456",
    "user@example.org",
    "+1 555 0100",
]
HOSTILE_INTEGERS = [2**63, 2**64, -(2**63) - 1, 10**40, 0, -1]


def _config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "dictionaries": {
                "hostile-strings": {"values": HOSTILE_STRINGS},
                "hostile-integers": {"values": HOSTILE_INTEGERS},
            },
            "suppress-health-check": ["all"],  # slow, filtered and large inputs are the point
            "generation": {
                "mode": "all",
                "max-examples": EXAMPLES,
                "deterministic": True,
                "allow-x00": True,
                "codec": "utf-8",
                "database": "none",
                "dictionaries": {
                    "string": {"dictionary": "hostile-strings", "probability": 0.25},
                    "integer": {"dictionary": "hostile-integers", "probability": 0.25},
                },
            },
            # one operation at a time; the stateful phase (links between operations) is not
            # run by the pytest integration
            "phases": {"stateful": {"enabled": False}},
        }
    )


@pytest.fixture(scope="module")
async def keys(database: str, redis_url: str) -> dict[str, str]:
    """An admin key (every scope) and an ingest:write key, then the engine's pool emptied:
    the apps run on schemathesis' own event loop thread, and a pooled asyncpg connection
    belongs to the loop that opened it."""
    made: dict[str, str] = {}
    async with session_maker()() as session:
        for name, scopes in (("admin", [Scope.ADMIN]), ("writer", [Scope.INGEST_WRITE])):
            _, made[name] = await create_key(
                session, name=f"fuzz-{name}-{uuid.uuid4().hex[:6]}", scopes=scopes, services=["*"]
            )
        await session.commit()
    await get_engine().dispose()
    return made


@pytest.fixture(scope="module", autouse=True)
def _lifespans() -> Iterator[None]:
    """Schemathesis enters each app's lifespan on its first request; leave them at the end."""
    yield
    asgi.shutdown_lifespans()


def _schema(module: str, key: str) -> tuple[Any, str]:
    app = __import__(module, fromlist=["app"]).app
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=_config()), key


@pytest.fixture(scope="module")
def ingest_admin(keys: dict[str, str]) -> tuple[Any, str]:
    return _schema("services.ingest.main", keys["admin"])


@pytest.fixture(scope="module")
def ingest_writer(keys: dict[str, str]) -> tuple[Any, str]:
    return _schema("services.ingest.main", keys["writer"])


@pytest.fixture(scope="module")
def consent(keys: dict[str, str]) -> tuple[Any, str]:
    return _schema("services.consent.main", keys["admin"])


@pytest.fixture(scope="module")
def compliance(keys: dict[str, str]) -> tuple[Any, str]:
    return _schema("services.compliance.main", keys["admin"])


@pytest.fixture(scope="module")
def export(keys: dict[str, str]) -> tuple[Any, str]:
    return _schema("services.export.main", keys["admin"])


@pytest.fixture(scope="module")
def embedding(keys: dict[str, str]) -> tuple[Any, str]:
    return _schema("services.embedding.main", keys["admin"])


@pytest.fixture(scope="module")
def risk(keys: dict[str, str]) -> tuple[Any, str]:
    return _schema("services.risk.main", keys["admin"])


@pytest.fixture(scope="module")
def catalog(keys: dict[str, str]) -> tuple[Any, str]:
    return _schema("services.catalog.main", keys["admin"])


def _fuzz(schema: Any, key: str, checks: list[Any] = CHECKS) -> None:
    """Every operation through the examples, coverage and fuzzing phases; all failures are
    collected, then reported together (operation, check, curl to reproduce)."""
    from schemathesis.core.result import Ok
    from schemathesis.pytest.lazy import get_all_tests

    # Passed on every call: the config's headers do not reach every case.
    auth = {"Authorization": f"Bearer {key}"}

    def call(case: Any) -> None:
        case.call_and_validate(headers=auth, checks=checks)

    failures: list[str] = []
    tests = get_all_tests(schema=schema, test_func=call, settings=None, given_kwargs=None)
    for result in tests:
        assert isinstance(result, Ok), result
        operation, test = result.ok()
        try:
            test()
        except Exception as exc:  # a FailureGroup, or an error the call raised
            failures.append(f"== {operation.label}\n{exc}")
    assert not failures, "\n\n".join(failures)


# The sweep's values: what made services answer 500 before (ids past bigint, NUL, non-ASCII
# cursors and signatures). Random generation reaches a given parameter with them only by luck.
SWEEP_VALUES = [str(2**63), str(-(2**63) - 1), "10" * 20, "\x00", "a\x00b", "²", "ünï ✓"]


def _plain(parameter: dict[str, Any]) -> str:
    """A value the parameter accepts, for the ones not under test."""
    schema = parameter.get("schema", {})
    if "enum" in schema:
        return str(schema["enum"][0])
    kinds = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
    return "1" if kinds & {"integer", "number"} else "u1"


def _sweep(schema: Any, key: str) -> None:
    """Deterministic: each path and query parameter of every operation gets each of
    SWEEP_VALUES in turn, the others a plain value; no answer may be a 5xx or off-schema."""
    auth = {"Authorization": f"Bearer {key}"}
    failures: list[str] = []
    for path, methods in schema.raw_schema["paths"].items():
        for method, definition in methods.items():
            params = [p for p in definition.get("parameters", []) if p["in"] in ("path", "query")]
            operation = schema[path][method]
            for target in params:
                for value in SWEEP_VALUES:
                    chosen = {p["name"]: value if p is target else _plain(p) for p in params}
                    case = operation.Case(
                        path_parameters={
                            p["name"]: chosen[p["name"]] for p in params if p["in"] == "path"
                        },
                        query={p["name"]: chosen[p["name"]] for p in params if p["in"] == "query"},
                    )
                    try:
                        case.call_and_validate(headers=auth, checks=CHECKS)
                    except Exception as exc:
                        failures.append(
                            f"== {method.upper()} {path} {target['name']}={value!r}\n{exc}"
                        )
    assert not failures, "\n\n".join(failures)


def test_ingest(ingest_admin: tuple[Any, str]) -> None:
    _fuzz(*ingest_admin)
    _sweep(*ingest_admin)


def test_ingest_writer(ingest_writer: tuple[Any, str]) -> None:
    """What a producer's key reaches: the log, Segment and CSV routes (the rest answer 403)."""
    schema, key = ingest_writer
    writes = r"^/v1/(logs|batch|track|identify|page|screen|group|alias)$|^/internal/data/"
    _fuzz(schema.include(path_regex=writes), key)


def test_consent(consent: tuple[Any, str]) -> None:
    _fuzz(*consent)
    _sweep(*consent)


def test_compliance(compliance: tuple[Any, str]) -> None:
    _fuzz(*compliance)
    _sweep(*compliance)


def test_export(export: tuple[Any, str]) -> None:
    _fuzz(*export)
    _sweep(*export)


def test_embedding(embedding: tuple[Any, str]) -> None:
    _fuzz(*embedding)
    _sweep(*embedding)


def test_risk(risk: tuple[Any, str]) -> None:
    _fuzz(*risk)
    _sweep(*risk)


def test_catalog(catalog: tuple[Any, str]) -> None:
    _fuzz(*catalog)
    _sweep(*catalog)


def _json_values() -> Any:
    """GraphQL's JSON scalar (ingestion jobs' source, schedule, landing): plain values, and
    the shapes ingest takes (a file drop, an interval, a bad cron), hostile strings too."""
    import graphql
    from hypothesis import strategies as st
    from hypothesis_graphql import nodes

    def obj(**fields: Any) -> Any:
        return nodes.Object([graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=v)
                             for k, v in fields.items()])  # fmt: skip

    shapes = [
        obj(kind=nodes.String("file_drop"), path=nodes.String("drops/x")),
        obj(interval_s=nodes.Int(60)),
        obj(cron=nodes.String("nope")),
        obj(kind=nodes.String("http"), url=nodes.String("http://127.0.0.1:9/\x00")),
    ]
    return st.one_of(
        st.sampled_from(shapes),
        st.sampled_from(HOSTILE_STRINGS).map(nodes.String),
        st.sampled_from(HOSTILE_INTEGERS).map(nodes.Int),
    )


def test_catalog_graphql(
    keys: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GraphQL mode: queries and mutations generated from the schema (hypothesis-graphql),
    hostile values mixed in, ingest's real API behind the ingestion jobs; no answer may be a
    5xx or a GraphQL server error."""
    from services.catalog.config import get_catalog_settings
    from tests.catalog.support import ingest_server

    with ingest_server({}, tmp_path / "ingest-api.log") as base:
        monkeypatch.setenv("MINDLAKE_CATALOG_INGEST_URL", base)
        get_catalog_settings.cache_clear()
        app = __import__("services.catalog.main", fromlist=["app"]).app
        schemathesis.graphql.scalar("JSON", _json_values())
        schema = schemathesis.graphql.from_asgi("/graphql", app, config=_config())
        _fuzz(schema, keys["admin"], checks=[not_a_server_error])
    get_catalog_settings.cache_clear()
