"""applyTransformation over GraphQL (real Postgres, a local lake, the verification scan):
SQL, FILTER and COLUMN_RENAME make derived assets that hold only consenting users and never a
user id or a sealed column; their lineage names the source's version; a user's erasure
deletes their rows or drops an aggregate whole, leaving no trace; every refusal is a GraphQL
error with its reason, never a 500."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from sqlalchemy import text

from libs.common.auth import Scope
from libs.common.crypto import PREFIX
from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.settings import get_settings
from libs.common.subject_rights import Collected, SubjectContext
from libs.common.subjects import subject_key
from services.catalog.assets import service
from services.catalog.config import CatalogSettings
from services.catalog.subjects.stores import DerivedStore
from services.catalog.transform import service as transform
from services.compliance.verification.needles import needles_from
from services.compliance.verification.scan import scan
from tests.catalog.support import key, reconcile
from tests.catalog.test_graphql import gql, messages

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("lake_settings", ["local"],
                                                                 indirect=True)]  # fmt: skip
APPLY = """mutation($input: TransformationInput!) {
  applyTransformation(input: $input) {
    id name location owner purpose version rows tags columns { name privacy }
    lineage { upstream { asset { location } version run { job facets } } }
  }
}"""


class Moods:
    """A tenant table of three users (unique to the test): two consent to analytics."""

    def __init__(self, settings: CatalogSettings) -> None:
        tag = uuid.uuid4().hex[:8]
        self.settings = settings
        self.table = f"raw/tenants/t{tag}/moods"
        self.users = [f"ana-{tag}", f"bo-{tag}", f"cy-{tag}"]  # cy: no consent
        self.keys = [subject_key(u, settings) for u in self.users]
        pairs = enumerate(zip(self.users, self.keys, strict=True))
        rows = [(u, k, day, 3 + i) for i, (u, k) in pairs for day in (1, 2)]
        write_deltalake(Lake(settings).uri(self.table), pa.table({
            "user_id": [r[0] for r in rows], "subject_key": [r[1] for r in rows],
            "day": [date(2026, 12, r[2]) for r in rows], "score": [r[3] for r in rows],
            "kind": ["check_in"] * len(rows), "body": [f"{PREFIX}c2VhbGVk" for _ in rows],
        }), configuration={"delta.dataSkippingStatsColumns": "day,score"})  # fmt: skip

    @property
    def asset_id(self) -> str:
        return str(service.asset_id(self.table))


async def grant(users: list[str]) -> None:
    async with get_engine().begin() as conn:
        for user in users:
            await conn.execute(text(
                "INSERT INTO consent.ledger (user_id, purpose, granted, lawful_basis,"
                " policy_version, source, actor_key_id, recorded_at)"
                " VALUES (:u, 'analytics', true, 'consent', 'v1', 'app', 'test', now())"
            ), {"u": user})  # fmt: skip


@pytest.fixture
async def moods(catalog_env: CatalogSettings) -> Moods:
    table = Moods(catalog_env)
    await grant(table.users[:2])
    await reconcile(catalog_env)
    return table


async def apply(secret: str, asset: str, kind: str, parameters: Any,
                purpose: str = "Analytics") -> dict[str, Any]:  # fmt: skip
    variables = {"assetId": asset, "transformationType": kind, "parameters": parameters}
    return await gql(secret, APPLY, input=variables, purpose=purpose)


def derived_rows(settings: CatalogSettings, location: str) -> list[dict[str, Any]]:
    table = Lake(settings).delta_table(location)
    assert table is not None
    rows: list[dict[str, Any]] = table.to_pyarrow_table().to_pylist()
    return rows


async def traces(settings: CatalogSettings, user: str) -> list[Any]:
    needles = needles_from([Collected()], subject_key=subject_key(user, settings), user_id=user)
    report = await scan(needles, lake=Lake(settings), engine=None, redis=None, keys={},
                        search_qdrant=False)  # fmt: skip
    return list(report.traces)


def context(settings: CatalogSettings, user: str) -> SubjectContext:
    return SubjectContext(
        request_id=uuid.uuid4(), kind="erasure", user_id=user,
        subject_key=subject_key(user, settings), data_key=None, settings=get_settings(),
        lake=Lake(settings), engine=get_engine(),
    )  # fmt: skip


async def test_a_filter_keeps_consenting_users_and_no_identifier(moods: Moods) -> None:
    writer = await key(Scope.CATALOG_WRITE)
    name = f"high-{uuid.uuid4().hex[:6]}"
    body = await apply(writer, moods.asset_id, "FILTER", {
        "name": name, "where": [{"column": "score", "op": ">=", "value": 3},
                                {"column": "kind", "op": "in", "value": ["check_in", "x"]}],
    })  # fmt: skip
    assert "errors" not in body, body
    made = body["data"]["applyTransformation"]
    assert made["location"] == f"derived/analytics/{name}"
    assert (made["owner"], made["purpose"], made["version"]) == ("catalog", "analytics", 0)
    assert made["tags"] == ["derived", "analytics"] and made["rows"] == 4
    columns = {c["name"]: c["privacy"] for c in made["columns"]}
    assert columns == {"subject_key": "keyed_hash", "day": "clear", "score": "clear",
                       "kind": "clear"}  # no user_id, no sealed body  # fmt: skip
    rows = derived_rows(moods.settings, made["location"])
    assert sorted({r["subject_key"] for r in rows}) == sorted(moods.keys[:2])  # not cy
    [edge] = made["lineage"]["upstream"]
    assert edge["asset"]["location"] == moods.table and edge["version"] == 0
    assert edge["run"]["job"] == "catalog.transform"
    assert edge["run"]["facets"]["transformation"] == "FILTER"
    async with get_engine().connect() as conn:
        contributors = (await conn.scalars(text(
            "SELECT subject_key FROM catalog.derived_subjects WHERE location = :l"
        ), {"l": made["location"]})).all()  # fmt: skip
        audited = (await conn.scalars(text(
            "SELECT purpose FROM common.audit_outbox WHERE asset = :a AND action = 'Write'"
        ), {"a": f"catalog/assets/{moods.asset_id}"})).all()  # fmt: skip
    assert sorted(contributors) == sorted(moods.keys[:2]) and "Analytics" in audited


async def test_sql_rename_and_a_chain_of_derived_assets(moods: Moods) -> None:
    writer = await key(Scope.CATALOG_WRITE)
    tag = uuid.uuid4().hex[:6]
    renamed = await apply(
        writer,
        moods.asset_id,
        "COLUMN_RENAME",
        {"name": f"r-{tag}", "renames": {"score": "mood", "day": "on"}},
    )
    assert "errors" not in renamed, renamed
    made = renamed["data"]["applyTransformation"]
    assert [c["name"] for c in made["columns"]] == ["subject_key", "on", "mood", "kind"]
    daily = await apply(writer, made["id"], "SQL", {
        "name": f"daily-{tag}",
        "sql": 'SELECT "on", avg(mood) AS mean, count(*) AS n FROM source GROUP BY 1 ORDER BY 1',
    })  # fmt: skip
    assert "errors" not in daily, daily
    aggregate = daily["data"]["applyTransformation"]
    assert [(r["n"], r["mean"]) for r in derived_rows(moods.settings, aggregate["location"])] == [
        (2, 3.5), (2, 3.5)]  # fmt: skip
    assert aggregate["lineage"]["upstream"][0]["asset"]["location"] == made["location"]
    async with get_engine().connect() as conn:  # inherited: the users the aggregate came from
        contributors = (await conn.scalars(text(
            "SELECT subject_key FROM catalog.derived_subjects WHERE location = :l"
        ), {"l": aggregate["location"]})).all()  # fmt: skip
    assert sorted(contributors) == sorted(moods.keys[:2])


async def test_an_erasure_deletes_rows_and_drops_aggregates(moods: Moods) -> None:
    writer = await key(Scope.CATALOG_WRITE)
    tag = uuid.uuid4().hex[:6]
    rows = await apply(
        writer,
        moods.asset_id,
        "FILTER",
        {"name": f"rows-{tag}", "where": [{"column": "score", "op": "is not null"}]},
    )
    total = await apply(
        writer,
        moods.asset_id,
        "SQL",
        {"name": f"total-{tag}", "sql": "SELECT sum(score) AS s FROM source"},
    )
    kept, aggregate = (b["data"]["applyTransformation"]["location"] for b in (rows, total))
    ana, bo = moods.users[:2]
    assert await traces(moods.settings, ana) != []  # in the source and the derived rows
    receipt = await DerivedStore().erase(context(moods.settings, ana))
    assert receipt == {"rows": 2, "assets_dropped": 1}
    assert {r["subject_key"] for r in derived_rows(moods.settings, kept)} == {moods.keys[1]}
    assert Lake(moods.settings).list(aggregate) == []
    assert [k for k, _ in await traces(moods.settings, ana) if "derived/" in k.where] == []
    again = await DerivedStore().erase(context(moods.settings, ana))  # a redelivered step
    assert again == {"rows": 0, "assets_dropped": 0}
    collected = await DerivedStore().collect(context(moods.settings, bo))
    assert [r["derived_asset"] for r in collected.records] == [kept]  # the aggregate is gone
    assert {r["subject_key"] for r in collected.records[0]["rows"]} == {moods.keys[1]}
    reader = await key(Scope.CATALOG_READ)
    status = await gql(reader, "query($id: ID!) { getDataAsset(id: $id) { status } }",
                       id=str(service.asset_id(aggregate)))  # fmt: skip
    assert status["data"]["getDataAsset"]["status"] == "missing"


async def test_a_user_erased_while_it_runs_is_left_out(
    moods: Moods, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = transform.read_source

    async def read_then_erase(*args: Any, **kwargs: Any) -> Any:
        source = await read(*args, **kwargs)
        async with get_engine().begin() as conn:  # an erasure starts: its tombstone first
            await conn.execute(text("INSERT INTO consent.tombstones VALUES (:k, :r, :t)"),
                               {"k": moods.keys[0], "r": str(uuid.uuid4()),
                                "t": datetime.now(UTC)})  # fmt: skip
        return source

    monkeypatch.setattr(transform, "read_source", read_then_erase)
    writer = await key(Scope.CATALOG_WRITE)
    body = await apply(
        writer, moods.asset_id, "FILTER", {"where": [{"column": "score", "op": ">", "value": 0}]}
    )
    made = body["data"]["applyTransformation"]
    assert {r["subject_key"] for r in derived_rows(moods.settings, made["location"])} == {
        moods.keys[1]}  # fmt: skip
    async with get_engine().connect() as conn:
        contributors = (await conn.scalars(text(
            "SELECT subject_key FROM catalog.derived_subjects WHERE location = :l"
        ), {"l": made["location"]})).all()  # fmt: skip
    assert contributors == [moods.keys[1]]


async def test_refusals_are_graphql_errors_with_reasons(moods: Moods) -> None:
    writer, reader = await key(Scope.CATALOG_WRITE), await key(Scope.CATALOG_READ)
    source = moods.asset_id
    taken = f"taken-{uuid.uuid4().hex[:6]}"
    assert "errors" not in await apply(
        writer, source, "SQL", {"name": taken, "sql": "SELECT day FROM source"}
    )
    jsonl = str(service.asset_id("processed/training-data"))
    events = str(service.asset_id("raw/events"))
    cases: list[tuple[str, str, str, Any, str, str]] = [
        ("reader key", source, "SQL", {"sql": "SELECT 1 AS x"}, "Analytics", "FORBIDDEN"),
        ("no purpose", source, "SQL", {"sql": "SELECT 1 AS x"}, "Admin", "FORBIDDEN"),
        ("rust", source, "RUST_CODE", {"code": "fn main() {}"}, "Analytics", "BAD_USER_INPUT"),
        ("model", source, "ML_MODEL", {}, "Analytics", "BAD_USER_INPUT"),
        ("write sql", source, "SQL", {"sql": "DELETE FROM source"}, "Analytics", "BAD_USER_INPUT"),
        (
            "two statements",
            source,
            "SQL",
            {"sql": "SELECT 1 AS a; SELECT 2 AS b"},
            "Analytics",
            "BAD_USER_INPUT",
        ),
        ("nul", source, "SQL", {"sql": "SELECT 1\x00"}, "Analytics", "BAD_USER_INPUT"),
        (
            "file read",
            source,
            "SQL",
            {"sql": "SELECT * FROM read_csv('/etc/passwd')"},
            "Analytics",
            "BAD_USER_INPUT",
        ),
        (
            "user id",
            source,
            "SQL",
            {"sql": "SELECT user_id FROM source"},
            "Analytics",
            "BAD_USER_INPUT",
        ),
        (
            "forged key",
            source,
            "SQL",
            {"sql": "SELECT upper(subject_key) AS subject_key FROM source"},
            "Analytics",
            "BAD_USER_INPUT",
        ),
        (
            "odd name",
            source,
            "SQL",
            {"sql": 'SELECT day AS "a day" FROM source'},
            "Analytics",
            "BAD_USER_INPUT",
        ),
        (
            "unknown column",
            source,
            "FILTER",
            {"where": [{"column": "user_id", "op": "=", "value": "x"}]},
            "Analytics",
            "BAD_USER_INPUT",
        ),
        (
            "huge integer",
            source,
            "FILTER",
            {"where": [{"column": "score", "op": "=", "value": 2**70}]},
            "Analytics",
            "BAD_USER_INPUT",
        ),
        (
            "bad op",
            source,
            "FILTER",
            {"where": [{"column": "score", "op": "~", "value": 1}]},
            "Analytics",
            "BAD_USER_INPUT",
        ),
        (
            "rename key",
            source,
            "COLUMN_RENAME",
            {"renames": {"subject_key": "k"}},
            "Analytics",
            "BAD_USER_INPUT",
        ),
        (
            "clash",
            source,
            "COLUMN_RENAME",
            {"renames": {"day": "kind"}},
            "Analytics",
            "BAD_USER_INPUT",
        ),
        (
            "unknown parameter",
            source,
            "SQL",
            {"sql": "SELECT 1 AS x", "Ω": 1},
            "Analytics",
            "BAD_USER_INPUT",
        ),
        ("not an object", source, "SQL", ["SELECT 1"], "Analytics", "BAD_USER_INPUT"),
        (
            "bad name",
            source,
            "SQL",
            {"name": "../x", "sql": "SELECT 1 AS x"},
            "Analytics",
            "BAD_USER_INPUT",
        ),
        ("taken", source, "SQL", {"name": taken, "sql": "SELECT 1 AS x"}, "Analytics", "CONFLICT"),
        ("jsonl", jsonl, "SQL", {"sql": "SELECT 1 AS x"}, "MachineLearning", "BAD_USER_INPUT"),
        (
            "unknown asset",
            str(uuid.uuid4()),
            "SQL",
            {"sql": "SELECT 1 AS x"},
            "Analytics",
            "NOT_FOUND",
        ),
        ("not an id", "x\x00", "SQL", {"sql": "SELECT 1 AS x"}, "Analytics", "BAD_USER_INPUT"),
    ]
    for label, asset, kind, parameters, purpose, code in cases:
        body = await apply(reader if label == "reader key" else writer, asset, kind,
                           parameters, purpose)  # fmt: skip
        assert body["data"] is None, (label, body)
        assert body["errors"][0]["extensions"]["code"] == code, (label, body)
        assert "internal" not in messages(body), (label, body)
    other = await apply(writer, source, "SQL", {"sql": "SELECT day FROM source"}, "Research")
    assert "errors" not in other  # raw tenant data: consent for research is checked per row
    made = other["data"]["applyTransformation"]
    assert made["rows"] == 0  # nobody consents to research
    wrong = await apply(writer, made["id"], "SQL", {"sql": "SELECT 1 AS x"}, "Analytics")
    assert wrong["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "research only" in messages(wrong)
    assert "errors" not in await apply(
        writer, events, "SQL", {"sql": "SELECT count(*) AS n FROM source"}
    )
