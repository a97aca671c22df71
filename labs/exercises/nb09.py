"""Checks for notebook 09 (the transport showdown)."""

from __future__ import annotations

import random

from labs.exercises import Answer, exercise, expect


@exercise("9.1", hints=[
    "Start with one client: how many times does it ask in `duration_s` seconds? Then count the clients.",
    "Short polling asks on its timer whether or not there is news, so the number of messages plays no part.",
    "A division gives a float, and this function returns an int: turn the result into one without "
    "losing a request to floating-point rounding.",
])
def check_9_1(answer: Answer) -> None:
    polling_requests = answer.function("polling_requests")
    rng = random.Random()
    for _ in range(6):
        clients = rng.choice([1, rng.randint(2, 50), rng.randint(100, 5000)])
        interval = rng.choice([0.25, 0.5, 1, 2, 4, 5, 10, 15, 30])  # exact in binary floating point
        duration = interval * rng.randint(1, 240)
        call = f"polling_requests({clients}, {interval}, {duration:g})"
        got = expect.whole_number(polling_requests(clients, interval, duration), call)
        expected = clients * round(duration / interval)
        assert got == expected, f"{call} should be {expected}; you returned {got}"


@exercise("9.2", hints=[
    "Follow one client through one message: its request was waiting; what ends it, and what does the "
    "client do next?",
    "Then count: how many clients does each message reach, and how many messages are there?",
])
def check_9_2(answer: Answer) -> None:
    long_polling_requests = answer.function("long_polling_requests")
    rng = random.Random()
    for _ in range(6):
        clients, messages = rng.randint(1, 2000), rng.randint(1, 300)
        call = f"long_polling_requests({clients}, {messages})"
        got = long_polling_requests(clients, messages)
        if isinstance(got, float) and got.is_integer():
            got = int(got)
        got = expect.whole_number(got, call)
        assert got == clients * messages, f"{call} should be {clients * messages}; you returned {got}"


TRANSPORTS = ("webhook", "websocket", "sse", "long polling", "short polling")


def _expected(server_to_server: bool, two_way: bool, long_connections_ok: bool, delay_ok_s: float) -> str:
    if server_to_server:
        return "webhook"
    if two_way:
        return "websocket"
    if long_connections_ok:
        return "sse"
    return "short polling" if delay_ok_s >= 5 else "long polling"


@exercise("9.3", hints=[
    "The rules are in priority order: once one applies, the later ones do not matter. Try a case that is "
    "both server-to-server and two-way.",
    "The last rule has an edge: a delay of exactly 5 s is acceptable for short polling. Return exactly one "
    "of the five names, spelt as in the exercise.",
])
def check_9_3(answer: Answer) -> None:
    choose_transport = answer.function("choose_transport")
    rng = random.Random()
    delays = [0, 5, 5.0, round(rng.uniform(0.1, 4.9), 2), round(rng.uniform(5.1, 3600), 1)]
    cases = [(s, t, c, d) for s in (True, False) for t in (True, False) for c in (True, False) for d in delays]
    rng.shuffle(cases)
    for args in cases:
        got, expected = choose_transport(*args), _expected(*args)
        names = ("server_to_server", "two_way", "long_connections_ok", "delay_ok_s")
        call = "choose_transport(" + ", ".join(f"{n}={v!r}" for n, v in zip(names, args, strict=True)) + ")"
        assert got in TRANSPORTS, f"{call} returned {got!r}; return one of {', '.join(map(repr, TRANSPORTS))}"
        assert got == expected, f"{call} should be {expected!r}; you returned {got!r}"
