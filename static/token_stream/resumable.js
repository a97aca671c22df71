// The resumable page: start a generation (POST generations), read it with EventSource
// (GET generations/<id>/stream), and keep the id, the last token id and the text in
// sessionStorage, so that a reload reads on (?lastEventId=) instead of losing the answer.
// EventSource's own reconnects send Last-Event-ID by themselves.  Stop is a POST: closing
// the tab stops nothing.  Tokens are text from the server: textContent only.
"use strict";

(() => {
  const KEY = "token_stream.generation";
  const promptBox = document.getElementById("prompt");
  const maxBox = document.getElementById("max-tokens");
  const startButton = document.getElementById("start");
  const stopButton = document.getElementById("stop");
  const forgetButton = document.getElementById("forget");
  const answer = document.getElementById("answer");
  const result = document.getElementById("result");
  const idNode = document.getElementById("generation-id");
  const lastNode = document.getElementById("last-id");
  const connectionsNode = document.getElementById("connections");

  // What tests (and a curious student in the console) can read.
  const state = { saved: null, source: null, connections: 0, end: null, ids: [] };
  window.resumable = state;

  function save() { sessionStorage.setItem(KEY, JSON.stringify(state.saved)); }

  function show() {
    const saved = state.saved;
    idNode.textContent = saved ? saved.id : "none";
    lastNode.textContent = saved ? String(saved.last) : "0";
    answer.textContent = saved ? saved.text : "";
    connectionsNode.textContent = String(state.connections);
    stopButton.disabled = !saved || state.end !== null;
  }

  function finish(end, text, ok) {
    state.end = end;
    if (state.source) state.source.close();
    state.source = null;
    result.textContent = text;
    result.className = ok ? "" : "error";
    Lab.setState(end, ok);
    show();
  }

  function read() {
    const saved = state.saved;
    const url = `generations/${encodeURIComponent(saved.id)}/stream?lastEventId=${saved.last}`;
    Lab.wire("out", `GET ${url}`);
    const source = new EventSource(url);
    state.source = source;
    state.end = null;
    source.onopen = () => {
      state.connections += 1;
      Lab.setState("reading", true);
      show();
    };
    source.onmessage = (event) => {
      Lab.wire("in", `id: ${event.lastEventId} | data: ${event.data}`);
      if (event.data === "[DONE]") {
        finish(state.end === "stopping" ? "stopped" : "done", `[DONE] after ${saved.last} tokens`, true);
        return;
      }
      const id = Number(event.lastEventId);
      state.ids.push(id);
      saved.last = id;
      saved.text += JSON.parse(event.data).token;
      save();
      answer.textContent = saved.text;
      lastNode.textContent = String(id);
    };
    source.addEventListener("stopped", (event) => {
      Lab.wire("in", `event: stopped | data: ${event.data}`);
      state.end = "stopping";  // [DONE] follows
    });
    source.addEventListener("error", (event) => {
      if (event.data === undefined) {  // the connection broke: EventSource reconnects by itself
        Lab.setState("reconnecting…", false);
        return;
      }
      Lab.wire("in", `event: error | data: ${event.data}`);
      const body = JSON.parse(event.data);
      finish("error", `error: ${body.detail || body.error}`, false);
    });
  }

  async function start() {
    const payload = { prompt: promptBox.value, max_tokens: Number(maxBox.value) };
    const response = await Lab.postJSON("generations", payload);  // shows both ways on the wire
    const body = response.data;
    if (response.status !== 201) {
      result.textContent = `${response.status}: ${body.error || ""} ${body.detail || ""}`;
      result.className = "error";
      return;
    }
    if (state.source) state.source.close();
    state.saved = { id: body.id, last: 0, text: "" };
    state.ids = [];
    save();
    result.textContent = "generating…";
    result.className = "";
    show();
    read();
  }

  async function stop() {
    const saved = state.saved;
    const response = await Lab.postJSON(`generations/${encodeURIComponent(saved.id)}/stop`, {});
    const body = response.data;
    result.textContent = response.ok ? `${body.state}: ${body.tokens} tokens kept` : `${response.status}: ${body.error}`;
  }

  function forget() {
    if (state.source) state.source.close();
    state.source = null;
    state.saved = null;
    state.end = null;
    sessionStorage.removeItem(KEY);
    result.textContent = "";
    show();
  }

  startButton.addEventListener("click", start);
  stopButton.addEventListener("click", stop);
  forgetButton.addEventListener("click", forget);
  try {
    state.saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch (e) {
    state.saved = null;
  }
  show();
  if (state.saved) {
    result.textContent = `reading on after token ${state.saved.last}`;
    read();
  } else {
    Lab.setState("ready", true);
  }
})();
