"""The notification stream with sse-starlette (Starlette + ``EventSourceResponse``), as its docs show it.

``uvicorn benchmarks.peers.starlette_app:app``.  Same contract as the labs: ``POST /send_notification``
(bad input: 4xx JSON), ``GET /stream`` (``event: notify``, ``id:``, ``Last-Event-ID`` replay,
``gap``), ``GET /stats``.  Each event is a dict that sse-starlette encodes for each reader; it
writes a ping comment every 15 s and ends the stream when the reader disconnects.
"""

from __future__ import annotations

import json

from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from benchmarks.peers.hub import RETRY_MS, Hub

hub = Hub()


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "lab": "starlette_sse"})


async def send_notification(request: Request) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "invalid JSON"}, status_code=400)
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip() or len(message.encode()) > 64 * 1024:
        return JSONResponse({"error": "send {\"message\": \"...\"}: a non-empty string of at most 64 KiB"},
                            status_code=400)
    return JSONResponse({"status": "published", "id": hub.broker.publish(message).id})


async def stream(request: Request) -> EventSourceResponse:
    async def events():
        async for event, data, ident in hub.items(request.headers.get("last-event-id")):
            item = {"event": event, "data": json.dumps(data)}
            if ident is not None:
                item["id"] = str(ident)
            if event == "connected":
                item["retry"] = RETRY_MS
            yield item

    return EventSourceResponse(events())


async def stats(request: Request) -> JSONResponse:
    return JSONResponse({"clients": hub.clients, **hub.broker.stats()})


app = Starlette(routes=[
    Route("/health", health),
    Route("/send_notification", send_notification, methods=["POST"]),
    Route("/stream", stream),
    Route("/stats", stats),
])
