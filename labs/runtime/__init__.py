"""The runtime every lab, notebook and test shares; the lessons themselves are ``labs/<name>.py``.

- serving: ``webapp`` (the app frame every lab starts from), ``errors``, ``notify`` (reading a
  notification), ``serve`` (development server or gunicorn), ``registry`` (the list of labs);
- processes: ``launcher`` (``start_lab``), ``redis_server``, ``processes``, ``watchdog``;
- proxies: ``nginx`` (``start_proxy``: a real nginx in front of a lab), ``forwarded`` (``/whoami``,
  ``ProxyFix``), ``stream_timing`` (``TimedStream``: when each part of a stream arrived);
- the event-stream format: ``sse`` (encoder and browser-exact decoder), ``client`` (stream readers);
- pushing notifications: ``event_log`` (ids, bounded history, the catch-up rule, memory or
  Redis), then for SSE ``broker`` (fan-out) and ``sse_response`` (each reader's queue and
  the stream's generator), for polling ``message_log`` and ``polling_routes``;
- webhooks: ``signatures``, ``webhook_sender``; classrooms: ``classroom``;
- the workbook: ``exercises`` (checks and hints).
"""
