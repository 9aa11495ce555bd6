"""Tiny native-video models (Wan 2.1 T2V and VACE, the Wan 2.1 VAE, an LTX-Video VAE) with
deterministic random weights, in the safetensors formats ComfyUI 0.29 loads.

ComfyUI builds these models from what it reads in the file, never from a config of ours:

* Wan 2.1 diffusion model (``UNETLoader``: ``comfy.sd.load_diffusion_model``). In
  ``comfy/model_detection.py`` (``detect_unet_config``) the key ``head.modulation`` marks
  Wan; ``dim`` is its last axis and ``num_heads = dim // 128`` (so dim 128 gives one head),
  ``out_dim = head.head.weight.shape[0] // 4`` (patch 1x2x2), ``ffn_dim`` from
  ``blocks.0.ffn.0.weight``, ``num_layers`` by counting ``blocks.N.``, ``in_dim`` from
  ``patch_embedding.weight``. Patch size, 256-wide frequency embedding, qk-norm and
  cross-attention norm are fixed; the text width is not read at all (``WanModel`` defaults
  to 4096, umT5-XXL), so ``text_embedding.0`` must take 4096. ``model_type`` is "vace" when
  ``vace_patch_embedding.weight`` exists (then ``vace_in_dim`` is its axis 1 and
  ``vace_layers`` counts ``vace_blocks.N.``), "i2v" when ``img_emb.proj.0.bias`` exists
  (plus other markers for camera, s2v, humo, animate, ...), "t2v" otherwise. In
  ``comfy/supported_models.py`` ``WAN22_T2V`` (listed before ``WAN21_T2V``) wants
  ``out_dim`` 48, ``WAN21_CausalAR_T2V`` a ``causal_ar`` flag only a metadata config sets,
  ``WAN21_I2V`` model_type "i2v" and ``in_dim`` 36; so a file with in_dim 16, out_dim 16
  and no ``img_emb`` is ``WAN21_T2V`` -> ``comfy.model_base.WAN21`` (flow matching, shift
  8, ``latent_formats.Wan21``), and with VACE keys ``WAN21_Vace`` ->
  ``comfy.model_base.WAN21_Vace``. Keys carry no prefix, as in Comfy-Org's files
  (``load_diffusion_model_state_dict`` keeps them as they are when no known prefix is
  found). A ``config`` metadata entry would be merged into the detected config (its
  "transformer" part), so these files use another metadata key.
* VACE: ``WAN21_Vace.extra_conds`` concatenates per control video 32 latent channels
  (inactive and reactive halves, 16 each) and 64 mask channels (the 8x8 pixel mask of each
  latent cell), so ``vace_in_dim`` is 96. ``VaceWanModel`` runs VACE block ``j`` after
  main block ``i`` for ``i`` in ``range(0, num_layers, num_layers // vace_layers)``; its
  ``after_proj`` output times ``vace_strength`` is added to the hidden state.
* Wan 2.1 VAE (``VAELoader``: ``comfy.sd.VAE``): ``decoder.middle.0.residual.0.gamma``
  marks the Wan VAEs, ``decoder.upsamples.0.upsamples.0.residual.2.weight`` would make it
  Wan 2.2. For 2.1 the base width is ``decoder.head.0.gamma.shape[0]``, image channels are
  ``encoder.conv1.weight.shape[1]``, output channels ``decoder.head.2.weight.shape[0]``;
  z_dim 16, width multipliers 1-2-4-4, two res blocks, temporal downsampling in the last two
  stages are fixed: 8x spatial, 4x temporal (``1 + 4k`` frames <-> ``1 + k`` latents).
* Second VAE, LTX-Video's (``decoder.up_blocks.0.res_blocks.0.conv1.conv.weight`` marks it):
  128 latent channels, 32x spatial, 8x temporal (``1 + 8k`` frames). ``comfy.sd.VAE`` takes
  its layout from the file's ``config`` metadata (``{"vae": {...}}``, as LTX-Video
  checkpoints can carry) and falls back to a full-size built-in config (picked by that
  tensor's width) only without one; ``VAELoader`` passes
  the metadata, so a cut-down VAE loads. (The Wan 2.2 VAE was not chosen: ComfyUI fixes its
  width at 160, 705M parameters, 20-35 s to encode and decode 17 frames of 64x64 on 2 CPU
  cores; this LTX-Video VAE takes well under a second.) Without the metadata, e.g.
  ``comfy.sd.VAE(sd=comfy.utils.load_torch_file(path))``, ComfyUI would build the full-size
  VAE and the shapes would not match: load it with ``return_metadata=True``.

Weights follow tiny_checkpoint.py (whose helpers this module imports): normal with std
``0.5 / sqrt(fan_in)`` from a generator seeded by the tensor's name, zero biases, identity
norms, stored in fp16 (ComfyUI casts to its working dtype). Every build writes a
byte-identical file, cached outside the repository under a name carrying a hash of its
layout, written atomically, rebuilt when missing or damaged.

Run as a script to build (or find) the files and print their paths and sizes::

    python tools/tiny_video_models.py [--cache-dir DIR] [--which wan|vace|wan_vae|ltxv_vae]
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import torch

from tiny_checkpoint import (
    SEED,
    STD_GAIN,
    STORE_DTYPE,
    Param,
    ensure_cached_file,
    generator_cli,
    linear,
    make_tensor,
    norm,
    write_safetensors_atomically,
)

log = logging.getLogger(__name__)

# Bump when generation changes in a way the layout hash does not capture.
GENERATOR_VERSION = 1

ModelKind = Literal["wan", "vace", "wan_vae", "ltxv_vae"]
MODEL_KINDS: tuple[ModelKind, ...] = ("wan", "vace", "wan_vae", "ltxv_vae")

# --- Wan 2.1 diffusion model ------------------------------------------------------------
WAN_DIM = 128  # one attention head: ComfyUI derives num_heads = dim // 128
WAN_HEAD_DIM = 128
WAN_LAYERS = 2
WAN_FFN_DIM = 512
WAN_FREQ_DIM = 256  # fixed by ComfyUI
WAN_TEXT_DIM = 4096  # umT5-XXL; not read from the weights, WanModel's default
WAN_IN_DIM = 16
WAN_OUT_DIM = 16
WAN_PATCH = (1, 2, 2)
LATENT_CHANNELS = 16  # Wan 2.1 latent
# VACE: per control video, 2 x 16 latent channels (inactive, reactive) + 8 x 8 mask channels.
VACE_MASK_CHANNELS = 64
VACE_IN_DIM = 2 * LATENT_CHANNELS + VACE_MASK_CHANNELS
VACE_LAYERS = 2  # one VACE block after each main block

# --- Wan 2.1 VAE ------------------------------------------------------------------------
WAN_VAE_DIM = 16  # read from decoder.head.0.gamma
WAN_VAE_DIM_MULT = (1, 2, 4, 4)  # fixed by ComfyUI
WAN_VAE_RES_BLOCKS = 2
WAN_VAE_TEMPORAL_DOWN = (False, True, True)
IMAGE_CHANNELS = 3

# --- LTX-Video VAE (layout from the file's "config" metadata) ---------------------------
LTXV_LATENT_CHANNELS = 128  # ComfyUI fixes 128 (latent format and per-channel statistics)
LTXV_PATCH = 4
LTXV_BASE_CHANNELS = 16
LTXV_BLOCKS: tuple[tuple[str, int], ...] = (
    ("res_x", 1), ("compress_all", 1), ("res_x_y", 1), ("compress_all", 1),
    ("res_x_y", 1), ("compress_all", 1), ("res_x", 1),
)  # the 0.9 VAE's block sequence, one layer per res block and a quarter of its width
LTXV_CONFIG: dict[str, Any] = {
    "_class_name": "CausalVideoAutoencoder",
    "dims": 3,
    "in_channels": IMAGE_CHANNELS,
    "out_channels": IMAGE_CHANNELS,
    "latent_channels": LTXV_LATENT_CHANNELS,
    "blocks": [list(block) for block in LTXV_BLOCKS],
    "encoder_base_channels": LTXV_BASE_CHANNELS,
    "decoder_base_channels": LTXV_BASE_CHANNELS,
    "scaling_factor": 1.0,
    "norm_layer": "pixel_norm",  # no weights
    "patch_size": LTXV_PATCH,
    "latent_log_var": "uniform",  # one shared log-variance channel
    "use_quant_conv": False,
    "causal_decoder": False,
    "timestep_conditioning": False,  # with it, ComfyUI's decode adds unseeded noise
}

FILE_STEMS: dict[ModelKind, str] = {
    "wan": "tiny-wan21-t2v",
    "vace": "tiny-wan21-vace",
    "wan_vae": "tiny-wan21-vae",
    "ltxv_vae": "tiny-ltxv-vae",
}


def _conv_nd(name: str, c_in: int, c_out: int, kernel: tuple[int, ...], *, bias: bool = True) -> Iterator[Param]:
    """A 2-D or 3-D conv: weight ``[c_out, c_in, *kernel]`` and a zero bias."""
    yield Param(f"{name}.weight", (c_out, c_in, *kernel), "normal", STD_GAIN)
    if bias:
        yield Param(f"{name}.bias", (c_out,), "const", 0.0)


def _ones(name: str, shape: tuple[int, ...]) -> Param:
    return Param(name, shape, "const", 1.0)


# --- Wan 2.1 diffusion model ------------------------------------------------------------


def _wan_attention(p: str) -> Iterator[Param]:
    """Self- or text cross-attention: q, k, v, o at model width, RMS qk-norms."""
    for proj in ("q", "k", "v", "o"):
        yield from linear(f"{p}.{proj}", WAN_DIM, WAN_DIM)
    yield _ones(f"{p}.norm_q.weight", (WAN_DIM,))
    yield _ones(f"{p}.norm_k.weight", (WAN_DIM,))


def _wan_block(p: str) -> Iterator[Param]:
    """``WanAttentionBlock`` (T2V cross-attention; norm1 and norm2 have no weights)."""
    yield from _wan_attention(f"{p}.self_attn")
    yield from norm(f"{p}.norm3", WAN_DIM)  # cross_attn_norm
    yield from _wan_attention(f"{p}.cross_attn")
    yield from linear(f"{p}.ffn.0", WAN_DIM, WAN_FFN_DIM)
    yield from linear(f"{p}.ffn.2", WAN_FFN_DIM, WAN_DIM)
    yield Param(f"{p}.modulation", (1, 6, WAN_DIM), "normal", STD_GAIN)


def _wan_vace_block(p: str, index: int) -> Iterator[Param]:
    yield from _wan_block(p)
    if index == 0:
        yield from linear(f"{p}.before_proj", WAN_DIM, WAN_DIM)
    yield from linear(f"{p}.after_proj", WAN_DIM, WAN_DIM)


def wan_layout(*, vace: bool = False) -> list[Param]:
    """Every tensor of the tiny Wan 2.1 T2V diffusion model (VACE variant with ``vace``)."""
    params: list[Param] = []
    params += _conv_nd("patch_embedding", WAN_IN_DIM, WAN_DIM, WAN_PATCH)
    params += linear("text_embedding.0", WAN_TEXT_DIM, WAN_DIM)
    params += linear("text_embedding.2", WAN_DIM, WAN_DIM)
    params += linear("time_embedding.0", WAN_FREQ_DIM, WAN_DIM)
    params += linear("time_embedding.2", WAN_DIM, WAN_DIM)
    params += linear("time_projection.1", WAN_DIM, 6 * WAN_DIM)
    for i in range(WAN_LAYERS):
        params += _wan_block(f"blocks.{i}")
    params += linear("head.head", WAN_DIM, math.prod(WAN_PATCH) * WAN_OUT_DIM)
    params.append(Param("head.modulation", (1, 2, WAN_DIM), "normal", STD_GAIN))
    if vace:
        params += _conv_nd("vace_patch_embedding", VACE_IN_DIM, WAN_DIM, WAN_PATCH)
        for j in range(VACE_LAYERS):
            params += _wan_vace_block(f"vace_blocks.{j}", j)
    return _checked(params, "Wan")


# --- Wan 2.1 VAE ------------------------------------------------------------------------


def _rms_gamma(name: str, channels: int, *, images: bool = False) -> Param:
    """``RMS_norm`` gain: ``[C, 1, 1, 1]`` on video features, ``[C, 1, 1]`` on frames."""
    return _ones(f"{name}.gamma", (channels, 1, 1) if images else (channels, 1, 1, 1))


def _wan_vae_residual(p: str, c_in: int, c_out: int) -> Iterator[Param]:
    yield _rms_gamma(f"{p}.residual.0", c_in)
    yield from _conv_nd(f"{p}.residual.2", c_in, c_out, (3, 3, 3))
    yield _rms_gamma(f"{p}.residual.3", c_out)
    yield from _conv_nd(f"{p}.residual.6", c_out, c_out, (3, 3, 3))
    if c_in != c_out:
        yield from _conv_nd(f"{p}.shortcut", c_in, c_out, (1, 1, 1))


def _wan_vae_attention(p: str, ch: int) -> Iterator[Param]:
    yield _rms_gamma(f"{p}.norm", ch, images=True)
    yield from _conv_nd(f"{p}.to_qkv", ch, 3 * ch, (1, 1))
    yield from _conv_nd(f"{p}.proj", ch, ch, (1, 1))


def _wan_vae_resample(p: str, ch: int, *, up: bool, temporal: bool) -> Iterator[Param]:
    """Spatial 2x (a 2-D conv; upsampling halves the channels) plus, when ``temporal``, a
    causal (3, 1, 1) time conv (upsampling: doubling the channels into two frames)."""
    yield from _conv_nd(f"{p}.resample.1", ch, ch // 2 if up else ch, (3, 3))
    if temporal:
        yield from _conv_nd(f"{p}.time_conv", ch, 2 * ch if up else ch, (3, 1, 1))


def _wan_vae_middle(p: str, ch: int) -> Iterator[Param]:
    yield from _wan_vae_residual(f"{p}.0", ch, ch)
    yield from _wan_vae_attention(f"{p}.1", ch)
    yield from _wan_vae_residual(f"{p}.2", ch, ch)


def _wan_vae_encoder(p: str) -> Iterator[Param]:
    widths = [WAN_VAE_DIM * m for m in (1, *WAN_VAE_DIM_MULT)]
    yield from _conv_nd(f"{p}.conv1", IMAGE_CHANNELS, widths[0], (3, 3, 3))
    index = 0
    last = len(WAN_VAE_DIM_MULT) - 1
    for level, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
        for _ in range(WAN_VAE_RES_BLOCKS):
            yield from _wan_vae_residual(f"{p}.downsamples.{index}", c_in, c_out)
            c_in, index = c_out, index + 1
        if level != last:
            yield from _wan_vae_resample(f"{p}.downsamples.{index}", c_out, up=False,
                                         temporal=WAN_VAE_TEMPORAL_DOWN[level])
            index += 1
    yield from _wan_vae_middle(f"{p}.middle", widths[-1])
    yield _rms_gamma(f"{p}.head.0", widths[-1])
    yield from _conv_nd(f"{p}.head.2", widths[-1], 2 * LATENT_CHANNELS, (3, 3, 3))  # mean, log-variance


def _wan_vae_decoder(p: str) -> Iterator[Param]:
    widths = [WAN_VAE_DIM * m for m in (WAN_VAE_DIM_MULT[-1], *reversed(WAN_VAE_DIM_MULT))]
    temporal_up = tuple(reversed(WAN_VAE_TEMPORAL_DOWN))
    yield from _conv_nd(f"{p}.conv1", LATENT_CHANNELS, widths[0], (3, 3, 3))
    yield from _wan_vae_middle(f"{p}.middle", widths[0])
    index = 0
    last = len(WAN_VAE_DIM_MULT) - 1
    for level, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
        if level > 0:
            c_in //= 2  # the previous upsample halved the channels
        for _ in range(WAN_VAE_RES_BLOCKS + 1):
            yield from _wan_vae_residual(f"{p}.upsamples.{index}", c_in, c_out)
            c_in, index = c_out, index + 1
        if level != last:
            yield from _wan_vae_resample(f"{p}.upsamples.{index}", c_out, up=True, temporal=temporal_up[level])
            index += 1
    yield _rms_gamma(f"{p}.head.0", widths[-1])  # ComfyUI reads the base width here
    yield from _conv_nd(f"{p}.head.2", widths[-1], IMAGE_CHANNELS, (3, 3, 3))


def wan_vae_layout() -> list[Param]:
    """Every tensor of the tiny Wan 2.1 VAE (base width :data:`WAN_VAE_DIM`)."""
    params = [
        *_wan_vae_encoder("encoder"),
        *_conv_nd("conv1", 2 * LATENT_CHANNELS, 2 * LATENT_CHANNELS, (1, 1, 1)),
        *_conv_nd("conv2", LATENT_CHANNELS, LATENT_CHANNELS, (1, 1, 1)),
        *_wan_vae_decoder("decoder"),
    ]
    return _checked(params, "Wan VAE")


# --- LTX-Video VAE ----------------------------------------------------------------------


def _ltxv_conv(name: str, c_in: int, c_out: int, kernel: int = 3) -> Iterator[Param]:
    """A causal 3-D conv, whose weights sit one level down (``<name>.conv.weight``)."""
    yield from _conv_nd(f"{name}.conv", c_in, c_out, (kernel,) * 3)


def _ltxv_res_x(p: str, ch: int, layers: int) -> Iterator[Param]:
    """``UNetMidBlock3D``: ``layers`` res blocks at one width (pixel norms, no weights)."""
    for j in range(layers):
        yield from _ltxv_conv(f"{p}.res_blocks.{j}.conv1", ch, ch)
        yield from _ltxv_conv(f"{p}.res_blocks.{j}.conv2", ch, ch)


def _ltxv_res_x_y(p: str, c_in: int, c_out: int) -> Iterator[Param]:
    """``ResnetBlock3D`` changing width: 1x1x1 shortcut conv and a LayerNorm before it."""
    yield from _ltxv_conv(f"{p}.conv1", c_in, c_out)
    yield from _ltxv_conv(f"{p}.conv2", c_out, c_out)
    yield from _conv_nd(f"{p}.conv_shortcut", c_in, c_out, (1, 1, 1))
    yield from norm(f"{p}.norm3.norm", c_in)


def _ltxv_encoder(p: str) -> Iterator[Param]:
    ch = LTXV_BASE_CHANNELS
    yield from _ltxv_conv(f"{p}.conv_in", IMAGE_CHANNELS * LTXV_PATCH**2, ch)
    for i, (name, layers) in enumerate(LTXV_BLOCKS):
        block = f"{p}.down_blocks.{i}"
        if name == "res_x":
            yield from _ltxv_res_x(block, ch, layers)
        elif name == "res_x_y":
            yield from _ltxv_res_x_y(block, ch, 2 * ch)
            ch *= 2
        elif name == "compress_all":  # strided (2, 2, 2) conv, weights directly under the block
            yield from _conv_nd(f"{block}.conv", ch, ch, (3, 3, 3))
        else:
            raise ValueError(f"tiny LTX-Video VAE: unsupported block {name!r}")
    yield from _ltxv_conv(f"{p}.conv_out", ch, LTXV_LATENT_CHANNELS + 1)  # means + one log-variance


def _ltxv_decoder(p: str) -> Iterator[Param]:
    ch = LTXV_BASE_CHANNELS * 2 ** sum(1 for name, _ in LTXV_BLOCKS if name == "res_x_y")
    yield from _ltxv_conv(f"{p}.conv_in", LTXV_LATENT_CHANNELS, ch)
    for i, (name, layers) in enumerate(reversed(LTXV_BLOCKS)):
        block = f"{p}.up_blocks.{i}"
        if name == "res_x":
            yield from _ltxv_res_x(block, ch, layers)
        elif name == "res_x_y":
            yield from _ltxv_res_x_y(block, ch, ch // 2)
            ch //= 2
        elif name == "compress_all":  # conv to 8x the channels, then depth-to-space (2, 2, 2)
            yield from _ltxv_conv(f"{block}.conv", ch, 8 * ch)
        else:
            raise ValueError(f"tiny LTX-Video VAE: unsupported block {name!r}")
    yield from _ltxv_conv(f"{p}.conv_out", ch, IMAGE_CHANNELS * LTXV_PATCH**2)


def ltxv_vae_layout() -> list[Param]:
    """Every tensor of the tiny LTX-Video VAE described by :data:`LTXV_CONFIG`."""
    params = [
        *_ltxv_encoder("encoder"),
        *_ltxv_decoder("decoder"),
        Param("per_channel_statistics.mean-of-means", (LTXV_LATENT_CHANNELS,), "const", 0.0),
        Param("per_channel_statistics.std-of-means", (LTXV_LATENT_CHANNELS,), "const", 1.0),
    ]
    return _checked(params, "LTX-Video VAE")


# --- building and caching ---------------------------------------------------------------


def _checked(params: list[Param], what: str) -> list[Param]:
    if len({p.name for p in params}) != len(params):
        raise AssertionError(f"duplicate tensor names in the tiny {what} layout")
    return params


def layout(kind: ModelKind) -> list[Param]:
    """Every tensor of the model ``kind`` ("wan", "vace", "wan_vae", "ltxv_vae"), in file order."""
    if kind == "wan":
        return wan_layout()
    if kind == "vace":
        return wan_layout(vace=True)
    if kind == "wan_vae":
        return wan_vae_layout()
    if kind == "ltxv_vae":
        return ltxv_vae_layout()
    raise ValueError(f"kind must be one of {MODEL_KINDS}, not {kind!r}")


def parameter_count(kind: ModelKind) -> int:
    """Number of parameters (elements) stored for the model ``kind``."""
    return sum(math.prod(p.shape) for p in layout(kind))


def _metadata(kind: ModelKind) -> tuple[str, dict[str, Any]]:
    """The file's single metadata entry: key and JSON value. LTX-Video's VAE layout is read by
    ComfyUI from ``config`` -> ``vae``; the Wan files must not carry a ``config`` entry."""
    if kind == "ltxv_vae":
        return "config", {"vae": LTXV_CONFIG}
    return f"tiny_{kind}", {}


def layout_hash(kind: ModelKind) -> str:
    """Short hash of layout, fills, seed, dtype and metadata; part of the cached file's name."""
    description = {
        "generator": GENERATOR_VERSION,
        "seed": SEED,
        "dtype": str(STORE_DTYPE),
        "metadata": _metadata(kind),
        "params": [[p.name, list(p.shape), p.kind, p.value] for p in layout(kind)],
    }
    blob = json.dumps(description, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def build_state_dict(kind: ModelKind) -> dict[str, torch.Tensor]:
    """The model's tensors, freshly generated."""
    return {param.name: make_tensor(param) for param in layout(kind)}


def _writer(kind: ModelKind, version: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        log.info("Building tiny %s model at %s", kind, path)
        key, info = _metadata(kind)
        info = {**info, "layout": version, "about": f"random-weight tiny {kind} model for integration tests"}
        write_safetensors_atomically(path, build_state_dict(kind), key, info)

    return write


def ensure_tiny_model(kind: ModelKind, cache_dir: str | os.PathLike[str] | None = None) -> str:
    """Path of the tiny model ``kind``, building it in ``cache_dir`` if missing or damaged."""
    version = layout_hash(kind)
    name = f"{FILE_STEMS[kind]}-{version}.safetensors"
    return ensure_cached_file(name, cache_dir, _writer(kind, version))


def ensure_tiny_wan(cache_dir: str | os.PathLike[str] | None = None, *, vace: bool = False) -> str:
    """Path of the tiny Wan 2.1 T2V diffusion model (``UNETLoader``), or of its VACE variant.

    ``cache_dir`` defaults to tiny_checkpoint's :func:`default_cache_dir`. Concurrent callers
    are safe: each writes its own temporary file and renames it into place.
    """
    return ensure_tiny_model("vace" if vace else "wan", cache_dir)


def ensure_tiny_wan_vae(cache_dir: str | os.PathLike[str] | None = None) -> str:
    """Path of the tiny Wan 2.1 VAE (``VAELoader``): 16 latent channels, 8x spatial, 4x temporal."""
    return ensure_tiny_model("wan_vae", cache_dir)


def ensure_tiny_ltxv_vae(cache_dir: str | os.PathLike[str] | None = None) -> str:
    """Path of the tiny LTX-Video VAE (``VAELoader``): 128 latent channels, 32x spatial, 8x temporal.

    Its layout is in the file's ``config`` metadata, which ``VAELoader`` passes to ComfyUI.
    """
    return ensure_tiny_model("ltxv_vae", cache_dir)


def main(argv: list[str] | None = None) -> int:
    """CLI: build (or find) the models and print their paths and sizes."""
    return generator_cli(
        __doc__, argv,
        lambda args: [(ensure_tiny_model(kind, args.cache_dir), f"{kind} parameters: {parameter_count(kind):,}")
                      for kind in args.which or MODEL_KINDS],
        lambda parser: parser.add_argument("--which", choices=MODEL_KINDS, action="append",
                                           help="model to build; repeat for several (default: all)"),
    )


if __name__ == "__main__":
    raise SystemExit(main())
