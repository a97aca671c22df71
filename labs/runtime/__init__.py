"""The runtime every lab, notebook and test shares; the lessons themselves are ``labs/<name>.py``.

- serving: ``webapp`` (the app frame every lab starts from), ``errors``, ``notify`` (reading a
  notification), ``serve`` (development server or gunicorn), ``registry`` (the list of labs);
- processes: ``launcher`` (``start_lab``), ``redis_server``, ``processes``, ``watchdog``;
- the event-stream format: ``sse`` (encoder and browser-exact decoder), ``sse_response``,
  ``broker`` and ``message_log`` (ids, history and replay), ``client`` (stream readers);
- webhooks: ``signatures``, ``webhook_sender``; classrooms: ``classroom``;
- the workbook: ``exercises`` (checks and hints).
"""
