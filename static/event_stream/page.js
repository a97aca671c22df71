// event_stream lab: the bytes a server sent, next to the events the browser made of them.
// Two independent readers of the same URL: fetch() shows the raw bytes (one box per
// network read); a real EventSource shows what the browser's own parser dispatched.
"use strict";

const EventStreamLab = (() => {
  const CONTROL_NAMES = { "\r": "\\r", "\n": "\\n", "\0": "\\0", "\t": "\\t", "\ufeff": "<BOM>" };

  // Render text with line-ending characters made visible (CR and LF matter here).
  function renderText(container, text) {
    let plain = "";
    const flush = () => { if (plain) container.append(document.createTextNode(plain)); plain = ""; };
    for (const ch of text) {
      if (CONTROL_NAMES[ch] !== undefined) {
        flush();
        container.append(Lab.el("span", CONTROL_NAMES[ch], "ctl"));
        if (ch === "\n" || ch === "\r") container.append(document.createTextNode("\n"));
      } else {
        plain += ch;
      }
    }
    flush();
  }

  // Read a stream with fetch and show every network read as it arrives.
  async function readRaw(url, container) {
    container.replaceChildren();
    // ignoreBOM keeps a byte order mark visible instead of silently dropping it.
    const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    const response = await fetch(url, { headers: { Accept: "text/event-stream" }, cache: "no-store" });
    Lab.wire("in", `${response.status} ${response.headers.get("Content-Type") || "(no content type)"}`);
    let text = "";
    if (!response.body) return text;
    const reader = response.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const piece = decoder.decode(value, { stream: true });
      text += piece;
      const box = Lab.el("div", undefined, "chunk");
      box.title = `${value.length} bytes`;
      renderText(box, piece);
      container.append(box);
    }
    return text;
  }

  // EventSource only reports a named event to a listener for that name, so listen for
  // every name the stream could contain (any line starting with "event").
  function candidateTypes(text) {
    const types = new Set(["message"]);
    for (const line of text.split(/\r\n|\r|\n/)) {
      if (!line.replace(/^\ufeff/, "").startsWith("event")) continue;
      const value = line.includes(":") ? line.slice(line.indexOf(":") + 1) : "";
      types.add(value);
      types.add(value.replace(/^ /, ""));
    }
    types.delete("");
    return [...types];
  }

  // Open a real EventSource and collect what it dispatches until the connection ends.
  // followReconnects: let the browser reconnect (with Last-Event-ID) until the server
  // answers 204, which closes the EventSource for good.
  function collectEvents(url, types, options = {}) {
    const { followReconnects = false, timeoutMs = 8000, onEvent = () => {}, onNote = () => {} } = options;
    return new Promise((resolve) => {
      const events = [];
      const source = new EventSource(url);
      let reconnects = 0;
      let timer = null;
      const finish = (endedBy) => {
        clearTimeout(timer);
        source.close();
        resolve({ events, endedBy });
      };
      timer = setTimeout(() => finish("timeout"), timeoutMs);
      const record = (event) => {
        if (!(event instanceof MessageEvent)) return;  // "open"/"error" of the connection itself
        const item = { type: event.type, data: event.data, lastEventId: event.lastEventId };
        events.push(item);
        onEvent(item);
      };
      for (const type of new Set([...types, "message"])) source.addEventListener(type, record);
      source.addEventListener("open", (event) => { if (!(event instanceof MessageEvent)) onNote("connected"); });
      source.addEventListener("error", (event) => {
        if (event instanceof MessageEvent) return;  // a stream event named "error": recorded above
        if (source.readyState === EventSource.CLOSED) return finish("closed");
        if (followReconnects && reconnects < 5) {
          reconnects += 1;
          onNote("connection ended: the browser reconnects and sends Last-Event-ID");
          return;
        }
        finish("ended");
      });
    });
  }

  function toBase64Url(bytes) {
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function rawUrl(text) {
    return "raw?b64=" + toBase64Url(new TextEncoder().encode(text));
  }

  // --- the page -------------------------------------------------------------------
  const select = document.getElementById("example");
  const explain = document.getElementById("explain");
  const rawBox = document.getElementById("raw");
  const list = document.getElementById("events");
  const status = document.getElementById("status");
  let examples = [];

  function showEvent(item) {
    const li = Lab.el("li");
    li.append(Lab.el("span", item.type, "event-type"), document.createTextNode(" · "));
    const data = Lab.el("span");
    renderText(data, item.data);
    li.append(data, Lab.el("span", `  lastEventId=${JSON.stringify(item.lastEventId)}`, "event-id"));
    list.append(li);
  }

  async function run(url, followReconnects) {
    list.replaceChildren();
    status.textContent = "reading…";
    Lab.wire("out", `GET ${url}`);
    const text = await readRaw(url, rawBox);
    const result = await collectEvents(url, candidateTypes(text), {
      followReconnects, onEvent: showEvent, onNote: (note) => Lab.wire("note", note),
    });
    status.textContent = `${result.events.length} event(s) dispatched; the connection ${result.endedBy}.` +
      (followReconnects ? " (The raw panel shows the first connection only.)" : "");
    Lab.setState(`done: ${result.events.length} event(s)`, true);
    return result;
  }

  function describe() {
    const chosen = examples.find((e) => e.name === select.value);
    explain.textContent = chosen ? chosen.explain : "";
  }

  async function init() {
    try {
      examples = await (await fetch("examples")).json();
    } catch (e) {
      Lab.setState("cannot load the examples", false);
      return;
    }
    for (const example of examples) {
      const option = Lab.el("option", example.title);
      option.value = example.name;
      select.append(option);
    }
    describe();
    Lab.setState("ready", true);
  }

  select.addEventListener("change", describe);
  document.getElementById("run").addEventListener("click", () => {
    const chosen = examples.find((e) => e.name === select.value);
    if (chosen) run(`stream/${chosen.name}`, chosen.reconnects);
  });
  document.getElementById("run-custom").addEventListener("click", () => {
    let text = document.getElementById("custom").value.replace(/\r\n|\r/g, "\n");
    if (document.getElementById("crlf").checked) text = text.replace(/\n/g, "\r\n");
    run(rawUrl(text), false);
  });
  init();

  return { readRaw, candidateTypes, collectEvents, rawUrl, run };
})();
