"""Colour match in the paste: log light, statistics on a ring outside the mask edge, smoothed over
time; a colour cast of the refined crop is removed, pixels outside every mask stay bit for bit,
Impact's alias is off."""

from __future__ import annotations

import math

import pytest
import torch

from animatediff_detailer.core.colour import (
    ColourMatch,
    border_ring,
    log_light_to_srgb,
    match_colours,
    smooth_measured,
    srgb_to_log_light,
)
from animatediff_detailer.core.paste import paste_segs
from animatediff_detailer.core.segs import SEG
from animatediff_detailer.nodes.segs_nodes import ImpactSEGSPaste, SEGSPasteForVideo

FRAMES, HEIGHT, WIDTH = 6, 64, 96
REGION = (20, 10, 76, 58)  # crop region: 56 x 48


def textured_frames() -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.linspace(0, 1, HEIGHT), torch.linspace(0, 1, WIDTH), indexing="ij")
    generator = torch.Generator().manual_seed(3)
    frames = []
    for f in range(FRAMES):
        base = torch.stack([0.35 + 0.3 * xs, 0.45 + 0.2 * ys + 0.02 * f, 0.55 - 0.25 * xs], dim=-1)
        frames.append(base + 0.05 * torch.rand(HEIGHT, WIDTH, 3, generator=generator))
    return torch.stack(frames).clamp(0, 1)


def subject_masks() -> torch.Tensor:
    """A disc moving right inside the crop region, in crop coordinates ``[F, 48, 56]``."""
    ys, xs = torch.meshgrid(torch.arange(48) + 0.5, torch.arange(56) + 0.5, indexing="ij")
    return torch.stack([(((xs - 22 - 2 * f) ** 2 + (ys - 24) ** 2) <= 13**2).float() for f in range(FRAMES)])


def colour_cast(image: torch.Tensor) -> torch.Tensor:
    """What a VAE round trip or a drifting model does to a crop: a warm cast, a little less contrast."""
    gain = torch.tensor([1.08, 0.97, 0.85])
    offset = torch.tensor([0.06, 0.01, -0.02])
    mean = image.mean(dim=(1, 2), keepdim=True)
    return ((image - mean) * 0.9 + mean).mul(gain).add(offset).clamp(0, 1)


