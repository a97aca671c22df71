// The kit's text/event-stream decoder, ported line for line from labs/core/sse.py
// (EventStreamDecoder), for pages that read a stream themselves with fetch().
//
// It follows the WHATWG HTML Standard, "Interpreting an event stream", as the Python
// decoder does, so both dispatch exactly what a browser's EventSource dispatches for the
// same bytes: tests/test_token_stream.py feeds both the same bytes cut at random places
// and compares.  Feed it chunks of any size (Uint8Array from response.body, or strings):
// it keeps half a line, half a UTF-8 character, and a CR whose LF is still to come.
//
//   const decoder = new SSE.EventStreamDecoder();
//   for (const event of decoder.feed(chunk)) { ... event.type, event.data, event.id ... }
//
// Vanilla JavaScript, no dependencies; loads as a classic script and defines `SSE`.
"use strict";

const SSE = (() => {
  class EventStreamDecoder {
    constructor({ chromiumQuirks = true } = {}) {
      // chromiumQuirks=false follows the specification's text where Chromium differs
      // (one known case: a line break right after a leading BOM).
      this.chromiumQuirks = chromiumQuirks;
      // "Streams must be decoded using the UTF-8 decode algorithm": invalid bytes become
      // U+FFFD (fatal: false), and {stream: true} keeps a character split across chunks.
      // ignoreBOM: true keeps a leading BOM in the text, so that we strip it ourselves,
      // exactly where the Python decoder does (and apply Chromium's quirk after it).
      this._utf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
      this._encoder = new TextEncoder();
      this._bomChecked = false;
      this._breakAfterBomIsText = false;
      this._line = [];
      this._afterCr = false;  // a CR ended the last line; a following LF belongs to it
      this._data = [];
      this._hasData = false;
      this._eventType = "";
      this._lastEventIdBuffer = "";
      this.lastEventId = "";
      this.retry = null;
      this.comments = 0;
    }

    // chunk: a Uint8Array (or ArrayBuffer), or a string (encoded to UTF-8 first, as in Python).
    feed(chunk) {
      let bytes = chunk;
      if (typeof chunk === "string") bytes = this._encoder.encode(chunk);
      else if (chunk instanceof ArrayBuffer) bytes = new Uint8Array(chunk);
      return this._feedText(this._utf8.decode(bytes, { stream: true }));
    }

    // End of stream.  "If the file ends in the middle of an event, before the final empty
    // line, the incomplete event is not dispatched": pending data is discarded.
    close() {
      this._utf8.decode();  // flush (and forget) a character cut short
      this._line = [];
      this._data = [];
      this._hasData = false;
      this._eventType = "";
      return [];
    }

    _feedText(text) {
      if (!this._bomChecked && text.length > 0) {
        this._bomChecked = true;
        if (text[0] === "\ufeff") {  // one leading BYTE ORDER MARK is ignored
          text = text.slice(1);
          this._breakAfterBomIsText = this.chromiumQuirks;
        }
      }
      const events = [];
      let start = 0;
      if (this._breakAfterBomIsText && text.length > 0) {
        // Chromium's quirk (see labs/core/sse.py): a CR or LF right after a leading BOM
        // joins the first line instead of ending it.
        this._breakAfterBomIsText = false;
        if (text[0] === "\r" || text[0] === "\n") {
          this._line.push(text[0]);
          start = 1;
        }
      }
      for (let pos = start; pos < text.length; pos++) {
        const char = text[pos];
        if (char !== "\r" && char !== "\n") continue;
        if (this._afterCr && pos === start && char === "\n") {
          // The LF of a CRLF whose CR ended the previous line (maybe in another chunk).
          this._afterCr = false;
          start = pos + 1;
          continue;
        }
        this._afterCr = char === "\r";
        this._line.push(text.slice(start, pos));
        const event = this._processLine(this._line.join(""));
        this._line = [];
        if (event !== null) events.push(event);
        start = pos + 1;
      }
      const rest = text.slice(start);
      if (rest.length > 0) {
        this._afterCr = false;
        this._line.push(rest);
      }
      return events;
    }

    _processLine(line) {
      if (line === "") return this._dispatch();  // a blank line: dispatch the event
      if (line[0] === ":") {  // a comment: ignore the line
        this.comments += 1;
        return null;
      }
      let field = line;
      let value = "";
      const colon = line.indexOf(":");
      if (colon !== -1) {
        field = line.slice(0, colon);
        value = line.slice(colon + 1);
        if (value[0] === " ") value = value.slice(1);  // "If value starts with a SPACE, remove it"
      }
      if (field === "event") {
        this._eventType = value;
      } else if (field === "data") {
        this._data.push(value);
        this._hasData = true;
      } else if (field === "id") {
        if (!value.includes("\0")) this._lastEventIdBuffer = value;  // an id with NULL is ignored
      } else if (field === "retry") {
        if (/^[0-9]+$/.test(value)) {  // only ASCII digits
          const digits = value.replace(/^0+/, "") || "0";
          // As in Python and Chromium: a value too big for 64 bits is ignored.
          if (digits.length <= 20 && BigInt(digits) < 2n ** 64n) this.retry = Number(digits);
        }
      }
      // any other field name is ignored
      return null;
    }

    _dispatch() {
      // 1. The last event ID string is set from the buffer (which is never reset).
      this.lastEventId = this._lastEventIdBuffer;
      // 2. An empty data buffer dispatches nothing; the type buffer is reset too.
      if (!this._hasData) {
        this._eventType = "";
        return null;
      }
      // 3. The data lines are joined with LF (the trailing LF is removed).
      const event = { type: this._eventType || "message", data: this._data.join("\n"), id: this.lastEventId };
      this._data = [];
      this._hasData = false;
      this._eventType = "";
      return event;
    }
  }

  // Decode a whole stream given as an array of chunks (handy in tests and the console).
  function decodeChunks(chunks) {
    const decoder = new EventStreamDecoder();
    const events = [];
    for (const chunk of chunks) events.push(...decoder.feed(chunk));
    decoder.close();
    return events;
  }

  return { EventStreamDecoder, decodeChunks };
})();
