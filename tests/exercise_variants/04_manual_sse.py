# Other answers to the exercises of notebook 04, judged by tests/test_exercise_checks.py.
# "correct" sections must be solved, "wrong" sections must not.

# %% Exercise 4.1 correct: frames written by hand, isdigit() instead of try/int, bytes returned
import json


def replay_text(history, forgotten, last_event_id):
    if last_event_id is None:
        return b""
    known = last_event_id.isdigit()
    last = int(last_event_id) if known else -1
    out = ""
    if not known or last < forgotten:
        out += "event: gap\ndata: " + json.dumps({"last_event_id": last_event_id, "forgotten": forgotten}) + "\n\n"
    for ident, text in sorted(history.items()):
        if ident > last:
            out += f"id: {ident}\nevent: notify\ndata: {json.dumps({'message': text})}\n\n"
    return out.encode()

# %% Exercise 4.1 correct: a list of events first, encoded at the end; the gap carries an id too
import json

from labs.core.sse import encode_event, encode_json_event


def replay_text(history, forgotten, last_event_id):
    if last_event_id is None:
        return ""
    try:
        last = int(last_event_id)
        lost = last < forgotten
    except ValueError:
        last, lost = float("-inf"), True
    newer = [ident for ident in sorted(history) if ident > last]
    blocks = []
    if lost:
        blocks.append(encode_json_event({"last_event_id": last_event_id}, event="gap", id=forgotten))
    blocks += [encode_event(json.dumps({"message": history[i]}), event="notify", id=str(i)) for i in newer]
    return "".join(blocks)


# %% Exercise 4.1 wrong: keeps the dict's order instead of sorting by id
from labs.core.sse import encode_json_event


def replay_text(history, forgotten, last_event_id):
    if last_event_id is None:
        return ""
    try:
        last = int(last_event_id)
    except ValueError:
        last = None
    out = ""
    if last is None or last < forgotten:
        out += encode_json_event({"last_event_id": last_event_id}, event="gap")
    for ident, text in history.items():
        if last is None or ident > last:
            out += encode_json_event({"message": text}, event="notify", id=ident)
    return out

# %% Exercise 4.1 wrong: thinks ids are consecutive (a gap whenever the id is below the oldest kept - 1)
from labs.core.sse import encode_json_event


def replay_text(history, forgotten, last_event_id):
    if last_event_id is None:
        return ""
    try:
        last = int(last_event_id)
    except ValueError:
        last = None
    oldest = min(history)
    out = ""
    if last is None or last < oldest - 1:
        out += encode_json_event({"last_event_id": last_event_id}, event="gap")
    for ident in sorted(history):
        if last is None or ident > last:
            out += encode_json_event({"message": history[ident]}, event="notify", id=ident)
    return out

# %% Exercise 4.1 wrong: the message as plain data, not JSON (a newline in it breaks the event)
def replay_text(history, forgotten, last_event_id):
    if last_event_id is None:
        return ""
    last = int(last_event_id) if last_event_id.isdigit() else -1
    out = ""
    if last < forgotten:
        out += f'event: gap\ndata: {{"last_event_id": "{last_event_id}"}}\n\n'
    for ident in sorted(history):
        if ident > last:
            out += f"event: notify\nid: {ident}\ndata: {history[ident]}\n\n"
    return out

# %% Exercise 4.1 wrong: >= sends again the message the reader already has
from labs.core.sse import encode_json_event


def replay_text(history, forgotten, last_event_id):
    if last_event_id is None:
        return ""
    last = int(last_event_id) if last_event_id.isdigit() else -1
    out = encode_json_event({"last_event_id": last_event_id}, event="gap") if last < forgotten else ""
    for ident in sorted(history):
        if ident >= last:
            out += encode_json_event({"message": history[ident]}, event="notify", id=ident)
    return out

# %% Exercise 4.1 wrong: int() on any header, so a header that is not a number crashes the server
from labs.core.sse import encode_json_event


def replay_text(history, forgotten, last_event_id):
    if last_event_id is None:
        return ""
    last = int(last_event_id)
    out = encode_json_event({"last_event_id": last_event_id}, event="gap") if last < forgotten else ""
    for ident in sorted(history):
        if ident > last:
            out += encode_json_event({"message": history[ident]}, event="notify", id=ident)
    return out

# %% Exercise 4.1 wrong: no ids on the replayed events (the browser's lastEventId would not move)
from labs.core.sse import encode_json_event


def replay_text(history, forgotten, last_event_id):
    if last_event_id is None:
        return ""
    last = int(last_event_id) if last_event_id.isdigit() else -1
    out = encode_json_event({"last_event_id": last_event_id}, event="gap") if last < forgotten else ""
    for ident in sorted(history):
        if ident > last:
            out += encode_json_event({"message": history[ident]}, event="notify")
    return out

# %% Exercise 4.1 wrong: hard-coded text
def replay_text(history, forgotten, last_event_id):
    if last_event_id is None:
        return ""
    return 'event: notify\nid: 6\ndata: {"message": "f"}\n\n'

# %% Exercise 4.1 wrong: never sends a gap event, even to a reader whose id is below `forgotten`
from labs.core.sse import encode_json_event


