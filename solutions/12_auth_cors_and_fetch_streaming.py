# Reference answers for notebook 12.  Each section replaces the exercise cell's code.

# %% Exercise 12.1
def cors_headers(origin, allowed_origin, preflight):
    if origin is None or origin != allowed_origin:  # the whole origin, compared exactly
        return {}
    headers = {
        "Access-Control-Allow-Origin": origin,       # the exact origin: '*' cannot carry cookies
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",                            # the answer depends on who asked
    }
    if preflight:
        headers["Access-Control-Allow-Methods"] = "POST"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
        headers["Access-Control-Max-Age"] = "600"    # the browser may skip the preflight for 10 minutes
    return headers
