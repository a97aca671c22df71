# Other answers to the exercises of notebook 13, judged by tests/test_exercise_checks.py.
# Each section replaces the exercise cell's code, so it is self-contained (it imports what it
# uses). "correct" sections must be solved; "wrong" sections must be not solved or an error.

# %% Exercise 13.1 correct: a Random of its own, randrange with the end made inclusive
import random

_rng = random.Random()


def retry_for_reader(low_ms, high_ms):
    return _rng.randrange(low_ms, high_ms + 1)

# %% Exercise 13.1 correct: from the operating system's randomness (secrets), as an offset from low
import secrets


def retry_for_reader(low_ms, high_ms):
    return low_ms + secrets.randbelow(high_ms - low_ms + 1)

# %% Exercise 13.1 wrong: the same retry for everyone (the synchronized storm)
def retry_for_reader(low_ms, high_ms):
    return (low_ms + high_ms) // 2

# %% Exercise 13.1 wrong: only the two ends of the window
import random


def retry_for_reader(low_ms, high_ms):
    return random.choice([low_ms, high_ms])

# %% Exercise 13.1 wrong: a float, which retry: cannot carry
import random


def retry_for_reader(low_ms, high_ms):
    return random.uniform(low_ms, high_ms)

# %% Exercise 13.1 wrong: the average of two draws (a triangle: the middle of the window crowded)
import random


def retry_for_reader(low_ms, high_ms):
    return (random.randint(low_ms, high_ms) + random.randint(low_ms, high_ms)) // 2

# %% Exercise 13.1 wrong: a sweep from low to high, the same order after every restart
import itertools

_step = itertools.count()


def retry_for_reader(low_ms, high_ms):
    if low_ms == high_ms:
        return low_ms
    return low_ms + (next(_step) * 37) % (high_ms - low_ms + 1)

# %% Exercise 13.1 wrong: the upper end never drawn (randrange excludes it)
import random


def retry_for_reader(low_ms, high_ms):
    return random.randrange(low_ms, high_ms) if high_ms > low_ms else low_ms

# %% Exercise 13.2 correct: the exponent limited first, then uniform(0, ceiling) with a Random of its own
import random

_rng = random.Random()


def backoff_delay(failures, base_s, cap_s):
    ceiling = min(cap_s, base_s * 2.0 ** min(failures, 60))
    return _rng.uniform(0.0, ceiling)

# %% Exercise 13.2 correct: random() scaled, the ceiling found by doubling up to the cap
import random


def backoff_delay(failures, base_s, cap_s):
    ceiling = base_s
    for _ in range(failures):
        if ceiling >= cap_s:
            break
        ceiling *= 2
    return random.random() * min(ceiling, cap_s)

# %% Exercise 13.2 wrong: no jitter (everyone who failed together retries together)
def backoff_delay(failures, base_s, cap_s):
    return min(cap_s, base_s * 2 ** min(failures, 60))

# %% Exercise 13.2 wrong: "equal jitter" (never less than half the ceiling) where full jitter was asked
import random


def backoff_delay(failures, base_s, cap_s):
    ceiling = min(cap_s, base_s * 2 ** min(failures, 60))
    return ceiling / 2 + random.uniform(0, ceiling / 2)

# %% Exercise 13.2 wrong: no cap
import random


def backoff_delay(failures, base_s, cap_s):
    return random.uniform(0, base_s * 2 ** min(failures, 60))

# %% Exercise 13.2 wrong: right until a long outage, then OverflowError (2 ** 2000 as a float)
import random


def backoff_delay(failures, base_s, cap_s):
    return random.uniform(0, min(cap_s, base_s * 2 ** failures))

# %% Exercise 13.2 wrong: the ceiling grows by one base per failure, not doubling
import random


def backoff_delay(failures, base_s, cap_s):
    return random.uniform(0, min(cap_s, base_s * (failures + 1)))

# %% Exercise 13.3 correct: the same prediction written differently (a float that equals 30, single quotes)
MISSED = 30.0
REPLAYED = 20
FIRST_EVENT = 'gap'

# %% Exercise 13.3 wrong: Redis history makes it complete, so nothing missed (true only within the history)
MISSED = 0
REPLAYED = 50
FIRST_EVENT = "notify"

# %% Exercise 13.3 wrong: all 50 counted as missed
MISSED = 50
REPLAYED = 20
FIRST_EVENT = "gap"

# %% Exercise 13.3 wrong: computed rather than predicted
MISSED = 60 - 10 - 20
REPLAYED = 20
FIRST_EVENT = "gap"
