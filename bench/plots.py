"""PNG plots of a results file: latency distribution, throughput scaling, regret curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np

__all__ = ["write_plots"]


def _latency(results: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, samples in results["latency"]["samples_us"].items():
        s = np.sort(np.asarray(samples, dtype=np.float64))
        ax.plot(s, np.arange(1, len(s) + 1) / len(s), label=name)
    ax.set_xscale("log")
    ax.set_xlabel("latency per call (µs, log scale)")
    ax.set_ylabel("fraction of calls ≤ latency")
    ax.set_title("Latency distribution (CDF)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _throughput(results: dict[str, Any], path: Path) -> None:
    rows = results["flow"]
    labels = [f"{r['processes']} process{'es' if r['processes'] > 1 else ''}" for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(x - 0.2, [r["journey_events_per_s"] for r in rows], 0.4, label="Journey flow")
    ax.bar(x + 0.2, [r["baseline_events_per_s"] for r in rows], 0.4,
           label="bare key_on + stateful_map")
    ax.set_xticks(x, labels)
    ax.set_yscale("log")
    ax.set_ylabel("events/s (log scale)")
    ax.set_title("Flow throughput scaling (1 worker per process)")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _regret(results: dict[str, Any], path: Path) -> None:
    q = results["quality"]
    worlds = q["worlds"]
    fig, axes = plt.subplots(1, len(worlds), figsize=(5.5 * len(worlds), 4.2), squeeze=False)
    for ax, (name, w) in zip(axes[0], worlds.items(), strict=True):
        for run in w["runs"].values():
            c = run["curve"]
            ax.plot(c["decisions"], c["cumulative_regret"], label=run["label"])
        ax.set_xlabel("decisions")
        ax.set_ylabel("cumulative regret vs oracle (net value)")
        ax.set_title(f"{name}, seed {q['seeds'][0]} (lower is better)")
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(results: dict[str, Any], folder: Path) -> list[Path]:
    """Draw the three plots into `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, draw in (("latency", _latency), ("throughput", _throughput),
                       ("regret", _regret)):
        path = folder / f"{name}.png"
        draw(results, path)
        out.append(path)
    return out
