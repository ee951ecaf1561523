"""The cost of crypto-shredding on landing: rows/s with and without encryption, same rows.

    python -m bench.crypto [--users 200] [--rows 3000] [--repeat 3] [--decrypt-rows 1000000]

Rows: a simulated day (scripts.simulate, the demo's data) validated as the API does and turned
into outbox rows. Timed in one run, alternately, on the same rows (best of `--repeat`):
- landing without encryption: `build_batch(keys=None)`: split, hash identifiers, PII scrub,
  JSON, Arrow table (what flushing cost before this change);
- landing with encryption: the same plus `body` and `extras` sealed with each user's key;
- encryption alone: `encrypt_free_text` on the columns of the batch;
- decryption of `--decrypt-rows` bodies (`decrypt_table`), as a reader (export, scan) does it.
The PII scrub dominates the landing step and varies run to run by more than encryption costs,
so the measured ratio is noisy; the one from encryption alone (plain / (plain + encryption))
is the stable figure. The data keys come from memory here: in the flusher they are one query
per batch (and one unwrap per user per cache period), which is not timed. No database, no lake.
The ingest API is not measured: it does not encrypt (the outbox holds the payload until the
flush, inside Postgres); its throughput is bench/ingest.py's, unchanged.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
from pydantic import ValidationError

from libs.common.crypto import new_key
from libs.common.lake_crypto import decrypt_table
from libs.common.pii import get_scrubber
from libs.common.settings import CommonSettings
from libs.common.subjects import subject_key
from services.ingest.flush.landing import build_batch, encrypt_free_text
from services.ingest.logs.schemas import ENTRY_TYPES
from services.ingest.outbox.repository import PendingRow

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for scripts.simulate
from scripts import simulate


def outbox_rows(users: int, limit: int) -> list[PendingRow]:
    """The simulated day's valid entries as the API stores them in the outbox."""
    rows = []
    now = datetime.now(UTC)
    for raw in simulate.generate_day(date(2024, 5, 1), users, seed=7):
        model = ENTRY_TYPES.get(str(raw.get("service")))
        if model is None:
            continue
        try:
            entry = model.model_validate(raw)
        except ValidationError:
            continue  # the day's deliberately invalid entries
        rows.append(
            PendingRow(
                event_id=uuid.uuid4().hex,
                service=str(raw["service"]),
                user_id=entry.user_id,
                event_type=entry.event_type,
                event_time=entry.timestamp,
                received_at=now,
                payload=orjson.dumps(entry.model_dump(mode="json", exclude_none=True)),
            )
        )
    return rows[:limit]


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--decrypt-rows", type=int, default=1_000_000)
    args = parser.parse_args()

    settings = CommonSettings()
    rows = outbox_rows(args.users, args.rows)
    subjects = {r.user_id: subject_key(r.user_id, settings) for r in rows}
    keys = {s: new_key() for s in subjects.values()}
    print(f"{len(rows):,} rows of {len(subjects):,} users (a simulated day)")
    get_scrubber().scrub_many(["warm-up: Anna wrote to anna@example.org"])  # loads, not timed

    def land(with_keys: bool) -> Callable[[], Any]:
        return lambda: build_batch(
            rows, batch_id=1, known={}, settings=settings, keys=keys if with_keys else None
        )

    land(True)()  # a warm-up pass: the scrubber's first batch is slower

    plain_s = encrypted_s = float("inf")
    for _ in range(args.repeat):  # alternated, so a slow spell of the machine hits both
        plain_s = min(plain_s, best(land(False), 1))
        encrypted_s = min(encrypted_s, best(land(True), 1))
    built = build_batch(rows, batch_id=1, known={}, settings=settings, keys=None).table
    columns = {n: built.column(n).to_pylist() for n in ("subject_key", "body", "extras")}
    encrypt_s = best(lambda: encrypt_free_text(dict(columns), keys), args.repeat)

    n = len(rows)
    print(f"landing, no encryption:   {n / plain_s:>12,.0f} rows/s")
    print(f"landing, with encryption: {n / encrypted_s:>12,.0f} rows/s")
    print(f"encryption alone:         {n / encrypt_s:>12,.0f} rows/s (body + extras)")
    print(
        f"throughput ratio with/without encryption: {plain_s / encrypted_s:.3f} measured; "
        f"{plain_s / (plain_s + encrypt_s):.3f} from encryption alone "
        f"({100 * encrypt_s / plain_s:.1f}% of the landing step's time)"
    )

    # Decryption, as a reader: a column of `--decrypt-rows` bodies of the same users.
    sealed = dict(columns)
    encrypt_free_text(sealed, keys)
    reps = -(-args.decrypt_rows // n)
    big = pa.table(
        {
            "subject_key": (sealed["subject_key"] * reps)[: args.decrypt_rows],
            "body": (sealed["body"] * reps)[: args.decrypt_rows],
        }
    )
    decrypt_s = best(lambda: decrypt_table(big, keys, ["body"]), 1)
    print(
        f"decryption of {big.num_rows:,} bodies: {decrypt_s:.2f} s, "
        f"{big.num_rows / decrypt_s:,.0f} values/s"
    )


if __name__ == "__main__":
    main()
