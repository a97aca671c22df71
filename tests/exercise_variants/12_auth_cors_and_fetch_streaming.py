# Other answers to the exercises of notebook 12, judged by tests/test_exercise_checks*.py.
# "correct" sections must be solved, "wrong" sections must not.

# %% Exercise 12.1 correct: lower-case header names, a list of methods and headers, no Max-Age
def cors_headers(origin, allowed_origin, preflight):
    if origin != allowed_origin:
        return {}
    headers = {"access-control-allow-origin": origin, "access-control-allow-credentials": "true",
               "vary": "Origin"}
    if preflight:
        headers["access-control-allow-methods"] = "GET, POST, OPTIONS"
        headers["access-control-allow-headers"] = "authorization, content-type, last-event-id"
    return headers

# %% Exercise 12.1 correct: the allowed origin parsed with urllib and compared part by part
from urllib.parse import urlsplit


def cors_headers(origin, allowed_origin, preflight):
    if not origin:
        return {}
    mine, theirs = urlsplit(allowed_origin), urlsplit(origin)
    if (theirs.scheme, theirs.hostname, theirs.port, theirs.path) != (mine.scheme, mine.hostname, mine.port, ""):
        return {}
    extra = {"Access-Control-Allow-Methods": "POST", "Access-Control-Allow-Headers": "Content-Type,Authorization",
             "Access-Control-Max-Age": "86400"} if preflight else {}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin, Accept-Encoding", **extra}

# %% Exercise 12.1 wrong: a wildcard with credentials (the browser refuses it)
def cors_headers(origin, allowed_origin, preflight):
    headers = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "true"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = "POST"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    return headers

# %% Exercise 12.1 wrong: reflects whatever origin asked (every site may read the answers, with cookies)
def cors_headers(origin, allowed_origin, preflight):
    if origin is None:
        return {}
    headers = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = "POST"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    return headers

# %% Exercise 12.1 wrong: startswith lets look-alike origins in
def cors_headers(origin, allowed_origin, preflight):
    if not origin or not origin.startswith(allowed_origin):
        return {}
    headers = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = "POST"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    return headers

# %% Exercise 12.1 wrong: forgets Access-Control-Allow-Credentials
def cors_headers(origin, allowed_origin, preflight):
    if origin != allowed_origin:
        return {}
    headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = "POST"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    return headers

# %% Exercise 12.1 wrong: '*' for the allowed headers (with credentials it is a literal '*', and never Authorization)
def cors_headers(origin, allowed_origin, preflight):
    if origin != allowed_origin:
        return {}
    headers = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = "*"
        headers["Access-Control-Allow-Headers"] = "*"
    return headers

# %% Exercise 12.1 wrong: the preflight must allow the POST: Access-Control-Allow-Methods lists GET only
def cors_headers(origin, allowed_origin, preflight):
    if origin != allowed_origin:
        return {}
    headers = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = "GET"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    return headers

# %% Exercise 12.1 wrong: caches must not hand one origin's answer to another: no Vary: Origin
def cors_headers(origin, allowed_origin, preflight):
    if origin != allowed_origin:
        return {}
    headers = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = "POST"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
    return headers

# %% Exercise 12.1 wrong: both answers readable: the POST itself gets no CORS headers (preflight only)
def cors_headers(origin, allowed_origin, preflight):
    if origin != allowed_origin or not preflight:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin",
            "Access-Control-Allow-Methods": "POST", "Access-Control-Allow-Headers": "Content-Type, Authorization"}
