# Other answers to the exercises of notebook 06, judged by tests/test_exercise_checks.py.
# "correct" sections must be solved, "wrong" sections must not.

# %% Exercise 6.1 correct: a busy wait (check, sleep a little, check again) without holding the lock
import time


def wait_for_news(box, since, timeout):
    deadline = time.monotonic() + timeout
    while True:
        news = [m for m in box.messages if m["id"] > since]
        if news or time.monotonic() >= deadline:
            return news
        time.sleep(0.01)

# %% Exercise 6.1 correct: Condition.wait in a loop with a deadline (what wait_for does inside)
import time


def wait_for_news(box, since, timeout):
    deadline = time.monotonic() + timeout
    with box.changed:
        while True:
            news = [m for m in box.messages if m["id"] > since]
            remaining = deadline - time.monotonic()
            if news or remaining <= 0:
                return news
            box.changed.wait(remaining)

# %% Exercise 6.1 wrong: positions instead of ids (the box's ids do not start at 1)
def wait_for_news(box, since, timeout):
    with box.changed:
        box.changed.wait_for(lambda: len(box.messages) > since, timeout)
        return box.messages[since:]

# %% Exercise 6.1 wrong: waits even when the news is already there
def wait_for_news(box, since, timeout):
    with box.changed:
        box.changed.wait(timeout)
        return [m for m in box.messages if m["id"] > since]

# %% Exercise 6.1 wrong: never waits (a short poll)
def wait_for_news(box, since, timeout):
    return [m for m in box.messages if m["id"] > since]

# %% Exercise 6.1 wrong: sleeps through the timeout instead of waking on a publish
import time


def wait_for_news(box, since, timeout):
    news = [m for m in box.messages if m["id"] > since]
    if not news:
        time.sleep(timeout)
        news = [m for m in box.messages if m["id"] > since]
    return news

# %% Exercise 6.1 wrong: a busy wait that keeps the lock, so nobody can publish
import time


def wait_for_news(box, since, timeout):
    deadline = time.monotonic() + timeout
    with box.changed:
        while time.monotonic() < deadline:
            news = [m for m in box.messages if m["id"] > since]
            if news:
                return news
            time.sleep(0.01)
        return []

# %% Exercise 6.1 wrong: returns every message, old ones included
def wait_for_news(box, since, timeout):
    with box.changed:
        box.changed.wait_for(lambda: box.messages[-1]["id"] > since, timeout)
        return list(box.messages)

# %% Exercise 6.1 wrong: None at the timeout, not []
def wait_for_news(box, since, timeout):
    with box.changed:
        if box.changed.wait_for(lambda: bool(box.messages) and box.messages[-1]["id"] > since, timeout):
            return [m for m in box.messages if m["id"] > since]
        return None

# %% Exercise 6.2 correct: plain requests.get, params in the URL, a for loop with a break
import requests


def follow(url, since, count):
    texts = []
    for _ in range(1000):
        body = requests.get(f"{url}/updates?since={since}&timeout=5", timeout=10).json()
        texts.extend(message["message"] for message in body["messages"])
        since = body["cursor"]
        if len(texts) >= count:
            break
    return texts, since

# %% Exercise 6.2 correct: urllib, a longer timeout, a tuple built from a list
import json
import urllib.request


def follow(url, since, count):
    got = []
    while len(got) < count:
        with urllib.request.urlopen(f"{url}/updates?since={since}&timeout=20", timeout=30) as answer:
            body = json.load(answer)
        got += [m["message"] for m in body["messages"]]
        since = body["cursor"]
    return (got, since)

# %% Exercise 6.2 wrong: no timeout parameter with timeout=0: a short poll in a tight loop
import requests


def follow(url, since, count):
    got, cursor = [], since
    while len(got) < count:
        body = requests.get(url + "/updates", params={"since": cursor, "timeout": 0}, timeout=10).json()
        got += [m["message"] for m in body["messages"]]
        cursor = body["cursor"]
    return got, cursor

# %% Exercise 6.2 wrong: never moves the cursor (messages repeat)
import requests


def follow(url, since, count):
    got = []
    while len(got) < count:
        body = requests.get(url + "/updates", params={"since": since, "timeout": 5}, timeout=10).json()
        got += [m["message"] for m in body["messages"]]
    return got, body["cursor"]

# %% Exercise 6.2 wrong: returns the message dicts, not the texts
import requests


def follow(url, since, count):
    got, cursor = [], since
    while len(got) < count:
        body = requests.get(url + "/updates", params={"since": cursor, "timeout": 5}, timeout=10).json()
        got += body["messages"]
        cursor = body["cursor"]
    return got, cursor

# %% Exercise 6.2 wrong: ignores `since` and starts from 0 (old messages come back)
import requests


def follow(url, since, count):
    got, cursor = [], 0
    while len(got) < count:
        body = requests.get(url + "/updates", params={"since": cursor, "timeout": 5}, timeout=10).json()
        got += [m["message"] for m in body["messages"]]
        cursor = body["cursor"]
    return got, cursor

# %% Exercise 6.2 wrong: the notes' blocking queue.get() with no timeout: hangs
import queue


def follow(url, since, count):
    q = queue.Queue()
    return [q.get() for _ in range(count)], since

# %% Exercise 6.2 wrong: hard-coded texts from the notebook's old check
def follow(url, since, count):
    return [f"step {i} <b>?</b>" for i in range(count)], since + count

# %% Exercise 6.2 wrong: returns the `since` it was given as the cursor, not the last answer's
import requests


def follow(url, since, count):
    cursor, got = since, []
    while len(got) < count:
        body = requests.get(url + "/updates", params={"since": cursor, "timeout": 5}, timeout=15).json()
        got += [m["message"] for m in body["messages"]]
        cursor = body["cursor"]
    return got, since

# %% Exercise 6.3 correct: whole numbers, rounded, and `if timeout` first
def requests_per_hour(messages, interval=None, timeout=None):
    if timeout:
        return round(3600 / timeout) + messages
    return round(3600 / interval)

# %% Exercise 6.3 correct: seconds in an hour as a constant, integer division
HOUR = 60 * 60


def requests_per_hour(messages, interval=None, timeout=None):
    if interval is None:
        return HOUR // timeout + messages
    return HOUR // interval

# %% Exercise 6.3 wrong: short polling counted per message too
def requests_per_hour(messages, interval=None, timeout=None):
    if interval is not None:
        return 3600 / interval + messages
    return 3600 / timeout + messages

# %% Exercise 6.3 wrong: long polling without the extra request per message
def requests_per_hour(messages, interval=None, timeout=None):
    if interval is not None:
        return 3600 / interval
    return 3600 / timeout

# %% Exercise 6.3 wrong: hard-coded numbers from the notebook's examples
def requests_per_hour(messages, interval=None, timeout=None):
    return 720 if interval else 156

# %% Exercise 6.3 wrong: long polling counts only the requests that messages end, not the idle ones
def requests_per_hour(messages, interval=None, timeout=None):
    if interval is not None:
        return 3600 / interval
    return messages
