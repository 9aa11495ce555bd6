"""Native video models inside a real ComfyUI 0.29: the tiny Wan 2.1 and 2.2 diffusion models
and the tiny Wan 2.1 and LTX-Video VAEs of ``tools/tiny_video_models.py`` (with ``ADT_SLOW=1``
also its full-width Wan 2.2 VAE).

ComfyUI's ``UNETLoader`` and ``VAELoader`` list and load the files and build the intended
models from them (each Wan kind as its supported_models and model_base class, with its
channels and flags: T2V, its second expert, VACE, I2V, first-last-frame, Fun Control 2.1 and
2.2, camera, TI2V 5B; the VAEs; every tensor of a file used and none missing; the loader
nodes are called directly there, to look at the models they return). Graphs of ComfyUI's own
nodes then run through the engine: the VAE round trip keeps ``1 + 4k`` frames (``1 + 8k`` for
LTX-Video) and drops the rest; ``EmptyHunyuanLatentVideo`` + ``KSampler`` + ``VAEDecode``
gives finite output that a seed decides; ``WanImageToVideo`` (start image, CLIP-vision
output) conditions the I2V model; the two T2V experts differ in weights and hand over in one
graph; ``WanVaceToVideo`` feeds the VACE blocks (strength 1 and 0 differ); a per-frame pixel
mask on a 5-D latent is mapped to latent time by trilinear interpolation. The text encoder
(umT5-XXL) and CLIP-H vision cannot be shrunk, so the fixture pack's ``TestTextConditioning``
and ``TestClipVisionOutput`` stand in for them. Sizes stay tiny: 32-64 px, 9-20 frames, 2 steps.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch

from comfy_harness import SLOW_ENV, Graph, slow_tests_enabled

OUT = Graph.out
STEPS = 2
CFG = 4.0


def _text_conditioning(graph: Graph, seed: int) -> str:
    return graph.add("TestTextConditioning", seed=seed, tokens=8, dim=4096, scale=0.1)


def _sampling_graph(names: dict[str, str], *, seed: int, frames: int = 9,
                    size: int = 64) -> tuple[Graph, dict[str, str]]:
    """UNETLoader (Wan T2V) + text conditioning + EmptyHunyuanLatentVideo + KSampler + VAEDecode."""
    graph = Graph()
    ids = {
        "model": graph.add("UNETLoader", unet_name=names["wan"], weight_dtype="default"),
        "vae": graph.add("VAELoader", vae_name=names["wan_vae"]),
        "positive": _text_conditioning(graph, 1),
        "negative": _text_conditioning(graph, 2),
        "latent": graph.add("EmptyHunyuanLatentVideo", width=size, height=size, length=frames, batch_size=1),
    }
    ids["sampler"] = graph.add("KSampler", model=OUT(ids["model"]), seed=seed, steps=STEPS, cfg=CFG,
                               sampler_name="euler", scheduler="simple", positive=OUT(ids["positive"]),
                               negative=OUT(ids["negative"]), latent_image=OUT(ids["latent"]), denoise=1.0)
    ids["decode"] = graph.add("VAEDecode", samples=OUT(ids["sampler"]), vae=OUT(ids["vae"]))
    graph.add("TestSink", images=OUT(ids["decode"]))
    return graph, ids


def _file_tensors(path: str) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        return {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}


def _assert_same_tensors(path: str, module: torch.nn.Module) -> None:
    """Every tensor of the file is a parameter or buffer of ComfyUI's module, with its shape, and vice versa."""
    in_file = _file_tensors(path)
    in_model = {key: tuple(value.shape) for key, value in module.state_dict().items()}
    assert sorted(set(in_model) - set(in_file)) == [], "ComfyUI's module has tensors the file lacks"
    assert sorted(set(in_file) - set(in_model)) == [], "the file has tensors ComfyUI's module does not use"
    assert {k: v for k, v in in_file.items() if in_model[k] != v} == {}


def _video_latent(result, node_id: str) -> torch.Tensor:
    return result.output(node_id)["samples"]


def _model_file(kind: str, names: dict[str, str]) -> str:
    """The file ComfyUI serves for the video model ``kind`` (a link into the models' cache)."""
    import folder_paths
    import tiny_video_models as tvm

    return folder_paths.get_full_path_or_raise(tvm.MODEL_FOLDERS[kind], names[kind])


SLOW = pytest.mark.skipif(not slow_tests_enabled(), reason=f"full-width Wan 2.2 VAE (1.4 GB): set {SLOW_ENV}=1")


