// The notification page: EventSource on flask-sse's /stream, POST to send, a wire panel.
// Every message is untrusted text: it reaches the page through textContent only
// (Lab.addItem and Lab.wire use textContent).
"use strict";

(() => {
  const messageBox = document.getElementById("message");
  const channelBox = document.getElementById("channel");
  const list = document.getElementById("notifications");
  const result = document.getElementById("send-result");
  const listening = document.getElementById("listening");
  const rawBox = document.getElementById("raw");

  // The channel comes from the page's own ?channel= so a link can open a given channel.
  let channel = new URLSearchParams(location.search).get("channel") || "";
  channelBox.value = channel;
  let source = null;
  let reconnectTimer = null;
  let rawReader = null;

  function withChannel(path) {
    return channel ? `${path}?channel=${encodeURIComponent(channel)}` : path;
  }

  function listen() {
    if (source) source.close();
    clearTimeout(reconnectTimer);
    listening.textContent = `(channel ${channel || "sse"})`;
    // Relative URL: the page works behind any prefix or proxy.
    source = new EventSource(withChannel("stream"));
    Lab.setState("listening: open fires with the first event");
    Lab.wire("note", `EventSource ${withChannel("stream")}`);
    source.addEventListener("open", () => Lab.setState("connected", true));
    // The server names its events "notify": a plain onmessage would never see them.
    source.addEventListener("notify", (event) => {
      Lab.wire("in", `event: ${event.type} | data: ${event.data} | lastEventId: "${event.lastEventId}"`);
      let text;
      try {
        text = JSON.parse(event.data).message;
      } catch (e) {
        text = event.data;  // show what came, even if it is not the JSON we expect
      }
      Lab.setState("connected", true);
      Lab.addItem(list, String(text));
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        // A non-200 answer (503 while Redis is down) makes EventSource give up for good;
        // try again ourselves, a little later, so the page recovers with the server.
        Lab.setState("disconnected: retrying in 2 s", false);
        Lab.wire("note", "stream refused (Redis down?); retrying in 2 s");
        reconnectTimer = setTimeout(listen, 2000);
      } else {
        // The stream ended or broke: EventSource reconnects by itself.
        Lab.setState("reconnecting…", false);
        Lab.wire("note", "stream ended; EventSource reconnects by itself");
      }
    });
    watchStats();
    if (rawBox.checked) readRaw();
  }

  // The raw bytes, exactly as the server wrote them (a second connection of its own).
  async function readRaw() {
    stopRaw();
    const controller = new AbortController();
    rawReader = controller;
    try {
      const response = await fetch(withChannel("stream"), {
        headers: { Accept: "text/event-stream" }, signal: controller.signal,
      });
      Lab.wire("note", `fetch reader: ${response.status} ${response.headers.get("content-type")}`);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        // JSON.stringify shows the \n line endings that make up the framing.
        Lab.wire("in", "raw " + JSON.stringify(decoder.decode(value, { stream: true })));
      }
      Lab.wire("note", "fetch reader: stream ended");
    } catch (e) {
      if (!controller.signal.aborted) Lab.wire("note", `fetch reader: ${e}`);
    }
  }

  function stopRaw() {
    if (rawReader) rawReader.abort();
    rawReader = null;
  }

  // The frame counts readers of the default channel; count this page's channel instead.
  function watchStats() {
    Lab.watchClients(withChannel("stats"));
  }

  async function send(retried = false) {
    result.textContent = "";
    result.className = "";
    try {
      const answer = await Lab.postJSON(withChannel("send_notification"), { message: messageBox.value });
      if (answer.ok) {
        result.textContent = `sent to ${answer.data.receivers} stream(s)`;
        messageBox.value = "";
      } else if (answer.status === 401 && !retried) {
        // Classroom mode: only the instructor publishes. Ask once for the token; it is
        // kept for this tab only (sessionStorage) and sent as a Bearer header.
        const token = window.prompt("This lab needs the instructor's publish token:");
        if (token) {
          Lab.setToken(token.trim());
          return send(true);
        }
        result.textContent = "401: publishing needs the instructor's token";
        result.className = "error";
      } else {
        result.textContent = `${answer.status}: ${answer.data.error}${answer.data.detail ? ": " + answer.data.detail : ""}`;
        result.className = "error";
      }
    } catch (e) {
      result.textContent = `the server did not answer: ${e}`;
      result.className = "error";
    }
  }

  document.getElementById("send").addEventListener("click", () => send());
  messageBox.addEventListener("keydown", (event) => { if (event.key === "Enter") send(); });
  document.getElementById("switch").addEventListener("click", () => {
    channel = channelBox.value.trim();
    const url = new URL(location.href);
    if (channel) url.searchParams.set("channel", channel); else url.searchParams.delete("channel");
    history.replaceState(null, "", url);
    listen();
  });
  rawBox.addEventListener("change", () => (rawBox.checked ? readRaw() : stopRaw()));
  listen();
})();
