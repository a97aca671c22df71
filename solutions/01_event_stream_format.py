# Reference answers for notebook 01.  Each section replaces the exercise cell's code.

# %% Exercise 1.1
import re


def encode_backlog(messages, first_id, retry_ms):
    # How long to wait before the next reconnect: a block of its own, which dispatches nothing.
    blocks = [f"retry: {retry_ms}\n\n"]
    for number, text in enumerate(messages):
        lines = ["event: notify", f"id: {first_id + number}"]
        # All three line ends, and every line (an empty one too) gets its own data: field,
        # so no message can end its event early or smuggle in fields of its own.
        lines += [f"data: {line}" for line in re.split(r"\r\n|\r|\n", text)]
        blocks.append("\n".join(lines) + "\n\n")
    return "".join(blocks)

# %% Exercise 1.2
prediction = [
    # "data:first" (no space to remove) and "data:  second" (one of two spaces removed).
    ("notify", "first\n second", ""),
    # "id: 7" + blank line: no data, so nothing dispatched, but the last event id is now "7".
    # "event: update" + blank line: nothing dispatched, and the type is reset.
    # "Data: shouted" is an unknown field (names are case-sensitive); the CRLFs are line ends.
    ("message", "third", "7"),
    # ": ping" is a comment and "retry: 1000" only sets the reconnection time.
    # "id" and "data" with no colon: an empty id (the id resets) and one empty data line.
    ("message", "", ""),
    # "event: lost ..." never gets its blank line: never dispatched.
]

# %% Exercise 1.3
import requests

from labs.core.sse import decode


def resume(url, last_event_id):
    response = requests.get(url, headers={"Accept": "text/event-stream", "Last-Event-ID": last_event_id},
                            timeout=10)
    if response.status_code == 204:  # the server says: nothing more, stop reconnecting
        return []
    return [event.id for event in decode(response.content)]
