// The frame every lab page shares.  Untrusted text is only ever inserted with
// textContent, never innerHTML, so a message containing markup shows as text.
"use strict";

const Lab = (() => {
  const body = document.body;
  const name = body.dataset.lab || "lab";
  const notebook = body.dataset.notebook || "";
  const WIRE_LINES = 300;  // keep the panel (and the page's memory) bounded

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function buildFrame() {
    const header = el("header", undefined, "lab-header");
    header.append(el("h1", name), el("span", notebook ? `notebook ${notebook}` : "", "notebook"));
    const state = el("span", "connecting…", "state");
    state.id = "lab-state";
    const clients = el("span", "", "clients");
    clients.id = "lab-clients";
    const served = el("span", "", "served");
    served.id = "lab-served";
    header.append(state, clients, served);
    body.prepend(header);
    const wire = el("section", undefined, "wire");
    wire.append(el("h2", "On the wire"));
    const pre = el("pre");
    pre.id = "wire";
    wire.append(pre);
    body.append(wire);
  }

  function setState(text, ok) {
    const node = document.getElementById("lab-state");
    node.textContent = text;
    node.className = "state " + (ok === true ? "ok" : ok === false ? "bad" : "");
  }

  // direction: "in" (server to page), "out" (page to server) or "note".
  function wire(direction, text) {
    const pre = document.getElementById("wire");
    const arrow = direction === "in" ? "⇐ " : direction === "out" ? "⇒ " : "· ";
    const line = el("div", arrow + text, direction);
    pre.append(line);
    while (pre.childNodes.length > WIRE_LINES) pre.firstChild.remove();
    pre.scrollTop = pre.scrollHeight;
  }

  function addItem(list, text, className) {
    const item = el("li", text, className);
    list.prepend(item);
    return item;
  }

  // Classroom mode: the instructor's publish token, kept for this tab only.
  function token() { return sessionStorage.getItem("labs-token") || ""; }
  function setToken(value) {
    sessionStorage.setItem("labs-token", value);
    // A page whose connection carries the token (the websockets chat) reconnects on this.
    document.dispatchEvent(new CustomEvent("lab-token"));
  }

  async function postJSON(url, payload) {
    const text = JSON.stringify(payload);
    const headers = { "Content-Type": "application/json" };
    if (token()) headers["Authorization"] = "Bearer " + token();
    wire("out", `POST ${url} ${text}`);
    const response = await fetch(url, { method: "POST", headers, body: text });
    const answer = await response.text();
    wire("in", `${response.status} ${answer.trim()}`);
    let data = null;
    try { data = JSON.parse(answer); } catch (e) { data = { error: answer }; }
    return { ok: response.ok, status: response.status, data };
  }

  // Show how many clients the lab has, from its GET /stats, if it has one.  Started by
  // the frame itself (so every page shows the class joining).  A page that counts
  // somewhere else (e.g. one channel's stats) calls it again with that URL: the new
  // poller replaces the old one, so two never fight over the same line.
  let clientsTimer = null;
  let clientsUrl = null;
  function watchClients(url = "stats", intervalMs = 2000) {
    if (clientsTimer !== null && url === clientsUrl) return clientsTimer;
    clearInterval(clientsTimer);
    clientsUrl = url;
    const node = document.getElementById("lab-clients");
    async function tick() {
      try {
        const response = await fetch(url);
        if (response.status === 404) { clearInterval(timer); return; }
        if (response.ok) {
          const stats = await response.json();
          if (clientsUrl !== url) return;
          // A cluster's node adds every node's count (through Redis): the whole class, not one node.
          if (stats.cluster && typeof stats.cluster.clients === "number") {
            const nodes = Object.keys(stats.cluster.nodes || {}).length;
            node.textContent = `${stats.cluster.clients} connected (${nodes} node${nodes === 1 ? "" : "s"})`;
            node.dataset.clients = String(stats.cluster.clients);
          } else if (typeof stats.clients === "number") {
            node.textContent = `${stats.clients} connected`;
            node.dataset.clients = String(stats.clients);
          }
        }
      } catch (e) { /* the lab may be restarting */ }
    }
    const timer = setInterval(tick, intervalMs);
    clientsTimer = timer;
    tick();
    return timer;
  }

  // Where the page is served from, in #lab-served: the path (direct, the relay, each nginx,
  // HTTP/2 or 1.1 from the browser, the HTTP version nginx speaks to the lab) and which node
  // and pid answered.  Its data-* attributes are for tests: data-path ("direct", "nginx",
  // "nginx nginx", "relay nginx"...), data-protocol (the browser's: "h2", "http/1.1"),
  // data-upstream (the version the lab saw), data-node, data-pid.  A page whose stream names
  // its node (a cluster's manual_sse) calls servedBy(): the node to kill for this window.
  const served = { path: [], protocol: "", upstream: "", node: "", pid: "", stream: false };
  function showServed() {
    const node = document.getElementById("lab-served");
    const route = served.path.length ? "via " + served.path.join(" → ") : "direct";
    const version = served.protocol === "h2" ? "HTTP/2" : served.protocol === "http/1.1" ? "HTTP/1.1" : served.protocol;
    const upstream = served.path.length && served.upstream ? `, ${served.upstream} to the lab` : "";
    const who = served.node ? `${served.node} pid ${served.pid}` : served.pid ? `pid ${served.pid}` : "";
    node.textContent = `${route} (${version || "?"}${upstream})` + (who ? ` · ${served.stream ? "stream on " : ""}${who}` : "");
    Object.assign(node.dataset, { path: served.path.join(" ") || "direct", protocol: served.protocol,
      upstream: served.upstream, node: served.node || "", pid: String(served.pid || "") });
  }
  function servedBy(info) {
    if (!info || !info.pid) return;
    Object.assign(served, { node: info.node || "", pid: info.pid, stream: true });
    showServed();
  }
  async function whereAmI() {
    const navigation = (performance.getEntriesByType("navigation") || [])[0];
    served.protocol = navigation ? navigation.nextHopProtocol : "";
    try {
      const response = await fetch("whereami");
      if (!response.ok) return;
      const info = await response.json();
      // Each nginx adds one X-Forwarded-For entry; nginx also signs the answer (Server).
      const nginxSigned = (response.headers.get("Server") || "").startsWith("nginx");
      const proxies = Math.max(info.proxies || 0, nginxSigned ? 1 : 0);
      served.path = [...(info.relay ? ["relay"] : []), ...Array(proxies).fill("nginx")];
      served.upstream = info.protocol || "";
      if (!served.stream) Object.assign(served, { node: info.node || "", pid: info.pid });
    } catch (e) { /* the lab may be restarting: say what is known */ }
    showServed();
  }

  // Classroom mode: if publishing needs the instructor's token, offer a box for it once;
  // it is kept in sessionStorage, so for this tab only.
  async function offerTokenBox() {
    try {
      const response = await fetch("classroom");
      if (!response.ok || !(await response.json()).publish_token_required) return;
    } catch (e) { return; }
    const header = document.querySelector(".lab-header");
    const box = el("input");
    box.type = "password";
    box.id = "lab-token";
    box.placeholder = token() ? "token saved for this tab" : "instructor token";
    box.style.width = "12rem";
    box.addEventListener("change", () => { setToken(box.value.trim()); box.value = ""; box.placeholder = "token saved for this tab"; });
    header.append(box);
  }

  buildFrame();
  offerTokenBox();
  watchClients();
  whereAmI();
  return { el, setState, wire, addItem, postJSON, token, setToken, watchClients, servedBy, name, notebook };
})();
