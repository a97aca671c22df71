# Other answers to the exercises of notebook 11, judged by tests/test_exercise_checks*.py.
# "correct" sections must be solved, "wrong" sections must not.

# %% Exercise 11.1 correct: the same numbers, in another order, with comments of one's own
C_SECOND_TAB = 2  # 6 - 3 (first tab) - 1 (my own stream)
B_HTTP2_MAX_3 = 2  # 3 streams at once, minus the page's own
A_PLAIN_HTTP = 5  # six connections, one is the page's

# %% Exercise 11.1 wrong: forgot that the page's own stream holds a connection (and a stream)
A_PLAIN_HTTP = 6
B_HTTP2_MAX_3 = 3
C_SECOND_TAB = 2

# %% Exercise 11.1 wrong: the limit taken to be per tab
A_PLAIN_HTTP = 5
B_HTTP2_MAX_3 = 2
C_SECOND_TAB = 4

# %% Exercise 11.1 wrong: HTTP/2 taken to have no limit at all
A_PLAIN_HTTP = 5
B_HTTP2_MAX_3 = 9
C_SECOND_TAB = 2

# %% Exercise 11.1 wrong: computed, not predicted
A_PLAIN_HTTP = 6 - 1
B_HTTP2_MAX_3 = 2
C_SECOND_TAB = 2

# %% Exercise 11.1 wrong: only one of three predicted
A_PLAIN_HTTP = 5
B_HTTP2_MAX_3 = NotImplemented
C_SECOND_TAB = NotImplemented

# %% Exercise 11.2 correct: a SharedWorker holds the one EventSource and every tab's port
SHARED_JS = r"""
const list = document.getElementById("messages");
const worker = new SharedWorker("shared-worker.js");
worker.port.onmessage = (event) => {
  const item = document.createElement("li");
  item.textContent = JSON.parse(event.data).message;
  list.append(item);
};
"""
WORKER_JS = r"""
// One worker for every tab of the origin; it lives while any tab is connected.
const ports = [];
const source = new EventSource("stream");  // relative to the worker's URL: /stream
source.addEventListener("notify", (event) => {
  for (const port of ports) port.postMessage(event.data);
});
onconnect = (event) => { ports.push(event.ports[0]); };
"""

# %% Exercise 11.2 correct: newest first, a lock held with an async function, no resume from an id
SHARED_JS = r"""
const channel = new BroadcastChannel("news");
function add(data) {
  const li = document.createElement("li");
  li.append(document.createTextNode(JSON.parse(data).message));
  document.querySelector("#messages").prepend(li);
}
channel.onmessage = (e) => add(e.data);
navigator.locks.request("news-leader", async () => {
  const es = new EventSource("stream");
  es.addEventListener("notify", (e) => { add(e.data); channel.postMessage(e.data); });
  await new Promise(() => {});
});
"""

# %% Exercise 11.2 wrong: every tab opens a stream of its own (the HTTP/1.1 limit again)
SHARED_JS = r"""
const source = new EventSource("stream");
source.addEventListener("notify", (event) => {
  const item = document.createElement("li");
  item.textContent = JSON.parse(event.data).message;
  document.getElementById("messages").append(item);
});
"""

# %% Exercise 11.2 wrong: the lock is released as soon as the callback returns, so every tab leads in turn
SHARED_JS = r"""
const channel = new BroadcastChannel("c");
function add(data) {
  const li = document.createElement("li");
  li.textContent = JSON.parse(data).message;
  document.getElementById("messages").append(li);
}
channel.onmessage = (e) => add(e.data);
navigator.locks.request("leader", () => {
  const es = new EventSource("stream");
  es.addEventListener("notify", (e) => { add(e.data); channel.postMessage(e.data); });
});
"""

# %% Exercise 11.2 wrong: a leader chosen once in localStorage never hands over when it closes
SHARED_JS = r"""
const channel = new BroadcastChannel("c");
function add(data) {
  const li = document.createElement("li");
  li.textContent = JSON.parse(data).message;
  document.getElementById("messages").append(li);
}
channel.onmessage = (e) => add(e.data);
if (!localStorage.getItem("leader")) {
  localStorage.setItem("leader", "taken");
  const es = new EventSource("stream");
  es.addEventListener("notify", (e) => { add(e.data); channel.postMessage(e.data); });
}
"""

# %% Exercise 11.2 wrong: the leader passes events on but does not show them itself
SHARED_JS = r"""
const channel = new BroadcastChannel("c");
channel.onmessage = (e) => {
  const li = document.createElement("li");
  li.textContent = JSON.parse(e.data).message;
  document.getElementById("messages").append(li);
};
navigator.locks.request("leader", () => {
  const es = new EventSource("stream");
  es.addEventListener("notify", (e) => channel.postMessage(e.data));
  return new Promise(() => {});
});
"""
