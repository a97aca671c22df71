# Reference answers for notebook 15.  Each section replaces the exercise cell's code.

# %% Exercise 15.1
READ_TOKENS_JS = """
async function readTokens(response, onToken) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();   // {stream: true} below keeps half a character for later
  let buffer = "";                     // text not yet ending in a line break
  let data = [];                       // the data lines of the event being read
  let afterCR = false;                 // the last line ended in a \\r that was the last character so far
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;            // the stream ended without [DONE]
    let piece = decoder.decode(value, { stream: true });
    if (afterCR && piece !== "") {     // a \\r ends a line at once; a \\n right after it belongs to it
      afterCR = false;
      if (piece[0] === "\\n") piece = piece.slice(1);
    }
    buffer += piece;
    let match;
    while ((match = /\\r\\n|\\n|\\r/.exec(buffer)) !== null) {
      if (match[0] === "\\r" && match.index === buffer.length - 1) afterCR = true;
      const line = buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
      if (line === "") {               // a blank line: the event is complete
        const text = data.join("\\n");
        data = [];
        if (text === "[DONE]") { await reader.cancel(); return true; }
        if (text !== "") onToken(JSON.parse(text).token);
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
      }                                // comments (':') and other fields are ignored
    }
  }
}
"""


# %% Exercise 15.2
import json
import queue

from labs.core.sse import encode_event, keep_alive


def token_events(tokens, stop):
    try:
        while True:
            try:
                token = tokens.get(timeout=0.2)
            except queue.Empty:
                # The model is silent.  Writing something is the only way to find out whether the
                # reader is still there: the server's write fails (or it closes us) if not.
                yield keep_alive()
                continue
            if token is None:
                yield encode_event("[DONE]")
                return
            yield encode_event(json.dumps({"token": token}, ensure_ascii=False))
    finally:
        stop.set()  # however the answer ended: done, the reader gone, or an error


# %% Exercise 15.3
import json

from labs.core.sse import EventStreamDecoder


def read_message(chunks):
    result = {"text": "", "stop_reason": None, "output_tokens": None, "error": None}
    decoder = EventStreamDecoder()  # chunks are cut anywhere: the decoder keeps what is unfinished
    for chunk in chunks:
        for event in decoder.feed(chunk):
            if event.type == "error":        # mid-stream: the answer is not whole; keep what came
                result["error"] = json.loads(event.data)["error"]
                return result
            if event.type == "message_stop":
                return result
            if event.type == "content_block_delta":
                delta = json.loads(event.data)["delta"]
                if delta.get("type") == "text_delta":  # thinking_delta, signature_delta...: not text
                    result["text"] += delta["text"]
            elif event.type == "message_delta":
                data = json.loads(event.data)
                result["stop_reason"] = data["delta"].get("stop_reason")
                result["output_tokens"] = data.get("usage", {}).get("output_tokens")
            # ping, message_start, content_block_start/stop, and types added later: nothing to do
    result["error"] = {"type": "incomplete", "message": "the stream ended before message_stop"}
    return result


# %% Exercise 15.4
import json

import redis

from labs.core.sse import encode_event


def replay_then_follow(redis_url, key, last_event_id):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    cursor = f"{last_event_id}-0"  # entry n-0 is token n: the reader's id is the cursor
    try:
        while True:
            # Entries after the cursor: the replay first, then (BLOCK) each new one as it comes.
            # The cursor moves only past what was sent, so nothing written meanwhile is skipped.
            batch = client.xread({key: cursor}, count=100, block=1000)
            for entry_id, fields in (batch[0][1] if batch else []):
                cursor = entry_id
                if fields["kind"] == "done":
                    yield encode_event("[DONE]")
                    return
                if fields["kind"] == "error":
                    yield encode_event(json.dumps({"error": fields.get("error"), "detail": fields.get("detail")}),
                                       event="error")
                    return
                yield encode_event(json.dumps({"token": fields["token"]}, ensure_ascii=False),
                                   id=entry_id.split("-")[0])
    finally:
        client.close()
