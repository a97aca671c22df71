"""Reference answers for notebooks/08_webhooks.ipynb (one section per exercise)."""

# %% Exercise 8.1
import hashlib
import hmac


def verify_github_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    # Constant time: how long this takes says nothing about how much of `header` was right.
    # (Both sides as bytes: compare_digest refuses str with non-ASCII characters.)
    return hmac.compare_digest(header.encode(), expected.encode())

# %% Exercise 8.2
# b: == stops at the first differing character, so the response time leaks how much of a
# forged signature is right; hmac.compare_digest always looks at every byte.
ANSWER = "b"

# %% Exercise 8.3
import base64
import hashlib
import hmac


def standard_webhooks_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed_content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed_content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()

# %% Exercise 8.4
def is_fresh(timestamp: int, now: float, tolerance: int = 300) -> bool:
    # Both directions: a timestamp far in the future would stay "fresh" for a long time.
    return abs(now - timestamp) <= tolerance
