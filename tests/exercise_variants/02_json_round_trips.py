# Other answers to notebook 02's exercises: correct ones the checks must accept, and wrong
# ones (mistakes and cheats) they must reject.  Each section replaces the exercise cell's code.

# %% Exercise 2.1 correct: lower-case method and header name, a charset, compact JSON like JSON.stringify
import json


def fetch_options(payload):
    return {"method": "post",
            "headers": {"content-type": "application/json; charset=utf-8", "Accept": "application/json"},
            "body": json.dumps(payload, separators=(",", ":"), ensure_ascii=False)}

# %% Exercise 2.1 correct: headers as a list of [name, value] pairs, which fetch accepts too
import json


def fetch_options(payload):
    options = dict(method="POST", body=json.dumps(payload, indent=2))
    options["headers"] = [["Content-Type", "application/json"]]
    return options

# %% Exercise 2.1 wrong: the body is the dict itself (fetch would send "[object Object]")
def fetch_options(payload):
    return {"method": "POST", "headers": {"Content-Type": "application/json"}, "body": payload}

# %% Exercise 2.1 wrong: no Content-Type, so fetch labels the text text/plain and Flask answers 415
import json


def fetch_options(payload):
    return {"method": "POST", "headers": {}, "body": json.dumps(payload)}

# %% Exercise 2.1 wrong: labelled text/plain
import json


def fetch_options(payload):
    return {"method": "POST", "headers": {"Content-Type": "text/plain"}, "body": json.dumps(payload)}

# %% Exercise 2.1 wrong: str(payload) is Python's repr, not JSON
def fetch_options(payload):
    return {"method": "POST", "headers": {"Content-Type": "application/json"}, "body": str(payload)}

# %% Exercise 2.1 wrong: JSON encoded twice, so the server parses a string, not the object
import json


def fetch_options(payload):
    return {"method": "POST", "headers": {"Content-Type": "application/json"},
            "body": json.dumps(json.dumps(payload))}

# %% Exercise 2.1 wrong: GET cannot carry the payload
import json


def fetch_options(payload):
    return {"method": "GET", "headers": {"Content-Type": "application/json"}, "body": json.dumps(payload)}

# %% Exercise 2.1 wrong: hard-coded body from the notebook's example
def fetch_options(payload):
    return {"method": "POST", "headers": {"Content-Type": "application/json"}, "body": '{"message": "Hello"}'}

# %% Exercise 2.1 wrong: the body as UTF-8 bytes, not the str JSON.stringify makes
import json


def fetch_options(payload):
    return {"method": "POST", "headers": {"Content-Type": "application/json"},
            "body": json.dumps(payload).encode("utf-8")}

# %% Exercise 2.1 wrong: the body under the key "data" (requests' name), not "body" (fetch's)
import json


def fetch_options(payload):
    return {"method": "POST", "headers": {"Content-Type": "application/json"}, "data": json.dumps(payload)}

# %% Exercise 2.2 correct: the Event's own json() helper, JSON.parse(event.data) in Python
def message_of(event):
    return event.json()["message"]

# %% Exercise 2.2 correct: a JSONDecoder and .get
from json import JSONDecoder


def message_of(event):
    return JSONDecoder().decode(event.data).get("message")

# %% Exercise 2.2 wrong: indexes the string as if it were a dict
def message_of(event):
    return event.data["message"]

# %% Exercise 2.2 wrong: Python's literal parser, which does not know true, false and null
import ast


def message_of(event):
    return ast.literal_eval(event.data)["message"]

# %% Exercise 2.2 wrong: a regular expression, which misses escapes and other spacing
import re


def message_of(event):
    return re.search(r'"message": "(.*?)"', event.data).group(1)

# %% Exercise 2.2 wrong: only the first data line
import json


def message_of(event):
    return json.loads(event.data.split("\n")[0])["message"]

# %% Exercise 2.2 wrong: returns the whole object, not its message
import json


def message_of(event):
    return json.loads(event.data)

# %% Exercise 2.2 wrong: hard-coded to the lab's event
def message_of(event):
    return "Hello from the server"

# %% Exercise 2.3 correct: route() with methods, request.json, and a dict returned (Flask jsonifies it)
from flask import Flask, request


def make_app():
    app = Flask(__name__)

    @app.route("/greet", methods=["POST"])
    def greet():
        return {"greeting": "Hello, " + request.json["name"] + "!"}

    return app

# %% Exercise 2.3 correct: validates the body itself and answers its own 400s
from flask import Flask, jsonify, request


def make_app():
    app = Flask("api")

    @app.post("/greet")
    def greet():
        data = request.get_json(silent=True)  # None for a body that is not JSON
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return jsonify(error="send a JSON object with a string 'name'"), 400
        return jsonify({"greeting": f"Hello, {data['name']}!"})

    return app

# %% Exercise 2.3 wrong: json.dumps, so the answer is labelled text/html
import json

from flask import Flask, request


def make_app():
    app = Flask("greeter")

    @app.post("/greet")
    def greet():
        return json.dumps({"greeting": f"Hello, {request.get_json()['name']}!"})

    return app

# %% Exercise 2.3 wrong: parses request.data itself, so a text/plain body is accepted
import json

from flask import Flask, jsonify, request


def make_app():
    app = Flask("greeter")

    @app.post("/greet")
    def greet():
        return jsonify(greeting=f"Hello, {json.loads(request.data)['name']}!")

    return app

# %% Exercise 2.3 wrong: get_json(force=True) ignores the content type
from flask import Flask, jsonify, request


def make_app():
    app = Flask("greeter")

    @app.post("/greet")
    def greet():
        return jsonify(greeting=f"Hello, {request.get_json(force=True)['name']}!")

    return app

# %% Exercise 2.3 wrong: hard-coded greeting
from flask import Flask, jsonify


def make_app():
    app = Flask("greeter")

    @app.post("/greet")
    def greet():
        return jsonify(greeting="Hello, Ada!")

    return app

# %% Exercise 2.3 wrong: GET route, so POST is refused
from flask import Flask, jsonify, request


def make_app():
    app = Flask("greeter")

    @app.get("/greet")
    def greet():
        return jsonify(greeting=f"Hello, {request.args.get('name')}!")

    return app

# %% Exercise 2.3 wrong: checks the label itself, then json.loads crashes (500) on a body that is not valid JSON
import json

from flask import Flask, abort, jsonify, request


def make_app():
    app = Flask("greeter")

    @app.post("/greet")
    def greet():
        if request.mimetype != "application/json":
            abort(415)
        data = json.loads(request.get_data(as_text=True))
        return jsonify(greeting=f"Hello, {data['name']}!")

    return app

# %% Exercise 2.3 wrong: the greeting without its comma and "!" ("Hello <name>")
from flask import Flask, jsonify, request


def make_app():
    app = Flask("greeter")

    @app.post("/greet")
    def greet():
        return jsonify(greeting=f"Hello {request.get_json()['name']}")

    return app
