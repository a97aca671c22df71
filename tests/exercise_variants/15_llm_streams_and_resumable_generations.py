# Other answers to the exercises of notebook 15, judged by tests/test_exercise_checks*.py.
# "correct" sections must be solved, "wrong" sections must not.

# %% Exercise 15.1 correct: split on blank lines after normalising line endings (a last lone CR at the end)
READ_TOKENS_JS = """
async function readTokens(response, onToken) {
  const reader = response.body.getReader();
  const utf8 = new TextDecoder("utf-8");
  let text = "";
  // Handles the complete events in `text`; at the end of the body a trailing \\r is a line end too.
  const handle = (last) => {
    // Hold back a trailing \\r while more may come: its \\n may be in the next chunk.
    const keep = !last && text.endsWith("\\r") ? "\\r" : "";
    const body = (keep ? text.slice(0, -1) : text).replace(/\\r\\n?/g, "\\n");
    const blocks = body.split("\\n\\n");
    text = blocks.pop() + keep;
    for (const block of blocks) {
      const lines = block.split("\\n").filter((l) => l.startsWith("data:"));
      if (lines.length === 0) continue;
      const data = lines.map((l) => l.slice(l.startsWith("data: ") ? 6 : 5)).join("\\n");
      if (data === "[DONE]") return true;
      onToken(JSON.parse(data).token);
    }
    return false;
  };
  for (;;) {
    const chunk = await reader.read();
    if (chunk.done) return handle(true);
    text += utf8.decode(chunk.value, { stream: true });
    if (handle(false)) { reader.cancel(); return true; }
  }
}
"""

# %% Exercise 15.1 correct: the kit's decoder ported by hand, as a small class
READ_TOKENS_JS = """
class Lines {
  constructor() { this.rest = ""; this.cr = false; }
  push(text, onLine) {
    for (const ch of text) {
      if (this.cr && ch === "\\n") { this.cr = false; continue; }
      this.cr = ch === "\\r";
      if (ch === "\\r" || ch === "\\n") { onLine(this.rest); this.rest = ""; } else { this.rest += ch; }
    }
  }
}
const readTokens = async (response, onToken) => {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const lines = new Lines();
  let data = null;
  let finished = false;
  while (!finished) {
    const { value, done } = await reader.read();
    if (done) return false;
    lines.push(decoder.decode(value, { stream: true }), (line) => {
      if (finished) return;
      if (line === "") {
        if (data === "[DONE]") finished = true;
        else if (data !== null) onToken(JSON.parse(data).token);
        data = null;
      } else if (line.startsWith("data:")) {
        const value = line.slice(5).replace(/^ /, "");
        data = data === null ? value : data + "\\n" + value;
      }
    });
  }
  reader.cancel();
  return true;
};
"""

# %% Exercise 15.1 wrong: chunks cut in a character: decodes each chunk alone (half a character is U+FFFD)
READ_TOKENS_JS = """
async function readTokens(response, onToken) {
  const reader = response.body.getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;
    buffer += new TextDecoder().decode(value);
    const keep = buffer.endsWith("\\r") ? "\\r" : "";
    const blocks = (keep ? buffer.slice(0, -1) : buffer).replace(/\\r\\n?/g, "\\n").split("\\n\\n");
    buffer = blocks.pop() + keep;
    for (const block of blocks) {
      const data = block.split("\\n").filter((l) => l.startsWith("data:")).map((l) => l.replace(/^data: ?/, ""));
      if (data.length === 0) continue;
      if (data.join("\\n") === "[DONE]") return true;
      onToken(JSON.parse(data.join("\\n")).token);
    }
  }
}
"""

# %% Exercise 15.1 wrong: chunks cut anywhere: treats every chunk as whole events (a chunk may end mid-event)
READ_TOKENS_JS = """
async function readTokens(response, onToken) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;
    const text = decoder.decode(value, { stream: true }).replace(/\\r\\n?/g, "\\n");
    for (const block of text.split("\\n\\n")) {
      const data = block.split("\\n").filter((l) => l.startsWith("data:")).map((l) => l.replace(/^data: ?/, ""));
      if (data.length === 0) continue;
      if (data.join("\\n") === "[DONE]") return true;
      try { onToken(JSON.parse(data.join("\\n")).token); } catch (e) { /* half an event: skipped */ }
    }
  }
}
"""

