"""Masks to SEGS for video: one SEG per subject region over the clip, per-frame masks kept."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .components import component_labels, fill_holes, label_components
from .geometry import expand_region
from .masks import mask_batch, nonzero_bbox
from .segs import SEG


@dataclass(frozen=True)
class MaskToSegsOptions:
    """Impact's MaskToSEGS controls.

    ``combined``: one SEG around everything instead of one per region. ``crop_factor``:
    crop region size relative to the bbox. ``bbox_fill``: fill each frame's bbox of the
    region in its mask. ``drop_size``: drop regions whose bbox is not larger than this on
    both sides (pixels). ``contour_fill``: fill holes inside each region (Impact ignores
    this for batches; we do not). ``label``: the SEGs' label.
    """

    combined: bool = False
    crop_factor: float = 3.0
    bbox_fill: bool = False
    drop_size: int = 10
    contour_fill: bool = False
    label: str = "A"
    threshold: float = 0.0


def _fill_boxes(region_masks: torch.Tensor, selector: torch.Tensor) -> torch.Tensor:
    """Set each frame's bbox of ``selector`` to 1 in ``region_masks`` (both ``[F, h, w]``)."""
    filled = region_masks.clone()
    for frame, frame_selector in enumerate(selector):
        box = nonzero_bbox(frame_selector)
        if box is not None:
            x1, y1, x2, y2 = box
            filled[frame, y1:y2, x1:x2] = 1.0
    return filled


def masks_to_segs(masks: torch.Tensor, options: MaskToSegsOptions) -> tuple[tuple[int, int], list]:
    """SEGS from a MASK batch ``[F, H, W]`` (or one mask ``[H, W]``), float 0..1 (0..255 levels are
    scaled to 0..1 with a warning; other values are an error naming ``mask``).

    Regions are found on the union of the frames, so a subject moving through the clip is
    one SEG; each SEG's ``cropped_mask`` keeps every frame's own mask, limited to that
    region (another subject crossing the crop does not leak in). A single mask gives
    2-D numpy masks, as Impact's single-image SEGS have; a batch gives ``[F, h, w]`` tensors.
    """
    batch = mask_batch(masks, "mask")
    single = masks.ndim == 2 or batch.shape[0] == 1
    masks = batch
    frame_count, height, width = masks.shape
    present = masks > options.threshold
    if options.contour_fill:
        present = fill_holes(present)
        masks = torch.where(present & (masks <= options.threshold), 1.0, masks)
    union = present.any(dim=0, keepdim=True)

    if options.combined:
        groups = [union[0]] if bool(union.any()) else []
    else:
        labels = label_components(union)[0]
        groups = [labels == value for value in component_labels(labels)]

    items = []
    for group in groups:
        bbox = nonzero_bbox(group)
        x1, y1, x2, y2 = bbox
        if not options.combined and (x2 - x1 <= options.drop_size or y2 - y1 <= options.drop_size):
            continue
        region = expand_region(bbox, options.crop_factor, width, height)
        rx1, ry1, rx2, ry2 = region
        inside = present[:, ry1:ry2, rx1:rx2] & group[ry1:ry2, rx1:rx2]
        cropped = torch.where(inside, masks[:, ry1:ry2, rx1:rx2], 0.0)
        if options.bbox_fill:
            cropped = _fill_boxes(cropped, inside)
        cropped_mask = cropped[0].numpy() if single else cropped
        items.append(SEG(None, cropped_mask, 1.0, region, bbox, options.label, None))
    return (height, width), items
