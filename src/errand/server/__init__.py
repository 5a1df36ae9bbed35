"""The gateway: the HTTP API (docs/api.md), its live streams, pairing and access.

Nothing is imported here, so that ``errand tokens`` and ``errand devices`` (which need only
``credentials``) do not load the web framework. The public surface, by module:

* ``app``: ``build_gateway(store, runner, pairing, config)`` and ``create_app(gateway)``;
* ``running``: ``bind_socket(host, port)`` and ``GatewayServer(gateway, sock)`` with
  ``start()`` / ``stop()``, how ``errand serve``, tests and benchmarks run it;
* ``gateway``: ``GatewayConfig``, ``Gateway``, ``clients_answer`` (the runner's responder);
* ``exposure``: ``plan(...)`` of names and origins, ``start_tailscale_serve(port)``;
* ``security``, ``sse``, ``idempotency``, ``errors``: what every request and stream passes;
* who may use it (credentials, pairing, allowed folders) lives in :mod:`errand.access`.
"""
