// The page on the other origin: the lab's URL comes from ?api=.  Each button is one cell
// of the CORS matrix; window.elsewhere lets tests run the same steps.
"use strict";

(() => {
  const api = new URLSearchParams(location.search).get("api") || "";
  const list = document.getElementById("messages");
  const outcome = document.getElementById("outcome");
  let token = "";
  document.getElementById("api").textContent = api || "(no ?api= given)";

  function say(text, ok) {
    outcome.textContent = text;
    outcome.className = ok ? "" : "error";
  }

  async function login(user = "alice", password = "wonderland") {
    const answer = await SecureListen.post(api, "login", { user, password });
    if (answer.ok) token = answer.body.access_token;
    say(answer.ok ? `logged in as ${answer.body.user}` : `login failed: ${answer.error || answer.body.error}`, answer.ok);
    return { ok: answer.ok, status: answer.status, error: answer.error, user: answer.ok ? answer.body.user : null };
  }

  function summary(stream) {
    say(stream.hello ? `${stream.how}: listening as ${stream.hello.user}` : `${stream.how}: ${stream.error}`, Boolean(stream.hello));
    return { how: stream.how, hello: stream.hello, error: stream.error, status: stream.status };
  }

  const elsewhere = {
    api,
    login,
    setToken: (value) => { token = value; },
    withCookie: async () => summary(await SecureListen.withCookie(api, list, true)),
    withTicket: async () => summary(await SecureListen.withTicket(api, token, list)),
    withBearer: async () => summary(await SecureListen.withBearer(api, token, list)),
    messages: () => SecureListen.streams.map((stream) => stream.messages),
  };
  window.elsewhere = elsewhere;
  document.getElementById("login").addEventListener("click", () => login());
  document.getElementById("listen-cookie").addEventListener("click", elsewhere.withCookie);
  document.getElementById("listen-ticket").addEventListener("click", elsewhere.withTicket);
  document.getElementById("listen-bearer").addEventListener("click", elsewhere.withBearer);
  Lab.setState(api ? "ready" : "no ?api=", Boolean(api));
})();
