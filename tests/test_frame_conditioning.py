"""Conditioning laid over the frame or the clip, cut to each SEG (core/frame_conditioning.py), driven
through the detail pass with fake image and video backends.

The conditionings are built as ComfyUI 0.29's nodes build them (WanImageToVideo, WanFirstLastFrameToVideo,
WanFunControlToVideo, WanCameraImageToVideo, WanPhantomSubjectToVideo, InpaintModelConditioning), with the
fake VAEs, whose round trip is exact for clips constant on 8x8 blocks and within each latent frame's group.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from fakes import FakeVideoBackend, IdentityBackend, IdentityVideoBackend

from animatediff_detailer.core.conditioning import Conditionings
from animatediff_detailer.core.crop_windows import CropWindows
from animatediff_detailer.core.enhance import DetailSettings, detail_segs
from animatediff_detailer.core.frame_conditioning import RULES, conditioning_for_window, documented_rules, rule_for
from animatediff_detailer.core.segs import SEG

FRAMES, HEIGHT, WIDTH = 17, 64, 96
REGION = (16, 8, 80, 56)  # on the 8-pixel grid; sampled at its own size (64x48)
TEXT = torch.zeros(1, 4, 8)
DOCS = Path(__file__).resolve().parent.parent / "docs" / "CONDITIONING.md"


def block_clip(frames: int = FRAMES, seed: int = 3) -> torch.Tensor:
    """A clip constant on 8x8 blocks and within each latent frame's group (0, 1-4, 5-8, ...)."""
    generator = torch.Generator().manual_seed(seed)
    groups = [0] + [1 + (i - 1) // 4 for i in range(1, frames)]
    blocks = torch.rand(max(groups) + 1, HEIGHT // 8, WIDTH // 8, 3, generator=generator)
    return blocks[torch.tensor(groups)].repeat_interleave(8, dim=1).repeat_interleave(8, dim=2)


def seg(frames: int = FRAMES) -> SEG:
    x1, y1, x2, y2 = REGION
    mask = torch.zeros(frames, y2 - y1, x2 - x1)
    mask[:, 8:40, 8:56] = 1.0
    return SEG(None, mask, 0.9, REGION, (24, 16, 72, 48), "face")


def run(backend, options: dict, frames: torch.Tensor | None = None, negative: dict | None = None):
    frames = block_clip() if frames is None else frames
    settings = DetailSettings(guide_size=48, guide_for_bbox=False, max_size=64, seed=2)
    conds = Conditionings([[TEXT, options]], [[TEXT, negative if negative is not None else {}]])
    return detail_segs(frames, ((HEIGHT, WIDTH), [seg(frames.shape[0])]), settings, conds, backend)


def sampled_options(backend) -> dict:
    (call,) = backend.sample_calls
    return call["conditionings"].positive[0][1]


def crop(clip: torch.Tensor) -> torch.Tensor:
    x1, y1, x2, y2 = REGION
    return clip[:, y1:y2, x1:x2]


def wan_image_to_video(backend, start: torch.Tensor, length: int = FRAMES) -> dict:
    """WanImageToVideo: the start frames then grey over the clip, encoded; mask 0 on their latent frames."""
    image = torch.full((length, HEIGHT, WIDTH, 3), 0.5)
    image[: start.shape[0]] = start
    latent = backend.encode(image)
    mask = torch.ones(1, 1, latent.shape[2], HEIGHT // 8, WIDTH // 8)
    mask[:, :, : ((start.shape[0] - 1) // 4) + 1] = 0.0
    return {"concat_latent_image": latent, "concat_mask": mask}


def test_image_to_video_latent_and_mask_reach_the_model_cut_to_the_seg():
    backend = IdentityVideoBackend()
    clip = block_clip()
    run(backend, wan_image_to_video(backend, clip[:1]), clip)
    options = sampled_options(backend)
    latent_shape = backend.sample_calls[0]["latent"]
    assert tuple(options["concat_latent_image"].shape) == tuple(latent_shape)
    # what WanImageToVideo makes of the cut clip: the start frame's crop, then grey
    cut_start = torch.full((FRAMES, 48, 64, 3), 0.5)
    cut_start[0] = crop(clip)[0]
    assert torch.allclose(options["concat_latent_image"], backend.encode(cut_start), atol=1e-5)
    assert tuple(options["concat_mask"].shape) == (1, 1, latent_shape[2], 6, 8)
    assert float(options["concat_mask"][:, :, 0].max()) == 0.0 and float(options["concat_mask"][:, :, 1:].min()) == 1.0


def test_four_channel_masks_are_cut_slot_by_slot_at_their_frames_windows():
    """A first-last-frame mask [1, 4, T, h, w]: slot j of latent frame k is a pixel frame of its group.
    With a crop that moves by 8 px per frame, each slot's cut is its own frame's window."""
    backend = IdentityVideoBackend()
    latent_frames = (FRAMES + 3) // 4
    column = torch.zeros(HEIGHT // 8, WIDTH // 8)
    column[:, 6] = 1.0  # x = 48..56 in frame pixels
    mask = column.expand(1, 4, latent_frames, *column.shape).clone()
    windows = CropWindows(torch.tensor([[8 * (f % 3), 8] for f in range(FRAMES)]), 64, 48)
    from animatediff_detailer.core.frame_conditioning import FrameConditioning
    from animatediff_detailer.core.frame_rules import Clip, SegCut
    from animatediff_detailer.core.geometry import SamplingSize

    cutter = FrameConditioning(Clip(FRAMES, HEIGHT, WIDTH, backend.layout), None, None)
    cut, _ = cutter.cut(Conditionings([[TEXT, {"concat_mask": mask}]], None), SegCut(windows, SamplingSize(64, 48, 1.0)))
    result = cut.positive[0][1]["concat_mask"]
    assert result.shape == (1, 4, latent_frames, 6, 8)
    slots = Clip(FRAMES, HEIGHT, WIDTH, backend.layout).slots(latent_frames, 4)
    for k in range(latent_frames):
        for j in range(4):
            frame = int(slots[k, j])
            expected_column = 6 - (frame % 3)  # the window moved right by 8 px per frame
            plane = result[0, j, k]
            assert int(plane.sum(dim=0).argmax()) == expected_column, (k, j, frame)
    assert slots[0].tolist() == [0, 0, 0, 0] and slots[1].tolist() == [1, 2, 3, 4]


def test_a_placeholder_latent_is_rebuilt_without_the_vae():
    """WanFunControlToVideo: the control video's latent, then the start image's slot filled with the
    latent format's zero (one value per channel): that half is rebuilt at the crop size, not decoded."""
    backend = IdentityVideoBackend()
    clip = block_clip()
    control = backend.encode(clip)
    placeholder = torch.full_like(control, 0.3)
    options = {"concat_latent_image": torch.cat([control, placeholder], dim=1)}
    run(backend, options, clip)
    cut = sampled_options(backend)["concat_latent_image"]
    latent_shape = backend.sample_calls[0]["latent"]
    assert cut.shape == (1, 8, *latent_shape[2:])
    assert torch.equal(cut[:, 4:], torch.full_like(cut[:, 4:], 0.3))
    assert torch.allclose(cut[:, :4], backend.encode(crop(clip)), atol=1e-5)
    decoded = [size for size in backend.decode_sizes if size[1] == 4 and size[-2:] == (8, 12)]
    assert len(decoded) == 1, f"only the control half is decoded: {backend.decode_sizes}"


def test_a_start_image_latent_shorter_than_the_clip_covers_its_first_frames():
    """HunyuanImageToVideo (concat) and Kandinsky5 encode only the start frames: the cut keeps their count."""
    backend = IdentityVideoBackend()
    clip = block_clip()
    start = backend.encode(clip[:5])  # 2 latent frames
    run(backend, {"time_dim_replace": start}, clip)
    cut = sampled_options(backend)["time_dim_replace"]
    assert cut.shape[2] == 2 and cut.shape[-2:] == (6, 8)
    assert torch.allclose(cut, backend.encode(crop(clip)[:5]), atol=1e-5)


def test_camera_rays_are_cut_per_slot_and_scaled_to_the_sampling_size():
    """WanCameraImageToVideo's rays [1, 6*4, T, H, W] (channel 4*m + slot): each slot at its frame's window."""
    backend = IdentityVideoBackend()
    latent_frames = (FRAMES + 3) // 4
    rays = torch.arange(WIDTH, dtype=torch.float32).expand(1, 24, latent_frames, HEIGHT, WIDTH).clone()
    run(backend, {"camera_conditions": rays})
    cut = sampled_options(backend)["camera_conditions"]
    assert cut.shape == (1, 24, latent_frames, 48, 64)
    x1 = REGION[0]
    assert torch.allclose(cut[0, :, :, 0, 0], torch.full((24, latent_frames), float(x1)), atol=0.6)


def test_reference_latents_are_fitted_whole_and_image_references_pass():
    backend = IdentityVideoBackend()
    reference = backend.encode(torch.full((1, HEIGHT, WIDTH, 3), 0.7))  # [1, 4, 1, 8, 12]
    image_reference = torch.randn(1, 4, 8, 12)
    run(backend, {"reference_latents": [reference, image_reference], "time_dim_concat": reference})
    options = sampled_options(backend)
    fitted, kept = options["reference_latents"]
    assert fitted.shape == (1, 4, 1, 6, 8) and torch.allclose(fitted[:, :3], torch.full_like(fitted[:, :3], 0.7), atol=1e-5)
    assert kept is image_reference
    assert options["time_dim_concat"].shape == (1, 4, 1, 6, 8)


def test_an_image_models_inpaint_conditioning_is_cut_per_frame():
    """InpaintModelConditioning with an image VAE: one latent for every frame and a pixel-sized mask,
    cut at the union crop once for all frames."""
    backend = IdentityBackend()
    clip = block_clip(4)
    latent = backend.encode(clip[:1])
    mask = torch.zeros(1, 1, HEIGHT, WIDTH)
    mask[..., REGION[1] : REGION[1] + 8, :] = 1.0
    run(backend, {"concat_latent_image": latent, "concat_mask": mask}, clip)
    options = backend.sample_calls[0]["conditionings"].positive[0][1]
    assert options["concat_latent_image"].shape == (1, 4, 6, 8), "one image, one fixed window: cut and encoded once"
    assert torch.allclose(options["concat_latent_image"], backend.encode(crop(clip)[:1]), atol=1e-5)
    assert options["concat_mask"].shape == (1, 1, 48, 64)
    assert float(options["concat_mask"][:, :, :8].min()) == 1.0 and float(options["concat_mask"][:, :, 8:].max()) == 0.0


def test_chunks_of_an_image_model_get_their_frames_latents():
    backend = IdentityBackend(context_length=2, context_overlap=0)
    clip = block_clip(4)
    latent = backend.encode(clip)  # one per frame
    run(backend, {"concat_latent_image": latent}, clip)
    assert [tuple(c["conditionings"].positive[0][1]["concat_latent_image"].shape) for c in backend.sample_calls] == \
        [(2, 4, 6, 8), (2, 4, 6, 8)]


def test_a_shared_tensor_is_cut_once_per_seg():
    backend = IdentityVideoBackend()
    options = wan_image_to_video(backend, block_clip()[:1])
    backend.encode_sizes.clear()
    run(backend, options, negative=options)
    (call,) = backend.sample_calls
    assert call["conditionings"].negative[0][1]["concat_latent_image"] is call["conditionings"].positive[0][1]["concat_latent_image"]
    crop_encodes = [size for size in backend.encode_sizes if size[1:3] == (48, 64)]
    assert len(crop_encodes) == 2, f"the crops and the start-image latent, each once: {backend.encode_sizes}"


def test_an_unknown_entry_laid_over_the_frame_is_refused_before_any_model_work():
    backend = FakeVideoBackend()
    options = {"some_new_video_latent": torch.zeros(1, 16, 5, HEIGHT // 8, WIDTH // 8)}
    with pytest.raises(ValueError, match="'some_new_video_latent'.*no rule to cut") as error:
        run(backend, options)
    assert "docs/CONDITIONING.md" in str(error.value)
    assert not backend.encode_sizes and not backend.sample_calls


def test_an_unknown_entry_of_another_size_passes():
    backend = IdentityVideoBackend()
    features = torch.randn(1, 7, 1280)
    run(backend, {"some_embedding": features})
    assert sampled_options(backend)["some_embedding"] is features


def test_refused_entries_name_the_fix_and_none_passes():
    backend = FakeVideoBackend()
    with pytest.raises(ValueError, match="keyframe_idxs.*LTXVCropGuides"):
        run(backend, {"keyframe_idxs": torch.zeros(1, 3, 4, 2)})
    run(IdentityVideoBackend(), {"keyframe_idxs": None, "guide_attention_entries": None})


@pytest.mark.parametrize("options, message", [
    ({"concat_latent_image": torch.zeros(1, 4, 5, 4, 6)}, "made for 48x32 frames but image_frames are 96x64"),
    ({"concat_latent_image": torch.zeros(1, 4, 9, 8, 12)}, "covers 9 latent frames but image_frames \\(17 frames\\) makes 5"),
    ({"concat_latent_image": torch.zeros(1, 6, 5, 8, 12)}, "6 channels, not a stack"),
    ({"concat_mask": torch.zeros(1, 3, 5, 8, 12)}, "3 channels per latent frame"),
    ({"camera_conditions": torch.zeros(1, 24, 4, HEIGHT, WIDTH)}, "covers 4 latent frames"),
])
def test_entries_made_for_another_clip_are_errors_naming_the_fix(options, message):
    backend = FakeVideoBackend()
    with pytest.raises(ValueError, match=message) as error:
        run(backend, options)
    assert "basic_pipe" in str(error.value)
    assert not backend.sample_calls


def test_windows_cut_latents_and_masks_by_latent_frames():
    latent = torch.arange(5.0).view(1, 1, 5, 1, 1).expand(1, 4, 5, 2, 2)
    mask = torch.arange(5.0).view(1, 1, 5, 1, 1).expand(1, 4, 5, 2, 2)
    conditioning = [[TEXT, {"concat_latent_image": latent, "concat_mask": mask, "clip_vision_output": "kept"}]]
    (entry,) = conditioning_for_window(conditioning, range(4, 13), 17, None, range(1, 4))
    assert entry[1]["concat_latent_image"][0, 0, :, 0, 0].tolist() == [1.0, 2.0, 3.0]
    assert entry[1]["concat_mask"][0, 0, :, 0, 0].tolist() == [1.0, 2.0, 3.0]
    assert entry[1]["clip_vision_output"] == "kept"


def test_audio_features_cannot_be_cut_by_the_detailers_windows():
    conditioning = [[TEXT, {"audio_embed": torch.zeros(1, 5, 8, 5, 1280)}]]
    with pytest.raises(ValueError, match="audio_embed.*Context Windows node"):
        conditioning_for_window(conditioning, range(0, 9), 17, None, range(0, 3))


def test_every_key_has_one_rule():
    keys = [key for rule in RULES for key in rule.keys]
    assert len(keys) == len(set(keys))
    assert rule_for("concat_latent_image") is not None and rule_for("not_a_key") is None


def test_the_docs_list_every_key_and_its_rule():
    """docs/CONDITIONING.md's table has one row per key with its rule's words and nodes."""
    text = DOCS.read_text()
    rows = {match.group(1): match.group(0) for match in re.finditer(r"^\| `([a-z0-9_]+)` \|.*$", text, re.MULTILINE)}
    for key, laid, nodes in documented_rules():
        assert key in rows, f"docs/CONDITIONING.md has no row for '{key}'"
        assert laid in rows[key], f"the row of '{key}' does not say '{laid}'"
        if nodes:
            assert nodes in rows[key], f"the row of '{key}' does not name {nodes}"


class FakeControlNet:
    """The parts of a ComfyUI ControlNet the cut reads: copy(), the hint as given, the chain."""

    def __init__(self, hint: torch.Tensor, previous=None) -> None:
        self.cond_hint_original, self.previous_controlnet, self.cond_hint = hint, previous, "prepared"

    def copy(self):
        return FakeControlNet(self.cond_hint_original, self.previous_controlnet)


def test_a_controlnet_of_the_pipe_gets_its_hints_cut_per_frame():
    """ControlNetApplyAdvanced on the pipe's conditioning: every link's frame hint [1|F, 3, H, W] is cut at
    the SEG's crop, one per frame, in a copy of the chain."""
    backend = IdentityBackend()
    clip = block_clip(3)
    first = FakeControlNet(clip[:1].movedim(-1, 1))
    second = FakeControlNet(clip.movedim(-1, 1), previous=first)
    run(backend, {"control": second}, clip)
    control = backend.sample_calls[0]["conditionings"].positive[0][1]["control"]
    assert control is not second and control.cond_hint is None
    assert torch.allclose(control.cond_hint_original, crop(clip).movedim(-1, 1))
    assert control.previous_controlnet.cond_hint_original.shape == (3, 3, 48, 64)
    assert torch.allclose(control.previous_controlnet.cond_hint_original[2], crop(clip)[0].movedim(-1, 0))
    assert second.cond_hint_original.shape == (3, 3, HEIGHT, WIDTH), "the pipe's own chain is untouched"
