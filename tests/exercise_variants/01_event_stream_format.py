# Other answers to notebook 01's exercises: correct ones the checks must accept, and wrong
# ones (mistakes and cheats) they must reject.  Each section replaces the exercise cell's code.

# %% Exercise 1.1 correct: CRLF line ends, no space after the colon where none is needed, retry with the first event
def encode_backlog(messages, first_id, retry_ms):
    out = ""
    for number, text in enumerate(messages):
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        block = f"retry:{retry_ms}\r\n" if number == 0 else ""
        # "data:hi" is legal; only a line that starts with a space needs the separating space.
        block += "".join(("data: " if line.startswith(" ") else "data:") + line + "\r\n" for line in lines)
        block += f"id:{first_id + number}\r\nevent:notify\r\n"
        out += block + "\r\n"
    return out

# %% Exercise 1.1 correct: str.splitlines with its two gaps filled, retry in a block of its own at the end
def encode_backlog(messages, first_id, retry_ms):
    parts = []
    for offset, message in enumerate(messages):
        lines = message.splitlines() or [""]
        if message.endswith(("\n", "\r")):
            lines.append("")  # splitlines forgets the empty line after a final line break
        data = "".join(f"data: {line}\n" for line in lines)
        parts.append(f"id: {first_id + offset}\nevent: notify\n{data}\n")
    parts.append(f"retry: {retry_ms}\n\n")
    return "".join(parts)

# %% Exercise 1.1 correct: builds a list of lines with a generator
import re


def _fields(number, text):
    yield "event: notify"
    yield f"id: {number}"
    for line in re.split("\r\n|[\r\n]", text):
        yield "data: " + line
    yield ""


def encode_backlog(messages, first_id, retry_ms):
    lines = [f"retry: {retry_ms}", ""]
    for number, text in enumerate(messages, start=first_id):
        lines.extend(_fields(number, text))
    return "\n".join(lines) + "\n"

# %% Exercise 1.1 wrong: splits on \n only, so a lone CR ends a line early in the browser
def encode_backlog(messages, first_id, retry_ms):
    out = f"retry: {retry_ms}\n\n"
    for number, text in enumerate(messages):
        data = "".join(f"data: {line}\n" for line in text.split("\n"))
        out += f"event: notify\nid: {first_id + number}\n{data}\n"
    return out

# %% Exercise 1.1 wrong: plain str.splitlines loses a final empty line and the empty message
def encode_backlog(messages, first_id, retry_ms):
    out = f"retry: {retry_ms}\n\n"
    for number, text in enumerate(messages):
        data = "".join(f"data: {line}\n" for line in text.splitlines())
        out += f"event: notify\nid: {first_id + number}\n{data}\n"
    return out

# %% Exercise 1.1 wrong: "data:" + line always, so a line's own leading space is eaten
import re


def encode_backlog(messages, first_id, retry_ms):
    out = f"retry:{retry_ms}\n\n"
    for number, text in enumerate(messages):
        data = "".join(f"data:{line}\n" for line in re.split(r"\r\n|\r|\n", text))
        out += f"event:notify\nid:{first_id + number}\n{data}\n"
    return out

# %% Exercise 1.1 wrong: the whole message on one data: line, so a blank line in it ends the event
def encode_backlog(messages, first_id, retry_ms):
    out = f"retry: {retry_ms}\n\n"
    for number, text in enumerate(messages):
        out += f"event: notify\nid: {first_id + number}\ndata: {text}\n\n"
    return out

# %% Exercise 1.1 wrong: no retry field
import re


def encode_backlog(messages, first_id, retry_ms):
    out = ""
    for number, text in enumerate(messages):
        data = "".join(f"data: {line}\n" for line in re.split(r"\r\n|\r|\n", text))
        out += f"event: notify\nid: {first_id + number}\n{data}\n"
    return out

# %% Exercise 1.1 wrong: every event gets first_id
import re


def encode_backlog(messages, first_id, retry_ms):
    out = f"retry: {retry_ms}\n\n"
    for text in messages:
        data = "".join(f"data: {line}\n" for line in re.split(r"\r\n|\r|\n", text))
        out += f"event: notify\nid: {first_id}\n{data}\n"
    return out

# %% Exercise 1.1 wrong: no event name, so every event is a "message"
import re


def encode_backlog(messages, first_id, retry_ms):
    out = f"retry: {retry_ms}\n\n"
    for number, text in enumerate(messages):
        data = "".join(f"data: {line}\n" for line in re.split(r"\r\n|\r|\n", text))
        out += f"id: {first_id + number}\n{data}\n"
    return out

# %% Exercise 1.1 wrong: no blank line between events, so all of them run together into one
import re


def encode_backlog(messages, first_id, retry_ms):
    out = f"retry: {retry_ms}\n\n"
    for number, text in enumerate(messages):
        data = "".join(f"data: {line}\n" for line in re.split(r"\r\n|\r|\n", text))
        out += f"event: notify\nid: {first_id + number}\n{data}"
    return out + "\n"

# %% Exercise 1.1 wrong: the kit's encoder does the work
from labs.core.sse import encode_event


def encode_backlog(messages, first_id, retry_ms):
    return encode_event(retry=retry_ms) + "".join(
        encode_event(text, event="notify", id=first_id + n) for n, text in enumerate(messages))

# %% Exercise 1.1 wrong: flask-sse's Message (splitlines, and data: with no space)
from flask_sse import Message


