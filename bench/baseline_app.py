"""The bench's baseline: the ingest API's stack (FastAPI on uvicorn) doing no work.

POST /v1/logs reads the body and answers 202, so the same load against it measures the
ceiling set by the HTTP stack, the loopback and the load generator on this machine.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI(title="MindLake ingest bench baseline")

REPLY = b'{"accepted":0,"duplicate":0,"rejected":0,"errors":[],"event_ids":[]}'


@app.post("/v1/logs", status_code=202)
async def post_logs(request: Request) -> Response:
    await request.body()
    return Response(REPLY, status_code=202, media_type="application/json")


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
