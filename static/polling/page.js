// Short polling with a cursor and an ETag: ask "anything after N?" every interval.
"use strict";

(() => {
  const { $, count } = Feed;
  const list = $("notifications");
  let cursor = 0;      // id of the last message shown; the server sends what comes after
  let etag = null;     // names the log's state in our last answer; sent back as If-None-Match
  let running = true;
  let timer = null;
  let inFlight = false;  // never two polls at once (see loop)

  async function poll() {
    const url = `updates?since=${cursor}&client=${Feed.clientId}`;
    const headers = etag ? { "If-None-Match": etag } : {};
    Lab.wire("out", `GET ${url}` + (etag ? `   If-None-Match: ${etag}` : ""));
    count("requests");
    let response, text;
    try {
      // no-store: we handle If-None-Match ourselves, so a 304 reaches this code and can
      // be counted, instead of the browser's cache quietly turning it into a 200.
      response = await fetch(url, { headers, cache: "no-store" });
      text = await response.text();
    } catch (error) {
      Lab.setState("server unreachable", false);
      Lab.wire("note", `request failed: ${error.message}; trying again next interval`);
      return false;
    }
    Lab.setState(`polling every ${interval() / 1000} s`, true);
    const bytes = Feed.bodyBytes(text);
    count("bytes", bytes);
    if (response.status === 304) {
      count("empty");
      count("not_modified");
      Lab.wire("in", "304 Not Modified (no body: nothing new)");
      return false;
    }
    let data = null;
    try { data = JSON.parse(text); } catch (e) { /* shown below as it came */ }
    if (!response.ok || data === null) {
      Lab.wire("in", `${response.status} ${Feed.short(text)}`);
      return false;
    }
    Lab.wire("in", `${response.status} (${bytes} bytes) ${Feed.short(text)}`);
    etag = response.headers.get("ETag");
    if (data.gap) Feed.gap(list, data.gap);
    for (const record of data.messages) Feed.show(list, record);
    if (data.messages.length === 0) count("empty");
    cursor = data.cursor;
    $("cursor").textContent = String(cursor);
    return data.more === true;
  }

  function interval() { return Number($("interval").value); }

  // setTimeout after each answer, not setInterval: with setInterval a slow answer would
  // overlap the next request, two answers could arrive out of order, and the older one
  // would move the cursor back.
  async function loop() {
    timer = null;
    inFlight = true;
    const more = await poll();
    inFlight = false;
    if (running) timer = setTimeout(loop, more ? 0 : interval());  // more: the rest at once
  }

  $("toggle").addEventListener("click", () => {
    running = !running;
    $("toggle").textContent = running ? "Pause" : "Resume";
    if (running) { if (timer === null && !inFlight) loop(); }
    else { clearTimeout(timer); timer = null; Lab.setState("paused", null); Lab.wire("note", "paused"); }
  });
  $("interval").addEventListener("change", () => {
    Lab.wire("note", `interval now ${interval() / 1000} s`);
    if (running && timer !== null) { clearTimeout(timer); loop(); }
  });

  Feed.wirePublishForm();
  Lab.watchClients();
  loop();
})();
