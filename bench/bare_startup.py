"""A bare bytewax dataflow, one record from a testing source to stdout: the start-up
baseline of `bench.startup` (`python -m bytewax.run bench.bare_startup:flow`)."""

import bytewax.operators as op
from bytewax.connectors.stdio import StdOutSink
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource

__all__ = ["flow"]

flow = Dataflow("bare_startup")
op.output("out", op.map("format", op.input("in", flow, TestingSource([1])), str), StdOutSink())
