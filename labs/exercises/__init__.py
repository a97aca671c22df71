"""Exercises: their checks, their stepped hints, and one judge for students, tests and graders.

How an exercise is built (CONTRIBUTING.md has the whole story):

- In the notebook, the **exercise cell** (tagged ``exercise``) starts ``# Exercise N.M: title``
  and holds a stub the student completes. It is self-contained: it imports what it uses.
- The **check cell** under it (tagged ``check``) is one line: ``check("N.M")`` (``from labs
  import check``: :func:`labs.exercises.student.check`).
- The check itself is a function in ``labs/exercises/nbNN.py``, registered with
  :func:`exercise` (:mod:`labs.exercises.registry`). It receives an :class:`Answer` (proxies
  to what the exercise cell defined, which runs in a sandbox: plain data crosses, objects stay
  there), tries it on inputs the student has not seen (random ones where it can), and raises
  ``AssertionError`` with a helpful sentence when the answer is wrong. It brings its own
  servers if it needs any.
- The reference answer lives once, in ``solutions/NN_name.py``.

``check("N.M")`` looks the exercise up (:func:`get_exercise`), takes the exercise cell's source
as it was last run and hands it to the judge (:mod:`labs.exercises.judge`), which runs the check
in a fresh process (:mod:`labs.exercises.check_process`) and the cell in a sandboxed one beside
it: exactly what ``python -m labs grade`` does. So an answer that passes in the notebook passes
for the grader, and nothing else in the notebook (an earlier cell, a name redefined, an
environment variable) can change a verdict.

Hints step up: an untouched exercise says only "not started"; a wrong attempt shows the
first hint (a nudge, never the answer); ``hint("N.M")`` shows the next one.
"""

from labs.exercises.registry import DEFAULT_TIMEOUT, Exercise, exercise, get_exercise

# The answer runs in a sandboxed process of its own; a check holds proxies to what it defined
# (``answer.function(name)``, ``answer.value(name)``, ``answer.literal(name)``, ``answer.source``).
from labs.exercises.remote import RemoteAnswer as Answer

__all__ = ["DEFAULT_TIMEOUT", "Answer", "Exercise", "exercise", "get_exercise"]
