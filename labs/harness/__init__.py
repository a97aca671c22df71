"""The harness: what starts, proxies, clusters and drives the lessons (never imported by one).

- lessons by name: ``registry`` (the list of labs), ``notebook_labs`` (which notebooks use each);
- starting them: ``launcher`` (``start_lab``), ``serve`` (development server or gunicorn),
  ``processes``, ``watchdog`` (nothing outlives its kernel), ``redis_server``;
- in front of them: ``nginx`` (``start_proxy``) with ``certificates`` and ``proxy_faults``,
  ``relay`` (the chaos relay), ``cluster`` and ``cluster_console``;
- reading and driving them: ``client`` (``EventStream``), ``token_client``, ``generation_client``,
  ``client_matrix`` (the real SSE clients people use), ``stream_timing``, ``browser`` (headless
  Chromium), ``webhook_sender``, ``classroom``;
- small servers in threads of this process: ``thread_server`` (``serve_in_thread``, ``serve_wsgi``),
  and notebook 12's other origin, ``second_origin`` (``python -m labs second-origin``).

The harness may import the lesson core; it starts lessons only by name, through ``registry``.
"""