def encode_backlog(messages, first_id, retry_ms):
    return "".join(str(Message(text, type="notify", id=first_id + n, retry=retry_ms))
                   for n, text in enumerate(messages))

# %% Exercise 1.1 wrong: hard-coded output for one example
def encode_backlog(messages, first_id, retry_ms):
    return "retry: 3000\n\nevent: notify\nid: 1\ndata: a\ndata: b\n\n"

# %% Exercise 1.1 wrong: retry in seconds, not the retry_ms milliseconds given
import re


def encode_backlog(messages, first_id, retry_ms):
    out = f"retry: {retry_ms // 1000}\n\n"
    for number, text in enumerate(messages):
        out += f"event: notify\nid: {first_id + number}\n"
        out += "".join(f"data: {line}\n" for line in re.split(r"\r\n|\r|\n", text)) + "\n"
    return out

# %% Exercise 1.1 wrong: the messages newest first, not in the order given
import re


def encode_backlog(messages, first_id, retry_ms):
    out = f"retry: {retry_ms}\n\n"
    for number, text in reversed(list(enumerate(messages))):
        out += f"event: notify\nid: {first_id + number}\n"
        out += "".join(f"data: {line}\n" for line in re.split(r"\r\n|\r|\n", text)) + "\n"
    return out

# %% Exercise 1.2 correct: lists instead of tuples, in a tuple
prediction = (
    ["notify", "first\n second", ""],
    ["message", "third", "7"],
    ["message", "", ""],
)

# %% Exercise 1.2 wrong: computed by the decoder, not predicted
from labs.core.sse import decode

prediction = [(e.type, e.data, e.id) for e in decode(
    b"event: notify\ndata:first\ndata:  second\n\nid: 7\n\nevent: update\n\ndata: third\r\nData: shouted\r\n\r\n"
    b": ping\nretry: 1000\n\nid\ndata\n\nevent: lost\ndata: never finished")]

# %% Exercise 1.2 wrong: the right literal, but the decoder was run in the same cell to get it
from labs.core.sse import decode

print(decode(b"event: notify\ndata:first\ndata:  second\n\nid: 7\n\nevent: update\n\n"
             b"data: third\r\nData: shouted\r\n\r\n: ping\nretry: 1000\n\n"
             b"id\ndata\n\nevent: lost\ndata: never finished"))
prediction = [("notify", "first\n second", ""), ("message", "third", "7"), ("message", "", "")]

# %% Exercise 1.2 wrong: both spaces kept after "data:"
prediction = [("notify", "first\n  second", ""), ("message", "third", "7"), ("message", "", "")]

# %% Exercise 1.2 wrong: forgets that the id-only block set the id
prediction = [("notify", "first\n second", ""), ("message", "third", ""), ("message", "", "")]

# %% Exercise 1.2 wrong: "Data:" taken for "data:"
prediction = [("notify", "first\n second", ""), ("message", "third\nshouted", "7"), ("message", "", "")]

# %% Exercise 1.2 wrong: the line "data" with no colon taken for nothing at all
prediction = [("notify", "first\n second", ""), ("message", "third", "7")]

# %% Exercise 1.2 wrong: the unfinished last event counted
prediction = [("notify", "first\n second", ""), ("message", "third", "7"), ("message", "", ""),
              ("lost", "never finished", "")]

# %% Exercise 1.2 wrong: not a list of tuples
prediction = "notify first, message third, message empty"

# %% Exercise 1.3 correct: reads the stream as it arrives, with the incremental decoder, no 204 special case
import requests

from labs.core.sse import iter_events


def resume(url, last_event_id):
    with requests.get(url, headers={"Last-Event-Id": last_event_id}, stream=True, timeout=10) as response:
        return [event.id for event in iter_events(response.iter_content(chunk_size=None))]

# %% Exercise 1.3 correct: urllib from the standard library, and the decoder object
import urllib.request

from labs.core.sse import EventStreamDecoder


def resume(url, last_event_id):
    request = urllib.request.Request(url, headers={"Last-Event-ID": last_event_id,
                                                   "Accept": "text/event-stream"})
    with urllib.request.urlopen(request, timeout=10) as response:
        decoder = EventStreamDecoder()
        return [event.id for event in decoder.feed(response.read())]

# %% Exercise 1.3 wrong: hard-coded for the lab's reconnect example
def resume(url, last_event_id):
    return {"3": ["4", "5"], "5": []}.get(last_event_id, [])

# %% Exercise 1.3 wrong: never sends Last-Event-ID, so the server starts from the beginning
import requests

from labs.core.sse import decode


def resume(url, last_event_id):
    return [event.id for event in decode(requests.get(url, timeout=10).content)]

# %% Exercise 1.3 wrong: searches the text for "id:", which data lines can contain too
import re

import requests


def resume(url, last_event_id):
    text = requests.get(url, headers={"Last-Event-ID": last_event_id}, timeout=10).text
    return re.findall(r"id: ?(\w+)", text)

# %% Exercise 1.3 wrong: returns None for a 204
import requests

from labs.core.sse import decode


def resume(url, last_event_id):
    response = requests.get(url, headers={"Last-Event-ID": last_event_id}, timeout=10)
    if response.status_code == 204:
        return None
    return [event.id for event in decode(response.content)]

# %% Exercise 1.3 wrong: returns the events' data, not their ids
import requests

from labs.core.sse import decode


def resume(url, last_event_id):
    response = requests.get(url, headers={"Last-Event-ID": last_event_id}, timeout=10)
    return [event.data for event in decode(response.content)]