def replay_text(history, forgotten, last_event_id):
    if last_event_id is None:
        return ""
    try:
        last = int(last_event_id)
    except ValueError:
        last = float("-inf")
    return "".join(encode_json_event({"message": history[i]}, event="notify", id=i)
                   for i in sorted(history) if i > last)

# %% Exercise 4.1 wrong: a header that is not a number is taken for a new reader (nothing), not the worst case
from labs.core.sse import encode_json_event


def replay_text(history, forgotten, last_event_id):
    if last_event_id is None or not last_event_id.isdigit():
        return ""
    last = int(last_event_id)
    parts = [encode_json_event({"last_event_id": last_event_id}, event="gap")] if last < forgotten else []
    parts += [encode_json_event({"message": history[i]}, event="notify", id=i) for i in sorted(history) if i > last]
    return "".join(parts)

# %% Exercise 4.1 wrong: the gap event carries the id as a number, not the header as it came
from labs.core.sse import encode_json_event


def replay_text(history, forgotten, last_event_id):
    if last_event_id is None:
        return ""
    try:
        last = int(last_event_id)
    except ValueError:
        last = None
    parts = []
    if last is None or last < forgotten:
        parts.append(encode_json_event({"last_event_id": last if last is not None else last_event_id}, event="gap"))
    parts += [encode_json_event({"message": history[i]}, event="notify", id=i)
              for i in sorted(history) if last is None or i > last]
    return "".join(parts)

# %% Exercise 4.1 wrong: a new reader (no header) gets the whole history, not nothing
from labs.core.sse import encode_json_event


def replay_text(history, forgotten, last_event_id):
    try:
        last = int(last_event_id) if last_event_id is not None else 0
    except ValueError:
        last = None
    parts = []
    if last_event_id is not None and (last is None or last < forgotten):
        parts.append(encode_json_event({"last_event_id": last_event_id}, event="gap"))
    parts += [encode_json_event({"message": history[i]}, event="notify", id=i)
              for i in sorted(history) if last is None or i > last]
    return "".join(parts)

# %% Exercise 4.2 correct: SimpleQueue, acquire/release, frames written by hand
import json
import queue


def notify_stream(subscribers, lock):
    q = queue.SimpleQueue()
    lock.acquire()
    subscribers.add(q)
    lock.release()
    try:
        yield ": connected\n\n"
        while True:
            message = q.get()
            yield "event: notify\ndata: " + json.dumps({"message": message}) + "\n\n"
    finally:
        lock.acquire()
        try:
            subscribers.remove(q)
        finally:
            lock.release()

# %% Exercise 4.2 correct: registers inside the try, keep-alives while the queue is empty
import queue

from labs.core.sse import encode_event, encode_json_event, keep_alive


def notify_stream(subscribers, lock):
    q = queue.Queue()
    try:
        with lock:
            subscribers.add(q)
        yield encode_event(comment="connected")
        while True:
            try:
                message = q.get(timeout=0.2)
            except queue.Empty:
                yield keep_alive()
                continue
            yield encode_json_event({"message": message}, event="notify")
    finally:
        with lock:
            subscribers.discard(q)

# %% Exercise 4.2 wrong: cleans up after the loop, which never ends (no finally)
import queue

from labs.core.sse import encode_event, encode_json_event


def notify_stream(subscribers, lock):
    q = queue.Queue()
    with lock:
        subscribers.add(q)
    yield encode_event(comment="connected")
    while True:
        yield encode_json_event({"message": q.get()}, event="notify")
    with lock:
        subscribers.discard(q)

# %% Exercise 4.2 wrong: cleans up on GeneratorExit only, so a failed write leaks the queue
import queue

from labs.core.sse import encode_event, encode_json_event


def notify_stream(subscribers, lock):
    q = queue.Queue()
    with lock:
        subscribers.add(q)
    try:
        yield encode_event(comment="connected")
        while True:
            yield encode_json_event({"message": q.get()}, event="notify")
    except GeneratorExit:
        with lock:
            subscribers.discard(q)
        raise

# %% Exercise 4.2 wrong: one queue shared by every stream
import queue

from labs.core.sse import encode_event, encode_json_event

shared = queue.Queue()


def notify_stream(subscribers, lock):
    with lock:
        subscribers.add(shared)
    try:
        yield encode_event(comment="connected")
        while True:
            yield encode_json_event({"message": shared.get()}, event="notify")
    finally:
        with lock:
            subscribers.discard(shared)

# %% Exercise 4.2 wrong: changes the set without the lock
import queue

from labs.core.sse import encode_event, encode_json_event


def notify_stream(subscribers, lock):
    q = queue.Queue()
    subscribers.add(q)
    try:
        yield encode_event(comment="connected")
        while True:
            yield encode_json_event({"message": q.get()}, event="notify")
    finally:
        subscribers.discard(q)

# %% Exercise 4.2 wrong: waits for the first message before yielding anything
import queue

from labs.core.sse import encode_json_event


def notify_stream(subscribers, lock):
    q = queue.Queue()
    with lock:
        subscribers.add(q)
    try:
        while True:
            yield encode_json_event({"message": q.get()}, event="notify")
    finally:
        with lock:
            subscribers.discard(q)