# --- loaders ---------------------------------------------------------------------------------


def test_loaders_list_the_tiny_video_models(comfy, video_model_names, tiny_video_models):
    import tiny_video_models as tvm

    listed = {"diffusion_models": comfy.node_class("UNETLoader").INPUT_TYPES()["required"]["unet_name"][0],
              "vae": comfy.node_class("VAELoader").INPUT_TYPES()["required"]["vae_name"][0]}
    assert set(tiny_video_models) == set(tvm.FAST_KINDS)
    for kind in tiny_video_models:
        folder = tvm.MODEL_FOLDERS[kind]
        assert video_model_names[kind] in comfy.list_models(folder) and video_model_names[kind] in listed[folder]
    assert (video_model_names["wan22_vae"] in listed["vae"]) == slow_tests_enabled()  # served by the slow tier only


class WanExpected(NamedTuple):
    """What ComfyUI should build from a tiny Wan file: classes (by name), channels, flags, extras."""

    config: str  # comfy.supported_models class
    base: str  # comfy.model_base class
    in_dim: int
    out_dim: int
    image_to_video: bool = False
    image_branch: bool = False  # img_emb and the i2v cross-attention (net.model_type "i2v")
    flf_tokens: int | None = None  # img_emb.emb_pos positions
    ref_conv_in: int | None = None
    camera: bool = False
    vace: bool = False


WAN_EXPECTED = {
    "wan": WanExpected("WAN21_T2V", "WAN21", 16, 16),
    "wan_low_noise": WanExpected("WAN21_T2V", "WAN21", 16, 16),
    "vace": WanExpected("WAN21_Vace", "WAN21_Vace", 16, 16, vace=True),
    "wan_i2v": WanExpected("WAN21_I2V", "WAN21", 36, 16, image_to_video=True, image_branch=True),
    "wan_flf": WanExpected("WAN21_I2V", "WAN21", 36, 16, image_to_video=True, image_branch=True, flf_tokens=514),
    "wan_fun_control": WanExpected("WAN21_FunControl2V", "WAN21", 48, 16, image_branch=True),
    "wan_camera": WanExpected("WAN21_Camera", "WAN21_Camera", 32, 16, image_branch=True, camera=True),
    "wan22_ti2v": WanExpected("WAN22_T2V", "WAN22", 48, 48, image_to_video=True),
    "wan22_fun_control": WanExpected("WAN21_T2V", "WAN21", 52, 16, ref_conv_in=16),
}


@pytest.mark.parametrize("kind", list(WAN_EXPECTED))
def test_unet_loader_builds_the_intended_wan_model_from_the_file(comfy, video_model_names, tiny_video_models, kind,
                                                                 report):
    import tiny_video_models as tvm
    from comfy import latent_formats, model_base, supported_models  # not "import comfy.x": would hide the fixture

    expected = WAN_EXPECTED[kind]
    (patcher,) = comfy.node_class("UNETLoader")().load_unet(video_model_names[kind], "default")
    model = patcher.model
    assert type(model) is getattr(model_base, expected.base)
    assert type(model.model_config) is getattr(supported_models, expected.config)
    assert model.model_type == model_base.ModelType.FLOW and model.image_to_video == expected.image_to_video
    latent_format = latent_formats.Wan22 if expected.out_dim == 48 else latent_formats.Wan21
    assert type(model.latent_format) is latent_format and model.latent_format.latent_channels == expected.out_dim
    net = model.diffusion_model
    assert (net.dim, net.num_heads, net.num_layers, net.ffn_dim) == (tvm.WAN_DIM, 1, tvm.WAN_LAYERS, tvm.WAN_FFN_DIM)
    assert (net.in_dim, net.out_dim, net.text_dim, tuple(net.patch_size)) == (expected.in_dim, expected.out_dim, 4096,
                                                                              (1, 2, 2))
    assert net.model_type == ("i2v" if expected.image_branch else "t2v")
    assert (net.img_emb is not None) == expected.image_branch  # the CLIP-vision branch
    cross_attention = type(net.blocks[0].cross_attn).__name__
    assert cross_attention == ("WanI2VCrossAttention" if expected.image_branch else "WanT2VCrossAttention")
    if expected.image_branch:
        emb_pos = net.img_emb.emb_pos
        assert (None if emb_pos is None else tuple(emb_pos.shape)) == (
            None if expected.flf_tokens is None else (1, expected.flf_tokens, 1280))
    assert (None if net.ref_conv is None else net.ref_conv.in_channels) == expected.ref_conv_in
    assert (type(net).__name__ == "CameraWanModel") == expected.camera
    if expected.camera:
        assert net.control_adapter.conv.in_channels == 24 * 8 * 8  # Plücker channels, 8x pixel unshuffle
    if expected.vace:
        assert (net.vace_in_dim, net.vace_layers) == (tvm.VACE_IN_DIM, tvm.VACE_LAYERS)
    _assert_same_tensors(tiny_video_models[kind], net)
    report["measurements"].append(f"UNETLoader {kind}: {type(model).__name__} ({type(model.model_config).__name__}), "
                                  f"in/out {net.in_dim}/{net.out_dim}, image_to_video {model.image_to_video}, "
                                  f"{sum(p.numel() for p in net.parameters()):,} parameters, dtype {model.get_dtype()}")


