# Other answers to the exercises of notebook 10, judged by tests/test_exercise_checks*.py.
# "correct" sections must be solved, "wrong" sections must not.

# %% Exercise 10.1 correct: proxy_buffering off (fix 3), nginx's usual 60 s read timeout written out
def lab_location(upstream, keepalive_seconds):
    return (
        "location / {\n"
        f"    proxy_pass http://{upstream};\n"
        '    proxy_set_header Connection "";\n'
        "    proxy_buffering off;\n"
        "    proxy_read_timeout 60s;\n"
        "}\n"
    )

# %% Exercise 10.1 correct: a location of its own for the stream, unbuffered, the rest as it was
def lab_location(upstream, keepalive_seconds):
    common = f"""
    proxy_pass http://{upstream};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
"""
    stream = f"    proxy_buffering off;\n    proxy_read_timeout {keepalive_seconds * 3}s;\n"
    return "location / {" + common + "}\n" + "location = /stream {" + common + stream + "}\n"

# %% Exercise 10.1 correct: the lab's header obeyed again (a proxy_ignore_headers of its own)
def lab_location(upstream, keepalive_seconds):
    return f"""location / {{
    proxy_pass http://{upstream};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_ignore_headers Expires;
    proxy_read_timeout 1h;
}}"""

# %% Exercise 10.1 wrong: live: buffering on and gzip still on for the stream (the stream is held)
def lab_location(upstream, keepalive_seconds):
    return f"""location / {{
    proxy_pass http://{upstream};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_read_timeout 1h;
}}"""

# %% Exercise 10.1 wrong: never cut: no read timeout of its own (the site's short one cuts a quiet stream)
def lab_location(upstream, keepalive_seconds):
    return f"""location / {{
    proxy_pass http://{upstream};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffering off;
}}"""

# %% Exercise 10.1 wrong: reuses: no Connection header of its own (the site's `Connection: close` ends each one)
def lab_location(upstream, keepalive_seconds):
    return f"""location / {{
    proxy_pass http://{upstream};
    proxy_http_version 1.1;
    proxy_buffering off;
    proxy_read_timeout 1h;
}}"""

# %% Exercise 10.1 wrong: reuses: HTTP/1.0 towards the lab (a new connection per request), Connection emptied
def lab_location(upstream, keepalive_seconds):
    return f"""location / {{
    proxy_pass http://{upstream};
    proxy_http_version 1.0;
    proxy_set_header Connection "";
    proxy_buffering off;
    proxy_read_timeout 1h;
}}"""

# %% Exercise 10.1 wrong: never cut: a read timeout shorter than the keep-alive interval
def lab_location(upstream, keepalive_seconds):
    return f"""location / {{
    proxy_pass http://{upstream};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffering off;
    proxy_read_timeout 1s;
}}"""

# %% Exercise 10.1 wrong: compressed: gzip off for the whole location (the lab's JSON is not)
def lab_location(upstream, keepalive_seconds):
    return f"""location / {{
    proxy_pass http://{upstream};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_read_timeout 1h;
    gzip off;
}}"""

# %% Exercise 10.1 wrong: passes to http:// + upstream: the notebook's name hard-coded (nginx -t refuses it)
def lab_location(upstream, keepalive_seconds):
    return """location / {
    proxy_pass http://lab;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffering off;
}"""

# %% Exercise 10.1 wrong: passes to http:// + upstream: an address hard-coded (nothing there: 502)
def lab_location(upstream, keepalive_seconds):
    return """location / {
    proxy_pass http://127.0.0.1:5000;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffering off;
}"""

# %% Exercise 10.1 wrong: a missing semicolon (nginx -t refuses the config)
def lab_location(upstream, keepalive_seconds):
    return f"""location / {{
    proxy_pass http://{upstream};
    proxy_http_version 1.1
    proxy_set_header Connection "";
    proxy_buffering off;
}}"""

# %% Exercise 10.1 wrong: returns the block: prints it instead
def lab_location(upstream, keepalive_seconds):
    print(f"location / {{ proxy_pass http://{upstream}; proxy_buffering off; }}")

# %% Exercise 10.2 correct: the same predictions, spelt with capitals and spaces
B = " Held"  # the outer proxy never sees the lab's header
C = "LIVE"
A = "live "

# %% Exercise 10.2 wrong: the folklore (any buffering nginx holds a stream)
A = "held"
B = "held"
C = "held"

# %% Exercise 10.2 wrong: the inner proxy's buffering off taken to fix the chain
A = "live"
B = "live"
C = "live"

# %% Exercise 10.2 wrong: true and false instead of "live" and "held"
A = True
B = False
C = True

# %% Exercise 10.2 wrong: computed, not written out (hard-coded in a list, unpacked)
PREDICTIONS = ["live", "held", "live"]
A, B, C = PREDICTIONS
