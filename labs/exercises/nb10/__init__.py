"""Checks for notebook 10 (through a proxy), one module per exercise.

10.1: the student's ``location`` block goes into a real nginx config whose ``http`` block
compresses ``application/json`` and ``text/event-stream`` (``gzip on``) and ignores the lab's
``X-Accel-Buffering`` header, with an upstream (a name the student has not seen) that keeps a
pool of idle connections to the lab.  Like many sites' configs, that ``http`` block also sets a
short ``proxy_read_timeout`` (shorter than the keep-alive interval the check picks) and, for
WebSocket apps, ``Connection: close`` on every other request to the lab: so the block itself
must keep a quiet stream open and the lab's connections reusable (nginx 1.31's own defaults,
60 s and no ``Connection`` header, would meet both without the block doing anything).  In
front of a real ``manual_sse`` lab under gunicorn (which, unlike the development server, keeps
connections open), behind a relay in this process that counts the connections nginx opens to
it (and notes each one's HTTP version and ``Connection`` header), the check measures, in order: that
nginx accepts the config (``nginx -t``; its complaint becomes a sentence), that the lab's
JSON still comes compressed, that nginx reuses its connections to the lab, that events
arrive live, and that a stream stays open through a silence longer than the lab's keep-alive
interval (which the check picks, and passes to the student's function).

10.2: a prediction (literals) about three configs, judged against what the notebook measured.
The check also runs the three for real (the runtime's ``start_proxy``); if this nginx ever
behaved otherwise, the check says so instead of judging.  A wrong try is told how many
predictions are wrong, not which (each is one of two words: naming it would give it away).

:mod:`.location` holds 10.1, with its nginx (:mod:`.nginx_config`) and its upstream
(:mod:`.relay`); :mod:`.predict` holds 10.2; :mod:`.timing` times events through proxies for both.
"""

from labs.exercises.nb10 import location, predict  # noqa: F401 (each registers its check)
