"""Masks to SEGS for video, and components."""

from __future__ import annotations

import numpy as np
import torch

from animatediff_detailer.core.components import component_labels, fill_holes, label_components
from animatediff_detailer.core.geometry import expand_region
from animatediff_detailer.core.mask_segs import MaskToSegsOptions, masks_to_segs
from animatediff_detailer.nodes.segs_nodes import MaskToSEGSForVideo


def two_subjects(frames=5, height=64, width=96):
    """A square moving right on the left side and a bar on the right side, per frame."""
    masks = torch.zeros(frames, height, width)
    for i in range(frames):
        masks[i, 10:26, 4 + 3 * i : 20 + 3 * i] = 1.0
        masks[i, 30 + i : 50 + i, 70:84] = 1.0
    return masks


def test_components_8_connected_and_ordered():
    mask = torch.zeros(1, 6, 6, dtype=torch.bool)
    mask[0, 0, 0] = mask[0, 1, 1] = True  # diagonal neighbours: one region
    mask[0, 4, 4] = True
    labels = label_components(mask)
    regions = component_labels(labels)
    assert len(regions) == 2
    assert labels[0, 0, 0] == labels[0, 1, 1] == regions[0]


def test_fill_holes_fills_enclosed_background_only():
    ring = torch.zeros(1, 9, 9, dtype=torch.bool)
    ring[0, 2:7, 2:7] = True
    ring[0, 3:6, 3:6] = False
    ring[0, 0, 0] = True
    filled = fill_holes(ring)
    assert bool(filled[0, 4, 4]) and bool(filled[0, 3:6, 3:6].all())
    assert not bool(filled[0, 8, 8]) and not bool(filled[0, 0, 1])


def test_expand_region_shifts_inside_the_frame_keeping_size():
    assert expand_region((0, 0, 10, 10), 3.0, 100, 100) == (0, 0, 30, 30)
    assert expand_region((40, 40, 50, 50), 3.0, 100, 100) == (30, 30, 60, 60)
    assert expand_region((90, 10, 100, 20), 2.0, 100, 100) == (80, 5, 100, 25)
    assert expand_region((0, 0, 10, 10), 50.0, 100, 60) == (0, 0, 100, 60)


def test_one_seg_per_subject_over_the_clip_with_per_frame_masks():
    masks = two_subjects()
    (height, width), segs = masks_to_segs(masks, MaskToSegsOptions(crop_factor=1.5, drop_size=4, label="face"))
    assert (height, width) == (64, 96)
    assert len(segs) == 2
    for seg in segs:
        x1, y1, x2, y2 = seg.crop_region
        assert seg.cropped_mask.shape == (5, y2 - y1, x2 - x1)
        assert seg.label == "face"
        # each frame's mask is that frame's own, not a union
        for i in range(5):
            assert torch.equal(seg.cropped_mask[i], masks[i, y1:y2, x1:x2] * (seg.cropped_mask[i] > 0))
    moving = segs[0]
    assert not torch.equal(moving.cropped_mask[0], moving.cropped_mask[4])
    assert moving.bbox == (4, 10, 32, 26)


def test_another_subject_crossing_the_crop_does_not_leak_in():
    masks = two_subjects()
    _, segs = masks_to_segs(masks, MaskToSegsOptions(crop_factor=8.0, drop_size=4))
    for seg in segs:
        x1, y1, x2, y2 = seg.crop_region
        assert float(seg.cropped_mask.sum()) < float(masks[:, y1:y2, x1:x2].sum())


def test_combined_drop_size_and_single_mask():
    masks = two_subjects()
    _, combined = masks_to_segs(masks, MaskToSegsOptions(combined=True, crop_factor=1.0))
    assert len(combined) == 1 and combined[0].bbox == (4, 10, 84, 54)
    _, dropped = masks_to_segs(masks, MaskToSegsOptions(drop_size=15))
    assert len(dropped) == 1, "the 14-pixel-wide bar is dropped"
    _, single = masks_to_segs(masks[0], MaskToSegsOptions(drop_size=4))
    assert isinstance(single[0].cropped_mask, np.ndarray) and single[0].cropped_mask.ndim == 2
    assert masks_to_segs(torch.zeros(3, 8, 8), MaskToSegsOptions()) == ((8, 8), [])


def test_bbox_fill_and_contour_fill_are_honoured_for_batches():
    masks = torch.zeros(3, 40, 40)
    masks[:, 10:30, 10:30] = 1.0
    masks[:, 15:25, 15:25] = 0.0  # a hole
    masks[1, 10, 10] = 0.0
    _, (plain,) = masks_to_segs(masks, MaskToSegsOptions(crop_factor=1.0))
    assert float(plain.cropped_mask[:, 7, 7].max()) == 0.0
    _, (contour,) = masks_to_segs(masks, MaskToSegsOptions(crop_factor=1.0, contour_fill=True))
    assert bool((contour.cropped_mask[:, 5:15, 5:15] == 1.0).all())
    _, (boxed,) = masks_to_segs(masks, MaskToSegsOptions(crop_factor=1.0, bbox_fill=True))
    assert bool((boxed.cropped_mask == 1.0).all())


def test_node_rejects_non_masks_and_keeps_label():
    node = MaskToSEGSForVideo()
    (segs,) = node.doit(two_subjects(), False, 2.0, False, 4, False, label="hand")
    assert {seg.label for seg in segs[1]} == {"hand"}
    try:
        node.doit(torch.zeros(2, 3, 8, 8), False, 2.0, False, 4)
    except ValueError as error:
        assert "mask must be a MASK" in str(error)
    else:
        raise AssertionError("expected a ValueError")