# %% Exercise 4.2 wrong: swallows a failed write and carries on
import queue

from labs.core.sse import encode_event, encode_json_event


def notify_stream(subscribers, lock):
    q = queue.Queue()
    with lock:
        subscribers.add(q)
    try:
        yield encode_event(comment="connected")
        while True:
            try:
                yield encode_json_event({"message": q.get()}, event="notify")
            except OSError:
                continue
    finally:
        with lock:
            subscribers.discard(q)

# %% Exercise 4.2 wrong: hard-coded events
import queue


def notify_stream(subscribers, lock):
    q = queue.Queue()
    with lock:
        subscribers.add(q)
    try:
        yield ": connected\n\n"
        while True:
            yield 'event: notify\ndata: {"message": "hi"}\n\n'
    finally:
        with lock:
            subscribers.discard(q)

# %% Exercise 4.2 wrong: ends after the first message instead of going on while the reader stays
import queue

from labs.core.sse import encode_event, encode_json_event


def notify_stream(subscribers, lock):
    q = queue.Queue()
    with lock:
        subscribers.add(q)
    try:
        yield encode_event(comment="connected")
        yield encode_json_event({"message": q.get()}, event="notify")
    finally:
        with lock:
            subscribers.discard(q)

# %% Exercise 4.3 correct: get(True, timeout), a comment and the event written by hand
import json
import queue


def next_chunk(q, keepalive_seconds):
    try:
        return "event: notify\ndata: {}\n\n".format(json.dumps({"message": q.get(True, keepalive_seconds)}))
    except queue.Empty:
        return ": ping\n\n"

# %% Exercise 4.3 correct: polls the queue every 20 ms until the time is up
import queue
import time

from labs.core.sse import encode_json_event, keep_alive


def next_chunk(q, keepalive_seconds):
    deadline = time.monotonic() + keepalive_seconds
    while time.monotonic() < deadline:
        try:
            return encode_json_event({"message": q.get_nowait()}, event="notify")
        except queue.Empty:
            time.sleep(0.02)
    return keep_alive("nothing new")

# %% Exercise 4.3 wrong: does not wait at all
import queue

from labs.core.sse import encode_json_event, keep_alive


def next_chunk(q, keepalive_seconds):
    try:
        return encode_json_event({"message": q.get_nowait()}, event="notify")
    except queue.Empty:
        return keep_alive()

# %% Exercise 4.3 wrong: sleeps the whole time, then looks
import queue
import time

from labs.core.sse import encode_json_event, keep_alive


def next_chunk(q, keepalive_seconds):
    time.sleep(keepalive_seconds)
    try:
        return encode_json_event({"message": q.get_nowait()}, event="notify")
    except queue.Empty:
        return keep_alive()

# %% Exercise 4.3 wrong: waits for ever on an empty queue
from labs.core.sse import encode_json_event


def next_chunk(q, keepalive_seconds):
    return encode_json_event({"message": q.get()}, event="notify")

# %% Exercise 4.3 wrong: the keep-alive is an event, which the page would receive
import queue

from labs.core.sse import encode_json_event


def next_chunk(q, keepalive_seconds):
    try:
        return encode_json_event({"message": q.get(timeout=keepalive_seconds)}, event="notify")
    except queue.Empty:
        return "data: keep-alive\n\n"

# %% Exercise 4.3 wrong: empties the whole queue into one chunk
import queue

from labs.core.sse import encode_json_event, keep_alive


def next_chunk(q, keepalive_seconds):
    try:
        chunk = encode_json_event({"message": q.get(timeout=keepalive_seconds)}, event="notify")
    except queue.Empty:
        return keep_alive()
    while not q.empty():
        chunk += encode_json_event({"message": q.get()}, event="notify")
    return chunk

# %% Exercise 4.3 wrong: hard-coded
def next_chunk(q, keepalive_seconds):
    return ": keep-alive\n\n"

# %% Exercise 4.4 correct: as the notes write it (request.json, debug=True), the manual stream on Redis pub/sub
"""app.py, the notes' way: the manual stream listens to the same Redis channel flask-sse uses."""
import json
import os

import redis
from flask import Flask, Response, jsonify, render_template, request
from flask_sse import sse

app = Flask(__name__)
app.config["REDIS_URL"] = os.getenv("REDIS_URL", "redis://localhost:6379")
app.register_blueprint(sse, url_prefix="/stream")


@app.route("/")
def home():
    return render_template("index.html")


@app.route("/send_notification", methods=["POST"])
def notify():
    data = request.json
    message = data.get("message", "")
    if not message:
        return jsonify(status="error", message="No message provided"), 400
    with app.app_context():
        sse.publish({"message": message}, type="notify")
    return jsonify(status="success", message="Notification sent")


@app.route("/manual-stream")
def manual_stream():
    def generate():
        pubsub = redis.Redis.from_url(app.config["REDIS_URL"]).pubsub()
        pubsub.subscribe("sse")
        open_streams.append(pubsub)
        try:
            yield ": subscribed\n\n"
            for item in pubsub.listen():
                if item["type"] != "message":
                    continue
                published = json.loads(item["data"])
                yield f"event: {published['type']}\ndata: {json.dumps(published['data'])}\n\n"
        finally:
            open_streams.remove(pubsub)
            pubsub.close()

    return Response(generate(), mimetype="text/event-stream")


