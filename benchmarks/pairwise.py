"""Pairwise OT of a collection on Dask vs a Python loop, and the linearised embedding.

One run on one collection: ``--shapes`` deformed copies of the bundled scans
(:func:`brenier.applications.pairwise.scan_family`, unit size, float32), ``--points``
surface samples each. Three ways to the n x n matrix of debiased divergences at
``--blur``, every solve at the library's defaults otherwise:

- ``loop``: the naive double loop of ``brenier.sinkhorn_divergence`` in this process
  (torch and numba on all cores). With ``--loop-pairs K`` only K random pairs are
  timed and the time is extrapolated to all n(n-1)/2 pairs (marked in the table).
- ``pairwise``: :func:`brenier.pairwise` at its default, an embedded LocalCluster of one
  single-threaded worker process per core; cluster start and stop included.
- ``linearised``: :func:`~brenier.applications.pairwise.linearized_embedding` (n
  solves against the template closest to the mean), with its error against the
  ``pairwise`` matrix.

The loop and pairwise matrices are compared entry by entry (they run the same solves).
Prints a table and writes ``results/pairwise.json`` with the machine record (the load
average matters here: report ratios from the same run).

In pieces (``--checkpoint DIR``): the 200 x 2,000 run takes about 1.5 hours on two
cores. With a checkpoint directory, ``pairwise`` saves every finished block there and
a run that is stopped (Ctrl-C, the end of a quiet slot) resumes where it stopped when
started again with the same arguments. ``DIR/benchmark.json`` keeps the loop's timed
pairs (measured once) and, for each run, its start, load average and the seconds up to
its last finished block (written after every block, atomically): the ``pairwise``
time reported is the sum over the runs, i.e. the compute time of the blocks, each
counted once (a block cut off by a stop is recomputed, and counted, in the next run).

Usage: ``python benchmarks/pairwise.py [--shapes 200] [--points 2000] [--blur 0.02]
[--loop-pairs K] [--workers W] [--checkpoint DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import brenier
from _machine import machine, write_json
from brenier.applications.pairwise import linearized_embedding, pairwise, scan_family
from brenier.applications.pairwise._cluster import dask_client, worker_count


def naive_loop(clouds: list[torch.Tensor], blur: float, pairs: list[tuple[int, int]]) -> dict:
    values = {}
    start = time.perf_counter()
    for i, j in pairs:
        values[i, j] = float(brenier.sinkhorn_divergence(clouds[i], clouds[j], blur=blur))
    return {"seconds": time.perf_counter() - start, "values": values}


class Pieces:
    """The timing record of a benchmark run in pieces (``DIR/benchmark.json``)."""

    def __init__(self, directory: Path | None, arguments: dict[str, Any]) -> None:
        self.path = None if directory is None else directory / "benchmark.json"
        self.record: dict[str, Any] = {"args": arguments, "runs": [], "loop": None}
        if self.path is not None and self.path.exists():
            previous = json.loads(self.path.read_text())
            if previous["args"] != arguments:
                raise SystemExit(
                    f"{self.path} holds a run with other arguments: {previous['args']}"
                )
            self.record = previous
        self.earlier = sum(run["seconds"] for run in self.record["runs"])
        self.run = {"started": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "load_average": list(os.getloadavg()), "seconds": 0.0, "blocks": 0}  # fmt: skip
        self.record["runs"].append(self.run)
        self.start = time.perf_counter()

    def save(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.record, indent=1))
            tmp.replace(self.path)

    def block_done(self, finished: int, total: int) -> None:
        self.run["seconds"], self.run["blocks"] = time.perf_counter() - self.start, finished
        self.save()
        print(f"  block {finished}/{total}, {self.earlier + self.run['seconds']:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, default=200)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--blur", type=float, default=0.02)
    parser.add_argument("--loop-pairs", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="pairwise")
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="run in pieces, kept in this directory"
    )
    args = parser.parse_args()
    pieces_args = {k: v for k, v in vars(args).items() if k not in ("checkpoint", "name")}

    family = scan_family(args.shapes, args.points, seed=args.seed)
    clouds = [torch.from_numpy(c) for c in family.clouds]
    n = len(clouds)
    all_pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    rng = np.random.default_rng(args.seed)
    if args.loop_pairs is not None and args.loop_pairs < len(all_pairs):
        chosen = rng.choice(len(all_pairs), args.loop_pairs, replace=False)
        loop_pairs = [all_pairs[k] for k in sorted(chosen)]
    else:
        loop_pairs = all_pairs
    print(f"{n} shapes of {args.points} points, blur {args.blur}: {len(all_pairs)} pairs")

    start = time.perf_counter()
    with dask_client(None, workers=args.workers) as client:
        workers = worker_count(client)
    cluster_seconds = time.perf_counter() - start  # start and stop of an empty cluster
    print(f"an embedded cluster of {workers} workers starts and stops in {cluster_seconds:.1f} s")

    pieces = Pieces(args.checkpoint, pieces_args)
    if pieces.record["loop"] is None:
        loop = naive_loop(clouds, args.blur, loop_pairs)
        values = [[i, j, v] for (i, j), v in loop["values"].items()]
        pieces.record["loop"] = {"seconds": loop["seconds"], "values": values}
        pieces.start = time.perf_counter()
        pieces.save()
    else:
        stored = pieces.record["loop"]
        loop = {"seconds": stored["seconds"], "values": {(i, j): v for i, j, v in stored["values"]}}
        print(f"the loop's {len(loop['values'])} timed pairs from {args.checkpoint}; resuming")
    loop_total = loop["seconds"] * len(all_pairs) / len(loop_pairs)

    res = pairwise(
        clouds, blur=args.blur, names=family.names, workers=args.workers,
        checkpoint=args.checkpoint, resume=args.checkpoint is not None,
        progress=pieces.block_done if args.checkpoint is not None else None,
    )  # fmt: skip
    pieces.run["seconds"], pieces.run["blocks"] = res.seconds, res.computed_blocks
    pieces.save()
    pairwise_seconds = pieces.earlier + res.seconds
    if len(pieces.record["runs"]) > 1:
        print(f"pairwise in {len(pieces.record['runs'])} runs: {pairwise_seconds:.0f} s in all")
    diffs = [abs(res.matrix[i, j] - v) for (i, j), v in loop["values"].items()]
    scale = float(np.abs(res.matrix).max())

    emb = linearized_embedding(clouds, blur=args.blur, names=family.names, workers=args.workers)
    error = emb.error(res.matrix)

    rows = [
        ("loop (sinkhorn_divergence)", loop_total, len(loop_pairs) < len(all_pairs)),
        (f"pairwise ({res.workers} workers)", pairwise_seconds, False),
        ("linearised embedding", emb.seconds, False),
    ]
    print(f"\n{'method':<30} {'time (s)':>10} {'vs loop':>8}")
    for name, seconds, extrapolated in rows:
        mark = f" (extrapolated from {len(loop_pairs)} pairs)" if extrapolated else ""
        print(f"{name:<30} {seconds:>10.1f} {loop_total / seconds:>7.1f}x{mark}")
    print(
        f"\nloop vs pairwise matrix: max |difference| {max(diffs):.2e} over {len(diffs)} pairs "
        f"(max entry {scale:.3g})"
    )
    print(
        "linearised vs pairwise: relative Frobenius error "
        f"{error['relative_frobenius']:.3f}, median relative {error['median_relative']:.3f}, "
        f"max relative {error['max_relative']:.3f}, Spearman {error['spearman']:.4f} "
        f"(template {emb.names[emb.reference_index]})"
    )
    print(f"solves above tolerance: pairwise {len(res.not_ok)}, linearised {int((~emb.ok).sum())}")
    payload = {
        "machine": machine(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "pairs": len(all_pairs),
        "cluster_start_stop_seconds": cluster_seconds,
        "loop": {"seconds": loop_total, "timed_pairs": len(loop_pairs),
                 "timed_seconds": loop["seconds"]},
        "pairwise": {"seconds": pairwise_seconds, "runs": pieces.record["runs"],
                     "workers": res.workers, "blocks": res.blocks,
                     "block_size": res.block_size, "not_ok": len(res.not_ok),
                     "max_abs_difference_vs_loop": max(diffs), "max_entry": scale},
        "linearised": {"seconds": emb.seconds, "template": emb.names[emb.reference_index],
                       "not_ok": int((~emb.ok).sum()), **error},
    }  # fmt: skip
    print(f"wrote {write_json(args.name, payload)}")


if __name__ == "__main__":
    main()
