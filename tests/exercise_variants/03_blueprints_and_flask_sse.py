# Other answers to notebook 03's exercises: correct ones the checks must accept, and wrong
# ones (mistakes and cheats) they must reject.  Each section replaces the exercise cell's code.

# %% Exercise 3.1 correct: add_url_rule with lambdas instead of decorators
from flask import Blueprint


def make_admin_blueprint():
    bp = Blueprint("admin", __name__)
    bp.add_url_rule("/users", "users", lambda: "Users")
    bp.add_url_rule("/reports", "reports", lambda: "Reports")
    return bp

# %% Exercise 3.1 correct: a url_prefix on the Blueprint itself (the one given to register_blueprint wins)
from flask import Blueprint

admin = Blueprint("admin", __name__, url_prefix="/admin")


@admin.get("/users")
def list_users():
    return "Users"


@admin.get("/reports")
def list_reports():
    return "Reports"


def make_admin_blueprint():
    return admin

# %% Exercise 3.1 wrong: the prefix written into the routes as well
from flask import Blueprint


def make_admin_blueprint():
    bp = Blueprint("admin", __name__)

    @bp.route("/admin/users")
    def users():
        return "Users"

    @bp.route("/admin/reports")
    def reports():
        return "Reports"

    return bp

# %% Exercise 3.1 wrong: the blueprint is named after the prefix's capitalised word
from flask import Blueprint


def make_admin_blueprint():
    bp = Blueprint("Admin", __name__)
    bp.add_url_rule("/users", "users", lambda: "Users")
    bp.add_url_rule("/reports", "reports", lambda: "Reports")
    return bp

# %% Exercise 3.1 wrong: returns an app, not a blueprint
from flask import Flask


def make_admin_blueprint():
    app = Flask("admin")
    app.add_url_rule("/admin/users", "users", lambda: "Users")
    app.add_url_rule("/admin/reports", "reports", lambda: "Reports")
    return app

# %% Exercise 3.1 wrong: answers the wrong text
from flask import Blueprint


def make_admin_blueprint():
    bp = Blueprint("admin", __name__)
    bp.add_url_rule("/users", "users", lambda: "users page")
    bp.add_url_rule("/reports", "reports", lambda: "reports page")
    return bp

# %% Exercise 3.1 wrong: only one of the two routes
from flask import Blueprint


def make_admin_blueprint():
    bp = Blueprint("admin", __name__)
    bp.add_url_rule("/users", "users", lambda: "Users")
    return bp

# %% Exercise 3.2 correct: every active channel, filtered in Python, names decoded by hand
import redis


def audience(redis_url, prefix):
    with redis.Redis.from_url(redis_url) as client:
        names = [name.decode() for name in client.pubsub_channels()]
        wanted = [name for name in names if name.startswith(prefix)]
        return {name: client.pubsub_numsub(name)[0][1] for name in wanted}

# %% Exercise 3.2 correct: raw commands with execute_command, one NUMSUB per channel
import redis


def audience(redis_url, prefix):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    result = {}
    for channel in client.execute_command("PUBSUB", "CHANNELS", prefix + "*"):
        reply = client.execute_command("PUBSUB", "NUMSUB", channel)
        result[channel] = int(dict(reply)[channel]) if isinstance(reply, list) and isinstance(reply[0], tuple) \
            else int(reply[1])
    client.close()
    return result

# %% Exercise 3.2 wrong: channel names left as bytes
import redis


def audience(redis_url, prefix):
    client = redis.Redis.from_url(redis_url)
    channels = client.pubsub_channels(prefix + "*")
    return dict(client.pubsub_numsub(*channels)) if channels else {}

# %% Exercise 3.2 wrong: every channel, whatever its name
import redis


def audience(redis_url, prefix):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    channels = client.pubsub_channels()
    return dict(client.pubsub_numsub(*channels)) if channels else {}

