"""The notification stream in FastAPI's own SSE (``fastapi.sse``, FastAPI >= 0.135), as its docs show it.

``uvicorn benchmarks.peers.fastapi_app:app``.  Same contract as the labs: ``POST /send_notification``
(a pydantic model: FastAPI answers bad input with 422 JSON), ``GET /stream`` (``event: notify``,
``id:``, ``Last-Event-ID`` replay, ``gap``), ``GET /stats``.  Each event is a ``ServerSentEvent``
that FastAPI validates and encodes (``data`` as JSON) for each reader.
"""

from __future__ import annotations

from collections.abc import AsyncIterable

from fastapi import FastAPI, Header
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field

from benchmarks.peers.hub import RETRY_MS, Hub

app = FastAPI()
hub = Hub()


class Notification(BaseModel):
    message: str = Field(min_length=1, max_length=64 * 1024)


@app.get("/health")
async def health() -> dict:
    return {"status": "ok", "lab": "fastapi_sse"}


@app.post("/send_notification")
async def send_notification(notification: Notification) -> dict:
    return {"status": "published", "id": hub.broker.publish(notification.message).id}


@app.get("/stream", response_class=EventSourceResponse)
async def stream(last_event_id: str | None = Header(default=None)) -> AsyncIterable[ServerSentEvent]:
    async for event, data, ident in hub.items(last_event_id):
        retry = RETRY_MS if event == "connected" else None
        yield ServerSentEvent(data=data, event=event, id=None if ident is None else str(ident), retry=retry)


@app.get("/stats")
async def stats() -> dict:
    return {"clients": hub.clients, **hub.broker.stats()}
