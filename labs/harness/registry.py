"""Every lab the kit ships: one entry here, one module under ``labs/``.

The CLI (``python -m labs list``), the launcher, the tests and the notebooks all read
this table, so a lab's name, summary and notebook are written down once.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Lab:
    name: str
    summary: str
    notebook: str  # where the lab is taught (its page's header names it)
    # "always": the lab cannot run without Redis; "multi-process": only when served by
    # several worker processes (they share state through Redis); "never".
    redis: str = "never"
    # Why the lab must run in one process, if it must (None: any number of workers).
    single_process: str | None = None
    # Later notebooks that start the lab again, for what they add (a proxy, faults, a cluster...).

    @property
    def module_name(self) -> str:
        return f"labs.{self.name}"

    def module(self) -> ModuleType:
        return importlib.import_module(self.module_name)

    def needs_redis(self, workers: int | None = None) -> bool:
        return self.redis == "always" or (self.redis == "multi-process" and (workers or 1) > 1)


LABS: dict[str, Lab] = {
    lab.name: lab
    for lab in [
        Lab("event_stream", "Crafted text/event-stream responses: raw bytes next to what EventSource dispatches.",
            "01_event_stream_format"),
        Lab("json_roundtrip", "An echo endpoint showing JSON between the browser and Flask, and the classic mistakes.",
            "02_json_round_trips"),
        Lab("sse_blueprint", "The notification app: flask-sse's Blueprint with Redis pub/sub behind it.",
            "03_blueprints_and_flask_sse", redis="always"),
        Lab("manual_sse", "SSE by hand: a streaming Response with ids, replay, keep-alives and cleanup.",
            "04_manual_sse", redis="multi-process"),
        Lab("polling", "Short polling with a cursor and ETags: nothing lost, nothing repeated.",
            "05_short_polling", redis="multi-process"),
        Lab("long_polling", "Long polling: the server holds each request until there is news.",
            "06_long_polling", redis="multi-process"),
        Lab("websockets", "Flask-SocketIO over a real WebSocket: notifications and a chat with rooms.",
            "07_websockets", redis="multi-process"),
        Lab("webhooks", "Signed, replay-safe webhook receivers that push into an SSE stream.",
            "08_webhooks", single_process="it remembers delivery ids, and holds its stream, in one process's "
            "memory: with several workers a retried delivery could be pushed twice"),
        Lab("token_stream", "An LLM-style token stream: POST a prompt, read tokens with fetch, [DONE], errors "
            "in-band, and the generator stops when its reader goes; OpenAI's and Anthropic's formats under /v1; with "
            "Redis, resumable generations.", "15_llm_streams_and_resumable_generations", redis="multi-process"),
        Lab("secure_stream", "Streams that need a login (cookie, one-time ticket, Bearer over fetch), per-user "
            "channels, and CORS between two origins.", "12_auth_cors_and_fetch_streaming",
            single_process="its sessions, tokens, tickets and open streams live in one process's memory"),
        Lab("quart_sse", "manual_sse's lesson on ASGI: Quart served by uvicorn, the same core, routes and behaviour.",
            "16_flask_and_asgi_side_by_side", redis="multi-process",
            single_process="uvicorn serves it from one event loop; for more, run several on one Redis (BROKER=redis)"),
    ]
}


class UnknownLab(LookupError):
    def __str__(self) -> str:
        return self.args[0]


def get_lab(name: str) -> Lab:
    try:
        return LABS[name]
    except KeyError:
        known = ", ".join(LABS)
        raise UnknownLab(f"no lab named {name!r}; the labs are: {known}") from None
