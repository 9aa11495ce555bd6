"""The detail pass against a fake sampling backend: sizes, batching, masks, determinism, bad input."""

from __future__ import annotations

import logging

import pytest
import torch
from fakes import FakeBackend, IdentityBackend

from animatediff_detailer.core.conditioning import Conditionings
from animatediff_detailer.core.enhance import DetailSettings, detail_segs
from animatediff_detailer.core.masks import resize_masks
from animatediff_detailer.core.segs import SEG

FRAMES, HEIGHT, WIDTH = 6, 96, 128


def solid_frames(frames=FRAMES, height=HEIGHT, width=WIDTH):
    """Frame i is filled with grey level (i + 1) / (frames + 2): any frame mix-up is visible."""
    levels = (torch.arange(frames, dtype=torch.float32) + 1) / (frames + 2)
    return levels.view(frames, 1, 1, 1).expand(frames, height, width, 3).clone()


def moving_mask_seg(region=(20, 16, 84, 64), frames=FRAMES, label="face", cropped_image=None):
    x1, y1, x2, y2 = region
    mask = torch.zeros(frames, y2 - y1, x2 - x1)
    for i in range(frames):
        mask[i, 10:30, 5 + 5 * i : 25 + 5 * i] = 1.0
    return SEG(cropped_image, mask, 0.9, region, (x1 + 5, y1 + 10, x2 - 10, y2 - 18), label)


def settings(**overrides):
    values = dict(guide_size=128, guide_for_bbox=True, max_size=256, seed=7, noise_mask_feather=0)
    values.update(overrides)
    return DetailSettings(**values)


CONDS = Conditionings([[torch.zeros(1), {}]], [[torch.zeros(1), {}]])


def run(segs, backend=None, frames=None, **overrides):
    backend = backend or FakeBackend()
    frames = solid_frames() if frames is None else frames
    result = detail_segs(frames, segs, settings(**overrides), CONDS, backend)
    return result, backend


def test_one_sample_call_per_seg_with_all_frames():
    segs = ((HEIGHT, WIDTH), [moving_mask_seg(), moving_mask_seg((60, 40, 120, 90), label="hand")])
    ((_, new_segs), _), backend = run(segs)
    assert len(backend.sample_calls) == 2
    assert all(call["latent"][0] == FRAMES for call in backend.sample_calls)
    assert backend.begun == [(2, FRAMES)]
    assert len(new_segs) == 2


def test_encode_decode_sizes_are_aligned_within_max_size_and_batched():
    segs = ((HEIGHT, WIDTH), [moving_mask_seg()])
    _, backend = run(segs, FakeBackend(batch=4), guide_size=200, max_size=240)
    assert [shape[0] for shape in backend.encode_sizes] == [4, 2]
    for _, height, width, _ in backend.encode_sizes:
        assert height % 8 == 0 and width % 8 == 0
        assert max(height, width) <= 240
    assert [shape[0] for shape in backend.decode_sizes] == [4, 2]


def test_output_seg_format():
    seg = moving_mask_seg()
    segs = ((HEIGHT, WIDTH), [seg])
    ((header, (new_seg,)), cnet), _ = run(segs)
    assert header == (HEIGHT, WIDTH)
    assert cnet == []
    x1, y1, x2, y2 = seg.crop_region
    assert new_seg.cropped_image.shape == (FRAMES, y2 - y1, x2 - x1, 3)
    assert new_seg.cropped_image.dtype == torch.float32 and new_seg.cropped_image.device.type == "cpu"
    assert new_seg.cropped_mask is seg.cropped_mask
    assert (new_seg.confidence, new_seg.label, tuple(new_seg.crop_region)) == (seg.confidence, seg.label, seg.crop_region)
    assert new_seg.control_net_wrapper is None


def test_identity_sampling_returns_each_frames_own_crop():
    """Crops come from image_frames, frame by frame, in order."""
    ((_, (new_seg,)), _), _ = run(((HEIGHT, WIDTH), [moving_mask_seg()]), IdentityBackend())
    expected = solid_frames()[:, 16:64, 20:84]
    assert torch.allclose(new_seg.cropped_image, expected, atol=1e-5)


def test_a_detector_frame_in_cropped_image_is_not_pasted_over_the_clip():
    # Impact reuses seg.cropped_image for every frame: one frozen detection frame.
    frozen = torch.zeros(1, 48, 64, 3)
    ((_, (new_seg,)), _), _ = run(((HEIGHT, WIDTH), [moving_mask_seg(cropped_image=frozen)]), IdentityBackend())
    assert torch.allclose(new_seg.cropped_image, solid_frames()[:, 16:64, 20:84], atol=1e-5)


def test_already_detailed_segs_do_not_multiply_frames():
    # Impact concatenates cropped_image once per frame: F x F frames.
    detailed = torch.rand(FRAMES, 48, 64, 3)
    ((_, (new_seg,)), _), backend = run(((HEIGHT, WIDTH), [moving_mask_seg(cropped_image=detailed)]))
    assert new_seg.cropped_image.shape[0] == FRAMES
    assert backend.sample_calls[0]["latent"][0] == FRAMES