open_streams = []  # list.append and list.remove are atomic: no lock needed for a count


@app.route("/stats")
def stats():
    return {"clients": len(open_streams)}


if __name__ == "__main__":
    app.run(debug=True, port=int(os.getenv("PORT", 5000)))

# %% Exercise 4.4 wrong: one queue shared by every manual reader (the notes' ten-line version)
import os
import queue

from flask import Flask, Response, jsonify, request
from flask_sse import sse

from labs.core.sse import encode_json_event

app = Flask(__name__)
app.config["REDIS_URL"] = os.getenv("REDIS_URL", "redis://localhost:6379")
app.register_blueprint(sse, url_prefix="/stream")
updates = queue.Queue()


@app.post("/send_notification")
def send_notification():
    message = (request.get_json(silent=True) or {}).get("message")
    if not message:
        return jsonify(error="no message"), 400
    sse.publish({"message": message}, type="notify")
    updates.put(message)
    return jsonify(status="success")


@app.get("/manual-stream")
def manual_stream():
    def generate():
        yield ": connected\n\n"
        while True:
            yield encode_json_event({"message": updates.get()}, event="notify")
    return Response(generate(), mimetype="text/event-stream")


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.getenv("PORT", "5000")))

# %% Exercise 4.4 wrong: the "manual" route is flask-sse's stream again
import os

from flask import Flask, jsonify, request
from flask_sse import sse

app = Flask(__name__)
app.config["REDIS_URL"] = os.getenv("REDIS_URL", "redis://localhost:6379")
app.register_blueprint(sse, url_prefix="/stream")


@app.post("/send_notification")
def send_notification():
    message = (request.get_json(silent=True) or {}).get("message")
    if not message:
        return jsonify(error="no message"), 400
    sse.publish({"message": message}, type="notify")
    return jsonify(status="success")


@app.get("/manual-stream")
def manual_stream():
    return sse.stream()


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.getenv("PORT", "5000")))

# %% Exercise 4.4 wrong: publishes without an event type, so readers get `message` events
import os
import queue
import threading

from flask import Flask, Response, jsonify, request
from flask_sse import sse

from labs.core.sse import encode_event, encode_json_event

app = Flask(__name__)
app.config["REDIS_URL"] = os.getenv("REDIS_URL", "redis://localhost:6379")
app.register_blueprint(sse, url_prefix="/stream")
readers, lock = set(), threading.Lock()


@app.post("/send_notification")
def send_notification():
    message = (request.get_json(silent=True) or {}).get("message")
    if not message:
        return jsonify(error="no message"), 400
    sse.publish({"message": message})
    with lock:
        for q in readers:
            q.put(message)
    return jsonify(status="success")


@app.get("/manual-stream")
def manual_stream():
    def generate():
        q = queue.Queue()
        with lock:
            readers.add(q)
        try:
            yield encode_event(comment="connected")
            while True:
                yield encode_json_event({"message": q.get()})
        finally:
            with lock:
                readers.discard(q)
    return Response(generate(), mimetype="text/event-stream")


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.getenv("PORT", "5000")))

# %% Exercise 4.4 wrong: Redis hard-coded at localhost:6379 instead of REDIS_URL
import os
import queue
import threading

from flask import Flask, Response, jsonify, request
from flask_sse import sse

from labs.core.sse import encode_event, encode_json_event

app = Flask(__name__)
app.config["REDIS_URL"] = "redis://localhost:6379"
app.register_blueprint(sse, url_prefix="/stream")
readers, lock = set(), threading.Lock()


@app.post("/send_notification")
def send_notification():
    message = (request.get_json(silent=True) or {}).get("message")
    if not message:
        return jsonify(error="no message"), 400
    sse.publish({"message": message}, type="notify")
    with lock:
        for q in readers:
            q.put(message)
    return jsonify(status="success")


@app.get("/manual-stream")
def manual_stream():
    def generate():
        q = queue.Queue()
        with lock:
            readers.add(q)
        try:
            yield encode_event(comment="connected")
            while True:
                yield encode_json_event({"message": q.get()}, event="notify")
        finally:
            with lock:
                readers.discard(q)
    return Response(generate(), mimetype="text/event-stream")


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.getenv("PORT", "5000")))

# %% Exercise 4.4 wrong: publishes an empty message instead of refusing it
import os
import queue
import threading

from flask import Flask, Response, jsonify, request
from flask_sse import sse

from labs.core.sse import encode_event, encode_json_event

app = Flask(__name__)
app.config["REDIS_URL"] = os.getenv("REDIS_URL", "redis://localhost:6379")
app.register_blueprint(sse, url_prefix="/stream")
readers, lock = set(), threading.Lock()


@app.post("/send_notification")
def send_notification():
    message = (request.get_json(silent=True) or {}).get("message", "")
    sse.publish({"message": message}, type="notify")
    with lock:
        for q in readers:
            q.put(message)
    return jsonify(status="success")


@app.get("/manual-stream")
def manual_stream():
    def generate():
        q = queue.Queue()
        with lock:
            readers.add(q)
        try:
            yield encode_event(comment="connected")
            while True:
                yield encode_json_event({"message": q.get()}, event="notify")
        finally:
            with lock:
                readers.discard(q)
    return Response(generate(), mimetype="text/event-stream")


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.getenv("PORT", "5000")))

