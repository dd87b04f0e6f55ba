"""Data normalisation that belongs to the model: fitted once, stored as buffers, saved with the weights."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

#: A component whose spread is below this is constant in the data: it is centred, not scaled.
MIN_SCALE = 1e-12


class Normalizer(nn.Module):
    """Per-component affine map ``z = (x - mean) / scale`` and its inverse.

    Both are buffers, so ``state_dict`` carries them and ``.to(device)`` moves them. Until
    :meth:`fit` is called the map is the identity.

    Args:
        dim: state dimension. dtype: buffer dtype (the model's).
    """

    def __init__(self, dim: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim, dtype=dtype))
        self.register_buffer("scale", torch.ones(dim, dtype=dtype))

    def fit(self, x: np.ndarray) -> None:
        """Set mean and standard deviation from states ``x`` of shape ``(..., dim)``."""
        flat = np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1])
        std = flat.std(axis=0)
        self.mean.copy_(torch.as_tensor(flat.mean(axis=0)))
        self.scale.copy_(torch.as_tensor(np.where(std > MIN_SCALE, std, 1.0)))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Physical states ``(..., dim)`` to normalised ones."""
        return (x - self.mean) / self.scale

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised states ``(..., dim)`` back to physical units."""
        return z * self.scale + self.mean
