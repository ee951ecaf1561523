"""Pull ingestion jobs: Postgres, file-drop and HTTP sources landing in raw/pulled/<job>,
exactly once across runs and a crash; errors, schedule, and the admin API."""

from __future__ import annotations

import base64
import http.server
import importlib.util
import ipaddress
import json
import os
import signal
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from libs.common.auth import Scope, create_key
from libs.common.crypto import is_encrypted, make_provider
from libs.common.db import get_engine, session_maker
from libs.common.lake import Lake
from libs.common.lake_crypto import PULLED_COLUMNS
from libs.common.subjects import subject_key
from services.ingest.config import IngestSettings
from services.ingest.pull import repository, runner
from services.ingest.pull.addresses import HostPolicy, address_refusal, host_allowed
from services.ingest.pull.dispatch import claim_due_jobs
from services.ingest.pull.runner import run_pull
from services.ingest.pull.schedule import next_run
from services.ingest.pull.schemas import table_path
from tests.ingest.lake_scan import decrypted_rows, stored_rows

SOURCE_DSN = os.environ["MINDLAKE_DATABASE_URL"].replace("+asyncpg", "")
EVERY_MINUTE = {"interval_s": 60}


# --- fixtures and helpers ---------------------------------------------------------------------
async def make_key(scopes: list[str]) -> str:
    async with session_maker()() as session:
        _, key = await create_key(
            session, name=f"pull-{uuid.uuid4().hex[:6]}", scopes=scopes, services=["*"]
        )
        await session.commit()
    return key


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[Any]:
    import httpx

    from services.ingest.main import app

    key = await make_key([Scope.ADMIN])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://ingest",
            headers={"Authorization": f"Bearer {key}"},
        ) as http,
    ):
        yield http


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def create(admin: Any, body: dict[str, Any]) -> dict[str, Any]:
    reply = await admin.post("/v1/pull-jobs", json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()  # type: ignore[no-any-return]


async def job_row(job_id: int) -> dict[str, Any]:
    async with get_engine().connect() as conn:
        row = await repository.load_job(conn, job_id)
    return dict(row)


async def sql(statement: str, **params: Any) -> None:
    async with get_engine().begin() as conn:
        await conn.execute(text(statement), params)


async def landed(settings: IngestSettings, name: str) -> list[dict[str, Any]]:
    """The job's rows as a reader sees them: records of known users decrypted."""
    return await decrypted_rows(Lake(settings), table_path(name), PULLED_COLUMNS)


async def records(settings: IngestSettings, name: str) -> list[dict[str, Any]]:
    return [orjson.loads(r["record"]) for r in await landed(settings, name)]


async def source_table() -> str:
    name = f"moods_{uuid.uuid4().hex[:8]}"
    await sql("CREATE SCHEMA IF NOT EXISTS pull_source_test")
    await sql(
        f"CREATE TABLE pull_source_test.{name} (id bigint PRIMARY KEY, user_id text,"
        " note text, updated_at timestamptz NOT NULL)"
    )
    return name


async def insert_rows(table: str, ids: range, *, at: datetime) -> None:
    for i in ids:
        await sql(
            f"INSERT INTO pull_source_test.{table} VALUES (:id, :user, :note, :at)",
            id=i,
            user=f"user-{i % 3}",
            note=f"felt better today, write me at person{i}@example.com",
            at=at + timedelta(seconds=i // 2),  # pairs share a cursor value
        )


def postgres_job(table: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": unique("moods"),
        "source": {
            "kind": "postgres",
            "dsn": SOURCE_DSN,
            "table_schema": "pull_source_test",
            "table": table,
            "cursor_column": "updated_at",
        },
        "schedule": EVERY_MINUTE,
        "landing": {"subject_field": "user_id", "keep_fields": ["updated_at"]},
        **extra,
    }


# --- Postgres source ------------------------------------------------------------------------
async def test_postgres_job_lands_new_rows_exactly_once(
    admin: Any, lake_settings: IngestSettings
) -> None:
    settings = lake_settings.model_copy(update={"ingest_pull_max_rows_per_run": 7})
    table = await source_table()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    await insert_rows(table, range(10), at=start)
    job = await create(admin, postgres_job(table))
    lake = Lake(settings)

    first = await run_pull(job["id"], settings, lake, trigger="manual")
    assert first.state == "landed"
    # 7 a run at most, but a page never splits rows sharing a cursor value: 8 (pairs)
    assert first.rows == 8
    second = await run_pull(job["id"], settings, lake, trigger="manual")
    assert second.rows == 2
    await insert_rows(table, range(10, 15), at=start)
    third = await run_pull(job["id"], settings, lake, trigger="manual")
    assert third.rows == 5
    fourth = await run_pull(job["id"], settings, lake, trigger="manual")
    assert fourth.state == "empty"

    rows = await records(settings, job["name"])
    assert sorted(r["id"] for r in rows) == list(range(15))
    assert not any("@example.com" in r["note"] for r in rows)  # free text scrubbed
    assert all(not r["user_id"].startswith("user-") for r in rows)  # subject hashed
    lake_rows = await landed(settings, job["name"])
    assert {r["subject_key"] for r in lake_rows} == {r["user_id"] for r in rows}
    assert all(r["pii_findings"] >= 1 for r in lake_rows)
    stored = stored_rows(lake, table_path(job["name"]))
    assert all(is_encrypted(r["record"]) for r in stored)  # a known user's: sealed with their key
    assert (await job_row(job["id"]))["cursor"]["t"] == "datetime"
    from services.ingest.quality import service as quality

    async with get_engine().connect() as conn:
        figures = {(f.source, f.data_type): f for f in await quality.report(conn)}
    assert figures[(job["name"], "pull")].accepted == 15  # the quality report counts runs


async def test_records_of_an_erased_user_are_not_pulled(
    admin: Any, lake_settings: IngestSettings
) -> None:
    table = await source_table()
    gone, kept = f"gone-{uuid.uuid4().hex[:8]}", f"kept-{uuid.uuid4().hex[:8]}"
    for i, user in enumerate([gone, kept, gone, kept]):
        await sql(
            f"INSERT INTO pull_source_test.{table} VALUES (:id, :user, 'a note', :at)",
            id=i,
            user=user,
            at=datetime(2026, 11, 1, tzinfo=UTC),
        )
    await sql(
        "INSERT INTO consent.tombstones (subject_key, request_id, erased_at)"
        " VALUES (:s, :r, now())",
        s=subject_key(gone, lake_settings),
        r=str(uuid.uuid4()),
    )
    job = await create(admin, postgres_job(table))
    assert (await run_pull(job["id"], lake_settings, Lake(lake_settings))).state == "landed"
    rows = await records(lake_settings, job["name"])
    assert sorted(r["id"] for r in rows) == [1, 3]
    assert {r["user_id"] for r in rows} == {subject_key(kept, lake_settings)}


async def test_crash_between_lake_commit_and_postgres_update_duplicates_nothing(
    admin: Any, lake_settings: IngestSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = await source_table()
    start = datetime(2026, 11, 2, tzinfo=UTC)
    await insert_rows(table, range(6), at=start)
    job = await create(admin, postgres_job(table))
    lake = Lake(lake_settings)

    class Crash(Exception):
        pass

    async def crash(*_: Any, **__: Any) -> None:
        raise Crash  # the worker dies after the Delta commit, before Postgres learns of it

    monkeypatch.setattr(runner.repository, "record_landed", crash)
    with pytest.raises(Crash):
        await run_pull(job["id"], lake_settings, lake)
    monkeypatch.undo()
    assert len(await landed(lake_settings, job["name"])) == 6
    assert (await job_row(job["id"]))["cursor"] is None  # Postgres's copy is behind

    again = await run_pull(job["id"], lake_settings, lake)
    assert again.recovered and again.state == "empty"
    await insert_rows(table, range(6, 9), at=start)
    assert (await run_pull(job["id"], lake_settings, lake)).rows == 3

    ids = [r["id"] for r in (await records(lake_settings, job["name"]))]
    assert sorted(ids) == list(range(9))
    async with get_engine().connect() as conn:
        states = (
            await conn.execute(
                text("SELECT state FROM ingest.pull_runs WHERE job_id = :j"), {"j": job["id"]}
            )
        ).scalars()
        assert "running" not in set(states)  # the crashed run was marked landed on recovery


async def test_failing_source_counts_errors_and_pauses_at_max_errors(
    admin: Any, tmp_path: Path
) -> None:
    settings = IngestSettings(lake_root=f"file://{tmp_path / 'lake'}", ingest_pull_timeout_s=2)
    body = postgres_job("nothing", max_errors=2)
    body["source"]["dsn"] = "postgresql://nobody:hunter2secret@127.0.0.1:1/nowhere"
    job = await create(admin, body)
    lake = Lake(settings)

    first = await run_pull(job["id"], settings, lake)
    assert first.state == "failed" and "connect" in (first.reason or "")
    row = await job_row(job["id"])
    assert (row["error_count"], row["status"]) == (1, "active")
    await run_pull(job["id"], settings, lake)
    row = await job_row(job["id"])
    assert (row["error_count"], row["status"]) == (2, "failed")
    assert "hunter2" not in (row["last_error"] or "")
    assert (await run_pull(job["id"], settings, lake)).state == "skipped"  # not scheduled

    resumed = await admin.patch(f"/v1/pull-jobs/{job['id']}", json={"status": "active"})
    assert resumed.json()["status"] == "active" and resumed.json()["error_count"] == 0


# --- file drop ------------------------------------------------------------------------------
def drop_files(lake: Lake, prefix: str, names: list[str]) -> None:
    for name in names:
        if name.endswith(".jsonl"):
            data = b'{"score": 3, "note": "ok"}\n{"score": 4, "note": "call 555-123-4567"}\n'
        elif name.endswith(".json"):
            data = orjson.dumps([{"score": 5}, {"score": 6}, {"score": 7}])
        else:
            data = b"score,note\n1,fine\n"
        lake.write_bytes(f"{prefix}/{name}", data)


async def test_file_drop_takes_each_file_once(admin: Any, lake_settings: IngestSettings) -> None:
    lake = Lake(lake_settings)
    prefix = f"incoming/{uuid.uuid4().hex[:8]}"
    drop_files(lake, prefix, ["batch-1.jsonl", "batch-2.json", "batch-3.csv"])
    lake.write_bytes(f"{prefix}/README.md", b"not a batch")
    job = await create(
        admin,
        {
            "name": unique("drop"),
            "source": {"kind": "file_drop", "path": prefix, "pattern": "batch-*"},
            "schedule": {"cron": "*/5 * * * *"},
        },
    )

    first = await run_pull(job["id"], lake_settings, lake)
    assert (first.state, first.files, first.rows) == ("landed", 3, 6)
    drop_files(lake, prefix, ["batch-4.jsonl"])
    second = await run_pull(job["id"], lake_settings, lake)
    assert (second.files, second.rows) == (1, 2)
    assert (await run_pull(job["id"], lake_settings, lake)).state == "empty"

    rows = await landed(lake_settings, job["name"])
    assert len(rows) == 8
    assert sorted(r["source_position"] for r in rows)[0] == "batch-1.jsonl:1"
    assert not any("555-123-4567" in r["record"] for r in rows)


async def test_file_drop_local_folder_only_under_allowed_roots(admin: Any, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.jsonl").write_bytes(b'{"score": 1}\n')
    lake_root = f"file://{tmp_path / 'lake'}"
    body = {
        "name": unique("local"),
        "source": {"kind": "file_drop", "location": "local", "path": str(drop), "pattern": "*"},
        "schedule": EVERY_MINUTE,
    }
    job = await create(admin, body)
    refused = IngestSettings(lake_root=lake_root)
    assert (await run_pull(job["id"], refused, Lake(refused))).state == "failed"
    allowed = IngestSettings(lake_root=lake_root, ingest_pull_local_roots=str(tmp_path))
    report = await run_pull(job["id"], allowed, Lake(allowed))
    assert (report.state, report.rows) == ("landed", 1)


# --- HTTP source ----------------------------------------------------------------------------
@dataclass
class JsonApi:
    url: str  # http://127.0.0.1:<port>/moods
    port: int
    items: list[dict[str, Any]]
    hits: list[str]  # the path of every request the server received


@pytest.fixture
def json_api() -> Iterator[JsonApi]:
    """A tiny JSON API we own: GET /moods?since=N -> {"data": {"items": [id >= N]}}
    (inclusive, as many APIs are: the runner drops what it already has); GET /redirect
    answers 302 to the cloud metadata address."""
    items: list[dict[str, Any]] = []
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            query = parse_qs(urlsplit(self.path).query)
            if self.path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.end_headers()
                return
            if self.headers.get("X-Token") != "t0ken":
                self.send_response(401)
                self.end_headers()
                return
            since = int(query.get("since", ["0"])[0])
            body = json.dumps({"data": {"items": [i for i in items if i["id"] >= since]}})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = int(server.server_address[1])
    yield JsonApi(url=f"http://127.0.0.1:{port}/moods", port=port, items=items, hits=hits)
    server.shutdown()
    server.server_close()


LOCAL_HOSTS = "127.0.0.1,localhost"


def private_ok(settings: IngestSettings, hosts: str = LOCAL_HOSTS) -> IngestSettings:
    """Settings that let HTTP jobs call our local test server (loopback: private)."""
    return settings.model_copy(
        update={"ingest_pull_allowed_hosts": hosts, "ingest_pull_allow_private_addresses": True}
    )


@pytest.fixture
def api_settings(admin: Any) -> Iterator[dict[str, Any]]:
    """The settings the API checks a new job with: pass keys to `api_settings.update()`;
    the local test server is allowed until a test says otherwise."""
    from services.ingest.config import get_ingest_settings
    from services.ingest.main import app

    overrides: dict[str, Any] = {
        "ingest_pull_allowed_hosts": LOCAL_HOSTS,
        "ingest_pull_allow_private_addresses": True,
        "ingest_pull_timeout_s": 5.0,
    }
    app.dependency_overrides[get_ingest_settings] = lambda: IngestSettings(**overrides)
    yield overrides
    app.dependency_overrides.pop(get_ingest_settings, None)


def http_job(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": unique("api"),
        "source": {
            "kind": "http",
            "url": url,
            "headers": {"X-Token": "t0ken"},
            "records_path": "data.items",
            "cursor_param": "since",
            "cursor_field": "id",
        },
        "schedule": EVERY_MINUTE,
        **extra,
    }


async def stored_job_text(job_id: int) -> tuple[str, bytes, bytes]:
    """The job's row as Postgres holds it: every column as text, and the two sealed ones."""
    async with get_engine().connect() as conn:
        row = (
            await conn.execute(
                text("SELECT j::text, secret_key, secrets FROM ingest.pull_jobs j WHERE id = :i"),
                {"i": job_id},
            )
        ).one()
    return str(row[0]), bytes(row[1]), bytes(row[2])


async def test_http_job_lands_its_records_incrementally(
    admin: Any, api_settings: dict[str, Any], lake_settings: IngestSettings, json_api: JsonApi
) -> None:
    settings = private_ok(lake_settings)
    json_api.items.extend({"id": i, "mood": "calm", "text": f"note {i}"} for i in range(1, 4))
    job = await create(admin, http_job(json_api.url))
    assert job["source"]["headers"] == {"X-Token": "***"}
    lake = Lake(settings)

    # the server answers 401 without the header: the run sends the decrypted token
    assert (await run_pull(job["id"], settings, lake)).rows == 3
    assert (await run_pull(job["id"], settings, lake)).state == "empty"
    json_api.items.append({"id": 4, "mood": "low", "text": "note 4"})
    assert (await run_pull(job["id"], settings, lake)).rows == 1
    assert sorted(r["id"] for r in (await records(settings, job["name"]))) == [1, 2, 3, 4]


# --- where HTTP jobs may connect --------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/x", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.1.2.3/x", "private"),
        ("http://192.168.1.20/x", "private"),
        ("http://[::1]/x", "loopback"),
        ("http://[fe80::1]/x", "link-local"),
        ("http://[fd00::1]/x", "private"),
        ("http://[::ffff:169.254.169.254]/x", "link-local"),
        ("http://0.0.0.0/x", "unspecified"),
        ("http://224.0.0.1/x", "multicast"),
        ("http://localhost:8080/x", "resolves to an address that is a loopback"),
        ("http://user:pw@api.example.com/x", "credentials"),
    ],
)
async def test_http_url_to_a_forbidden_address_is_refused_at_creation(
    admin: Any, api_settings: dict[str, Any], url: str, reason: str
) -> None:
    api_settings.update(ingest_pull_allowed_hosts="*", ingest_pull_allow_private_addresses=False)
    reply = await admin.post("/v1/pull-jobs", json=http_job(url))
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    errors = reply.json()["errors"]
    assert errors[0]["field"] == "source.url" and reason in errors[0]["reason"], errors
    assert "user:pw" not in reply.text


async def test_http_sources_are_off_until_hosts_are_allowed(
    admin: Any, api_settings: dict[str, Any]
) -> None:
    api_settings.update(ingest_pull_allowed_hosts="")
    off = await admin.post("/v1/pull-jobs", json=http_job("https://api.example.com/moods"))
    assert off.status_code == 422
    assert "MINDLAKE_INGEST_PULL_ALLOWED_HOSTS" in off.json()["errors"][0]["reason"]
    api_settings.update(ingest_pull_allowed_hosts="partner.example.org")
    other = await admin.post("/v1/pull-jobs", json=http_job("https://api.example.com/moods"))
    assert other.status_code == 422 and "not in" in other.json()["errors"][0]["reason"]
    # allowing private addresses never allows link-local ones (the cloud metadata service)
    api_settings.update(ingest_pull_allowed_hosts="*", ingest_pull_allow_private_addresses=True)
    metadata = await admin.post("/v1/pull-jobs", json=http_job("http://169.254.169.254/"))
    assert metadata.status_code == 422 and "link-local" in metadata.text


def test_allowlist_entries_match_hosts_and_their_subdomains() -> None:
    policy = HostPolicy.of(
        IngestSettings(ingest_pull_allowed_hosts=" Example.com , *.partner.io,api.x.org,[::1]")
    )
    assert policy.allowed == ("example.com", "partner.io", "api.x.org", "::1")
    for host in ("example.com", "a.b.example.com", "partner.io", "eu.partner.io", "api.x.org"):
        assert host_allowed(policy, host), host
    for host in ("badexample.com", "example.com.evil.net", "x.org", "v2.api.x.org.evil", "::2"):
        assert not host_allowed(policy, host), host
    assert host_allowed(policy, "0:0::1")  # an IP literal matches by value


def test_address_rules() -> None:
    def refused(address: str, allow_private: bool = False) -> str | None:
        return address_refusal(ipaddress.ip_address(address), allow_private=allow_private)

    assert refused("93.184.216.34") is None and refused("2606:4700::1111") is None
    assert "link-local" in (refused("169.254.169.254", allow_private=True) or "")
    assert "link-local" in (refused("64:ff9b::a9fe:a9fe") or "")  # NAT64 of the metadata IP
    assert "private" in (refused("100.64.0.1") or "")  # shared (carrier-grade NAT) space
    assert refused("10.0.0.1", allow_private=True) is None
    assert refused("127.0.0.1", allow_private=True) is None
    assert "multicast" in (refused("ff02::1", allow_private=True) or "")


async def test_a_name_resolving_to_a_private_address_is_refused_at_fetch(
    admin: Any, api_settings: dict[str, Any], lake_settings: IngestSettings, json_api: JsonApi
) -> None:
    """The rules apply again after DNS resolution at run time: a job saved while a name was
    allowed (or resolved elsewhere) cannot reach a private address later."""
    json_api.items.append({"id": 1, "text": "note"})
    job = await create(admin, http_job(f"http://localhost:{json_api.port}/moods"))
    strict = lake_settings.model_copy(update={"ingest_pull_allowed_hosts": "localhost"})
    assert not strict.ingest_pull_allow_private_addresses  # the default

    report = await run_pull(job["id"], strict, Lake(strict))
    assert report.state == "failed"
    assert "resolves to an address that is a loopback address" in (report.reason or "")
    assert json_api.hits == []  # refused before any connection
    assert "loopback" in ((await job_row(job["id"]))["last_error"] or "")

    allowed = private_ok(lake_settings, "localhost")
    assert (await run_pull(job["id"], allowed, Lake(allowed))).rows == 1
    assert json_api.hits  # the same job runs once private addresses are allowed


async def test_a_stored_url_to_the_metadata_address_is_refused_at_fetch(
    admin: Any, api_settings: dict[str, Any], lake_settings: IngestSettings, json_api: JsonApi
) -> None:
    """A row that bypassed the creation check (written before the rules, or by hand)."""
    job = await create(admin, http_job(json_api.url))
    source = {**(await job_row(job["id"]))["source"], "url": "http://169.254.169.254/latest/"}
    await sql(
        "UPDATE ingest.pull_jobs SET source = CAST(:s AS jsonb) WHERE id = :i",
        s=json.dumps(source),
        i=job["id"],
    )
    settings = lake_settings.model_copy(
        update={"ingest_pull_allowed_hosts": "*", "ingest_pull_allow_private_addresses": True}
    )
    report = await run_pull(job["id"], settings, Lake(settings))
    assert report.state == "failed" and "link-local" in (report.reason or "")
    assert "ConnectError" not in (report.reason or "")  # never tried to connect


async def test_a_redirect_is_not_followed(
    admin: Any, api_settings: dict[str, Any], lake_settings: IngestSettings, json_api: JsonApi
) -> None:
    job = await create(admin, http_job(f"http://127.0.0.1:{json_api.port}/redirect"))
    settings = private_ok(lake_settings)
    report = await run_pull(job["id"], settings, Lake(settings))
    assert report.state == "failed" and "redirects are not followed" in (report.reason or "")
    assert json_api.hits == ["/redirect"]  # the only request made


# --- secrets at rest ----------------------------------------------------------------------------
async def test_stored_row_holds_no_clear_secret_and_replies_are_redacted(
    admin: Any, api_settings: dict[str, Any], json_api: JsonApi
) -> None:
    body = postgres_job("moods")
    body["source"]["dsn"] = "postgresql://reader:s3cr3t-pw@db.internal:5432/app?password=pw2x"
    pg = await create(admin, body)
    api = await create(admin, http_job(json_api.url))
    for job, secret in ((pg, "s3cr3t-pw"), (pg, "pw2x"), (api, "t0ken")):
        row, wrapped, sealed = await stored_job_text(job["id"])
        assert secret not in row and secret.encode().hex() not in row
        assert secret.encode() not in sealed and secret.encode() not in wrapped
        assert len(wrapped) > 32 and len(sealed) > len(secret)
        assert secret not in json.dumps(job)
    assert pg["source"]["dsn"] == "postgresql://***@db.internal:5432/app"
    assert api["source"]["headers"] == {"X-Token": "***"}

    listed = (await admin.get("/v1/pull-jobs")).text
    one = (await admin.get(f"/v1/pull-jobs/{api['id']}")).text
    patched = await admin.patch(
        f"/v1/pull-jobs/{api['id']}",
        json={"source": {**http_job(json_api.url)["source"], "headers": {"X-Token": "n3w-t0k"}}},
    )
    assert patched.status_code == 200, patched.text
    for reply in (listed, one, patched.text):
        assert "t0ken" not in reply and "n3w-t0k" not in reply and "s3cr3t" not in reply
    row, _, sealed = await stored_job_text(api["id"])
    assert "n3w-t0k" not in row and b"n3w-t0k" not in sealed


async def test_secrets_sealed_under_another_master_key_fail_the_run_cleanly(
    admin: Any, api_settings: dict[str, Any], lake_settings: IngestSettings, json_api: JsonApi
) -> None:
    job = await create(admin, http_job(json_api.url))
    other = private_ok(lake_settings).model_copy(
        update={"master_key": SecretStr(base64.b64encode(b"k" * 32).decode())}
    )
    report = await run_pull(job["id"], other, Lake(other))
    assert report.state == "failed" and "cannot be decrypted" in (report.reason or "")
    assert json_api.hits == []


async def test_the_migration_seals_clear_secrets_of_existing_jobs(
    lake_settings: IngestSettings, json_api: JsonApi
) -> None:
    """A job stored by the old code (secrets in clear in `source`) is sealed by ingest_0009's
    data step and then runs with the same runtime code as a new one."""
    settings = private_ok(lake_settings)
    json_api.items.extend({"id": i} for i in (1, 2))
    source = {**http_job(json_api.url)["source"], "params": {}}
    async with get_engine().begin() as conn:
        job_id = await conn.scalar(
            text(
                "INSERT INTO ingest.pull_jobs (name, kind, source, schedule, landing, status,"
                " max_errors) VALUES (:n, 'http', CAST(:s AS jsonb), '{\"interval_s\": 60}',"
                " '{\"subject_field\": null, \"keep_fields\": []}', 'active', 3) RETURNING id"
            ),
            {"n": unique("legacy"), "s": json.dumps(source)},
        )
        migration = load_migration("2026_11_24-pull_job_secrets.py")
        provider = make_provider(settings)
        sealed = await conn.run_sync(lambda sync: migration.seal_rows(sync, provider))
    assert sealed >= 1
    row, _, _ = await stored_job_text(int(job_id))
    assert "t0ken" not in row
    assert (await job_row(int(job_id)))["source"]["headers"] == {"X-Token": "***"}
    assert (await run_pull(int(job_id), settings, Lake(settings))).rows == 2  # 401 without it


def load_migration(file_name: str) -> Any:
    path = Path(__file__).parents[2] / "services/ingest/migrations/versions" / file_name
    spec = importlib.util.spec_from_file_location("pull_job_secrets_migration", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({"url": "http://127.0.0.1/\x00x"}, "source.http.url"),
        ({"params": {"q": "a\x00"}}, "source.http.params"),
        ({"headers": {"X-Token": "a\r\nX-Evil: 1"}}, "source.http.headers"),
        ({"headers": {"Bad Name": "v"}}, "source.http.headers"),
        ({"records_path": "a\x00"}, "source.http.records_path"),
        ({"url": "http://127.0.0.1:99999/x"}, "source.http.url"),
    ],
)
async def test_bad_http_source_is_422_not_500(
    admin: Any, api_settings: dict[str, Any], source: dict[str, Any], field: str
) -> None:
    body = http_job("http://127.0.0.1:1/moods")
    body["source"].update(source)
    reply = await admin.post("/v1/pull-jobs", json=body)
    assert reply.status_code == 422, reply.text
    assert any(e["field"].startswith(field) for e in reply.json()["errors"]), reply.text


async def test_ids_beyond_bigint_are_422(admin: Any) -> None:
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/run")):
        reply = await admin.request(method, f"/v1/pull-jobs/{2**63}{path}", json={})
        assert reply.status_code == 422, (method, reply.text)


# --- schedule -------------------------------------------------------------------------------
def test_next_run_for_interval_and_cron() -> None:
    at = datetime(2026, 11, 22, 10, 7, 30, tzinfo=UTC)
    assert next_run({"interval_s": 90}, at) == at + timedelta(seconds=90)
    assert next_run({"cron": "*/15 * * * *"}, at) == datetime(2026, 11, 22, 10, 15, tzinfo=UTC)
    assert next_run({"cron": "0 3 * * *"}, at) == datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


async def test_pull_due_claims_due_active_jobs_and_advances_next_run(
    admin: Any, lake_settings: IngestSettings
) -> None:
    due = await create(admin, postgres_job("t", schedule={"interval_s": 600}))
    paused = await create(admin, postgres_job("t", status="paused"))
    await sql(
        "UPDATE ingest.pull_jobs SET next_run_at = now() - interval '1 minute'"
        " WHERE id IN (:a, :b)",
        a=due["id"],
        b=paused["id"],
    )
    claimed = await claim_due_jobs(lake_settings)
    assert due["id"] in claimed and paused["id"] not in claimed
    advanced = (await job_row(due["id"]))["next_run_at"]
    assert advanced > datetime.now(UTC) + timedelta(seconds=590)
    assert due["id"] not in await claim_due_jobs(lake_settings)  # not due any more


# --- API ------------------------------------------------------------------------------------
async def test_crud_and_run_now_endpoints(admin: Any) -> None:
    body = postgres_job("moods", name=unique("crud"))
    body["source"]["dsn"] = "postgresql://reader:s3cr3t-pw@db.internal:5432/app"
    job = await create(admin, body)
    assert "s3cr3t" not in json.dumps(job)
    assert job["source"]["dsn"] == "postgresql://***@db.internal:5432/app"
    assert job["table"] == f"raw/pulled/{body['name']}" and job["next_run_at"]

    clash = await admin.post("/v1/pull-jobs", json=body)
    assert clash.status_code == 409

    listed = (await admin.get("/v1/pull-jobs")).json()["jobs"]
    assert job["id"] in {j["id"] for j in listed}
    one = (await admin.get(f"/v1/pull-jobs/{job['id']}")).json()
    assert one["job"]["name"] == body["name"] and one["runs"] == []
    assert "s3cr3t" not in json.dumps(one)

    patched = await admin.patch(
        f"/v1/pull-jobs/{job['id']}",
        json={"schedule": {"cron": "0 * * * *"}, "status": "paused", "max_errors": 9},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["schedule"] == {"cron": "0 * * * *"}
    assert patched.json()["status"] == "paused" and patched.json()["max_errors"] == 9

    run = await admin.post(f"/v1/pull-jobs/{job['id']}/run")
    assert run.status_code == 202 and run.json()["task_id"]

    ingest_only = await make_key([Scope.INGEST_WRITE])
    denied = await admin.get("/v1/pull-jobs", headers={"Authorization": f"Bearer {ingest_only}"})
    assert denied.status_code == 403
    denied = await admin.post(
        f"/v1/pull-jobs/{job['id']}/run", headers={"Authorization": f"Bearer {ingest_only}"}
    )
    assert denied.status_code == 403

    assert (await admin.delete(f"/v1/pull-jobs/{job['id']}")).status_code == 204
    assert (await admin.get(f"/v1/pull-jobs/{job['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source": {"table": 'moods"; DROP TABLE x; --'}}, "source.postgres.table"),
        ({"source": {"cursor_column": "1st"}}, "source.postgres.cursor_column"),
        ({"source": {"dsn": "mysql://x@y/z"}}, "source.postgres.dsn"),
        ({"name": "../etc"}, "name"),
        ({"schedule": {"cron": "every day"}}, "schedule"),
        ({"schedule": {"interval_s": 60, "cron": "* * * * *"}}, "schedule"),
        ({"source": {"kind": "ftp"}}, "source"),
    ],
)
async def test_bad_config_is_422_with_field_and_reason(
    admin: Any, change: dict[str, Any], field: str
) -> None:
    body = postgres_job("moods")
    for key, value in change.items():
        if isinstance(value, dict) and key == "source":
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    reply = await admin.post("/v1/pull-jobs", json=body)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    errors = reply.json()["errors"]
    assert any(e["field"].startswith(field) and e["reason"] for e in errors), errors


# --- a real worker --------------------------------------------------------------------------
@pytest.mark.integration
async def test_run_now_through_a_real_worker(admin: Any, tmp_path: Path) -> None:
    from tests.integration.test_worker import start_worker, wait_for

    settings = IngestSettings(lake_root=f"file://{tmp_path / 'lake'}")
    table = await source_table()
    await insert_rows(table, range(4), at=datetime(2026, 11, 3, tzinfo=UTC))
    job = await create(admin, postgres_job(table))
    log_path = tmp_path / "worker.log"
    worker = start_worker(settings, log_path)
    try:
        assert (await admin.post(f"/v1/pull-jobs/{job['id']}/run")).status_code == 202
        await wait_for(
            f"SELECT count(*) FROM ingest.pull_runs WHERE job_id = {job['id']}"
            " AND state = 'landed' AND rows = 4",
            within_s=90,
            worker_log=log_path,
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    assert sorted(r["id"] for r in (await records(settings, job["name"]))) == [0, 1, 2, 3]
