"""Local embedding throughput and quality per runtime: torch, ONNX fp32, ONNX int8.

    .venv/bin/python -m bench.embedding [--n 2000] [--threads 0] [--repeat 2] [--no-e2e]

For each runtime (the model loaded, and for ONNX exported to `--onnx-dir`, before timing; one
warm-up encode):
- `bare`: chunks/s of `LocalEmbedder.encode` on N texts (chat-bot turns made from the labelled
  set's documents, numbered so none repeats);
- `e2e`: chunks/s of `services.embedding.sync.pipeline.sync` over the same N texts landed as
  lyfbot-service events in a fresh local lake (bodies encrypted per user, every user with
  `personalization` consent), Postgres for consent/keys/watermarks, Qdrant local mode in a
  temporary folder: read, consent, decrypt, chunk, encode, upsert. Printed with its ratio to
  the bare encode of the same run (the pipeline's overhead). Bare and e2e runs alternate
  `--repeat` times and each side keeps its best, so both get the same statistic;
- recall@5 (and @1) on tests/embedding/retrieval_set.py.

The database `mindlake_embedding_bench` (`--database-url`) is created, migrated and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.*, tests.*
from bench.database import scratch_database

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RUNTIMES = ("torch", "onnx", "onnx-int8")
USERS = 50
REPLIES = (
    "That sounds really hard. What helped last time?",
    "Thank you for sharing that. Would a short breathing exercise help right now?",
    "It makes sense to feel that way. Shall we note it in your journal?",
)


def make_events(n: int) -> list[dict[str, Any]]:
    from tests.embedding.retrieval_set import DOCUMENTS

    docs = list(DOCUMENTS.values())
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    return [
        {
            "event_id": f"bench-{i:06d}",
            "service": "lyfbot-service",
            "event_type": "chat",
            "user_id": f"bench-user-{i % USERS:03d}",
            "timestamp": (start + timedelta(seconds=i)).isoformat(),
            "prompt": f"{docs[i % len(docs)]} (day {i // len(docs) + 1})",
            "response": REPLIES[i % len(REPLIES)],
        }
        for i in range(n)
    ]


def texts_of(events: list[dict[str, Any]]) -> list[str]:
    return [f"{e['prompt']}\n{e['response']}" for e in events]


def bare(embedder: Any, texts: list[str]) -> float:
    started = time.perf_counter()
    embedder.encode(texts)
    return len(texts) / (time.perf_counter() - started)


async def end_to_end(embedder: Any, settings: Any, lake: Any, root: Path) -> tuple[float, int]:
    from libs.common.db import get_engine
    from services.embedding.sync.pipeline import sync

    async with get_engine().begin() as conn:  # torch and onnx share a collection
        await conn.exec_driver_sql("DELETE FROM embedding.watermarks")
    qdrant_dir = Path(tempfile.mkdtemp(prefix="qdrant-", dir=root))
    run_settings = settings.model_copy(update={"qdrant_path": str(qdrant_dir)})
    started = time.perf_counter()
    counts = await sync(get_engine(), lake, run_settings, embedder)
    elapsed = time.perf_counter() - started
    shutil.rmtree(qdrant_dir, ignore_errors=True)
    chunks = int(counts.get("chunks", 0))
    return chunks / elapsed, chunks


async def run(args: argparse.Namespace, dsn: str, root: Path) -> None:
    from bench.database import grant
    from bench.export import land
    from libs.common.lake import Lake
    from libs.common.migrate import upgrade_all
    from services.embedding.backends.local import LocalEmbedder
    from services.embedding.config import EmbeddingSettings
    from tests.embedding.retrieval_set import recall_at_k

    events = make_events(args.n)
    texts = texts_of(events)
    settings = EmbeddingSettings(
        lake_root=f"file://{root / 'lake'}", embedding_sources=["lyfbot-service"],
        embedding_threads=args.threads, embedding_onnx_dir=args.onnx_dir,
    )  # fmt: skip
    lake = None
    if args.e2e:
        await asyncio.to_thread(upgrade_all)
        lake = Lake(settings)
        lake.ensure_root()
        await land(lake, settings, events, 50_000)
        await grant(dsn, sorted({e["user_id"] for e in events}), "personalization")
    print(f"{args.n} texts, threads={args.threads or os.cpu_count()}, cores={os.cpu_count()}")
    header = f"{'runtime':<10} {'bare/s':>8} {'e2e/s':>8} {'e2e/bare':>9} {'R@5':>6} {'R@1':>6}"
    print(header)
    for runtime in args.runtimes:
        embedder = LocalEmbedder(
            runtime, threads=args.threads, batch_size=settings.embedding_batch_size,
            onnx_dir=args.onnx_dir,
        )  # fmt: skip
        embedder.encode(texts[:64])  # load (and export) + warm-up
        rate = e2e_rate = 0.0
        for _ in range(args.repeat):  # interleaved, so drift in the machine's speed hits both
            rate = max(rate, bare(embedder, texts))
            if lake is not None:
                once, chunks = await end_to_end(embedder, settings, lake, root)
                e2e_rate = max(e2e_rate, once)
                if chunks != args.n:
                    print(f"  note: the sync embedded {chunks} chunks for {args.n} events")
        recall5, recall1 = recall_at_k(embedder, 5), recall_at_k(embedder, 1)
        e2e, ratio = "-", "-"
        if lake is not None:
            e2e, ratio = f"{e2e_rate:8.1f}", f"{e2e_rate / rate:9.2f}"
        print(f"{runtime:<10} {rate:8.1f} {e2e:>8} {ratio:>9} {recall5:6.3f} {recall1:6.3f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=0, help="0: every core")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=RUNTIMES)
    parser.add_argument("--onnx-dir", default="var/models")
    parser.add_argument("--no-e2e", dest="e2e", action="store_false")
    parser.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/mindlake_embedding_bench",
    )
    args = parser.parse_args()
    os.environ.setdefault("MINDLAKE_REDIS_URL", "redis://127.0.0.1:6379/14")
    os.environ.setdefault("MINDLAKE_PII_HMAC_KEY", "bench-hmac-key-not-secret")
    root = Path(tempfile.mkdtemp(prefix="mindlake-embedding-bench-"))
    try:
        if args.e2e:
            async with scratch_database(args.database_url) as dsn:
                await run(args, dsn, root)
        else:
            await run(args, "", root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
