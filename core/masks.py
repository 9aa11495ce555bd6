"""Mask operations on ``[frames, height, width]`` float32 tensors with values 0..1."""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from .frames import per_frame
from .geometry import Rect

log = logging.getLogger(__name__)

EIGHT_BIT_MAX = 255.0

# A MASK batch read per frame whose length is a multiple of the frame count: what it most likely is.
PER_OBJECT_MASKS_FIX = (
    "it looks like one mask per object per frame (SAM3 Detect with individual_masks on, or a SAM2 node's per-object "
    "masks): to follow objects over the clip use SAM3 Video Track and 'SAM3 Track to SEGS', or connect SAM3 Detect's "
    "bboxes to Track SEGS' boxes input (or turn individual_masks off for one mask per frame)"
)
MASK_PER_FRAME_FIX = (
    "give one mask per frame (or one for all frames), made from the same clip; a batch of one mask per object "
    "per frame (SAM3 Detect's individual_masks) is not per frame: use SAM3 Video Track and 'SAM3 Track to SEGS', "
    "or SAM3 Detect's bboxes into Track SEGS' boxes"
)


def unit_mask_values(masks: torch.Tensor, what: str = "mask") -> torch.Tensor:
    """Float masks with values 0..1, read the one documented way.

    A mask already in 0..1 comes back as it is. A mask whose values reach above 1 but stay
    within 0..255 holds 8-bit levels (an image channel, a 0..255 segmenter): it is scaled by
    1/255, with a warning naming ``what``. NaN, negative values or values above 255 are an
    error naming ``what``: there is no reading of them that would not be a guess.
    """
    if masks.numel() == 0:
        return masks
    low, high = float(masks.min()), float(masks.max())
    if not (low == low and high == high) or low < 0.0 or high > EIGHT_BIT_MAX:  # NaN compares unequal
        raise ValueError(
            f"{what} holds values from {low:g} to {high:g}; a MASK holds 0..1 (or 0..255 levels): "
            f"fix the node that produced it, e.g. with a threshold or a normalising mask node"
        )
    if high <= 1.0:
        return masks
    log.warning("%s holds values up to %g: read as 0..255 levels and scaled to 0..1", what, high)
    return masks / EIGHT_BIT_MAX


def mask_batch(mask: object, what: str = "mask") -> torch.Tensor:
    """A MASK input ``[F, H, W]`` (or one mask ``[H, W]``) as float32 CPU masks ``[F, H, W]`` with
    values 0..1 (:func:`unit_mask_values`); anything else is an error naming ``what``."""
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
        raise ValueError(f"{what} must be a MASK tensor [frames, height, width], got "
                         f"{getattr(mask, 'shape', type(mask).__name__)}")
    return unit_mask_values(mask.reshape(-1, *mask.shape[-2:]).to("cpu", torch.float32), what)


def mask_frames(mask: object, frame_count: int, what: str = "mask", frames_what: str = "image_frames",
                size: tuple[int, int] | None = None) -> torch.Tensor:
    """A MASK input read per frame of a clip of ``frame_count`` frames: float32 CPU masks 0..1
    ``[frame_count, H, W]`` (one mask is shared by all frames), resized to ``size`` ``(height,
    width)`` when given. Another count is an error naming both counts, checked before any resize;
    a multiple of the frame count is said to be per-object masks, with the nodes to use instead."""
    batch = mask_batch(mask, what)
    per_frame(batch, frame_count, what, frames_what, fix=MASK_PER_FRAME_FIX, several_fix=PER_OBJECT_MASKS_FIX)
    if size is not None:
        batch = resize_masks(batch, *size)
    return per_frame(batch, frame_count, what, frames_what)


def nonzero_bbox(mask: torch.Tensor) -> Rect | None:
    """End-exclusive bbox ``(x1, y1, x2, y2)`` of the nonzero pixels of a ``[..., H, W]`` mask (over
    all its frames); None when it is empty."""
    if mask.ndim > 2:
        mask = mask.reshape(-1, *mask.shape[-2:]).any(dim=0)
    rows = torch.nonzero(mask.any(dim=1)).flatten()
    cols = torch.nonzero(mask.any(dim=0)).flatten()
    if rows.numel() == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def gaussian_kernel(sigma: float, radius: int) -> torch.Tensor:
    """1-D Gaussian float32 ``[2 * radius + 1]`` of standard deviation ``sigma`` (same units as
    ``radius``: pixels or frames), summing to one."""
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
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
    radius = int(feather)
    kernel = gaussian_kernel(radius / 3.0, radius)
    x = masks.unsqueeze(1)
    x = F.pad(x, (radius, radius, 0, 0), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    x = F.pad(x, (0, 0, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, -1, 1))
    return x.squeeze(1).clamp_(0.0, 1.0)


def morph_masks(masks: torch.Tensor, kernel: int) -> torch.Tensor:
    """Grow (``kernel`` > 0) or shrink (``kernel`` < 0) masks ``[F, h, w]`` with a square of
    ``|kernel|`` pixels, centred as OpenCV centres it, so ``kernel`` means what Impact's
    ``dilation`` means. A shrink never eats in from the crop's edges (a mask touching the edge
    continues beyond it). 0 returns the masks unchanged. The square is applied as a row and a
    column pass."""
    size = abs(int(kernel))
    if size <= 1 or masks.numel() == 0:
        return masks
    before, after = size // 2, size - 1 - size // 2
    sign = 1.0 if kernel > 0 else -1.0  # a shrink is a grow of the negated mask, outside counting as inside
    x = masks.unsqueeze(1) * sign
    x = F.max_pool2d(F.pad(x, (before, after, 0, 0), value=min(0.0, sign)), (1, size), stride=1)
    x = F.max_pool2d(F.pad(x, (0, 0, before, after), value=min(0.0, sign)), (size, 1), stride=1)
    return x.squeeze(1) * sign


def resize_masks(masks: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize of masks ``[F, h, w]`` to ``[F, height, width]`` in one batched call."""
    if masks.shape[-2:] == (height, width):
        return masks
    resized = F.interpolate(masks.unsqueeze(1), size=(height, width), mode="bilinear", align_corners=False)
    return resized.squeeze(1).clamp_(0.0, 1.0)


def masks_per_latent_frame(masks: torch.Tensor, spans: list[range]) -> torch.Tensor:
    """Per-frame masks ``[F, H, W]`` in latent time ``[len(spans), H, W]``: each latent frame takes
    the maximum over the pixel frames it holds (``spans``), so a subject that moves within the
    group stays covered in every one of its frames."""
    return torch.stack([masks[span.start : span.stop].amax(dim=0) for span in spans])
