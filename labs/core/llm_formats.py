"""Three real LLM wire formats for one fake model: what the official SDKs read.

The token_stream lab's own ``POST /generate`` speaks a format of its own.  The services people
actually call speak one of these, and their official Python SDKs (``openai``, ``anthropic``)
take a ``base_url``, so a lab that writes these bytes exactly is read by them as the real thing:

- **OpenAI Chat Completions** (``POST /v1/chat/completions``): unnamed events, each a
  ``chat.completion.chunk`` object; the first carries the role, each next one a ``delta`` of
  text, the last a ``finish_reason``; with ``stream_options.include_usage`` one more chunk with
  no choices and the ``usage``; then ``data: [DONE]``.  An error mid-stream is a chunk
  ``{"error": {...}}`` and no ``[DONE]``.
- **OpenAI Responses** (``POST /v1/responses``): named events (``event: response.created``...),
  each with a ``sequence_number`` counting from 0, from ``response.created`` to
  ``response.completed``, which carries the whole response and its usage.  No ``[DONE]``:
  the last event says it.  A failure mid-stream is ``response.failed``.
- **Anthropic Messages** (``POST /v1/messages``): named events ``message_start``,
  ``content_block_start``, ``content_block_delta`` (one per token), ``content_block_stop``,
  ``message_delta`` (the stop reason and the usage), ``message_stop``; ``ping`` may come
  anywhere, ``event: error`` (``overloaded_error``) mid-stream, and a client ignores events it
  does not know.

Bad input is refused before any stream, in each vendor's error shape and status code:
OpenAI's ``{"error": {"message", "type", "param", "code"}}``, Anthropic's
``{"type": "error", "error": {"type", "message"}}``.

Each format is one class: ``read(data, limits)`` checks a request's JSON and gives an
:class:`LLMRequest`; an instance writes one answer (``opening()``, ``delta(token)`` per token,
``closing()``, or ``failure(message)`` instead), or ``whole()`` for ``stream: false``.  They
only build text (event-stream blocks, via :func:`labs.core.sse.encode_event`, and JSON
objects); pacing, the fake model and noticing a reader that left stay in the lab.

The fake model writes exactly as many tokens as the request allows (``DEFAULT_MAX_TOKENS``
without a limit) and ends its answer there, so every answer ends as a finished one:
``finish_reason: "stop"``, ``status: "completed"``, ``stop_reason: "end_turn"``.  (A real
model cut short by the limit says ``"length"``, ``"incomplete"`` or ``"max_tokens"``.)
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import string
import time
from typing import Any

from labs.core.errors import ApiError
from labs.core.notify import parse_json_object
from labs.core.sse import encode_event

DEFAULT_MAX_TOKENS = 16   # the answer's length when a request sets no limit (Chat Completions, Responses)
PING_EVERY = 8            # Anthropic: a ping event after message_start and after every this many tokens
MAX_MODEL_CHARS = 256
DONE = "[DONE]"


@dataclasses.dataclass(frozen=True)
class Limits:
    """The lab's caps: the most tokens a request may ask for, the longest prompt it may send."""

    max_tokens: int
    max_prompt_chars: int


@dataclasses.dataclass(frozen=True)
class LLMRequest:
    """What a request asks of the model, whichever format it came in."""

    model: str
    prompt: str          # the text of the last user message
    max_tokens: int      # the vendor's own limit field, or DEFAULT_MAX_TOKENS
    stream: bool
    include_usage: bool = False  # Chat Completions' stream_options.include_usage


class FormatError(Exception):
    """A refusal in a vendor's shape: the view answers ``body`` as JSON with ``status``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {json.dumps(body)[:200]}")
        self.status = status
        self.body = body


def openai_error(status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error") -> FormatError:
    return FormatError(status, {"error": {"message": message, "type": kind, "param": param, "code": code}})


ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 404: "not_found_error", 413: "request_too_large",
                         500: "api_error", 529: "overloaded_error"}


def anthropic_error(status: int, message: str, param: str | None = None) -> FormatError:
    # Anthropic names the field at the start of the message ("max_tokens: Field required").
    text = f"{param}: {message}" if param and f"'{param}'" not in message else message
    return FormatError(status, {"type": "error", "error": {"type": ANTHROPIC_ERROR_TYPES[status], "message": text},
                                "request_id": new_id("req_")})


def new_id(prefix: str, length: int = 24) -> str:
    """``chatcmpl-...``, ``resp_...``, ``msg_...``: the vendors' ids are a prefix and random letters."""
    return prefix + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


def event(obj: dict[str, Any], name: str | None = None) -> str:
    """One event-stream block; UTF-8 on the wire as the vendors send it (no ``\\u`` escapes)."""
    return encode_event(json.dumps(obj, ensure_ascii=False), event=name)


