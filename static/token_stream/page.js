// The token_stream page: POST a prompt with fetch(), read the event stream from
// response.body with the kit's decoder (static/common/fetch-stream.js), show each token
// as it comes, and abort to stop the server.  Tokens are text from the server: they are
// added with textContent only.
"use strict";

(() => {
  const promptBox = document.getElementById("prompt");
  const maxBox = document.getElementById("max-tokens");
  const endingBox = document.getElementById("line-ending");
  const answer = document.getElementById("answer");
  const result = document.getElementById("result");
  const generateButton = document.getElementById("generate");
  const stopButton = document.getElementById("stop");
  const chunksNode = document.getElementById("chunks");
  const splitNode = document.getElementById("split-chars");
  const statsNode = document.getElementById("server-stats");

  // What tests (and a curious student in the console) can read.
  const state = { runs: [], chunks: 0, splitChars: 0 };
  window.tokenStream = state;
  let controller = null;

  // Show a chunk's text with its line endings visible, so a CR and its LF in two
  // different chunks can be seen.
  function visible(text) {
    return text.replace(/\r/g, "\\r").replace(/\n/g, "\\n");
  }

  // A chunk that ends inside a UTF-8 character ends with the first bytes of a sequence.
  function endsInsideCharacter(bytes) {
    for (let back = 1; back <= Math.min(3, bytes.length); back++) {
      const byte = bytes[bytes.length - back];
      if ((byte & 0xc0) === 0x80) continue;        // a continuation byte: look further back
      const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
      return need > back;
    }
    return false;
  }

  function onChunk(bytes) {
    state.chunks += 1;
    chunksNode.textContent = String(state.chunks);
    if (endsInsideCharacter(bytes)) {
      state.splitChars += 1;
      splitNode.textContent = String(state.splitChars);
    }
    // fatal: false shows a cut character as U+FFFD here; the decoder itself keeps it whole.
    const text = new TextDecoder().decode(bytes);
    Lab.wire("in", `chunk of ${bytes.length} bytes: ${visible(text)}`);
  }

  async function generate() {
    const payload = { prompt: promptBox.value, max_tokens: Number(maxBox.value), line_ending: endingBox.value };
    controller = new AbortController();
    answer.textContent = "";
    answer.className = "answer";
    result.textContent = "generating…";
    result.className = "";
    generateButton.disabled = true;
    stopButton.disabled = false;
    Lab.wire("out", `POST generate ${JSON.stringify(payload)}`);
    const run = { payload, tokens: [], done: false, error: null, aborted: false, refused: null };
    state.runs.push(run);
    try {
      const outcome = await FetchStream.streamTokens("generate", payload, {
        signal: controller.signal,
        onChunk,
        onToken: (token) => { run.tokens.push(token); answer.append(document.createTextNode(token)); },
      });
      run.done = outcome.done;
      run.error = outcome.error;
      if (outcome.error) {
        result.textContent = `error in the stream: ${outcome.error.detail || outcome.error.error}`;
        result.className = "error";
      } else {
        result.textContent = outcome.done ? `[DONE] after ${run.tokens.length} tokens` : "the stream ended without [DONE]";
      }
      Lab.setState(outcome.done ? "done" : "ended early", outcome.done);
    } catch (error) {
      if (error.name === "AbortError") {
        run.aborted = true;
        result.textContent = `stopped after ${run.tokens.length} tokens; the server stops generating too`;
        Lab.wire("note", "fetch aborted: the connection is closed");
      } else if (error instanceof FetchStream.Refused) {
        run.refused = { status: error.status, body: error.body };
        result.textContent = `${error.status}: ${error.body.error || ""} ${error.body.detail || ""}`;
        result.className = "error";
        Lab.wire("in", `${error.status} ${JSON.stringify(error.body)}`);
      } else {
        result.textContent = `failed: ${error.message}`;
        result.className = "error";
      }
    } finally {
      generateButton.disabled = false;
      stopButton.disabled = true;
      controller = null;
    }
  }

  async function showStats() {
    try {
      const response = await fetch("stats");
      if (!response.ok) return;
      const stats = await response.json();
      statsNode.textContent = `generating ${stats.generating}, tokens_sent ${stats.tokens_sent}`;
    } catch (e) { /* the lab may be restarting */ }
  }

  generateButton.addEventListener("click", generate);
  stopButton.addEventListener("click", () => { if (controller) controller.abort(); });
  promptBox.addEventListener("keydown", (event) => { if (event.key === "Enter" && controller === null) generate(); });
  Lab.setState("ready", true);
  setInterval(showStats, 500);
  showStats();
})();
