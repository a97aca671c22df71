# Reference answers for notebook 00.  Each section replaces the exercise cell's code.

# %% Exercise 0.1
import requests


def is_healthy(url):
    try:
        response = requests.get(url + "/health", timeout=2)
        return response.status_code == 200 and response.json().get("status") == "ok"
    except (requests.RequestException, ValueError):  # no answer, or an answer that is not JSON
        return False
