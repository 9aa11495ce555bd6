"""Per-frame stacks: the rule "one per frame, or one for all frames" in one place.

Masks ``[M, h, w]``, images ``[M, h, w, 3]``, control hints and conditioning masks all
come either once per frame of the clip or once for the whole clip.
"""

from __future__ import annotations

import torch

SAME_CLIP_FIX = "give one per frame or a single one for all frames (build it from the same clip as the images)"


def per_frame(
    stack: torch.Tensor, frame_count: int, what: str, frames_what: str = "image_frames", fix: str = SAME_CLIP_FIX,
    several_fix: str | None = None,
) -> torch.Tensor:
    """One item per frame: ``[M, ...]`` -> ``[frame_count, ...]``.

    A stack of ``frame_count`` items is returned as it is; a single item is shared by all
    frames (an expanded view, no copy). Any other count is an error naming both counts and
    ``fix``, never a silent union or truncation. A count that is a multiple of the frame count
    is said to be what it most likely is, several items per frame (one per object, as
    segmenters that return each object apart give them), with ``several_fix`` (default ``fix``).
    """
    count = stack.shape[0]
    if count == frame_count:
        return stack
    if count == 1:
        return stack.expand(frame_count, *stack.shape[1:])
    if frame_count > 0 and count > frame_count and count % frame_count == 0:
        raise ValueError(
            f"{what} has {count} items, {count // frame_count} for each of the {frame_count} frames of {frames_what}: "
            f"that is the layout of several items per frame (e.g. one per object), which cannot be read as frames: "
            f"{several_fix or fix}"
        )
    raise ValueError(f"{what} has {count} frames but {frames_what} has {frame_count}: {fix}")


def pad_frames(stack: torch.Tensor, frame_count: int) -> torch.Tensor:
    """``[F, ...]`` padded to ``frame_count`` items by repeating the last one (a video VAE then
    sees the last frame held, not a cut to black); returned as is when already that long."""
    missing = frame_count - stack.shape[0]
    if missing <= 0:
        return stack
    return torch.cat([stack, stack[-1:].expand(missing, *stack.shape[1:])])
