"""Context windows: a long clip sampled as overlapping windows of frames, cross-faded.

A motion module sees a limited number of frames at once (16 for most AnimateDiff
modules) and sampling memory grows with the frame count. A long clip is therefore
sampled as overlapping windows of ``length`` frames; where two windows overlap, their
results are blended with linear ramps whose weights sum to one on every frame. (Not to be
confused with crop windows, :mod:`.crop_windows`, which are where a SEG is cut from a frame.)
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# Samples one window: (frames, latent, noise, noise_mask) of that window -> sampled latent.
SampleWindow = Callable[[range, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def context_windows(frame_count: int, length: int, overlap: int) -> list[range]:
    """Windows of ``length`` frames covering ``0..frame_count``, consecutive ones sharing
    ``overlap`` frames (the last window is moved back to end at the last frame).

    ``length`` <= 0, or a clip no longer than ``length``, gives one window over everything.
    """
    if length <= 0 or frame_count <= length:
        return [range(0, frame_count)]
    if not 0 <= overlap < length:
        raise ValueError(f"context_overlap must be at least 0 and less than context_length ({length}), got {overlap}")
    stride = length - overlap
    starts = list(range(0, frame_count - length, stride)) + [frame_count - length]
    return [range(start, start + length) for start in dict.fromkeys(starts)]


def frame_chunks(frame_count: int, most: int) -> list[range]:
    """Consecutive chunks of at most ``most`` frames covering ``0..frame_count``, as even as
    possible (7 frames by at most 3: 3, 2, 2), for frames that are sampled independently."""
    count = max(1, -(-frame_count // max(1, most)))
    base, longer = divmod(frame_count, count)  # the first `longer` chunks take one frame more
    chunks, start = [], 0
    for index in range(count):
        stop = start + base + (1 if index < longer else 0)
        chunks.append(range(start, stop))
        start = stop
    return chunks


def crossfade_weights(windows: list[range], frame_count: int) -> list[torch.Tensor]:
    """Per-window frame weights (float32, one per frame of the window) summing to one per frame.

    Each window's weight ramps up linearly over the frames it shares with the previous window
    and down over those it shares with the next, so no frame switches abruptly.
    """
    raw = []
    for index, window in enumerate(windows):
        weights = torch.ones(len(window))
        if index > 0:
            shared = windows[index - 1].stop - window.start
            if shared > 0:
                weights[:shared] = torch.arange(1, shared + 1, dtype=torch.float32) / (shared + 1)
        if index < len(windows) - 1:
            shared = window.stop - windows[index + 1].start
            if shared > 0:
                weights[-shared:] = torch.minimum(
                    weights[-shared:], torch.arange(shared, 0, -1, dtype=torch.float32) / (shared + 1)
                )
        raw.append(weights)
    total = torch.zeros(frame_count)
    for window, weights in zip(windows, raw):
        total[window.start : window.stop] += weights
    return [weights / total[window.start : window.stop] for window, weights in zip(windows, raw)]


def sample_in_context_windows(
    latent: torch.Tensor,
    noise: torch.Tensor,
    noise_mask: torch.Tensor,
    windows: list[range],
    sample_window: SampleWindow,
    time_dim: int = 0,
    causal_anchor: bool = False,
) -> torch.Tensor:
    """Sample ``latent`` window by window and cross-fade the results.

    ``latent`` and ``noise`` hold the clip's frames along ``time_dim`` (0 for image latents
    ``[F, C, h, w]``, 2 for video latents ``[1, C, F, h, w]``); ``noise_mask`` holds one mask
    per frame ``[F, H, W]``. The noise is the whole clip's, sliced, so a frame's noise does not
    depend on the window it falls in. One window is one call on the whole clip.

    With ``causal_anchor`` (video latents whose first frame is encoded on its own), a window
    that does not start the clip is sampled with the frame before it prepended, and that
    frame's result is dropped: the window's own frames are never taken for a first frame.
    ``sample_window`` gets the frames it actually samples.
    """
    if len(windows) == 1 and len(windows[0]) == latent.shape[time_dim]:
        return sample_window(windows[0], latent, noise, noise_mask)
    frame_count = latent.shape[time_dim]
    result = torch.zeros_like(latent, dtype=torch.float32)
    weight_shape = [1] * latent.ndim
    for window, weight in zip(windows, crossfade_weights(windows, frame_count)):
        anchor = 1 if causal_anchor and window.start > 0 else 0
        sampled_frames = range(window.start - anchor, window.stop)
        start, length = sampled_frames.start, len(sampled_frames)
        sampled = sample_window(sampled_frames, latent.narrow(time_dim, start, length), noise.narrow(time_dim, start, length),
                                noise_mask[sampled_frames.start : sampled_frames.stop])
        sampled = sampled.narrow(time_dim, anchor, len(window))
        weight_shape[time_dim] = len(window)
        result.narrow(time_dim, window.start, len(window)).add_(sampled.to(result) * weight.view(weight_shape).to(result))
    return result.to(latent.dtype)