# %% Exercise 15.1 wrong: cut between CR and LF: normalises CRLF chunk by chunk (a split CRLF is a blank line)
READ_TOKENS_JS = """
async function readTokens(response, onToken) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;
    buffer += decoder.decode(value, { stream: true }).replace(/\\r\\n?/g, "\\n");
    const blocks = buffer.split("\\n\\n");
    buffer = blocks.pop();
    for (const block of blocks) {
      const data = block.split("\\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim());
      if (data.length === 0) continue;
      if (data.join("\\n") === "[DONE]") return true;
      onToken(JSON.parse(data.join("\\n")).token);
    }
  }
}
"""

# %% Exercise 15.1 wrong: lines end in \r too: splits lines on \r?\n only (reads nothing from a bare-CR stream)
READ_TOKENS_JS = """
async function readTokens(response, onToken) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;
    buffer += decoder.decode(value, { stream: true });
    const lines = buffer.split(/\\r?\\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        const text = data.join("\\n");
        data = [];
        if (text === "[DONE]") { await reader.cancel(); return true; }
        if (text !== "") onToken(JSON.parse(text).token);
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
      }
    }
  }
}
"""

# %% Exercise 15.1 wrong: comments ignored: every line's text after its first colon taken as data
READ_TOKENS_JS = """
async function readTokens(response, onToken) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let data = [];
  let afterCR = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;
    let piece = decoder.decode(value, { stream: true });
    if (afterCR && piece !== "") { afterCR = false; if (piece[0] === "\\n") piece = piece.slice(1); }
    buffer += piece;
    let match;
    while ((match = /\\r\\n|\\n|\\r/.exec(buffer)) !== null) {
      if (match[0] === "\\r" && match.index === buffer.length - 1) afterCR = true;
      const line = buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
      if (line === "") {
        const text = data.join("\\n");
        data = [];
        if (text === "[DONE]") { await reader.cancel(); return true; }
        if (text !== "") onToken(JSON.parse(text).token);
      } else {
        data.push(line.slice(line.indexOf(":") + 1).replace(/^ /, ""));
      }
    }
  }
}
"""

# %% Exercise 15.1 wrong: several data lines: keeps only the last data line of an event
READ_TOKENS_JS = """
async function readTokens(response, onToken) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let data = null;
  let afterCR = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;
    let piece = decoder.decode(value, { stream: true });
    if (afterCR && piece !== "") { afterCR = false; if (piece[0] === "\\n") piece = piece.slice(1); }
    buffer += piece;
    let match;
    while ((match = /\\r\\n|\\n|\\r/.exec(buffer)) !== null) {
      if (match[0] === "\\r" && match.index === buffer.length - 1) afterCR = true;
      const line = buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
      if (line === "") {
        const text = data;
        data = null;
        if (text === "[DONE]") { await reader.cancel(); return true; }
        if (text !== null) onToken(JSON.parse(text).token);
      } else if (line.startsWith("data:")) {
        data = line.slice(5).replace(/^ /, "");
      }
    }
  }
}
"""

# %% Exercise 15.1 wrong: stops at [DONE]: reads to the body's end, ignoring [DONE] (hangs on an open connection)
READ_TOKENS_JS = """
async function readTokens(response, onToken) {
  const text = (await response.text()).replace(/\\r\\n?/g, "\\n");
  for (const block of text.split("\\n\\n")) {
    const data = block.split("\\n").filter((l) => l.startsWith("data:")).map((l) => l.replace(/^data: ?/, ""));
    if (data.length === 0) continue;
    if (data.join("\\n") === "[DONE]") return true;
    onToken(JSON.parse(data.join("\\n")).token);
  }
  return false;
}
"""

# %% Exercise 15.2 correct: a shorter wait, bytes, and stop set in an except/else pair
import json
import queue


def token_events(tokens, stop):
    try:
        while True:
            try:
                token = tokens.get(timeout=0.1)
            except queue.Empty:
                yield b": still thinking\n\n"
                continue
            if token is None:
                break
            yield ("data: " + json.dumps({"token": token}) + "\n\n").encode()
        yield b"data: [DONE]\n\n"
    except GeneratorExit:
        stop.set()
        raise
    else:
        stop.set()

