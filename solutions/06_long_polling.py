# Reference answers for notebook 06.  Each section replaces the exercise cell's code.

# %% Exercise 6.1
def wait_for_news(box, since, timeout):
    with box.changed:
        # wait_for re-checks after every wake-up (and before the first wait), so news
        # that is already there returns at once and a wake-up for nothing new sleeps on.
        box.changed.wait_for(lambda: bool(box.messages) and box.messages[-1]["id"] > since, timeout)
        return [m for m in box.messages if m["id"] > since]

# %% Exercise 6.2
import requests


def follow(url, since, count):
    session = requests.Session()  # one connection, reused by every request
    cursor, got = since, []
    while len(got) < count:
        response = session.get(url + "/updates", params={"since": cursor, "timeout": 5}, timeout=15)
        response.raise_for_status()
        body = response.json()
        got += [m["message"] for m in body["messages"]]
        cursor = body["cursor"]  # an empty (timed-out) answer keeps the same cursor
    return got, cursor

# %% Exercise 6.3
def requests_per_hour(messages, interval=None, timeout=None):
    if interval is not None:
        return 3600 / interval  # short polling asks on the timer, news or not
    # Long polling: one request per timeout while idle, and each message ends a held
    # request early, so it costs one more.
    return 3600 / timeout + messages
