"""Sampler noise that does not depend on how a clip is cut into chunks.

Ancestral and SDE samplers draw fresh noise at every step. ComfyUI draws it for the batch
it is given from one seeded generator, so the same frame gets other noise when the clip is
sampled in chunks of another size. :class:`FrameNoise` draws each frame's noise from a
generator seeded by (seed, call, frame index) instead: any chunking gives every frame the
same noise at every step.
"""

from __future__ import annotations

import hashlib

import torch


def frame_seed(seed: int, stream: int, call: int, frame: int) -> int:
    """A 63-bit generator seed for one frame at one noise call of one stream (a sampling pass),
    well mixed: nearby seeds, streams, calls and frames give unrelated noise."""
    digest = hashlib.blake2b(f"{seed}:{stream}:{call}:{frame}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class FrameNoise:
    """A noise sampler (``noise_sampler(sigma, sigma_next)`` as k-diffusion samplers call it) for the
    frames ``frames`` of a clip, laid out like ``like`` with frames along ``time_dim``.

    The n-th call returns, for each frame f, standard normal noise seeded by ``(seed, stream, n, f)``;
    ``stream`` tells apart the passes of one seed (the base model's and the refiner's). ``shared``:
    every frame gets frame 0's noise (one noise for the whole clip).
    """

    def __init__(self, seed: int, frames: range, like: torch.Tensor, time_dim: int = 0, stream: int = 0,
                 shared: bool = False) -> None:
        self.seed = seed
        self.stream = stream
        self.frames = frames
        self.shared = shared
        self.time_dim = time_dim
        self.frame_shape = like.select(time_dim, 0).shape
        self.dtype, self.device = like.dtype, like.device
        self.calls = 0

    def __call__(self, sigma: torch.Tensor | None = None, sigma_next: torch.Tensor | None = None) -> torch.Tensor:
        call = self.calls
        self.calls += 1
        per_frame = [
            torch.randn(self.frame_shape, generator=torch.Generator().manual_seed(
                frame_seed(self.seed, self.stream, call, 0 if self.shared else frame)))
            for frame in self.frames
        ]
        return torch.stack(per_frame, dim=self.time_dim).to(self.device, self.dtype)