# %% Exercise 15.2 correct: a context manager releases the model
import contextlib
import json
import queue


@contextlib.contextmanager
def released(stop):
    try:
        yield
    finally:
        stop.set()


def token_events(tokens, stop):
    with released(stop):
        while (token := _next(tokens)) is not None:
            yield ":\n\n" if token is queue.Empty else f"data: {json.dumps({'token': token})}\n\n"
        yield "data: [DONE]\n\n"


def _next(tokens):
    try:
        return tokens.get(timeout=0.25)
    except queue.Empty:
        return queue.Empty

# %% Exercise 15.2 wrong: no finally (a reader that leaves never sets stop)
import json
import queue


def token_events(tokens, stop):
    while True:
        try:
            token = tokens.get(timeout=0.2)
        except queue.Empty:
            yield ": keep-alive\n\n"
            continue
        if token is None:
            break
        yield f"data: {json.dumps({'token': token})}\n\n"
    yield "data: [DONE]\n\n"
    stop.set()

# %% Exercise 15.2 wrong: waits for the model without a timeout (during a silence it never learns the reader left)
import json


def token_events(tokens, stop):
    try:
        while (token := tokens.get()) is not None:
            yield f"data: {json.dumps({'token': token})}\n\n"
        yield "data: [DONE]\n\n"
    finally:
        stop.set()

# %% Exercise 15.2 wrong: waits quietly (no write during the silence, so nothing tells it the reader left)
import json
import queue


def token_events(tokens, stop):
    try:
        while True:
            try:
                token = tokens.get(timeout=0.2)
            except queue.Empty:
                continue
            if token is None:
                break
            yield f"data: {json.dumps({'token': token})}\n\n"
        yield "data: [DONE]\n\n"
    finally:
        stop.set()

# %% Exercise 15.2 wrong: stops the model at once (the answer is never complete)
import json
import queue


def token_events(tokens, stop):
    stop.set()
    while True:
        try:
            token = tokens.get(timeout=0.5)
        except queue.Empty:
            break
        if token is None:
            break
        yield f"data: {json.dumps({'token': token})}\n\n"
    yield "data: [DONE]\n\n"

# %% Exercise 15.3 correct: dispatches on the JSON's own "type" with match, a decoder per call
import json

from labs.core.sse import EventStreamDecoder


def read_message(chunks):
    text, stop_reason, output_tokens = [], None, None
    decoder = EventStreamDecoder()
    events = (event for chunk in chunks for event in decoder.feed(chunk))
    for event in events:
        data = json.loads(event.data)
        match data.get("type"):
            case "content_block_delta" if data["delta"]["type"] == "text_delta":
                text.append(data["delta"]["text"])
            case "message_delta":
                stop_reason = data["delta"]["stop_reason"]
                output_tokens = data["usage"]["output_tokens"]
            case "message_stop":
                return {"text": "".join(text), "stop_reason": stop_reason, "output_tokens": output_tokens,
                        "error": None}
            case "error":
                return {"text": "".join(text), "stop_reason": None, "output_tokens": None, "error": data["error"]}
    return {"text": "".join(text), "stop_reason": stop_reason, "output_tokens": output_tokens,
            "error": {"type": "incomplete"}}

# %% Exercise 15.3 correct: its own line splitter on the joined bytes (the stream is whole here), handlers in a dict
import json
import re


def read_message(chunks):
    state = {"text": "", "stop_reason": None, "output_tokens": None, "error": None}
    body = b"".join(chunks).decode("utf-8")
    ended = False

    def delta(data):
        if data["delta"].get("type") == "text_delta":
            state["text"] += data["delta"]["text"]

    def message_delta(data):
        state["stop_reason"] = data["delta"].get("stop_reason")
        state["output_tokens"] = data["usage"]["output_tokens"]

    handlers = {"content_block_delta": delta, "message_delta": message_delta}
    for block in re.split(r"\r\n\r\n|\n\n", body):
        name, data = "message", []
        for line in re.split(r"\r\n|\n", block):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if not data:
            continue
        if name == "error":
            state["error"] = json.loads("\n".join(data))["error"]
            return state
        if name == "message_stop":
            ended = True
            break
        handlers.get(name, lambda data: None)(json.loads("\n".join(data)))
    if not ended:
        state["error"] = {"type": "incomplete", "message": "no message_stop"}
    return state

