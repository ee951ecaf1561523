"""CPU accounting of the ingest bench: cores used by the API, Postgres, the generator and the
rest of the machine over one run."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import asyncpg

from bench.load.config import DEFAULT_DB
from bench.load.database import asyncpg_dsn

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[str, int, float] | None:
    """(command line, ppid, cpu seconds) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
        cmdline = (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2 :].split()
    return cmdline or comm, int(rest[1]), (int(rest[11]) + int(rest[12])) / CLK_TCK


def _all_procs() -> dict[int, tuple[str, int, float]]:
    procs = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _proc_stat(int(entry))
            if st:
                procs[int(entry)] = st
    return procs


def _is_bench_postgres(cmdline: str, database: str) -> bool:
    """The bench database's backends and the server's own processes (WAL writer, checkpointer,
    autovacuum); not other databases' backends."""
    if not cmdline.startswith("postgres"):
        return False
    if f" {database} " in cmdline + " ":
        return True
    return "(" not in cmdline and " worker " not in cmdline  # no client host: a server process


def _busy_seconds() -> float:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLK_TCK


class CpuMeter:
    """CPU seconds by component over one run, as cores used (1.0 = one core busy).

    `postgres` is the bench database's backends and the server's processes (a backend that
    exits mid-run is missed); `other` is the rest of the machine's busy time: the kernel's
    share, short-lived backends, and whatever else runs on the machine.
    """

    def __init__(self, api_pids: list[int], database_url: str | None = None) -> None:
        self.api_pids = api_pids
        self.database_url = database_url
        self.database = asyncpg_dsn(database_url or DEFAULT_DB).rsplit("/", 1)[1].split("?")[0]
        self.generator_pids: list[int] = []
        self.outside: list[tuple[float, str]] = []

    @staticmethod
    def _tree(procs: dict[int, tuple[str, int, float]], roots: list[int]) -> float:
        members = set(roots)
        grew = True
        while grew:
            grew = False
            for pid, (_, ppid, _) in procs.items():
                if ppid in members and pid not in members:
                    members.add(pid)
                    grew = True
        return sum(procs[p][2] for p in members if p in procs)

    def _sample(self) -> dict[str, float]:
        procs = _all_procs()
        self._procs = procs
        sample = {
            "api": self._tree(procs, self.api_pids),
            "postgres": sum(
                c for (cmd, _, c) in procs.values() if _is_bench_postgres(cmd, self.database)
            ),
            "generator": self._tree(procs, self.generator_pids) if self.generator_pids else 0.0,
            "busy": _busy_seconds(),
        }
        if self.database_url:
            sample.update(asyncio.run(pg_counters(self.database_url)))
        return sample

    def start(self) -> None:
        self.generator_pids = []
        t = os.times()
        self._children0 = t.children_user + t.children_system
        self._before = self._sample()
        self._procs_before = self._procs
        self._t0 = time.perf_counter()

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._t0
        after = self._sample()
        used = {k: (after[k] - self._before.get(k, 0.0)) / wall for k in after}
        if not self.generator_pids or used["generator"] <= 0:
            # wrk has exited (reaped): its CPU shows in our children's rusage.
            t = os.times()
            used["generator"] = (t.children_user + t.children_system - self._children0) / wall
        used["postgres"] = max(0.0, used["postgres"])
        used["other"] = max(0.0, used["busy"] - used["api"] - used["generator"] - used["postgres"])
        # the busiest processes outside the bench, to name them when the machine is not idle
        ours = {os.getpid(), *self.api_pids, *self.generator_pids}
        outside = []
        for pid, (cmd, ppid, cpu) in self._procs.items():
            if pid in ours or ppid in ours or _is_bench_postgres(cmd, self.database):
                continue
            share = (cpu - self._procs_before.get(pid, (cmd, ppid, 0.0))[2]) / wall
            if share > 0.05:
                outside.append((share, cmd.strip()[:70]))
        self.outside = sorted(outside, reverse=True)[:3]
        return used


async def pg_counters(url: str) -> dict[str, float]:
    """Cumulative server counters: new sessions, commits, WAL bytes and WAL flushes."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        row = await conn.fetchrow(
            "SELECT d.sessions, d.xact_commit, w.wal_bytes, w.wal_sync"
            " FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = current_database()"
        )
    finally:
        await conn.close()
    return {
        "pg_sessions": float(row[0]),
        "pg_commits": float(row[1]),
        "wal_bytes": float(row[2]),
        "wal_syncs": float(row[3]),
    }
