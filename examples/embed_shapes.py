"""
Embed a family of deformed scans in 2D by their OT distances (MDS and UMAP)
===========================================================================

The family: deformed copies of the two bundled scans (Nefertiti, Demosthenes),
stretched and bent by random amounts
(:func:`brenier.applications.pairwise.scan_family`). :func:`brenier.pairwise` computes
all pairwise debiased Sinkhorn divergences on an embedded Dask cluster (one worker
process per core), with a checkpoint folder: kill the script and rerun it with
``--resume``, and only the missing blocks are solved. The linearised OT embedding
(one solve per shape against the template closest to the mean) gives the same
picture from n solves instead of n(n-1)/2; its error against the true matrix is printed.

The script writes to ``--out``:

- ``embedding_mds.png``: MDS of the pairwise W2 estimates sqrt(2 S_eps), coloured by scan;
- ``embedding_umap.png``: UMAP of the same distances (when umap-learn is installed);
- ``embedding_linearised.png``: MDS of the linearised embedding.

Run it from the repository root (Dask starts worker processes: keep the
``if __name__ == "__main__"`` guard in scripts of your own)::

    python examples/embed_shapes.py [--shapes 24] [--points 400] [--out docs/images]

The docs build does not run it (it starts a Dask cluster and solves 276 problems);
the picture is the one it wrote to ``docs/images``:

.. image:: ../images/embedding_mds.png
   :alt: MDS embedding of the pairwise OT distances of the scan family
"""

# sphinx_gallery_thumbnail_path = "images/embedding_mds.png"

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from brenier.applications.pairwise import (
    embed,
    linearized_embedding,
    pairwise,
    plot_embedding,
    scan_family,
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Embed a family of deformed scans by their OT distances."
    )
    parser.add_argument("--shapes", type=int, default=24)
    parser.add_argument("--points", type=int, default=400)
    parser.add_argument("--blur", type=float, default=0.02)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    family = scan_family(args.shapes, args.points)
    clouds = [torch.from_numpy(c) for c in family.clouds]
    res = pairwise(
        clouds, blur=args.blur, names=family.names, workers=args.workers,
        checkpoint=args.checkpoint, resume=args.resume,
    )  # fmt: skip
    print(
        f"{len(clouds)} shapes: {res.blocks} blocks ({res.computed_blocks} computed, "
        f"{res.resumed_blocks} resumed) on {res.workers} workers in {res.seconds:.1f} s"
    )
    title = f"{len(clouds)} deformed scans, {args.points} points each"
    z = embed(res, method="mds")
    plot_embedding(z, names=family.names, groups=family.scans, title=f"MDS: {title}",
                   path=args.out / "embedding_mds.png")  # fmt: skip
    try:
        z_umap = embed(res, method="umap", n_neighbors=min(8, len(clouds) - 1))
    except ImportError as error:
        print(f"no UMAP picture: {error}")
    else:
        plot_embedding(z_umap, names=family.names, groups=family.scans,
                       title=f"UMAP: {title}", path=args.out / "embedding_umap.png")  # fmt: skip

    emb = linearized_embedding(clouds, blur=args.blur, names=family.names, workers=args.workers)
    error = emb.error(res.matrix)
    print(
        f"linearised OT: {len(clouds)} solves in {emb.seconds:.1f} s against template "
        f"{emb.names[emb.reference_index]}; relative error {error['relative_frobenius']:.3f}, "
        f"rank correlation {error['spearman']:.3f}"
    )
    plot_embedding(embed(emb, method="mds"), names=family.names, groups=family.scans,
                   title=f"MDS of the linearised embedding: {title}",
                   path=args.out / "embedding_linearised.png")  # fmt: skip
    print(f"wrote {args.out}/embedding_mds.png, embedding_umap.png, embedding_linearised.png")


if __name__ == "__main__":
    main()
