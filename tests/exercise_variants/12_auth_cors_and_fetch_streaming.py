# Other answers to the exercises of notebook 12, judged by tests/test_exercise_checks*.py.
# "correct" sections must be solved, "wrong" sections must not.

# %% Exercise 12.1 correct: lower-case header names, a list of methods and headers, no Max-Age
def cors_headers(origin, allowed_origin, preflight):
    if origin != allowed_origin:
        return {}
    headers = {"access-control-allow-origin": origin, "access-control-allow-credentials": "true",
               "vary": "Origin"}
    if preflight:
        headers["access-control-allow-methods"] = "GET, POST, OPTIONS"
        headers["access-control-allow-headers"] = "authorization, content-type, last-event-id"
    return headers

# %% Exercise 12.1 correct: the allowed origin parsed with urllib and compared part by part
from urllib.parse import urlsplit


def cors_headers(origin, allowed_origin, preflight):
    if not origin:
        return {}
    mine, theirs = urlsplit(allowed_origin), urlsplit(origin)
    if (theirs.scheme, theirs.hostname, theirs.port, theirs.path) != (mine.scheme, mine.hostname, mine.port, ""):
        return {}
    extra = {"Access-Control-Allow-Methods": "POST", "Access-Control-Allow-Headers": "Content-Type,Authorization",
             "Access-Control-Max-Age": "86400"} if preflight else {}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin, Accept-Encoding", **extra}

# %% Exercise 12.1 wrong: a wildcard with credentials (the browser refuses it)
def cors_headers(origin, allowed_origin, preflight):
    headers = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "true"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = "POST"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    return headers

# %% Exercise 12.1 wrong: reflects whatever origin asked (every site may read the answers, with cookies)
def cors_headers(origin, allowed_origin, preflight):
    if origin is None:
        return {}
    headers = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = "POST"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    return headers

# %% Exercise 12.1 wrong: startswith lets look-alike origins in
def cors_headers(origin, allowed_origin, preflight):
    if not origin or not origin.startswith(allowed_origin):
        return {}
    headers = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = "POST"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    return headers

# %% Exercise 12.1 wrong: forgets Access-Control-Allow-Credentials
def cors_headers(origin, allowed_origin, preflight):
    if origin != allowed_origin:
        return {}
    headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = "POST"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    return headers

# %% Exercise 12.1 wrong: '*' for the allowed headers (with credentials it is a literal '*', and never Authorization)
def cors_headers(origin, allowed_origin, preflight):
    if origin != allowed_origin:
        return {}
    headers = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = "*"
        headers["Access-Control-Allow-Headers"] = "*"
    return headers

# %% Exercise 12.1 wrong: the preflight must allow the POST: Access-Control-Allow-Methods lists GET only
def cors_headers(origin, allowed_origin, preflight):
    if origin != allowed_origin:
        return {}
    headers = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = "GET"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    return headers

# %% Exercise 12.1 wrong: caches must not hand one origin's answer to another: no Vary: Origin
def cors_headers(origin, allowed_origin, preflight):
    if origin != allowed_origin:
        return {}
    headers = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = "POST"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    return headers

# %% Exercise 12.1 wrong: both answers readable: the POST itself gets no CORS headers (preflight only)
def cors_headers(origin, allowed_origin, preflight):
    if origin != allowed_origin or not preflight:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin",
            "Access-Control-Allow-Methods": "POST", "Access-Control-Allow-Headers": "Content-Type, Authorization"}

# %% Exercise 12.2 correct: split on blank lines after normalising line endings (a last lone CR at the end)
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

# %% Exercise 12.2 correct: the kit's decoder ported by hand, as a small class
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

# %% Exercise 12.2 wrong: chunks cut in a character: decodes each chunk alone (half a character is U+FFFD)
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

# %% Exercise 12.2 wrong: chunks cut anywhere: treats every chunk as whole events (a chunk may end mid-event)
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

# %% Exercise 12.2 wrong: cut between CR and LF: normalises CRLF chunk by chunk (a split CRLF is a blank line)
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

# %% Exercise 12.2 wrong: lines end in \r too: splits lines on \r?\n only (reads nothing from a bare-CR stream)
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

# %% Exercise 12.2 wrong: comments ignored: every line's text after its first colon taken as data
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

# %% Exercise 12.2 wrong: several data lines: keeps only the last data line of an event
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

# %% Exercise 12.2 wrong: stops at [DONE]: reads to the body's end, ignoring [DONE] (hangs on an open connection)
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

# %% Exercise 12.3 correct: a shorter wait, bytes, and stop set in an except/else pair
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

# %% Exercise 12.3 correct: a context manager releases the model
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

# %% Exercise 12.3 wrong: no finally (a reader that leaves never sets stop)
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

# %% Exercise 12.3 wrong: waits for the model without a timeout (during a silence it never learns the reader left)
import json


def token_events(tokens, stop):
    try:
        while (token := tokens.get()) is not None:
            yield f"data: {json.dumps({'token': token})}\n\n"
        yield "data: [DONE]\n\n"
    finally:
        stop.set()

# %% Exercise 12.3 wrong: waits quietly (no write during the silence, so nothing tells it the reader left)
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

# %% Exercise 12.3 wrong: stops the model at once (the answer is never complete)
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