def prompt_tokens(prompt: str) -> int:
    """The prompt's size for ``usage``: its words (the fake model has no tokenizer)."""
    return max(1, len(prompt.split()))


# --------------------------------------------------------------------------- reading a request

class RequestReader:
    """Checks shared by the three formats; ``error`` makes the vendor's refusal."""

    def __init__(self, data: dict[str, Any], limits: Limits, error) -> None:
        self.data, self.limits, self.error = data, limits, error

    @classmethod
    def parse(cls, raw: bytes, is_json: bool, limits: Limits, error) -> RequestReader:
        if not is_json:
            raise error(400, "the body must be JSON: send 'Content-Type: application/json'")
        try:
            return cls(parse_json_object(raw, example='{"model": "...", ...}'), limits, error)
        except ApiError as exc:
            raise error(400, f"We could not parse the JSON body of your request: {exc.error}: {exc.detail}") from None

    def only(self, known: set[str], ignored: set[str]) -> None:
        for name in sorted(set(self.data) - known - ignored):
            raise self.error(400, f"Unrecognized request argument supplied: {name} (this lab reads "
                                  f"{', '.join(sorted(known))}; it ignores {', '.join(sorted(ignored))})")

    def model(self) -> str:
        model = self.data.get("model")
        if not isinstance(model, str) or not model.strip() or len(model) > MAX_MODEL_CHARS:
            raise self.error(400, "you must provide a model parameter: any non-empty string "
                                  f"(at most {MAX_MODEL_CHARS} characters) names this lab's fake model", "model")
        return model

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            raise self.error(400, f"Invalid type for '{name}': expected a boolean, got {json.dumps(value)[:40]}", name)
        return value

    def limit(self, name: str, *, required: bool = False) -> int:
        if name not in self.data:
            if required:
                raise self.error(400, "Field required", name)
            return DEFAULT_MAX_TOKENS
        value = self.data[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(400, f"Invalid type for '{name}': expected an integer, got {json.dumps(value)[:40]}", name)
        if not 1 <= value <= self.limits.max_tokens:
            raise self.error(400, f"Invalid '{name}': {value} is out of range; this lab's fake model writes "
                                  f"1 to {self.limits.max_tokens} tokens", name)
        return value

    def messages(self, name: str, roles: tuple[str, ...]) -> list[dict[str, Any]]:
        messages = self.data.get(name)
        if not isinstance(messages, list) or not messages:
            raise self.error(400, f"'{name}' must be a non-empty array of messages", name)
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in roles:
                raise self.error(400, f"Invalid '{name}[{index}]': expected an object with a 'role' among "
                                      f"{', '.join(roles)}", f"{name}[{index}]")
        return messages

    def last_user_text(self, name: str, items: list[Any], text_types: tuple[str, ...]) -> str:
        """The text of the last message whose role is ``user``: the prompt."""
        for index in range(len(items) - 1, -1, -1):
            item = items[index]
            if isinstance(item, dict) and item.get("role") == "user":
                return self.prompt(self.text_of(item.get("content"), f"{name}[{index}].content", text_types))
        raise self.error(400, f"'{name}' has no message with the role 'user': the prompt is the last one", name)

    def text_of(self, content: Any, param: str, text_types: tuple[str, ...]) -> str:
        if isinstance(content, str):
            return content
        if isinstance(content, list) and content and all(
                isinstance(part, dict) and part.get("type") in text_types and isinstance(part.get("text"), str)
                for part in content):
            return "".join(part["text"] for part in content)
        raise self.error(400, f"Invalid '{param}': expected a string or an array of "
                              f"{' or '.join(text_types)} parts (this lab's fake model reads text only)", param)

    def prompt(self, text: str) -> str:
        if not text.strip():
            raise self.error(400, "the last user message is empty", None)
        if len(text) > self.limits.max_prompt_chars:
            raise self.error(400, f"prompt is too long: {len(text)} characters > {self.limits.max_prompt_chars} "
                                  "maximum", None)
        return text


# --------------------------------------------------------------------------- the formats

class Answer:
    """One answer being written: the tokens so far; subclasses give the format."""

    error = staticmethod(openai_error)

    def __init__(self, request: LLMRequest) -> None:
        self.request = request
        self.tokens: list[str] = []
        self.created = int(time.time())

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    def usage_numbers(self) -> tuple[int, int]:
        return prompt_tokens(self.request.prompt), len(self.tokens)

    def whole(self, tokens: list[str]) -> dict[str, Any]:
        """The ``stream: false`` answer: everything at once, as one JSON object."""
        self.tokens = list(tokens)
        return self.final_object()

    def final_object(self) -> dict[str, Any]:
        raise NotImplementedError

    def failed_whole(self, message: str) -> FormatError:
        """What a ``stream: false`` request gets when the model fails (nothing was sent yet)."""
        return openai_error(500, f"The server had an error while processing your request: {message}",
                            kind="server_error")


class ChatCompletions(Answer):
    """OpenAI Chat Completions: ``chat.completion.chunk`` events, then ``data: [DONE]``."""

    KNOWN = {"model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens"}
    IGNORED = {"temperature", "top_p", "stop", "user", "seed", "metadata", "store", "presence_penalty",
               "frequency_penalty", "service_tier", "n"}
    ROLES = ("system", "developer", "user", "assistant", "tool")

    @classmethod
    def read(cls, reader: RequestReader) -> LLMRequest:
        reader.only(cls.KNOWN, cls.IGNORED)
        if reader.data.get("n", 1) != 1:
            raise reader.error(400, "this lab's fake model writes one choice: 'n' must be 1", "n")
        if "max_tokens" in reader.data and "max_completion_tokens" in reader.data:
            raise reader.error(400, "send 'max_completion_tokens' or the older 'max_tokens', not both",
                               "max_tokens")
        limit = reader.limit("max_tokens" if "max_tokens" in reader.data else "max_completion_tokens")
        stream = reader.flag("stream")
        options = reader.data.get("stream_options")
        if options is not None and not stream:
            raise reader.error(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                               "stream_options")
        if options is not None and (not isinstance(options, dict) or set(options) - {"include_usage"}
                                    or not isinstance(options.get("include_usage", False), bool)):
            raise reader.error(400, "Invalid 'stream_options': expected {\"include_usage\": true|false}",
                               "stream_options")
        messages = reader.messages("messages", cls.ROLES)
        prompt = reader.last_user_text("messages", messages, ("text",))
        return LLMRequest(reader.model(), prompt, limit, stream, bool((options or {}).get("include_usage")))

    def __init__(self, request: LLMRequest) -> None:
        super().__init__(request)
        self.id = new_id("chatcmpl-", 29)

    def chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> str:
        body: dict[str, Any] = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                                "model": self.request.model, "system_fingerprint": None, "choices": choices}
        if self.request.include_usage:
            body["usage"] = usage  # null on every chunk but the last, as the API does
        return event(body)

    @staticmethod
    def choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

    def usage(self) -> dict[str, Any]:
        prompt, completion = self.usage_numbers()
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}

    def opening(self) -> str:
        return self.chunk([self.choice({"role": "assistant", "content": "", "refusal": None})])

    def delta(self, token: str) -> str:
        self.tokens.append(token)
        return self.chunk([self.choice({"content": token})])

    def closing(self) -> str:
        blocks = self.chunk([self.choice({}, "stop")])
        if self.request.include_usage:
            blocks += self.chunk([], self.usage())
        return blocks + encode_event(DONE)

    def failure(self, message: str) -> str:
        # The SDK raises APIError on a chunk with an "error"; no [DONE] follows.
        return event({"error": {"message": message, "type": "server_error", "param": None, "code": None}})

    def final_object(self) -> dict[str, Any]:
        message = {"role": "assistant", "content": self.text, "refusal": None, "annotations": []}
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.request.model,
                "system_fingerprint": None, "usage": self.usage(),
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}]}


