"""Per-frame controls of a SEG's detail pass that follow the subject's size in each frame.

* **Denoise by subject size**: a subject that grows and shrinks as the camera moves gets a redraw
  strength to match in each frame: full ``denoise`` while it is small and distant, down to a
  lower strength the user sets once it reaches ``guide_size``. Applied as a per-frame scale of the
  noise mask inside the one batched pass (differential diffusion), so frames still see each other.
* **Size gate**: detail the subject only in the frames where it is smaller than a size, with
  hysteresis (no flicker at the threshold) and the paste fading in and out over a few frames at each
  switch; in frames outside the gate the SEG's mask is zero, so they come back bit for bit.

A subject's size in a frame is the shorter side of its box there, in frame pixels (as ``guide_size``
measures a bbox), smoothed over time so neither control pumps with the detector's jitter.
"""

from __future__ import annotations

import torch

from .tracking import fill_missing, smooth_path, subject_boxes

SIZE_SMOOTHING = 2.0  # frames (Gaussian sigma) over which subject sizes are smoothed
GATE_HYSTERESIS = 0.1  # the gate opens below size x (1 - this) and closes above size x (1 + this)
GATE_FADE_FRAMES = 4  # frames over which the paste fades in and out at each switch of the gate


def subject_sizes(masks: torch.Tensor, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The subject's size in each frame of its masks ``[F, h, w]``: the shorter side of its box times
    ``scale`` (crop pixels to frame pixels), float ``[F]`` smoothed over time, and bool ``present``
    ``[F]``; frames where the subject is absent take the size of the frames around them."""
    boxes, present = subject_boxes(masks)
    if not bool(present.any()):
        return torch.zeros(masks.shape[0]), present
    sides = torch.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]).unsqueeze(1) * scale
    sides = fill_missing(sides, present)
    return smooth_path(sides, SIZE_SMOOTHING).squeeze(1), present


def denoise_by_size(sizes: torch.Tensor, guide_size: float, denoise: float, large_denoise: float) -> torch.Tensor:
    """Redraw strength per frame ``[F]``: ``denoise`` while the subject is at most half ``guide_size``,
    ``large_denoise`` from ``guide_size`` up, linear in between."""
    half = guide_size / 2.0
    progress = ((sizes - half) / max(half, 1e-6)).clamp(0.0, 1.0)
    return denoise + progress * (large_denoise - denoise)


def size_gate(sizes: torch.Tensor, present: torch.Tensor, gate: float) -> torch.Tensor:
    """Paste weight per frame ``[F]`` in 0..1 for a gate at ``gate`` pixels: 1 while the subject is
    smaller (it opens below ``gate * (1 - GATE_HYSTERESIS)`` and closes above ``gate * (1 +
    GATE_HYSTERESIS)``, starting open below ``gate``), ramping over ``GATE_FADE_FRAMES`` frames inside
    each open stretch; exactly 0 in closed frames. Absent frames keep the state."""
    frame_count = sizes.shape[0]
    low, high = gate * (1.0 - GATE_HYSTERESIS), gate * (1.0 + GATE_HYSTERESIS)
    first = int(torch.nonzero(present).flatten()[0]) if bool(present.any()) else 0
    is_open = bool(sizes[first] < gate)
    state = torch.zeros(frame_count, dtype=torch.bool)
    for frame in range(frame_count):
        if bool(present[frame]):
            if is_open and float(sizes[frame]) > high:
                is_open = False
            elif not is_open and float(sizes[frame]) < low:
                is_open = True
        state[frame] = is_open
    if bool(state.all()):
        return torch.ones(frame_count)
    if not bool(state.any()):
        return torch.zeros(frame_count)
    closed = torch.nonzero(~state).flatten().to(torch.float32)
    frames = torch.arange(frame_count, dtype=torch.float32)
    distance = (frames.unsqueeze(1) - closed.unsqueeze(0)).abs().amin(dim=1)  # to the nearest closed frame
    return torch.where(state, (distance / (GATE_FADE_FRAMES + 1)).clamp(max=1.0), torch.zeros(frame_count))
