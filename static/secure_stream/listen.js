// The three ways to read a stream that needs a login, shared by the lab's two pages:
// index.html on the lab's own origin, and elsewhere.html on another origin (another port).
// Every function takes `api`: "" on the lab's own page, the lab's origin elsewhere.
// Needs static/common/lab.js, sse-decoder.js and fetch-stream.js first.
// What a stream sends is text from other users: it reaches the page through textContent only.
"use strict";

const SecureListen = (() => {
  const streams = [];  // every stream opened: what tests (and a curious student) can read

  function at(api, path) {
    return api ? api.replace(/\/$/, "") + "/" + path : path;
  }

  function record(how, url) {
    const stream = { how, url, hello: null, hellos: 0, messages: [], error: null, status: null, ended: false };
    stream.close = () => { stream.ended = true; };
    streams.push(stream);
    return stream;
  }

  function shown(url) {  // a secret in a URL is shown cut short on the page (it is in the logs anyway)
    return url.replace(/(ticket|access_token)=([^&]{6})[^&]*/, "$1=$2…");
  }

  function onHello(stream, data) {
    stream.hello = JSON.parse(data);
    stream.hellos += 1;
    Lab.wire("in", `event: hello | data: ${data}`);
  }

  function onNotify(stream, data, list) {
    const message = JSON.parse(data);
    stream.messages.push(message);
    Lab.wire("in", `event: notify | data: ${data}`);
    if (list) Lab.addItem(list, `${message.from}: ${message.message}`);
  }

  // EventSource (a cookie, or a ticket in the URL).  Resolves once the server said hello, or
  // with stream.error set when the first connection failed (refused, or blocked by CORS).
  function viaEventSource(how, url, options, list) {
    const stream = record(how, url);
    Lab.wire("out", `new EventSource("${shown(url)}"${options.withCredentials ? ", {withCredentials: true}" : ""})`);
    const source = new EventSource(url, options);
    stream.close = () => { source.close(); stream.ended = true; };
    return new Promise((resolve) => {
      source.addEventListener("hello", (event) => { onHello(stream, event.data); resolve(stream); });
      source.addEventListener("notify", (event) => onNotify(stream, event.data, list));
      source.addEventListener("error", () => {
        if (stream.hellos === 0) {
          // No way to read why: EventSource shows neither the status nor the body.
          stream.error = "the stream was refused or blocked (EventSource tells no more)";
          Lab.wire("note", `${how}: ${stream.error}`);
          stream.close();
          resolve(stream);
        } else if (source.readyState === EventSource.CLOSED) {
          stream.error = "the reconnect was refused: EventSource gave up for good";
          stream.ended = true;
          Lab.wire("note", `${how}: ${stream.error}`);
        } else {
          Lab.wire("note", `${how}: the stream broke; EventSource reconnects with the same URL`);
        }
      });
    });
  }

  function withCookie(api, list, withCredentials = Boolean(api)) {
    return viaEventSource("session cookie", at(api, "stream"), { withCredentials }, list);
  }

  async function withTicket(api, token, list) {
    // With a bearer token the request needs no cookies (credentials "omit"), so even a
    // wildcard Access-Control-Allow-Origin lets the page read the ticket.
    const answer = await post(api, "stream-ticket", {}, token, token ? "omit" : "include");
    if (!answer.ok) {
      const stream = record("ticket", at(api, "stream"));
      stream.error = answer.error || `${answer.status} ${answer.body.error}`;
      stream.status = answer.status;
      stream.ended = true;
      return stream;
    }
    return viaEventSource("ticket", at(api, "stream?ticket=" + encodeURIComponent(answer.body.ticket)), {}, list);
  }

  // fetch() with an Authorization header, read with the kit's decoder.
  async function withBearer(api, token, list) {
    const url = at(api, "stream");
    const stream = record("bearer token", url);
    const controller = new AbortController();
    stream.close = () => { controller.abort(); stream.ended = true; };
    Lab.wire("out", `fetch("${url}", {headers: {Authorization: "Bearer …"}})`);
    let response;
    try {
      response = await fetch(url, { headers: { Authorization: "Bearer " + token, Accept: "text/event-stream" },
                                    signal: controller.signal });
    } catch (error) {
      stream.error = `fetch failed: ${error.message}`;  // a CORS refusal looks like this too
      stream.ended = true;
      Lab.wire("note", stream.error);
      return stream;
    }
    stream.status = response.status;
    if (!response.ok) {
      const body = await response.json();
      stream.error = `${response.status} ${body.error}`;
      stream.ended = true;
      Lab.wire("in", `${response.status} ${JSON.stringify(body)}`);
      return stream;
    }
    return new Promise((resolve) => {
      FetchStream.readEvents(response, (event) => {
        if (event.type === "hello") { onHello(stream, event.data); resolve(stream); }
        if (event.type === "notify") onNotify(stream, event.data, list);
        return true;
      }).catch((error) => {
        if (error.name !== "AbortError") stream.error = `the stream broke: ${error.message}`;
      }).finally(() => {
        stream.ended = true;
        resolve(stream);  // (no automatic reconnect with fetch: that is the page's job)
      });
    });
  }

  // POST JSON; credentials "include" sends and accepts cookies across origins too.
  async function post(api, path, payload, token, credentials = "include") {
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    Lab.wire("out", `POST ${at(api, path)} ${path === "login" ? "{…}" : JSON.stringify(payload)}`);
    let response;
    try {
      response = await fetch(at(api, path), { method: "POST", headers, body: JSON.stringify(payload), credentials });
    } catch (error) {
      Lab.wire("note", `fetch failed: ${error.message} (blocked by CORS, or no server)`);
      return { ok: false, status: null, error: `fetch failed: ${error.message}`, body: null };
    }
    const body = await response.json();
    Lab.wire("in", `${response.status} ${JSON.stringify(path === "login" && response.ok ? { user: body.user } : body)}`);
    return { ok: response.ok, status: response.status, body, error: null };
  }

  function closeAll() {
    for (const stream of streams) if (!stream.ended) stream.close();
  }

  return { streams, at, withCookie, withTicket, withBearer, post, closeAll };
})();
