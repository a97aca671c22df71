# Other answers to the exercises of notebook 00, judged by tests/test_exercise_checks.py.
# Each section replaces the exercise cell's code, so it is self-contained (it imports what it
# uses). "correct" sections must be solved; "wrong" sections must be not solved or an error.

# %% Exercise 0.1 correct: `.ok` and `.get`, one except for every requests error (a bad body included)
import requests


def is_healthy(url):
    try:
        response = requests.get(f"{url}/health", timeout=3)
        return response.ok and response.json().get("status") == "ok"
    except requests.RequestException:  # requests' JSONDecodeError is one too
        return False

# %% Exercise 0.1 correct: http.client from the standard library, the status tested first
import http.client
import json
from urllib.parse import urlsplit


def is_healthy(url):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=3)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        if response.status != 200:
            return False
        body = json.loads(response.read())
    except (OSError, ValueError):  # refused connection, or not JSON
        return False
    finally:
        connection.close()
    return isinstance(body, dict) and body.get("status") == "ok"

# %% Exercise 0.1 correct: urllib (which raises HTTPError for a 5xx), a bool built with `bool(...)`
import json
import urllib.error
import urllib.request


def is_healthy(url):
    try:
        with urllib.request.urlopen(url + "/health", timeout=3) as response:
            data = json.load(response)
    except (urllib.error.URLError, ValueError):  # HTTPError is a URLError
        return False
    return bool(response.status == 200 and data.get("status") == "ok")

# %% Exercise 0.1 wrong: hard-coded True (the notebook's lab is healthy, the check's servers are not)
def is_healthy(url):
    return True

# %% Exercise 0.1 wrong: no exception handling, so a body that is not JSON or a dead server raises
import requests


def is_healthy(url):
    response = requests.get(url + "/health", timeout=3)
    return response.status_code == 200 and response.json()["status"] == "ok"

# %% Exercise 0.1 wrong: ignores the body (a 200 saying "starting" is not healthy)
import requests


def is_healthy(url):
    try:
        return requests.get(url + "/health", timeout=3).status_code == 200
    except requests.RequestException:
        return False

# %% Exercise 0.1 wrong: ignores the status code (a 503 whose body says "ok" is not healthy)
import requests


def is_healthy(url):
    try:
        return requests.get(url + "/health", timeout=3).json().get("status") == "ok"
    except (requests.RequestException, ValueError):
        return False

# %% Exercise 0.1 wrong: returns the body (truthy) rather than True or False
import requests


def is_healthy(url):
    try:
        response = requests.get(url + "/health", timeout=3)
        return response.status_code == 200 and response.json()
    except (requests.RequestException, ValueError):
        return False

# %% Exercise 0.1 wrong: catches the connection error but not a body that is not JSON
import requests


def is_healthy(url):
    try:
        response = requests.get(url + "/health", timeout=3)
    except requests.ConnectionError:
        return False
    return response.status_code == 200 and response.json().get("status") == "ok"

# %% Exercise 0.1 wrong: a cheat that redefines the check helper in the answer cell
import requests


def check(ident, source=None):
    print(f"✅ Exercise {ident} solved.")


def is_healthy(url):
    return True

# %% Exercise 0.1 wrong: asks `url` itself, not `url + "/health"` (the check's servers answer 404 elsewhere)
import requests


def is_healthy(url):
    try:
        response = requests.get(url, timeout=3)
        return response.status_code == 200 and response.json().get("status") == "ok"
    except (requests.RequestException, ValueError):
        return False

# %% Exercise 0.1 wrong: catches a body that is not JSON but not a connection error (nothing listening raises)
import requests


def is_healthy(url):
    response = requests.get(url + "/health", timeout=3)
    try:
        return response.status_code == 200 and response.json().get("status") == "ok"
    except ValueError:
        return False
