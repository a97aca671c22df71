"""token_stream's three real formats, read by the vendors' official SDKs.

- ``/v1/chat/completions``, ``/v1/responses`` and ``/v1/messages`` stream the fake model's
  tokens, one token per text delta, with the usage counting them, to ``openai`` and
  ``anthropic`` clients (sync and async) pointed at the lab with ``base_url``;
- an error in the middle reaches each SDK the way the vendor sends it;
- bad input is refused before any stream, in each vendor's error shape and status code;
- a reader that leaves stops the generator, and every test ends with nothing generating.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import anthropic
import openai
import pytest
import requests

from labs.harness.processes import wait_until
from labs.token_stream import FAIL_AT

LAB_NAME = "token_stream"
INTERVAL = 0.005
PROMPT = "Grüße from the café: 5 € and a 🙂"
N = 12


@pytest.fixture(scope="module")
def lab_options():
    return {"config": {"TOKEN_INTERVAL": INTERVAL}}


def run(coroutine):
    """``asyncio.run``, also where a loop is already running in this thread (Playwright's)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def expected(lab, prompt: str = PROMPT, n: int = N) -> list[str]:
    return lab.post("/tokens", json={"prompt": prompt, "max_tokens": n}).json()["tokens"]


def stats(lab) -> dict:
    return lab.get("/stats").json()


@pytest.fixture
def idle_after(lab):
    """The test's streams must all have ended (none generating) once it is over."""
    yield
    assert wait_until(lambda: stats(lab)["generating"] == 0, 2.0, interval=0.01), stats(lab)


def openai_client(lab, *, sync: bool = True):
    kind = openai.OpenAI if sync else openai.AsyncOpenAI
    return kind(base_url=lab.url + "/v1", api_key="any string", max_retries=0, timeout=10)


def anthropic_client(lab, *, sync: bool = True):
    kind = anthropic.Anthropic if sync else anthropic.AsyncAnthropic
    return kind(base_url=lab.url, api_key="any string", max_retries=0, timeout=10)


def user(text: str) -> list[dict]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "an older question"},
            {"role": "assistant", "content": "an older answer"}, {"role": "user", "content": text}]


# --------------------------------------------------------------------------- OpenAI Chat Completions

async def chat_chunks_async(lab, **kwargs):
    async with openai_client(lab, sync=False) as client:
        stream = await client.chat.completions.create(**kwargs)
        return [chunk async for chunk in stream]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
def test_chat_completions_stream_is_the_models_tokens_and_usage(lab, idle_after, sync):
    kwargs = {"model": "gpt-anything", "messages": user(PROMPT), "max_tokens": N, "stream": True,
              "stream_options": {"include_usage": True}}
    if sync:
        chunks = list(openai_client(lab).chat.completions.create(**kwargs))
    else:
        chunks = run(chat_chunks_async(lab, **kwargs))
    with_choices = [chunk for chunk in chunks if chunk.choices]
    assert with_choices[0].choices[0].delta.role == "assistant" and with_choices[0].choices[0].delta.content == ""
    deltas = [chunk.choices[0].delta.content for chunk in with_choices[1:-1]]
    assert deltas == expected(lab), "one chunk per token, in order"
    assert with_choices[-1].choices[0].finish_reason == "stop"
    assert [chunk.choices[0].finish_reason for chunk in with_choices[:-1]] == [None] * (N + 1)
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage.completion_tokens == N
    assert usage_chunk.usage.total_tokens == usage_chunk.usage.prompt_tokens + N
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert {chunk.id for chunk in chunks} == {chunks[0].id} and chunks[0].id.startswith("chatcmpl-")
    assert {(chunk.object, chunk.model) for chunk in chunks} == {("chat.completion.chunk", "gpt-anything")}
    assert isinstance(chunks[0].created, int) and chunks[0].created > 1_700_000_000


def test_chat_completions_without_usage_and_with_max_completion_tokens(lab, idle_after):
    stream = openai_client(lab).chat.completions.create(model="m", messages=user(PROMPT), stream=True,
                                                        max_completion_tokens=5)
    chunks = list(stream)
    assert all(chunk.usage is None for chunk in chunks) and all(chunk.choices for chunk in chunks)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks) == "".join(expected(lab, n=5))


