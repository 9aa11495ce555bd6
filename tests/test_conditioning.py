"""Conditioning masks (ConditioningSetMask) cut to the crop against the full frame."""

from __future__ import annotations

import torch

from animatediff_detailer.core.conditioning import Conditionings, crop_condition_mask
from animatediff_detailer.core.frame_conditioning import FrameConditioning
from animatediff_detailer.core.frame_rules import Clip, SegCut
from animatediff_detailer.core.geometry import LatentLayout, SamplingSize
from animatediff_detailer.core.crop_windows import CropWindows


def fixed(rect, frames=1):
    return CropWindows.fixed(rect, frames)


def _frame_mask(height, width, box):
    x1, y1, x2, y2 = box
    mask = torch.zeros(1, height, width)
    mask[:, y1:y2, x1:x2] = 1.0
    return mask


def test_frame_sized_mask_is_sliced_exactly():
    mask = torch.rand(2, 60, 80)
    assert torch.equal(crop_condition_mask(mask, fixed((10, 20, 50, 40)), 80, 60), mask[:, 20:40, 10:50])
    assert crop_condition_mask(mask[0], fixed((10, 20, 50, 40)), 80, 60).shape == (20, 40)


def test_lower_resolution_mask_maps_through_the_frame_not_the_crop():
    # mask drawn at half resolution over a 200x100 frame: the right half of the frame is set
    mask = _frame_mask(50, 100, (50, 0, 100, 50))
    crop = crop_condition_mask(mask, fixed((80, 20, 140, 60)), 200, 100)  # straddles x = 100
    assert crop.shape == (1, 40, 60)
    assert float(crop[0, :, :18].max()) < 0.05, "left of the frame's middle stays unmasked"
    assert float(crop[0, :, 22:].min()) > 0.95, "right of the frame's middle is masked"


def test_non_square_ratio_uses_x_and_y_ratios():
    mask = _frame_mask(30, 120, (0, 15, 120, 30))  # bottom half, 120x30 drawn over a 240x120 frame
    crop = crop_condition_mask(mask, fixed((0, 40, 240, 100)), 240, 120)
    assert crop.shape == (1, 60, 240)
    assert float(crop[0, :18].max()) < 0.05 and float(crop[0, 22:].min()) > 0.95


def test_the_mask_rule_copies_entries_with_masks_only():
    embedding = torch.zeros(1, 77, 768)
    plain = [embedding, {"pooled_output": None}]
    masked = [embedding, {"mask": torch.ones(1, 64, 64), "set_area_to_bounds": False, "mask_strength": 0.7}]
    cutter = FrameConditioning(Clip(1, 64, 64, LatentLayout()), None, None)
    cut, references = cutter.cut(Conditionings([plain, masked], [plain]), SegCut(fixed((8, 8, 40, 24)), SamplingSize(64, 32, 2.0)))
    cropped, refiner_negative = cut.positive, cut.refiner_negative
    assert references == 0
    assert cropped[0][1] is plain[1]
    assert cropped[1][1]["mask"].shape == (1, 16, 32)
    assert cropped[1][1]["mask_strength"] == 0.7
    assert masked[1]["mask"].shape == (1, 64, 64), "the input conditioning is not modified"
    assert refiner_negative is None


def test_moving_windows_cut_one_mask_per_frame():
    mask = torch.zeros(1, 40, 60)
    mask[:, :, 30:] = 1.0  # right half of the frame
    windows = CropWindows(torch.tensor([[10, 5], [20, 5], [30, 5]]), 20, 10)
    cropped = crop_condition_mask(mask, windows, 60, 40)
    assert cropped.shape == (3, 10, 20)
    assert float(cropped[0].sum()) == 0.0 and float(cropped[2].mean()) == 1.0
    assert torch.equal(cropped[1, :, 10:], torch.ones(10, 10)) and float(cropped[1, :, :10].sum()) == 0.0
