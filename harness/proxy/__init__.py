"""The fault proxy: a TCP proxy with Toxiproxy's control API and HTTP-aware faults.

    server.py      `harness proxy`: event loop, control API and proxies in one process (ProxyServer)
    api.py         the Toxiproxy HTTP API: every route in one table
    collection.py  proxies and their toxics: the state the API edits
    connection.py  one proxied TCP connection: two asyncio Protocols and a Pipe per direction
    pipeline.py    Pipe (chain of per-connection toxic stages) and the shared delay queue
    http.py        request boundaries, request matching, synthetic responses
    registry.py    Toxic base class and the registry of toxic types
    toxics/        one file per toxic; `ls toxics/` shows what the proxy can do
    metrics.py     counters per proxy and per toxic, Prometheus text at GET /metrics
    client.py      small synchronous client of the API (ToxiproxyClient)

Nothing here is imported by `harness` at start-up; the CLI imports `server` only for `harness proxy`.
"""
