"""The bytewax wiring of Journey (`flows.dataflow`) and its command line (`flows.cli`).

Each bytewax worker is one thread doing small per-decision matrix products (the weight
rows, the full-covariance variances): BLAS threads on top of the workers only contend, so
one BLAS thread is the default here (set before numpy loads; an operator's own setting wins).
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
