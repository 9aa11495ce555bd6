"""Objects tracked by a video segmenter to SEGS: one SEG per object, its identity kept.

A tracking segmenter (ComfyUI's SAM3 Video Track) gives each object's mask in every frame, at the
model's own mask resolution (SAM3: 1008x1008, the frames squashed to a square), under an index that
stays on the object through crossings and occlusions; an object is empty in the frames it is absent
from (before it appears, while it is lost). Nothing has to be linked again, as Track SEGS must for
per-frame detections: each object becomes one SEG as Track SEGS makes them.

* masks are resized to the frames' size (bilinear, as :func:`.masks.resize_masks`) and thresholded
  at 0.5, as ComfyUI's SAM3 preview reads them; a few frames at a time, so the whole clip at the
  frames' size is never held;
* ``bbox`` is the box around the object's mask over the clip, ``crop_region`` that times
  ``crop_factor`` (:func:`.geometry.expand_region`), ``cropped_mask`` float32 ``[F, h, w]`` with
  values 0 and 1 (zero where the object is absent), ``confidence`` the object's score;
* the label is ``<label>_<index>``, ``index`` the segmenter's own object index (SAM3 Track to Mask's
  ``object_indices`` count the same way), so a SEG says which object it is whatever the order.

Which objects: ``indices`` (the segmenter's), ordered by size (the mean share of the frame the object
covers in the frames where it is present, largest first) or by index, at most ``max_objects``.
Objects that are empty in every frame give no SEG. The masks are read through :class:`ObjectMasks`,
so a packed layout (SAM3's bit-packed masks, unpacked by the node layer) is unpacked a few frames
at a time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import torch

from .geometry import Rect, clamp_rect, expand_region
from .masks import nonzero_bbox, resize_masks
from .segs import SEG, as_confidence

log = logging.getLogger(__name__)

ORDER_BY = ("size", "index")
DEFAULT_LABEL = "object"
MASK_THRESHOLD = 0.5  # as ComfyUI's SAM3 preview reads a resized mask
CHUNK_VALUES = 1 << 24  # mask values read or resized at once (64 MB of float32)


class ObjectMasks(Protocol):
    """Per-object masks over a clip: ``frame_count`` frames, ``object_count`` objects, each mask
    ``mask_size`` ``(height, width)``."""

    frame_count: int
    object_count: int
    mask_size: tuple[int, int]

    def frames(self, index: int, start: int, stop: int) -> torch.Tensor:
        """Object ``index``'s masks of frames ``start`` to ``stop`` (exclusive): bool ``[stop - start, h, w]`` on the CPU."""
        ...


class DenseObjectMasks:
    """:class:`ObjectMasks` over a tensor ``[frames, objects, h, w]`` (bool, or values above 0.5 inside)."""

    def __init__(self, masks: torch.Tensor) -> None:
        if masks.ndim != 4:
            raise ValueError(f"object masks must be [frames, objects, height, width], got {tuple(masks.shape)}")
        self.masks = masks
        self.frame_count, self.object_count = int(masks.shape[0]), int(masks.shape[1])
        self.mask_size = (int(masks.shape[2]), int(masks.shape[3]))

    def frames(self, index: int, start: int, stop: int) -> torch.Tensor:
        chunk = self.masks[start:stop, index].cpu()
        return chunk if chunk.dtype == torch.bool else chunk > MASK_THRESHOLD


@dataclass(frozen=True)
class ObjectOptions:
    """Which objects become SEGS and how they are named.

    ``indices``: the objects to keep, by the segmenter's index (None keeps all; indices past the last
    object are skipped with a warning). ``order_by``: "size" (mean share of the frame covered where
    present, largest first) or "index". ``max_objects``: keep at most this many, the first by
    ``order_by`` (0 keeps all). ``crop_factor``: each SEG's crop region relative to its bbox.
    ``label``: object ``i`` is labelled ``<label>_<i>``.
    """

    indices: tuple[int, ...] | None = None
    order_by: str = "size"
    max_objects: int = 0
    crop_factor: float = 3.0
    label: str = DEFAULT_LABEL

    def __post_init__(self) -> None:
        if self.order_by not in ORDER_BY:
            raise ValueError(f"order_by '{self.order_by}' is not one of {', '.join(ORDER_BY)}: pick one of those")
        if self.max_objects < 0:
            raise ValueError(f"max_objects must be >= 0, got {self.max_objects}")
        if self.crop_factor <= 0:
            raise ValueError(f"crop_factor must be positive, got {self.crop_factor}")
        if self.indices is not None and any(index < 0 for index in self.indices):
            raise ValueError(f"object indices count from 0, got {list(self.indices)}")


def parse_indices(text: str, what: str = "object_indices") -> tuple[int, ...] | None:
    """Object indices from a comma-separated string ("0, 2"); None for an empty one (all objects).
    An entry that is not a whole number from 0 up is an error naming it (no silent skip)."""
    entries = [entry.strip() for entry in str(text or "").replace(";", ",").split(",")]
    entries = [entry for entry in entries if entry]
    if not entries:
        return None
    wrong = [entry for entry in entries if not entry.isdigit()]
    if wrong:
        raise ValueError(f"{what} must be object indices from 0 up separated by commas (e.g. '0,2'), got "
                         f"{', '.join(repr(entry) for entry in wrong)} in {text!r}")
    return tuple(dict.fromkeys(int(entry) for entry in entries))