def refined_crops(frames: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The 'true' refined crop: the original with new detail painted inside the mask."""
    x1, y1, x2, y2 = REGION
    crops = frames[:, y1:y2, x1:x2].clone()
    stripes = 0.5 + 0.5 * torch.sin(torch.arange(x2 - x1, dtype=torch.float32) * 0.7)
    detail = torch.stack([0.2 + 0.1 * stripes, 0.6 - 0.2 * stripes, 0.4 + 0.1 * stripes], dim=-1)
    inside = masks.unsqueeze(-1) > 0.5
    return torch.where(inside, 0.5 * crops + 0.5 * detail, crops)


def segs_with(refined: torch.Tensor, masks: torch.Tensor):
    return (HEIGHT, WIDTH), [SEG(refined, masks, 1.0, REGION, (30, 21, 68, 47), "face")]


def frame_masks(masks: torch.Tensor) -> torch.Tensor:
    full = torch.zeros(FRAMES, HEIGHT, WIDTH, dtype=torch.bool)
    x1, y1, x2, y2 = REGION
    full[:, y1:y2, x1:x2] = masks > 0
    return full


def paste_error(pasted: torch.Tensor, expected: torch.Tensor, inside: torch.Tensor) -> float:
    """Mean absolute error (0..1 per channel) of the pasted pixels inside the masks."""
    return float((pasted - expected).abs()[inside].mean())


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """The sRGB transfer curve, written out here so the tests do not measure the pack with itself."""
    return torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def test_log_light_round_trip_and_a_channel_gain_is_an_offset():
    rgb = torch.rand(4, 8, 8, 3)
    assert float((log_light_to_srgb(srgb_to_log_light(rgb)) - rgb).abs().max()) < 2e-5
    assert float(srgb_to_log_light(torch.tensor([0.5]))) == pytest.approx(math.log(0.21404 + 1e-3), abs=1e-4)
    # a white-balance cast (a gain per channel of linear light) moves every colour by about the same offset
    colours = torch.rand(50, 3) * 0.6 + 0.3
    gain = torch.tensor([0.9, 1.0, 0.7])
    linear = srgb_to_linear(colours)
    cast = log_light_to_srgb(torch.log(linear * gain + 1e-3))
    shift = srgb_to_log_light(cast) - srgb_to_log_light(colours)
    assert float((shift - gain.log()).abs().max()) < 0.01


def test_ring_is_just_outside_the_mask_edge():
    mask = torch.zeros(1, 20, 20)
    mask[0, 5:15, 5:15] = 1.0
    ring = border_ring(mask, 2)
    assert int(ring.sum()) == 14 * 14 - 10 * 10
    assert bool(ring[0, 3, 10]) and bool(ring[0, 4, 10]) and not bool(ring[0, 2, 10]) and not bool(ring[0, 5, 10])
    edge = torch.zeros(1, 20, 20)
    edge[0, :, :10] = 1.0  # touches the crop's left, top and bottom borders: the ring is x = 10, 11
    assert border_ring(edge, 2)[0].nonzero()[:, 1].unique().tolist() == [10, 11]
    assert not bool(border_ring(torch.ones(1, 20, 20), 2).any()), "a mask filling the crop has no edge to measure"


def test_colour_match_removes_a_colour_shift_of_the_refined_crop():
    frames, masks = textured_frames(), subject_masks()
    truth = refined_crops(frames, masks)
    shifted = colour_cast(truth)
    inside = frame_masks(masks)
    expected = paste_segs(frames, segs_with(truth, masks), 0)
    plain = paste_segs(frames, segs_with(shifted, masks), 0)
    matched = paste_segs(frames, segs_with(shifted, masks), 0, colour_match=ColourMatch())
    before, after = paste_error(plain, expected, inside), paste_error(matched, expected, inside)
    assert after < 0.2 * before, f"colour error inside the masks {before:.4f} -> {after:.4f}"
    half = paste_error(paste_segs(frames, segs_with(shifted, masks), 0, colour_match=ColourMatch(strength=0.5)),
                       expected, inside)
    assert after < half < before, (before, half, after)
    # outside every mask nothing moves, with or without feather
    for feather in (0, 5):
        out = paste_segs(frames, segs_with(shifted, masks), feather, colour_match=ColourMatch())
        assert torch.equal(out[~inside], frames[~inside])
    # strength 0 is no colour match at all, bit for bit
    assert torch.equal(paste_segs(frames, segs_with(shifted, masks), 0, colour_match=ColourMatch(strength=0.0)), plain)


def test_a_white_balance_cast_is_removed_on_a_subject_of_another_colour_than_its_surroundings():
    """A red subject on a blue-green background, its refined crop under a gain per linear-light
    channel: the offset measured on the background ring removes the cast on the red subject too."""
    frames = textured_frames()
    masks = subject_masks()
    x1, y1, x2, y2 = REGION
    red = torch.tensor([0.85, 0.2, 0.15])
    truth = torch.where(masks.unsqueeze(-1) > 0.5, red, frames[:, y1:y2, x1:x2])
    linear = srgb_to_linear(truth)
    cast = log_light_to_srgb(torch.log(linear * torch.tensor([1.15, 0.95, 0.8]) + 1e-3))
    matched = match_colours(cast, frames[:, y1:y2, x1:x2], masks, ColourMatch())
    inside = masks > 0.5
    before, after = float((cast - truth).abs()[inside].mean()), float((matched - truth).abs()[inside].mean())
    assert after < 0.05 * before, f"error on the red subject {before:.4f} -> {after:.4f}"


def test_correction_is_smoothed_over_time_and_unmeasured_frames_borrow_it():
    values = torch.tensor([[0.0], [0.0], [1.0], [0.0], [0.0], [5.0]])
    measured = torch.tensor([True, True, True, True, True, False])
    smoothed = smooth_measured(values, measured, 2.0)
    assert float(smoothed[2]) < 0.5, "a one-frame outlier is damped"
    assert float(smoothed[5]) < 0.5, "an unmeasured frame takes its neighbours' value, not its own"
    lone = smooth_measured(torch.tensor([[2.0], [9.0]]), torch.tensor([True, False]), 2.0)
    assert lone.flatten().tolist() == [2.0, 2.0]

    frames, masks = textured_frames(), subject_masks()
    masks[2] = 1.0  # the whole crop: no edge inside it to measure in frame 2
    truth = refined_crops(frames, masks)
    shifted = colour_cast(truth)
    x1, y1, x2, y2 = REGION
    matched = match_colours(shifted, frames[:, y1:y2, x1:x2], masks, ColourMatch())
    before = float((shifted[2] - truth[2]).abs().mean())
    after = float((matched[2] - truth[2]).abs().mean())
    assert after < 0.3 * before, f"frame 2 (not measured) {before:.4f} -> {after:.4f}"
    outside = masks == 0
    assert torch.equal(matched[outside], shifted[outside]), "only the pixels a paste shows are changed"
    assert torch.equal(match_colours(shifted, frames[:, y1:y2, x1:x2], torch.zeros_like(masks), ColourMatch()), shifted)


def test_paste_node_colour_match_is_on_for_our_id_and_off_for_impacts():
    ours, impact = SEGSPasteForVideo.INPUT_TYPES(), ImpactSEGSPaste.INPUT_TYPES()
    assert list(impact["required"]) == ["image", "segs", "feather", "alpha"]
    assert list(impact["optional"]) == ["ref_image_opt", "color_match", "color_match_strength"]
    assert ours["optional"]["color_match"][1]["default"] is True
    assert impact["optional"]["color_match"][1]["default"] is False
    for group in ours.values():
        for name, spec in group.items():
            assert spec[1].get("tooltip"), f"{name} has no tooltip"
    frames, masks = textured_frames(), subject_masks()
    segs = segs_with(colour_cast(refined_crops(frames, masks)), masks)
    (plain,) = ImpactSEGSPaste().doit(frames, segs, 0, 255)
    assert torch.equal(plain, paste_segs(frames, segs, 0)), "Impact's id pastes as Impact does"
    (matched,) = SEGSPasteForVideo().doit(frames, segs, 0, 255)
    assert torch.equal(matched, paste_segs(frames, segs, 0, colour_match=ColourMatch()))
    (off,) = SEGSPasteForVideo().doit(frames, segs, 0, 255, None, False)
    assert torch.equal(off, plain)
    with pytest.raises(ValueError, match="color_match_strength"):
        SEGSPasteForVideo().doit(frames, segs, 0, 255, None, True, 1.5)
