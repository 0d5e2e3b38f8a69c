"""Module for `python -m bytewax.run flows.main:flow` (settings from `JOURNEY_*` variables).

bytewax serves the default Prometheus registry on its API port when
`BYTEWAX_DATAFLOW_API_ENABLED` is set; `JOURNEY_METRICS_PORT` starts a standalone `/metrics`.
"""

from __future__ import annotations

from engine.kernels import warm_up
from flows.dataflow import build_flow
from flows.httpserver import serve_metrics
from flows.settings import Settings

settings = Settings.from_env()
warm_up()
if settings.metrics_port:
    serve_metrics(settings.metrics_host, settings.metrics_port)
flow = build_flow(settings)