@pytest.mark.parametrize("kind, module, channels, spatial, temporal", [
    ("wan_vae", "comfy.ldm.wan.vae", 16, 8, 4),
    ("ltxv_vae", "comfy.ldm.lightricks.vae.causal_video_autoencoder", 128, 32, 8),
    pytest.param("wan22_vae", "comfy.ldm.wan.vae2_2", 48, 16, 4, marks=SLOW),
])
def test_vae_loader_builds_the_video_vae_from_the_file(comfy, video_model_names, kind, module, channels, spatial,
                                                        temporal, report):
    (vae,) = comfy.node_class("VAELoader")().load_vae(video_model_names[kind])
    expected_class = "VideoVAE" if kind == "ltxv_vae" else "WanVAE"
    model_class = type(vae.first_stage_model)
    assert (model_class.__module__, model_class.__name__) == (module, expected_class)
    assert (vae.latent_dim, vae.latent_channels) == (3, channels)
    assert vae.spacial_compression_encode() == spatial and vae.temporal_compression_decode() == temporal
    assert vae.downscale_ratio[0](1 + 2 * temporal) == 3 and vae.upscale_ratio[0](3) == 1 + 2 * temporal
    _assert_same_tensors(_model_file(kind, video_model_names), vae.first_stage_model)
    report["measurements"].append(f"VAELoader {kind}: {model_class.__module__}.{model_class.__name__}, "
                                  f"{sum(p.numel() for p in vae.first_stage_model.parameters()):,} parameters")


