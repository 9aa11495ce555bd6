"""Per-frame masks, broadcasting, feather and resize."""

from __future__ import annotations

import pytest
import torch

from animatediff_detailer.core.frames import per_frame
from animatediff_detailer.core.masks import feather_masks, resize_masks


def test_per_frame_masks_stay_per_frame_and_one_mask_broadcasts():
    masks = torch.rand(5, 8, 9)
    assert per_frame(masks, 5, "mask") is masks
    single = torch.rand(1, 8, 9)
    expanded = per_frame(single, 5, "mask")
    assert expanded.shape == (5, 8, 9)
    assert torch.equal(expanded[3], single[0])


def test_mask_frame_count_mismatch_names_both_counts():
    with pytest.raises(ValueError) as error:
        per_frame(torch.rand(3, 8, 8), 7, "mask")
    assert "3" in str(error.value) and "7" in str(error.value)


def _square(size=64, lo=24, hi=40):
    mask = torch.zeros(1, size, size)
    mask[:, lo:hi, lo:hi] = 1.0
    return mask


def test_feather_zero_is_identity():
    mask = _square()
    assert torch.equal(feather_masks(mask, 0), mask)


def test_feather_grows_with_the_feather_value():
    mask = _square()

    def soft_width(feather):
        row = feather_masks(mask, feather)[0, 32]
        return int(((row > 0.01) & (row < 0.99)).sum())

    widths = [soft_width(f) for f in (2, 6, 12)]
    assert widths[0] < widths[1] < widths[2]


def test_feather_keeps_full_strength_at_the_crop_border_and_range():
    mask = torch.ones(2, 16, 16)
    blurred = feather_masks(mask, 10)
    assert torch.allclose(blurred, torch.ones_like(blurred))
    noisy = feather_masks(torch.rand(3, 20, 30), 7)
    assert noisy.shape == (3, 20, 30)
    assert float(noisy.min()) >= 0.0 and float(noisy.max()) <= 1.0


def test_feather_larger_than_the_mask_is_fine():
    assert feather_masks(_square(8, 2, 6), 50).shape == (1, 8, 8)


def test_resize_masks_batched():
    masks = torch.rand(4, 10, 12)
    resized = resize_masks(masks, 20, 24)
    assert resized.shape == (4, 20, 24)
    assert resize_masks(masks, 10, 12) is masks
