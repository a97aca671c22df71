# Other answers to the exercises of notebook 05, judged by tests/test_exercise_checks.py.
# "correct" sections must be solved, "wrong" sections must not.

# %% Exercise 5.1 correct: a loop that remembers the cursor as it goes, returns a tuple built at the end
def messages_after(log, cursor):
    new, last = [], cursor
    for message in log:
        if message["id"] > cursor:
            new.append(message)
            last = message["id"]
    return (new, last)

# %% Exercise 5.1 correct: a list, not a tuple, and max() over the ids
def messages_after(log, cursor):
    new = [m for m in log if m["id"] > cursor]
    return [new, max([m["id"] for m in new], default=cursor)]

# %% Exercise 5.1 wrong: positions instead of ids (ids have gaps)
def messages_after(log, cursor):
    new = log[cursor:]
    return new, (new[-1]["id"] if new else cursor)

# %% Exercise 5.1 wrong: >= repeats the message the client already has
def messages_after(log, cursor):
    new = [m for m in log if m["id"] >= cursor]
    return new, (new[-1]["id"] if new else cursor)

# %% Exercise 5.1 wrong: the cursor goes back to 0 when there is nothing new
def messages_after(log, cursor):
    new = [m for m in log if m["id"] > cursor]
    return new, (new[-1]["id"] if new else 0)

# %% Exercise 5.1 wrong: only the texts, not the messages
def messages_after(log, cursor):
    new = [m for m in log if m["id"] > cursor]
    return [m["message"] for m in new], (new[-1]["id"] if new else cursor)

# %% Exercise 5.1 wrong: pops what it returns (reading must not consume)
def messages_after(log, cursor):
    new = [m for m in log if m["id"] > cursor]
    for m in new:
        log.remove(m)
    return new, (new[-1]["id"] if new else cursor)

# %% Exercise 5.1 wrong: hard-coded for the notebook's example log
def messages_after(log, cursor):
    return ([], 8) if cursor == 8 else (log, 8)

# %% Exercise 5.1 wrong: the new cursor is the first new message's id, not the last one's
def messages_after(log, cursor):
    new = [m for m in log if m["id"] > cursor]
    return new, (new[0]["id"] if new else cursor)

# %% Exercise 5.2 correct: written differently (0.5 * interval, 1 / e ** (rate * interval))
import math


def mean_delay(interval):
    return 0.5 * interval


def empty_share(interval, rate):
    return 1 / math.e ** (rate * interval)

# %% Exercise 5.2 correct: the mean of a uniform delay as an integral, computed numerically
def mean_delay(interval):
    steps = 10_000
    return sum((k + 0.5) * interval / steps for k in range(steps)) / steps


def empty_share(interval, rate):
    import math
    return math.exp(-rate * interval)

# %% Exercise 5.2 wrong: the worst delay, not the mean
import math


def mean_delay(interval):
    return interval


def empty_share(interval, rate):
    return math.exp(-rate * interval)

# %% Exercise 5.2 wrong: a linear guess for the empty share
def mean_delay(interval):
    return interval / 2


def empty_share(interval, rate):
    return max(0.0, 1 - rate * interval)

# %% Exercise 5.2 wrong: rate and interval the wrong way round
import math


def mean_delay(interval):
    return interval / 2


def empty_share(interval, rate):
    return math.exp(-interval / rate) if rate else 1.0

# %% Exercise 5.2 wrong: hard-coded from the notebook's table (every 2 s, one message a second)
def mean_delay(interval):
    return 1.01


def empty_share(interval, rate):
    return 0.135

# %% Exercise 5.3 correct: a Session, `if state["etag"]`, raise_for_status before the 304 test
import requests

_session = requests.Session()


def poll_once(url, state):
    headers = {}
    if state["etag"]:
        headers["If-None-Match"] = state["etag"]
    answer = _session.get(f"{url}/updates?since={state['cursor']}", headers=headers, timeout=5)
    answer.raise_for_status()  # 304 is not an error for raise_for_status
    if answer.status_code == 304:
        return []
    data = answer.json()
    state.update(cursor=data["cursor"], etag=answer.headers["ETag"])
    return data["messages"]