def test_noise_masks_line_up_with_the_crops_frame_by_frame():
    seg = moving_mask_seg()
    _, backend = run(((HEIGHT, WIDTH), [seg]))
    noise_mask = backend.sample_calls[0]["mask"]
    height, width = noise_mask.shape[-2:]
    assert noise_mask.shape[0] == FRAMES
    assert torch.allclose(noise_mask, resize_masks(seg.cropped_mask, height, width))
    columns = torch.arange(width, dtype=torch.float32)
    centres = [float((noise_mask[i].sum(0) * columns).sum() / noise_mask[i].sum()) for i in range(FRAMES)]
    assert all(b > a for a, b in zip(centres, centres[1:])), "the subject moves right in every frame"


def test_feathered_noise_mask_is_soft_and_unfeathered_is_not():
    seg = moving_mask_seg()
    _, hard = run(((HEIGHT, WIDTH), [seg]), noise_mask_feather=0)
    _, soft = run(((HEIGHT, WIDTH), [seg]), noise_mask_feather=8)
    soft_mask = soft.sample_calls[0]["mask"]
    assert int(((soft_mask > 0.05) & (soft_mask < 0.95)).sum()) > 2 * int(((hard.sample_calls[0]["mask"] > 0.05) & (hard.sample_calls[0]["mask"] < 0.95)).sum())


def test_single_mask_broadcasts_to_every_frame():
    seg = moving_mask_seg()
    single = seg._replace(cropped_mask=seg.cropped_mask[2].numpy())
    _, backend = run(((HEIGHT, WIDTH), [single]))
    noise_mask = backend.sample_calls[0]["mask"]
    assert noise_mask.shape[0] == FRAMES
    assert all(torch.equal(noise_mask[i], noise_mask[0]) for i in range(FRAMES))


def test_mask_frame_count_mismatch_is_an_error_naming_both_counts():
    # Impact unions the masks, silently loses frame 0 and drops the feather.
    seg = moving_mask_seg()
    bad = seg._replace(cropped_mask=seg.cropped_mask[:4])
    with pytest.raises(ValueError) as error:
        run(((HEIGHT, WIDTH), [bad]))
    assert "4" in str(error.value) and str(FRAMES) in str(error.value)


def test_same_seed_same_output_other_seed_differs():
    segs = ((HEIGHT, WIDTH), [moving_mask_seg()])
    ((_, (first,)), _), _ = run(segs, seed=3)
    ((_, (again,)), _), _ = run(segs, seed=3)
    ((_, (other,)), _), _ = run(segs, seed=4)
    assert torch.equal(first.cropped_image, again.cropped_image)
    assert not torch.equal(first.cropped_image, other.cropped_image)


def test_seed_per_seg_varies_the_seed_by_index():
    segs = ((HEIGHT, WIDTH), [moving_mask_seg(), moving_mask_seg((60, 40, 120, 90))])
    _, same = run(segs, seed=2**64 - 1)
    _, varied = run(segs, seed=2**64 - 1, seed_per_seg=True)
    assert [c["seed"] for c in same.sample_calls] == [2**64 - 1, 2**64 - 1]
    assert [c["seed"] for c in varied.sample_calls] == [2**64 - 1, 0]


def test_empty_segs_come_back_as_given():
    empty = ((0, 0), [])
    (result, cnet), backend = run(empty)
    assert result is empty and cnet == [] and backend.sample_calls == []


def test_segs_for_another_resolution_are_rescaled_to_the_frames():
    seg = moving_mask_seg()  # made for 128x96 frames
    frames = solid_frames(height=HEIGHT * 2, width=WIDTH)  # frames twice as tall
    ((header, (new_seg,)), _), _ = run(((HEIGHT, WIDTH), [seg]), IdentityBackend(), frames=frames)
    assert header == (HEIGHT * 2, WIDTH)
    assert tuple(new_seg.crop_region) == (20, 32, 84, 128)
    assert new_seg.cropped_image.shape == (FRAMES, 96, 64, 3)
    assert new_seg.cropped_mask.shape[-2:] == (96, 64)


def test_regions_partly_outside_are_clamped():
    seg = SEG(None, torch.ones(1, 60, 60), 1.0, (100, 60, 160, 120), (100, 60, 160, 120), "edge")
    ((_, (new_seg,)), _), backend = run(((HEIGHT, WIDTH), [seg]), IdentityBackend())
    assert tuple(new_seg.crop_region) == (100, 60, 128, 96)
    assert new_seg.cropped_image.shape == (FRAMES, 36, 28, 3)
    assert new_seg.cropped_mask.shape[-2:] == (36, 28)


