// Reading an event stream with fetch(): what a page does when EventSource cannot
// (a POST with a body, an Authorization header, a stream it wants to cancel).
// Needs static/common/sse-decoder.js first.  Vanilla JavaScript, no dependencies.
//
//   const response = await fetch("generate", {method: "POST", headers, body, signal});
//   await FetchStream.readEvents(response, (event) => { ... });   // every event, decoded
//
//   const result = await FetchStream.streamTokens("generate", {prompt, max_tokens: 20},
//                                                 {onToken: (token) => show(token), signal});
//   // result: {tokens, done, error, events}; done is true once `data: [DONE]` came
//
// The reader hands over bytes in whatever pieces the network delivered: half an event,
// half a UTF-8 character, a CR whose LF is in the next piece.  The decoder keeps what is
// unfinished, so none of that matters here.  Aborting (an AbortController's signal, or
// cancel()) closes the connection: that is how the server learns to stop generating.
"use strict";

const FetchStream = (() => {
  // Read `response.body` to its end (or until onEvent returns false), feeding every
  // piece to one decoder.  Returns how it ended: "end" or "stopped".  onChunk, if given,
  // sees each piece (a Uint8Array) as it arrived, before it is decoded.
  async function readEvents(response, onEvent, onChunk) {
    const reader = response.body.getReader();
    const decoder = new SSE.EventStreamDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (onChunk) onChunk(value);
        for (const event of decoder.feed(value)) {
          if (onEvent(event) === false) {
            await reader.cancel();  // hang up: we have what we wanted
            return "stopped";
          }
        }
      }
      decoder.close();
      return "end";
    } finally {
      reader.releaseLock();
    }
  }

  // A refusal before the stream began: a 4xx/5xx answer with a JSON body.
  class Refused extends Error {
    constructor(status, body) {
      super(`${status}: ${body && body.error ? body.error : JSON.stringify(body)}`);
      this.status = status;
      this.body = body;
    }
  }

  async function refusal(response) {
    const text = await response.text();
    try { return new Refused(response.status, JSON.parse(text)); } catch (e) { return new Refused(response.status, text); }
  }

  // POST `payload` as JSON and read the token stream that answers it.  Resolves with
  // {tokens, done, error, events}: done once `data: [DONE]` came, error holding the
  // JSON of an `event: error`.  Rejects with Refused for a 4xx/5xx before the stream,
  // and with an AbortError when options.signal aborts.
  async function streamTokens(url, payload, options = {}) {
    const headers = { "Content-Type": "application/json", Accept: "text/event-stream", ...(options.headers || {}) };
    const response = await fetch(url, { method: "POST", headers, body: JSON.stringify(payload), signal: options.signal });
    const type = response.headers.get("Content-Type") || "";
    if (!response.ok || !type.startsWith("text/event-stream")) throw await refusal(response);
    const result = { tokens: [], done: false, error: null, events: [] };
    await readEvents(response, (event) => {
      result.events.push(event);
      if (options.onEvent) options.onEvent(event);
      if (event.type === "error") {
        try { result.error = JSON.parse(event.data); } catch (e) { result.error = { error: event.data }; }
        return false;
      }
      if (event.data === "[DONE]") {  // before JSON.parse: [DONE] is not JSON
        result.done = true;
        return false;
      }
      if (event.type === "message") {
        const token = JSON.parse(event.data).token;
        result.tokens.push(token);
        if (options.onToken) options.onToken(token);
      }
      return true;
    }, options.onChunk);
    return result;
  }

  return { readEvents, streamTokens, Refused };
})();