def _chunk_frames(frame_values: int) -> int:
    return max(1, CHUNK_VALUES // max(1, frame_values))


def object_sizes(masks: ObjectMasks, indices: list[int]) -> dict[int, float]:
    """Each object's mean share of the mask it covers over the frames where it is present (0 when
    it is present in none), read at the masks' own resolution."""
    height, width = masks.mask_size
    step = _chunk_frames(height * width)
    sizes = {}
    for index in indices:
        covered, present = 0, 0
        for start in range(0, masks.frame_count, step):
            counts = masks.frames(index, start, min(masks.frame_count, start + step)).flatten(1).sum(dim=1)
            covered += int(counts.sum())
            present += int((counts > 0).sum())
        sizes[index] = covered / present / (height * width) if present else 0.0
    return sizes


def select_objects(masks: ObjectMasks, options: ObjectOptions) -> list[int]:
    """The indices of the objects to make SEGS of, in output order (see :class:`ObjectOptions`)."""
    count = masks.object_count
    if options.indices is None:
        chosen = list(range(count))
    else:
        chosen = [index for index in options.indices if index < count]
        skipped = [index for index in options.indices if index >= count]
        if skipped:
            log.warning("object_indices %s skipped: the track data holds %d object(s) (indices 0 to %d)",
                        ", ".join(map(str, skipped)), count, count - 1)
    sizes = object_sizes(masks, chosen)
    empty = [index for index in chosen if sizes[index] == 0.0]
    if empty:
        log.info("objects %s are empty in every frame: no SEG for them", ", ".join(map(str, empty)))
    chosen = [index for index in chosen if sizes[index] > 0.0]
    if options.order_by == "size":
        chosen.sort(key=lambda index: (-sizes[index], index))
    else:
        chosen.sort()
    return chosen[: options.max_objects] if options.max_objects > 0 else chosen


def _frame_masks(masks: ObjectMasks, index: int, height: int, width: int) -> tuple[list[tuple[int, Rect, torch.Tensor]], Rect | None]:
    """Object ``index``'s mask in each frame at ``height`` x ``width``, cut to its own box: ``(frame,
    box, bool [h, w])`` for the frames where it is present, and the box around all of them."""
    step = _chunk_frames(max(height * width, masks.mask_size[0] * masks.mask_size[1]))
    pieces = []
    for start in range(0, masks.frame_count, step):
        low = masks.frames(index, start, min(masks.frame_count, start + step))
        if not bool(low.any()):
            continue
        full = resize_masks(low.to(torch.float32), height, width) > MASK_THRESHOLD
        for offset, frame_mask in enumerate(full):
            box = nonzero_bbox(frame_mask)
            if box is not None:
                x1, y1, x2, y2 = box
                pieces.append((start + offset, box, frame_mask[y1:y2, x1:x2].clone()))
    if not pieces:
        return pieces, None
    boxes = torch.tensor([box for _, box, _ in pieces])
    union = (int(boxes[:, 0].min()), int(boxes[:, 1].min()), int(boxes[:, 2].max()), int(boxes[:, 3].max()))
    return pieces, union


def object_seg(masks: ObjectMasks, index: int, height: int, width: int, crop_factor: float, confidence: float,
               label: str) -> SEG | None:
    """One SEG of object ``index`` for frames of ``width`` x ``height`` (None when its mask is empty
    at that size in every frame)."""
    pieces, bbox = _frame_masks(masks, index, height, width)
    if bbox is None:
        return None
    region = expand_region(bbox, crop_factor, width, height)
    rx1, ry1, rx2, ry2 = region
    cropped = torch.zeros((masks.frame_count, ry2 - ry1, rx2 - rx1), dtype=torch.float32)
    for frame, (x1, y1, x2, y2), piece in pieces:
        cx1, cy1, cx2, cy2 = clamp_rect((x1 - rx1, y1 - ry1, x2 - rx1, y2 - ry1), rx2 - rx1, ry2 - ry1)
        if cx2 > cx1 and cy2 > cy1:
            px, py = cx1 - (x1 - rx1), cy1 - (y1 - ry1)
            cropped[frame, cy1:cy2, cx1:cx2] = piece[py : py + cy2 - cy1, px : px + cx2 - cx1].to(torch.float32)
    return SEG(None, cropped, float(confidence), region, bbox, label, None)


def objects_to_segs(masks: ObjectMasks, scores: list[float] | None, frame_height: int, frame_width: int,
                    options: ObjectOptions) -> tuple[tuple[int, int], list]:
    """SEGS ``((frame_height, frame_width), [SEG, ...])``, one SEG per selected object of ``masks``
    (see the module doc); ``scores`` gives each object's confidence (1.0 where missing)."""
    base = options.label.strip() or DEFAULT_LABEL
    items = []
    for index in select_objects(masks, options):
        score = scores[index] if scores is not None and index < len(scores) else 1.0
        seg = object_seg(masks, index, frame_height, frame_width, options.crop_factor, as_confidence(score),
                         f"{base}_{index}")
        if seg is None:
            log.info("object %d vanishes when its %dx%d masks are resized to %dx%d frames: no SEG", index,
                     masks.mask_size[1], masks.mask_size[0], frame_width, frame_height)
            continue
        items.append(seg)
    log.info("%d tracked object(s) over %d frames: %s", masks.object_count, masks.frame_count,
             ", ".join(f"{seg.label} (bbox {seg.bbox})" for seg in items) or "no SEG")
    return (frame_height, frame_width), items
