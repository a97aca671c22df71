"""Exercise 4.1: ``replay_text(history, forgotten, last_event_id)``, what a reader who comes back
gets: the kept messages it missed, oldest first, each with its id, after a ``gap`` event when it
may have missed some that were forgotten."""

from __future__ import annotations

import json
import random
import secrets

from labs.core.sse import Event, decode
from labs.exercises import Answer, exercise, expect
from labs.exercises.support import random_lines, random_text


def _replay_history(rng: random.Random) -> tuple[list[int], dict[int, str], int]:
    """Kept ids with gaps (the counter is shared with other channels), texts, and `forgotten`."""
    ids = [rng.randint(10, 400)]
    steps = [rng.randint(2, 9)] + [rng.choice([1, 1, 2, 3, 5, 8]) for _ in range(rng.randint(3, 5))]
    rng.shuffle(steps)
    for step in steps:
        ids.append(ids[-1] + step)
    texts = {ident: random_text(rng) for ident in ids}
    texts[rng.choice(ids)] = random_lines(rng)  # a newline must not break the framing
    forgotten = ids[0] - rng.randint(1, 6)
    return ids, texts, forgotten


def _shuffled(texts: dict[int, str], rng: random.Random) -> dict[int, str]:
    order = list(texts)
    while len(order) > 1 and order == sorted(order):
        rng.shuffle(order)
    return {ident: texts[ident] for ident in order}


def _replay_cases(ids: list[int], forgotten: int, rng: random.Random) -> list[tuple[int, str | None, bool, list[int]]]:
    """(forgotten, last_event_id, gap expected, ids expected) for one history."""
    middle = rng.choice(ids[1:-1])
    cases = [
        (forgotten, None, False, []),
        (forgotten, str(middle), False, [i for i in ids if i > middle]),
        (forgotten, str(ids[-1]), False, []),
        (forgotten, str(forgotten), False, ids),
        (forgotten, str(forgotten - rng.randint(1, min(9, forgotten))), True, ids),
        (forgotten, f"tab-{secrets.token_hex(3)}", True, ids),
        (0, str(ids[0] - rng.randint(1, 5)), False, ids),
    ]
    if ids[0] - forgotten > 1:  # an id between the forgotten ones and the kept ones: nothing lost
        cases.append((forgotten, str(rng.randint(forgotten + 1, ids[0] - 1)), False, ids))
    rng.shuffle(cases)
    return cases


def _judge_replay(events: list[Event], call: str, header: str | None, forgotten: int,
                  gap: bool, want: list[int], texts: dict[int, str]) -> None:
    if header is None:
        assert not events, f"{call}: a new reader (no Last-Event-ID) gets nothing replayed; you sent {events!r}"
        return
    gaps = [e for e in events if e.type == "gap"]
    if gap:
        why = ("is not an id at all" if not header.lstrip("-").isdigit()
               else f"is older than the newest forgotten id {forgotten}")
        assert events and events[0].type == "gap", (
            f"{call}: the reader's last id {header!r} {why}, so it may have missed messages: "
            f"start with a `gap` event; you sent {[e.type for e in events] or 'nothing'}")
        data = expect.event_json(events[0], call)
        assert isinstance(data, dict) and data.get("last_event_id") == header, (
            f"{call}: the gap event's data should be JSON with the reader's \"last_event_id\" ({header!r}); "
            f"it was {events[0].data!r}")
        assert len(gaps) == 1, f"{call}: send one gap event, not {len(gaps)}"
        events = events[1:]
    else:
        why = ("nothing was forgotten (forgotten=0)" if forgotten == 0 else
               f"the reader's last id {header} is not older than the newest forgotten id {forgotten}")
        assert not gaps, f"{call}: {why}, so the reader missed nothing: send no gap event"
    kinds = sorted({e.type for e in events} - {"notify"})
    assert not kinds, f"{call}: the replayed messages should be `notify` events; you sent {kinds}"
    got_ids, want_ids = [e.id for e in events], [str(i) for i in want]
    unordered = got_ids != want_ids and sorted(got_ids) == sorted(want_ids)
    assert got_ids == want_ids, (
        f"{call}: send the kept messages after {header}, oldest first, each with its id: ids {want}; "
        f"your events carried the ids {got_ids}" + (" (the history dict is in no particular order)" if unordered
                                                     else " (an event without an `id:` line keeps the one before)"
                                                     if "" in got_ids or len(set(got_ids)) < len(got_ids) else ""))
    for event, ident in zip(events, want, strict=True):
        data = expect.event_json(event, call)
        assert data == {"message": texts[ident]}, (
            f"{call}: event {ident} should carry the data {json.dumps({'message': texts[ident]})}; it carried "
            f"{event.data!r}")


@exercise("4.1", hints=[
    "Four situations: a new reader, a reader who missed nothing that was forgotten, one who may have missed "
    "something, and a header that is not a number. Write down what each should get before you code.",
    "The ids have gaps, so count nothing: compare. A message is replayed when its id is greater than the "
    "reader's; a gap is possible only when the reader's id is below `forgotten`. Sort the history by id.",
    "Build the text from pieces that notebook 01's encoder makes (it takes `event=` and `id=`), one per "
    "event, and join them. A header that `int()` cannot read counts as \"may have missed something\".",
])
def check_4_1(answer: Answer) -> None:
    replay_text = answer.function("replay_text")
    rng = random.Random()
    for _ in range(3):
        ids, texts, forgotten = _replay_history(rng)
        for kept_forgotten, header, gap, want in _replay_cases(ids, forgotten, rng):
            history = _shuffled(texts, rng)
            given = dict(history)
            call = (f"replay_text(history with ids {sorted(history)}, forgotten={kept_forgotten}, "
                    f"last_event_id={header!r})")
            text = expect.text(replay_text(history, kept_forgotten, header), call)
            assert history == given, f"{call} changed the history it was given; only read it"
            _judge_replay(decode(text), call, header, kept_forgotten, gap, want, texts)
