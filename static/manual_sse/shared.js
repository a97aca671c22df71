// One stream for every tab of this site (notebook 11): the fix for HTTP/1.1's limit of six
// connections per origin, which all of a browser's tabs share.
//
// - Leader election with a Web Lock: every tab asks for the same lock; the browser gives it
//   to one tab at a time and, when that tab closes (or crashes), to the next one waiting.
// - The tab holding the lock is the leader: it alone opens an EventSource, and passes each
//   event on over a BroadcastChannel (which delivers to every *other* tab of this origin,
//   not to the sender: so the leader shows its events itself).
// - A new leader opens the stream from the last id its tab saw (?lastEventId=, which the
//   lab replays from), so a change of leader loses nothing; ids already shown are skipped.
//
// A SharedWorker (one script shared by the tabs, holding the EventSource) does the same job;
// Web Locks + BroadcastChannel work wherever EventSource does in current browsers (Chrome on
// Android has no SharedWorker).  Messages are untrusted: textContent only (Lab.addItem).
"use strict";

(() => {
  const NAME = "sse-kit:manual_sse:stream";  // the lock's and the channel's name, per origin
  const $ = (id) => document.getElementById(id);
  const list = $("notifications");
  const tabId = Math.random().toString(36).slice(2, 8);
  const channel = new BroadcastChannel(NAME);
  const received = [];
  const seen = new Set();  // ids shown in this tab: a new leader's replay may repeat a few
  let lastId = null;
  let role = "starting";

  $("tab-id").textContent = tabId;

  function setRole(text) {
    role = text;
    $("role").textContent = text;
  }

  // One event, from our own stream or from the leader's: show it once.
  function deliver(event) {
    if (event.id) {
      if (seen.has(event.id)) return;
      seen.add(event.id);
      lastId = event.id;
    }
    if (event.type === "gap") {
      let info = {};
      try { info = JSON.parse(event.data); } catch (e) { /* keep the default below */ }
      Lab.addItem(list, `⚠ some notifications could not be replayed (${info.reason || "unknown reason"})`, "error");
      return;
    }
    let text;
    try {
      text = JSON.parse(event.data).message;
    } catch (e) {
      text = event.data;
    }
    received.push({ id: event.id, message: String(text) });
    Lab.addItem(list, String(text));
  }

  // This tab holds the lock: open the one stream and pass every event on.
  function lead(shared) {
    setRole(shared ? "leader: this tab holds the stream for every tab" : "on its own: no Web Locks here");
    const url = lastId === null ? "stream" : `stream?lastEventId=${encodeURIComponent(lastId)}`;
    const source = new EventSource(url);
    Lab.wire("note", `leader: EventSource ${url}`);
    source.addEventListener("open", () => Lab.setState("connected: this tab's stream", true));
    source.addEventListener("error", () => Lab.setState("reconnecting…", false));
    for (const type of ["notify", "gap"]) {
      source.addEventListener(type, (message) => {
        const event = { type, id: message.lastEventId, data: message.data };
        Lab.wire("in", `event: ${type} | id: ${event.id} | data: ${event.data}`);
        channel.postMessage(event);
        deliver(event);
      });
    }
    channel.postMessage({ type: "leader", tab: tabId });
  }

  channel.addEventListener("message", ({ data }) => {
    if (!data || typeof data !== "object") return;
    if (data.type === "notify" || data.type === "gap") {
      Lab.wire("in", `from the leader's stream: ${data.type} | id: ${data.id}`);
      deliver(data);
    } else if (data.type === "leader" && role.startsWith("follower")) {
      setRole(`follower: tab ${data.tab} holds the stream`);
      Lab.setState(`connected through tab ${data.tab}`, true);
    } else if (data.type === "who" && role.startsWith("leader")) {
      channel.postMessage({ type: "leader", tab: tabId });
    }
  });

  if (navigator.locks) {
    setRole("follower");
    Lab.setState("waiting for the leader tab…");
    channel.postMessage({ type: "who" });
    // The callback's promise never settles: the lock is held as long as this tab lives.
    navigator.locks.request(NAME, () => {
      lead(true);
      return new Promise(() => {});
    });
  } else {
    // Web Locks exist only in secure contexts (https, or http on localhost/127.0.0.1): on a
    // classroom address over plain http, each tab keeps a stream of its own.
    lead(false);
  }

  async function send() {
    const box = $("message");
    const answer = await Lab.postJSON("send_notification", { message: box.value });
    $("send-result").textContent = answer.ok ? `published as id ${answer.data.id}` : `${answer.status}: ${answer.data.error}`;
    if (answer.ok) box.value = "";
  }

  $("send").addEventListener("click", send);
  $("message").addEventListener("keydown", (event) => { if (event.key === "Enter") send(); });

  window.sharedStream = { tabId, received, role: () => role, lastId: () => lastId };
})();
