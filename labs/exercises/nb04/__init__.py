"""Checks for notebook 04 (SSE without a Blueprint), one module per exercise.

4.1-4.3 are functions: :mod:`.replay` (4.1, what a reader who reconnects gets), :mod:`.fan_out`
(4.2, one queue per reader, registered and unregistered under a lock) and :mod:`.keepalive`
(4.3, a comment when no message comes). 4.4 and 4.5 are built as files, as the course notes build
them: 4.4's cell *is* ``app.py``, run as ``python app.py`` with a private Redis (:mod:`.app_file`
reads the file, :mod:`.app_requests` and :mod:`.app_streams` talk to the running app), and 4.5's
page (``INDEX_HTML``) runs in headless Chromium (:mod:`.page`).
"""

from labs.exercises.nb04 import app_file, fan_out, keepalive, page, replay  # noqa: F401 (each registers its check)
