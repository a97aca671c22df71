// The webhooks lab page: deliveries arriving at the receivers and the notifications
// they produce, both read from one EventSource.  Everything shown comes from outside
// (a delivery's id and event are whatever the sender put in its headers), so it is
// inserted with textContent only, through Lab.el / Lab.addItem.
"use strict";

(() => {
  const MAX_ITEMS = 100;  // keep the lists (and the page's memory) bounded
  const notifications = document.getElementById("notifications");
  const deliveryList = document.getElementById("deliveries");
  // Deliveries by their log number: the history fetched at start and the live stream
  // may overlap, and either may arrive first; keyed by n, each is shown once, in order.
  const deliveries = new Map();

  document.getElementById("command").textContent =
    `python -m labs send-webhook --url ${location.origin}`;

  function describe(d) {
    const parts = [`${d.scheme}`, d.event ? `${d.event}` : "", d.id ? `id ${d.id}` : "no id",
                   `→ ${d.status}`];
    if (d.reason) parts.push(`(${d.reason})`);
    if (d.message) parts.push(`“${d.message}”`);
    return parts.filter(Boolean).join(" ");
  }

  function renderDeliveries() {
    const newestFirst = [...deliveries.values()].sort((a, b) => b.n - a.n).slice(0, MAX_ITEMS);
    const items = newestFirst.map((d) => {
      const item = Lab.el("li", undefined, String(d.outcome));
      item.dataset.outcome = String(d.outcome);
      item.append(Lab.el("span", String(d.outcome), "outcome"), Lab.el("span", describe(d)));
      return item;
    });
    deliveryList.replaceChildren(...items);
    // Forget what is no longer shown.
    for (const n of [...deliveries.keys()]) {
      if (!newestFirst.some((d) => d.n === n)) deliveries.delete(n);
    }
  }

  function addDelivery(d) {
    if (!d || typeof d.n !== "number" || deliveries.has(d.n)) return;
    deliveries.set(d.n, d);
    renderDeliveries();
  }

  function parse(data) {
    try { return JSON.parse(data); } catch (e) { return null; }
  }

  const source = new EventSource("stream");
  let watching = false;
  source.onopen = () => {
    Lab.setState("connected", true);
    Lab.wire("note", "EventSource open: GET stream");
    // Start counting once our own stream is open, so the first count includes this tab.
    if (!watching) { watching = true; Lab.watchClients(); }
  };
  source.onerror = () => {
    // EventSource reconnects on its own; just say so.
    Lab.setState(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting…", false);
  };
  source.addEventListener("notify", (event) => {
    Lab.wire("in", `event: notify  data: ${event.data}`);
    const data = parse(event.data);
    if (!data || typeof data.message !== "string") return;
    Lab.addItem(notifications, data.message);
    while (notifications.childNodes.length > MAX_ITEMS) notifications.lastChild.remove();
  });
  source.addEventListener("delivery", (event) => {
    Lab.wire("in", `event: delivery  data: ${event.data}`);
    addDelivery(parse(event.data));
  });

  // The history: deliveries that came before this page opened.
  fetch("deliveries")
    .then((response) => response.json())
    .then((body) => (body.deliveries || []).forEach(addDelivery))
    .catch(() => Lab.wire("note", "could not load the delivery log"));

  document.getElementById("send-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("message");
    const result = document.getElementById("send-result");
    const answer = await Lab.postJSON("send_notification", { message: input.value });
    result.textContent = answer.ok ? "published" : `${answer.status}: ${answer.data.error || ""}`;
    result.className = answer.ok ? "muted" : "error";
    if (answer.ok) input.value = "";
  });
})();