# %% Exercise 3.2 wrong: the prefix used as a whole channel name, not as the start of one
import redis


def audience(redis_url, prefix):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    channels = client.pubsub_channels(prefix)
    return dict(client.pubsub_numsub(*channels)) if channels else {}

# %% Exercise 3.2 wrong: "contains" instead of "starts with"
import redis


def audience(redis_url, prefix):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    channels = [name for name in client.pubsub_channels() if prefix in name]
    return dict(client.pubsub_numsub(*channels)) if channels else {}

# %% Exercise 3.2 wrong: PUBSUB NUMPAT counts pattern subscriptions, not a channel's subscribers
import redis


def audience(redis_url, prefix):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    return {name: client.pubsub_numpat() for name in client.pubsub_channels(prefix + "*")}

# %% Exercise 3.2 wrong: hard-coded answer
def audience(redis_url, prefix):
    return {prefix + "news": 2, prefix + "alerts": 1}

# %% Exercise 3.2 wrong: counts as strings, not ints
import redis


def audience(redis_url, prefix):
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        channels = client.pubsub_channels(prefix + "*")
        return {name: str(count) for name, count in client.pubsub_numsub(*channels)} if channels else {}

# %% Exercise 3.2 wrong: None when nobody listens, not {}
import redis


def audience(redis_url, prefix):
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        channels = client.pubsub_channels(prefix + "*")
        return dict(client.pubsub_numsub(*channels)) if channels else None

# %% Exercise 3.3 correct: flask-sse's own sse.publish, inside an app context
from flask import Flask
from flask_sse import sse


def push(redis_url, message, channel="sse"):
    app = Flask("background-job")
    app.config["REDIS_URL"] = redis_url
    with app.app_context():
        return sse.publish({"message": message}, type="notify", channel=channel)

# %% Exercise 3.3 correct: the data already JSON text, with an id as well
import json

import redis


def push(redis_url, message, channel="sse"):
    payload = {"type": "notify", "data": json.dumps({"message": message}), "id": 1}
    with redis.Redis.from_url(redis_url) as client:
        return client.publish(channel, json.dumps(payload))

# %% Exercise 3.3 wrong: publishes the notification itself, not flask-sse's envelope (the stream ends)
import json

import redis


def push(redis_url, message, channel="sse"):
    return redis.Redis.from_url(redis_url).publish(channel, json.dumps({"message": message}))

# %% Exercise 3.3 wrong: the message as bare data, not the {"message": ...} object
import json

import redis


def push(redis_url, message, channel="sse"):
    return redis.Redis.from_url(redis_url).publish(channel, json.dumps({"data": message, "type": "notify"}))

# %% Exercise 3.3 wrong: no type, so the event is a "message"
import json

import redis


def push(redis_url, message, channel="sse"):
    return redis.Redis.from_url(redis_url).publish(channel, json.dumps({"data": {"message": message}}))

# %% Exercise 3.3 wrong: always the default channel
import json

import redis


def push(redis_url, message, channel="sse"):
    payload = json.dumps({"data": {"message": message}, "type": "notify"})
    return redis.Redis.from_url(redis_url).publish("sse", payload)

# %% Exercise 3.3 wrong: event-stream text instead of flask-sse's JSON
import json

import redis


def push(redis_url, message, channel="sse"):
    text = "event: notify\ndata: " + json.dumps({"message": message}) + "\n\n"
    return redis.Redis.from_url(redis_url).publish(channel, text)

# %% Exercise 3.3 wrong: returns nothing
import json

import redis


def push(redis_url, message, channel="sse"):
    redis.Redis.from_url(redis_url).publish(channel, json.dumps({"data": {"message": message}, "type": "notify"}))

# %% Exercise 3.3 wrong: hard-coded receiver count
import json

import redis


def push(redis_url, message, channel="sse"):
    redis.Redis.from_url(redis_url).publish(channel, json.dumps({"data": {"message": message}, "type": "notify"}))
    return 1
