"""Image operations on IMAGE tensors ``[frames, height, width, 3]`` float32 0..1."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .crop_windows import CropWindows
from .frames import per_frame
from .geometry import Rect


def crop_frames(frames: torch.Tensor, rect: Rect) -> torch.Tensor:
    """Crop all frames at once: ``[F, H, W, C]`` -> ``[F, y2-y1, x2-x1, C]`` (a view)."""
    x1, y1, x2, y2 = rect
    return frames[:, y1:y2, x1:x2, :]


def resize_frames(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize ``[F, h, w, C]`` to ``[F, height, width, C]`` in one batched call.

    Bicubic with antialiasing (clean when shrinking as well as when growing),
    clamped back to 0..1; computed in float32 whatever the input's float type (half
    precision has no antialiased bicubic kernel). Returns the input when the size already matches.
    """
    if frames.shape[1:3] == (height, width):
        return frames
    channels_first = frames.permute(0, 3, 1, 2).to(torch.float32)
    resized = F.interpolate(channels_first, size=(height, width), mode="bicubic", align_corners=False, antialias=True)
    return resized.clamp_(0.0, 1.0).permute(0, 2, 3, 1)


def centre_fit(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Images ``[N, H, W, C]`` cut to the aspect of ``width`` x ``height`` around their centre, then
    resized to it (as ComfyUI's nodes fit a reference image to the frame)."""
    old_h, old_w = images.shape[1:3]
    if old_w * height > width * old_h:
        keep = round(old_h * width / height)
        x = (old_w - keep) // 2
        images = images[:, :, x : x + keep]
    elif old_w * height < width * old_h:
        keep = round(old_w * height / width)
        y = (old_h - keep) // 2
        images = images[:, y : y + keep]
    return resize_frames(images, height, width)


CHECK_FRAMES_PER_CHUNK = 8


def check_frames(frames: object, what: str = "image_frames") -> torch.Tensor:
    """Check an IMAGE batch: a float tensor ``[F, H, W, 3]`` with finite values, of any float
    type (half precision included: callers compute in float32).

    NaN or infinite values are reported with the frames they are in instead of
    being carried silently through the VAE and sampler.
    """
    if not isinstance(frames, torch.Tensor):
        raise ValueError(f"{what} must be an IMAGE tensor [frames, height, width, 3], got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(
            f"{what} must be an IMAGE tensor [frames, height, width, 3], got shape {tuple(frames.shape)}"
            + (" (an RGBA image: drop the alpha channel first)" if frames.ndim == 4 and frames.shape[-1] == 4 else "")
        )
    if frames.shape[0] == 0 or frames.shape[1] == 0 or frames.shape[2] == 0:
        raise ValueError(f"{what} is empty: shape {tuple(frames.shape)}")
    if not frames.is_floating_point():
        raise ValueError(f"{what} must hold float values 0..1, got dtype {frames.dtype}")
    bad: list[int] = []
    for start in range(0, frames.shape[0], CHECK_FRAMES_PER_CHUNK):  # bounded temporaries on long clips
        finite = torch.isfinite(frames[start : start + CHECK_FRAMES_PER_CHUNK]).flatten(1).all(dim=1)
        if not bool(finite.all()):
            bad.extend(start + i for i in torch.nonzero(~finite).flatten().tolist())
    if bad:
        shown = ", ".join(str(i) for i in bad[:10]) + (" ..." if len(bad) > 10 else "")
        raise ValueError(f"{what} contains NaN or infinite values in frame(s) {shown}: fix the node that produced them")
    return frames


def cut_full_frames(images: torch.Tensor, crop_windows: CropWindows, frame_height: int, frame_width: int,
                    what: str, fix: str) -> torch.Tensor:
    """Frame-sized images ``[1|F, H', W', C]`` (any resolution: resampled to ``frame_width`` x
    ``frame_height`` first) cut at the crop windows, one per frame: ``[F, h, w, C]``.

    Used for control images that cover the whole frame: every frame gets its own cut at the
    place its crop was cut. The image count must be one or the clip's frame count.
    """
    frame_count = crop_windows.origins.shape[0]
    per_frame(images, frame_count, what, "the clip", fix)  # check the count before any resampling
    if images.shape[1:3] != (frame_height, frame_width):
        images = resize_frames(images, frame_height, frame_width)
    return per_frame(crop_windows.cut(images), frame_count, what, "the clip", fix).contiguous()
