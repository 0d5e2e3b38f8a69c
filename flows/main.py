"""Module for `python -m bytewax.run flows.main:flow` (settings from `JOURNEY_*` variables).

bytewax serves the default Prometheus registry on its API port when
`BYTEWAX_DATAFLOW_API_ENABLED` is set; `JOURNEY_METRICS_PORT` starts a standalone `/metrics`.
"""

from __future__ import annotations

from prometheus_client import start_http_server

from engine.kernels import warm_up
from flows.dataflow import build_flow
from flows.settings import Settings

settings = Settings.from_env()
warm_up()
if settings.metrics_port:
    start_http_server(settings.metrics_port, addr=settings.metrics_host)
flow = build_flow(settings)
