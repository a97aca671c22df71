"""Checks for notebook 08 (webhooks: signatures and replay protection)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import secrets

from labs.exercises import Answer, exercise
from labs.exercises.inside import signature_forms as _forms
from labs.exercises.support import random_text


def _body(rng: random.Random) -> bytes:
    payload = {"ref": f"refs/heads/{secrets.token_hex(3)}", "pusher": {"name": random_text(rng)},
               "commits": rng.randint(1, 9)}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# ------------------------------------------------------------------ 8.1

class _Spy:
    """The check's handle on the stand-in for ``compare_digest`` that runs beside the answer
    (:func:`labs.exercises.inside.spy_install`): arm it for a case, then read its record."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        answer.inside("spy_install")
        self.expected = self.received = None
        self.calls: list = []
        self.all_calls: list = []

    def arm(self, expected: str | None, received: str | None, flip: bool) -> None:
        self.expected, self.received = expected, received
        self.answer.inside("spy_arm", expected, received, flip)

    def read(self) -> None:
        calls, all_calls = self.answer.inside("spy_report")
        self.calls = [tuple(call) for call in calls]
        self.all_calls = [tuple(call) for call in all_calls]


def _case(verify, spy: _Spy, what: str, secret: bytes, body: bytes, header: str | None,
          expected_hex: str | None, want: bool, flip: bool = False) -> None:
    spy.arm(expected_hex, header.strip().lower().removeprefix("sha256=") if header else None, flip)
    got = verify(secret, body, header)
    spy.read()
    assert isinstance(got, bool), f"return True or False; for {what} you returned {got!r}"
    if expected_hex is None:  # refused before any comparison is needed
        assert got is want, f"{what} must be {'accepted' if want else 'refused'}; you returned {got}"
        return
    if not spy.calls:
        for a, b in spy.all_calls:
            for mine, theirs in ((a, b), (b, a)):
                if spy.received in _forms(theirs):
                    raise AssertionError(
                        f"for {what}, you compared the header with {mine!r}, which is not the HMAC-SHA256 of "
                        "the body as it arrived, keyed with the secret")
        if spy.all_calls:
            raise AssertionError(
                f"for {what}, your function called compare_digest, but not on the two signatures that "
                "decide: compare the signature you computed with the one in the header")
        raise AssertionError(f"for {what}, no constant-time comparison of the computed signature with the "
                             "header's took place: compare them with hmac.compare_digest, never == (section 3)")
    decided = spy.calls[-1][2]
    if flip:
        assert got is decided, (
            "your result does not follow hmac.compare_digest: when the check made compare_digest answer "
            f"{decided}, you still returned {got}; return what the constant-time comparison says")
        return
    assert got is want, f"{what} must be {'accepted' if want else 'refused'}; you returned {got}"


@exercise("8.1", hints=[
    "Follow the receiver's steps: is there a header, does it start with the right prefix, what signature "
    "would the secret give for this body, and do the two match?",
    "Sign the raw body with HMAC-SHA256 (section 2 shows the one line); the header carries the hex form "
    "after \"sha256=\". A missing header must not crash you.",
    "Section 3: the comparison that decides must be constant-time, and your function returns what that "
    "comparison says (not what == says).",
])
def check_8_1(answer: Answer) -> None:
    verify = answer.function("verify_github_signature")
    rng = random.Random()
    spy = _Spy(answer)
    for _ in range(2):
        secret, body = os.urandom(rng.randint(8, 32)), _body(rng)
        good_hex = hmac.new(secret, body, hashlib.sha256).hexdigest()
        good = "sha256=" + good_hex
        other_hex = hmac.new(b"a guess", body, hashlib.sha256).hexdigest()
        tampered = body.replace(b'"commits":', b'"commits": ')
        tampered_hex = hmac.new(secret, tampered, hashlib.sha256).hexdigest()
        cases = [
            ("a genuine delivery", secret, body, good, good_hex, True),
            ("a body changed after signing", secret, tampered, good, tampered_hex, False),
            ("a signature made with another secret", secret, body, "sha256=" + other_hex, good_hex, False),
            ("a missing header (None)", secret, body, None, None, False),
            ("an empty header", secret, body, "", None, False),
            ("the right hex without 'sha256='", secret, body, good_hex, None, False),
            ("the right hex after 'sha1='", secret, body, "sha1=" + good_hex, None, False),
        ]
        rng.shuffle(cases)
        for case in cases:
            _case(verify, spy, *case)
    # The comparison decides: make it answer the opposite of `==` and see who the result follows.
    secret, body = os.urandom(16), _body(rng)
    good_hex = hmac.new(secret, body, hashlib.sha256).hexdigest()
    forged_hex = hmac.new(os.urandom(16), body, hashlib.sha256).hexdigest()
    flips = [("a genuine delivery", secret, body, "sha256=" + good_hex, good_hex, False, True),
             ("a forged delivery", secret, body, "sha256=" + forged_hex, good_hex, True, True)]
    rng.shuffle(flips)
    for case in flips:
        _case(verify, spy, *case)


