"""Checks for notebook 13 (scaling out: a cluster, a node lost, a rolling deploy).

13.1 and 13.2 are random by nature, so they are judged statistically: thousands of draws on
bounds the student has not seen, each property with a margin of many standard errors (a
correct answer fails far less often than once in a million checks).  13.3 is a prediction.
"""

from __future__ import annotations

import math
import random
import statistics

from labs.exercises import Answer, exercise, expect

DRAWS = 4000
_MILLISECONDS = "a whole number of milliseconds (an int)"  # what retry_for_reader returns
_SECONDS = "a number of seconds"  # what backoff_delay returns




def _uniform_shape(draws: list[float], low: float, high: float, call: str) -> None:
    """Mean, spread, both ends and flatness of ``draws`` as for a uniform draw on [low, high]."""
    width = high - low
    mean, sd = statistics.fmean(draws), statistics.pstdev(draws)
    expected_sd = width / math.sqrt(12)
    assert min(draws) <= low + 0.02 * width and max(draws) >= high - 0.02 * width, (
        f"{len(draws)} calls of {call} stayed within [{min(draws):g}, {max(draws):g}]: reach both ends of "
        f"[{low:g}, {high:g}]")
    assert abs(mean - (low + high) / 2) <= 6 * expected_sd / math.sqrt(len(draws)), (
        f"{len(draws)} calls of {call} averaged {mean:.1f}; a uniform draw averages the middle, {(low + high) / 2:g}")
    assert abs(sd / expected_sd - 1) <= 0.1, (
        f"{call} is spread too {'widely' if sd > expected_sd else 'narrowly'} (standard deviation {sd:.1f}; "
        f"a uniform draw on [{low:g}, {high:g}] has {expected_sd:.1f}): every value in the range must be as likely")
    bins = [0] * 10
    for value in draws:
        bins[min(9, int((value - low) / width * 10))] += 1
    expected = len(draws) / 10
    chi2 = sum((count - expected) ** 2 / expected for count in bins)
    assert chi2 < 50, (f"{call} is not flat over its range: tenths of it got {bins} of {len(draws)} calls "
                       "(a uniform draw gives each tenth about the same)")


def _independent(draws: list[float], call: str) -> None:
    """Successive values must not follow each other (a sweep from low to high is not random)."""
    if statistics.pstdev(draws) == 0:
        return
    r = statistics.correlation(draws[:-1], draws[1:])
    assert abs(r) < 0.1, (f"each call of {call} depends on the one before (correlation {r:.2f}): draw each "
                          "reader's value at random, or readers of a restarted server come back in step again")


# ------------------------------------------------------------------ 13.1

