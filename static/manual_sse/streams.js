// The instructor's demo of the browser's connection limit (notebook 11): open this page as
// `/?streams=8` and it opens 8 more EventSources on /stream beside its own, shows each
// one's state, then asks `GET health` with fetch and shows whether (and when) it answers.
//
// Over HTTP/1.1 a browser keeps at most 6 connections per origin, shared by all its tabs;
// an open EventSource holds one for as long as it lives.  So here: the page's own stream
// and 5 of these open, the rest wait in "connecting", and so does the fetch.  Through nginx
// over HTTP/2 (`python -m labs run manual_sse --behind-proxy --http2`) every one of them
// shares one connection, and all open (up to nginx's http2_max_concurrent_streams).
//
// The extras are opened once the page's own stream is open (or after 3 s without it), so the
// page's own stream always holds its connection or slot first.  Opened together, an HTTP/2
// stream that nginx refused for a moment (REFUSED_STREAM: it had not yet counted a finished
// request's slot as free) went back into the browser's queue behind the extras: with
// http2_max_concurrent_streams 2, one run in about ten showed 2 extras open instead of 1.
//
// `?probe=MS` sets when the fetch goes (default 1500 ms after the streams, so they go
// first).  Everything is also in `window.streamsDemo` for the tests and the notebook.
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const wanted = Number.parseInt(params.get("streams") || "0", 10);
  if (!(wanted > 0)) return;  // the demo is off unless asked for
  const count = Math.min(wanted, 50);
  const probeDelay = Math.max(0, Number.parseInt(params.get("probe") || "1500", 10) || 0);
  const $ = (id) => document.getElementById(id);
  const started = performance.now();
  const since = () => Math.round(performance.now() - started);

  $("streams-demo").hidden = false;
  const navigation = performance.getEntriesByType("navigation")[0];
  // "http/1.1" or "h2": how this page itself was fetched (the streams go the same way).  Empty
  // when the browser took the page from its cache: then nothing went over the network for it.
  const protocol = (navigation && navigation.nextHopProtocol) || "unknown (the page came from the cache)";
  $("streams-protocol").textContent = protocol;
  $("streams-count").textContent = String(count);

  const body = $("streams-table").querySelector("tbody");
  const streams = [];
  const probe = { state: "not sent yet", sentAt: null, answeredAt: null, status: null };

  function render(entry) {
    entry.cells.state.textContent = entry.state;
    entry.cells.state.className = entry.state === "open" ? "ok" : entry.state === "closed" ? "error" : "";
    entry.cells.events.textContent = String(entry.events);
    entry.cells.opened.textContent = entry.openedAt === null ? "" : `${entry.openedAt} ms`;
  }

  function summary() {
    const open = streams.filter((entry) => entry.state === "open").length;
    $("streams-summary").textContent = `${open} of ${count} open, ${count - open} waiting`;
  }

  function openExtras() {
    for (let index = 1; index <= count; index += 1) {
      const row = document.createElement("tr");
      const cells = {};
      for (const name of ["index", "state", "events", "opened"]) {
        cells[name] = document.createElement("td");
        row.append(cells[name]);
      }
      cells.index.textContent = `#${index}`;
      body.append(row);
      const entry = { index, state: "connecting", events: 0, openedAt: null, cells };
      const source = new EventSource("stream");
      entry.source = source;
      source.addEventListener("open", () => {
        entry.state = "open";
        if (entry.openedAt === null) entry.openedAt = since();
        render(entry);
        summary();
      });
      source.addEventListener("notify", () => { entry.events += 1; render(entry); });
      source.addEventListener("error", () => {
        // Still CONNECTING: the browser retries by itself.  CLOSED: it gave up for good.
        entry.state = source.readyState === EventSource.CLOSED ? "closed" : "connecting";
        render(entry);
        summary();
      });
      streams.push(entry);
      render(entry);
    }
    summary();
    Lab.wire("note", `${count} extra EventSources on /stream over ${protocol}`);
    setTimeout(sendProbe, probeDelay);
  }

  // notify-page.js (loaded before this script) opened the page's own stream.
  const ownOpen = () => window.manualSse && window.manualSse.opens() > 0;
  const waitedSince = performance.now();
  (function whenOwnStreamOpen() {
    if (ownOpen() || performance.now() - waitedSince > 3000) openExtras();
    else setTimeout(whenOwnStreamOpen, 20);
  })();

  function showProbe() {
    const node = $("streams-probe");
    if (probe.answeredAt !== null) {
      node.textContent = `answered ${probe.status} after ${probe.answeredAt - probe.sentAt} ms`;
      node.className = "ok";
    } else if (probe.sentAt !== null) {
      node.textContent = `waiting (sent ${since() - probe.sentAt} ms ago)`;
      node.className = "error";
    }
  }

  async function sendProbe() {
    Object.assign(probe, { state: "waiting", sentAt: since(), answeredAt: null, status: null });
    showProbe();
    const ticker = setInterval(showProbe, 250);
    try {
      const response = await fetch("health", { cache: "no-store" });
      Object.assign(probe, { state: "answered", answeredAt: since(), status: response.status });
    } catch (error) {
      Object.assign(probe, { state: `failed: ${error}`, answeredAt: since() });
    } finally {
      clearInterval(ticker);
      showProbe();
    }
  }

  $("probe-again").addEventListener("click", () => { if (probe.state !== "waiting") sendProbe(); });
  $("streams-close").addEventListener("click", () => {
    for (const entry of streams) {
      entry.source.close();
      entry.state = "closed";
      render(entry);
    }
    summary();
  });

  window.streamsDemo = {
    protocol,
    count,
    states: () => streams.map((entry) => entry.state),
    opened: () => streams.filter((entry) => entry.state === "open").length,
    probe: () => ({ state: probe.state, ms: probe.answeredAt === null ? null : probe.answeredAt - probe.sentAt }),
  };
})();
