"""CUDA tensors give the CPU's results (issue 16, item 4). Run where a GPU is lent:
``pytest -m gpu``; skipped elsewhere (CI has no GPU)."""

from __future__ import annotations

import importlib.util

import pytest
import torch

import brenier
from brenier import SamplesLoss

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

BACKENDS = ["dense", "online", "auto"]
if importlib.util.find_spec("pykeops") is not None:
    BACKENDS.append("keops")


def _clouds(n: int = 1500, m: int = 1200) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, 3, generator=gen)
    y = torch.rand(m, 3, generator=gen) * 0.8 + 0.3
    return x, y


def _solved(x, y, backend, **options):
    x = x.clone().requires_grad_(True)
    result = brenier.solve(x, y, blur=0.05, backend=backend, **options)
    (gradient,) = torch.autograd.grad(result.value, x)
    return result, gradient


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reach", [None, 0.5])
def test_a_cuda_solve_is_the_cpu_solve(backend: str, reach: float | None) -> None:
    x, y = _clouds()
    # On the CPU ``auto`` picks the multiscale strategy at this size; on CUDA, dense.
    reference = "online" if backend == "auto" else backend
    cpu, cpu_gradient = _solved(x, y, reference, reach=reach)
    gpu, gpu_gradient = _solved(x.cuda(), y.cuda(), backend, reach=reach)
    assert gpu.value.device.type == "cuda" and gpu_gradient.device.type == "cuda"
    assert gpu.status == cpu.status
    torch.testing.assert_close(gpu.value.cpu(), cpu.value.detach(), rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(gpu.f.cpu(), cpu.f, rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(gpu.g.cpu(), cpu.g, rtol=1e-3, atol=1e-5)
    error = (gpu_gradient.cpu() - cpu_gradient).norm() / cpu_gradient.norm()
    assert float(error) < 1e-3


@pytest.mark.parametrize("backend", ["dense", "online"])
def test_maps_and_losses_stay_on_the_device(backend: str) -> None:
    x, y = _clouds(800, 700)
    cpu = brenier.solve(x, y, blur=0.05, backend=backend)
    gpu = brenier.solve(x.cuda(), y.cuda(), blur=0.05, backend=backend)
    projected = brenier.barycentric_projection(gpu)
    assert projected.device.type == "cuda"
    expected = brenier.barycentric_projection(cpu)
    torch.testing.assert_close(projected.cpu(), expected, atol=1e-4, rtol=0)
    loss = SamplesLoss("sinkhorn", p=2, blur=0.05, backend=backend)
    torch.testing.assert_close(loss(x.cuda(), y.cuda()).cpu(), loss(x, y), rtol=1e-4, atol=1e-7)


def test_the_multiscale_backend_refuses_cuda_data_clearly() -> None:
    x, y = _clouds()
    with pytest.raises(ValueError, match=r"\[brenier\] backend 'multiscale' runs on the CPU"):
        brenier.solve(x.cuda(), y.cuda(), blur=0.05, backend="multiscale")