# %% Exercise 15.3 wrong: one chunk taken for one event (json.loads on each chunk's data line)
import json


def read_message(chunks):
    result = {"text": "", "stop_reason": None, "output_tokens": None, "error": None}
    for chunk in chunks:
        for line in chunk.decode("utf-8", errors="replace").splitlines():
            if not line.startswith("data: "):
                continue
            try:
                data = json.loads(line[6:])
            except ValueError:
                continue
            if data["type"] == "content_block_delta" and data["delta"]["type"] == "text_delta":
                result["text"] += data["delta"]["text"]
            elif data["type"] == "message_delta":
                result["stop_reason"] = data["delta"]["stop_reason"]
                result["output_tokens"] = data["usage"]["output_tokens"]
            elif data["type"] == "error":
                result["error"] = data["error"]
            elif data["type"] == "message_stop":
                return result
    result["error"] = {"type": "incomplete"}
    return result

# %% Exercise 15.3 wrong: ping not expected: every event that is not a start or a stop is read as a delta
import json

from labs.core.sse import EventStreamDecoder


def read_message(chunks):
    result = {"text": "", "stop_reason": None, "output_tokens": None, "error": None}
    decoder = EventStreamDecoder()
    for chunk in chunks:
        for event in decoder.feed(chunk):
            data = json.loads(event.data)
            if event.type in ("message_start", "content_block_start", "content_block_stop"):
                continue
            if event.type == "message_stop":
                return result
            if event.type == "error":
                result["error"] = data["error"]
                return result
            if event.type == "message_delta":
                result["stop_reason"] = data["delta"]["stop_reason"]
                result["output_tokens"] = data["usage"]["output_tokens"]
                continue
            if data["delta"]["type"] == "text_delta":
                result["text"] += data["delta"]["text"]
    result["error"] = {"type": "incomplete"}
    return result

# %% Exercise 15.3 wrong: unknown events: a handler table with no default (a new event type is a KeyError)
import json

from labs.core.sse import EventStreamDecoder


def read_message(chunks):
    result = {"text": "", "stop_reason": None, "output_tokens": None, "error": None, "ended": False}

    def delta(data):
        if data["delta"]["type"] == "text_delta":
            result["text"] += data["delta"]["text"]

    def message_delta(data):
        result["stop_reason"] = data["delta"]["stop_reason"]
        result["output_tokens"] = data["usage"]["output_tokens"]

    def error(data):
        result["error"] = data["error"]

    def stop(data):
        result["ended"] = True

    def nothing(data):
        pass

    handlers = {"message_start": nothing, "ping": nothing, "content_block_start": nothing,
                "content_block_stop": nothing, "content_block_delta": delta, "message_delta": message_delta,
                "message_stop": stop, "error": error}
    decoder = EventStreamDecoder()
    for chunk in chunks:
        for event in decoder.feed(chunk):
            handlers[event.type](json.loads(event.data))
    if not result.pop("ended") and result["error"] is None:
        result["error"] = {"type": "incomplete"}
    return result

# %% Exercise 15.3 wrong: every delta taken for text (a thinking_delta has no text)
import json

from labs.core.sse import EventStreamDecoder


def read_message(chunks):
    result = {"text": "", "stop_reason": None, "output_tokens": None, "error": None}
    decoder = EventStreamDecoder()
    for chunk in chunks:
        for event in decoder.feed(chunk):
            if event.type == "content_block_delta":
                result["text"] += json.loads(event.data)["delta"]["text"]
            elif event.type == "message_delta":
                data = json.loads(event.data)
                result["stop_reason"] = data["delta"]["stop_reason"]
                result["output_tokens"] = data["usage"]["output_tokens"]
            elif event.type == "error":
                result["error"] = json.loads(event.data)["error"]
                return result
            elif event.type == "message_stop":
                return result
    result["error"] = {"type": "incomplete"}
    return result

# %% Exercise 15.3 wrong: every delta's text taken, thinking included (delta.get("text") or delta.get("thinking"))
import json

from labs.core.sse import EventStreamDecoder


