"""A compact multiscale point network that corrects an OT displacement field.

Input: N source points p (already pre-aligned, in the target's normalised frame), per
point the robust-OT displacements :math:`d^{(s)}_i` at a few blurs and their transported
fractions :math:`c^{(s)}_i`, and the target cloud q. Output: a displacement
:math:`u_i = d^{(0)}_i + \\delta_i` at every source point, where the network predicts
the correction :math:`\\delta`.

Layers (all on relative positions, so the network sees shape, not place):

* **target context**: for each point, its ``k`` nearest target points around
  :math:`p_i + d^{(0)}_i`, offsets :math:`(q_j - p_i - d^{(0)}_i)/s` through a shared
  MLP, max-pooled (a local correlation volume: where the target really is near the
  place OT sends the point);
* **kNN point convolutions** (EdgeConv-like,
  :math:`h_i = \\max_{j \\in \\mathcal N_k(i)} \\mathrm{MLP}([h_j, (p_j - p_i)/r_\\ell])`)
  at ``levels`` resolutions, each a farthest-point subsample of the previous one (1/4
  of its points), with radius scale :math:`r_\\ell` growing with the level;
* **decoder**: features brought back up by inverse-distance interpolation of the 3
  nearest coarse points, concatenated with the skip features, through an MLP; a head
  maps them to :math:`\\delta_i` (in units of s).

The result is made a smooth field of space by Gaussian-kernel interpolation
(:class:`..._transforms.SmoothDisplacement`) in :mod:`._step`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from ...._validation import PREFIX


@dataclass(frozen=True)
class NetConfig:
    """The architecture: what a saved model must match to be loaded.

    Attributes:
        blurs: OT blurs of the input features (fractions of the target's size); the
            first one's displacement is the one the network corrects.
        points: source points the network sees (farthest-point subsample).
        widths: feature widths per resolution (its length is the number of levels).
        neighbours: k of the kNN convolutions and of the target context.
        scale: displacement and offset unit s (fraction of the target's size).
        radii: the position scale r of each level's convolution.
        reach: robust-OT reach of the input features (fraction of the target's size;
            larger than the registration's: the deformations it corrects are large).
        smoothing: width of the Gaussian kernel that makes the predicted displacements
            a field of space (fraction of the target's size).
    """

    blurs: tuple[float, ...] = (0.05, 0.025)
    points: int = 640
    widths: tuple[int, ...] = (32, 64, 128)
    neighbours: int = 16
    scale: float = 0.02
    radii: tuple[float, ...] = (0.02, 0.05, 0.12)
    reach: float = 0.1
    smoothing: float = 0.06

    def __post_init__(self) -> None:
        ok = (
            len(self.blurs) >= 1 and all(b > 0 for b in self.blurs) and self.points >= 16
            and len(self.widths) >= 1 and all(w >= 1 for w in self.widths)
            and len(self.radii) == len(self.widths) and all(r > 0 for r in self.radii)
            and self.neighbours >= 2 and self.scale > 0 and self.reach > 0
            and self.smoothing > 0
        )  # fmt: skip
        if not ok:
            raise ValueError(
                f"{PREFIX} invalid network configuration {self}: needs >= 1 positive blur, "
                ">= 16 points, one positive radius per width, neighbours >= 2, positive "
                "scale, reach and smoothing."
            )

    def to_dict(self) -> dict[str, object]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, record: dict[str, object]) -> NetConfig:
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in record.items()}
        return cls(**fields)  # type: ignore[arg-type]

    @property
    def feature_dim(self) -> int:
        """Per-point input channels: 3 displacement + 1 confidence per blur."""
        return 4 * len(self.blurs)


def knn(queries: Tensor, points: Tensor, k: int) -> Tensor:
    """Indices (Q, k) of the k nearest points of each query (brute force: N <= a few 1000)."""
    k = min(k, len(points))
    return torch.cdist(queries, points).topk(k, dim=1, largest=False).indices


def farthest_points(points: Tensor, n: int) -> Tensor:
    """Indices of n farthest-point samples, starting from the point nearest the centroid."""
    n = min(n, len(points))
    chosen = torch.empty(n, dtype=torch.long)
    first = int(((points - points.mean(0)) ** 2).sum(1).argmin())
    dist = torch.full((len(points),), float("inf"), dtype=points.dtype)
    chosen[0] = first
    for i in range(1, n):
        dist = torch.minimum(dist, ((points - points[chosen[i - 1]]) ** 2).sum(1))
        chosen[i] = dist.argmax()
    return chosen


def _mlp(*widths: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


class PointConv(nn.Module):
    """:math:`h_i = \\max_{j \\in N_k(i)} \\mathrm{MLP}([h_j, (p_j - c_i)/r])` from the
    points p (features h) to centres c."""

    def __init__(self, width_in: int, width_out: int, radius: float) -> None:
        super().__init__()
        self.radius = radius
        self.mlp = _mlp(width_in + 3, width_out, width_out)

    def forward(self, centres: Tensor, points: Tensor, features: Tensor, index: Tensor) -> Tensor:
        offsets = (points[index] - centres[:, None, :]) / self.radius  # (C, k, 3)
        return self.mlp(torch.cat([features[index], offsets], dim=-1)).amax(dim=1)


class RegistrationNet(nn.Module):
    """The network of :mod:`brenier.applications.registration.learned` (see there)."""

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        w = config.widths
        self.context = _mlp(3, w[0], w[0])
        self.embed = _mlp(config.feature_dim + w[0], w[0])
        self.down = nn.ModuleList(
            PointConv(w[max(i - 1, 0)], w[i], r) for i, r in enumerate(config.radii)
        )
        self.up = nn.ModuleList(_mlp(w[i + 1] + w[i], w[i], w[i]) for i in range(len(w) - 1))
        self.head = _mlp(w[0], w[0], 3)

    def forward(self, points: Tensor, features: Tensor, target: Tensor) -> Tensor:
        """Displacements (N, 3) at the points (N, 3), from the features (N, F) and the
        target (M, 3); all in the normalised frame (float32)."""
        cfg = self.config
        s, k = cfg.scale, cfg.neighbours
        guess = points + features[:, :3] * s
        near = knn(guess, target, k)
        context = self.context((target[near] - guess[:, None, :]) / s).amax(dim=1)
        h = self.embed(torch.cat([features, context], dim=1))
        levels: list[tuple[Tensor, Tensor]] = []
        p = points
        for i, conv in enumerate(self.down):
            centres = p if i == 0 else p[farthest_points(p, max(len(p) // 4, 1))]
            h = conv(centres, p, h, knn(centres, p, k))
            p = centres
            levels.append((p, h))
        for i in reversed(range(len(self.up))):
            fine_p, fine_h = levels[i]
            h = self.up[i](torch.cat([_interpolate(fine_p, p, h), fine_h], dim=1))
            p = fine_p
        return features[:, :3] * s + self.head(h) * s


def _interpolate(queries: Tensor, points: Tensor, values: Tensor) -> Tensor:
    """Inverse-distance interpolation from the 3 nearest points."""
    index = knn(queries, points, 3)
    d = (points[index] - queries[:, None, :]).norm(dim=-1).clamp_min(1e-8)
    w = 1.0 / d
    w = w / w.sum(1, keepdim=True)
    return (w[..., None] * values[index]).sum(1)


def parameter_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
