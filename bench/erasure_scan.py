"""The erasure verification scan on a lake of 1 million raw events: seconds and rows/s.

    python -m bench.erasure_scan [--events 1000000] [--users 20000] [--rebuild]

The lake (`var/bench/erasure-lake-<parameters>`, local) is built once by `build_lake` and
reused: raw/events (services/ingest/flush/raw_table.py) appended in batches of
`--batch-rows`, events in time order over `--days` days and four services, each body encrypted
with its user's data key (random bytes kept beside the lake, not in Postgres). Each user writes
sentences of their own; one in ten events also carries a sentence many users send (shared
content). Building 1M events takes about a minute.

Then one user's needles are made from their events (decrypted, as the collect step does) and
two scans are timed over the whole lake (Postgres and Redis are not part of this bench):
- `live`: every key present: every body decrypted and searched; the user's rows are found;
- `shredded`: the user's key gone (erasure's first step, before the purge): their bodies count
  as undecryptable; their id and rows are still found (the purge has not run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from libs.common.crypto import new_key
from libs.common.lake import Lake
from libs.common.lake_crypto import decrypt_table, encrypt_values
from libs.common.settings import CommonSettings
from libs.common.subject_rights import Collected
from libs.common.subjects import subject_key
from services.compliance.verification.needles import needles_from
from services.compliance.verification.report import ScanReport
from services.compliance.verification.scan import scan
from services.ingest.flush.raw_table import SCHEMA, RawEventsTable

BENCH_DIR = Path("var/bench")
SERVICES = ("journal", "mood", "chat", "lyfbot")
SHARED = "Thank you for listening to me today, it really helps me a lot."
START = datetime(2026, 1, 1, tzinfo=UTC)


def user_id(i: int) -> str:
    return f"user-{i:06d}"


def _words(rng: random.Random, n: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(n)]


def build_lake(
    lake: Lake, events: int, users: int, seed: int, *, batch_rows: int = 50_000, days: int = 30
) -> dict[str, bytes]:
    """Append `events` raw events of `users` users to `lake`'s raw/events, bodies encrypted per
    user; returns the data keys by subject_key. Deterministic for a seed (but the keys)."""
    rng = random.Random(seed)
    vocabulary = _words(rng, 8000)
    ids = [user_id(i) for i in range(users)]
    subjects = [subject_key(u, lake.settings) for u in ids]
    keys = {s: new_key() for s in subjects}
    table = RawEventsTable(lake)
    span = days * 86_400 / max(events, 1)
    received = datetime.now(UTC)
    for first in range(0, events, batch_rows):
        n = min(batch_rows, events - first)
        who = [rng.randrange(users) for _ in range(n)]
        times = [START + timedelta(seconds=(first + i) * span) for i in range(n)]
        services = [rng.choice(SERVICES) for _ in range(n)]
        bodies = []
        for i, u in enumerate(who):
            user_rng = random.Random(f"{seed}:{u}:{rng.randrange(12)}")  # 12 sentences a user
            text = " ".join(user_rng.choices(vocabulary, k=user_rng.randint(8, 16))).capitalize()
            if rng.random() < 0.1:
                text += ". " + SHARED
            bodies.append(orjson.dumps({"title": services[i], "text": text + "."}).decode())
        rows_subjects = [subjects[u] for u in who]
        batch = pa.table(
            {
                "event_id": [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(n)],
                "service": services,
                "event_date": [t.date() for t in times],
                "event_type": [f"{s}.entry" for s in services],
                "user_id": [ids[u] for u in who],
                "subject_key": rows_subjects,
                "event_time": times,
                "received_at": [received] * n,
                "body": encrypt_values(bodies, rows_subjects, keys),
                "extras": pa.nulls(n, pa.string()),
                "pii_findings": pa.array([0] * n, pa.int32()),
                "flush_batch": pa.array([first // batch_rows] * n, pa.int64()),
            }
        )
        table.append(batch.cast(SCHEMA), token=uuid.uuid4().hex)
    return keys


def _lake(root: Path) -> Lake:
    return Lake(CommonSettings(lake_root=f"file://{root.resolve()}"))


def ensure_lake(args: argparse.Namespace) -> tuple[Lake, dict[str, bytes]]:
    """The bench lake, built when missing or built with other parameters."""
    params = {"events": args.events, "users": args.users, "seed": args.seed,
              "batch_rows": args.batch_rows, "days": args.days}  # fmt: skip
    root = BENCH_DIR / "erasure-lake-{events}-{users}-{seed}-{batch_rows}-{days}".format(**params)
    meta = root.with_suffix(".json")
    if not args.rebuild and meta.exists():
        saved = json.loads(meta.read_text())
        if saved["params"] == params:
            return _lake(root), {k: bytes.fromhex(v) for k, v in saved["keys"].items()}
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    lake = _lake(root)
    started = time.monotonic()
    keys = build_lake(lake, args.events, args.users, args.seed,
                      batch_rows=args.batch_rows, days=args.days)  # fmt: skip
    print(f"built {args.events:,} events of {args.users:,} users in "
          f"{time.monotonic() - started:.1f} s")  # fmt: skip
    meta.write_text(json.dumps({"params": params, "keys": {k: v.hex() for k, v in keys.items()}}))
    return lake, keys


def collect(lake: Lake, keys: dict[str, bytes], uid: str) -> tuple[str, Collected, int]:
    """What the raw-events handler's collect finds: the user's bodies decrypted."""
    subject = subject_key(uid, lake.settings)
    delta = lake.delta_table("raw/events")
    assert delta is not None
    rows = delta.to_pyarrow_table(filters=[("subject_key", "=", subject)])
    rows = decrypt_table(rows, keys)
    texts = [
        str(v) for body in rows.column("body").to_pylist() for v in orjson.loads(body).values()
    ]
    return subject, Collected(identifiers=[f"{uid}@example.org"], texts=texts), rows.num_rows


def show(name: str, report: ScanReport) -> None:
    rate = report.parquet_rows / report.seconds if report.seconds else 0.0
    kinds: dict[str, int] = {}
    for key, n in report.traces:
        kinds[key.kind] = kinds.get(key.kind, 0) + n
    print(f"{name:9s} {report.seconds:7.1f} s  {rate:12,.0f} rows/s  objects {report.objects:,}"
          f"  bytes {report.bytes / 1e6:,.0f} MB  rows {report.parquet_rows:,}"
          f"  traces {kinds}  shared sentences {report.shared_sentences}"
          f"  undecryptable {report.undecryptable:,}")  # fmt: skip


async def run(args: argparse.Namespace) -> dict[str, Any]:
    lake, keys = ensure_lake(args)
    uid = user_id(args.user)
    subject, part, events = collect(lake, keys, uid)
    needles = needles_from([part], subject_key=subject, user_id=uid)
    print(f"user {args.user}: {events} events, {len(needles.identifiers)} identifiers, "
          f"{len(needles.sentences)} sentences")  # fmt: skip
    live = await scan(needles, lake=lake, engine=None, redis=None, keys=keys)
    show("live", live)
    shredded_keys = {k: v for k, v in keys.items() if k != subject}
    shredded = await scan(needles, lake=lake, engine=None, redis=None, keys=shredded_keys)
    show("shredded", shredded)
    assert live.traces and not live.undecryptable, "the live user must be found"
    assert shredded.undecryptable == events, "the shredded user's bodies must be unreadable"
    return {"live_s": live.seconds, "shredded_s": shredded.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--user", type=int, default=42, help="the user whose needles are used")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    if args.user >= args.users:
        sys.exit("--user must be below --users")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