# %% Exercise 4.4 wrong: listens on every network interface (0.0.0.0)
import os
import queue
import threading

from flask import Flask, Response, jsonify, request
from flask_sse import sse

from labs.core.sse import encode_event, encode_json_event

app = Flask(__name__)
app.config["REDIS_URL"] = os.getenv("REDIS_URL", "redis://localhost:6379")
app.register_blueprint(sse, url_prefix="/stream")
readers, lock = set(), threading.Lock()


@app.post("/send_notification")
def send_notification():
    message = (request.get_json(silent=True) or {}).get("message")
    if not message:
        return jsonify(error="no message"), 400
    sse.publish({"message": message}, type="notify")
    with lock:
        for q in readers:
            q.put(message)
    return jsonify(status="success")


@app.get("/manual-stream")
def manual_stream():
    def generate():
        q = queue.Queue()
        with lock:
            readers.add(q)
        try:
            yield encode_event(comment="connected")
            while True:
                yield encode_json_event({"message": q.get()}, event="notify")
        finally:
            with lock:
                readers.discard(q)
    return Response(generate(), mimetype="text/event-stream")


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.getenv("PORT", "5000")))

# %% Exercise 4.4 wrong: never starts the server (no app.run under __main__)
import os
import queue
import threading

from flask import Flask, Response, jsonify, request
from flask_sse import sse

from labs.core.sse import encode_event, encode_json_event

app = Flask(__name__)
app.config["REDIS_URL"] = os.getenv("REDIS_URL", "redis://localhost:6379")
app.register_blueprint(sse, url_prefix="/stream")
readers, lock = set(), threading.Lock()


@app.post("/send_notification")
def send_notification():
    message = (request.get_json(silent=True) or {}).get("message")
    if not message:
        return jsonify(error="no message"), 400
    sse.publish({"message": message}, type="notify")
    with lock:
        for q in readers:
            q.put(message)
    return jsonify(status="success")


@app.get("/manual-stream")
def manual_stream():
    def generate():
        q = queue.Queue()
        with lock:
            readers.add(q)
        try:
            yield encode_event(comment="connected")
            while True:
                yield encode_json_event({"message": q.get()}, event="notify")
        finally:
            with lock:
                readers.discard(q)
    return Response(generate(), mimetype="text/event-stream")

# %% Exercise 4.4 wrong: hard-coded events on the manual stream
import os

from flask import Flask, Response, jsonify, request
from flask_sse import sse

app = Flask(__name__)
app.config["REDIS_URL"] = os.getenv("REDIS_URL", "redis://localhost:6379")
app.register_blueprint(sse, url_prefix="/stream")


@app.post("/send_notification")
def send_notification():
    message = (request.get_json(silent=True) or {}).get("message")
    if not message:
        return jsonify(error="no message"), 400
    sse.publish({"message": message}, type="notify")
    return jsonify(status="success")


@app.get("/manual-stream")
def manual_stream():
    def generate():
        while True:
            yield 'event: notify\ndata: {"message": "hello"}\n\n'
    return Response(generate(), mimetype="text/event-stream")


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.getenv("PORT", "5000")))

# %% Exercise 4.4 wrong: a stub left (the manual stream not written yet)
import os

from flask import Flask, jsonify, request
from flask_sse import sse

app = Flask(__name__)
app.config["REDIS_URL"] = os.getenv("REDIS_URL", "redis://localhost:6379")
app.register_blueprint(sse, url_prefix="/stream")


@app.post("/send_notification")
def send_notification():
    message = (request.get_json(silent=True) or {}).get("message")
    if not message:
        return jsonify(error="no message"), 400
    sse.publish({"message": message}, type="notify")
    return jsonify(status="success")


@app.get("/manual-stream")
def manual_stream():
    raise NotImplementedError


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.getenv("PORT", "5000")))

# %% Exercise 4.4 wrong: a reader that leaves leaves its queue behind (cleanup after the loop, no finally)
"""app.py: the course notes' notification app, with the manual stream of section 5 beside it.

Run it from a terminal:  REDIS_URL=redis://127.0.0.1:6379/0 PORT=5000 python app.py
"""
import os
import queue
import threading

from flask import Flask, Response, jsonify, render_template, request
from flask_sse import sse

from labs.core.sse import encode_event, encode_json_event, keep_alive

app = Flask(__name__)
app.config["REDIS_URL"] = os.getenv("REDIS_URL", "redis://localhost:6379")  # flask-sse needs Redis
app.register_blueprint(sse, url_prefix="/stream")  # 1. flask-sse's ready-made stream

readers = set()  # one queue per open /manual-stream
readers_lock = threading.Lock()


@app.get("/")
def home():
    return render_template("index.html")  # templates/index.html: exercise 4.5


@app.post("/send_notification")
def send_notification():
    data = request.get_json(silent=True) or {}
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str) or not message:
        return jsonify(status="error", message="No message provided"), 400
    sse.publish({"message": message}, type="notify")  # 2. to /stream, through Redis
    with readers_lock:  # ... and to every /manual-stream reader of this process
        for q in readers:
            q.put(message)
    return jsonify(status="success", message="Notification sent")


