"""`embedding.personas` in the erasure and portability registry: the user's upload rows and
every object of the three stages under personas/<subject_key>/.

Collect opens everything with the user's key (uploads as text where they are UTF-8), and
names the user's folder as an identifier: the stages are sealed, so the verification scan
finds a leftover by its path, not its content;
erase deletes the rows and the whole prefix under the user's lock, so no build or stage
completion running meanwhile can write after it (they find no row, and delete what they wrote).
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from libs.common.subject_rights import Collected, SubjectContext
from services.embedding.config import EmbeddingSettings, get_embedding_settings
from services.embedding.personas import repository, service, storage

MAX_TEXTS = 2000  # the erasure scan's sentences taken from one user's categorized records


def _settings(ctx: SubjectContext) -> EmbeddingSettings:
    return ctx.settings if isinstance(ctx.settings, EmbeddingSettings) else get_embedding_settings()


def _raw(lake: Any, path: str, key: bytes) -> dict[str, Any]:
    data = b"".join(storage.read_raw(lake, path, key))
    try:
        return {"content": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"content_base64": base64.b64encode(data).decode()}


class PersonasStore:
    tables: tuple[str, ...] = ("embedding.persona_uploads",)

    async def collect(self, ctx: SubjectContext) -> Collected:
        settings = _settings(ctx)
        async with ctx.engine.connect() as conn:
            rows = await repository.of_user(conn, ctx.subject_key)
        key = ctx.data_key

        def run() -> Collected:
            out = Collected(identifiers=[storage.user_prefix(settings, ctx.subject_key)[:-1]])
            for row in rows:
                record: dict[str, Any] = {"upload": service.shown(row, key)}
                upload_id = str(row["upload_id"])
                if key is not None:
                    raw = storage.raw_path(settings, ctx.subject_key, upload_id)
                    if ctx.lake.exists(raw):
                        record["file"] = _raw(ctx.lake, raw, key)
                    path = storage.categorized_path(settings, ctx.subject_key, upload_id)
                    doc = storage.read_json(ctx.lake, path, key)
                    if doc is not None:
                        record["categorized"] = doc
                        out.texts += [i["text"] for i in doc["items"]][: MAX_TEXTS - len(out.texts)]
                out.records.append(record)
            if key is not None:
                personas = storage.read_json(
                    ctx.lake, storage.personas_path(settings, ctx.subject_key), key
                )
                if personas:
                    out.records.append({"personas": personas})
            return out

        return await asyncio.to_thread(run)

    async def erase(self, ctx: SubjectContext) -> dict[str, int]:
        settings = _settings(ctx)
        prefix = storage.user_prefix(settings, ctx.subject_key)
        async with ctx.engine.begin() as conn:
            await repository.lock_user(conn, ctx.subject_key)
            rows = await repository.delete_user(conn, ctx.subject_key)
            objects = await asyncio.to_thread(storage.delete_objects, ctx.lake, prefix)
        left = len(await asyncio.to_thread(ctx.lake.list, prefix))
        if left:
            raise RuntimeError(f"{left} persona objects are left after the erase")
        return {"uploads": rows, "objects": objects}