def read_message(chunks):
    result = {"text": "", "stop_reason": None, "output_tokens": None, "error": None}
    decoder = EventStreamDecoder()
    for chunk in chunks:
        for event in decoder.feed(chunk):
            if event.type == "content_block_delta":
                delta = json.loads(event.data)["delta"]
                result["text"] += delta.get("text") or delta.get("thinking") or ""
            elif event.type == "message_delta":
                data = json.loads(event.data)
                result["stop_reason"] = data["delta"]["stop_reason"]
                result["output_tokens"] = data["usage"]["output_tokens"]
            elif event.type == "error":
                result["error"] = json.loads(event.data)["error"]
                return result
            elif event.type == "message_stop":
                return result
    result["error"] = {"type": "incomplete"}
    return result

# %% Exercise 15.3 wrong: the usage lost: output_tokens taken from message_start (an early count)
import json

from labs.core.sse import EventStreamDecoder


def read_message(chunks):
    result = {"text": "", "stop_reason": None, "output_tokens": None, "error": None}
    decoder = EventStreamDecoder()
    for chunk in chunks:
        for event in decoder.feed(chunk):
            data = json.loads(event.data)
            if event.type == "message_start":
                result["output_tokens"] = data["message"]["usage"]["output_tokens"]
            elif event.type == "content_block_delta" and data["delta"]["type"] == "text_delta":
                result["text"] += data["delta"]["text"]
            elif event.type == "message_delta":
                result["stop_reason"] = data["delta"]["stop_reason"]
            elif event.type == "error":
                result["error"] = data["error"]
                return result
            elif event.type == "message_stop":
                return result
    result["error"] = {"type": "incomplete"}
    return result

# %% Exercise 15.3 wrong: a mid-stream error ignored (the partial answer passes for a whole one)
import json

from labs.core.sse import EventStreamDecoder


def read_message(chunks):
    result = {"text": "", "stop_reason": None, "output_tokens": None, "error": None}
    decoder = EventStreamDecoder()
    stopped = False
    for chunk in chunks:
        for event in decoder.feed(chunk):
            data = json.loads(event.data)
            if event.type == "content_block_delta" and data["delta"]["type"] == "text_delta":
                result["text"] += data["delta"]["text"]
            elif event.type == "message_delta":
                result["stop_reason"] = data["delta"]["stop_reason"]
                result["output_tokens"] = data["usage"]["output_tokens"]
            elif event.type == "message_stop":
                stopped = True
    if not stopped and result["text"] == "":
        result["error"] = {"type": "incomplete"}
    return result

# %% Exercise 15.3 wrong: a dropped connection taken for a whole answer (no message_stop, no error: returns None)
import json

from labs.core.sse import EventStreamDecoder


def read_message(chunks):
    result = {"text": "", "stop_reason": None, "output_tokens": None, "error": None}
    decoder = EventStreamDecoder()
    for chunk in chunks:
        for event in decoder.feed(chunk):
            data = json.loads(event.data)
            if event.type == "content_block_delta" and data["delta"]["type"] == "text_delta":
                result["text"] += data["delta"]["text"]
            elif event.type == "message_delta":
                result["stop_reason"] = data["delta"]["stop_reason"]
                result["output_tokens"] = data["usage"]["output_tokens"]
            elif event.type == "error":
                result["error"] = data["error"]
                return result
    return result

# %% Exercise 15.4 correct: the replay with XRANGE (exclusive start), then XREAD from the last id sent
import json

import redis


def replay_then_follow(redis_url, key, last_event_id):
    r = redis.Redis.from_url(redis_url)
    cursor = f"{last_event_id}-0"

    def blocks(entries):
        nonlocal cursor
        for entry_id, fields in entries:
            entry_id = entry_id.decode()
            fields = {k.decode(): v.decode() for k, v in fields.items()}
            cursor = entry_id
            if fields["kind"] == "token":
                n = entry_id.split("-")[0]
                yield "id: " + n + "\ndata: " + json.dumps({"token": fields["token"]}) + "\n\n", False
            elif fields["kind"] == "done":
                yield "data: [DONE]\n\n", True
            else:
                yield "event: error\ndata: " + json.dumps({"error": fields["error"]}) + "\n\n", True

    for text, last in blocks(r.xrange(key, min="(" + cursor, max="+")):
        yield text
        if last:
            return
    while True:
        for _, entries in r.xread({key: cursor}, block=500) or []:
            for text, last in blocks(entries):
                yield text.encode()
                if last:
                    return

