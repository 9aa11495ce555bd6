"""Native video models inside a real ComfyUI 0.29: the tiny Wan 2.1 T2V and VACE diffusion
models and the tiny Wan 2.1 and LTX-Video VAEs of ``tools/tiny_video_models.py``.

ComfyUI's ``UNETLoader`` and ``VAELoader`` list and load the files and build the intended
models from them (Wan 2.1 T2V, not I2V; VACE; the Wan 2.1 and LTX-Video VAEs, with every
tensor of the file used and none missing; the loader nodes are called directly there, to
look at the models they return). Graphs of ComfyUI's own nodes then run through
the engine: the VAE round trip keeps ``1 + 4k`` frames (``1 + 8k`` for LTX-Video) and drops
the rest; ``EmptyHunyuanLatentVideo`` + ``KSampler`` + ``VAEDecode`` gives finite output that
a seed decides; ``WanVaceToVideo`` feeds the VACE blocks (strength 1 and 0 differ); a per-frame
pixel mask on a 5-D latent is mapped to latent time by trilinear interpolation. The text
encoder (umT5-XXL) cannot be shrunk, so the fixture pack's ``TestTextConditioning`` makes the
conditioning. Sizes stay tiny: 32-64 px, 9-20 frames, 2 steps.
"""

from __future__ import annotations

import pytest
import torch

from comfy_harness import Graph

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


# --- loaders ---------------------------------------------------------------------------------


def test_loaders_list_the_tiny_video_models(comfy, video_model_names):
    unets = comfy.node_class("UNETLoader").INPUT_TYPES()["required"]["unet_name"][0]
    vaes = comfy.node_class("VAELoader").INPUT_TYPES()["required"]["vae_name"][0]
    for kind in ("wan", "vace"):
        assert video_model_names[kind] in comfy.list_models("diffusion_models")
        assert video_model_names[kind] in unets
    for kind in ("wan_vae", "ltxv_vae"):
        assert video_model_names[kind] in comfy.list_models("vae")
        assert video_model_names[kind] in vaes


@pytest.mark.parametrize("kind", ["wan", "vace"])
def test_unet_loader_builds_wan21_from_the_file(comfy, video_model_names, tiny_video_models, kind, report):
    import tiny_video_models as tvm
    from comfy import model_base, supported_models  # not "import comfy.x": that would hide the fixture

    (patcher,) = comfy.node_class("UNETLoader")().load_unet(video_model_names[kind], "default")
    model = patcher.model
    expected_base = model_base.WAN21_Vace if kind == "vace" else model_base.WAN21
    expected_config = supported_models.WAN21_Vace if kind == "vace" else supported_models.WAN21_T2V
    assert type(model) is expected_base and type(model.model_config) is expected_config
    assert model.model_type == model_base.ModelType.FLOW and not model.image_to_video
    net = model.diffusion_model
    assert (net.dim, net.num_heads, net.num_layers, net.ffn_dim) == (tvm.WAN_DIM, 1, tvm.WAN_LAYERS, tvm.WAN_FFN_DIM)
    assert (net.in_dim, net.out_dim, net.text_dim, tuple(net.patch_size)) == (16, 16, 4096, (1, 2, 2))
    assert net.model_type == "t2v" and net.img_emb is None  # T2V cross-attention, no CLIP-vision branch
    if kind == "vace":
        assert (net.vace_in_dim, net.vace_layers) == (tvm.VACE_IN_DIM, tvm.VACE_LAYERS)
    _assert_same_tensors(tiny_video_models[kind], net)
    report["measurements"].append(f"UNETLoader {kind}: {type(model).__name__} ({type(model.model_config).__name__}), "
                                  f"{sum(p.numel() for p in net.parameters()):,} parameters, dtype {model.get_dtype()}")


@pytest.mark.parametrize("kind, channels, spatial, temporal", [("wan_vae", 16, 8, 4), ("ltxv_vae", 128, 32, 8)])
def test_vae_loader_builds_the_video_vae_from_the_file(comfy, video_model_names, tiny_video_models,
                                                        kind, channels, spatial, temporal):
    (vae,) = comfy.node_class("VAELoader")().load_vae(video_model_names[kind])
    expected_module = "WanVAE" if kind == "wan_vae" else "VideoVAE"
    assert type(vae.first_stage_model).__name__ == expected_module
    assert (vae.latent_dim, vae.latent_channels) == (3, channels)
    assert vae.spacial_compression_encode() == spatial and vae.temporal_compression_decode() == temporal
    assert vae.downscale_ratio[0](1 + 2 * temporal) == 3 and vae.upscale_ratio[0](3) == 1 + 2 * temporal
    _assert_same_tensors(tiny_video_models[kind], vae.first_stage_model)


# --- VAE round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("kind, frames, size, latent_frames", [
    ("wan_vae", 17, 64, 5),
    ("wan_vae", 18, 32, 5),  # not 1 + 4k: the encoder drops the frames after the last 1 + 4k
    ("wan_vae", 20, 32, 5),
    ("ltxv_vae", 17, 64, 3),
    ("ltxv_vae", 20, 64, 3),  # 1 + 8k
])
def test_vae_round_trip_keeps_whole_temporal_groups(comfy, video_model_names, kind, frames, size, latent_frames,
                                                    report):
    channels, spatial, temporal = (16, 8, 4) if kind == "wan_vae" else (128, 32, 8)
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
