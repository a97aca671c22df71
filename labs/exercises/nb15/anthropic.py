"""Exercise 15.3: ``read_message(chunks)``, a client for Anthropic's Messages stream: handed streams
of the check's making, cut anywhere, with pings, event types nobody has seen, a thinking block, an
``event: error`` in the middle, or a connection that drops before ``message_stop``."""

from __future__ import annotations

import json
import random
import secrets

from labs.exercises import Answer, exercise
from labs.exercises.nb15.tokens import WORDS, random_tokens
from labs.exercises.support import cut_at, hard_cuts

_MODELS = ["claude-anything", "claude-test", "a-model"]
_NEW_EVENTS = ["message_annotation", "content_block_citation", "server_notice", "usage_update"]


def _anthropic_event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class _Stream:
    """One Anthropic Messages stream as the check writes it, and what a good reader makes of it."""

    def __init__(self, rng: random.Random, *, thinking: bool, extras: bool) -> None:
        self.rng, self.extras, self.blocks, self.thinking_text = rng, extras, [], ""
        self.text, self.index, self.deltas = "", 0, 0
        self.input_tokens = rng.randint(5, 900)
        self.message_id = "msg_01" + secrets.token_hex(10)
        self.add("message_start", {"type": "message_start", "message": {
            "id": self.message_id, "type": "message", "role": "assistant", "model": rng.choice(_MODELS),
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": 1}}})
        self.add("ping", {"type": "ping"})
        if thinking:
            self.thinking_block()

    def add(self, name: str, data: dict) -> None:
        self.blocks.append(_anthropic_event(name, data))
        if self.extras and self.rng.random() < 0.25:
            self.blocks.append(_anthropic_event("ping", {"type": "ping"}))
        if self.extras and self.rng.random() < 0.12:
            kind = self.rng.choice(_NEW_EVENTS)
            self.blocks.append(_anthropic_event(kind, {"type": kind, "note": self.rng.choice(WORDS)}))

    def thinking_block(self) -> None:
        self.add("content_block_start", {"type": "content_block_start", "index": self.index,
                                         "content_block": {"type": "thinking", "thinking": "", "signature": ""}})
        for token in random_tokens(self.rng, self.rng.randint(2, 5)):
            self.thinking_text += token
            self.add("content_block_delta", {"type": "content_block_delta", "index": self.index,
                                             "delta": {"type": "thinking_delta", "thinking": token}})
            self.deltas += 1
        self.add("content_block_delta", {"type": "content_block_delta", "index": self.index,
                                         "delta": {"type": "signature_delta", "signature": secrets.token_hex(16)}})
        self.add("content_block_stop", {"type": "content_block_stop", "index": self.index})
        self.index += 1

    def text_block(self, count: int, close: bool = True) -> None:
        self.add("content_block_start", {"type": "content_block_start", "index": self.index,
                                         "content_block": {"type": "text", "text": ""}})
        for token in random_tokens(self.rng, count):
            self.text += token
            self.add("content_block_delta", {"type": "content_block_delta", "index": self.index,
                                             "delta": {"type": "text_delta", "text": token}})
            self.deltas += 1
        if close:
            self.add("content_block_stop", {"type": "content_block_stop", "index": self.index})
            self.index += 1

    def finish(self, stop_reason: str) -> dict:
        output_tokens = self.deltas + self.rng.randint(0, 3)
        self.add("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason,
                                                                      "stop_sequence": None},
                                   "usage": {"output_tokens": output_tokens}})
        self.blocks.append(_anthropic_event("message_stop", {"type": "message_stop"}))
        return {"text": self.text, "stop_reason": stop_reason, "output_tokens": output_tokens, "error": None}

    def fail(self) -> dict:
        error = {"type": self.rng.choice(["overloaded_error", "api_error"]),
                 "message": self.rng.choice(["Overloaded", "Internal server error"]) + f" ({secrets.token_hex(3)})"}
        self.blocks.append(_anthropic_event("error", {"type": "error", "error": error}))
        return {"text": self.text, "error": error}

    def chunks(self, ending: str) -> list[bytes]:
        raw = "".join(self.blocks).replace("\n", ending).encode("utf-8")
        return cut_at(raw, hard_cuts(raw, self.rng))


def _anthropic_cases(rng: random.Random) -> list[tuple[str, list[bytes], dict]]:
    """(what the stream is, its chunks, what read_message should return, or part of it)."""
    cases = []
    plain = _Stream(rng, thinking=False, extras=False)
    plain.text_block(rng.randint(3, 6))
    cases.append(("a short answer with a ping", plain.finish("end_turn"), plain))
    extras = _Stream(rng, thinking=False, extras=True)
    extras.text_block(rng.randint(6, 10))
    cases.append(("an answer with pings and event types added after your client was written (Anthropic may add "
                  "new ones: a client ignores what it does not know)", extras.finish("max_tokens"), extras))
    thinking = _Stream(rng, thinking=True, extras=True)
    thinking.text_block(rng.randint(3, 6))
    cases.append(("an answer that starts with a thinking block (thinking_delta and signature_delta deltas)",
                  thinking.finish("end_turn"), thinking))
    failing = _Stream(rng, thinking=rng.random() < 0.5, extras=True)
    failing.text_block(rng.randint(2, 5), close=False)
    cases.append(("a stream with an `event: error` in the middle (the model was overloaded)", failing.fail(), failing))
    cut = _Stream(rng, thinking=False, extras=True)
    cut.text_block(rng.randint(2, 5), close=False)
    cases.append(("a stream whose connection dropped before message_stop (no error event: it just ended)",
                  {"text": cut.text, "error": {"type": "incomplete"}}, cut))
    return [(how, stream.chunks(rng.choice(["\n", "\r\n"])), want) for how, want, stream in cases]


def _judge_message(got, want: dict, how: str) -> None:
    assert isinstance(got, dict), f"read_message should return a dict; on {how} it returned {got!r:.80}"
    missing = sorted({"text", "stop_reason", "output_tokens", "error"} - set(got))
    assert not missing, f"the dict read_message returns needs the keys text, stop_reason, output_tokens and error; " \
                        f"it lacks {', '.join(missing)}"
    if got["text"] != want["text"]:
        raise AssertionError(f"on {how}, text is {got['text']!r:.120}; it should be {want['text']!r:.120} (the "
                             "text of the text_delta deltas, in order: a thinking_delta or a signature_delta is "
                             "not text)")
    if want["error"] is None:
        assert got["error"] is None, f"on {how}, error should be None (the message ended with message_stop); " \
                                     f"it is {got['error']!r:.120}"
        assert got["stop_reason"] == want["stop_reason"], (
            f"on {how}, stop_reason is {got['stop_reason']!r}; it should be {want['stop_reason']!r} (message_delta "
            "says it, near the end)")
        assert got["output_tokens"] == want["output_tokens"], (
            f"on {how}, output_tokens is {got['output_tokens']!r}; it should be {want['output_tokens']!r}: the count "
            "in message_delta's usage, the last word (message_start's usage is the count so far, at the start)")
        return
    error = got["error"]
    if want["error"]["type"] == "incomplete":
        assert isinstance(error, dict) and error.get("type") == "incomplete", (
            f"on {how}, error is {error!r:.120}; the stream ended before message_stop, so this is not a whole answer: "
            "error should be a dict whose type is 'incomplete'")
        return
    assert error == want["error"], (f"on {how}, error is {error!r:.120}; it should be the error event's error object "
                                    f"{want['error']!r} (a partial answer must not pass for a whole one)")


@exercise("15.3", hints=[
    "Dispatch on the event's type (event.type, or the 'type' in its JSON): only a few types matter for the text, "
    "the stop reason and the usage. What should happen to every other type, including ones you have never seen?",
    "content_block_delta carries deltas of several kinds: look at delta['type'], and take only text_delta's text. "
    "The final output_tokens comes in message_delta's usage; message_start's usage is an early count.",
    "An `event: error` ends the stream: keep the text so far and return its data's 'error' object. If the chunks "
    "run out before message_stop (and no error came), return error {'type': 'incomplete', ...}.",
])
def check_15_3(answer: Answer) -> None:
    read_message = answer.function("read_message")
    rng = random.Random()
    for how, chunks, want in _anthropic_cases(rng):
        try:
            got = read_message(chunks)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise AssertionError(f"read_message raised {type(exc).__name__}: {str(exc)[:120]} on {how}") from None
        _judge_message(got, want, how)
