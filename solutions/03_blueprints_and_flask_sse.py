# Reference answers for notebook 03.  Each section replaces the exercise cell's code.

# %% Exercise 3.1
from flask import Blueprint


def make_admin_blueprint():
    # A new Blueprint on every call: a blueprint records its routes, and registering
    # the same object in many test apps is fine, but building it here keeps each app's
    # routes independent.
    bp = Blueprint("admin", __name__)

    @bp.route("/users")
    def users():
        return "Users"

    @bp.route("/reports")
    def reports():
        return "Reports"

    return bp

# %% Exercise 3.2
import redis


def count_listeners(redis_url, channel="sse"):
    client = redis.Redis.from_url(redis_url)
    try:
        # PUBSUB NUMSUB answers [(channel, count)]: every subscriber, in every process.
        ((_name, count),) = client.pubsub_numsub(channel)
        return int(count)
    finally:
        client.close()

# %% Exercise 3.3
import json

import redis


def push(redis_url, message, channel="sse"):
    # The same JSON sse.publish() stores: flask-sse's stream turns "type" into the
    # event's name and JSON-encodes "data" into the data: line.
    payload = json.dumps({"data": {"message": message}, "type": "notify"})
    client = redis.Redis.from_url(redis_url)
    try:
        return client.publish(channel, payload)
    finally:
        client.close()
