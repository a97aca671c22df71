# Reference answers for notebook 13.  Each section replaces the exercise cell's code.

# %% Exercise 13.1
import random


def retry_for_reader(low_ms, high_ms):
    # Each reader its own moment to come back, anywhere in the window, every moment as likely.
    return random.randint(low_ms, high_ms)

# %% Exercise 13.2
import random


def backoff_delay(failures, base_s, cap_s):
    # The ceiling doubles with each failure, up to the cap; comparing exponents first keeps a
    # long outage (failures in the thousands) from overflowing a float.
    if failures >= 64 or base_s * 2 ** failures >= cap_s:
        ceiling = cap_s
    else:
        ceiling = base_s * 2 ** failures
    return random.uniform(0, ceiling)  # "full jitter": anywhere from 0 to the ceiling

# %% Exercise 13.3
MISSED = 30
REPLAYED = 20
FIRST_EVENT = "gap"
