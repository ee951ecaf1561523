"""The stages: receive an upload (stage 1), categorize one file (1 -> 2), build the user's
personas (2 -> 3); and stopping them all when personalization consent is withdrawn.

Each file is categorized on its own: a file that cannot be read fails alone, with its reason,
and the user's other files go on. Transitions are conditional updates, so a redelivered task
finds its upload already taken or done and does nothing twice.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.crypto import DataKeys, decrypt_text, encrypt_text
from libs.common.errors import Forbidden
from libs.common.lake import Lake
from libs.common.pii.scrubber import get_scrubber
from services.embedding.config import EmbeddingSettings
from services.embedding.personas import repository, storage
from services.embedding.personas.builder import build_personas
from services.embedding.personas.llm import categorizer_for
from services.embedding.personas.metrics import FILES, RECORDS, STAGE_SECONDS
from services.embedding.personas.models import UploadStatus
from services.embedding.personas.parsing import FileRejected, kind_of, records
from services.embedding.personas.prepare import prepare
from services.embedding.personas.sealed import SealedError

log = structlog.get_logger(__name__)
BATCH = 256  # records prepared and categorized together (one scrub and one encode call)
CATEGORIZE_LIMIT_S = 1800  # the categorize task's time limit: a claim older than this is dead


def now() -> datetime:
    return datetime.now(UTC)


async def user_key(
    engine: AsyncEngine, settings: EmbeddingSettings, sk: str, *, create: bool
) -> bytes | None:
    async with engine.begin() as conn:
        keys = await DataKeys(settings).for_subjects(conn, [sk], create=create)
    return keys.get(sk)


# --- stage 1 ---------------------------------------------------------------------------------
async def receive(
    *,
    engine: AsyncEngine,
    settings: EmbeddingSettings,
    lake: Lake,
    subject_key: str,
    name: str,
    media_type: str | None,
    chunks: AsyncIterator[bytes],
) -> dict[str, Any]:
    """Seal the body into stage 1; the upload's row, for the caller's transaction to insert."""
    key = await user_key(engine, settings, subject_key, create=True)
    if key is None:  # a consent tombstone: the user was erased
        raise Forbidden("this user's data was erased; nothing more is accepted for them")
    upload_id = uuid.uuid4()
    path = storage.raw_path(settings, subject_key, str(upload_id))
    received = await storage.receive(
        lake, path, key, chunks, max_bytes=settings.embedding_persona_max_bytes
    )
    at = now()
    waits = received.size > settings.embedding_persona_auto_max_bytes
    FILES.labels("waiting" if waits else "received").inc()
    return {
        "upload_id": upload_id,
        "subject_key": subject_key,
        "name_sealed": encrypt_text(key, name, subject_key),
        "kind": kind_of(name, media_type) or "auto",
        "size_bytes": received.size,
        "sha256": received.sha256,
        "stage": 1,
        "status": UploadStatus.WAITING if waits else UploadStatus.QUEUED,
        "reason": (
            f"over {settings.embedding_persona_auto_max_bytes} bytes: processed on request "
            "(POST .../uploads/{id}/process)"
            if waits
            else None
        ),
        "created_at": at,
        "updated_at": at,
    }


def shown(row: dict[str, Any], key: bytes | None) -> dict[str, Any]:
    """An upload as its user sees it: the name opened with their key."""
    name = decrypt_text(key, row["name_sealed"], row["subject_key"]) if key else None
    fields = (
        "upload_id", "kind", "size_bytes", "stage", "status", "reason", "records",
        "categories", "categorizer", "created_at", "updated_at", "categorized_at", "built_at",
    )  # fmt: skip
    return {"name": name, **{f: row.get(f) for f in fields}}


# --- stage 1 -> 2 ----------------------------------------------------------------------------
def _item(prepared: Any, chosen: dict[str, Any]) -> dict[str, Any]:
    return {
        "fingerprint": prepared.fingerprint,
        "section": prepared.fields.section,
        "text": prepared.text[:300],
        "categories": chosen["categories"],
        "why": chosen["why"],
        "entities": prepared.entities,
    }


def categorize_file(
    settings: EmbeddingSettings, lake: Lake, row: dict[str, Any], key: bytes
) -> dict[str, Any]:
    """The file's categorized document (raises FileRejected or SealedError)."""
    sk, upload_id = row["subject_key"], str(row["upload_id"])
    frames = storage.read_raw(lake, storage.raw_path(settings, sk, upload_id), key)
    kind = None if row["kind"] == "auto" else row["kind"]
    stream = records(frames, kind, limit=settings.embedding_persona_max_records)
    categorizer = categorizer_for(settings)
    items: list[dict[str, Any]] = []
    while batch := list(itertools.islice(stream, BATCH)):
        prepared = prepare(batch)
        items += [
            _item(p, c) for p, c in zip(prepared, categorizer.categorize(prepared), strict=True)
        ]
    counts = Counter(c for item in items for c in item["categories"])
    name = decrypt_text(key, row["name_sealed"], sk)
    return {
        "upload_id": upload_id,
        "source": get_scrubber().scrub(name).text,
        "uploaded_at": row["created_at"].isoformat(),
        "kind": kind or "auto",
        "categorizer": categorizer.name,
        "rejected_replies": getattr(categorizer, "rejected", 0),
        "records": len(items),
        "categories": dict(counts),
        "items": items,
    }


