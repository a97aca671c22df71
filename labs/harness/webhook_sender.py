"""Sign and send webhook deliveries, as GitHub or a Standard Webhooks provider would.

``python -m labs send-webhook [options]`` (``--help`` lists them).  Examples::

    python -m labs send-webhook --url http://127.0.0.1:5000                  # a signed push
    python -m labs send-webhook --scheme standard --pusher bob --branch dev
    python -m labs send-webhook --tamper body        # changed after signing: 401
    python -m labs send-webhook --wrong-secret       # 401
    python -m labs send-webhook --twice              # the same delivery again: 200, not pushed
    python -m labs send-webhook --scheme standard --age 600   # an old delivery: 400
    python -m labs send-webhook --save d.json; python -m labs send-webhook --replay d.json

Like real providers it retries a delivery that met a connection error, a timeout, a 5xx,
408 or 429, waiting twice as long each time, and gives up after ``--attempts``.  A 4xx
answer is final: the receiver has said the delivery itself is wrong.

From Python (notebook 08, the tests)::

    delivery = github_delivery(url, "push", push_payload("alice", "main"), secret)
    outcome = send(delivery)          # -> Outcome(status=200, ...)
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import json
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests

from labs.core import signatures

# A secret that is certainly not the receiver's: for showing what a forger gets.
WRONG_SECRET = "whsec_" + base64.b64encode(b"not the shared secret at all").decode("ascii")
USER_AGENT = "sse-kit-webhook-sender/1.0"
RETRY_STATUSES = {408, 429}  # plus every 5xx: the receiver may do better next time
BODY_PREVIEW = 160


@dataclasses.dataclass
class Delivery:
    """One signed request, exactly as it goes on the wire."""

    url: str
    scheme: str  # "github" or "standard"
    event: str
    id: str
    headers: dict[str, str]
    body: bytes

    def to_json(self) -> str:
        return json.dumps({**dataclasses.asdict(self), "body": self.body.decode("utf-8")}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Delivery:
        data = json.loads(text)
        return cls(**{**data, "body": data["body"].encode("utf-8")})


@dataclasses.dataclass
class Outcome:
    """What became of a delivery: the last answer (if any) and how many attempts it took."""

    delivery: Delivery
    attempts: int
    response: requests.Response | None = None
    error: str | None = None

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None

    @property
    def ok(self) -> bool:
        return self.response is not None and self.response.ok

    def json(self) -> Any:
        return self.response.json() if self.response is not None else None


# --------------------------------------------------------------------------- payloads

def _sha(*parts: object) -> str:
    """A fake commit id.  Every push gets new ones, as real pushes do (so two pushes
    never have byte-identical bodies, which the receiver would take for a replay)."""
    return hashlib.sha1("/".join(map(str, (*parts, uuid.uuid4()))).encode()).hexdigest()


def _now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def push_payload(pusher: str = "alice", branch: str = "main", commits: int = 1,
                 repo: str = "octo-org/hello-world") -> dict:
    """A GitHub ``push`` payload with the fields real ones carry (shortened)."""
    owner, _, name = repo.partition("/")
    before = _sha(repo, branch, "before")
    listed = []
    for number in range(1, commits + 1):
        sha = _sha(repo, branch, pusher, number)
        listed.append({
            "id": sha,
            "message": f"Change number {number}",
            "timestamp": _now_iso(),
            "url": f"https://github.com/{repo}/commit/{sha}",
            "author": {"name": pusher, "email": f"{pusher}@example.com", "username": pusher},
            "added": [], "removed": [], "modified": ["README.md"],
        })
    after = listed[-1]["id"] if listed else before
    return {
        "ref": f"refs/heads/{branch}",
        "before": before,
        "after": after,
        "created": False, "deleted": False, "forced": False,
        "compare": f"https://github.com/{repo}/compare/{before[:12]}...{after[:12]}",
        "commits": listed,
        "head_commit": listed[-1] if listed else None,
        "repository": {"name": name, "full_name": repo, "owner": {"login": owner},
                       "html_url": f"https://github.com/{repo}", "default_branch": "main"},
        "pusher": {"name": pusher, "email": f"{pusher}@example.com"},
        "sender": {"login": pusher, "type": "User"},
    }


def ping_payload(repo: str = "octo-org/hello-world") -> dict:
    """What GitHub sends when a hook is created."""
    return {"zen": "Design for failure.", "hook_id": 1,
            "hook": {"type": "Repository", "events": ["push"], "config": {"content_type": "json"}},
            "repository": {"full_name": repo}}


def _encode(payload: Any) -> bytes:
    # Compact and fixed: these exact bytes are signed, and the receiver must verify them
    # as received, never a re-serialisation.
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def webhook_url(url: str, scheme: str) -> str:
    """A lab's base URL gets the scheme's receiver path; a URL with a path is used as is."""
    parts = urllib.parse.urlsplit(url)
    if parts.path in ("", "/"):
        return url.rstrip("/") + f"/webhook/{scheme}"
    return url


# --------------------------------------------------------------------------- signing

def github_delivery(url: str, event: str, payload: Any, secret: str | bytes,
                    delivery_id: str | None = None) -> Delivery:
    """A GitHub-style delivery, signed with ``X-Hub-Signature-256``."""
    body = payload if isinstance(payload, bytes) else _encode(payload)
    ident = delivery_id or str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": ident,
        "X-Hub-Signature-256": signatures.github_signature(secret, body),
    }
    return Delivery(webhook_url(url, "github"), "github", event, ident, headers, body)


def standard_delivery(url: str, kind: str, data: dict, secret: str | bytes, msg_id: str | None = None,
                      timestamp: int | None = None) -> Delivery:
    """A Standard Webhooks delivery: ``{"type", "timestamp", "data"}`` signed with id and time."""
    ident = msg_id or "msg_" + uuid.uuid4().hex
    sent = int(time.time()) if timestamp is None else int(timestamp)
    when = datetime.fromtimestamp(sent, UTC).isoformat().replace("+00:00", "Z")
    body = _encode({"type": kind, "timestamp": when, "data": data})
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": ident,
        "webhook-timestamp": str(sent),
        "webhook-signature": signatures.standard_signature(secret, ident, sent, body),
    }
    return Delivery(webhook_url(url, "standard"), "standard", kind, ident, headers, body)


def tampered_body(delivery: Delivery) -> Delivery:
    """The same delivery with its body changed after signing (the pusher becomes mallory)."""
    try:
        payload = json.loads(delivery.body)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("pusher"), dict):
        payload["pusher"]["name"] = "mallory"
    elif isinstance(payload, dict) and isinstance(payload.get("data"), dict):
        payload["data"]["pusher"] = "mallory"
    else:
        payload = None
    body = _encode(payload) if payload is not None else delivery.body + b" "
    return dataclasses.replace(delivery, body=body)


def tampered_signature(delivery: Delivery) -> Delivery:
    """The same delivery with one character of its signature changed."""
    header = "X-Hub-Signature-256" if delivery.scheme == "github" else "webhook-signature"
    value = delivery.headers[header]
    middle = len(value) // 2 + 2
    changed = "0" if value[middle] != "0" else "1"
    return dataclasses.replace(delivery, headers={**delivery.headers,
                                                  header: value[:middle] + changed + value[middle + 1:]})


# --------------------------------------------------------------------------- sending

def _preview(data: bytes, limit: int = BODY_PREVIEW) -> str:
    text = data.decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "…"


def send(delivery: Delivery, *, attempts: int = 5, backoff: float = 0.5, max_delay: float = 30.0,
         timeout: float = 10.0, out: Callable[[str], None] | None = print,
         sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """POST ``delivery``, retrying with exponential backoff; return the :class:`Outcome`.

    Retried: connection errors, timeouts, 5xx, 408 and 429 (after ``backoff``, then twice
    as long each time, at most ``max_delay``).  Every attempt sends the same bytes and the
    same id, so a receiver that did the work but lost its answer sees a duplicate, not a
    second event.  Real providers also add random jitter so that many senders do not
    retry in lockstep; left out here to keep the lesson's output repeatable.
    """
    say = out or (lambda text: None)
    attempts = max(1, attempts)
    outcome = Outcome(delivery, 0)
    for attempt in range(1, attempts + 1):
        outcome.attempts = attempt
        say(f"→ POST {delivery.url}  (attempt {attempt}/{attempts})")
        if attempt == 1:
            for name, value in delivery.headers.items():
                say(f"    {name}: {value}")
            say(f"    body ({len(delivery.body)} bytes): {_preview(delivery.body)}")
        try:
            response = requests.post(delivery.url, data=delivery.body, headers=delivery.headers,
                                     timeout=timeout)
        except requests.RequestException as exc:
            outcome.response, outcome.error = None, f"{type(exc).__name__}"
            say(f"← no answer: {outcome.error}")
            retry = True
            wait = None
        else:
            outcome.response, outcome.error = response, None
            say(f"← {response.status_code} {response.text.strip()[:300]}")
            retry = response.status_code >= 500 or response.status_code in RETRY_STATUSES
            wait = response.headers.get("Retry-After")
        if not retry:
            return outcome
        if attempt == attempts:
            say(f"gave up after {attempts} attempt{'s' if attempts > 1 else ''}")
            return outcome
        delay = min(backoff * 2 ** (attempt - 1), max_delay)
        if wait and wait.isdigit():  # the receiver asked for a pause: respect it, within reason
            delay = max(delay, min(float(wait), max_delay))
        say(f"  retrying in {delay:.1f} s")
        sleep(delay)
    return outcome


# --------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m labs send-webhook", description=__doc__.split("\nFrom Python")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="The secret comes from --secret, else $WEBHOOK_SECRET, else the kit's development secret.")
    parser.add_argument("--url", default=None,
                        help="the lab's base URL (default http://127.0.0.1:5000) or a full receiver URL")
    parser.add_argument("--scheme", choices=("github", "standard"), default="github")
    parser.add_argument("--event", default="push",
                        help="github: push, ping or any other event name (ignored by the lab); "
                             "standard: push, ping or notification")
    parser.add_argument("--pusher", default="alice")
    parser.add_argument("--branch", default="main")
    parser.add_argument("--commits", type=int, default=1)
    parser.add_argument("--repo", default="octo-org/hello-world")
    parser.add_argument("--message", default="Deployment finished", help="text of a --event notification")
    parser.add_argument("--secret", default=None)
    parser.add_argument("--wrong-secret", action="store_true", help="sign with a secret the receiver does not know")
    parser.add_argument("--tamper", choices=("body", "signature"), help="change the body or signature after signing")
    parser.add_argument("--id", default=None, help="use this delivery id (reuse one to replay a delivery)")
    parser.add_argument("--age", type=int, default=0,
                        help="standard: sign with a timestamp this many seconds old (a captured, replayed delivery)")
    parser.add_argument("--twice", action="store_true", help="send the same delivery again: a replay")
    parser.add_argument("--save", metavar="FILE", help="also write the delivery to FILE")
    parser.add_argument("--replay", metavar="FILE", help="send a saved delivery again, byte for byte")
    parser.add_argument("--attempts", type=int, default=5, help="give up after this many attempts (default 5)")
    parser.add_argument("--backoff", type=float, default=0.5, help="first retry delay in seconds (default 0.5)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each answer")
    return parser


def build_delivery(args: argparse.Namespace, secret: str) -> Delivery:
    url = args.url or "http://127.0.0.1:5000"
    if args.scheme == "github":
        if args.event == "push":
            payload = push_payload(args.pusher, args.branch, args.commits, args.repo)
        elif args.event == "ping":
            payload = ping_payload(args.repo)
        else:
            payload = {"action": "created", "repository": {"full_name": args.repo}}
        return github_delivery(url, args.event, payload, secret, args.id)
    kinds = {"push": "repository.push", "ping": "ping", "notification": "notification.created"}
    kind = kinds.get(args.event, args.event)
    if kind == "repository.push":
        data = {"pusher": args.pusher, "branch": args.branch, "repository": args.repo, "commits": args.commits}
    elif kind == "notification.created":
        data = {"message": args.message}
    else:
        data = {}
    return standard_delivery(url, kind, data, secret, args.id, int(time.time()) - args.age)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.replay:
        with open(args.replay, encoding="utf-8") as file:
            delivery = Delivery.from_json(file.read())
        if args.url:
            delivery = dataclasses.replace(delivery, url=webhook_url(args.url, delivery.scheme))
        print(f"replaying delivery {delivery.id} from {args.replay}, unchanged")
    else:
        secret, is_default = signatures.shared_secret(args.secret)
        if is_default and not args.wrong_secret:
            print("warning: WEBHOOK_SECRET is not set; signing with the kit's public development secret",
                  file=sys.stderr)
        delivery = build_delivery(args, WRONG_SECRET if args.wrong_secret else secret)
        if args.tamper == "body":
            delivery = tampered_body(delivery)
        elif args.tamper == "signature":
            delivery = tampered_signature(delivery)
    if args.save:
        with open(args.save, "w", encoding="utf-8") as file:
            file.write(delivery.to_json())
        print(f"saved the delivery to {args.save}")
    outcome = None
    for _ in range(2 if args.twice else 1):
        outcome = send(delivery, attempts=args.attempts, backoff=args.backoff, timeout=args.timeout)
    return 0 if outcome is not None and outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