def test_chat_completions_without_stream_is_one_object(lab, idle_after):
    completion = openai_client(lab).chat.completions.create(model="m", messages=user(PROMPT), max_tokens=N)
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.choices[0].message.content == "".join(expected(lab))
    assert completion.choices[0].finish_reason == "stop" and completion.usage.completion_tokens == N


def test_chat_completions_error_mid_stream_raises_after_the_first_tokens(lab, idle_after):
    stream = openai_client(lab).chat.completions.create(model="m", messages=user("overload now"), max_tokens=10,
                                                        stream=True)
    seen = []
    with pytest.raises(openai.APIError) as failed:
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content)
    assert seen[1:] == expected(lab, "overload now", 10) and len(seen) == 1 + FAIL_AT
    assert failed.value.body["type"] == "server_error" and "overload" in failed.value.message


# --------------------------------------------------------------------------- OpenAI Responses

async def responses_async(lab, **kwargs):
    async with openai_client(lab, sync=False) as client:
        async with client.responses.stream(**kwargs) as stream:
            events = [event async for event in stream]
            return events, await stream.get_final_response()


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
def test_responses_stream_helper_gets_the_tokens_and_the_final_response(lab, idle_after, sync):
    kwargs = {"model": "gpt-anything", "input": PROMPT, "max_output_tokens": N}
    if sync:
        with openai_client(lab).responses.stream(**kwargs) as stream:
            events, final = list(stream), stream.get_final_response()
    else:
        events, final = run(responses_async(lab, **kwargs))
    assert [event.delta for event in events if event.type == "response.output_text.delta"] == expected(lab)
    assert final.status == "completed" and final.output_text == "".join(expected(lab))
    assert final.usage.output_tokens == N and final.usage.total_tokens == final.usage.input_tokens + N
    assert final.id.startswith("resp_") and final.output[0].id.startswith("msg_") and final.model == "gpt-anything"


def test_responses_create_stream_is_the_documented_event_sequence(lab, idle_after):
    stream = openai_client(lab).responses.create(model="m", stream=True, max_output_tokens=3,
                                                 input=[{"role": "user", "content": "earlier"},
                                                        {"role": "assistant", "content": "ok"},
                                                        {"role": "user",
                                                         "content": [{"type": "input_text", "text": PROMPT}]}])
    events = list(stream)
    assert [event.type for event in events] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        *["response.output_text.delta"] * 3, "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed"]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert events[-4].text == "".join(expected(lab, n=3)) and events[-1].response.usage.output_tokens == 3


def test_responses_failure_mid_stream_is_response_failed(lab, idle_after):
    stream = openai_client(lab).responses.create(model="m", stream=True, input="overload", max_output_tokens=9)
    events = list(stream)
    assert [event.type for event in events].count("response.output_text.delta") == FAIL_AT
    assert events[-1].type == "response.failed" and events[-1].response.status == "failed"
    assert events[-1].response.error.code == "server_error"


# --------------------------------------------------------------------------- Anthropic Messages

async def messages_async(lab, **kwargs):
    async with anthropic_client(lab, sync=False) as client:
        async with client.messages.stream(**kwargs) as stream:
            tokens = [text async for text in stream.text_stream]
            return tokens, await stream.get_final_message()


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
def test_messages_stream_helper_gets_the_tokens_and_the_usage(lab, idle_after, sync):
    kwargs = {"model": "claude-anything", "max_tokens": N, "messages": user(PROMPT)[1:]}
    if sync:
        with anthropic_client(lab).messages.stream(**kwargs) as stream:
            tokens, final = list(stream.text_stream), stream.get_final_message()
    else:
        tokens, final = run(messages_async(lab, **kwargs))
    assert tokens == expected(lab)
    assert final.content[0].text == "".join(expected(lab)) and final.stop_reason == "end_turn"
    assert final.usage.output_tokens == N and final.id.startswith("msg_") and final.model == "claude-anything"


