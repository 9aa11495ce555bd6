"""Inputs other nodes emit: half-precision frames, 0..255 masks, SEGS with nothing to detail."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from fakes import FakeBackend

from animatediff_detailer.core.conditioning import Conditionings
from animatediff_detailer.core.enhance import DetailSettings, detail_segs
from animatediff_detailer.core.mask_segs import MaskToSegsOptions, masks_to_segs
from animatediff_detailer.core.masks import unit_mask_values
from animatediff_detailer.core.paste import paste_segs
from animatediff_detailer.core.segs import SEG, as_mask_tensor
from animatediff_detailer.nodes.segs_nodes import MaskToSEGSForVideo

FRAMES, HEIGHT, WIDTH = 5, 64, 96
CONDS = Conditionings([[torch.zeros(1), {}]], [[torch.zeros(1), {}]])


def clip() -> torch.Tensor:
    return torch.rand(FRAMES, HEIGHT, WIDTH, 3, generator=torch.Generator().manual_seed(5))


def moving_seg(mask_scale: float = 1.0) -> SEG:
    mask = torch.zeros(FRAMES, 40, 56)
    for i in range(FRAMES):
        mask[i, 10:30, 4 + 5 * i : 24 + 5 * i] = mask_scale
    return SEG(None, mask, 0.9, (20, 12, 76, 52), (24, 22, 70, 42), "face")


def detail(frames: torch.Tensor, seg: SEG, crop_mode: str = "union"):
    backend = FakeBackend()
    settings = DetailSettings(guide_size=96, guide_for_bbox=True, max_size=192, seed=3, crop_mode=crop_mode)
    (_, items), _ = detail_segs(frames, ((HEIGHT, WIDTH), [seg]), settings, CONDS, backend)
    return items[0], backend


@pytest.mark.parametrize("crop_mode", ["union", "tracked"])
@pytest.mark.parametrize("dtype, tolerance", [(torch.float16, 2e-3), (torch.bfloat16, 1.6e-2)])
def test_half_precision_frames_are_detailed_in_float32(crop_mode, dtype, tolerance):
    frames = clip()
    reference, _ = detail(frames, moving_seg(), crop_mode)
    half, _ = detail(frames.to(dtype), moving_seg(), crop_mode)
    assert half.cropped_image.dtype == torch.float32
    assert half.cropped_image.shape == reference.cropped_image.shape
    # the only difference is the rounding of the input frames to half precision
    assert float((half.cropped_image - reference.cropped_image).abs().max()) <= tolerance


def test_half_precision_frames_paste_exactly_outside_the_masks():
    frames = clip().to(torch.float16)
    seg = moving_seg()._replace(cropped_image=torch.rand(FRAMES, 40, 56, 3))
    out = paste_segs(frames, ((HEIGHT, WIDTH), [seg]), 4)
    assert out.dtype == torch.float32
    outside = torch.ones(FRAMES, HEIGHT, WIDTH, dtype=torch.bool)
    outside[:, 12:52, 20:76] = ~(seg.cropped_mask > 0)
    assert torch.equal(out[outside], frames.to(torch.float32)[outside])


def test_masks_of_0_to_255_are_scaled_with_a_warning(caplog):
    levels = torch.tensor([[0.0, 127.5], [255.0, 51.0]])
    with caplog.at_level(logging.WARNING):
        scaled = unit_mask_values(levels, "mask")
    assert torch.allclose(scaled, levels / 255.0)
    assert "mask" in caplog.text and "0..255" in caplog.text
    unit = torch.tensor([0.0, 0.5, 1.0])
    assert unit_mask_values(unit, "mask") is unit


@pytest.mark.parametrize("bad", [torch.tensor([-0.5, 0.5]), torch.tensor([0.0, 300.0]), torch.tensor([float("nan"), 1.0])])
def test_masks_outside_0_to_255_are_an_error_naming_the_input(bad):
    with pytest.raises(ValueError, match=r"^mask holds values .* a MASK holds 0\.\.1"):
        unit_mask_values(bad, "mask")


def test_mask_to_segs_of_a_0_to_255_batch_gives_0_to_1_masks_like_the_0_to_1_batch():
    masks = torch.zeros(FRAMES, HEIGHT, WIDTH)
    masks[:, 20:40, 30:60] = 1.0
    masks[:, 25:35, 35:45] = 0.4
    (header, unit_items) = masks_to_segs(masks, MaskToSegsOptions(crop_factor=1.5, drop_size=4))
    ((_, (seg,)),) = MaskToSEGSForVideo().doit(masks * 255.0, False, 1.5, False, 4)
    assert header == (HEIGHT, WIDTH)
    assert float(seg.cropped_mask.max()) == 1.0
    assert torch.allclose(seg.cropped_mask, unit_items[0].cropped_mask)
    with pytest.raises(ValueError, match="^mask holds values"):
        MaskToSEGSForVideo().doit(masks - 0.5, False, 1.5, False, 4)


def test_a_foreign_seg_with_a_0_to_255_float_mask_is_read_as_levels():
    mask = np.full((4, 4), 255.0, dtype=np.float32)
    mask[0, 0] = 0.0
    normalised = as_mask_tensor(mask, "segs[0].cropped_mask")
    assert float(normalised.max()) == 1.0 and float(normalised.min()) == 0.0


def test_same_output_for_0_to_1_and_0_to_255_seg_masks():
    unit, _ = detail(clip(), moving_seg(1.0))
    levels, _ = detail(clip(), moving_seg(255.0))
    assert torch.equal(unit.cropped_image, levels.cropped_image)


def test_an_all_zero_seg_mask_skips_sampling_and_passes_the_seg_through(caplog):
    empty = moving_seg(0.0)
    with caplog.at_level(logging.WARNING):
        result, backend = detail(clip(), empty)
    assert result is empty
    assert backend.sample_calls == [] and backend.encode_sizes == []
    assert "face" in caplog.text and "empty" in caplog.text
