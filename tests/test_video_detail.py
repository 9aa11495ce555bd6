"""The detail pass with a video VAE (one latent per clip, time compressed) against a fake backend."""

from __future__ import annotations

import pytest
import torch
from fakes import FakeVideoBackend, IdentityVideoBackend, wan_frames_to_latent, wan_latent_to_frames

from animatediff_detailer.core.conditioning import Conditionings
from animatediff_detailer.core.context_windows import context_windows
from animatediff_detailer.core.enhance import DetailSettings, detail_segs
from animatediff_detailer.core.geometry import LatentLayout
from animatediff_detailer.core.paste import paste_segs
from animatediff_detailer.core.segs import SEG

HEIGHT, WIDTH = 96, 128
CONDS = Conditionings([[torch.zeros(1), {}]], [[torch.zeros(1), {}]])
WAN = FakeVideoBackend().layout


def clip(frames: int) -> torch.Tensor:
    return torch.rand(frames, HEIGHT, WIDTH, 3, generator=torch.Generator().manual_seed(frames))


def moving_seg(frames: int) -> SEG:
    region = (16, 8, 112, 88)
    mask = torch.zeros(frames, 80, 96)
    for i in range(frames):
        x = 4 + (60 * i) // max(1, frames - 1)
        mask[i, 20:60, x : x + 24] = 1.0
    return SEG(None, mask, 0.9, region, (20, 28, 100, 68), "face")


def run(frames: int, backend=None, crop_mode: str = "union", seed: int = 1):
    backend = backend or FakeVideoBackend()
    settings = DetailSettings(guide_size=100, guide_for_bbox=True, max_size=200, seed=seed, crop_mode=crop_mode)
    segs, _ = detail_segs(clip(frames), ((HEIGHT, WIDTH), [moving_seg(frames)]), settings, CONDS, backend)
    return segs, backend


@pytest.mark.parametrize("frames, latent_frames", [(17, 5), (18, 6), (33, 9), (81, 21), (1, 1), (2, 2)])
@pytest.mark.parametrize("crop_mode", ["union", "tracked"])
def test_one_video_latent_per_seg_padded_to_the_vaes_frame_rule(frames, latent_frames, crop_mode):
    (header, (seg,)), backend = run(frames, crop_mode=crop_mode)
    padded = wan_latent_to_frames(latent_frames)
    assert [shape[0] for shape in backend.encode_sizes] == [padded], "one encode call of the padded clip"
    (call,) = backend.sample_calls
    assert len(call["latent"]) == 5 and call["latent"][0] == 1 and call["latent"][2] == latent_frames
    assert call["mask"].shape[0] == latent_frames
    _, height, width, _ = backend.encode_sizes[0]
    assert height % 16 == 0 and width % 16 == 0, "sampling sizes are multiples of the VAE stride times the patch"
    assert header == (HEIGHT, WIDTH)
    assert seg.cropped_image.shape == (frames, 80, 96, 3) and seg.cropped_image.dtype == torch.float32


def test_frame_counts_round_trip_through_the_layout():
    for frames in range(1, 90):
        padded = WAN.encoded_frame_count(frames)
        assert padded >= frames and (padded - 1) % 4 == 0 and padded - frames < 4
        spans = WAN.latent_frame_spans(wan_frames_to_latent(padded))
        assert spans[0] == range(0, 1) and spans[-1].stop == padded
        assert all(a.stop == b.start for a, b in zip(spans, spans[1:]))


def test_the_latent_noise_mask_covers_every_frames_mask():
    frames = 17
    _, backend = run(frames)
    latent_mask = backend.sample_calls[0]["mask"]  # [5, H, W] at sampling size
    seg = moving_seg(frames)
    pixel_masks = torch.nn.functional.interpolate(seg.cropped_mask.unsqueeze(1), size=latent_mask.shape[-2:],
                                                  mode="bilinear").squeeze(1)
    for latent_index, span in enumerate(WAN.latent_frame_spans(5)):
        for frame in span:
            assert bool((latent_mask[latent_index] >= pixel_masks[frame] - 1e-6).all()), (latent_index, frame)


