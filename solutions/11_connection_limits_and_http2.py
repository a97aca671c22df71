# Reference answers for notebook 11.  Each section replaces the exercise cell's code.

# %% Exercise 11.1
# A: 6 connections for the origin; the page's own stream holds one, so 5 of the 9 open.
A_PLAIN_HTTP = 5
# B: one HTTP/2 connection carrying at most 3 streams at once; the page's own is one of them.
B_HTTP2_MAX_3 = 2
# C: the first tab holds 3 connections (its own stream and 2 more); the second tab's own
#    stream takes a 4th; 2 are left for its 4 streams.
C_SECOND_TAB = 2

# %% Exercise 11.2
SHARED_JS = r"""
// One tab (the holder of a Web Lock) has the EventSource; it passes every event to the
// other tabs on a BroadcastChannel.  When it closes, the browser gives the lock to the
// next tab, which opens the stream again from the last id it saw.
const NAME = "exercise-11-2";
const list = document.getElementById("messages");
const channel = new BroadcastChannel(NAME);
const seen = new Set();  // a new leader's replay may repeat an event or two
let lastId = null;

function show(event) {
  if (seen.has(event.id)) return;
  seen.add(event.id);
  lastId = event.id;
  const item = document.createElement("li");
  item.textContent = JSON.parse(event.data).message;  // text, never HTML
  list.append(item);
}

channel.addEventListener("message", (message) => show(message.data));

navigator.locks.request(NAME, () => {
  const url = lastId === null ? "stream" : "stream?lastEventId=" + encodeURIComponent(lastId);
  const source = new EventSource(url);
  source.addEventListener("notify", (message) => {
    const event = { id: message.lastEventId, data: message.data };
    channel.postMessage(event);  // to every other tab: a channel does not hear itself
    show(event);                 // so this tab shows it too
  });
  return new Promise(() => {});  // never settles: the lock is ours while this tab lives
});
"""
WORKER_JS = ""
