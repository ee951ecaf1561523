"""Access logs carry route templates, never paths, query strings, user ids or signatures.

The consent and compliance APIs run as real uvicorn processes, started with the README's own
commands (only the port changed); what they write to stdout and stderr is read back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shlex
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
import structlog

from libs.common.logging import ExceptionTypeOnly, configure_logging

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "leak.user@example.org"
MARK = uuid.uuid4().hex[:12]  # in paths and query strings; must reach no log line
OPAQUE_USER = f"u-{MARK}"


def readme_command(service: str) -> list[str]:
    """The README's `uvicorn services.<service>.main:app ...` line, as arguments."""
    text = (ROOT / "README.md").read_text()
    found = re.search(rf"^(\.venv/bin/uvicorn services\.{service}\.main:app[^\n#]*)", text, re.M)
    assert found, f"no uvicorn command for {service} in the README"
    return shlex.split(found[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    output: Path

    def lines(self) -> list[str]:
        return self.output.read_text(errors="replace").splitlines()


@pytest.fixture
def start(database: str, tmp_path: Path) -> Iterator[object]:
    servers: list[Server] = []

    def run(service: str) -> Server:
        args = readme_command(service)
        assert "--no-access-log" in args
        port = free_port()
        args[args.index("--port") + 1] = str(port)
        output = tmp_path / f"{service}.log"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                args,
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        server = Server(f"http://127.0.0.1:{port}", process, output)
        servers.append(server)
        deadline = time.monotonic() + 90  # a bound on start-up, not a synchronisation
        while time.monotonic() < deadline:
            assert process.poll() is None, output.read_text()
            try:
                if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # polling interval while the port is not yet open
        raise AssertionError(f"{service} did not start: {output.read_text()}")

    yield run
    for server in servers:
        server.process.send_signal(signal.SIGINT)
        server.process.wait(timeout=30)


def admin_key() -> str:
    from libs.common.auth import Scope, create_key
    from libs.common.db import one_shot_engine, session_maker

    async def run() -> str:
        engine = one_shot_engine()
        async with session_maker(engine)() as session:
            _, key = await create_key(session, name="access-log", scopes=[Scope.ADMIN], services=[])
            await session.commit()
        await engine.dispose()
        return key

    return asyncio.run(run())


def assert_clean(lines: list[str], needles: list[str]) -> None:
    for line in lines:
        for needle in needles:
            assert needle not in line, f"{needle!r} in a log line: {line}"


def access_lines(lines: list[str]) -> list[dict[str, object]]:
    out = []
    for line in lines:
        if line.startswith("{"):
            entry = orjson.loads(line)
            if entry.get("event") == "request":
                out.append(entry)
    return out


def stop(server: Server) -> list[str]:
    server.process.send_signal(signal.SIGINT)
    server.process.wait(timeout=30)
    return server.lines()


def test_consent_and_compliance_logs_carry_no_user_id_email_or_signature(
    start: object,
) -> None:
    from libs.common.settings import get_settings
    from services.compliance.subject_requests import archive

    key = admin_key()
    auth = {"Authorization": f"Bearer {key}"}
    consent = start("consent")  # type: ignore[operator]
    with httpx.Client(base_url=consent.url, headers=auth, timeout=30) as http:
        put = http.put(
            f"/v1/consent/{EMAIL}",
            params={"probe": MARK},
            json={"purposes": {"research": True}, "policy_version": "v1", "source": "admin"},
        )
        assert put.status_code in (200, 422), put.text  # 422 once e-mail ids are refused
        got = http.get(f"/v1/consent/{OPAQUE_USER}", params={"probe": MARK})
        assert got.status_code == 200, got.text
        request_id = got.headers["x-request-id"]
        history = http.get(f"/v1/consent/{OPAQUE_USER}/history", params={"after_id": "x"})
        assert history.status_code == 422
        assert http.get(f"/no/such/{MARK}").status_code == 404
    # a request uvicorn cannot parse (its warning must not carry the path either)
    with socket.create_connection(("127.0.0.1", int(consent.url.rsplit(":", 1)[1]))) as raw:
        raw.sendall(f"GET /v1/consent/{EMAIL}?s={MARK} HTTP/1.1\r\nHo\x00st: x\r\n\r\n".encode())
        assert raw.recv(100).startswith(b"HTTP/1.1 400")
    consent_lines = stop(consent)

    compliance = start("compliance")  # type: ignore[operator]
    export_id = str(uuid.uuid4())
    query = archive.signed_query(get_settings(), export_id, 600)  # a valid signature
    signature = query.split("signature=")[1]
    with httpx.Client(base_url=compliance.url, timeout=30) as http:
        signed = http.get(f"/v1/subject-exports/{export_id}/download?{query}")
        assert signed.status_code == 404, signed.text  # signed, but no such export
        odd = http.get(
            f"/v1/subject-exports/{export_id}/download",
            params={"expires": "9999999999", "signature": f"é{MARK}"},
        )
        assert odd.status_code in (400, 500)  # 400 once non-ASCII signatures are refused
    compliance_lines = stop(compliance)

    needles = [EMAIL, "leak.user", "example.org", MARK, signature, export_id, "expires=", "?"]
    assert_clean(consent_lines + compliance_lines, needles)

    consent_access = access_lines(consent_lines)
    routes = {(e["method"], e["route"], e["status"]) for e in consent_access}
    assert ("PUT", "/v1/consent/{user_id}", put.status_code) in routes
    assert ("GET", "/v1/consent/{user_id}", 200) in routes
    assert ("GET", "/v1/consent/{user_id}/history", 422) in routes
    assert ("GET", "<unmatched>", 404) in routes
    assert request_id in {e["request_id"] for e in consent_access}
    compliance_access = access_lines(compliance_lines)
    assert ("GET", "/v1/subject-exports/{request_id}/download", 404) in {
        (e["method"], e["route"], e["status"]) for e in compliance_access
    }
    # no client address in any access line (nor uvicorn's own access format)
    for entry in consent_access + compliance_access:
        assert set(entry) == {
            "event",
            "method",
            "route",
            "status",
            "duration_ms",
            "request_id",
            "level",
            "timestamp",
        }
    assert not any('HTTP/1.1" ' in line for line in consent_lines + compliance_lines)


def test_exceptions_are_logged_as_their_type_and_frames_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO")
    try:
        raise ValueError(f"bad value {EMAIL}")
    except ValueError as exc:
        structlog.get_logger("t").error("boom", exc_info=exc)
        record = logging.LogRecord(
            "uvicorn.error",
            logging.ERROR,
            __file__,
            1,
            "Exception in ASGI application\n",
            None,
            (type(exc), exc, exc.__traceback__),
        )
    assert ExceptionTypeOnly().filter(record)
    out = capsys.readouterr().out
    entry = orjson.loads(out.strip().splitlines()[-1])
    assert entry["error_type"] == "ValueError" and entry["frames"]
    assert EMAIL not in out and "exception" not in entry
    assert record.exc_info is None and EMAIL not in record.getMessage()
    assert "[ValueError] at" in record.getMessage()


async def test_a_plain_starlette_route_is_logged_by_its_template(
    client: httpx.AsyncClient, capfd: pytest.CaptureFixture[str]
) -> None:
    """Ingest's POST /v1/logs is a Starlette Route, for which FastAPI's router sets no
    scope["route"]: its template must still reach the access log, not `<unmatched>`."""
    reply = await client.post("/v1/logs", json={"service": "mood-service"})
    assert reply.status_code == 422
    routes = [
        line["route"]
        for line in access_lines(capfd.readouterr().out.splitlines())
        if line["method"] == "POST"
    ]
    assert routes == ["/v1/logs"]
