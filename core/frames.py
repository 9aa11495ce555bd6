"""Per-frame stacks: the rule "one per frame, or one for all frames" in one place.

Masks ``[M, h, w]``, images ``[M, h, w, 3]``, control hints and conditioning masks all
come either once per frame of the clip or once for the whole clip.
"""

from __future__ import annotations

import torch

SAME_CLIP_FIX = "give one per frame or a single one for all frames (build it from the same clip as the images)"


def per_frame(
    stack: torch.Tensor, frame_count: int, what: str, frames_what: str = "image_frames", fix: str = SAME_CLIP_FIX
) -> torch.Tensor:
    """One item per frame: ``[M, ...]`` -> ``[frame_count, ...]``.

    A stack of ``frame_count`` items is returned as it is; a single item is shared by all
    frames (an expanded view, no copy). Any other count is an error naming both counts and
    ``fix``, never a silent union or truncation.
    """
    count = stack.shape[0]
    if count == frame_count:
        return stack
    if count == 1:
        return stack.expand(frame_count, *stack.shape[1:])
    raise ValueError(f"{what} has {count} frames but {frames_what} has {frame_count}: {fix}")


def pad_frames(stack: torch.Tensor, frame_count: int) -> torch.Tensor:
    """``[F, ...]`` padded to ``frame_count`` items by repeating the last one (a video VAE then
    sees the last frame held, not a cut to black); returned as is when already that long."""
    missing = frame_count - stack.shape[0]
    if missing <= 0:
        return stack
    return torch.cat([stack, stack[-1:].expand(missing, *stack.shape[1:])])
