"""Exercise 10.2: a prediction (live or held) for three chains of proxies, judged against what the
notebook measured; the check runs the three for real too, and says so if this nginx differs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

from labs.exercises import Answer, exercise
from labs.exercises.nb10.timing import Lab, describe, race
from labs.exercises.support import lab_in_thread, require_predictions

EVENTS_10_2 = 3

# name: (what the notebook measured, proxies from the lab outwards as start_proxy settings, why)
CONFIGS_10_2 = {
    "A": ("live", [dict(http_version="1.0", honour_accel_buffering=False)],
          "one nginx that buffers (the lab's header ignored) but compresses nothing passes small events on "
          "as they come, over HTTP/1.0 as over 1.1 (sections 2 and 6)"),
    "B": ("held", [dict(buffering=False), dict(gzip=True)],
          "the inner nginx consumes the lab's X-Accel-Buffering, so the outer one buffers, and gzip with "
          "buffering at the same proxy holds everything (sections 3 and 5); the inner one's buffering "
          "does not matter"),
    "C": ("live", [dict(gzip=True), dict()],
          "the inner nginx obeys the lab's header: no buffering there, so its gzip flushes after every event; "
          "the outer one buffers but compresses nothing, and passes the compressed bytes on as they come"),
}


def _measure(settings: list[dict]) -> str:
    """Run the lab behind these proxies (the first next to the lab) and say how events arrived."""
    from labs.harness.nginx import start_proxy

    with lab_in_thread("manual_sse", {"GOODBYE_ON_SIGTERM": False}) as served, ExitStack() as proxies:
        lab, upstream = Lab(served.url), served.url
        for one in settings:
            upstream = proxies.enter_context(start_proxy(upstream, **one))
        reader, delays = race(lab, upstream.url, count=EVENTS_10_2)
        reader.close()
    return describe(reader, delays)


@exercise("10.2", hints=[
    "Go proxy by proxy, from the lab outwards, and ask at each one: does it buffer this response, does it "
    "compress it, and does it still see the lab's X-Accel-Buffering header?",
    "In this notebook only one thing held a stream: gzip for text/event-stream and buffering, together at "
    "the same proxy. Buffering alone, gzip without buffering, and the HTTP version towards the lab never "
    "did. And look at what section 5 found about the header on its way out of nginx.",
])
def check_10_2(answer: Answer) -> None:
    require_predictions(answer, CONFIGS_10_2)
    predicted = {}
    for name in CONFIGS_10_2:
        value = answer.literal(name)
        if not (isinstance(value, str) and value.strip().lower() in ("live", "held")):
            raise AssertionError(f'{name} should be "live" or "held"; it is {value!r}')
        predicted[name] = value.strip().lower()
    with ThreadPoolExecutor(len(CONFIGS_10_2)) as pool:  # three labs and their proxies at once
        measured = dict(zip(CONFIGS_10_2, pool.map(_measure, [c[1] for c in CONFIGS_10_2.values()]), strict=True))
    wrong = 0
    for name, (truth, _, _why) in CONFIGS_10_2.items():
        got = measured[name]
        if (got == "live") != (truth == "live") and (got == "live" or got.startswith("held")):
            raise RuntimeError(f"config {name} measured {got!r} here, but the notebook measured {truth}: this "
                               "nginx behaves differently from the one the exercise was written for")
        wrong += predicted[name] != truth
    # A nudge, not the answer: with two possible words, naming the wrong prediction would give it away.
    assert not wrong, (
        f"{wrong} of your {len(CONFIGS_10_2)} predictions {'is' if wrong == 1 else 'are'} not what happens (the "
        "check just ran all three paths): go through each path again, proxy by proxy, from the lab outwards")
