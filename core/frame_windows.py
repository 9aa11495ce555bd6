"""Overlapping frame windows for long clips, and the cross-fade that joins them.

A motion module sees a limited number of frames at once (16 for most AnimateDiff
modules) and sampling memory grows with the frame count. A long clip is therefore
sampled as overlapping windows of ``length`` frames; where two windows overlap, their
results are blended with linear ramps whose weights sum to one on every frame.
"""

from __future__ import annotations

import torch


def frame_windows(frame_count: int, length: int, overlap: int) -> list[range]:
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