# %% Exercise 15.4 wrong: the follow phase reads from '$' (entries written while paused at a yield are lost)
import json

import redis

from labs.core.sse import encode_event


def replay_then_follow(redis_url, key, last_event_id):
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    cursor = f"{last_event_id}-0"
    entries = r.xrange(key, min="(" + cursor, max="+")
    while True:
        for entry_id, fields in entries:
            if fields["kind"] == "done":
                yield encode_event("[DONE]")
                return
            if fields["kind"] == "error":
                yield encode_event(json.dumps({"error": fields["error"]}), event="error")
                return
            yield encode_event(json.dumps({"token": fields["token"]}), id=entry_id.split("-")[0])
        batch = r.xread({key: "$"}, block=1000)
        entries = batch[0][1] if batch else []

# %% Exercise 15.4 wrong: replays only (XRANGE once, then the stream ends: nothing live)
import json

import redis

from labs.core.sse import encode_event


def replay_then_follow(redis_url, key, last_event_id):
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    for entry_id, fields in r.xrange(key, min=f"({last_event_id}-0", max="+"):
        if fields["kind"] == "done":
            yield encode_event("[DONE]")
            return
        if fields["kind"] == "error":
            yield encode_event(json.dumps({"error": fields["error"]}), event="error")
            return
        yield encode_event(json.dumps({"token": fields["token"]}), id=entry_id.split("-")[0])

# %% Exercise 15.4 wrong: the replay includes the reader's last token (XRANGE from last_event_id, inclusive)
import json

import redis

from labs.core.sse import encode_event


def replay_then_follow(redis_url, key, last_event_id):
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    cursor = f"{max(last_event_id - 1, 0)}-0"
    while True:
        batch = r.xread({key: cursor}, block=1000)
        for entry_id, fields in (batch[0][1] if batch else []):
            cursor = entry_id
            if fields["kind"] == "done":
                yield encode_event("[DONE]")
                return
            if fields["kind"] == "error":
                yield encode_event(json.dumps({"error": fields["error"]}), event="error")
                return
            yield encode_event(json.dumps({"token": fields["token"]}), id=entry_id.split("-")[0])

# %% Exercise 15.4 wrong: no ids on the events (a reader has nothing to resume from)
import json

import redis

from labs.core.sse import encode_event


def replay_then_follow(redis_url, key, last_event_id):
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    cursor = f"{last_event_id}-0"
    while True:
        batch = r.xread({key: cursor}, block=1000)
        for entry_id, fields in (batch[0][1] if batch else []):
            cursor = entry_id
            if fields["kind"] == "done":
                yield encode_event("[DONE]")
                return
            if fields["kind"] == "error":
                yield encode_event(json.dumps({"error": fields["error"]}), event="error")
                return
            yield encode_event(json.dumps({"token": fields["token"]}))

# %% Exercise 15.4 wrong: never ends: the done entry is skipped like any other (the reader waits forever)
import json

import redis

from labs.core.sse import encode_event


def replay_then_follow(redis_url, key, last_event_id):
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    cursor = f"{last_event_id}-0"
    while True:
        batch = r.xread({key: cursor}, block=1000)
        for entry_id, fields in (batch[0][1] if batch else []):
            cursor = entry_id
            if fields["kind"] == "token":
                yield encode_event(json.dumps({"token": fields["token"]}), id=entry_id.split("-")[0])

# %% Exercise 15.4 wrong: an error entry taken for the end of a good answer ([DONE] instead of event: error)
import json

import redis

from labs.core.sse import encode_event


def replay_then_follow(redis_url, key, last_event_id):
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    cursor = f"{last_event_id}-0"
    while True:
        batch = r.xread({key: cursor}, block=1000)
        for entry_id, fields in (batch[0][1] if batch else []):
            cursor = entry_id
            if fields["kind"] != "token":
                yield encode_event("[DONE]")
                return
            yield encode_event(json.dumps({"token": fields["token"]}), id=entry_id.split("-")[0])
