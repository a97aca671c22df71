# Reference answers for notebook 04.  Each section replaces the exercise cell's code.

# %% Exercise 4.1
from labs.core.sse import encode_json_event


def replay_text(history, forgotten, last_event_id):
    if last_event_id is None:
        return ""  # a new reader: it starts with what comes next
    try:
        last = int(last_event_id)
    except ValueError:
        last = None  # not an id we ever gave: assume the worst
    parts = []
    if last is None or last < forgotten:
        # Messages up to `forgotten` are gone; this reader may not have seen some of them.
        parts.append(encode_json_event({"last_event_id": last_event_id}, event="gap"))
    for ident in sorted(history):  # the dict is in no particular order; ids have gaps
        if last is None or ident > last:
            parts.append(encode_json_event({"message": history[ident]}, event="notify", id=ident))
    return "".join(parts)


# %% Exercise 4.2
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
    finally:
        # Runs on close() (the reader left) and when a write raises: the queue never leaks.
        with lock:
            subscribers.discard(q)


# %% Exercise 4.3
import queue

from labs.core.sse import encode_json_event, keep_alive


def next_chunk(q, keepalive_seconds):
    try:
        message = q.get(timeout=keepalive_seconds)
    except queue.Empty:
        return keep_alive()
    return encode_json_event({"message": message}, event="notify")


# %% Exercise 4.4
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


@app.get("/stats")
def stats():
    with readers_lock:  # 5. the open /manual-stream readers: none left once they have all gone
        return jsonify(clients=len(readers))


if __name__ == "__main__":
    # 4. threaded: every open stream holds a thread of this development server
    app.run(host="127.0.0.1", port=int(os.getenv("PORT", "5000")), threaded=True)


# %% Exercise 4.5
INDEX_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Real-time notifications</title>
</head>
<body>
  <h1>Real-time notifications</h1>
  <ul id="notifications"></ul>
  <script>
    const list = document.getElementById("notifications");
    const source = new EventSource("/stream");
    source.addEventListener("notify", (event) => {
      const data = JSON.parse(event.data);
      const item = document.createElement("li");
      item.textContent = data.message;  // text, never HTML
      list.append(item);
    });
  </script>
</body>
</html>
"""
