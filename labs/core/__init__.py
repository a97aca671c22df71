"""The lesson core: what a lesson (``labs/<name>.py``) stands on, and all it may import.

- the app frame: ``webapp`` (every lab's Flask app), ``asgi_app`` (the same for ASGI),
  ``errors`` (4xx JSON bodies), ``notify`` (reading a notification), ``forwarded`` (behind a proxy),
  ``shutdown`` (the goodbye on SIGTERM);
- the event-stream format: ``sse`` (encoder and browser-exact decoder);
- pushing notifications: ``event_log`` (ids, bounded history, the catch-up rule, memory or Redis),
  then for SSE ``broker`` (fan-out), ``sse_response`` / ``sse_async`` (each reader's queue and the
  stream's generator, WSGI and ASGI), ``stream_guard`` (the cap on streams) and ``dead_readers``
  (releasing readers that vanished), ``presence`` (a cluster's readers); for polling ``message_log``,
  ``request_counters`` and ``polling_routes``;
- WebSockets: ``socketio_setup`` (Flask-SocketIO plumbing: client counts, async mode, Werkzeug fixes);
- webhooks: ``signatures``; token streams: ``llm_formats`` (the vendors' wire formats) and
  ``generations`` (generations that outlive their reader).

The core imports nothing else of ``labs``: not the harness, not the exercises, not a lesson.
"""
