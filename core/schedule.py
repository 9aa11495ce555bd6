"""Noise schedules: scheduler names, the denoise tail and the refiner split.

Sigmas are 1-D float32 tensors, descending, ending at 0; ``steps`` sigmas-intervals
means ``steps + 1`` values. The tables for the extra schedulers (Align Your Steps,
GITS) belong to ComfyUI and are passed in; this module only does the arithmetic.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

# Scheduler names Impact Pack adds to ComfyUI's list; saved workflows store them.
EXTRA_SCHEDULERS = ("AYS SDXL", "AYS SD1", "AYS SVD", "GITS[coeff=1.2]")
AYS_MODEL_TYPES = ("SD1", "SDXL", "SVD")
GITS_COEFFS = tuple(round(0.80 + 0.05 * i, 2) for i in range(15))  # 0.80 .. 1.50
DISCARD_PENULTIMATE_SIGMA_SAMPLERS = frozenset({"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"})

_GITS_PATTERN = re.compile(r"^GITS\[coeff=([0-9]*\.?[0-9]+)\]$")


@dataclass(frozen=True)
class SchedulerChoice:
    """A parsed scheduler name: ComfyUI's own (``kind`` "comfy"), "ays" or "gits"."""

    kind: str
    name: str
    ays_model: str | None = None
    gits_coeff: float | None = None


def parse_scheduler(name: str, comfy_schedulers: Sequence[str]) -> SchedulerChoice:
    """Read a scheduler name; an unknown one is an error listing what is accepted.

    ComfyUI itself silently replaces unknown names by "simple", so a typo or a name from
    another pack would sample with the wrong schedule without a word.
    """
    if name in comfy_schedulers:
        return SchedulerChoice("comfy", name)
    if name.startswith("AYS "):
        model = name[4:]
        if model in AYS_MODEL_TYPES:
            return SchedulerChoice("ays", name, ays_model=model)
    match = _GITS_PATTERN.match(name)
    if match:
        coeff = round(float(match.group(1)), 2)
        if coeff in GITS_COEFFS:
            return SchedulerChoice("gits", name, gits_coeff=coeff)
        raise ValueError(
            f"scheduler '{name}': GITS is only defined for coeff 0.80 to 1.50 in steps of 0.05; "
            f"pick one of those, e.g. 'GITS[coeff=1.2]'"
        )
    accepted = ", ".join([*comfy_schedulers, "AYS SD1", "AYS SDXL", "AYS SVD", "GITS[coeff=0.80..1.50]"])
    raise ValueError(f"scheduler '{name}' is not one this node can compute; accepted values: {accepted}")


def loglinear_interpolate(levels: Sequence[float], count: int) -> torch.Tensor:
    """Resample descending noise levels to ``count`` values, linear in log(sigma)."""
    log_levels = torch.tensor(levels, dtype=torch.float64).log()
    positions = torch.linspace(0.0, len(levels) - 1, count, dtype=torch.float64)
    lower = positions.floor().long().clamp(max=len(levels) - 2)
    fraction = positions - lower
    values = log_levels[lower] * (1 - fraction) + log_levels[lower + 1] * fraction
    return values.exp().to(torch.float32)


def ays_sigmas(levels: Sequence[float], steps: int) -> torch.Tensor:
    """Align Your Steps sigmas for ``steps`` steps from the model type's reference levels."""
    sigmas = torch.tensor(levels, dtype=torch.float32) if len(levels) == steps + 1 else loglinear_interpolate(levels, steps + 1)
    sigmas[-1] = 0.0
    return sigmas


def gits_sigmas(table: Sequence[Sequence[float]], steps: int) -> torch.Tensor:
    """GITS sigmas for ``steps`` steps from one coefficient's table (rows for 2..20 steps)."""
    if steps < 2:
        raise ValueError("steps must be at least 2 with a GITS scheduler: raise steps or pick another scheduler")
    if steps <= len(table) + 1:
        sigmas = torch.tensor(table[steps - 2], dtype=torch.float32)
    else:
        sigmas = loglinear_interpolate(table[-1], steps + 1)
    sigmas[-1] = 0.0
    return sigmas


def with_sampler_rule(full_schedule: Callable[[int], torch.Tensor], sampler_name: str) -> Callable[[int], torch.Tensor]:
    """Apply ComfyUI's rule for samplers that skip the penultimate sigma (dpm_2, uni_pc)."""
    if sampler_name not in DISCARD_PENULTIMATE_SIGMA_SAMPLERS:
        return full_schedule

    def schedule(steps: int) -> torch.Tensor:
        sigmas = full_schedule(steps + 1)
        return torch.cat([sigmas[:-2], sigmas[-1:]])

    return schedule


def denoise_tail(full_schedule: Callable[[int], torch.Tensor], steps: int, denoise: float) -> torch.Tensor:
    """The last ``steps`` steps of a longer schedule, as KSampler does for ``denoise`` < 1.

    The schedule is computed for ``int(steps / denoise)`` steps and its tail taken, so
    the same settings give the same sigmas as ComfyUI's KSampler.
    """
    if denoise > 0.9999:
        return full_schedule(steps)
    if denoise <= 0.0:
        return torch.zeros(0)
    return full_schedule(int(steps / denoise))[-(steps + 1):]


def refiner_split(sigmas: torch.Tensor, refiner_ratio: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a schedule: the base model runs the first ``1 - refiner_ratio`` of the steps.

    Returns ``(base, refiner)``; they share the sigma at the switch. Either part can be
    a single value (no steps), which means that model does not run.
    """
    steps = len(sigmas) - 1
    switch = max(0, min(steps, math.floor(steps * (1.0 - refiner_ratio))))
    return sigmas[: switch + 1], sigmas[switch:]


def refiner_split_at_boundary(sigmas: torch.Tensor, levels: torch.Tensor, boundary: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a schedule where its noise level falls below ``boundary``: the base model runs every step
    that starts at a level of at least ``boundary``, the refiner the rest (Wan 2.2's high- and
    low-noise experts). ``levels`` holds each sigma's place in the model's schedule, 0..1 (1 pure
    noise), descending like ``sigmas``. Returns ``(base, refiner)``, sharing the sigma at the switch."""
    steps = len(sigmas) - 1
    switch = int((levels[:steps] >= boundary).sum())
    return sigmas[: switch + 1], sigmas[switch:]
