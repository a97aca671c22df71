# Reference answers for notebook 09.  Each section replaces the exercise cell's code.

# %% Exercise 9.1
def polling_requests(clients, interval_s, duration_s):
    # Every client asks every interval_s seconds, news or not: duration / interval polls each.
    # round(), not int(): 0.3 / 0.1 is 2.9999999999999996 in floating point.
    return round(clients * duration_s / interval_s)

# %% Exercise 9.2
def long_polling_requests(clients, messages):
    # Each message answers every client's waiting request, and each client at once asks
    # again: one new request per message per client.
    return clients * messages

# %% Exercise 9.3
def choose_transport(server_to_server, two_way, long_connections_ok, delay_ok_s):
    if server_to_server:
        return "webhook"  # no browser involved: one service POSTs to the other
    if two_way:
        return "websocket"  # the browser sends often too: one full-duplex connection
    if long_connections_ok:
        return "sse"  # one-way push, plain HTTP, reconnection built into EventSource
    # Streams are cut somewhere on the way: ask instead, slowly if a delay is fine.
    return "short polling" if delay_ok_s >= 5 else "long polling"
