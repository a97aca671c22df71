// What the polling and long-polling pages share: a client id, the counters, and how a
// notification (or a gap in them) is shown.  Message text is untrusted: it only ever goes in textContent.
"use strict";

const Feed = (() => {
  const $ = (id) => document.getElementById(id);

  // A per-tab id so the lab's /stats can count distinct pollers.  crypto.randomUUID
  // exists only in secure contexts (https, localhost); a classroom LAN address over
  // plain http is not one, hence the fallback.
  const clientId = (window.crypto && crypto.randomUUID)
    ? crypto.randomUUID().replaceAll("-", "")
    : Math.random().toString(36).slice(2) + Date.now().toString(36);

  const counts = {};
  function count(name, amount = 1) {
    counts[name] = (counts[name] || 0) + amount;
    const node = $("count-" + name);
    if (node) node.textContent = String(counts[name]);
  }

  // UTF-8 bytes of a body: what actually crossed the wire (headers not counted).
  const encoder = new TextEncoder();
  function bodyBytes(text) { return encoder.encode(text).length; }

  // One notification: its text, and how long after publishing it reached this page
  // (both clocks are this machine's in the labs, so the difference is meaningful).
  function show(list, record) {
    const item = Lab.addItem(list, record.message);
    item.dataset.id = String(record.id);
    if (typeof record.time === "number") {
      const delay = Math.max(0, Date.now() / 1000 - record.time);
      item.append(Lab.el("small", `  #${record.id}, ${delay.toFixed(2)} s after publishing`, "delay"));
    }
    count("messages");
    return item;
  }

  // The answer could not be complete ("gap" in it): messages fell out of the server's
  // history before this page asked for them, or our cursor was ahead of the log because
  // the server restarted and its ids started again.  Say so rather than skip it.
  function gap(list, info) {
    const known = typeof info.missed === "number";
    const what = known ? `${info.missed} older message(s)` : "some messages";
    const why = info.reason === "ids restarted"
      ? "the server restarted and its ids started again; here is what it has now"
      : "they fell out of the server's history before this page asked for them";
    Lab.addItem(list, `⚠ ${what} could not be shown: ${why}`, "error");
    if (known) count("missed", info.missed);
  }

  function short(text, limit = 240) {
    const flat = text.trim().replace(/\s+/g, " ");
    return flat.length > limit ? flat.slice(0, limit) + "…" : flat;
  }

  // The publish form is the same on both pages.
  function wirePublishForm() {
    const form = $("send-form"), input = $("message"), result = $("send-result");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const reply = await Lab.postJSON("send_notification", { message: input.value });
      result.textContent = reply.ok ? `published as #${reply.data.id}` : `${reply.status}: ${reply.data.error || ""}`;
      result.className = reply.ok ? "" : "error";
      if (reply.ok) input.value = "";
    });
  }

  for (const node of document.querySelectorAll("[id^=count-]")) node.textContent = "0";
  return { $, clientId, count, counts, bodyBytes, show, gap, short, wirePublishForm };
})();
