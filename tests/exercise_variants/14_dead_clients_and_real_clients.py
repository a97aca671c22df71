# Other answers to the exercises of notebook 14, judged by tests/test_exercise_checks.py.
# Each section replaces the exercise cell's code, so it is self-contained (it imports what it
# uses). "correct" sections must be solved; "wrong" sections must be not solved or an error.

# %% Exercise 14.1 correct: httpx-sse, filtering on the event's name, resuming by hand
import json

import httpx
import httpx_sse


def read_messages(url, count, silence_s):
    messages, last_id = [], None
    with httpx.Client(timeout=httpx.Timeout(5.0, read=silence_s)) as client:
        while True:
            headers = {"Last-Event-ID": last_id} if last_id else {}
            try:
                with httpx_sse.connect_sse(client, "GET", url, headers=headers) as source:
                    for sse in source.iter_sse():
                        last_id = sse.id or last_id
                        if sse.event == "notify":  # a keep-alive is an empty "message" here
                            messages.append(json.loads(sse.data)["message"])
                            if len(messages) == count:
                                return messages
            except httpx.HTTPError:
                pass

# %% Exercise 14.1 correct: the standard library only, a socket timeout and a parser of its own
import http.client
import json
from urllib.parse import urlsplit


def read_messages(url, count, silence_s):
    parts = urlsplit(url)
    messages, last_id = [], ""
    while True:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=silence_s)
        try:
            connection.request("GET", parts.path, headers={"Last-Event-ID": last_id} if last_id else {})
            response = connection.getresponse()
            kind, data, pending_id = "", [], last_id
            while line := response.readline():
                line = line.decode().rstrip("\r\n")
                if not line:
                    last_id = pending_id
                    if kind == "notify" and data:
                        messages.append(json.loads("\n".join(data))["message"])
                        if len(messages) == count:
                            return messages
                    kind, data = "", []
                elif line.startswith("id:"):
                    pending_id = line[3:].strip()
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()

# %% Exercise 14.1 wrong: no watchdog at all (a stalled stream is waited on for ever)
import json

import requests

from labs.core.sse import EventStreamDecoder


def read_messages(url, count, silence_s):
    messages, last_id = [], None
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        decoder = EventStreamDecoder()
        try:
            with requests.get(url, headers=headers, stream=True, timeout=(5, None)) as response:
                for chunk in response.iter_content(chunk_size=None):
                    for event in decoder.feed(chunk):
                        if event.type == "notify":
                            messages.append(json.loads(event.data)["message"])
                            if len(messages) == count:
                                return messages
                    last_id = decoder.last_event_id or last_id
        except requests.RequestException:
            pass

# %% Exercise 14.1 wrong: the watchdog counts events only, so a quiet healthy stream is dropped
import json
import time

import requests

from labs.core.sse import EventStreamDecoder


def read_messages(url, count, silence_s):
    messages, last_id = [], None
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        decoder = EventStreamDecoder()
        last_event = time.monotonic()
        try:
            with requests.get(url, headers=headers, stream=True, timeout=(5, silence_s)) as response:
                for chunk in response.iter_content(chunk_size=None):
                    for event in decoder.feed(chunk):
                        last_event = time.monotonic()
                        if event.type == "notify":
                            messages.append(json.loads(event.data)["message"])
                            if len(messages) == count:
                                return messages
                    last_id = decoder.last_event_id or last_id
                    if time.monotonic() - last_event > silence_s:
                        break  # keep-alive comments are no events: "dead"
        except requests.RequestException:
            pass

# %% Exercise 14.1 wrong: reconnects without Last-Event-ID (what was published meanwhile is lost)
import json

import requests

from labs.core.sse import EventStreamDecoder


def read_messages(url, count, silence_s):
    messages = []
    while True:
        decoder = EventStreamDecoder()
        try:
            with requests.get(url, stream=True, timeout=(5, silence_s)) as response:
                for chunk in response.iter_content(chunk_size=None):
                    for event in decoder.feed(chunk):
                        if event.type == "notify":
                            messages.append(json.loads(event.data)["message"])
                            if len(messages) == count:
                                return messages
        except requests.RequestException:
            pass

