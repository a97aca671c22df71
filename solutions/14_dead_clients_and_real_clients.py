# Reference answers for notebook 14.  Each section replaces the exercise cell's code.

# %% Exercise 14.1
import json

import requests

from labs.core.sse import EventStreamDecoder


def read_messages(url, count, silence_s):
    messages, last_id = [], None
    while True:
        headers = {"Accept": "text/event-stream"}
        if last_id:
            headers["Last-Event-ID"] = last_id  # where we stood: the lab replays what came after
        decoder = EventStreamDecoder()
        try:
            # The read timeout is the watchdog: it fires when no byte at all, not even a
            # keep-alive comment, has arrived for silence_s seconds.
            with requests.get(url, headers=headers, stream=True, timeout=(5, silence_s)) as response:
                for chunk in response.iter_content(chunk_size=None):
                    for event in decoder.feed(chunk):
                        if event.type == "notify":
                            messages.append(json.loads(event.data)["message"])
                            if len(messages) == count:
                                return messages
                    last_id = decoder.last_event_id or last_id
        except requests.RequestException:
            pass  # silent for too long, or cut: go round again, from where we stood

# %% Exercise 14.2
def choose_timeouts(keepalive_s, outage_s, release_within_s):
    watchdog_s = 2.5 * keepalive_s  # between 2 and 3 keep-alives: late is not dead, stalled is soon seen
    user_timeout_s = outage_s  # the least that keeps a phone through its outage
    if 2 * keepalive_s + user_timeout_s > release_within_s:
        return None  # even the least is too slow to let a vanished reader go in time
    return watchdog_s, user_timeout_s