class Responses(Answer):
    """OpenAI Responses: named events with a ``sequence_number``, ending in ``response.completed``."""

    KNOWN = {"model", "input", "stream", "max_output_tokens"}
    IGNORED = {"instructions", "temperature", "top_p", "user", "metadata", "store", "service_tier",
               "previous_response_id", "truncation", "parallel_tool_calls"}
    TEXT_TYPES = ("input_text",)

    @classmethod
    def read(cls, reader: RequestReader) -> LLMRequest:
        reader.only(cls.KNOWN, cls.IGNORED)
        limit = reader.limit("max_output_tokens")
        stream = reader.flag("stream")
        items = reader.data.get("input")
        if isinstance(items, str):
            prompt = reader.prompt(items)
        elif isinstance(items, list) and items and all(isinstance(item, dict) for item in items):
            prompt = reader.last_user_text("input", items, cls.TEXT_TYPES)
        else:
            raise reader.error(400, "'input' must be a string or a non-empty array of input items", "input")
        return LLMRequest(reader.model(), prompt, limit, stream)

    def __init__(self, request: LLMRequest) -> None:
        super().__init__(request)
        self.id = new_id("resp_", 48)
        self.item_id = new_id("msg_", 48)
        self.sequence = 0

    def named(self, name: str, **fields: Any) -> str:
        block = event({"type": name, **fields, "sequence_number": self.sequence}, name)
        self.sequence += 1
        return block

    def part(self) -> dict[str, Any]:
        return {"type": "output_text", "annotations": [], "logprobs": [], "text": self.text}

    def item(self, status: str) -> dict[str, Any]:
        content = [self.part()] if status == "completed" else []
        return {"id": self.item_id, "type": "message", "status": status, "role": "assistant", "content": content}

    def response(self, status: str, error: dict[str, str] | None = None) -> dict[str, Any]:
        prompt, output = self.usage_numbers()
        done = status == "completed"
        return {"id": self.id, "object": "response", "created_at": self.created, "status": status,
                "background": False, "error": error, "incomplete_details": None, "instructions": None,
                "max_output_tokens": self.request.max_tokens, "model": self.request.model,
                "output": [self.item("completed")] if done else [], "parallel_tool_calls": True,
                "previous_response_id": None, "reasoning": {"effort": None, "summary": None}, "store": False,
                "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [],
                "top_p": 1.0, "truncation": "disabled", "user": None, "metadata": {},
                "usage": {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens": output, "output_tokens_details": {"reasoning_tokens": 0},
                          "total_tokens": prompt + output} if done else None}

    def where(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "output_index": 0, "content_index": 0}

    def opening(self) -> str:
        return (self.named("response.created", response=self.response("in_progress"))
                + self.named("response.in_progress", response=self.response("in_progress"))
                + self.named("response.output_item.added", output_index=0, item=self.item("in_progress"))
                + self.named("response.content_part.added", **self.where(), part=self.part()))

    def delta(self, token: str) -> str:
        self.tokens.append(token)
        return self.named("response.output_text.delta", **self.where(), delta=token, logprobs=[])

    def closing(self) -> str:
        return (self.named("response.output_text.done", **self.where(), text=self.text, logprobs=[])
                + self.named("response.content_part.done", **self.where(), part=self.part())
                + self.named("response.output_item.done", output_index=0, item=self.item("completed"))
                + self.named("response.completed", response=self.response("completed")))

    def failure(self, message: str) -> str:
        return self.named("response.failed",
                          response=self.response("failed", {"code": "server_error", "message": message}))

    def final_object(self) -> dict[str, Any]:
        return self.response("completed")