@exercise("13.1", hints=[
    "Each reader must get its own value, anywhere in the range, every value as likely as any other: "
    "look at what the `random` module offers for whole numbers.",
    "Both ends are included, and the answer is a whole number of milliseconds (an int), because `retry:` "
    "takes nothing else. What does your function return when `low_ms == high_ms`?",
])
def check_13_1(answer: Answer) -> None:
    retry_for_reader = answer.function("retry_for_reader")
    rng = random.Random()
    for _ in range(3):
        low = rng.randint(100, 4000)
        high = low + rng.randint(500, 9000)
        call = f"retry_for_reader({low}, {high})"
        draws = [expect.whole_number(retry_for_reader(low, high), call, _MILLISECONDS) for _ in range(DRAWS)]
        outside = [value for value in draws if not low <= value <= high]
        assert not outside, f"{call} returned {outside[0]}, outside [{low}, {high}]"
        assert len(set(draws)) > 1, (
            f"{call} returned {draws[0]} every time: every reader would come back at the same moment (the storm)")
        _uniform_shape(draws, low, high + 1, call)  # whole numbers: [low, high] is high - low + 1 values
        _independent(draws, call)
    low = rng.randint(500, 5000)  # a narrow window: every value, both ends included, equally often
    high = low + rng.randint(2, 4)
    call = f"retry_for_reader({low}, {high})"
    counts = {value: 0 for value in range(low, high + 1)}
    for _ in range(DRAWS // 2):
        value = expect.whole_number(retry_for_reader(low, high), call, _MILLISECONDS)
        assert value in counts, f"{call} returned {value}, outside [{low}, {high}]"
        counts[value] += 1
    expected = DRAWS // 2 / len(counts)
    assert all(abs(count - expected) <= 0.25 * expected for count in counts.values()), (
        f"{DRAWS // 2} calls of {call} gave {counts}: each of the {len(counts)} values, both ends included, "
        "should come up about equally often")
    fixed = rng.randint(500, 5000)
    call = f"retry_for_reader({fixed}, {fixed})"
    got = {expect.whole_number(retry_for_reader(fixed, fixed), call, _MILLISECONDS) for _ in range(50)}
    assert got == {fixed}, f"retry_for_reader({fixed}, {fixed}) should always be {fixed}; it returned {sorted(got)[:5]}"


# ------------------------------------------------------------------ 13.2

@exercise("13.2", hints=[
    "Two parts: the ceiling for this attempt (it doubles with each failure, and never passes `cap_s`), then a "
    "random wait between 0 and that ceiling.",
    "\"Full jitter\" draws from the whole of [0, ceiling], not only its upper half; `random.uniform` does that.",
    "After a long outage `failures` is large: `base_s * 2 ** 2000` is too big for a float. Compare with the cap "
    "before you multiply, or limit the exponent.",
])
def check_13_2(answer: Answer) -> None:
    backoff_delay = answer.function("backoff_delay")
    rng = random.Random()
    base, cap = round(rng.uniform(0.2, 2.0), 2), round(rng.uniform(8.0, 60.0), 1)
    for failures in [0, 1, 2, rng.randint(3, 5), rng.randint(12, 20)]:
        ceiling = min(cap, base * 2 ** failures)
        call = f"backoff_delay({failures}, {base}, {cap})"
        draws = [expect.number(backoff_delay(failures, base, cap), call, _SECONDS, finite=True)
                 for _ in range(DRAWS // 2)]
        wrong = [value for value in draws if not 0 <= value <= ceiling * (1 + 1e-9)]
        assert not wrong, (f"{call} returned {wrong[0]:g}; after {failures} failures the wait is between 0 and "
                           f"min(cap_s, base_s × 2^{failures}) = {ceiling:g} s")
        assert len(set(draws)) > 1, (f"{call} returned {draws[0]:g} every time: clients that failed together "
                                     "would all retry together")
        _uniform_shape(draws, 0.0, ceiling, call)
        _independent(draws, call)
    for failures in (64, 2000):  # a long outage: the cap, and no OverflowError
        call = f"backoff_delay({failures}, {base}, {cap})"
        try:
            draws = [expect.number(backoff_delay(failures, base, cap), call, _SECONDS, finite=True) for _ in range(200)]
        except OverflowError:
            raise AssertionError(f"{call} raised OverflowError: 2 ** {failures} is too big for a float; "
                                 "compare with the cap before multiplying") from None
        assert all(0 <= value <= cap for value in draws), f"{call} returned {max(draws):g}, more than the cap {cap}"
        assert max(draws) > 0.8 * cap, f"{call} never came near the cap {cap} (at most {max(draws):g})"


# ------------------------------------------------------------------ 13.3

@exercise("13.3", hints=[
    "The readers come back through nginx to any node, but every node reads the same log: what does that "
    "log keep, and what does the catch-up rule (notebook 04) say about an id older than what is kept?",
    "Ids 11 to 60 were published while the reader was away; the log keeps the newest 20. Which ids are still "
    "there, and how many of the ones the reader needs are not?",
])
def check_13_3(answer: Answer) -> None:
    missed, replayed, first = answer.literal("MISSED"), answer.literal("REPLAYED"), answer.literal("FIRST_EVENT")
    wrong = [name for name, given, right in (("FIRST_EVENT", first, "gap"), ("REPLAYED", replayed, 20),
                                             ("MISSED", missed, 30)) if given != right]
    assert not wrong, (f"{len(wrong)} of your 3 predictions ({', '.join(wrong)}) {'is' if len(wrong) == 1 else 'are'} "
                       "not what the reader gets: go through the log's ids again, from the last id the reader saw")