def test_messages_create_stream_is_the_documented_event_sequence_with_pings(lab, idle_after):
    # The SDK's raw stream drops ping events itself; the bytes show they are there.
    body = {"model": "m", "max_tokens": N, "stream": True,
            "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}]}
    raw = requests.post(lab.url + "/v1/messages", json=body, timeout=10).text
    assert raw.count("event: ping\n") >= 2
    events = list(anthropic_client(lab).messages.create(**body))
    assert [event.type for event in events] == ["message_start", "content_block_start",
                                                *["content_block_delta"] * N,
                                                "content_block_stop", "message_delta", "message_stop"]
    assert [event.delta.text for event in events[2:-3]] == expected(lab)
    assert events[-2].usage.output_tokens == N and events[-2].delta.stop_reason == "end_turn"


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
def test_messages_overloaded_error_mid_stream(lab, idle_after, sync):
    kwargs = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "overload please"}]}

    async def read_async(tokens):
        async with anthropic_client(lab, sync=False) as client:
            async with client.messages.stream(**kwargs) as stream:
                async for text in stream.text_stream:
                    tokens.append(text)

    tokens: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as failed:
        if sync:
            with anthropic_client(lab).messages.stream(**kwargs) as stream:
                tokens.extend(stream.text_stream)
        else:
            run(read_async(tokens))
    assert tokens == expected(lab, "overload please", 10)
    assert failed.value.body["error"]["type"] == "overloaded_error"


# --------------------------------------------------------------------------- bad input

GOOD = {
    "/v1/chat/completions": {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    "/v1/responses": {"model": "m", "input": "hi", "stream": True},
    "/v1/messages": {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
                     "stream": True},
}
DROP = object()
BAD_INPUT = [
    ("/v1/chat/completions", "no model", {"model": DROP}, "model"),
    ("/v1/chat/completions", "no messages", {"messages": DROP}, "messages"),
    ("/v1/chat/completions", "empty messages", {"messages": []}, "messages"),
    ("/v1/chat/completions", "no user message", {"messages": [{"role": "system", "content": "x"}]}, "messages"),
    ("/v1/chat/completions", "bad role", {"messages": [{"role": "wizard", "content": "x"}]}, "messages[0]"),
    ("/v1/chat/completions", "max_tokens 0", {"max_tokens": 0}, "max_tokens"),
    ("/v1/chat/completions", "max_tokens over the cap", {"max_completion_tokens": 501}, "max_completion_tokens"),
    ("/v1/chat/completions", "both limits", {"max_tokens": 3, "max_completion_tokens": 3}, "max_tokens"),
    ("/v1/chat/completions", "max_tokens a string", {"max_tokens": "3"}, "max_tokens"),
    ("/v1/chat/completions", "stream not a boolean", {"stream": "yes"}, "stream"),
    ("/v1/chat/completions", "stream_options without stream", {"stream": False,
                                                               "stream_options": {"include_usage": True}},
     "stream_options"),
    ("/v1/chat/completions", "unknown field", {"tools": []}, None),
    ("/v1/chat/completions", "image content", {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "x"}}]}]}, "messages[0].content"),
    ("/v1/chat/completions", "prompt too long", {"messages": [{"role": "user", "content": "x" * 2001}]}, None),
    ("/v1/chat/completions", "empty prompt", {"messages": [{"role": "user", "content": "  "}]}, None),
    ("/v1/responses", "no input", {"input": DROP}, "input"),
    ("/v1/responses", "input a number", {"input": 3}, "input"),
    ("/v1/responses", "max_output_tokens -1", {"max_output_tokens": -1}, "max_output_tokens"),
    ("/v1/responses", "no model", {"model": ""}, "model"),
    ("/v1/messages", "no max_tokens", {"max_tokens": DROP}, "max_tokens"),
    ("/v1/messages", "max_tokens too big", {"max_tokens": 10_000}, "max_tokens"),
    ("/v1/messages", "system role in messages", {"messages": [{"role": "system", "content": "x"}]}, "messages[0]"),
    ("/v1/messages", "unknown field", {"tools": []}, None),
]


def changed(path: str, change: dict) -> dict:
    body = {**GOOD[path], **change}
    return {key: value for key, value in body.items() if value is not DROP}


def assert_vendor_error(path: str, answer, status: int = 400) -> dict:
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/json"
    body = answer.get_json()
    if path == "/v1/messages":
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}, body
        kinds = {400: "invalid_request_error", 413: "request_too_large"}
        assert body["error"]["type"] == kinds[status] and body["error"]["message"], body
        return body["error"]
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["message"], body
    return body["error"]


@pytest.mark.parametrize(("path", "why", "change", "param"), BAD_INPUT, ids=[f"{c[0][4:]}-{c[1]}" for c in BAD_INPUT])
def test_bad_input_gets_the_vendors_error_shape(client, path, why, change, param):
    error = assert_vendor_error(path, client.post(path, json=changed(path, change)))
    if param is None:
        return
    if path == "/v1/messages":
        assert param in error["message"], error
    else:
        assert error["param"] == param, error


