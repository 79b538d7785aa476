"""Collections of shapes: all pairwise OT divergences on Dask, the linearised OT
embedding, and low-dimensional embeddings (MDS, UMAP) of either.

:func:`pairwise` solves the n(n-1)/2 debiased divergences in blocks on a Dask cluster
(an embedded local one by default), with a checkpoint directory to resume a killed
job; :func:`linearized_embedding` needs n solves against one reference and gives
Euclidean vectors whose distances approximate the same matrix; :func:`embed` and
:func:`plot_embedding` draw either in 2D.
"""

from ._embed import embed, plot_embedding
from ._family import ShapeFamily, scan_family
from ._linearized import (
    LinearizedEmbedding,
    linearization_error,
    linearized_embedding,
    template_index,
)
from ._pairwise import PairwiseResult, pairwise

__all__ = [
    "LinearizedEmbedding",
    "PairwiseResult",
    "ShapeFamily",
    "embed",
    "linearization_error",
    "linearized_embedding",
    "pairwise",
    "plot_embedding",
    "scan_family",
    "template_index",
]
