"""What notebook 15's checks stream: tokens nobody can guess, with spaces, digits, quotes, markup,
a newline and characters of several UTF-8 lengths."""

from __future__ import annotations

import random

WORDS = ["stream", "origin", "ticket", "token", "cookie", "preflight", "chunk", "reader", "café", "naïve",
         "5 €", "🙂", "日本", "Grüße", "señor", "\"quoted\"", "a\nb", "<b>x</b>"]


def random_tokens(rng: random.Random, count: int) -> list[str]:
    """``count`` tokens, some starting with a space, some ending in a number."""
    return [rng.choice(["", " "]) + rng.choice(WORDS) + rng.choice(["", str(rng.randint(0, 99))])
            for _ in range(count)]
