"""The online backend: softmin and softmax sums in linear memory, with exact gradients.

Nothing of size N x M is stored, in the forward or the backward pass: both are
reductions recomputed block by block, by compiled numba kernels for CPU float32 /
float64 tensors (``_online_numba.py``) and by chunked torch code otherwise
(``_chunked_torch.py``, the CUDA path).

Gradients. With :math:`\\ell_i = \\log\\sum_j e^{h_j - C_{ij}/\\varepsilon}` and the plan
:math:`P_{ij} = e^{h_j - C_{ij}/\\varepsilon - \\ell_i}`, the softmin
:math:`s_i = -\\varepsilon \\ell_i` has, for an upstream gradient :math:`g`,

.. math::

    \\nabla_{x_i} = g_i \\sum_j P_{ij} \\nabla_1 C(x_i, y_j), \\qquad
    \\nabla_{y_j} = \\sum_i g_i P_{ij} \\nabla_1 C(y_j, x_i), \\qquad
    \\nabla_{h_j} = -\\varepsilon \\sum_i g_i P_{ij},

two more reductions (one over the rows of x, one over the rows of y with the saved
:math:`\\ell` as column offsets). The plan entries are <= 1, so these need no max
shift. The softmax sum :math:`o_i = \\sum_j P_{ij} v_j` has, with :math:`u_{ij} =
G_i \\cdot v_j` and :math:`\\bar u_i = G_i \\cdot o_i`, the gradient
:math:`\\sum_{ij} P_{ij}(u_{ij} - \\bar u_i)\\, d(h_j - C_{ij}/\\varepsilon)` plus
:math:`\\nabla_{v_j} = \\sum_i P_{ij} G_i`: the same reductions with E + 1 weight
columns. Double backward is not supported (``once_differentiable``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from ..geometry import Cost
from . import _chunked_torch


def _engine(x: Tensor, name: str) -> ModuleType:
    """numba for CPU float32/float64 tensors (unless ``name == "torch"``), else torch."""
    if name != "torch" and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
        from . import _online_numba  # compiles (or loads from cache) on first use only

        return _online_numba
    return _chunked_torch


def _neg_lse(lse: Tensor) -> Tensor:
    """-lse as the row offsets of the plan; -inf on rows with no mass (lse = -inf)."""
    return torch.where(lse > -math.inf, -lse, -math.inf)


class _Softmin(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, x, y, h, eps, p, engine):
        lse = engine.lse(x, y, h, eps, p)
        ctx.save_for_backward(x, y, h, lse)
        ctx.eps, ctx.p, ctx.engine = eps, p, engine  # type: ignore[attr-defined]
        return lse.mul(-eps)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, y, h, lse = ctx.saved_tensors
        eps, p, engine = ctx.eps, ctx.p, ctx.engine
        a = _neg_lse(lse)
        grad = torch.where(lse > -math.inf, grad, 0)  # rows at +inf carry no gradient
        gx = gy = gh = None
        if hasattr(engine, "softmin_backward"):  # fused: one pass, one exp per pair
            gx, gy, gh = engine.softmin_backward(x, y, a, grad, h, eps, p)
            return gx, gy, gh, None, None, None
        if ctx.needs_input_grad[0]:
            ones = torch.ones(*y.shape[:2], 1, dtype=x.dtype, device=x.device)
            G, _ = engine.gradred(x, y, a, h, ones, eps, p)
            gx = grad.unsqueeze(-1) * G[:, :, 0]
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            G, S = engine.gradred(y, x, h, a, grad.unsqueeze(-1), eps, p)
            gy, gh = G[:, :, 0], S[:, :, 0].mul(-eps)
        return gx, gy, gh, None, None, None


class _SoftmaxSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, x, y, h, v, eps, p, engine):
        a = _neg_lse(engine.lse(x, y, h, eps, p))
        out = engine.planvec(x, y, a, h, v, eps, p)
        ctx.save_for_backward(x, y, h, v, a, out)
        ctx.eps, ctx.p, ctx.engine = eps, p, engine  # type: ignore[attr-defined]
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, y, h, v, a, out = ctx.saved_tensors
        eps, p, engine = ctx.eps, ctx.p, ctx.engine
        E = v.shape[-1]
        ubar = (grad * out).sum(-1, keepdim=True)  # (B, N, 1)
        gx = gy = gh = gv = None
        if ctx.needs_input_grad[2] or ctx.needs_input_grad[3]:
            T = engine.planvec(y, x, h, a, torch.cat([grad, ubar], -1), eps, p)  # (B, M, E+1)
            gv = T[..., :E]
            gh = (v * gv).sum(-1) - T[..., E]
        if ctx.needs_input_grad[0]:
            ones = torch.ones_like(v[..., :1])
            G, _ = engine.gradred(x, y, a, h, torch.cat([v, ones], -1), eps, p)
            gx = (grad.unsqueeze(-1) * G[:, :, :E]).sum(2) - ubar * G[:, :, E]
            gx = gx.div_(-eps)
        if ctx.needs_input_grad[1]:
            G, _ = engine.gradred(y, x, h, a, torch.cat([grad, ubar], -1), eps, p)
            gy = (v.unsqueeze(-1) * G[:, :, :E]).sum(2) - G[:, :, E]
            gy = gy.div_(-eps)
        return gx, gy, gh, gv, None, None, None


@dataclass(frozen=True)
class OnlinePair:
    """The interaction between x (B, N, D) and y (B, M, D), recomputed at every call.

    Attributes:
        x: source points (B, N, D).
        y: target points (B, M, D).
        p: 1 (|x - y|) or 2 (|x - y|^2 / 2).
        engine: ``"auto"`` (numba for CPU float32/float64, chunked torch otherwise) or
            ``"torch"`` (chunked torch everywhere, e.g. to test one against the other).

    Example:
        >>> import torch
        >>> from brenier.kernels import OnlinePair
        >>> x = torch.randn(1, 5, 3, dtype=torch.float64)
        >>> y = torch.randn(1, 4, 3, dtype=torch.float64)
        >>> h = torch.zeros(1, 4, dtype=torch.float64)
        >>> s = OnlinePair(x, y, p=2).softmin(1.0, h)
        >>> tuple(s.shape)
        (1, 5)
    """

    x: Tensor
    y: Tensor
    p: int
    engine: str = "auto"

    def softmin(self, eps: float, h: Tensor) -> Tensor:
        """Soft distance transform, h (B, M) -> (B, N).

        .. math:: -\\varepsilon \\log \\sum_j \\exp(h_j - C(x_i, y_j)/\\varepsilon)
        """
        x, y, h = _common(self.x, self.y, h)
        out = _Softmin.apply(x, y, h, float(eps), self.p, _engine(x, self.engine))
        return out.to(self.x.dtype)

    def softmax_sum(self, eps: float, h: Tensor, v: Tensor) -> Tensor:
        """Softmax-weighted sum, h (B, M) and v (B, M, E) -> (B, N, E).

        .. math:: \\sum_j \\mathrm{softmax}_j(h_j - C(x_i, y_j)/\\varepsilon)\\, v_j
        """
        x, y, h, v = _common(self.x, self.y, h, v)
        out = _SoftmaxSum.apply(x, y, h, v, float(eps), self.p, _engine(x, self.engine))
        return out.to(self.x.dtype)


def _common(x: Tensor, *others: Tensor) -> tuple[Tensor, ...]:
    """Casts float16/bfloat16 CPU inputs to float32 (numba compiles float32/float64 only)."""
    dtype = x.dtype
    if x.device.type == "cpu" and dtype not in (torch.float32, torch.float64):
        dtype = torch.float32
    return tuple(t.to(dtype) for t in (x, *others))


class OnlineBackend:
    """Factory of :class:`OnlinePair` kernels: memory-linear, p = 1 and p = 2 only."""

    name = "online"
    memory_linear = True

    def supports(self, cost: Cost) -> bool:
        return cost.function is None and cost.p in (1, 2)

    def pair(self, x: Tensor, y: Tensor, cost: Cost) -> OnlinePair:
        return OnlinePair(x, y, p=int(cost.p))  # type: ignore[arg-type]