@app.get("/manual-stream")
def manual_stream():
    def generate():  # 3. the same events, no Blueprint: a generator and a queue per reader
        q = queue.Queue()
        with readers_lock:
            readers.add(q)
        yield encode_event(comment="connected")  # the headers go out at once
        while True:
            try:
                yield encode_json_event({"message": q.get(timeout=15)}, event="notify")
            except queue.Empty:
                yield keep_alive()
        with readers_lock:  # never reached: the server ends the generator at its yield
            readers.discard(q)

    return Response(generate(), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})


@app.get("/stats")
def stats():
    with readers_lock:  # 5. the open /manual-stream readers: none left once they have all gone
        return jsonify(clients=len(readers))


if __name__ == "__main__":
    # 4. threaded: every open stream holds a thread of this development server
    app.run(host="127.0.0.1", port=int(os.getenv("PORT", "5000")), threaded=True)

# %% Exercise 4.4 wrong: no GET /stats, so nobody can see whether readers that left are gone
"""app.py: the course notes' notification app, with the manual stream of section 5 beside it.

Run it from a terminal:  REDIS_URL=redis://127.0.0.1:6379/0 PORT=5000 python app.py
"""
import os
import queue
import threading

from flask import Flask, Response, jsonify, render_template, request
from flask_sse import sse

from labs.core.sse import encode_event, encode_json_event, keep_alive

app = Flask(__name__)
app.config["REDIS_URL"] = os.getenv("REDIS_URL", "redis://localhost:6379")  # flask-sse needs Redis
app.register_blueprint(sse, url_prefix="/stream")  # 1. flask-sse's ready-made stream

readers = set()  # one queue per open /manual-stream
readers_lock = threading.Lock()


@app.get("/")
def home():
    return render_template("index.html")  # templates/index.html: exercise 4.5


@app.post("/send_notification")
def send_notification():
    data = request.get_json(silent=True) or {}
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str) or not message:
        return jsonify(status="error", message="No message provided"), 400
    sse.publish({"message": message}, type="notify")  # 2. to /stream, through Redis
    with readers_lock:  # ... and to every /manual-stream reader of this process
        for q in readers:
            q.put(message)
    return jsonify(status="success", message="Notification sent")


@app.get("/manual-stream")
def manual_stream():
    def generate():  # 3. the same events, no Blueprint: a generator and a queue per reader
        q = queue.Queue()
        with readers_lock:
            readers.add(q)
        try:
            yield encode_event(comment="connected")  # the headers go out at once
            while True:
                try:
                    yield encode_json_event({"message": q.get(timeout=15)}, event="notify")
                except queue.Empty:
                    yield keep_alive()
        finally:
            with readers_lock:
                readers.discard(q)

    return Response(generate(), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})


if __name__ == "__main__":
    # 4. threaded: every open stream holds a thread of this development server
    app.run(host="127.0.0.1", port=int(os.getenv("PORT", "5000")), threaded=True)

# %% Exercise 4.4 wrong: flask-sse's Blueprint at /events, not at /stream
"""app.py: the course notes' notification app, with the manual stream of section 5 beside it.

Run it from a terminal:  REDIS_URL=redis://127.0.0.1:6379/0 PORT=5000 python app.py
"""
import os
import queue
import threading

from flask import Flask, Response, jsonify, render_template, request
from flask_sse import sse

from labs.core.sse import encode_event, encode_json_event, keep_alive

app = Flask(__name__)
app.config["REDIS_URL"] = os.getenv("REDIS_URL", "redis://localhost:6379")  # flask-sse needs Redis
app.register_blueprint(sse, url_prefix="/events")  # 1. flask-sse's ready-made stream

readers = set()  # one queue per open /manual-stream
readers_lock = threading.Lock()


@app.get("/")
def home():
    return render_template("index.html")  # templates/index.html: exercise 4.5


@app.post("/send_notification")
def send_notification():
    data = request.get_json(silent=True) or {}
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str) or not message:
        return jsonify(status="error", message="No message provided"), 400
    sse.publish({"message": message}, type="notify")  # 2. to /stream, through Redis
    with readers_lock:  # ... and to every /manual-stream reader of this process
        for q in readers:
            q.put(message)
    return jsonify(status="success", message="Notification sent")


@app.get("/manual-stream")
def manual_stream():
    def generate():  # 3. the same events, no Blueprint: a generator and a queue per reader
        q = queue.Queue()
        with readers_lock:
            readers.add(q)
        try:
            yield encode_event(comment="connected")  # the headers go out at once
            while True:
                try:
                    yield encode_json_event({"message": q.get(timeout=15)}, event="notify")
                except queue.Empty:
                    yield keep_alive()
        finally:
            with readers_lock:
                readers.discard(q)

    return Response(generate(), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})


@app.get("/stats")
def stats():
    with readers_lock:  # 5. the open /manual-stream readers: none left once they have all gone
        return jsonify(clients=len(readers))


if __name__ == "__main__":
    # 4. threaded: every open stream holds a thread of this development server
    app.run(host="127.0.0.1", port=int(os.getenv("PORT", "5000")), threaded=True)

