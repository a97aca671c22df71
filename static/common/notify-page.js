// The notification page of manual_sse and quart_sse (the same stream, the same routes on WSGI and on
// ASGI): one EventSource on /stream, POST to send, a wire panel.
// Messages are untrusted text: they reach the page through textContent only
// (Lab.addItem and Lab.wire use textContent).
"use strict";

(() => {
  const messageBox = document.getElementById("message");
  const list = document.getElementById("notifications");
  const result = document.getElementById("send-result");
  const lastId = document.getElementById("last-id");

  // What the tests (and a curious student in the console) can read: every notification
  // in arrival order with its id, and how often the stream opened.
  const received = [];
  const gaps = [];
  let opens = 0;
  window.manualSse = { received, gaps, opens: () => opens };

  // Relative URL: the page works behind any prefix or proxy.  No reconnect code here:
  // EventSource reconnects by itself after the server's `retry:` delay and sends the
  // last id it saw; the server does the rest.
  const source = new EventSource("stream");
  Lab.wire("note", "EventSource stream");

  source.addEventListener("open", () => {
    opens += 1;
    Lab.setState("connected", true);
    Lab.wire("note", opens === 1 ? "stream open" : `stream open again (reconnect ${opens - 1}), last id ${lastId.textContent}`);
  });

  // A cluster's node opens each stream saying which node and pid it is: the header shows
  // it, so the instructor knows which node to stop for this window.
  source.addEventListener("connected", (event) => {
    try { Lab.servedBy(JSON.parse(event.data)); } catch (e) { /* {} from a lab that is not a node */ }
  });

  // The server names its events "notify": a plain onmessage would never see them.
  source.addEventListener("notify", (event) => {
    Lab.wire("in", `event: notify | id: ${event.lastEventId} | data: ${event.data}`);
    let text;
    try {
      text = JSON.parse(event.data).message;  // event.data is always a string
    } catch (e) {
      text = event.data;  // show what came, even if it is not the JSON we expect
    }
    received.push({ id: event.lastEventId, message: String(text) });
    lastId.textContent = event.lastEventId;
    Lab.addItem(list, String(text));
  });

  // The server could not replay everything we missed: say so instead of pretending.
  source.addEventListener("gap", (event) => {
    Lab.wire("in", `event: gap | id: ${event.lastEventId} | data: ${event.data}`);
    let info = {};
    try { info = JSON.parse(event.data); } catch (e) { /* keep the defaults below */ }
    gaps.push(info);
    const count = typeof info.missed === "number" ? `${info.missed} notification(s)` : "some notifications";
    Lab.addItem(list, `⚠ ${count} could not be replayed (${info.reason || "unknown reason"})`, "error");
  });

  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      Lab.setState("closed (the server refused the stream)", false);
    } else {
      Lab.setState("reconnecting…", false);
      Lab.wire("note", "stream broke; EventSource reconnects by itself with Last-Event-ID");
    }
  });

  async function send() {
    const message = messageBox.value;
    const answer = await Lab.postJSON("send_notification", { message });
    result.textContent = answer.ok ? `published as id ${answer.data.id}` : `${answer.status}: ${answer.data.error}`;
    result.className = answer.ok ? "" : "error";
    if (answer.ok) messageBox.value = "";
  }

  document.getElementById("send").addEventListener("click", send);
  messageBox.addEventListener("keydown", (event) => { if (event.key === "Enter") send(); });
  document.getElementById("cut").addEventListener("click", async () => {
    const answer = await Lab.postJSON("disconnect_all", {});
    result.textContent = answer.ok ? `the server ended ${answer.data.disconnected} stream(s)` : answer.data.error;
  });
  Lab.watchClients();
})();
