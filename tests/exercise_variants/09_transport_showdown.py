# Other answers to the exercises of notebook 09, judged by tests/test_exercise_checks.py.
# "correct" sections must be solved, "wrong" sections must not.

# %% Exercise 9.1 correct: requests per client first, int() of an exact quotient
def polling_requests(clients, interval_s, duration_s):
    per_client = duration_s / interval_s
    return int(per_client) * clients

# %% Exercise 9.1 correct: polls per minute, then minutes
def polling_requests(clients, interval_s, duration_s):
    per_minute = 60 / interval_s
    return round(clients * per_minute * duration_s / 60)

# %% Exercise 9.1 wrong: returns a float
def polling_requests(clients, interval_s, duration_s):
    return clients * duration_s / interval_s

# %% Exercise 9.1 wrong: forgets the clients
def polling_requests(clients, interval_s, duration_s):
    return round(duration_s / interval_s)

# %% Exercise 9.1 wrong: interval and duration the wrong way round
def polling_requests(clients, interval_s, duration_s):
    return round(clients * interval_s / duration_s)

# %% Exercise 9.1 wrong: hard-coded for the notebook's example
def polling_requests(clients, interval_s, duration_s):
    return 600

# %% Exercise 9.2 correct: a loop over messages and clients
def long_polling_requests(clients, messages):
    total = 0
    for _ in range(messages):
        total += clients  # every waiting request ends and its client asks again
    return total

# %% Exercise 9.2 correct: a float product that is a whole number
def long_polling_requests(clients, messages):
    return float(clients) * messages

# %% Exercise 9.2 wrong: one request per message, whatever the number of clients
def long_polling_requests(clients, messages):
    return messages

# %% Exercise 9.2 wrong: counts the requests already waiting too
def long_polling_requests(clients, messages):
    return clients * (messages + 1)

# %% Exercise 9.2 wrong: hard-coded for the live run (5 clients, 5 messages)
def long_polling_requests(clients, messages):
    return 25

# %% Exercise 9.3 correct: a dictionary for the first three rules, a conditional expression
def choose_transport(server_to_server, two_way, long_connections_ok, delay_ok_s):
    for condition, name in ((server_to_server, "webhook"), (two_way, "websocket"), (long_connections_ok, "sse")):
        if condition:
            return name
    return "long polling" if delay_ok_s < 5 else "short polling"

# %% Exercise 9.3 correct: elif chain with the slow case spelt out
def choose_transport(server_to_server, two_way, long_connections_ok, delay_ok_s):
    if server_to_server:
        choice = "webhook"
    elif two_way:
        choice = "websocket"
    elif long_connections_ok:
        choice = "sse"
    elif delay_ok_s >= 5:
        choice = "short polling"
    else:
        choice = "long polling"
    return choice

# %% Exercise 9.3 wrong: the rules in the wrong order (two-way before server-to-server)
def choose_transport(server_to_server, two_way, long_connections_ok, delay_ok_s):
    if two_way:
        return "websocket"
    if server_to_server:
        return "webhook"
    if long_connections_ok:
        return "sse"
    return "short polling" if delay_ok_s >= 5 else "long polling"

# %% Exercise 9.3 wrong: exactly 5 s goes to long polling (> instead of >=)
def choose_transport(server_to_server, two_way, long_connections_ok, delay_ok_s):
    if server_to_server:
        return "webhook"
    if two_way:
        return "websocket"
    if long_connections_ok:
        return "sse"
    return "short polling" if delay_ok_s > 5 else "long polling"

# %% Exercise 9.3 wrong: names spelt differently
def choose_transport(server_to_server, two_way, long_connections_ok, delay_ok_s):
    if server_to_server:
        return "Webhook"
    if two_way:
        return "WebSocket"
    if long_connections_ok:
        return "SSE"
    return "short_polling" if delay_ok_s >= 5 else "long_polling"

# %% Exercise 9.3 wrong: always SSE
def choose_transport(server_to_server, two_way, long_connections_ok, delay_ok_s):
    return "sse"

# %% Exercise 9.3 wrong: rules in order: long-lived connections checked before two-way (SSE for a chat)
def choose_transport(server_to_server, two_way, long_connections_ok, delay_ok_s):
    if server_to_server:
        return "webhook"
    if long_connections_ok:
        return "sse"
    if two_way:
        return "websocket"
    return "short polling" if delay_ok_s >= 5 else "long polling"

# %% Exercise 9.3 wrong: rule 4 the wrong way round (short polling for the short delays)
def choose_transport(server_to_server, two_way, long_connections_ok, delay_ok_s):
    if server_to_server:
        return "webhook"
    if two_way:
        return "websocket"
    if long_connections_ok:
        return "sse"
    return "long polling" if delay_ok_s >= 5 else "short polling"
