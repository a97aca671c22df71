# Reference answers for notebook 10.  Each section replaces the exercise cell's code.

# %% Exercise 10.1
def lab_location(upstream, keepalive_seconds):
    # gzip and buffering together hold a stream (section 3), and this proxy ignores the lab's
    # X-Accel-Buffering, so the block must break the pair itself. Here: no gzip for
    # text/event-stream (fix 2). A gzip_types line in a block replaces the server's list for
    # that block, so the lab's JSON is still compressed; nginx buffers the stream, which
    # does not hold small events (section 2).
    # proxy_http_version 1.1 and an empty Connection header let nginx keep its connections to
    # the lab for the next request (section 6). The read timeout must be longer than the lab's
    # keep-alive interval, or a quiet stream is cut between two comments (section 4).
    timeout = max(60, 4 * keepalive_seconds)
    return f"""
location / {{
    proxy_pass http://{upstream};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    gzip_types application/json;
    proxy_read_timeout {timeout}s;
}}
"""

# %% Exercise 10.2
# A: one nginx that buffers (the lab's header ignored) and compresses nothing. Buffering alone
#    passes small events on as they come (section 2), over HTTP/1.0 as over 1.1.
A = "live"
# B: the inner nginx consumes X-Accel-Buffering (section 5), so the outer one buffers, and its
#    gzip for text/event-stream with buffering holds everything (section 3). The inner
#    proxy's buffering off changes nothing: the outer one holds the stream.
B = "held"
# C: the inner nginx obeys the lab's header, so it does not buffer and its gzip flushes after
#    every event (fix 1); the outer one buffers but compresses nothing, which does not hold.
C = "live"