# %% Exercise 14.1 wrong: a fixed 5 s watchdog, whatever silence_s says
import json

import requests

from labs.core.sse import EventStreamDecoder


def read_messages(url, count, silence_s):
    messages, last_id = [], None
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        decoder = EventStreamDecoder()
        try:
            with requests.get(url, headers=headers, stream=True, timeout=(5, 5.0)) as response:
                for chunk in response.iter_content(chunk_size=None):
                    for event in decoder.feed(chunk):
                        if event.type == "notify":
                            messages.append(json.loads(event.data)["message"])
                            if len(messages) == count:
                                return messages
                    last_id = decoder.last_event_id or last_id
        except requests.RequestException:
            pass

# %% Exercise 14.1 wrong: a watchdog three times too eager (a third of silence_s)
import json

import requests

from labs.core.sse import EventStreamDecoder


def read_messages(url, count, silence_s):
    messages, last_id = [], None
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        decoder = EventStreamDecoder()
        try:
            with requests.get(url, headers=headers, stream=True, timeout=(5, silence_s / 3)) as response:
                for chunk in response.iter_content(chunk_size=None):
                    for event in decoder.feed(chunk):
                        if event.type == "notify":
                            messages.append(json.loads(event.data)["message"])
                            if len(messages) == count:
                                return messages
                    last_id = decoder.last_event_id or last_id
        except requests.RequestException:
            pass

# %% Exercise 14.1 wrong: every event's raw data (the opening connected event's {} included)
import requests

from labs.core.sse import EventStreamDecoder


def read_messages(url, count, silence_s):
    messages, last_id = [], None
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        decoder = EventStreamDecoder()
        try:
            with requests.get(url, headers=headers, stream=True, timeout=(5, silence_s)) as response:
                for chunk in response.iter_content(chunk_size=None):
                    for event in decoder.feed(chunk):
                        messages.append(event.data)
                        if len(messages) == count:
                            return messages
                    last_id = decoder.last_event_id or last_id
        except requests.RequestException:
            pass

# %% Exercise 14.2 correct: the other end of every range (three keep-alives, all the budget allows)
def choose_timeouts(keepalive_s, outage_s, release_within_s):
    user_timeout_s = release_within_s - 2 * keepalive_s
    if user_timeout_s < outage_s:
        return None
    return 3 * keepalive_s, user_timeout_s

# %% Exercise 14.2 wrong: a watchdog of one keep-alive (a late keep-alive looks like death)
def choose_timeouts(keepalive_s, outage_s, release_within_s):
    if 2 * keepalive_s + outage_s > release_within_s:
        return None
    return keepalive_s, outage_s

# %% Exercise 14.2 wrong: a watchdog of four keep-alives (a stall noticed late)
def choose_timeouts(keepalive_s, outage_s, release_within_s):
    if 2 * keepalive_s + outage_s > release_within_s:
        return None
    return 4 * keepalive_s, outage_s

# %% Exercise 14.2 wrong: a user timeout shorter than the outage (the phone in the tunnel is cut)
def choose_timeouts(keepalive_s, outage_s, release_within_s):
    if 2 * keepalive_s + outage_s / 2 > release_within_s:
        return None
    return 2.5 * keepalive_s, outage_s / 2

# %% Exercise 14.2 wrong: one keep-alive forgotten in the budget (held up to one more interval)
def choose_timeouts(keepalive_s, outage_s, release_within_s):
    user_timeout_s = release_within_s - keepalive_s
    if user_timeout_s < outage_s:
        return None
    return 2.5 * keepalive_s, user_timeout_s

# %% Exercise 14.2 wrong: never None (promises what no setting can keep)
def choose_timeouts(keepalive_s, outage_s, release_within_s):
    return 2.5 * keepalive_s, outage_s

# %% Exercise 14.2 wrong: None too soon (counts three keep-alives where two are the most)
def choose_timeouts(keepalive_s, outage_s, release_within_s):
    if 3 * keepalive_s + outage_s > release_within_s:
        return None
    return 2.5 * keepalive_s, outage_s

# %% Exercise 14.2 wrong: the kit's defaults for every network
def choose_timeouts(keepalive_s, outage_s, release_within_s):
    return 2.5 * keepalive_s, 20
