# Reference answers for notebook 16.  Each section replaces the exercise cell's code.

# %% Exercise 16.1
from labs.core.sse import encode_event


async def notifications(hub):
    queue = hub.join()
    try:
        while True:
            message = await queue.get()  # waits without blocking the loop: every other stream runs on
            if message is None:  # the hub says the stream is over
                return
            yield encode_event(message)  # a line break in a message becomes several data: lines
    finally:  # the end, a cancellation (the reader left: http.disconnect) or aclose() at the yield
        hub.leave(queue)


# %% Exercise 16.2
import math


def readers_per_core(cpu_s, messages, readers, rate, headroom=0.7):
    deliveries_per_cpu_second = messages * readers / cpu_s  # one message to one reader
    return math.floor(headroom * deliveries_per_cpu_second / rate)
