"""The KSampler settings of a detail pass, checked once and passed whole."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .schedule import parse_scheduler

# vae_encode_precision, vae_decode_precision and sampling_precision: "auto" (bf16 where the CPU computes it natively), "fp32"
# (ComfyUI's own precision), "bf16" (bfloat16 on the CPU in any case).
PRECISIONS = ("auto", "fp32", "bf16")
AUTO_CONTEXT_LENGTH = -1  # context_length: pick windows from the model (see the sampling backend)


@dataclass(frozen=True)
class SamplingOptions:
    """What the sampler does with each SEG, named as the node's inputs.

    ``refiner_ratio`` is the share of the steps a refiner runs (with a refiner pipe), unless
    ``refiner_boundary`` (0..1, a fraction of the noise schedule) is set: then the refiner takes over
    at the first step whose noise level is below it, as Wan 2.2's two experts do; ``shared_noise``: one
    noise (initial and step noise) for every frame of an image-latent clip;
    ``scheduler_func`` computes the sigmas instead of ``scheduler``. ``context_length`` frames
    per context window (0 off, -1 auto), neighbours sharing ``context_overlap`` frames.
    ``vae_encode_precision``, ``vae_decode_precision`` and ``sampling_precision`` are one of
    :data:`PRECISIONS`.
    """

    steps: int
    cfg: float
    sampler_name: str
    scheduler: str
    denoise: float
    refiner_ratio: float = 0.0
    scheduler_func: Any = None
    context_length: int = 0
    context_overlap: int = 4
    vae_encode_precision: str = "auto"
    sampling_precision: str = "auto"
    vae_decode_precision: str = "auto"
    refiner_boundary: float = 0.0
    shared_noise: bool = False

    def validate(self, sampler_names: Sequence[str], scheduler_names: Sequence[str]) -> SamplingOptions:
        """Check every option against ComfyUI's sampler and scheduler lists; an error names the
        input and the fix (ComfyUI itself silently samples an unknown name with euler / simple)."""
        if self.sampler_name not in sampler_names:
            raise ValueError(
                f"sampler_name '{self.sampler_name}' is not a ComfyUI sampler; accepted values: {', '.join(sampler_names)}"
            )
        if self.scheduler_func is not None:
            if not callable(self.scheduler_func):
                raise ValueError(
                    f"scheduler_func_opt must be a SCHEDULER_FUNC (callable), got {type(self.scheduler_func).__name__}"
                )
        else:
            parse_scheduler(self.scheduler, scheduler_names)
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if not 0.0 < self.denoise <= 1.0:
            raise ValueError(f"denoise must be in (0, 1], got {self.denoise}")
        if not 0.0 <= self.refiner_ratio <= 1.0:
            raise ValueError(f"refiner_ratio must be in 0..1, got {self.refiner_ratio}")
        if not 0.0 <= self.refiner_boundary < 1.0:
            raise ValueError(f"refiner_boundary must be at least 0 and below 1 (a fraction of the noise schedule; 0: "
                             f"use refiner_ratio), got {self.refiner_boundary}")
        for name in ("vae_encode_precision", "vae_decode_precision", "sampling_precision"):
            if getattr(self, name) not in PRECISIONS:
                raise ValueError(f"{name} '{getattr(self, name)}' is not one of {', '.join(PRECISIONS)}")
        if self.context_length < AUTO_CONTEXT_LENGTH:
            raise ValueError(f"context_length must be -1 (auto), 0 (off) or a frame count, got {self.context_length}")
        if self.context_length > 0 and not 0 <= self.context_overlap < self.context_length:
            raise ValueError(
                f"context_overlap must be at least 0 and less than context_length ({self.context_length}), "
                f"got {self.context_overlap}: lower the overlap or raise the length"
            )
        return self
