"""The video-model generator's layouts without ComfyUI (``tools/tiny_video_models.py``): every
kind's tensors have unique names and the channels and marker keys that ComfyUI 0.29's
detection reads (the real-ComfyUI tier loads the files; nothing is built here)."""

from __future__ import annotations

import math

import pytest

import tiny_video_models as tvm  # tools/, on sys.path through tests/conftest.py

# Wan diffusion models: (in_dim, out_dim) as detect_unet_config reads them, from
# patch_embedding.weight's axis 1 and head.head.weight's rows / 4 (patch 1x2x2).
WAN_DIMS = {
    "wan": (16, 16),
    "wan_low_noise": (16, 16),
    "vace": (16, 16),
    "wan_i2v": (36, 16),
    "wan_flf": (36, 16),
    "wan_fun_control": (48, 16),
    "wan_camera": (32, 16),
    "wan22_ti2v": (48, 48),
    "wan22_fun_control": (52, 16),
}
# The keys that pick a Wan model's type and extras, with their shapes, where a kind has them.
WAN_MARKERS = {
    "vace": {"vace_patch_embedding.weight": (128, 96, 1, 2, 2)},
    "wan_i2v": {"img_emb.proj.0.bias": (1280,)},
    "wan_flf": {"img_emb.proj.0.bias": (1280,), "img_emb.emb_pos": (1, 514, 1280)},
    "wan_fun_control": {"img_emb.proj.0.bias": (1280,)},
    "wan_camera": {"img_emb.proj.0.bias": (1280,), "control_adapter.conv.weight": (128, 24 * 8 * 8, 2, 2)},
    "wan22_fun_control": {"ref_conv.weight": (128, 16, 2, 2)},
}
ALL_WAN_MARKERS = {key for markers in WAN_MARKERS.values() for key in markers}
# VAEs: (encoder input channels, latent channels): image channels times the patch's pixels.
VAE_DIMS = {"wan_vae": (3, 16), "ltxv_vae": (3 * 4 * 4, 128), "wan22_vae": (3 * 2 * 2, 48)}


def _shapes(kind: str) -> dict[str, tuple[int, ...]]:
    return {p.name: p.shape for p in tvm.layout(kind)}


def test_kinds_are_listed_once_with_a_file_stem_and_a_folder():
    assert len(set(tvm.MODEL_KINDS)) == len(tvm.MODEL_KINDS)
    assert set(WAN_DIMS) | set(VAE_DIMS) == set(tvm.MODEL_KINDS)
    assert set(tvm.FAST_KINDS) | set(tvm.SLOW_KINDS) == set(tvm.MODEL_KINDS) and tvm.SLOW_KINDS == ("wan22_vae",)
    assert set(tvm.FILE_STEMS) == set(tvm.MODEL_FOLDERS) == set(tvm.MODEL_KINDS)
    assert len(set(tvm.FILE_STEMS.values())) == len(tvm.FILE_STEMS)
    assert {kind for kind, folder in tvm.MODEL_FOLDERS.items() if folder == "diffusion_models"} == set(WAN_DIMS)
    assert {kind for kind, folder in tvm.MODEL_FOLDERS.items() if folder == "vae"} == set(VAE_DIMS)


@pytest.mark.parametrize("kind", tvm.MODEL_KINDS)
def test_layout_names_are_unique_and_shapes_positive(kind):
    params = tvm.layout(kind)
    names = [p.name for p in params]
    assert len(set(names)) == len(names)
    assert all(p.shape and all(isinstance(n, int) and n > 0 for n in p.shape) for p in params)
    assert tvm.parameter_count(kind) == sum(math.prod(p.shape) for p in params)


@pytest.mark.parametrize("kind", list(WAN_DIMS))
def test_wan_layout_has_the_documented_channels_and_markers(kind):
    shapes = _shapes(kind)
    in_dim, out_dim = WAN_DIMS[kind]
    assert shapes["patch_embedding.weight"] == (128, in_dim, 1, 2, 2)
    assert shapes["head.head.weight"][0] // 4 == out_dim and shapes["head.head.weight"][0] % 4 == 0
    assert shapes["head.modulation"] == (1, 2, 128)  # dim 128: one head of 128
    assert shapes["text_embedding.0.weight"] == (128, 4096)  # umT5-XXL width, no config metadata
    markers = WAN_MARKERS.get(kind, {})
    assert {key: shapes[key] for key in ALL_WAN_MARKERS if key in shapes} == markers
    image_keys = {f"blocks.{i}.cross_attn.{key}" for i in range(tvm.WAN_LAYERS)
                  for key in ("k_img.weight", "v_img.weight", "norm_k_img.weight")}
    # The i2v cross-attention: in every block with the image branch, nowhere without it.
    assert image_keys & set(shapes) == (image_keys if "img_emb.proj.0.bias" in markers else set())
    assert tvm.parameter_count(kind) < 5_000_000  # tiny: a few MB in fp16


def test_low_noise_expert_is_the_t2v_layout_with_other_weights():
    high, low = tvm.layout("wan"), tvm.layout("wan_low_noise")
    assert high == low  # names, shapes, fills
    assert tvm.layout_hash("wan") != tvm.layout_hash("wan_low_noise")
    weight = next(p for p in high if p.name == "blocks.0.ffn.0.weight")
    bias = next(p for p in high if p.name == "blocks.0.ffn.0.bias")
    high_seed, low_seed = tvm.seed("wan"), tvm.seed("wan_low_noise")
    assert not tvm.make_tensor(weight, high_seed).equal(tvm.make_tensor(weight, low_seed))
    assert tvm.make_tensor(bias, high_seed).equal(tvm.make_tensor(bias, low_seed))


@pytest.mark.parametrize("kind", list(VAE_DIMS))
def test_vae_layout_has_the_documented_channels(kind):
    shapes = _shapes(kind)
    image_in, latent = VAE_DIMS[kind]
    if kind == "ltxv_vae":
        assert shapes["encoder.conv_in.conv.weight"][1] == image_in
        assert shapes["encoder.conv_out.conv.weight"][0] == latent + 1  # means + one shared log-variance
        assert shapes["decoder.conv_in.conv.weight"][1] == latent
        assert shapes["decoder.conv_out.conv.weight"][0] == image_in
        return
    assert "decoder.middle.0.residual.0.gamma" in shapes  # marks a Wan VAE
    assert ("decoder.upsamples.0.upsamples.0.residual.2.weight" in shapes) == (kind == "wan22_vae")  # Wan 2.2
    assert shapes["encoder.conv1.weight"][1] == image_in and shapes["decoder.head.2.weight"][0] == image_in
    assert shapes["encoder.head.2.weight"][0] == 2 * latent  # mean and log-variance
    assert shapes["conv2.weight"][:2] == (latent, latent) and shapes["decoder.conv1.weight"][1] == latent


def test_the_wan22_vae_is_full_width_and_only_for_the_slow_tier():
    shapes = _shapes("wan22_vae")
    assert shapes["encoder.conv1.weight"][0] == 160 and shapes["decoder.head.0.gamma"][0] == 256
    assert round(tvm.parameter_count("wan22_vae") / 1e6) == 705
    assert "wan22_vae" not in tvm.FAST_KINDS
