# Reference answers for notebook 04.  Each section replaces the exercise cell's code.

# %% Exercise 4.1
def replay_after(history, last_id):
    if not history:
        return 0, []
    oldest = history[0][0]
    # Ids last_id + 1 .. oldest - 1 were published but are no longer kept.
    missed = max(0, oldest - 1 - last_id)
    return missed, [(ident, text) for ident, text in history if ident > last_id]


# %% Exercise 4.2
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
def next_chunk(q, keepalive_seconds):
    try:
        message = q.get(timeout=keepalive_seconds)
    except queue.Empty:
        return keep_alive()
    return encode_json_event({"message": message}, event="notify")