def test_identity_sampling_gives_each_frame_back_and_padding_is_dropped():
    frames = 18  # padded to 21 for the VAE, 18 come back
    (_, (seg,)), backend = run(frames, IdentityVideoBackend())
    assert backend.decode_sizes == [(1, 4, 6, *backend.decode_sizes[0][-2:])]
    assert seg.cropped_image.shape[0] == frames
    assert torch.isfinite(seg.cropped_image).all()


def test_same_seed_same_output_and_pixels_outside_the_masks_unchanged():
    first, _ = run(17, seed=5)
    again, _ = run(17, seed=5)
    other, _ = run(17, seed=6)
    assert torch.equal(first[1][0].cropped_image, again[1][0].cropped_image)
    assert not torch.equal(first[1][0].cropped_image, other[1][0].cropped_image)
    frames = clip(17)
    pasted = paste_segs(frames, first, 4)
    outside = torch.ones(17, HEIGHT, WIDTH, dtype=torch.bool)
    outside[:, 8:88, 16:112] = moving_seg(17).cropped_mask == 0
    assert torch.equal(pasted[outside], frames[outside])
    assert not torch.equal(pasted, frames)


def test_context_windows_cut_latent_frames_and_anchor_each_later_window_on_the_frame_before():
    backend = FakeVideoBackend(context_length=4, context_overlap=1)  # in latent frames here
    (_, (seg,)), _ = run(33, backend)  # 9 latent frames
    windows = context_windows(9, 4, 1)
    assert windows == [range(0, 4), range(3, 7), range(5, 9)]
    lengths = [call["latent"][2] for call in backend.sample_calls]
    assert lengths == [4, 5, 5], "windows after the first carry one anchor frame before them"
    assert seg.cropped_image.shape[0] == 33 and torch.isfinite(seg.cropped_image).all()


def test_a_windowed_identity_pass_equals_the_whole_clip():
    whole, _ = run(33, IdentityVideoBackend())
    windowed, _ = run(33, IdentityVideoBackend(context_length=4, context_overlap=2))
    assert torch.allclose(whole[1][0].cropped_image, windowed[1][0].cropped_image, atol=1e-6)


def test_a_vae_whose_frame_formulas_decode_no_count_whole_is_an_error_naming_the_pipe():
    odd = LatentLayout(latent_frames=lambda frames: 1, pixel_frames=lambda latents: 1000)
    with pytest.raises(ValueError, match="basic_pipe: the VAE decodes no frame count between 17 and 81 whole.*use the VAE"):
        odd.encoded_frame_count(17)


def test_a_model_reading_its_timestep_from_the_mask_per_frame_gets_frame_uniform_masks():
    """Wan 2.2 TI2V 5B averages the noise mask over each latent frame into that frame's timestep: the
    detailer hands such a model masks of 1 over the whole crop in frames holding the SEG, 0 elsewhere."""
    frames = 9
    seg = moving_seg(frames)
    mask = seg.cropped_mask.clone()
    mask[5:] = 0.0  # the subject leaves after frame 4: latent frames 2 (5-8) hold nothing
    settings = DetailSettings(guide_size=100, guide_for_bbox=True, max_size=200, seed=1)
    for uniform in (False, True):
        backend = FakeVideoBackend(frame_uniform_noise_mask=uniform)
        detail_segs(clip(frames), ((HEIGHT, WIDTH), [seg._replace(cropped_mask=mask)]), settings, CONDS, backend)
        (call,) = backend.sample_calls
        per_frame = call["mask"].flatten(1)
        if uniform:
            assert per_frame[:2].min() == 1.0 and per_frame[2].max() == 0.0
        else:
            assert 0.0 < float(per_frame[0].mean()) < 1.0, "a plain model keeps the SEG's own mask"
