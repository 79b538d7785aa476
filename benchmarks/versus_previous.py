"""The same benchmark on two versions of brenier, in one run: this tree and a reference.

A change that must not change behaviour (a refactoring) is measured against a checkout
of the commit before it, e.g. made with ``git worktree add --detach ../previous HEAD~3``.
The benchmark scripts call only brenier's public API, so one script runs on both
versions: this script runs it alternately with ``PYTHONPATH`` pointing at the
reference's ``src`` and at this tree's ``src`` (``--repeats`` times each, interleaved so
that the machine's drift hits both alike), then pairs the rows of both by (N, method)
and reports the change of the relative error and the ratio of the median times.

Usage:
    python benchmarks/versus_previous.py --reference ../previous -- \\
        multiscale.py --sizes 10000 100000 --geomloss-max 0 --online-max 0
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _machine import RESULTS, machine, write_json

HERE = Path(__file__).parent


def run(script: str, arguments: list[str], source: Path, name: str) -> list[dict]:
    """Runs ``script`` with brenier imported from ``source``; returns its JSON rows."""
    env = dict(os.environ, PYTHONPATH=str(source))
    command = [sys.executable, str(HERE / script), *arguments, "--name", name]
    subprocess.run(command, env=env, check=True)
    return json.loads((RESULTS / f"{name}.json").read_text())["rows"]


def key(row: dict) -> tuple:
    return (row.get("n"), row.get("method") or row.get("name"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="a checkout to compare")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--name", default="versus_previous", help="results/<name>.json")
    parser.add_argument("script", help="a benchmark script of this folder that writes rows")
    parser.add_argument("arguments", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    sources = {"reference": args.reference.resolve() / "src", "this tree": HERE.parent / "src"}
    if not (sources["reference"] / "brenier").is_dir():  # else this tree's would be imported
        parser.error(f"--reference {args.reference}: no src/brenier there (a checkout's root)")
    runs: dict[str, list[list[dict]]] = {label: [] for label in sources}
    stem = Path(args.script).stem
    for k in range(args.repeats):
        for label, source in sources.items():
            tag = "reference" if label == "reference" else "current"
            runs[label].append(run(args.script, args.arguments, source, f"_{stem}_{tag}_{k}"))
    table = []
    print(f"\n{'N':>8} {'method':>24} {'error ref':>10} {'error now':>10} {'|diff|':>9} "
          f"{'s ref':>7} {'s now':>7} {'ratio':>6}")  # fmt: skip
    for row in runs["reference"][0]:
        pair = []
        for label in sources:
            same = [r for rows in runs[label] for r in rows if key(r) == key(row)]
            pair.append(same)
        ref, now = pair
        error_ref, error_now = ref[0]["relative_error"], now[0]["relative_error"]
        t_ref = statistics.median(r["seconds"] for r in ref)
        t_now = statistics.median(r["seconds"] for r in now)
        entry = {
            "n": row.get("n"),
            "method": key(row)[1],
            "relative_error_reference": error_ref,
            "relative_error_current": error_now,
            "iterations_reference": [r.get("iterations") for r in ref],
            "iterations_current": [r.get("iterations") for r in now],
            "seconds_reference": [r["seconds"] for r in ref],
            "seconds_current": [r["seconds"] for r in now],
            "time_ratio": t_now / t_ref,
        }
        table.append(entry)
        print(f"{entry['n']!s:>8} {entry['method']:>24} {error_ref:>10.3e} {error_now:>10.3e} "
              f"{abs(error_now - error_ref):>9.1e} {t_ref:>7.2f} {t_now:>7.2f} "
              f"{t_now / t_ref:>6.2f}")  # fmt: skip
    payload = {
        "machine": machine(),
        "reference": str(args.reference),
        "script": [args.script, *args.arguments],
        "repeats": args.repeats,
        "note": "runs interleaved (reference, current) x repeats; times are medians",
        "rows": table,
    }
    print(write_json(args.name, payload))


if __name__ == "__main__":
    main()
