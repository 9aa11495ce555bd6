"""Per-frame boxes (ComfyUI's BOUNDING_BOX lists) read, checked and made into tracker detections.

ComfyUI's detection nodes (SAM3 Detect, RT-DETR, the MediaPipe face detector) emit, for a batch of
frames, one list per frame of boxes ``{"x", "y", "width", "height"}`` in pixels of the frames they
were given, with an optional ``score`` (0..1) and ``label``. There is no identity across frames:
:func:`box_detections` makes each box one detection (its mask the box itself) for the tracker of
``track_segs``, which links them.

Accepted, as ComfyUI's own consumers accept them: one box (a dict) or one frame's list of boxes,
used for every frame; or one list per frame (a single list is used for every frame). Anything else
(a tensor, an ``(x1, y1, x2, y2)`` tuple some packs emit under the same type name) is an error
naming what was given and the documented form. Coordinates are floats or ints; boxes reaching
past the frame are clamped to it; boxes of no size, or with nothing inside the frame, are dropped.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from numbers import Real
from typing import Any

import torch

from .geometry import clamp_rect
from .masks import morph_masks, nonzero_bbox
from .track_segs import DEFAULT_LABEL, Detection

log = logging.getLogger(__name__)

FORM = ("per frame a list of {x, y, width, height[, score, label]} dicts in pixels of image_frames "
        "(as SAM3 Detect's bboxes output gives)")
BOX_KEYS = ("x", "y", "width", "height")


@dataclass(frozen=True)
class Box:
    """One box in frame pixels, end-exclusive ``(x1, y1, x2, y2)``, clamped to the frame."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float = 1.0
    label: str | None = None


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"a {type(value).__name__} of shape {tuple(shape)}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items ({', '.join(sorted({type(v).__name__ for v in value})) or 'empty'})"
    return f"a {type(value).__name__}"


def _refuse(what: str, value: Any, where: str = "") -> ValueError:
    numbers = isinstance(value, (list, tuple)) and len(value) == 4 and all(isinstance(v, Real) for v in value)
    hint = (" (four numbers: another pack's (x1, y1, x2, y2) box, not ComfyUI's BOUNDING_BOX: convert it to "
            "{x, y, width, height})") if numbers else ""
    return ValueError(f"{what}{where} is {_describe(value)}{hint}; BOUNDING_BOX must be {FORM}")


def _number(box: dict, key: str, what: str) -> float:
    value = box.get(key)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ValueError(f"{what}: '{key}' must be a finite number, got {value!r}; BOUNDING_BOX must be {FORM}")
    return float(value)


def _box(value: Any, width: int, height: int, what: str) -> Box | None:
    """One box dict clamped to a ``width`` x ``height`` frame (None when nothing of it is inside)."""
    if not isinstance(value, dict):
        raise _refuse(what, value)
    missing = [key for key in BOX_KEYS if key not in value]
    if missing:
        raise ValueError(f"{what} has no {', '.join(missing)} (keys: {', '.join(map(str, value)) or 'none'}); "
                         f"BOUNDING_BOX must be {FORM}")
    x, y, w, h = (_number(value, key, what) for key in BOX_KEYS)
    score = _number(value, "score", what) if value.get("score") is not None else 1.0
    label = value.get("label")
    x1, y1 = max(0.0, x), max(0.0, y)
    x2, y2 = min(float(width), x + w), min(float(height), y + h)
    if w <= 0 or h <= 0 or x2 <= x1 or y2 <= y1:
        return None
    return Box(x1, y1, x2, y2, score, str(label) if label not in (None, "") else None)


def frame_boxes(value: Any, frame_count: int, height: int, width: int, what: str = "boxes") -> list[list[Box]]:
    """The boxes of each of ``frame_count`` frames of ``width`` x ``height`` from a BOUNDING_BOX value
    (see the module doc), clamped to the frame; an error naming ``what`` for anything else."""
    if isinstance(value, dict):
        frames: list[Any] = [[value]]
    elif isinstance(value, (list, tuple)):
        if all(isinstance(item, dict) for item in value):
            frames = [list(value)]  # one frame's boxes (or none at all), for every frame
        elif all(isinstance(item, (list, tuple)) for item in value):
            frames = list(value)
        else:
            raise _refuse(what, value)
    else:
        raise _refuse(what, value)
    if len(frames) not in (1, frame_count):
        raise ValueError(f"{what} has {len(frames)} frames but image_frames has {frame_count}: give one list of boxes "
                         f"per frame, from a detector run on the same frames (or one list for all frames)")
    boxes = []
    for frame, items in enumerate(frames):
        where = f"{what} of frame {frame}" if len(frames) > 1 else what
        if not all(isinstance(item, dict) for item in items):
            raise _refuse(where, items)
        clamped = [_box(item, width, height, f"{where}, box {index}") for index, item in enumerate(items)]
        boxes.append([box for box in clamped if box is not None])
    found = [box for frame in boxes for box in frame]
    if found and width > 2 and height > 2 and all(box.x2 <= 1.0 and box.y2 <= 1.0 for box in found):
        log.warning("%s: every box lies within one pixel of the top-left corner; BOUNDING_BOX holds pixels, these "
                    "look like fractions of the frame", what)
    return boxes if len(boxes) == frame_count else [boxes[0]] * frame_count


def box_detections(boxes: list[list[Box]], height: int, width: int, threshold: float, dilation: int, drop_size: int,
                   label: str = DEFAULT_LABEL) -> list[list[Detection]]:
    """Detections per frame of :func:`frame_boxes`: each box scoring at least ``threshold`` whose size
    is larger than ``drop_size`` on either side is one detection, its mask the box (grown (> 0) or shrunk
    (< 0) by a square of ``dilation`` pixels, as the detectors' masks are), its confidence the score, its
    label the box's own or ``label``."""
    margin = abs(int(dilation))
    found = []
    for frame in boxes:
        detections = []
        for box in frame:
            if box.score < threshold or box.x2 - box.x1 <= drop_size or box.y2 - box.y1 <= drop_size:
                continue
            inner = clamp_rect((math.floor(box.x1), math.floor(box.y1), math.ceil(box.x2), math.ceil(box.y2)), width,
                               height)
            rect = clamp_rect((inner[0] - margin, inner[1] - margin, inner[2] + margin, inner[3] + margin), width, height)
            mask = torch.zeros((rect[3] - rect[1], rect[2] - rect[0]), dtype=torch.float32)
            mask[inner[1] - rect[1] : inner[3] - rect[1], inner[0] - rect[0] : inner[2] - rect[0]] = 1.0
            mask = morph_masks(mask.unsqueeze(0), dilation)[0]
            kept = nonzero_bbox(mask > 0)
            if kept is None:
                continue
            x1, y1, x2, y2 = kept
            rect = (rect[0] + x1, rect[1] + y1, rect[0] + x2, rect[1] + y2)
            detections.append(Detection((box.x1, box.y1, box.x2, box.y2), rect, mask[y1:y2, x1:x2].contiguous(),
                                        box.score, box.label or label))
        found.append(detections)
    return found
