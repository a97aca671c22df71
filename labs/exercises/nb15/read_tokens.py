"""Exercise 15.1: ``readTokens(response, onToken)`` in JavaScript, the loop that reads a token
stream with ``fetch``: run in headless Chromium on streams cut inside UTF-8 characters, between CR
and LF, one byte at a time, held open after ``[DONE]`` or ended without it."""

from __future__ import annotations

import json
import random
import re

from labs.exercises import Answer, exercise
from labs.exercises.nb15.tokens import random_tokens
from labs.exercises.support import browser_for_check, cut_at, hard_cuts


def _is_the_stub(source: str) -> bool:
    """True for the shipped cell's JavaScript (comments and spacing aside): the stub, untouched."""
    code = re.sub(r"//[^\n]*|/\*.*?\*/|\s+", "", source, flags=re.S)
    return code == 'asyncfunctionreadTokens(response,onToken){thrownewError("notimplemented");}'


def _token_stream(tokens: list[str], ending: str, done: bool, rng: random.Random) -> bytes:
    """A token stream; some events spread their JSON over two ``data:`` lines, as some servers write it."""
    blocks = [": connected"]
    two_lines = {rng.randrange(len(tokens))} | {i for i in range(len(tokens)) if rng.random() < 0.3}
    for index, token in enumerate(tokens):
        if rng.random() < 0.3:
            blocks.append(": keep-alive")
        text = json.dumps({"index": index, "token": token}, ensure_ascii=False)
        if index in two_lines:  # a reader that joins the data lines with a line break gets the same JSON
            text = text.replace(", ", ",\n", 1)
        blocks.append(ending.join("data: " + line for line in text.split("\n")))
    if done:
        blocks.append("data: [DONE]")
    return "".join(block + ending * 2 for block in blocks).encode("utf-8")


def _chunks(raw: bytes, points: list[int]) -> list[list[int]]:
    """``raw`` cut at ``points``, each chunk as a list of byte values (what the page turns into a Uint8Array)."""
    return [list(chunk) for chunk in cut_at(raw, points)]


def _hard_chunks(raw: bytes, rng: random.Random) -> list[list[int]]:
    return _chunks(raw, hard_cuts(raw, rng))


# The harness: a Response whose body delivers exactly these chunks (and, if `hold`, never
# ends), handed to the student's readTokens.
_HARNESS = """async ([chunks, hold]) => {
  if (typeof readTokens !== "function") return {missing: true};
  const body = new ReadableStream({start(controller) {
    for (const chunk of chunks) controller.enqueue(new Uint8Array(chunk));
    if (!hold) controller.close();
  }});
  const response = new Response(body, {headers: {"Content-Type": "text/event-stream"}});
  const tokens = [];
  const timeout = new Promise((resolve) => setTimeout(() => resolve("timeout"), 3000));
  try {
    const done = await Promise.race([readTokens(response, (token) => { tokens.push(token); }), timeout]);
    return {tokens, done};
  } catch (error) {
    return {tokens, error: String(error && error.message || error)};
  }
}"""


def _judge_js_run(seen: dict, tokens: list[str], done: bool, how: str) -> None:
    if seen.get("error") == "not implemented":
        raise NotImplementedError
    if seen.get("error"):
        why = (" (an event's data may come in several `data:` lines, to be joined with a line break, and a chunk "
               "may end anywhere)" if "JSON" in seen["error"] else "")
        raise AssertionError(f"readTokens threw on {how}: {seen['error']}{why}")
    if seen["done"] == "timeout":
        extra = " (it must stop at [DONE]: the server may keep the connection open)" if done else ""
        raise AssertionError(f"readTokens did not finish within 3 s on {how}{extra}; it delivered "
                             f"{len(seen['tokens'])} of {len(tokens)} tokens")
    if seen["tokens"] != tokens:
        got = seen["tokens"]
        pairs = enumerate(zip(got, tokens, strict=False))
        first = next((i for i, (a, b) in pairs if a != b), min(len(got), len(tokens)))
        raise AssertionError(f"on {how}, the tokens differ from token {first} on: expected "
                             f"{tokens[first:first + 3]!r}, got {got[first:first + 3]!r} ({len(got)} tokens "
                             f"instead of {len(tokens)})")
    if seen["done"] is not done:
        raise AssertionError(f"on {how}, readTokens resolved with {seen['done']!r}; it should resolve with "
                             f"{str(done).lower()} ({'[DONE] came' if done else 'the stream ended without [DONE]'})")


