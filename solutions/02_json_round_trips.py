# Reference answers for notebook 02.  Each section replaces the exercise cell's code.

# %% Exercise 2.1
import json


def fetch_options(payload):
    return {
        "method": "POST",
        # Without this header Flask's request.get_json() refuses the body (415).
        "headers": {"Content-Type": "application/json"},
        # JSON.stringify(payload): the text, not the object (or the server gets "[object Object]").
        "body": json.dumps(payload),
    }

# %% Exercise 2.2
import json


def message_of(event):
    # event.data is a string even when it holds JSON; the browser already joined the data: lines.
    return json.loads(event.data)["message"]

# %% Exercise 2.3
from flask import Flask, jsonify, request


def make_app():
    app = Flask("greeter")

    @app.post("/greet")
    def greet():
        # get_json() answers 415 by itself when the body is not labelled as JSON,
        # and 400 when it is not valid JSON.
        data = request.get_json()
        return jsonify(greeting=f"Hello, {data['name']}!")

    return app
