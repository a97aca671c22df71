// The websockets lab page: a chat with rooms and the shared notifications, over one
// Socket.IO connection that uses the WebSocket transport only.
// Everything a user typed (ours or anyone's) is inserted with textContent, never innerHTML.
"use strict";

const $ = (id) => document.getElementById(id);
const chatList = $("chat");
const noticeList = $("notifications");
const joined = new Set();  // rooms this page wants to be in; re-joined after a reconnect
const ACK_TIMEOUT_MS = 5000;

$("name").value = "guest-" + Math.random().toString(36).slice(2, 6);

// WebSocket only: no long-polling start, so the page works with several server processes
// without sticky sessions (and the wire panel shows WebSocket frames from the start).
// The path is computed relative to this page, so the lab also works under a URL prefix.
const labSocket = io({
  path: new URL("socket.io/", document.baseURI).pathname,
  transports: ["websocket"],
  // Classroom mode: the instructor's token (kept for this tab by the frame) lets this
  // page broadcast in the chat; without it the page can still read everything.
  auth: (send) => send({ token: Lab.token() }),
});

// Socket.IO sends the auth payload only when it connects: a token typed into the frame's
// box after that needs a new connection to count (the rooms are joined again on connect).
document.addEventListener("lab-token", () => {
  Lab.wire("note", "token entered: reconnecting so the server sees it");
  labSocket.disconnect().connect();
});

// Engine.IO packet types, as their digit appears at the start of every frame.
const ENGINE_TYPES = { open: 0, close: 1, ping: 2, pong: 3, message: 4, upgrade: 5, noop: 6 };

function frameText(packet) {
  const data = typeof packet.data === "string" ? packet.data
    : packet.data === undefined ? "" : `<${packet.data.byteLength || 0} binary bytes>`;
  return `${ENGINE_TYPES[packet.type] ?? packet.type}${data}`;
}

// Show the frames themselves: "42[...]" is Engine.IO message (4) + Socket.IO event (2),
// "43..." an acknowledgement, "2"/"3" the heartbeat ping/pong.
labSocket.io.on("open", () => {
  const engine = labSocket.io.engine;
  // The Engine.IO "open" packet (0{...}) was handled before this event fired: say so.
  Lab.wire("note", `WebSocket open (HTTP 101, then Engine.IO open packet 0, session ${engine.id})`);
  engine.on("packetCreate", (packet) => Lab.wire("out", frameText(packet)));
  engine.on("packet", (packet) => Lab.wire("in", frameText(packet)));
});

labSocket.on("connect", () => {
  const transport = labSocket.io.engine.transport.name;
  document.body.dataset.transport = transport;
  Lab.setState(`connected (${transport})`, true);
  Lab.wire("note", `connected over ${transport}, sid ${labSocket.id}`);
  // The server forgets a socket's rooms when the socket ends; join them again.
  if (joined.size === 0) joined.add($("room").value.trim() || "lobby");
  for (const room of joined) join(room);
});

labSocket.on("disconnect", (reason) => {
  Lab.setState("disconnected: " + reason, false);
  // Messages sent while we are away are not replayed (there is no Last-Event-ID here).
  Lab.wire("note", `disconnected (${reason}); anything sent meanwhile is lost to this page`);
});

labSocket.on("connect_error", (err) => {
  Lab.setState("cannot connect", false);
  Lab.wire("note", "connect error: " + err.message);
});

labSocket.on("chat", (msg) => {
  Lab.addItem(chatList, `[${msg.room}] ${msg.name}: ${msg.text}`, "chat-message");
});

labSocket.on("notify", (msg) => {
  Lab.addItem(noticeList, msg.message, "notification");
});

// The server's verdict on something this page sent (only we receive it).
labSocket.on("error", (err) => {
  Lab.addItem(chatList, `refused: ${err.error}${err.detail ? " (" + err.detail + ")" : ""}`, "error");
});

function showRooms() {
  $("rooms").textContent = joined.size ? [...joined].sort().join(", ") : "none";
  $("target-room").textContent = $("room").value.trim() || "lobby";
}

async function request(event, payload) {
  try {
    return await labSocket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
  } catch (e) {
    return { ok: false, error: "no acknowledgement", detail: "the server did not answer in time" };
  }
}

async function join(room) {
  const ack = await request("join", { room });
  if (ack.ok) joined.add(ack.room);
  showRooms();
}

$("room-form").addEventListener("submit", (event) => {
  event.preventDefault();
  join($("room").value);
});

$("leave").addEventListener("click", async () => {
  const ack = await request("leave", { room: $("room").value });
  if (ack.ok) joined.delete(ack.room);
  showRooms();
});

$("room").addEventListener("input", showRooms);

$("chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("text");
  const ack = await request("chat", {
    room: $("room").value.trim() || "lobby",
    name: $("name").value.trim() || undefined,  // undefined is left out: the server says "anonymous"
    text: input.value,
  });
  // The message itself comes back as a `chat` event, like everyone else's; the ack only
  // tells us the server took it.
  if (ack.ok) input.value = "";
});

$("notify-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("notice");
  const answer = await Lab.postJSON("send_notification", { message: input.value });
  if (answer.ok) input.value = "";
  else Lab.addItem(noticeList, `refused: ${answer.data.error}`, "error");
});

showRooms();
Lab.watchClients();
