"""Bytes of state per customer (RSS and pickled) beside a dict-of-floats feature-store row.

A seeded closed loop (simulator → `Engine`) yields real customer states; each is kept as
the flow snapshots it per key: `(key, CustomerState, KeyGuard)` for known customers and
`(key, DeviceProfile, KeyGuard)` for anonymous ones. A fresh subprocess per size and
representation replicates the sample by pickle round trip to `n` distinct objects under
distinct keyed-hash keys and reports the RSS it grew by and the protocol-5 pickled size
(each distinct sample state's copy is pickled once and counted as often as it repeats).

The copies go through protocol 4: unpickling protocol 5 leaves every numpy array a view
over its pickle bytes (about 40% more RSS than a live state), protocol 4 gives arrays that
own their memory, as in a running flow.
"""

from __future__ import annotations

import gc
import itertools
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from engine.engine import DEFAULT_SECRET, Engine
from engine.simulator import Simulator
from features.identity import customer_key
from features.state import CustomerState, Slot

__all__ = ["BASELINE", "QUICK_SIZES", "bench_memory"]

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "dict of named floats (feature-store row)"
QUICK_SIZES = (2_000, 20_000)
"""Sizes for the CI smoke test (`bench_memory(QUICK_SIZES, sample_events=20_000)`)."""
COPY_PROTOCOL = 4
"""Pickle protocol of the replicated copies (see the module docstring)."""


def _sample(seed: int, customers: int, events: int) -> dict[str, Any]:
    """Run the closed loop; return each customer's snapshot and feature row, pickled."""
    eng = Engine(seed=seed)
    sim = Simulator(eng.core.catalog, seed=seed, customers=customers)
    for rec in sim.events(events):
        for d in eng.process(rec):
            sim.deliver(d.to_dict())
    held: list[tuple[object, CustomerState, str]] = [
        (s, s, k) for k, s in eng.states.items()]
    held += [(p, p.state, k) for k, p in eng.devices.items() if p.state is not None]
    journey, baseline = [], []
    cat = eng.core.catalog
    for obj, state, key in held:
        now = max(state.row[Slot.LAST_SEEN], eng.watermark)
        signals = eng.core.context.lookup(state.region, now)
        values = [*map(float, cat.features.vectorize(state, now, signals)),
                  *map(float, cat.rules.values(state, now, signals))]
        journey.append(pickle.dumps((obj, eng.guards[key]), protocol=COPY_PROTOCOL))
        baseline.append(pickle.dumps(values, protocol=COPY_PROTOCOL))
    # keys of the baseline row: the names `Engine.features` reports
    names = (*cat.features.names, *(f"rule.{n}" for n in cat.rules.names))
    return {"journey": journey, "baseline": baseline, "names": names}


def _rss() -> int:
    """Resident set size of this process, bytes (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    msg = "VmRSS not found in /proc/self/status"
    raise RuntimeError(msg)


def _measure(kind: str, n: int, sample_path: str) -> dict[str, float]:
    """In a fresh process: grow `n` customers of `kind` from the sample; RSS and pickled."""
    sample = pickle.loads(Path(sample_path).read_bytes())
    blobs: list[bytes] = sample[kind]
    names = sample["names"]
    gc.collect()
    gc.disable()  # nothing here is cyclic; collections would only add time
    before = _rss()
    store: dict[str, Any] = {}
    for i in range(n):
        key = customer_key(f"u:bench-{i}", DEFAULT_SECRET)
        blob = blobs[i % len(blobs)]
        store[key] = (pickle.loads(blob) if kind == "journey"
                      else dict(zip(names, pickle.loads(blob), strict=True)))
    rss = _rss() - before
    # Copy i repeats sample state i % len(blobs) under a key of the same length, so its
    # pickle is as long as that of copy i % len(blobs): pickle the first copies, weight.
    first = [len(pickle.dumps((k, *v) if kind == "journey" else (k, v), protocol=5))
             for k, v in itertools.islice(store.items(), len(blobs))]
    pickled = sum(first[i % len(first)] for i in range(n))
    return {"rss_bytes_per_customer": rss / n, "pickled_bytes_per_customer": pickled / n}


def _child(kind: str, n: int, sample_path: str) -> dict[str, float]:
    cmd = [sys.executable, "-m", "bench.memory", kind, str(n), sample_path]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False)
    if out.returncode != 0:
        msg = f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr.decode()[-2000:]}"
        raise RuntimeError(msg)
    return orjson.loads(out.stdout)


def bench_memory(sizes: Sequence[int] = (100_000, 1_000_000), seed: int = 7, *,
                 sample_customers: int = 3000, sample_events: int = 60_000
                 ) -> list[dict[str, Any]]:
    """Bytes per customer of Journey's keyed state and of the baseline row, per size.

    The sample comes from `sample_events` closed-loop events over `sample_customers`
    simulated customers; each size and representation is measured in its own subprocess.
    """
    with tempfile.TemporaryDirectory(prefix="journey-memory-") as tmp:
        path = Path(tmp) / "sample.pickle"
        sample = _sample(seed, sample_customers, sample_events)
        path.write_bytes(pickle.dumps(sample, protocol=5))
        rows = []
        for n in sizes:
            j = _child("journey", n, str(path))
            b = _child("baseline", n, str(path))
            rows.append({
                "customers": n,
                "sample_states": len(sample["journey"]),
                "rss_bytes_per_customer": j["rss_bytes_per_customer"],
                "pickled_bytes_per_customer": j["pickled_bytes_per_customer"],
                "baseline": BASELINE,
                "baseline_rss_bytes_per_customer": b["rss_bytes_per_customer"],
                "baseline_pickled_bytes_per_customer": b["pickled_bytes_per_customer"],
                "rss_ratio": j["rss_bytes_per_customer"] / b["rss_bytes_per_customer"],
                "pickled_ratio": (j["pickled_bytes_per_customer"]
                                  / b["pickled_bytes_per_customer"]),
            })
    return rows


if __name__ == "__main__":
    kind_, n_, path_ = sys.argv[1:4]
    sys.stdout.write(orjson.dumps(_measure(kind_, int(n_), path_)).decode())