# %% Exercise 4.4 wrong: refuses an empty message with a 400 in plain text, not a JSON error
"""app.py: the course notes' notification app, with the manual stream of section 5 beside it.

Run it from a terminal:  REDIS_URL=redis://127.0.0.1:6379/0 PORT=5000 python app.py
"""
import os
import queue
import threading

from flask import Flask, Response, jsonify, render_template, request
from flask_sse import sse

from labs.core.sse import encode_event, encode_json_event, keep_alive

app = Flask(__name__)
app.config["REDIS_URL"] = os.getenv("REDIS_URL", "redis://localhost:6379")  # flask-sse needs Redis
app.register_blueprint(sse, url_prefix="/stream")  # 1. flask-sse's ready-made stream

readers = set()  # one queue per open /manual-stream
readers_lock = threading.Lock()


@app.get("/")
def home():
    return render_template("index.html")  # templates/index.html: exercise 4.5


@app.post("/send_notification")
def send_notification():
    data = request.get_json(silent=True) or {}
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str) or not message:
        return "No message provided", 400
    sse.publish({"message": message}, type="notify")  # 2. to /stream, through Redis
    with readers_lock:  # ... and to every /manual-stream reader of this process
        for q in readers:
            q.put(message)
    return jsonify(status="success", message="Notification sent")


@app.get("/manual-stream")
def manual_stream():
    def generate():  # 3. the same events, no Blueprint: a generator and a queue per reader
        q = queue.Queue()
        with readers_lock:
            readers.add(q)
        try:
            yield encode_event(comment="connected")  # the headers go out at once
            while True:
                try:
                    yield encode_json_event({"message": q.get(timeout=15)}, event="notify")
                except queue.Empty:
                    yield keep_alive()
        finally:
            with readers_lock:
                readers.discard(q)

    return Response(generate(), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})


@app.get("/stats")
def stats():
    with readers_lock:  # 5. the open /manual-stream readers: none left once they have all gone
        return jsonify(clients=len(readers))


if __name__ == "__main__":
    # 4. threaded: every open stream holds a thread of this development server
    app.run(host="127.0.0.1", port=int(os.getenv("PORT", "5000")), threaded=True)

# %% Exercise 4.4 wrong: answers a sent message with plain text, not JSON
"""app.py: the course notes' notification app, with the manual stream of section 5 beside it.

Run it from a terminal:  REDIS_URL=redis://127.0.0.1:6379/0 PORT=5000 python app.py
"""
import os
import queue
import threading

from flask import Flask, Response, jsonify, render_template, request
from flask_sse import sse

from labs.core.sse import encode_event, encode_json_event, keep_alive

app = Flask(__name__)
app.config["REDIS_URL"] = os.getenv("REDIS_URL", "redis://localhost:6379")  # flask-sse needs Redis
app.register_blueprint(sse, url_prefix="/stream")  # 1. flask-sse's ready-made stream

readers = set()  # one queue per open /manual-stream
readers_lock = threading.Lock()


@app.get("/")
def home():
    return render_template("index.html")  # templates/index.html: exercise 4.5


@app.post("/send_notification")
def send_notification():
    data = request.get_json(silent=True) or {}
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str) or not message:
        return jsonify(status="error", message="No message provided"), 400
    sse.publish({"message": message}, type="notify")  # 2. to /stream, through Redis
    with readers_lock:  # ... and to every /manual-stream reader of this process
        for q in readers:
            q.put(message)
    return "Notification sent"


@app.get("/manual-stream")
def manual_stream():
    def generate():  # 3. the same events, no Blueprint: a generator and a queue per reader
        q = queue.Queue()
        with readers_lock:
            readers.add(q)
        try:
            yield encode_event(comment="connected")  # the headers go out at once
            while True:
                try:
                    yield encode_json_event({"message": q.get(timeout=15)}, event="notify")
                except queue.Empty:
                    yield keep_alive()
        finally:
            with readers_lock:
                readers.discard(q)

    return Response(generate(), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})


@app.get("/stats")
def stats():
    with readers_lock:  # 5. the open /manual-stream readers: none left once they have all gone
        return jsonify(clients=len(readers))


if __name__ == "__main__":
    # 4. threaded: every open stream holds a thread of this development server
    app.run(host="127.0.0.1", port=int(os.getenv("PORT", "5000")), threaded=True)

# %% Exercise 4.4 wrong: /manual-stream labelled text/plain, not text/event-stream
"""app.py: the course notes' notification app, with the manual stream of section 5 beside it.

Run it from a terminal:  REDIS_URL=redis://127.0.0.1:6379/0 PORT=5000 python app.py
"""
import os
import queue
import threading

from flask import Flask, Response, jsonify, render_template, request
from flask_sse import sse

from labs.core.sse import encode_event, encode_json_event, keep_alive

app = Flask(__name__)
app.config["REDIS_URL"] = os.getenv("REDIS_URL", "redis://localhost:6379")  # flask-sse needs Redis
app.register_blueprint(sse, url_prefix="/stream")  # 1. flask-sse's ready-made stream

readers = set()  # one queue per open /manual-stream
readers_lock = threading.Lock()


@app.get("/")
def home():
    return render_template("index.html")  # templates/index.html: exercise 4.5


