"""Pasting refined SEGS: exact outside the masks, per-frame masks, feather inside, rescale."""

from __future__ import annotations

import pytest
import torch

from animatediff_detailer.core.paste import paste_segs
from animatediff_detailer.core.segs import SEG


def make(frames=4, height=40, width=60):
    torch.manual_seed(0)
    image = torch.rand(frames, height, width, 3)
    mask = torch.zeros(frames, 20, 30)
    for i in range(frames):
        mask[i, 5:15, 2 + 4 * i : 12 + 4 * i] = 1.0
    seg = SEG(torch.rand(frames, 20, 30, 3), mask, 1.0, (10, 10, 40, 30), (12, 15, 38, 25), "face")
    return image, seg


@pytest.mark.parametrize("feather", [0, 3, 10])
def test_pixels_outside_every_mask_are_unchanged_bit_for_bit(feather):
    image, seg = make()
    out = paste_segs(image, ((40, 60), [seg]), feather)
    full_mask = torch.zeros(image.shape[:3], dtype=torch.bool)
    full_mask[:, 10:30, 10:40] = seg.cropped_mask > 0
    assert torch.equal(out[~full_mask], image[~full_mask])
    assert not torch.equal(out[full_mask], image[full_mask])


def test_hard_paste_copies_inside_the_mask_and_frames_stay_separate():
    image, seg = make()
    out = paste_segs(image, ((40, 60), [seg]), 0)
    for i in range(4):
        inside = seg.cropped_mask[i] > 0
        assert torch.equal(out[i, 10:30, 10:40][inside], seg.cropped_image[i][inside])
    assert out.shape == image.shape and out.dtype == image.dtype
    assert image.data_ptr() != out.data_ptr()


def test_feather_softens_inside_and_alpha_scales():
    image, seg = make()
    solid = seg._replace(cropped_mask=torch.ones(1, 20, 30), cropped_image=torch.zeros(4, 20, 30, 3))
    out = paste_segs(torch.ones(4, 40, 60, 3), ((40, 60), [solid]), 6)
    assert float(out[0, 20, 25, 0]) == pytest.approx(0.0, abs=1e-6), "centre fully pasted"
    assert 0.0 < float(out[0, 10, 25, 0]) < 1.0, "edge fades in"
    half = paste_segs(torch.ones(4, 40, 60, 3), ((40, 60), [solid]), 0, alpha=51)
    assert float(half[0, 20, 25, 0]) == pytest.approx(0.8, abs=1e-6)


def test_segs_for_another_resolution_are_rescaled():
    image, seg = make()
    big = torch.zeros(4, 80, 120, 3)
    out = paste_segs(big, ((40, 60), [seg._replace(cropped_image=torch.ones(4, 20, 30, 3))]), 0)
    assert float(out[:, :20].abs().sum()) == 0.0
    assert float(out[:, 20:60, 20:80].sum()) > 0


def test_one_image_or_ref_image_for_all_frames_and_bad_counts():
    image, seg = make()
    single = seg._replace(cropped_image=torch.ones(1, 20, 30, 3))
    out = paste_segs(image, ((40, 60), [single]), 0)
    assert bool((out[3, 10:30, 10:40][seg.cropped_mask[3] > 0] == 1.0).all())
    ref = torch.zeros_like(image)
    from_ref = paste_segs(image, ((40, 60), [seg]), 0, ref_frames=ref)
    assert float(from_ref[2, 10:30, 10:40][seg.cropped_mask[2] > 0].abs().sum()) == 0.0
    with pytest.raises(ValueError, match="3 frames but image has 4"):
        paste_segs(image, ((40, 60), [seg._replace(cropped_image=torch.ones(3, 20, 30, 3))]), 0)
    with pytest.raises(ValueError, match="cropped_mask has 2 frames but image has 4"):
        paste_segs(image, ((40, 60), [seg._replace(cropped_mask=seg.cropped_mask[:2])]), 0)
