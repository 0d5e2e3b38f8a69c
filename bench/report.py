"""Markdown tables of the quality benchmark (the README block and `python -m bench.quality`)."""

from __future__ import annotations

from typing import Any

__all__ = ["quality_table"]


def _world_line(name: str, w: dict[str, Any], q: dict[str, Any]) -> str:
    kind = "held-out" if q.get("held_out") else "NOT held-out"
    return (f"**{name}** — {w['customers']:,} customers, {w['days']:g} days "
            f"(~{w['requests']:,} requests per run), seeds {', '.join(map(str, q['seeds']))} "
            f"({kind}), {q['driver']} driver:")


def quality_table(q: dict[str, Any]) -> str:
    """One table per world: each policy's second-half figures, mean over the seeds."""
    lines: list[str] = []
    for name, w in q["worlds"].items():
        runs = w["runs"]
        journey = runs.get("journey")
        lines += ["", _world_line(name, w, q), "",
                  "| policy | expected net value / decision | oracle's best / decision | "
                  "regret / decision [min–max over seeds] | P(response) | realized net "
                  "value / decision | regret: policy / Journey's | seeds where Journey's "
                  "regret is lower |",
                  "|---|---|---|---|---|---|---|---|"]
        for p, r in runs.items():
            if journey is not None and journey["regret_per_decision"] > 0:
                ratio = f"{r['regret_per_decision'] / journey['regret_per_decision']:.2f}×"
                wins = "—" if p == "journey" else f"{r['journey_wins']} of {len(q['seeds'])}"
            else:
                ratio = wins = "—"
            lines.append(
                f"| {r['label']} | {r['value_per_decision']:.3f} | "
                f"{r['oracle_value_per_decision']:.3f} | {r['regret_per_decision']:.3f} "
                f"[{r['regret_min']:.3f}–{r['regret_max']:.3f}] | "
                f"{r['response_probability']:.3f} | {r['realized_value_per_decision']:.3f} | "
                f"{ratio} | {wins} |")
        if journey is not None and journey.get("realized_uplift"):
            cells = []
            for sd, u in zip(q["seeds"], journey["realized_uplift"], strict=True):
                if u:
                    cells.append(f"seed {sd}: {u['uplift_value_per_decision']:+.3f} "
                                 f"[{u['uplift_value_ci95_low']:.3f}, "
                                 f"{u['uplift_value_ci95_high']:.3f}]")
            if cells:
                lines.append(f"\nJourney's realized uplift vs its live control group (net "
                             f"value per resolved decision, 95% CI): {', '.join(cells)}.")
    return "\n".join(lines).lstrip("\n")
