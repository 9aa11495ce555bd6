"""Tracked crops: a window of constant size per SEG that follows the subject frame by frame.

Impact's detailer samples one union rectangle over the whole clip, so a subject that
crosses the frame gets a huge crop and little detail. Here the window is sized from the
subject's per-frame box (with the SEG's own context ratio), its centre follows the
subject along a path smoothed over time (no jitter), and it stays inside the SEG's crop
region. A subject that does not move gets exactly the union crop.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .geometry import Rect, rect_size
from .masks import gaussian_kernel
from .crop_windows import CropWindows


def subject_boxes(masks: torch.Tensor, threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame subject boxes of masks ``[F, h, w]``.

    Returns ``boxes`` float ``[F, 4]`` (x1, y1, x2, y2, end-exclusive, crop pixels) and
    ``present`` bool ``[F]`` (False where a frame's mask is empty).
    """
    solid = masks > threshold
    if not bool(solid.any()):
        solid = masks > 0
    columns = solid.any(dim=1)  # [F, w]
    rows = solid.any(dim=2)  # [F, h]
    present = columns.any(dim=1)

    def extent(flags: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.arange(flags.shape[1], dtype=torch.float32)
        first = torch.where(flags, index, float("inf")).amin(dim=1)
        last = torch.where(flags, index, float("-inf")).amax(dim=1) + 1
        return first, last

    x1, x2 = extent(columns)
    y1, y2 = extent(rows)
    boxes = torch.stack([x1, y1, x2, y2], dim=1)
    return torch.where(present.unsqueeze(1), boxes, 0.0), present


def fill_missing(values: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Fill rows of ``values`` ``[F, D]`` where ``present`` is False: linear between known
    frames, held at the ends."""
    known = torch.nonzero(present).flatten()
    if known.numel() == 0 or bool(present.all()):
        return values
    frames = torch.arange(values.shape[0], dtype=torch.float32)
    filled = values.clone()
    for dim in range(values.shape[1]):
        xs, ys = known.to(torch.float32), values[known, dim]
        upper = torch.searchsorted(xs, frames).clamp(1, max(1, len(xs) - 1))
        lower = upper - 1
        if len(xs) == 1:
            filled[:, dim] = ys[0]
            continue
        span = (xs[upper] - xs[lower]).clamp(min=1e-6)
        t = ((frames - xs[lower]) / span).clamp(0.0, 1.0)
        filled[:, dim] = ys[lower] + t * (ys[upper] - ys[lower])
    return filled


def smooth_path(points: torch.Tensor, sigma_frames: float) -> torch.Tensor:
    """Gaussian smoothing of a path ``[F, D]`` over time (edges replicated)."""
    if sigma_frames <= 0 or points.shape[0] < 3:
        return points
    radius = min(points.shape[0] - 1, max(1, math.ceil(3 * sigma_frames)))
    kernel = gaussian_kernel(sigma_frames, radius).view(1, 1, -1)
    series = points.t().unsqueeze(1)  # [D, 1, F]
    padded = F.pad(series, (radius, radius), mode="replicate")
    return F.conv1d(padded, kernel).squeeze(1).t()


def tracked_windows(
    mask: torch.Tensor, crop_rect: Rect, bbox: Rect, frame_count: int, smoothing: float = 2.0
) -> tuple[CropWindows, tuple[int, int]]:
    """Windows that follow the subject of a SEG, and the subject's size in one frame.

    ``mask`` is the SEG's mask ``[1|F, h, w]`` in crop coordinates; ``crop_rect`` its crop
    region in frame pixels and ``bbox`` its detected box. The window keeps the SEG's own
    context ratio (crop size over the subject's box over the whole clip, taken on the side the
    frame edge cut least) around the largest per-frame box, so a still subject gets the crop
    region itself. The smoothed path is then held where it would lag off the subject, so
    every frame's subject box lies inside its window.
    """
    crop_w, crop_h = rect_size(crop_rect)
    masks = mask.expand(frame_count, -1, -1) if mask.shape[0] == 1 else mask
    boxes, present = subject_boxes(masks)
    if not bool(present.any()):
        return CropWindows.fixed(crop_rect, frame_count), rect_size(bbox)

    known = boxes[present]
    union_w = float(known[:, 2].max() - known[:, 0].min())
    union_h = float(known[:, 3].max() - known[:, 1].min())
    sizes = (boxes[:, 2:] - boxes[:, :2])[present]
    largest_w, largest_h = float(sizes[:, 0].max()), float(sizes[:, 1].max())
    # A crop clamped by the frame edge understates the context the detector asked for: use the
    # larger of the two ratios (the less clamped side) for both sides.
    context = max(crop_w / max(union_w, 1.0), crop_h / max(union_h, 1.0), 1.0)
    width = min(crop_w, max(1, math.ceil(largest_w * context)))
    height = min(crop_h, max(1, math.ceil(largest_h * context)))

    centres = fill_missing((boxes[:, :2] + boxes[:, 2:]) / 2, present)
    centres = smooth_path(centres, smoothing)
    x0 = _hold_on_subject(torch.round(centres[:, 0] - width / 2), boxes[:, 0], boxes[:, 2], width, present)
    y0 = _hold_on_subject(torch.round(centres[:, 1] - height / 2), boxes[:, 1], boxes[:, 3], height, present)
    x0 = x0.clamp(0, crop_w - width)
    y0 = y0.clamp(0, crop_h - height)
    origins = torch.stack([x0, y0], dim=1).to(torch.int64) + torch.tensor(crop_rect[:2], dtype=torch.int64)
    # The subject's size for guide_size: the SEG's bbox, shrunk as the largest single-frame box
    # is smaller than the box over the whole clip (a still subject keeps its bbox).
    bbox_w, bbox_h = rect_size(bbox)
    subject = (max(1, round(bbox_w * largest_w / max(union_w, 1.0))), max(1, round(bbox_h * largest_h / max(union_h, 1.0))))
    return CropWindows(origins, width, height), subject


def _hold_on_subject(origin: torch.Tensor, low: torch.Tensor, high: torch.Tensor, size: int,
                     present: torch.Tensor) -> torch.Tensor:
    """Window origins moved the least so that ``[low, high)`` lies inside ``[origin, origin + size)``
    on the frames where the subject is present (a box larger than the window stays centred)."""
    low, high = torch.floor(low), torch.ceil(high)
    earliest, latest = high - size, low  # the origins that contain the box
    fits = earliest <= latest
    held = torch.minimum(torch.maximum(origin, earliest), latest)
    centred = torch.round((low + high - size) / 2)
    return torch.where(present & fits, held, torch.where(present, centred, origin))


def path_jitter(windows: CropWindows) -> float:
    """RMS frame-to-frame change of the window's velocity (pixels / frame^2): 0 for a steady glide."""
    if windows.origins.shape[0] < 3:
        return 0.0
    centres = windows.origins.to(torch.float32)
    acceleration = centres[2:] - 2 * centres[1:-1] + centres[:-2]
    return float(acceleration.pow(2).sum(dim=1).mean().sqrt())
