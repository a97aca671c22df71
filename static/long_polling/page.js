// Long polling: ask "anything after N?", and the server answers only when there is
// something (or when its timeout passes).  Then ask again at once.
"use strict";

(() => {
  const { $, count } = Feed;
  const list = $("notifications");
  let cursor = 0;
  let running = true;
  let controller = null;  // aborts the held request when paused
  let failures = 0;
  let looping = false;    // one loop at a time, even if Pause/Resume is clicked quickly

  function holdSeconds() { return Number($("timeout").value); }

  // One request; returns false on failure so the loop can back off.
  async function poll() {
    const url = `updates?since=${cursor}&timeout=${holdSeconds()}&client=${Feed.clientId}`;
    Lab.wire("out", `GET ${url}`);
    count("requests");
    Lab.setState("waiting: the server holds the request…", true);
    controller = new AbortController();
    let response, text;
    try {
      response = await fetch(url, { cache: "no-store", signal: controller.signal });
      text = await response.text();
    } catch (error) {
      if (error.name === "AbortError") { Lab.wire("note", "request abandoned (paused)"); return true; }
      Lab.setState("server unreachable", false);
      Lab.wire("note", `request failed: ${error.message}`);
      return false;
    } finally {
      controller = null;
    }
    const bytes = Feed.bodyBytes(text);
    count("bytes", bytes);
    let data = null;
    try { data = JSON.parse(text); } catch (e) { /* shown below as it came */ }
    Lab.wire("in", `${response.status} (${bytes} bytes) ${Feed.short(text)}`);
    if (!response.ok || data === null) return false;
    if (data.gap) Feed.gap(list, data.gap);
    for (const record of data.messages) Feed.show(list, record);
    if (data.messages.length === 0) count("empty");
    cursor = data.cursor;
    $("cursor").textContent = String(cursor);
    return true;
  }

  // Ask again at once after an answer: the gap between two requests is the only time a
  // message can wait, and the cursor makes sure it is picked up by the next request.
  // After a failure wait 1, 2, 4 ... up to 15 s, so a stopped server is not hammered.
  async function loop() {
    looping = true;
    while (running) {
      if (await poll()) {
        failures = 0;
      } else {
        failures += 1;
        const pause = Math.min(15, 2 ** (failures - 1));
        Lab.wire("note", `trying again in ${pause} s`);
        await new Promise((resolve) => setTimeout(resolve, pause * 1000));
      }
    }
    looping = false;
    Lab.setState("paused", null);
  }

  $("toggle").addEventListener("click", () => {
    running = !running;
    $("toggle").textContent = running ? "Pause" : "Resume";
    if (running) { if (!looping) loop(); }
    else if (controller !== null) controller.abort();
  });

  Feed.wirePublishForm();
  Lab.watchClients();
  loop();
})();