# ------------------------------------------------------------------ 8.2

@exercise("8.2", hints=[
    "Think about what a forger can measure when they send many guesses to the receiver.",
    "Picture how `==` walks along two strings, and when it stops. What does the time it takes depend on?",
])
def check_8_2(answer: Answer) -> None:
    choice = answer.literal("ANSWER")
    assert isinstance(choice, str) and choice.strip().lower() in {"a", "b", "c", "d"}, \
        f"answer with one letter as a string: \"a\", \"b\", \"c\" or \"d\" (you wrote {choice!r})"
    choice = choice.strip().lower()
    assert choice != "a", "speed is not the issue: compare_digest is not faster than =="
    assert choice != "c", "both signatures here are str; and == between bytes and str would simply say False"
    assert choice != "d", "the signature stands for the secret: leaking a valid one byte by byte is just as bad"
    assert choice == "b"


# ------------------------------------------------------------------ 8.3

def _kit_imports(source: str) -> set[str]:
    """The kit's modules (``labs...``) that the cell imports, read from its source."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(source)):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
        found |= {name for name in names if name == "labs" or name.startswith("labs.")}
    return found


def _standard(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@exercise("8.3", hints=[
    "Three parts: the key (from the secret), the signed content (from the id, the timestamp and the body), "
    "and the way the result is written. Section 4 does all three by hand.",
    "The key is not the secret string: it is the bytes that the part after \"whsec_\" encodes in base64. "
    "The signed content is bytes too, with dots between its three parts.",
    "The result is \"v1,\" followed by the base64 (not hex) of the HMAC-SHA256 digest, as a str.",
])
def check_8_3(answer: Answer) -> None:
    sign = answer.function("standard_webhooks_signature")
    borrowed = sorted(_kit_imports(answer.source))
    assert not borrowed, (f"your cell imports {', '.join(borrowed)}: the exercise is to compute the signature "
                          "yourself, with base64, hmac and hashlib")
    vector = ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
              b'{"test": 2432232314}')
    got = sign(*vector)
    assert isinstance(got, str), f"return a str, not a {type(got).__name__}"
    assert got.startswith("v1,"), f"the entry starts with 'v1,'; yours starts with {got[:6]!r}"
    assert got == _standard(*vector), \
        "wrong signature for the Standard Webhooks example: check the key, the signed content and the encoding"
    rng = random.Random()
    for _ in range(3):
        args = ("whsec_" + base64.b64encode(os.urandom(rng.choice([24, 32]))).decode(),
                f"msg_{secrets.token_urlsafe(12)}", rng.randint(1_600_000_000, 1_900_000_000), _body(rng))
        got = sign(*args)
        assert got == _standard(*args), (
            f"for msg_id={args[1]!r}, timestamp={args[2]} and a {len(args[3])}-byte body you returned {got!r}, "
            f"not the signature")


# ------------------------------------------------------------------ 8.4

@exercise("8.4", hints=[
    "There are two ways to be outside the window: too old, and too far in the future. Does your test catch both?",
    "The edge counts as fresh: exactly `tolerance` seconds away is still inside the window. And use the "
    "`tolerance` you are given, with 300 as its default.",
    "What matters is how far apart the two moments are, whichever comes first.",
])
def check_8_4(answer: Answer) -> None:
    is_fresh = answer.function("is_fresh")
    rng = random.Random()
    for _ in range(3):
        now = rng.randint(1_600_000_000, 1_900_000_000)
        tolerance = rng.randint(30, 900)
        inside = rng.randint(1, tolerance - 1)
        cases = [
            (now, tolerance, True, "a delivery sent just now"),
            (now - inside, tolerance, True, f"{inside} s old with a {tolerance} s tolerance"),
            (now + inside, tolerance, True, f"{inside} s in the future with a {tolerance} s tolerance"),
            (now - tolerance, tolerance, True, f"exactly {tolerance} s old with a {tolerance} s tolerance"),
            (now + tolerance, tolerance, True, f"exactly {tolerance} s in the future with a {tolerance} s tolerance"),
            (now - tolerance - 1, tolerance, False, f"{tolerance + 1} s old with a {tolerance} s tolerance"),
            (now + tolerance + 1, tolerance, False, f"{tolerance + 1} s in the future with a {tolerance} s tolerance"),
            (now - rng.randint(3600, 10**6), tolerance, False, "hours old"),
            (now + rng.randint(3600, 10**6), tolerance, False, "hours in the future"),
        ]
        rng.shuffle(cases)
        for timestamp, tol, want, what in cases:
            for moment in (now, float(now)):
                got = is_fresh(timestamp, moment, tol)
                assert got == want and isinstance(got, bool), \
                    f"{what}: is_fresh should return {want}; it returned {got!r}"
        for timestamp, want, what in [(now - 300, True, "300 s old"), (now - 301, False, "301 s old"),
                                      (now + 301, False, "301 s in the future")]:
            got = is_fresh(timestamp, now)
            assert got == want, \
                f"{what}, with the default tolerance (300 s): is_fresh should return {want}; it returned {got!r}"
