# Reference answers for notebook 01.  Each section replaces the exercise cell's code.

# %% Exercise 1.1
import re


def encode_message(text, event=None):
    lines = []
    if event is not None:
        lines.append(f"event: {event}")
    # All three line ends: a lone CR would otherwise end the line early in the browser.
    lines += [f"data: {line}" for line in re.split(r"\r\n|\r|\n", text)]
    return "\n".join(lines) + "\n\n"

# %% Exercise 1.2
prediction = [
    ("notify", "first\n second", ""),  # one space removed from "  second", none to remove from "first"
    # "id: 7" + blank line: no data, nothing dispatched, but the last event id is now "7";
    # "event: update" + blank line: nothing dispatched, and the type is reset.
    ("message", "third", "7"),
    # ": ping" is a comment; "event: lost ..." never gets its blank line.
]

# %% Exercise 1.3
import requests

from labs.runtime.sse import decode


def resume(url, last_event_id):
    response = requests.get(url, headers={"Accept": "text/event-stream", "Last-Event-ID": last_event_id},
                            timeout=10)
    if response.status_code == 204:  # the server says: nothing more, stop reconnecting
        return []
    return [event.id for event in decode(response.content)]
