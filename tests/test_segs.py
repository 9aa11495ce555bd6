"""SEG data from every producer format in docs/BEHAVIOUR.md §1."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest
import torch

from animatediff_detailer.core.regions import fit_segs
from animatediff_detailer.core.segs import SEG, as_confidence, as_image_tensor, as_mask_tensor, unpack_segs

# Impact Pack's SEG, as a separate namedtuple class: ours must read it and it must read ours.
ImpactSEG = namedtuple("SEG", ["cropped_image", "cropped_mask", "confidence", "crop_region", "bbox", "label", "control_net_wrapper"], defaults=[None])


def test_seg_fields_match_impact():
    assert SEG._fields == ImpactSEG._fields
    assert SEG._field_defaults == {"control_net_wrapper": None}
    ours = SEG(None, np.ones((2, 2)), 0.9, (0, 0, 2, 2), (0, 0, 2, 2), "face")
    theirs = ImpactSEG(*ours)
    assert theirs.label == "face" and theirs.control_net_wrapper is None


@pytest.mark.parametrize(
    "mask, frames",
    [
        (np.ones((6, 7), dtype=np.float32), 1),
        (torch.ones(3, 6, 7), 3),
        (torch.ones(3, 6, 7, dtype=torch.uint8), 3),
        (torch.full((2, 6, 7), 255, dtype=torch.uint8), 2),
        (np.ones((6, 7), dtype=bool), 1),
        (torch.ones(2, 6, 7, 1), 2),
    ],
)
def test_mask_formats_normalise_to_float_frames(mask, frames):
    normalised = as_mask_tensor(mask)
    assert normalised.dtype == torch.float32
    assert normalised.shape == (frames, 6, 7)
    assert torch.equal(normalised, torch.ones_like(normalised))


def test_bad_mask_is_named():
    with pytest.raises(ValueError, match="segs\\[0\\].cropped_mask"):
        as_mask_tensor(torch.ones(2, 2, 2, 2, 2), "segs[0].cropped_mask")


def test_image_and_confidence_formats():
    assert as_image_tensor(np.zeros((5, 4, 3), dtype=np.float32)).shape == (1, 5, 4, 3)
    assert as_image_tensor(None) is None
    assert as_confidence(np.array([0.75], dtype=np.float32)) == pytest.approx(0.75)
    assert as_confidence(0.5) == 0.5


def test_unpack_segs_errors_name_the_input():
    with pytest.raises(ValueError, match="segs must be a SEGS"):
        unpack_segs("nope")
    with pytest.raises(ValueError, match="header"):
        unpack_segs(("x", []))
    with pytest.raises(ValueError, match=r"segs\[0\] is not a SEG"):
        unpack_segs(((8, 8), [object()]))


def _seg(region, mask=None, bbox=None, label="face"):
    x1, y1, x2, y2 = region
    mask = torch.ones(1, y2 - y1, x2 - x1) if mask is None else mask
    return SEG(None, mask, 0.9, region, bbox or region, label)


def test_segs_for_another_aspect_are_rescaled_per_axis():
    # detected on 100 wide x 50 high, applied to 50 wide x 100 high
    mask = torch.zeros(1, 20, 40)
    mask[:, :, :20] = 1.0
    fitted = fit_segs(((50, 100), [_seg((20, 10, 60, 30), mask)]), 100, 50)[0]
    assert fitted.rect == (10, 20, 30, 60)
    assert fitted.mask.shape == (1, 40, 20)
    # the left half of the mask stays the left half
    assert float(fitted.mask[0, :, :8].mean()) > 0.99 and float(fitted.mask[0, :, 12:].mean()) < 0.01


def test_regions_partly_outside_are_clamped_with_their_masks():
    mask = torch.arange(30 * 40, dtype=torch.float32).reshape(1, 30, 40) / 1200
    fitted = fit_segs(((50, 50), [_seg((-10, 30, 30, 60), mask)]), 50, 50)[0]
    assert fitted.rect == (0, 30, 30, 50)
    assert torch.equal(fitted.mask, mask[:, :20, 10:40])
    assert fitted.seg.crop_region == (0, 30, 30, 50)


def test_zero_area_region_is_unusable_and_unchanged(caplog):
    seg = _seg((60, 60, 70, 70), label="hand")
    fitted = fit_segs(((50, 50), [seg]), 50, 50)[0]
    assert not fitted.usable
    assert fitted.seg is seg
    assert "hand" in caplog.text


def test_unchanged_segs_keep_their_objects():
    seg = _seg((5, 5, 15, 25))
    (fitted,) = fit_segs(((40, 40), [seg]), 40, 40)
    assert fitted.seg is seg and fitted.usable
