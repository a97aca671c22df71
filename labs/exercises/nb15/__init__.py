"""Checks for notebook 15 (LLM streams and resumable generations), one module per exercise.

:mod:`.read_tokens` (15.1) runs the student's JavaScript ``readTokens`` in headless Chromium on
token streams cut at places it cannot predict. :mod:`.hang_up` (15.2) serves the student's
generator with Werkzeug, hangs up in the middle of an answer (also while the "model" is silent)
and times how soon the generator lets it stop. (Both were notebook 12's 12.2 and 12.3.)
:mod:`.anthropic` (15.3) hands the student's ``read_message`` Anthropic Messages streams of its
own making, cut anywhere: pings, event types nobody has seen, a thinking block, an ``event:
error`` in the middle, a connection that drops before ``message_stop``. :mod:`.replay_follow`
(15.4) writes a generation's Redis Stream on a private Redis while the student's
``replay_then_follow`` reads it: a replay from a random id, entries added while the generator is
paused at a yield and while it waits, and the ends (done, error, a reader already caught up).
:mod:`.tokens` makes the tokens they all stream.
"""

from labs.exercises.nb15 import anthropic, hang_up, read_tokens, replay_follow  # noqa: F401 (each registers its check)