# --- VAE round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("kind, frames, size, latent_frames", [
    ("wan_vae", 17, 64, 5),
    ("wan_vae", 18, 32, 5),  # not 1 + 4k: the encoder drops the frames after the last 1 + 4k
    ("wan_vae", 20, 32, 5),
    ("ltxv_vae", 17, 64, 3),
    ("ltxv_vae", 20, 64, 3),  # 1 + 8k
    pytest.param("wan22_vae", 5, 32, 2, marks=SLOW),  # latent [1, 48, 2, 2, 2]
])
def test_vae_round_trip_keeps_whole_temporal_groups(comfy, video_model_names, kind, frames, size, latent_frames,
                                                    report):
    channels, spatial, temporal = {"wan_vae": (16, 8, 4), "ltxv_vae": (128, 32, 8), "wan22_vae": (48, 16, 4)}[kind]
    graph = Graph()
    clip = graph.add("TestClipSource", frames=frames, width=size, height=size, seed=3)
    vae = graph.add("VAELoader", vae_name=video_model_names[kind])
    encode = graph.add("VAEEncode", pixels=OUT(clip), vae=OUT(vae))
    decode = graph.add("VAEDecode", samples=OUT(encode), vae=OUT(vae))
    graph.add("TestSink", images=OUT(decode))
    result = comfy.run(graph, label=f"{kind} encode+decode {frames} frames of {size}x{size}")

    latent = _video_latent(result, encode)
    assert tuple(latent.shape) == (1, channels, latent_frames, size // spatial, size // spatial)
    assert torch.isfinite(latent).all()
    images = result.output(decode)
    kept = 1 + temporal * (latent_frames - 1)
    assert tuple(images.shape) == (kept, size, size, 3)
    assert torch.isfinite(images).all() and images.min() >= 0.0 and images.max() <= 1.0
    report["measurements"].append(f"{kind}: {frames} frames {size}x{size} -> latent {list(latent.shape)} "
                                  f"-> {kept} frames ({result.seconds:.2f}s)")


# --- sampling --------------------------------------------------------------------------------


def test_wan_t2v_sampling_is_finite_and_seeded(comfy, video_model_names, report):
    graph, ids = _sampling_graph(video_model_names, seed=11)
    first = comfy.run(graph, label="Wan T2V: 9 frames 64x64, 2 steps, decode")
    again = comfy.run(graph, label="Wan T2V: same seed")
    graph.set(ids["sampler"], seed=12)
    other = comfy.run(graph, label="Wan T2V: other seed")

    latent = _video_latent(first, ids["sampler"])
    assert tuple(latent.shape) == (1, 16, 3, 8, 8) and torch.isfinite(latent).all()
    images = first.output(ids["decode"])
    assert tuple(images.shape) == (9, 64, 64, 3) and torch.isfinite(images).all()
    assert torch.equal(latent, _video_latent(again, ids["sampler"]))
    assert torch.equal(images, again.output(ids["decode"]))
    difference = float((latent - _video_latent(other, ids["sampler"])).abs().max())
    assert difference > 1e-3
    report["measurements"].append(f"Wan T2V sampling: latent std {latent.std():.3f}; "
                                  f"other seed differs by up to {difference:.3f}")


def test_wan_i2v_samples_from_wan_image_to_video(comfy, video_model_names, report):
    """ComfyUI's WanImageToVideo (start image through the tiny Wan 2.1 VAE, a CLIP-vision output)
    conditions the I2V model: 20 channels concatenated to the noise, 257 image tokens."""
    frames, size = 9, 64
    graph = Graph()
    model = graph.add("UNETLoader", unet_name=video_model_names["wan_i2v"], weight_dtype="default")
    vae = graph.add("VAELoader", vae_name=video_model_names["wan_vae"])
    clip = graph.add("TestClipSource", frames=frames, width=size, height=size, seed=13)
    start = graph.add("ImageFromBatch", image=OUT(clip), batch_index=0, length=1)
    i2v = graph.add("WanImageToVideo", positive=OUT(_text_conditioning(graph, 1)),
                    negative=OUT(_text_conditioning(graph, 2)), vae=OUT(vae), width=size, height=size, length=frames,
                    batch_size=1, clip_vision_output=OUT(graph.add("TestClipVisionOutput", seed=3, tokens=257, dim=1280,
                                                                     scale=1.0)),
                    start_image=OUT(start))
    sampler = graph.add("KSampler", model=OUT(model), seed=41, steps=STEPS, cfg=CFG, sampler_name="euler",
                        scheduler="simple", positive=OUT(i2v, 0), negative=OUT(i2v, 1), latent_image=OUT(i2v, 2),
                        denoise=1.0)
    decode = graph.add("VAEDecode", samples=OUT(sampler), vae=OUT(vae))
    graph.add("TestSink", images=OUT(decode))
    result = comfy.run(graph, label="Wan I2V: WanImageToVideo 9 frames 64x64, 2 steps, decode")

    latent_frames, cell = (frames - 1) // 4 + 1, size // 8
    for slot in (0, 1):
        (_, values), = result.output(i2v, slot)
        assert tuple(values["concat_latent_image"].shape) == (1, 16, latent_frames, cell, cell)
        mask = values["concat_mask"]
        assert tuple(mask.shape) == (1, 1, latent_frames, cell, cell)
        assert (mask[:, :, 0] == 0).all() and (mask[:, :, 1:] == 1).all()  # the start image's latent frame is known
        assert tuple(values["clip_vision_output"].penultimate_hidden_states.shape) == (1, 257, 1280)
    latent = _video_latent(result, sampler)
    assert tuple(latent.shape) == (1, 16, latent_frames, cell, cell) and torch.isfinite(latent).all()
    images = result.output(decode)
    assert tuple(images.shape) == (frames, size, size, 3) and torch.isfinite(images).all()
    report["measurements"].append(f"Wan I2V sampling ({result.seconds:.2f}s): latent std {latent.std():.3f}")


def test_wan22_experts_are_two_models_that_hand_over(comfy, video_model_names, report):
    """Wan 2.2 A14B's two experts: the same layout with other weights, loaded as two models; the
    high-noise one samples the first step and hands its noisy latent to the low-noise one."""
    import tiny_video_models as tvm

    loader = comfy.node_class("UNETLoader")()
    (high,), (low,) = (loader.load_unet(video_model_names[kind], "default") for kind in ("wan", "wan_low_noise"))
    assert high.model is not low.model
    high_sd, low_sd = high.model.diffusion_model.state_dict(), low.model.diffusion_model.state_dict()
    assert {k: v.shape for k, v in high_sd.items()} == {k: v.shape for k, v in low_sd.items()}
    differing = {key for key in high_sd if not torch.equal(high_sd[key], low_sd[key])}
    # Every random tensor differs; the constant ones (zero biases, unit norm gains) agree.
    assert differing == {p.name for p in tvm.layout("wan") if p.kind == "normal"}

    frames, size = 9, 32
    graph = Graph()
    models = {kind: graph.add("UNETLoader", unet_name=video_model_names[kind], weight_dtype="default")
              for kind in ("wan", "wan_low_noise")}
    positive, negative = _text_conditioning(graph, 1), _text_conditioning(graph, 2)
    latent = graph.add("EmptyHunyuanLatentVideo", width=size, height=size, length=frames, batch_size=1)
    common = dict(noise_seed=51, steps=STEPS, cfg=CFG, sampler_name="euler", scheduler="simple",
                  positive=OUT(positive), negative=OUT(negative))
    first = graph.add("KSamplerAdvanced", model=OUT(models["wan"]), add_noise="enable", latent_image=OUT(latent),
                      start_at_step=0, end_at_step=1, return_with_leftover_noise="enable", **common)
    second = graph.add("KSamplerAdvanced", model=OUT(models["wan_low_noise"]), add_noise="disable",
                       latent_image=OUT(first), start_at_step=1, end_at_step=STEPS,
                       return_with_leftover_noise="disable", **common)
    graph.add("TestSink", images=OUT(graph.add("VAEDecode", samples=OUT(second),
                                               vae=OUT(graph.add("VAELoader", vae_name=video_model_names["wan_vae"])))))
    handed_over = comfy.run(graph, label="Wan 2.2 experts: high-noise step 1, low-noise step 2")
    graph.set(second, model=OUT(models["wan"]))
    high_only = comfy.run(graph, label="Wan 2.2 experts: high-noise model for both steps")

    both, alone = _video_latent(handed_over, second), _video_latent(high_only, second)
    assert torch.equal(_video_latent(handed_over, first), _video_latent(high_only, first))
    assert torch.isfinite(both).all() and tuple(both.shape) == (1, 16, 3, 4, 4)
    difference = float((both - alone).abs().max())
    assert difference > 1e-3
    report["measurements"].append(f"Wan 2.2 experts: {len(differing)} of {len(high_sd)} tensors differ; the "
                                  f"low-noise second step changes the latent by up to {difference:.3f}")


def test_wan_vace_to_video_feeds_the_vace_blocks(comfy, video_model_names, report):
    frames, size = 9, 32
    graph = Graph()
    model = graph.add("UNETLoader", unet_name=video_model_names["vace"], weight_dtype="default")
    vae = graph.add("VAELoader", vae_name=video_model_names["wan_vae"])
    clip = graph.add("TestClipSource", frames=frames, width=size, height=size, seed=5)
    vace = graph.add("WanVaceToVideo", positive=OUT(_text_conditioning(graph, 1)),
                     negative=OUT(_text_conditioning(graph, 2)), vae=OUT(vae), width=size, height=size,
                     length=frames, batch_size=1, strength=1.0, control_video=OUT(clip, 0), control_masks=OUT(clip, 1))
    sampler = graph.add("KSampler", model=OUT(model), seed=21, steps=STEPS, cfg=CFG, sampler_name="euler",
                        scheduler="simple", positive=OUT(vace, 0), negative=OUT(vace, 1),
                        latent_image=OUT(vace, 2), denoise=1.0)
    decode = graph.add("VAEDecode", samples=OUT(sampler), vae=OUT(vae))
    graph.add("TestSink", images=OUT(decode))

    full = comfy.run(graph, label="Wan VACE: 9 frames 32x32 control clip, 2 steps")
    graph.set(vace, strength=0.0)
    off = comfy.run(graph, label="Wan VACE: strength 0")

    latent_frames = (frames - 1) // 4 + 1
    cell = size // 8
    (cond, values) = full.output(vace, 0)[0]
    assert tuple(cond.shape) == (1, 8, 4096)
    (vace_frames,), (vace_mask,) = values["vace_frames"], values["vace_mask"]
    assert tuple(vace_frames.shape) == (1, 32, latent_frames, cell, cell)  # inactive + reactive latents
    assert tuple(vace_mask.shape) == (1, 64, latent_frames, cell, cell)  # the 8x8 pixel mask of each latent cell
    assert values["vace_strength"] == [1.0] and off.output(vace, 0)[0][1]["vace_strength"] == [0.0]
    assert tuple(full.output(vace, 2)["samples"].shape) == (1, 16, latent_frames, cell, cell)
    assert full.output(vace, 3) == 0  # trim_latent: no reference image

    with_vace, without = _video_latent(full, sampler), _video_latent(off, sampler)
    assert torch.isfinite(with_vace).all() and torch.isfinite(without).all()
    difference = float((with_vace - without).abs().max())
    assert difference > 1e-3
    report["measurements"].append(f"Wan VACE: strength 1 vs 0 latents differ by up to {difference:.3f}")


def _trilinear_weights(pixel_frames: int, latent_frames: int) -> torch.Tensor:
    """``[latent, pixel]`` weights of 1-D linear interpolation with align_corners=False (edges clamped)."""
    centres = ((torch.arange(latent_frames) + 0.5) * pixel_frames / latent_frames - 0.5).clamp(0, pixel_frames - 1)
    return (1 - (centres.view(-1, 1) - torch.arange(pixel_frames).view(1, -1)).abs()).clamp(min=0)


def test_pixel_frame_noise_mask_on_a_video_latent(comfy, video_model_names, report):
    """A MASK of one entry per pixel frame goes on the 5-D latent; ComfyUI maps it to latent time
    by trilinear interpolation (``comfy.utils.reshape_mask``): latent frame ``t`` samples pixel
    frame ``(t + 0.5) * F / T - 0.5``, not the frames the causal VAE packed into it."""
    from comfy.utils import reshape_mask

    frames, size, latent_frames = 17, 64, 5
    graph = Graph()
    model = graph.add("UNETLoader", unet_name=video_model_names["wan"], weight_dtype="default")
    vae = graph.add("VAELoader", vae_name=video_model_names["wan_vae"])
    clip = graph.add("TestClipSource", frames=frames, width=size, height=size, seed=9, radius=12)
    encode = graph.add("VAEEncode", pixels=OUT(clip), vae=OUT(vae))
    masked = graph.add("SetLatentNoiseMask", samples=OUT(encode), mask=OUT(clip, 1))
    sampler = graph.add("KSampler", model=OUT(model), seed=31, steps=STEPS, cfg=CFG, sampler_name="euler",
                        scheduler="simple", positive=OUT(_text_conditioning(graph, 1)),
                        negative=OUT(_text_conditioning(graph, 2)), latent_image=OUT(masked), denoise=1.0)
    decode = graph.add("VAEDecode", samples=OUT(sampler), vae=OUT(vae))
    graph.add("TestSink", images=OUT(decode))
    result = comfy.run(graph, label="Wan T2V: 17-frame pixel noise mask, encode + 2 steps + decode")

    pixel_mask = result.output(clip, 1)
    assert tuple(pixel_mask.shape) == (frames, size, size)
    source, sampled = _video_latent(result, encode), _video_latent(result, sampler)
    assert tuple(sampled.shape) == (1, 16, latent_frames, 8, 8) and torch.isfinite(sampled).all()
    assert tuple(result.output(decode).shape) == (frames, size, size, 3)

    latent_mask = reshape_mask(pixel_mask.reshape(-1, 1, size, size), sampled.shape)
    assert tuple(latent_mask.shape) == tuple(sampled.shape)
    kept, refined = latent_mask == 0, latent_mask == 1
    assert kept.any() and refined.any()
    assert torch.allclose(sampled[kept], source[kept], atol=1e-5)  # outside the mask the latent is kept
    assert float((sampled[refined] - source[refined]).abs().max()) > 1e-2

    # Which pixel frames reach which latent frame: one-hot frame masks through reshape_mask.
    weights = torch.stack([
        reshape_mask(torch.eye(frames)[f].view(frames, 1, 1, 1).expand(frames, 1, size, size),
                                 sampled.shape)[0, 0, :, 0, 0]
        for f in range(frames)], dim=1)
    assert torch.allclose(weights, _trilinear_weights(frames, latent_frames), atol=1e-5)
    sources = [[f for f in range(frames) if weights[t, f] > 0] for t in range(latent_frames)]
    report["measurements"].append(f"noise mask [{frames},{size},{size}] -> latent time {latent_frames}: latent frame t "
                                  f"reads pixel frames {sources} (the VAE packs 0, 1-4, 5-8, 9-12, 13-16)")
