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


def audience(redis_url, prefix):
    # decode_responses=True: channel names come back as str, not bytes.
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        # PUBSUB CHANNELS lists the channels with at least one subscriber, matching a glob pattern.
        channels = client.pubsub_channels(prefix + "*")
        if not channels:
            return {}
        # PUBSUB NUMSUB counts them all in one round trip, in every process that subscribed.
        return {name: int(count) for name, count in client.pubsub_numsub(*channels)}
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
