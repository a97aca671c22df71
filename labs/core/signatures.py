"""Signing and verifying webhook deliveries: GitHub's scheme and Standard Webhooks.

Written once, used by the receiver (:mod:`labs.webhooks`), the sender
(:mod:`labs.harness.webhook_sender`) and notebook 08.  No Flask here: these are pure functions
of bytes and strings, so a notebook can call them by hand.

GitHub (``X-Hub-Signature-256``)
    ``"sha256=" + hex(HMAC-SHA256(secret, raw body))``.  Only the body is signed, so a
    captured delivery stays valid forever: replays are stopped only by remembering
    ``X-GitHub-Delivery`` ids.

Standard Webhooks (https://www.standardwebhooks.com/)
    headers ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
    (space-separated ``v1,<base64 HMAC-SHA256>`` entries, several during a key rotation);
    the signed content is ``f"{id}.{timestamp}.{body}"`` and the secret is written
    ``whsec_<base64 of the key bytes>``.  The timestamp is signed too, so the receiver
    can refuse old deliveries (replay protection) without remembering them forever.

Every comparison of a signature uses :func:`hmac.compare_digest`: ``==`` stops at the
first differing byte, and the time that takes tells an attacker how much of a guess
was right.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time

GITHUB_PREFIX = "sha256="
STANDARD_PREFIX = "v1,"
STANDARD_SECRET_PREFIX = "whsec_"

# Used only when neither the lab's config nor the environment sets WEBHOOK_SECRET.  It is
# public (it is in this file), so anyone can sign deliveries with it: development only.
DEVELOPMENT_SECRET = "whsec_c3NlLWtpdCBkZXZlbG9wbWVudCBzZWNyZXQ="  # base64("sse-kit development secret")

# Standard Webhooks recommends refusing timestamps more than 5 minutes from our clock,
# in either direction.
DEFAULT_TOLERANCE_SECONDS = 5 * 60


class VerificationError(Exception):
    """A delivery failed verification.  ``status`` is the HTTP answer the receiver gives."""

    status = 401

    def __init__(self, error: str, detail: str = "") -> None:
        super().__init__(f"{error}: {detail}" if detail else error)
        self.error = error
        self.detail = detail


class SignatureError(VerificationError):
    """Missing or wrong signature: we cannot tell who sent it (401)."""

    status = 401


class TimestampError(VerificationError):
    """Authentic but outside the tolerance window, or not a timestamp at all (400)."""

    status = 400


def shared_secret(configured: str | None = None) -> tuple[str, bool]:
    """The secret to use: ``configured``, else ``$WEBHOOK_SECRET``, else the development one.

    Returns ``(secret, is_development_default)`` so the caller can warn loudly.
    """
    secret = configured or os.environ.get("WEBHOOK_SECRET")
    if secret:
        return str(secret), False
    return DEVELOPMENT_SECRET, True


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


# --------------------------------------------------------------------------- GitHub

def github_signature(secret: str | bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value for ``body``: ``sha256=<64 hex digits>``.

    GitHub uses the secret exactly as typed into its settings, as UTF-8 bytes.
    """
    digest = hmac.new(_bytes(secret), _bytes(body), hashlib.sha256).hexdigest()
    return GITHUB_PREFIX + digest


def verify_github(secret: str | bytes, body: bytes, header: str | None) -> None:
    """Raise :class:`SignatureError` unless ``header`` is the right signature of ``body``.

    ``body`` must be the raw bytes as received: parsing and re-serialising JSON changes
    spacing and key order, and so the signature.
    """
    if not header:
        raise SignatureError("missing signature", "send the header 'X-Hub-Signature-256: sha256=<hex>'")
    expected = github_signature(secret, body)
    # Compare the whole header (prefix included) in constant time; non-ASCII text in a
    # header cannot be compared as str by compare_digest, so compare UTF-8 bytes.
    if not hmac.compare_digest(_bytes(header.strip()), expected.encode("ascii")):
        raise SignatureError("invalid signature",
                             "X-Hub-Signature-256 does not match the body: wrong secret or changed body")


# --------------------------------------------------------------------------- Standard Webhooks

def standard_key(secret: str | bytes) -> bytes:
    """The HMAC key bytes of a Standard Webhooks secret.

    ``whsec_<base64>`` is decoded; anything else is used as UTF-8 bytes, so one
    ``WEBHOOK_SECRET`` can serve both schemes.
    """
    if isinstance(secret, bytes):
        return secret
    if secret.startswith(STANDARD_SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(STANDARD_SECRET_PREFIX):], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a 'whsec_' secret must be followed by base64") from None
    return secret.encode("utf-8")


def standard_signed_content(msg_id: str, timestamp: int | str, body: bytes) -> bytes:
    """What is signed: ``id.timestamp.body``; the id and the time are covered too."""
    return f"{msg_id}.{timestamp}.".encode() + _bytes(body)


def standard_signature(secret: str | bytes, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """One ``webhook-signature`` entry: ``v1,<base64 HMAC-SHA256>``."""
    digest = hmac.new(standard_key(secret), standard_signed_content(msg_id, timestamp, body),
                      hashlib.sha256).digest()
    return STANDARD_PREFIX + base64.b64encode(digest).decode("ascii")


def verify_standard(secret: str | bytes, msg_id: str | None, timestamp: str | None, body: bytes,
                    header: str | None, *, now: float | None = None,
                    tolerance: float = DEFAULT_TOLERANCE_SECONDS) -> int:
    """Check a Standard Webhooks delivery; return its timestamp (int) if it is good.

    The signature is checked first, so "stale" is only ever said of a delivery we really
    signed: an authentic but old delivery is a replay.  Raises :class:`SignatureError`
    (401) or :class:`TimestampError` (400).
    """
    if not header:
        raise SignatureError("missing signature", "send the header 'webhook-signature: v1,<base64>'")
    if not msg_id or not timestamp:
        missing = "webhook-id" if not msg_id else "webhook-timestamp"
        raise SignatureError("missing signature", f"the header {missing!r} is signed too and must be sent")
    expected = standard_signature(secret, msg_id, timestamp, body).encode("ascii")
    # Several space-separated entries are allowed (old and new key during a rotation);
    # other versions (e.g. v1a, asymmetric) are skipped, not failed.  Every v1 entry is
    # compared, in constant time.
    matched = False
    for entry in header.split():
        if entry.startswith(STANDARD_PREFIX) and hmac.compare_digest(_bytes(entry), expected):
            matched = True
    if not matched:
        raise SignatureError("invalid signature",
                             "no v1 entry of webhook-signature matches: wrong secret, or the id, "
                             "timestamp or body changed")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise TimestampError("invalid timestamp", "webhook-timestamp must be whole Unix seconds")
    sent = int(timestamp)
    check_timestamp(sent, now=now, tolerance=tolerance)
    return sent


def check_timestamp(sent: int, *, now: float | None = None,
                    tolerance: float = DEFAULT_TOLERANCE_SECONDS) -> None:
    """Raise :class:`TimestampError` if ``sent`` is more than ``tolerance`` seconds from now.

    Both directions count: a timestamp far in the future would otherwise stay "fresh"
    for a long time if it leaked.
    """
    now = time.time() if now is None else now
    age = now - sent
    if age > tolerance:
        raise TimestampError("stale timestamp",
                             f"webhook-timestamp is more than {int(tolerance)} s in the past: an old delivery "
                             "replayed (replay protection)")
    if -age > tolerance:
        raise TimestampError("timestamp in the future",
                             f"webhook-timestamp is more than {int(tolerance)} s ahead of our clock")
