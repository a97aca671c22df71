# Other answers to notebook 16's exercises: correct ones the checks must accept, wrong ones they must reject.

# %% Exercise 16.1 correct: bytes, lines written by hand, cleanup in an outer try around join's use
async def notifications(hub):
    queue = hub.join()
    try:
        message = await queue.get()
        while message is not None:
            lines = "".join(f"data: {line}\n" for line in message.split("\n"))
            yield (lines + "\n").encode()
            message = await queue.get()
    finally:
        hub.leave(queue)


# %% Exercise 16.1 wrong: a line break in a message is written as is (the second line is no data: line)
async def notifications(hub):
    queue = hub.join()
    try:
        while (message := await queue.get()) is not None:
            yield f"data: {message}\n\n"
    finally:
        hub.leave(queue)


# %% Exercise 16.1 wrong: None is sent as a message instead of ending the stream
from labs.core.sse import encode_event


async def notifications(hub):
    queue = hub.join()
    try:
        while True:
            message = await queue.get()
            yield encode_event(str(message))
    finally:
        hub.leave(queue)


# %% Exercise 16.1 wrong: polls the queue with time.sleep (the event loop, every stream, stands still)
import time

from labs.core.sse import encode_event


async def notifications(hub):
    queue = hub.join()
    try:
        while True:
            while queue.empty():
                time.sleep(0.05)
            message = queue.get_nowait()
            if message is None:
                return
            yield encode_event(message)
    finally:
        hub.leave(queue)


# %% Exercise 16.1 wrong: leaves only after a normal end (a reader that left keeps its queue)
from labs.core.sse import encode_event


async def notifications(hub):
    queue = hub.join()
    while True:
        message = await queue.get()
        if message is None:
            break
        yield encode_event(message)
    hub.leave(queue)


# %% Exercise 16.1 wrong: swallows the cancellation and returns quietly (the task ends as if finished)
import asyncio

from labs.core.sse import encode_event


async def notifications(hub):
    queue = hub.join()
    try:
        while True:
            message = await queue.get()
            if message is None:
                break
            yield encode_event(message)
    except asyncio.CancelledError:
        pass
    hub.leave(queue)


# %% Exercise 16.1 wrong: cleans up on CancelledError only (aclose() at the yield is GeneratorExit: no leave)
import asyncio

from labs.core.sse import encode_event


async def notifications(hub):
    queue = hub.join()
    try:
        while True:
            message = await queue.get()
            if message is None:
                hub.leave(queue)
                return
            yield encode_event(message)
    except asyncio.CancelledError:
        hub.leave(queue)
        raise


# %% Exercise 16.1 wrong: leaves twice (in finally, and again at the end)
from labs.core.sse import encode_event


async def notifications(hub):
    queue = hub.join()
    try:
        while True:
            message = await queue.get()
            if message is None:
                hub.leave(queue)
                return
            yield encode_event(message)
    finally:
        hub.leave(queue)


# %% Exercise 16.1 wrong: a plain generator (def, not async def) cannot await the queue
from labs.core.sse import encode_event


def notifications(hub):
    queue = hub.join()
    try:
        while True:
            message = queue.get_nowait()
            if message is None:
                return
            yield encode_event(message)
    finally:
        hub.leave(queue)


# %% Exercise 16.2 correct: integer division of the rounded-down whole, in another order
def readers_per_core(cpu_s, messages, readers, rate, headroom=0.7):
    per_reader_cpu_s = cpu_s / (messages * readers) * rate  # CPU seconds one reader costs per second
    return int(headroom / per_reader_cpu_s // 1)


# %% Exercise 16.2 wrong: all of the core (headroom ignored)
import math


def readers_per_core(cpu_s, messages, readers, rate, headroom=0.7):
    return math.floor(messages * readers / (cpu_s * rate))


# %% Exercise 16.2 wrong: rounded to the nearest reader, not down
def readers_per_core(cpu_s, messages, readers, rate, headroom=0.7):
    return round(headroom * messages * readers / (cpu_s * rate))


# %% Exercise 16.2 wrong: the rate forgotten (readers at one message a second)
import math


def readers_per_core(cpu_s, messages, readers, rate, headroom=0.7):
    return math.floor(headroom * messages * readers / cpu_s)


# %% Exercise 16.2 wrong: the notebook's figure for manual_sse, whatever the inputs
def readers_per_core(cpu_s, messages, readers, rate, headroom=0.7):
    return 2272