class Messages(Answer):
    """Anthropic Messages: ``message_start`` ... ``message_stop``, with ``ping`` events on the way."""

    error = staticmethod(anthropic_error)
    KNOWN = {"model", "messages", "max_tokens", "stream"}
    IGNORED = {"system", "temperature", "top_p", "top_k", "metadata", "stop_sequences", "service_tier"}

    @classmethod
    def read(cls, reader: RequestReader) -> LLMRequest:
        reader.only(cls.KNOWN, cls.IGNORED)
        limit = reader.limit("max_tokens", required=True)
        stream = reader.flag("stream")
        messages = reader.messages("messages", ("user", "assistant"))
        prompt = reader.last_user_text("messages", messages, ("text",))
        return LLMRequest(reader.model(), prompt, limit, stream)

    def __init__(self, request: LLMRequest) -> None:
        super().__init__(request)
        self.id = new_id("msg_01")

    def message(self, content: list[dict[str, Any]], stop_reason: str | None) -> dict[str, Any]:
        prompt, output = self.usage_numbers()
        return {"id": self.id, "type": "message", "role": "assistant", "model": self.request.model,
                "content": content, "stop_reason": stop_reason, "stop_sequence": None,
                "usage": {"input_tokens": prompt, "output_tokens": output}}

    def opening(self) -> str:
        return (event({"type": "message_start", "message": self.message([], None)}, "message_start")
                + event({"type": "ping"}, "ping")
                + event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                        "content_block_start"))

    def delta(self, token: str) -> str:
        self.tokens.append(token)
        block = event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": token}},
                      "content_block_delta")
        if len(self.tokens) % PING_EVERY == 0:
            block += event({"type": "ping"}, "ping")  # anywhere in the stream: clients skip it
        return block

    def closing(self) -> str:
        _, output = self.usage_numbers()
        return (event({"type": "content_block_stop", "index": 0}, "content_block_stop")
                + event({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                         "usage": {"output_tokens": output}}, "message_delta")
                + event({"type": "message_stop"}, "message_stop"))

    def failure(self, message: str) -> str:
        return event({"type": "error", "error": {"type": "overloaded_error", "message": f"Overloaded: {message}"}},
                     "error")

    def final_object(self) -> dict[str, Any]:
        return self.message([{"type": "text", "text": self.text}], "end_turn")

    def failed_whole(self, message: str) -> FormatError:
        return anthropic_error(529, f"Overloaded: {message}")


FORMATS: dict[str, type[Answer]] = {"chat": ChatCompletions, "responses": Responses, "messages": Messages}


def read_request(kind: type[Answer], raw: bytes, is_json: bool, limits: Limits) -> LLMRequest:
    """The request's body checked as ``kind`` reads it, or the FormatError in the vendor's shape."""
    return kind.read(RequestReader.parse(raw, is_json, limits, kind.error))