@app.post("/send_notification")
def send_notification():
    data = request.get_json(silent=True) or {}
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str) or not message:
        return jsonify(status="error", message="No message provided"), 400
    sse.publish({"message": message}, type="notify")  # 2. to /stream, through Redis
    with readers_lock:  # ... and to every /manual-stream reader of this process
        for q in readers:
            q.put(message)
    return jsonify(status="success", message="Notification sent")


@app.get("/manual-stream")
def manual_stream():
    def generate():  # 3. the same events, no Blueprint: a generator and a queue per reader
        q = queue.Queue()
        with readers_lock:
            readers.add(q)
        try:
            yield encode_event(comment="connected")  # the headers go out at once
            while True:
                try:
                    yield encode_json_event({"message": q.get(timeout=15)}, event="notify")
                except queue.Empty:
                    yield keep_alive()
        finally:
            with readers_lock:
                readers.discard(q)

    return Response(generate(), mimetype="text/plain", headers={"Cache-Control": "no-cache"})


@app.get("/stats")
def stats():
    with readers_lock:  # 5. the open /manual-stream readers: none left once they have all gone
        return jsonify(clients=len(readers))


if __name__ == "__main__":
    # 4. threaded: every open stream holds a thread of this development server
    app.run(host="127.0.0.1", port=int(os.getenv("PORT", "5000")), threaded=True)

# %% Exercise 4.5 correct: the notes' way (newest first, a div per message), a named function
INDEX_HTML = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="UTF-8"><title>Flask - Notification System</title></head>
<body>
  <h1>Real-Time Notification</h1>
  <div id="notifications"></div>
  <script>
    function loadEventSource() {
      const eventSource = new EventSource("/stream");
      eventSource.addEventListener("notify", function (event) {
        const data = JSON.parse(event.data);
        const container = document.getElementById("notifications");
        const notification = document.createElement("div");
        notification.textContent = data.message;
        container.prepend(notification);
      });
    }
    loadEventSource();
  </script>
</body>
</html>
"""

# %% Exercise 4.5 correct: a text node appended to each item, the script in the head after DOMContentLoaded
INDEX_HTML = """<!doctype html>
<html>
<head>
  <title>Notifications</title>
  <script>
    document.addEventListener("DOMContentLoaded", () => {
      const source = new EventSource("stream");
      source.addEventListener("notify", (e) => {
        const { message } = JSON.parse(e.data);
        const li = document.createElement("li");
        li.appendChild(document.createTextNode(message));
        document.querySelector("#notifications").appendChild(li);
      });
    });
  </script>
</head>
<body><ol id="notifications"></ol></body>
</html>
"""

# %% Exercise 4.5 wrong: innerHTML (a message's markup is rendered, and can run code)
INDEX_HTML = """<!DOCTYPE html>
<html><body>
  <ul id="notifications"></ul>
  <script>
    const source = new EventSource("/stream");
    source.addEventListener("notify", (event) => {
      const data = JSON.parse(event.data);
      document.getElementById("notifications").innerHTML += "<li>" + data.message + "</li>";
    });
  </script>
</body></html>
"""

# %% Exercise 4.5 wrong: listens for `message` events, but the server names them notify
INDEX_HTML = """<!DOCTYPE html>
<html><body>
  <ul id="notifications"></ul>
  <script>
    const source = new EventSource("/stream");
    source.onmessage = (event) => {
      const item = document.createElement("li");
      item.textContent = JSON.parse(event.data).message;
      document.getElementById("notifications").append(item);
    };
  </script>
</body></html>
"""

# %% Exercise 4.5 wrong: shows the raw JSON data
INDEX_HTML = """<!DOCTYPE html>
<html><body>
  <ul id="notifications"></ul>
  <script>
    const source = new EventSource("/stream");
    source.addEventListener("notify", (event) => {
      const item = document.createElement("li");
      item.textContent = event.data;
      document.getElementById("notifications").append(item);
    });
  </script>
</body></html>
"""

# %% Exercise 4.5 wrong: every message in one element (its text grows), not one element each
INDEX_HTML = """<!DOCTYPE html>
<html><body>
  <ul id="notifications"><li id="all"></li></ul>
  <script>
    const source = new EventSource("/stream");
    source.addEventListener("notify", (event) => {
      document.getElementById("all").textContent += JSON.parse(event.data).message + " ";
    });
  </script>
</body></html>
"""

# %% Exercise 4.5 wrong: an absolute URL to another server (localhost:5000), not this page's /stream
INDEX_HTML = """<!DOCTYPE html>
<html><body>
  <ul id="notifications"></ul>
  <script>
    const source = new EventSource("http://localhost:5000/stream");
    source.addEventListener("notify", (event) => {
      const item = document.createElement("li");
      item.textContent = JSON.parse(event.data).message;
      document.getElementById("notifications").append(item);
    });
  </script>
</body></html>
"""

# %% Exercise 4.5 wrong: hard-coded items
INDEX_HTML = """<!DOCTYPE html>
<html><body>
  <ul id="notifications"><li>Hello World</li><li>Another notification</li></ul>
  <script>
    const source = new EventSource("/stream");
  </script>
</body></html>
"""