async def categorize(
    *, engine: AsyncEngine, settings: EmbeddingSettings, lake: Lake, upload_id: uuid.UUID
) -> str:
    """Stage 1 -> 2 of one upload; its outcome (`categorized`, `failed`, or `skipped` when
    another task has it or it is no longer queued)."""
    token = uuid.uuid4()
    async with engine.begin() as conn:
        row = await repository.claim(conn, upload_id, token, now=now(), stale_s=CATEGORIZE_LIMIT_S)
    if row is None:
        return "skipped"
    sk = row["subject_key"]
    key = await user_key(engine, settings, sk, create=False)
    started = asyncio.get_running_loop().time()
    outcome: dict[str, Any]
    try:
        if key is None:
            raise SealedError("the user's key is gone")
        doc = await asyncio.to_thread(categorize_file, settings, lake, row, key)
        outcome = {"status": UploadStatus.CATEGORIZED, "stage": 2, "reason": None,
                   "records": doc["records"], "categories": doc["categories"],
                   "categorizer": doc["categorizer"], "categorized_at": now()}  # fmt: skip
    except FileRejected as exc:
        doc, outcome = None, {"status": UploadStatus.FAILED, "reason": exc.reason}
    except FileNotFoundError:
        doc, outcome = None, {"status": UploadStatus.FAILED, "reason": "the stored file is missing"}
    except SealedError:
        reason = "the stored file cannot be opened (damaged, or erased)"
        doc, outcome = None, {"status": UploadStatus.FAILED, "reason": reason}
    except Exception as exc:  # one file's failure must not block the others, nor loop
        log.exception("persona_categorize_failed", error_type=type(exc).__name__)
        doc, outcome = None, {"status": UploadStatus.FAILED,
                              "reason": f"processing failed ({type(exc).__name__})"}  # fmt: skip
    path = storage.categorized_path(settings, sk, str(upload_id))
    if doc is not None:
        assert key is not None
        await asyncio.to_thread(storage.write_json, lake, path, key, doc)
    async with engine.begin() as conn:
        await repository.lock_user(conn, sk)
        kept = await repository.finish(conn, upload_id, token, updated_at=now(), **outcome)
    if not kept and doc is not None:  # withdrawn (or erased) meanwhile: keep nothing
        await asyncio.to_thread(storage.delete_object, lake, path)
        return "skipped"
    STAGE_SECONDS.labels("categorize").observe(asyncio.get_running_loop().time() - started)
    FILES.labels(outcome["status"]).inc()
    for category, n in (outcome.get("categories") or {}).items():
        RECORDS.labels(category).inc(n)
    return str(outcome["status"])


# --- stage 2 -> 3 ----------------------------------------------------------------------------
async def build(
    *, engine: AsyncEngine, settings: EmbeddingSettings, lake: Lake, subject_key: str
) -> dict[str, Any]:
    """The user's personas from every categorized file, under the user's lock."""
    key = await user_key(engine, settings, subject_key, create=False)
    if key is None:
        return {"personas": 0, "files": 0}
    started = asyncio.get_running_loop().time()
    async with engine.begin() as conn:
        await repository.lock_user(conn, subject_key)
        rows = [
            r for r in await repository.of_user(conn, subject_key)
            if r["status"] in (UploadStatus.CATEGORIZED, UploadStatus.DONE)
        ]  # fmt: skip
        target = storage.personas_path(settings, subject_key)

        def run() -> dict[str, Any]:
            docs = [
                doc
                for r in rows
                if (doc := storage.read_json(
                    lake, storage.categorized_path(settings, subject_key, str(r["upload_id"])), key
                )) is not None
            ]  # fmt: skip
            if not docs:
                storage.delete_object(lake, target)
                return {}
            personas = build_personas(docs, storage.read_json(lake, target, key), now())
            storage.write_json(lake, target, key, personas)
            return personas

        personas = await asyncio.to_thread(run)
        await repository.mark_built(conn, [r["upload_id"] for r in rows], now())
    STAGE_SECONDS.labels("build").observe(asyncio.get_running_loop().time() - started)
    return {"personas": len(personas), "files": len(rows)}


async def read_personas(
    *, engine: AsyncEngine, settings: EmbeddingSettings, lake: Lake, subject_key: str
) -> dict[str, Any]:
    key = await user_key(engine, settings, subject_key, create=False)
    if key is None:
        return {}
    path = storage.personas_path(settings, subject_key)
    return await asyncio.to_thread(storage.read_json, lake, path, key) or {}


# --- withdrawal ------------------------------------------------------------------------------
async def withdraw(
    *, engine: AsyncEngine, settings: EmbeddingSettings, lake: Lake, subject_keys: list[str]
) -> dict[str, int]:
    """Stop every upload of these users and delete all three stages: the files were given for
    personalization only. The rows stay, stopped, so the user sees what became of each file."""
    stopped = deleted = 0
    for sk in sorted(set(subject_keys)):
        async with engine.begin() as conn:
            await repository.lock_user(conn, sk)
            stopped += await repository.stop_user(conn, sk, now())
            prefix = storage.user_prefix(settings, sk)
            deleted += await asyncio.to_thread(storage.delete_objects, lake, prefix)
    return {"uploads_stopped": stopped, "objects_deleted": deleted}
