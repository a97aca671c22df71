// The secure_stream page on the lab's own origin: log in, open your stream three ways
// (see listen.js), send a message to one user.  Same origin: EventSource sends the
// session cookie by itself, no CORS involved.
"use strict";

(() => {
  const TOKEN_KEY = "secure-stream-token";
  const list = document.getElementById("messages");
  const who = document.getElementById("who");
  const listening = document.getElementById("listening");
  const passwords = { alice: "wonderland", bob: "builder" };
  const userBox = document.getElementById("user");
  const passwordBox = document.getElementById("password");
  userBox.addEventListener("change", () => { passwordBox.value = passwords[userBox.value] || ""; });

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

  async function login() {
    const answer = await SecureListen.post("", "login", { user: userBox.value, password: passwordBox.value });
    if (answer.ok) {
      sessionStorage.setItem(TOKEN_KEY, answer.body.access_token);
      who.textContent = `logged in as ${answer.body.user}`;
      Lab.setState(`logged in as ${answer.body.user}`, true);
    } else {
      who.textContent = `${answer.status}: ${answer.body ? answer.body.error : answer.error}`;
      Lab.setState("not logged in", false);
    }
  }

  async function logout() {
    SecureListen.closeAll();
    await SecureListen.post("", "logout", {}, token());
    sessionStorage.removeItem(TOKEN_KEY);
    who.textContent = "not logged in";
    Lab.setState("not logged in", false);
  }

  async function listen(how) {
    SecureListen.closeAll();
    listening.textContent = `opening (${how})…`;
    const open = { cookie: () => SecureListen.withCookie("", list), ticket: () => SecureListen.withTicket("", token(), list),
                   bearer: () => SecureListen.withBearer("", token(), list) }[how];
    const stream = await open();
    listening.textContent = stream.hello ? `listening as ${stream.hello.user}, via ${stream.hello.via}` : stream.error;
    listening.className = stream.hello ? "" : "error";
  }

  async function send() {
    const box = document.getElementById("message");
    const to = document.getElementById("to").value;
    const answer = await SecureListen.post("", "send", { to, message: box.value }, token());
    document.getElementById("sent").textContent = answer.ok
      ? `sent to ${to} (${answer.body.streams} open stream(s))` : `${answer.status}: ${answer.body ? answer.body.error : answer.error}`;
    if (answer.ok) box.value = "";
  }

  document.getElementById("login").addEventListener("click", login);
  document.getElementById("logout").addEventListener("click", logout);
  document.getElementById("listen-cookie").addEventListener("click", () => listen("cookie"));
  document.getElementById("listen-ticket").addEventListener("click", () => listen("ticket"));
  document.getElementById("listen-bearer").addEventListener("click", () => listen("bearer"));
  document.getElementById("stop").addEventListener("click", () => { SecureListen.closeAll(); listening.textContent = "closed"; });
  document.getElementById("send").addEventListener("click", send);
  window.securePage = { token, login, listen, send };
  Lab.setState("not logged in", false);
})();
