"""The GPU suite's full-size layouts (tools/full_models.py) without building them: the sizes of the
released models, and the keys ComfyUI 0.29's detection reads. The files themselves are drawn on
a GPU by ``bench_detailer.py --gpu-suite``; nothing is built here."""

from __future__ import annotations

import math

import torch

import full_models  # tools/, on sys.path through tests/conftest.py
import tiny_checkpoint


def _shapes(kind: str) -> dict[str, tuple[int, ...]]:
    return {p.name: p.shape for p in full_models.layout(kind)}


def _count(params) -> int:
    return sum(math.prod(p.shape) for p in params)


def test_sd15_has_the_released_models_sizes():
    params = full_models.layout("sd15")
    parts = {prefix: [p for p in params if p.name.startswith(prefix)]
             for prefix in (tiny_checkpoint.UNET_PREFIX, tiny_checkpoint.VAE_PREFIX, tiny_checkpoint.CLIP_PREFIX)}
    assert sum(map(len, parts.values())) == len(params)
    assert [_count(part) for part in parts.values()] == [859_520_964, 83_653_863, 123_060_480]  # UNet, VAE, CLIP-L
    shapes = _shapes("sd15")
    assert shapes["first_stage_model.decoder.conv_in.weight"] == (512, 4, 3, 3)  # ComfyUI reads the decoder width here


def test_wan_is_wan21_t2v_1_3b_as_detection_reads_it():
    shapes = _shapes("wan")
    dim = shapes["head.modulation"][-1]
    assert (dim, dim // 128) == (1536, 12)  # num_heads = dim // 128
    assert shapes["blocks.0.ffn.0.weight"] == (8960, 1536)
    assert len({name.split(".")[1] for name in shapes if name.startswith("blocks.")}) == 30
    assert shapes["patch_embedding.weight"][1] == 16 and shapes["head.head.weight"][0] // 4 == 16  # in, out
    assert shapes["text_embedding.0.weight"] == (1536, 4096)  # umT5-XXL's width
    assert not any(name.startswith(("img_emb.", "vace_", "config")) for name in shapes)  # t2v
    assert full_models.parameter_count("wan") == 1_418_996_800


def test_wan_vae_is_the_released_width():
    shapes = _shapes("wan_vae")
    assert shapes["decoder.head.0.gamma"] == (96, 1, 1, 1)  # ComfyUI's base width
    assert shapes["encoder.conv1.weight"][:2] == (96, 3) and shapes["decoder.conv1.weight"][1] == 16
    assert "decoder.upsamples.0.upsamples.0.residual.2.weight" not in shapes  # that key would make it Wan 2.2


def test_the_drawing_device_names_the_file_only_off_the_cpu():
    params = full_models.layout("wan_vae")
    plain = tiny_checkpoint.params_hash(params, full_models.GENERATOR_VERSION)
    assert tiny_checkpoint.params_hash(params, full_models.GENERATOR_VERSION, "cpu") == plain
    assert tiny_checkpoint.params_hash(params, full_models.GENERATOR_VERSION, "cuda") != plain
    param = next(p for p in params if p.kind == "normal" and math.prod(p.shape) < 10_000)
    assert torch.equal(tiny_checkpoint.make_tensor(param, device="cpu"), tiny_checkpoint.make_tensor(param))