# %% Exercise 5.3 correct: urllib from the standard library (a 304 arrives as an HTTPError)
import json
import urllib.error
import urllib.request


def poll_once(url, state):
    request = urllib.request.Request(f"{url}/updates?since={state['cursor']}")
    if state.get("etag"):
        request.add_header("If-None-Match", state["etag"])
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            body = json.load(answer)
            state["etag"] = answer.headers["ETag"]
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return []
        raise
    state["cursor"] = body["cursor"]
    return body["messages"]

# %% Exercise 5.3 wrong: never sends If-None-Match (every poll is a full 200)
import requests


def poll_once(url, state):
    response = requests.get(url + "/updates", params={"since": state["cursor"]}, timeout=5)
    response.raise_for_status()
    body = response.json()
    state["cursor"] = body["cursor"]
    state["etag"] = response.headers.get("ETag")
    return body["messages"]

# %% Exercise 5.3 wrong: forgets to move the cursor (the same messages come back)
import requests


def poll_once(url, state):
    headers = {"If-None-Match": state["etag"]} if state.get("etag") else {}
    response = requests.get(url + "/updates", params={"since": state["cursor"]}, headers=headers, timeout=5)
    if response.status_code == 304:
        return []
    response.raise_for_status()
    state["etag"] = response.headers.get("ETag")
    return response.json()["messages"]

# %% Exercise 5.3 wrong: swallows errors (a 400 becomes "nothing new")
import requests


def poll_once(url, state):
    headers = {"If-None-Match": state["etag"]} if state.get("etag") else {}
    response = requests.get(url + "/updates", params={"since": state["cursor"]}, headers=headers, timeout=5)
    if response.status_code != 200:
        return []
    body = response.json()
    state["cursor"] = body["cursor"]
    state["etag"] = response.headers.get("ETag")
    return body["messages"]

# %% Exercise 5.3 wrong: returns the texts instead of the message dicts
import requests


def poll_once(url, state):
    headers = {"If-None-Match": state["etag"]} if state.get("etag") else {}
    response = requests.get(url + "/updates", params={"since": state["cursor"]}, headers=headers, timeout=5)
    if response.status_code == 304:
        return []
    response.raise_for_status()
    body = response.json()
    state["cursor"] = body["cursor"]
    state["etag"] = response.headers.get("ETag")
    return [m["message"] for m in body["messages"]]

# %% Exercise 5.3 wrong: hard-coded answers, no request at all
def poll_once(url, state):
    state["cursor"] += 2
    state["etag"] = "x"
    return [{"id": 1, "message": "a"}, {"id": 2, "message": "b <i>markup</i>"}]

# %% Exercise 5.3 wrong: always asks since=0 (state["cursor"] is stored but never sent), so old messages come back
import requests


def poll_once(url, state):
    headers = {"If-None-Match": state["etag"]} if state.get("etag") else {}
    response = requests.get(url + "/updates", params={"since": 0}, headers=headers, timeout=10)
    if response.status_code == 304:
        return []
    response.raise_for_status()
    body = response.json()
    state["cursor"] = body["cursor"]
    state["etag"] = response.headers.get("ETag")
    return body["messages"]

# %% Exercise 5.3 wrong: stores the cursor but not the answer's ETag (so it can never send one)
import requests


def poll_once(url, state):
    headers = {"If-None-Match": state["etag"]} if state.get("etag") else {}
    response = requests.get(url + "/updates", params={"since": state["cursor"]}, headers=headers, timeout=10)
    if response.status_code == 304:
        return []
    response.raise_for_status()
    body = response.json()
    state["cursor"] = body["cursor"]
    return body["messages"]

# %% Exercise 5.3 wrong: returns None on a 304, not []
import requests


def poll_once(url, state):
    headers = {"If-None-Match": state["etag"]} if state.get("etag") else {}
    response = requests.get(url + "/updates", params={"since": state["cursor"]}, headers=headers, timeout=10)
    if response.status_code == 304:
        return None
    response.raise_for_status()
    body = response.json()
    state["cursor"] = body["cursor"]
    state["etag"] = response.headers.get("ETag")
    return body["messages"]