@pytest.mark.parametrize("path", sorted(GOOD))
def test_a_body_that_is_not_json_gets_the_vendors_error_shape(client, path):
    assert_vendor_error(path, client.post(path, data="model=m"))
    assert_vendor_error(path, client.post(path, data="{", content_type="application/json"))
    assert_vendor_error(path, client.post(path, json=["a", "list"]))
    assert_vendor_error(path, client.post(path, data="x" * (1024 * 1024 + 1), content_type="application/json"), 413)


def test_the_sdks_raise_their_bad_request_errors_and_nothing_is_generated(lab, idle_after):
    before = stats(lab)
    with pytest.raises(openai.BadRequestError) as refused:
        openai_client(lab).chat.completions.create(model="m", messages=user("hi"), max_tokens=0, stream=True)
    assert refused.value.status_code == 400 and refused.value.param == "max_tokens"
    with pytest.raises(openai.BadRequestError):
        openai_client(lab).responses.create(model="m", input="hi", max_output_tokens=10_000, stream=True)
    with pytest.raises(anthropic.BadRequestError) as refused:
        anthropic_client(lab).messages.create(model="m", max_tokens=0, messages=user("hi")[1:], stream=True)
    assert refused.value.body["error"]["type"] == "invalid_request_error"
    after = stats(lab)
    assert (after["tokens_sent"], after["outcomes"]) == (before["tokens_sent"], before["outcomes"])


# --------------------------------------------------------------------------- a reader that leaves

def leave_early(lab, path: str) -> None:
    if path == "/v1/chat/completions":
        stream = openai_client(lab).chat.completions.create(model="m", messages=user("leave"), max_tokens=500,
                                                            stream=True)
    elif path == "/v1/responses":
        stream = openai_client(lab).responses.create(model="m", input="leave", max_output_tokens=500, stream=True)
    else:
        stream = anthropic_client(lab).messages.create(model="m", max_tokens=500, messages=user("leave")[1:],
                                                       stream=True)
    events = iter(stream)
    for _ in range(6):
        next(events)
    stream.close()


@pytest.mark.parametrize("path", sorted(GOOD))
def test_a_reader_that_leaves_stops_the_generator(lab, path):
    before = stats(lab)
    leave_early(lab, path)
    assert wait_until(lambda: stats(lab)["generating"] == 0, 1.0, interval=0.01), stats(lab)
    settled = stats(lab)
    assert settled["outcomes"]["client gone"] == before["outcomes"]["client gone"] + 1
    assert settled["tokens_sent"] - before["tokens_sent"] < 50, "it stopped long before 500 tokens"


# --------------------------------------------------------------------------- stream: false

def test_responses_and_messages_without_stream_are_one_object(lab, idle_after):
    response = openai_client(lab).responses.create(model="m", input=PROMPT, max_output_tokens=N)
    assert response.status == "completed" and response.output_text == "".join(expected(lab))
    assert response.usage.output_tokens == N
    message = anthropic_client(lab).messages.create(model="m", max_tokens=N, messages=user(PROMPT)[1:])
    assert message.content[0].text == "".join(expected(lab)) and message.usage.output_tokens == N


def test_a_failure_without_stream_is_the_vendors_server_error(lab, idle_after):
    with pytest.raises(openai.InternalServerError) as failed:
        openai_client(lab).chat.completions.create(model="m", messages=user("overload"), max_tokens=5)
    assert failed.value.status_code == 500 and failed.value.body["type"] == "server_error"
    with pytest.raises(anthropic.OverloadedError) as overloaded:
        anthropic_client(lab).messages.create(model="m", max_tokens=5, messages=user("overload")[1:])
    assert overloaded.value.status_code == 529 and overloaded.value.body["error"]["type"] == "overloaded_error"


def test_under_gunicorn_gevent_too(lab_server):
    served = lab_server(LAB_NAME, config={"TOKEN_INTERVAL": INTERVAL}, workers=1)
    stream = openai_client(served).chat.completions.create(model="m", messages=user(PROMPT), max_tokens=N,
                                                           stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert [chunk.choices[0].delta.content for chunk in chunks[1:-2]] == expected(served)
    assert chunks[-1].usage.completion_tokens == N
    test_a_reader_that_leaves_stops_the_generator(served, "/v1/messages")
