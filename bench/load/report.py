"""The ingest bench's results and their printed report."""

from __future__ import annotations

import os
from dataclasses import dataclass

from bench.load.config import TARGET_BATCH_EVENTS, TARGET_BATCH_P99_MS, TARGET_SINGLE_RATIO
from bench.load.generator import LoadResult


@dataclass
class ModeResult:
    mode: str
    entries: int
    concurrency: int
    baseline: LoadResult
    api: LoadResult
    outbox_rows: int


def fmt_cpu(cpu: dict[str, float]) -> str:
    text = (
        f"cores busy {cpu['busy']:.2f}: api {cpu['api']:.2f}, postgres "
        f"{cpu['postgres']:.2f}, generator {cpu['generator']:.2f}, other {cpu['other']:.2f}"
    )
    if "pg_sessions" in cpu:
        text += (
            f" | pg/s: {cpu['pg_commits']:,.0f} commits, {cpu['wal_syncs']:,.0f} WAL "
            f"fsyncs, {cpu['wal_bytes'] / 2**20:,.1f} MiB WAL, "
            f"{cpu['pg_sessions']:,.1f} new sessions"
        )
    return text


def report(results: list[ModeResult], generator: str, workers: int) -> None:
    cores = os.cpu_count() or 1
    print()
    print(f"== ingest bench: {cores} cores, {workers} API worker(s), generator {generator}")
    hdr = (
        f"{'mode':<7}{'target':<9}{'conc':>5}{'req/s':>10}{'events/s':>11}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'non2xx':>8}{'err':>5}"
    )
    print(hdr)
    for r in results:
        for label, res in (("baseline", r.baseline), ("api", r.api)):
            rps = res.requests / res.seconds
            eps = rps * r.entries
            print(
                f"{r.mode:<7}{label:<9}{r.concurrency:>5}{rps:>10,.0f}{eps:>11,.0f}"
                f"{res.p50_ms:>9.1f}{res.p99_ms:>9.1f}{res.bad:>8}{res.errors:>5}"
            )
            print(f"{'':<16}{fmt_cpu(res.cpu)}")
    print()
    for r in results:
        api_rps = r.api.ok / r.api.seconds
        base_rps = r.baseline.requests / r.baseline.seconds
        ratio = api_rps / base_rps if base_rps else 0.0
        events = r.api.accepted / r.api.seconds
        durable = r.outbox_rows >= r.api.accepted and r.api.ok > 0
        print(
            f"[{r.mode}] {events:,.0f} accepted events/s, {api_rps:,.0f} 2xx req/s, "
            f"{ratio:.2f}x the baseline's req/s, p50 {r.api.p50_ms:.1f} ms, "
            f"p99 {r.api.p99_ms:.1f} ms"
        )
        if r.mode == "batch":
            ok_e = events >= TARGET_BATCH_EVENTS
            ok_p = r.api.p99_ms < TARGET_BATCH_P99_MS
            print(
                f"  target >= {TARGET_BATCH_EVENTS:,} events/s: "
                f"{'MET' if ok_e else 'SHORT'} ({events / TARGET_BATCH_EVENTS:.0%})"
                f"; p99 < {TARGET_BATCH_P99_MS:.0f} ms: {'MET' if ok_p else 'SHORT'}"
            )
        else:
            ok_r = ratio >= TARGET_SINGLE_RATIO
            print(
                f"  target >= {TARGET_SINGLE_RATIO}x baseline req/s: {'MET' if ok_r else 'SHORT'}"
            )
        print(
            f"  durable: outbox holds {r.outbox_rows:,} rows for {r.api.accepted:,} "
            f"acknowledged entries ({r.api.ok:,} 2xx replies) -> "
            f"{'OK' if durable else 'MISMATCH'}"
        )
        gen = r.baseline.cpu.get("generator", 0.0)
        srv = r.baseline.cpu.get("api", 0.0)
        cores = os.cpu_count() or 1
        if srv > 0.85 * min(workers, cores):
            bound = "server-bound"
        elif r.baseline.cpu.get("busy", 0.0) > 0.9 * cores:
            bound = "machine-bound: every core busy"
        else:
            bound = "NOT server-bound: raise --concurrency"
        print(
            f"  generator check: against the baseline ({base_rps:,.0f} req/s) the generator "
            f"used {gen:.2f} cores and the baseline server {srv:.2f} cores ({bound})"
        )
    worst = max(x.cpu.get("other", 0.0) for r in results for x in (r.baseline, r.api))
    if worst > 0.25:
        print(
            f"\nWARNING: up to {worst:.2f} cores went to processes outside the bench: "
            "the figures are low; rerun on an idle machine"
        )
        seen = {
            cmd: share for r in results for x in (r.baseline, r.api) for share, cmd in x.outside
        }
        for cmd, share in sorted(seen.items(), key=lambda kv: -kv[1])[:4]:
            print(f"  {share:.2f} cores  {cmd}")
