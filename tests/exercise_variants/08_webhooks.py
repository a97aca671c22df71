# Other answers to the exercises of notebook 08, judged by tests/test_exercise_checks.py.
# "correct" sections must be solved, "wrong" sections must not.

# %% Exercise 8.1 correct: `from hmac import compare_digest`, hex parts compared as str
import hashlib
import hmac
from hmac import compare_digest


def verify_github_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    if header is None or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return compare_digest(expected, header[len("sha256="):])

# %% Exercise 8.1 correct: secrets.compare_digest, a try/except for the missing header
import hashlib
import hmac
import secrets


def verify_github_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    try:
        scheme, received = header.split("=", 1)
    except (AttributeError, ValueError):
        return False
    if scheme != "sha256":
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return secrets.compare_digest(received.encode(), expected.encode())

# %% Exercise 8.1 correct: raw digests compared (bytes.fromhex of the header), hmac.digest
import hashlib
import hmac


def verify_github_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    if not isinstance(header, str) or not header.startswith("sha256="):
        return False
    try:
        received = bytes.fromhex(header.removeprefix("sha256="))
    except ValueError:
        return False
    ok = hmac.compare_digest(hmac.digest(secret, body, "sha256"), received)
    return bool(ok)

# %% Exercise 8.1 wrong: == instead of a constant-time comparison
import hashlib
import hmac


def verify_github_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    return header == "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()

# %% Exercise 8.1 wrong: calls hmac.compare_digest("x", "y") for show, then decides with ==
import hashlib
import hmac


def verify_github_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    hmac.compare_digest("x", "y")
    if not header:
        return False
    return header == "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()

# %% Exercise 8.1 wrong: compares the right values in constant time, then returns == anyway
import hashlib
import hmac


def verify_github_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    hmac.compare_digest(header, expected)
    return header == expected

# %% Exercise 8.1 wrong: strips the prefix without requiring it (a bare hex header passes)
import hashlib
import hmac


def verify_github_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.removeprefix("sha256="), expected)

# %% Exercise 8.1 wrong: crashes on a missing header
import hashlib
import hmac


def verify_github_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.encode(), expected.encode())

# %% Exercise 8.1 wrong: signs the re-serialised JSON instead of the raw body
import hashlib
import hmac
import json


def verify_github_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    canonical = json.dumps(json.loads(body)).encode()
    expected = "sha256=" + hmac.new(secret, canonical, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header, expected)

# %% Exercise 8.1 wrong: hard-coded: accepts anything that looks like a sha256 header
def verify_github_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    return bool(header) and header.startswith("sha256=") and len(header) == 71

# %% Exercise 8.2 correct: upper case, with spaces
ANSWER = " B "

# %% Exercise 8.2 wrong: a (speed)
ANSWER = "a"

# %% Exercise 8.2 wrong: d (nothing wrong)
ANSWER = "d"

# %% Exercise 8.2 wrong: computed instead of written out
ANSWER = chr(ord("a") + 1)

# %% Exercise 8.3 correct: str formatting of the whole content, then encode; from-imports
from base64 import b64decode, b64encode
from hashlib import sha256
from hmac import new as new_hmac


def standard_webhooks_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = b64decode(secret.split("_", 1)[1])
    content = f"{msg_id}.{timestamp}.{body.decode('utf-8')}".encode()
    return f"v1,{b64encode(new_hmac(key, content, sha256).digest()).decode('ascii')}"

# %% Exercise 8.3 correct: hmac.digest and bytes joined with b"."
import base64
import hmac


def standard_webhooks_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret[len("whsec_"):])
    content = b".".join([msg_id.encode(), str(timestamp).encode(), body])
    return "v1," + base64.b64encode(hmac.digest(key, content, "sha256")).decode()

# %% Exercise 8.3 wrong: the secret string used as the key
import base64
import hashlib
import hmac


def standard_webhooks_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret.encode(), content, hashlib.sha256).digest()).decode()

# %% Exercise 8.3 wrong: hex digest instead of base64
import base64
import hashlib
import hmac


def standard_webhooks_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + hmac.new(key, content, hashlib.sha256).hexdigest()

# %% Exercise 8.3 wrong: str(body) puts b'...' into the signed content
import base64
import hashlib
import hmac


def standard_webhooks_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()

# %% Exercise 8.3 wrong: hard-coded published example
def standard_webhooks_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    return "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

# %% Exercise 8.3 wrong: with base64, hmac and hashlib: calls the kit's labs.core.signatures instead
from labs.core.signatures import standard_signature


def standard_webhooks_signature(secret, msg_id, timestamp, body):
    return standard_signature(secret, msg_id, timestamp, body)

# %% Exercise 8.3 wrong: the entry starts with "v1,": the bare base64 signature
import base64
import hashlib
import hmac


def standard_webhooks_signature(secret, msg_id, timestamp, body):
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()).decode()

# %% Exercise 8.3 wrong: HMAC-SHA256: HMAC-SHA1 instead
import base64
import hashlib
import hmac


def standard_webhooks_signature(secret, msg_id, timestamp, body):
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha1).digest()
    return "v1," + base64.b64encode(digest).decode()

# %% Exercise 8.4 correct: a chained comparison
def is_fresh(timestamp: int, now: float, tolerance: int = 300) -> bool:
    return now - tolerance <= timestamp <= now + tolerance

# %% Exercise 8.4 correct: two early returns
def is_fresh(timestamp: int, now: float, tolerance: int = 300) -> bool:
    if timestamp < now - tolerance:
        return False  # too old: a replay
    if timestamp > now + tolerance:
        return False  # from the future
    return True

# %% Exercise 8.4 wrong: only checks for old timestamps
def is_fresh(timestamp: int, now: float, tolerance: int = 300) -> bool:
    return now - timestamp <= tolerance

# %% Exercise 8.4 wrong: the edge is refused (< instead of <=)
def is_fresh(timestamp: int, now: float, tolerance: int = 300) -> bool:
    return abs(now - timestamp) < tolerance

# %% Exercise 8.4 wrong: ignores the tolerance argument
def is_fresh(timestamp: int, now: float, tolerance: int = 300) -> bool:
    return abs(now - timestamp) <= 300

# %% Exercise 8.4 wrong: hard-coded for the notebook's old check
def is_fresh(timestamp: int, now: float, tolerance: int = 300) -> bool:
    return timestamp in (1_700_000_000, 1_699_999_701, 1_699_999_700, 1_700_000_060)
