// json_roundtrip lab: each button makes one request the way the card says, then shows
// what really travelled.  Results are written with textContent only (they hold input).
"use strict";

(() => {
  const show = (id, lines) => { document.getElementById(id).textContent = lines.join("\n"); };
  const pretty = (value) => JSON.stringify(value, null, 1).replace(/\n\s*/g, " ");
  const message = () => document.getElementById("message").value;

  // POST to /echo with exactly the options given, log both directions, parse the answer.
  async function echo(options, described) {
    Lab.wire("out", `POST echo ${described}`);
    const response = await fetch("echo", { method: "POST", ...options });
    const answer = await response.json();  // res.json() = read the body, then JSON.parse it
    Lab.wire("in", `${response.status} ${response.headers.get("Content-Type")}`);
    return { response, answer };
  }

  async function correct() {
    const payload = { message: message() };
    const text = JSON.stringify(payload);
    const { response, answer } = await echo(
      { headers: { "Content-Type": "application/json" }, body: text }, text);
    show("result-correct", [
      `1. JSON.stringify made the string: ${text}`,
      `2. the server received (${answer.received.content_type}): ${answer.received.raw_body}`,
      `3. request.get_json() gave a Python ${answer.received.parsed_type}: ${pretty(answer.get_json.value)}`,
      `4. jsonify sent back (${answer.jsonify_sends.content_type}): ${answer.jsonify_sends.body.trim()}`,
      `5. res.json() gave a JS ${typeof answer}; answer.received.parsed.message = ${answer.received.parsed.message}`,
      `status ${response.status}`,
    ]);
  }

  async function noStringify() {
    const payload = { message: message() };
    // The mistake: fetch calls String(payload) on a plain object.
    const { response, answer } = await echo(
      { headers: { "Content-Type": "application/json" }, body: payload }, "(the object itself)");
    show("result-no-stringify", [
      `the server received: ${answer.received.raw_body}`,
      `${response.status} ${answer.error}: ${answer.detail}`,
      `fix: ${answer.fix}`,
    ]);
  }

  async function noContentType() {
    const text = JSON.stringify({ message: message() });
    const { response, answer } = await echo({ body: text }, `${text} (no Content-Type)`);
    show("result-no-content-type", [
      `fetch labelled it: ${answer.received.content_type}`,
      `request.get_json() would raise: ${answer.get_json.error}`,
      `${response.status} ${answer.error}: ${answer.detail}`,
      `fix: ${answer.fix}`,
    ]);
  }

  function noParse() {
    const source = new EventSource("events");
    Lab.wire("out", "GET events (EventSource)");
    source.addEventListener("notify", (event) => {
      source.close();  // one event is the lesson; stop the browser from reconnecting
      Lab.wire("in", `event: notify, data: ${event.data}`);
      show("result-no-parse", [
        `typeof event.data = ${typeof event.data}`,
        `event.data.message = ${String(event.data.message)}`,
        `JSON.parse(event.data).message = ${JSON.parse(event.data).message}`,
      ]);
    });
    source.onerror = () => { source.close(); };
  }

  async function dumps() {
    const lines = [];
    for (const path of ["dumps", "jsonify"]) {
      Lab.wire("out", `GET ${path}`);
      const response = await fetch(path);
      const type = response.headers.get("Content-Type");
      const body = (await response.text()).trim();
      Lab.wire("in", `${response.status} ${type}`);
      lines.push(`GET /${path}: Content-Type ${type}; body ${body}`);
    }
    lines.push("Only jsonify labels the answer as JSON; json.dumps text is served as an HTML page.");
    show("result-dumps", lines);
  }

  const buttons = {
    "btn-correct": correct, "btn-no-stringify": noStringify, "btn-no-content-type": noContentType,
    "btn-no-parse": noParse, "btn-dumps": dumps,
  };
  for (const [id, handler] of Object.entries(buttons)) {
    document.getElementById(id).addEventListener("click", () => {
      Promise.resolve(handler()).catch((error) => Lab.wire("note", `failed: ${error}`));
    });
  }
  Lab.setState("ready", true);
})();