def test_zero_area_seg_passes_through_with_a_warning(caplog):
    outside = SEG(None, torch.ones(1, 10, 10), 1.0, (200, 200, 210, 210), (200, 200, 210, 210), "ghost")
    inside = moving_mask_seg()
    with caplog.at_level(logging.WARNING):
        ((_, new_segs), _), backend = run(((HEIGHT, WIDTH), [outside, inside]))
    assert new_segs[0] is outside
    assert len(backend.sample_calls) == 1
    assert "ghost" in caplog.text


def test_nan_frames_are_reported():
    frames = solid_frames()
    frames[3, 5, 5, 1] = float("nan")
    with pytest.raises(ValueError, match=r"image_frames .*NaN.* frame\(s\) 3"):
        run(((HEIGHT, WIDTH), [moving_mask_seg()]), frames=frames)


def test_nan_from_the_sampler_is_reported():
    class Diverging(FakeBackend):
        def sample(self, latent, noise, noise_mask, conditionings, seed, frames=None):
            return latent * float("nan")

    with pytest.raises(RuntimeError, match="face.*NaN"):
        run(((HEIGHT, WIDTH), [moving_mask_seg()]), Diverging())


def test_conditioning_masks_reach_the_sampler_cut_to_the_crop():
    frame_mask = torch.zeros(1, HEIGHT, WIDTH)
    frame_mask[:, :, : WIDTH // 2] = 1.0  # left half of the frame
    conds = Conditionings([[torch.zeros(1), {"mask": frame_mask}]], [[torch.zeros(1), {}]],
                          [[torch.zeros(1), {"mask": frame_mask}]], [[torch.zeros(1), {}]])
    backend = FakeBackend()
    detail_segs(solid_frames(), ((HEIGHT, WIDTH), [moving_mask_seg()]), settings(), conds, backend)
    received = backend.sample_calls[0]["conditionings"]
    for cond in (received.positive, received.refiner_positive):
        mask = cond[0][1]["mask"]
        assert mask.shape == (1, 48, 64)
        assert torch.equal(mask, frame_mask[:, 16:64, 20:84])


def test_control_net_wrapper_gets_the_crops_and_its_hints_are_returned():
    calls = []

    class Wrapper:
        def apply(self, positive, negative, image, mask, use_acn=False):
            calls.append((image.shape, mask.shape, use_acn))
            return positive + [[torch.ones(1), {"control": "cn"}]], negative, [image[:1]]

    seg = moving_mask_seg()._replace(control_net_wrapper=Wrapper())
    ((_, (new_seg,)), cnet), backend = run(((HEIGHT, WIDTH), [seg]))
    assert calls == [((FRAMES, 48, 64, 3), (FRAMES, 48, 64), True)]
    assert len(cnet) == 1 and cnet[0].shape == (1, 48, 64, 3)
    assert backend.sample_calls[0]["conditionings"].positive[-1][1] == {"control": "cn"}
    assert new_seg.control_net_wrapper is None


def test_wrappers_are_told_whether_advanced_controlnet_is_there():
    seen = []

    class Wrapper:
        def apply(self, positive, negative, image, mask, use_acn=False):
            seen.append(use_acn)
            return positive, negative, []

    seg = moving_mask_seg()._replace(control_net_wrapper=Wrapper())
    run(((HEIGHT, WIDTH), [seg]), FakeBackend(advanced_controlnet=False))
    run(((HEIGHT, WIDTH), [seg]), FakeBackend(advanced_controlnet=True))
    assert seen == [False, True]


def test_detail_and_paste_applies_the_paste_colour_match_as_detailer_then_paste_does():
    """Detail-and-paste in one node equals detailer + SEGSPaste with the same colour match, and
    leaves pixels outside the mask bit-identical; with the match it differs from a plain paste."""
    from animatediff_detailer.core.colour import ColourMatch
    from animatediff_detailer.core.enhance import detail_and_paste
    from animatediff_detailer.core.paste import paste_segs

    frames = solid_frames() * torch.tensor([1.0, 0.8, 0.6])  # a colour cast the refined crop does not share
    segs = ((HEIGHT, WIDTH), [moving_mask_seg()])
    match = ColourMatch()
    pasted, refined, _ = detail_and_paste(frames, segs, settings(), CONDS, FakeBackend(), 0, colour_match=match)
    detailed, _ = detail_segs(frames, segs, settings(), CONDS, FakeBackend())
    assert torch.equal(pasted, paste_segs(frames, detailed, 0, colour_match=match))
    plain, _, _ = detail_and_paste(frames, segs, settings(), CONDS, FakeBackend(), 0)
    assert not torch.equal(pasted, plain), "the colour match changed the pasted region"
    (seg,) = refined[1]
    x1, y1, x2, y2 = seg.crop_region
    outside = torch.ones(FRAMES, HEIGHT, WIDTH, dtype=torch.bool)
    outside[:, y1:y2, x1:x2] = torch.as_tensor(seg.cropped_mask) <= 0
    assert torch.equal(pasted[outside], frames[outside])