def _js_cases(rng: random.Random) -> list[tuple[str, list[list[int]], bool, list[str], bool]]:
    """(what, chunks, hold the body open, expected tokens, expected done)."""
    cases = []
    tokens = random_tokens(rng, rng.randint(6, 10))
    lf = _token_stream(tokens, "\n", True, rng)
    cases.append(("a stream in one chunk", _chunks(lf, []), False, tokens, True))
    cases.append(("a stream delivered one byte at a time", _chunks(lf, list(range(1, len(lf)))), False, tokens, True))
    crlf_tokens = random_tokens(rng, rng.randint(6, 10))
    crlf = _token_stream(crlf_tokens, "\r\n", True, rng)
    cases.append(("a CRLF stream cut inside UTF-8 characters and between CR and LF", _hard_chunks(crlf, rng),
                  False, crlf_tokens, True))
    cr_tokens = random_tokens(rng, rng.randint(6, 10))
    cr = _token_stream(cr_tokens, "\r", True, rng)
    cases.append(("a stream whose lines end in a bare CR (\\r), cut after every CR and at random places",
                  _hard_chunks(cr, rng), False, cr_tokens, True))
    for ending in rng.sample(["\n", "\r\n", "\r"], 3):
        raw = _token_stream(tokens, ending, True, rng)
        cases.append(("a stream cut at random places", _hard_chunks(raw, rng), False, tokens, True))
    held = _token_stream(tokens, "\n", True, rng) + b"data: " + json.dumps({"token": "after DONE"}).encode() + b"\n\n"
    cases.append(("a stream whose connection stays open after [DONE]", _hard_chunks(held, rng), True,
                  tokens, True))
    short = tokens[:rng.randint(2, 4)]
    cut_short = _token_stream(short, rng.choice(["\n", "\r\n", "\r"]), False, rng)
    cases.append(("a stream that ends without [DONE]", _hard_chunks(cut_short, rng), False, short,
                  False))
    return cases


@exercise("15.1", hints=[
    "Read response.body with getReader() in a loop; each read() gives a Uint8Array of whatever arrived. Nothing "
    "says a chunk ends where an event ends: keep what is unfinished for the next read.",
    "Decode bytes with one TextDecoder and {stream: true} (it keeps half a character for later); keep a text "
    "buffer, and only handle lines that are complete. A line may end in \\r\\n, whose \\r and \\n can arrive "
    "in two reads.",
    "Per line: skip comments (':'), collect what follows 'data:' (one optional space). At a blank line the event "
    "is complete: join its data lines with '\\n'; '[DONE]' resolves true (stop reading), anything else is JSON "
    "whose .token goes to onToken.",
])
def check_15_1(answer: Answer) -> None:
    source = answer.value("READ_TOKENS_JS")
    assert isinstance(source, str), f"READ_TOKENS_JS should be JavaScript source, a str; it is {type(source).__name__}"
    if _is_the_stub(source):
        raise NotImplementedError  # untouched: "not started", with a browser or without
    rng = random.Random()
    with browser_for_check("your JavaScript") as browser:
        from playwright.sync_api import Error as PlaywrightError

        tab = browser.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.set_content("<!doctype html><title>exercise 15.1</title>")
        try:
            tab.add_script_tag(content=source + "\ntry { window.readTokens = readTokens; } catch (e) {}")
        except PlaywrightError as exc:
            raise AssertionError(f"your JavaScript does not load: {str(exc).splitlines()[0]}") from None
        for how, chunks, hold, tokens, done in _js_cases(rng):
            seen = tab.evaluate(_HARNESS, [chunks, hold])
            if seen.get("missing"):
                loaded = f" (it did not load: {errors[0]})" if errors else ""
                raise AssertionError("READ_TOKENS_JS should define a function readTokens(response, onToken)"
                                     + loaded)
            _judge_js_run(seen, tokens, done, how)

