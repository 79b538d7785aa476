"""Losses: thin torch.nn.Module wrappers around the functional core."""

from ._samples_loss import SamplesLoss

__all__ = ["SamplesLoss"]
