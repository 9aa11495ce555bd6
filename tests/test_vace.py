"""VACE control cut per SEG and per frame, against a fake video backend."""

from __future__ import annotations

import pytest
import torch
from fakes import FakeBackend, FakeVideoBackend, IdentityVideoBackend

from animatediff_detailer.core.conditioning import Conditionings
from animatediff_detailer.core.enhance import DetailSettings, detail_segs
from animatediff_detailer.core.segs import SEG
from animatediff_detailer.core.vace import fold_mask, unfold_mask

FRAMES, HEIGHT, WIDTH = 17, 64, 96
REGION = (16, 8, 80, 56)  # on the 8-pixel grid: the fake VAE's round trip of the frames is exact there


def block_clip(frames: int = FRAMES) -> torch.Tensor:
    """A clip constant on 8x8 blocks and within each latent frame's group of frames (0, 1-4, 5-8,
    ...), so the fake video VAE decodes exactly what it encoded."""
    generator = torch.Generator().manual_seed(3)
    groups = [0] + [1 + (i - 1) // 4 for i in range(1, frames)]
    blocks = torch.rand(max(groups) + 1, HEIGHT // 8, WIDTH // 8, 3, generator=generator)
    per_frame = blocks[torch.tensor(groups)]
    return per_frame.repeat_interleave(8, dim=1).repeat_interleave(8, dim=2)


def seg(frames: int = FRAMES) -> SEG:
    x1, y1, x2, y2 = REGION
    mask = torch.zeros(frames, y2 - y1, x2 - x1)
    mask[:, 8:40, 8:56] = 1.0
    return SEG(None, mask, 0.9, REGION, (24, 16, 72, 48), "face")


def vace_conditioning(backend, control: torch.Tensor, masks: torch.Tensor, reference: torch.Tensor | None = None):
    """A conditioning as ComfyUI's WanVaceToVideo builds it, encoded with ``backend``'s VAE."""
    centred = control - 0.5
    inactive = backend.encode(centred * (1 - masks.unsqueeze(-1)) + 0.5)
    reactive = backend.encode(centred * masks.unsqueeze(-1) + 0.5)
    frames = torch.cat([inactive, reactive], dim=1)
    folded = fold_mask(masks, 8, frames.shape[2])
    if reference is not None:
        ref = backend.encode(reference)
        frames = torch.cat([torch.cat([ref, torch.full_like(ref, 0.25)], dim=1), frames], dim=2)
        folded = torch.cat([torch.zeros_like(folded[:, :, :1]), folded], dim=2)
    options = {"vace_frames": [frames], "vace_mask": [folded], "vace_strength": [1.0]}
    return [[torch.zeros(1, 4, 8), options]]


def run(backend, conditioning, frames=None, crop_mode="union", negative=None):
    frames = block_clip() if frames is None else frames
    settings = DetailSettings(guide_size=64, guide_for_bbox=False, max_size=64, seed=2, crop_mode=crop_mode)
    conds = Conditionings(conditioning, negative or [[torch.zeros(1, 4, 8), {}]])
    return detail_segs(frames, ((HEIGHT, WIDTH), [seg(frames.shape[0])]), settings, conds, backend)


def test_fold_matches_wan_vace_to_video_and_unfold_inverts_it():
    masks = torch.rand(5, 16, 24)
    stride = 8
    # WanVaceToVideo: view(length, h, s, w, s), permute(2, 4, 0, 1, 3), reshape(s*s, length, h, w)
    expected = masks.view(5, 2, stride, 3, stride).permute(2, 4, 0, 1, 3).reshape(stride * stride, 5, 2, 3)
    folded = fold_mask(masks, stride, 5)
    assert torch.equal(folded[0], expected)
    assert torch.equal(unfold_mask(folded[0]), masks)


def test_the_control_video_is_cut_at_the_crop_and_lines_up_with_it():
    backend = IdentityVideoBackend()
    clip = block_clip()
    (_, (refined,)), _ = run(backend, vace_conditioning(backend, clip, torch.zeros(FRAMES, HEIGHT, WIDTH)), clip)
    (call,) = backend.sample_calls
    _, _, latent_frames, latent_h, latent_w = call["latent"]
    (vace_frames,) = call["conditionings"].positive[0][1]["vace_frames"]
    (vace_mask,) = call["conditionings"].positive[0][1]["vace_mask"]
    assert vace_frames.shape == (1, 8, latent_frames, latent_h, latent_w)
    assert vace_mask.shape == (1, 64, latent_frames, latent_h, latent_w)
    # The control is the clip itself with an empty mask: the first half of the cut control is the
    # crop's own latent, the second half the neutral 0.5, and the mask stays empty.
    assert torch.allclose(vace_frames[:, :4], backend_latent_of_crop(backend, clip), atol=1e-5)
    assert torch.allclose(vace_frames[:, 4:7], torch.full_like(vace_frames[:, 4:7], 0.5), atol=1e-6)
    assert float(vace_mask.abs().max()) == 0.0
    assert refined.cropped_image.shape == (FRAMES, 48, 64, 3)


def test_a_control_shared_by_positive_and_negative_is_cut_once_per_seg():
    """WanVaceToVideo gives the positive and the negative the same control: both get the same cut,
    and the VAE encodes it once (inactive and reactive halves), not once per conditioning."""
    backend = IdentityVideoBackend()
    clip = block_clip()
    positive = vace_conditioning(backend, clip, torch.zeros(FRAMES, HEIGHT, WIDTH))
    negative = [[torch.zeros(1, 4, 8), positive[0][1]]]
    backend.encode_sizes.clear()
    run(backend, positive, clip, negative=negative)
    (call,) = backend.sample_calls
    cut_positive = call["conditionings"].positive[0][1]["vace_frames"][0]
    cut_negative = call["conditionings"].negative[0][1]["vace_frames"][0]
    assert cut_negative is cut_positive
    crop_encodes = [size for size in backend.encode_sizes if size[1:3] == (48, 64)]
    assert len(crop_encodes) == 3, f"the crop and the control's two halves, each once: {backend.encode_sizes}"


def backend_latent_of_crop(backend, clip: torch.Tensor) -> torch.Tensor:
    """What the detail pass encodes for the SEG's crop: the union crop at its sampling size (64x48)."""
    from animatediff_detailer.core.images import resize_frames

    x1, y1, x2, y2 = REGION
    return backend.encode(resize_frames(clip[:, y1:y2, x1:x2], 48, 64))


@pytest.mark.parametrize("crop_mode", ["union", "tracked"])
def test_the_control_mask_is_cut_per_frame_at_the_crop_windows(crop_mode):
    backend = FakeVideoBackend()
    masks = torch.zeros(FRAMES, HEIGHT, WIDTH)
    masks[:, 16:40, 24:64] = 1.0  # the control mask: a box inside the SEG's crop
    run(backend, vace_conditioning(backend, block_clip(), masks), crop_mode=crop_mode)
    (vace_mask,) = backend.sample_calls[0]["conditionings"].positive[0][1]["vace_mask"]
    pixel = unfold_mask(vace_mask[0])  # [T, H_s, W_s] at the sampling size
    # crop (16, 8)-(80, 56) sampled at 64x48: the box is at x 8..48, y 8..32 of the crop, scale 1
    assert float(pixel[:, 8:32, 8:48].min()) == 1.0
    assert float(pixel[:, :, :8].max()) == 0.0 and float(pixel[:, 32:, :].max()) == 0.0


def test_a_reference_image_leads_the_latent_and_is_dropped_after_sampling():
    backend = FakeVideoBackend()
    reference = torch.full((1, HEIGHT, WIDTH, 3), 0.8)
    (_, (refined,)), _ = run(backend, vace_conditioning(backend, block_clip(), torch.zeros(FRAMES, HEIGHT, WIDTH), reference))
    (call,) = backend.sample_calls
    (vace_frames,) = call["conditionings"].positive[0][1]["vace_frames"]
    assert call["latent"][2] == 6 and vace_frames.shape[2] == 6, "5 latent frames of the clip after 1 of the reference"
    assert float(call["mask"][0].min()) == 1.0, "the reference frame is fully denoised"
    assert torch.allclose(vace_frames[:, :3, 0], torch.full_like(vace_frames[:, :3, 0], 0.8), atol=1e-6)
    assert torch.allclose(vace_frames[:, 4:8, 0], torch.full_like(vace_frames[:, 4:8, 0], 0.25)), "the second half is kept"
    assert refined.cropped_image.shape[0] == FRAMES


def test_a_vace_conditioning_for_another_clip_length_is_an_error_naming_the_fix():
    backend = FakeVideoBackend()
    short = vace_conditioning(backend, block_clip(9), torch.zeros(9, HEIGHT, WIDTH))
    with pytest.raises(ValueError, match="WanVaceToVideo's width, height and length"):
        run(backend, short)


def test_vace_with_an_image_vae_is_an_error():
    video = FakeVideoBackend()
    conditioning = vace_conditioning(video, block_clip(), torch.zeros(FRAMES, HEIGHT, WIDTH))
    with pytest.raises(ValueError, match="image VAE"):
        run(FakeBackend(), conditioning)
