# Reference answers for notebook 12.  Each section replaces the exercise cell's code.

# %% Exercise 12.1
def cors_headers(origin, allowed_origin, preflight):
    if origin is None or origin != allowed_origin:  # the whole origin, compared exactly
        return {}
    headers = {
        "Access-Control-Allow-Origin": origin,       # the exact origin: '*' cannot carry cookies
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",                            # the answer depends on who asked
    }
    if preflight:
        headers["Access-Control-Allow-Methods"] = "POST"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
        headers["Access-Control-Max-Age"] = "600"    # the browser may skip the preflight for 10 minutes
    return headers


# %% Exercise 12.2
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


# %% Exercise 12.3
import json
import queue

from labs.runtime.sse import encode_event, keep_alive


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
