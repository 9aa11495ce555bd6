"""Mask operations on ``[frames, height, width]`` float32 tensors with values 0..1."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masks_for_frames(
    masks: torch.Tensor, frame_count: int, what: str = "cropped_mask", frames_what: str = "image_frames"
) -> torch.Tensor:
    """One mask per frame: ``[M, h, w]`` -> ``[frame_count, h, w]``.

    A single mask (M = 1) is shared by all frames (a view, no copy); per-frame masks
    stay per frame. Any other count is an error, never a silent union.
    """
    count = masks.shape[0]
    if count == frame_count:
        return masks
    if count == 1:
        return masks.expand(frame_count, -1, -1)
    raise ValueError(
        f"{what} has {count} frames but {frames_what} has {frame_count}: give one mask per frame "
        f"or a single mask for all frames (rebuild the SEGS from the same clip as the images)"
    )


def gaussian_kernel(feather: int) -> torch.Tensor:
    """1-D Gaussian of radius ``feather`` pixels (sigma = feather / 3), summing to one."""
    sigma = feather / 3.0
    offsets = torch.arange(-feather, feather + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def feather_masks(masks: torch.Tensor, feather: int) -> torch.Tensor:
    """Blur masks ``[F, h, w]`` so their edges fade over about ``feather`` pixels.

    The blur radius grows with ``feather`` (Impact uses a fixed sigma); borders are
    replicated so a mask touching the crop edge keeps full strength there. 0 returns
    the masks unchanged.
    """
    if feather <= 0 or masks.numel() == 0:
        return masks
    kernel = gaussian_kernel(int(feather))
    radius = kernel.numel() // 2
    x = masks.unsqueeze(1)
    x = F.pad(x, (radius, radius, 0, 0), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    x = F.pad(x, (0, 0, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, -1, 1))
    return x.squeeze(1).clamp_(0.0, 1.0)


def resize_masks(masks: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize of masks ``[F, h, w]`` to ``[F, height, width]`` in one batched call."""
    if masks.shape[-2:] == (height, width):
        return masks
    resized = F.interpolate(masks.unsqueeze(1), size=(height, width), mode="bilinear", align_corners=False)
    return resized.squeeze(1).clamp_(0.0, 1.0)

