"""SEGS utilities a video user needs: filter, order, preview."""

from __future__ import annotations

from typing import Any

import torch

from .geometry import rect_size
from .images import resize_frames
from .regions import fit_segs
from .segs import as_confidence, as_image_tensor, as_rect, unpack_segs


def parse_labels(labels: str) -> set[str]:
    """Comma-separated labels, trimmed, empty entries dropped."""
    return {label.strip() for label in labels.split(",") if label.strip()}


def split_by_label(segs: Any, labels: set[str]) -> tuple[Any, Any]:
    """``(SEGS whose label is in labels, the others)``; order kept."""
    header, items = unpack_segs(segs)
    kept = [seg for seg in items if str(getattr(seg, "label", "")) in labels]
    rest = [seg for seg in items if str(getattr(seg, "label", "")) not in labels]
    return (header, kept), (header, rest)


def split_by_size(segs: Any, min_side: int, max_side: int, min_confidence: float) -> tuple[Any, Any]:
    """``(SEGS whose bbox sides lie in min_side..max_side and confidence >= min_confidence, the others)``."""
    header, items = unpack_segs(segs)
    kept, rest = [], []
    for index, seg in enumerate(items):
        width, height = rect_size(as_rect(seg.bbox, f"segs[{index}].bbox"))
        fits = min_side <= min(width, height) and max(width, height) <= max_side
        (kept if fits and as_confidence(seg.confidence) >= min_confidence else rest).append(seg)
    return (header, kept), (header, rest)


ORDER_KEYS = ("area", "confidence", "x", "y", "width", "height")


def order_segs(segs: Any, key: str, descending: bool, take: int) -> Any:
    """SEGS sorted by ``key`` (bbox area, confidence, left x, top y, width, height); the first
    ``take`` of them (0 keeps all)."""
    if key not in ORDER_KEYS:
        raise ValueError(f"order_by '{key}' is not one of {', '.join(ORDER_KEYS)}: pick one of those")
    header, items = unpack_segs(segs)

    def value(seg: Any) -> float:
        x1, y1, x2, y2 = as_rect(seg.bbox, "bbox")
        return {
            "area": (x2 - x1) * (y2 - y1),
            "confidence": as_confidence(seg.confidence),
            "x": x1,
            "y": y1,
            "width": x2 - x1,
            "height": y2 - y1,
        }[key]

    ordered = sorted(items, key=value, reverse=descending)
    return header, ordered[:take] if take > 0 else ordered


def preview_crops(segs: Any, frames: torch.Tensor | None, size: int) -> torch.Tensor:
    """Every SEG's crops as one IMAGE batch: for each SEG in order, its frames letterboxed
    into ``size`` x ``size`` (its cropped_image, or cut from ``frames`` when it has none)."""
    header, items = unpack_segs(segs)
    height, width = (frames.shape[1], frames.shape[2]) if frames is not None else header
    stacks = []
    for item in fit_segs(segs, height, width):
        if not item.usable:
            continue
        image = as_image_tensor(item.seg.cropped_image)
        if image is None and frames is not None:
            x1, y1, x2, y2 = item.rect
            image = frames[:, y1:y2, x1:x2, :3]
        if image is None:
            continue
        crop_h, crop_w = image.shape[1:3]
        scale = size / max(crop_h, crop_w)
        fitted = resize_frames(image[..., :3].float(), max(1, round(crop_h * scale)), max(1, round(crop_w * scale)))
        canvas = torch.zeros(fitted.shape[0], size, size, 3)
        top, left = (size - fitted.shape[1]) // 2, (size - fitted.shape[2]) // 2
        canvas[:, top : top + fitted.shape[1], left : left + fitted.shape[2]] = fitted
        stacks.append(canvas)
    if not stacks:
        return torch.zeros(1, size, size, 3)
    return torch.cat(stacks)
