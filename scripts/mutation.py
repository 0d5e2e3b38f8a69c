"""`make mutation`: mutmut over the modules in pyproject's [tool.mutmut], with the fast tests,
and a score table in which the equivalent mutants (tests/mutation_equivalent.toml) are listed,
not counted.

    python scripts/mutation.py [--jobs 2] [--budget 1200] [--min 90] [--keep]

--budget: seconds mutmut may run; past it the run is stopped and the score covers the mutants
checked so far (the table says how many were not). Exit status 1 when a module scores below
--min (percent killed of the non-equivalent mutants checked).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT = ROOT / "tests" / "mutation_equivalent.toml"
MUTMUT = [sys.executable, "-m", "mutmut"]
_NAME = re.compile(r"^\s+(\S+): (.+)$")
_FUNCTION = re.compile(r"\.x(?:_|ǁ)")  # mutmut names functions `x_f`, methods `xǁClassǁm`


def _run(jobs: int, budget: float) -> bool:
    """Run mutmut (fresh); False when the budget stopped it."""
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    with subprocess.Popen([*MUTMUT, "run", "--max-children", str(jobs)], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            _, err = proc.communicate(timeout=budget)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)  # mutmut saves what it has checked
            _, err = proc.communicate(timeout=120)
            return False
    if proc.returncode != 0:
        tail = err.decode(errors="replace")[-3000:]
        msg = f"mutmut run failed ({proc.returncode}):\n{tail}"
        raise SystemExit(msg)
    return True


def _results() -> dict[str, str]:
    out = subprocess.run([*MUTMUT, "results", "--all", "true"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return {m.group(1): m.group(2).strip() for line in out.splitlines()
            if (m := _NAME.match(line))}


def _diff(name: str) -> tuple[str, str]:
    """The removed and added lines of one mutant, whitespace-normalised."""
    out = subprocess.run([*MUTMUT, "show", name], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout
    lines = [x for x in out.splitlines() if not x.startswith(("---", "+++"))]

    def norm(prefix: str) -> str:
        return " ".join(" ".join(x[1:].split()) for x in lines if x.startswith(prefix))

    return norm("-"), norm("+")


def _equivalents() -> list[dict[str, str]]:
    return tomllib.loads(EQUIVALENT.read_text())["equivalent"] if EQUIVALENT.exists() else []


def _is_equivalent(name: str, known: list[dict[str, str]]) -> bool:
    function = name.rsplit("__mutmut_", 1)[0]
    if not any(e["function"] == function for e in known):
        return False
    before, after = _diff(name)
    return any(e["function"] == function and " ".join(e["before"].split()) == before
               and " ".join(e["after"].split()) == after for e in known)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=int(os.environ.get("MUTATION_JOBS", "2")))
    p.add_argument("--budget", type=float, default=1200.0)
    p.add_argument("--min", type=float, default=90.0, dest="minimum")
    p.add_argument("--keep", action="store_true", help="report on the last run, do not rerun")
    args = p.parse_args(argv)
    finished = True if args.keep else _run(args.jobs, args.budget)
    known = _equivalents()
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: list[str] = []
    for name, status in sorted(_results().items()):
        module = _FUNCTION.split(name, maxsplit=1)[0]
        if status == "survived" and _is_equivalent(name, known):
            status = "equivalent"
        elif status == "survived":
            survivors.append(name)
        by_module[module][status] += 1
    print("| module | killed / counted | score | equivalent | survived | not checked |")
    print("|---|---|---|---|---|---|")
    low = False
    for module, c in sorted(by_module.items()):
        killed = c["killed"] + c["timeout"]
        counted = killed + c["survived"] + c["no tests"] + c["suspicious"]
        score = 100.0 * killed / counted if counted else 0.0
        low |= counted > 0 and score < args.minimum
        print(f"| {module} | {killed} / {counted} | {score:.1f}% | {c['equivalent']} | "
              f"{c['survived']} | {c['not checked']} |")
    if not finished:
        print(f"\n(stopped by the {args.budget:.0f} s budget: 'not checked' were not run)")
    for name in survivors:
        before, after = _diff(name)
        print(f"survived: {name}: {before!r} -> {after!r}")
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
