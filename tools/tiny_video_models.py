"""Random-weight native-video models that ComfyUI 0.29 loads as the real ones, for tests.

Tiny Wan 2.1 and 2.2 diffusion models (T2V and its second expert, VACE, I2V, first-last-frame,
Fun Control, camera, TI2V 5B), a tiny Wan 2.1 VAE, a tiny LTX-Video VAE and, for the slow tier
only, a full-width Wan 2.2 VAE, with deterministic random weights, in the safetensors formats
ComfyUI loads.

ComfyUI builds these models from what it reads in the file, never from a config of ours:

* Wan diffusion models (``UNETLoader``: ``comfy.sd.load_diffusion_model``). In
  ``comfy/model_detection.py`` (``detect_unet_config``) the key ``head.modulation`` marks
  Wan; ``dim`` is its last axis and ``num_heads = dim // 128`` (so dim 128 gives one head),
  ``out_dim = head.head.weight.shape[0] // 4`` (patch 1x2x2), ``ffn_dim`` from
  ``blocks.0.ffn.0.weight``, ``num_layers`` by counting ``blocks.N.``, ``in_dim`` from
  ``patch_embedding.weight``. Patch size, 256-wide frequency embedding, qk-norm and
  cross-attention norm are fixed; the text width is not read at all (``WanModel`` defaults
  to 4096, umT5-XXL), so ``text_embedding.0`` must take 4096. ``model_type`` is "vace" when
  ``vace_patch_embedding.weight`` exists (then ``vace_in_dim`` is its axis 1 and
  ``vace_layers`` counts ``vace_blocks.N.``), "camera" when ``control_adapter.conv.weight``
  and ``img_emb.proj.0.bias`` exist ("camera_2.2" without the latter), then markers for s2v,
  humo, animate, scail and wandancer, else "i2v" when ``img_emb.proj.0.bias`` exists, "t2v"
  otherwise. Whatever the type, ``img_emb.emb_pos`` sets ``flf_pos_embed_token_number`` (its
  axis 1) and ``ref_conv.weight`` sets ``in_dim_ref_conv`` (its axis 1). In
  ``comfy/supported_models.py`` the first class whose ``unet_config`` matches wins:
  ``WAN22_T2V`` (listed before ``WAN21_T2V``) wants t2v and ``out_dim`` 48,
  ``WAN21_CausalAR_T2V`` a ``causal_ar`` flag only a metadata config sets, ``WAN21_T2V`` takes
  any other t2v file (any in_dim), ``WAN21_I2V`` i2v with ``in_dim`` 36,
  ``WAN21_FunControl2V`` i2v with ``in_dim`` 48, ``WAN21_Camera`` camera with ``in_dim`` 32,
  ``WAN21_Vace`` vace; an i2v or camera file with another in_dim matches nothing and does not
  load. Keys carry no prefix, as in Comfy-Org's files (``load_diffusion_model_state_dict``
  keeps them as they are when no known prefix is found). A ``config`` metadata entry would be
  merged into the detected config (its "transformer" part), so these files use another
  metadata key. ``WAN21.concat_cond`` fills the channels of ``in_dim`` beyond the noise's
  from the conditioning (zeros without it).
* The Wan kinds share dim 128 (one head), 2 layers, FFN 512 (:data:`TINY_WAN`) and the
  4096-wide text embedding; a :class:`WanVariant` (:data:`WAN_VARIANTS`) says what sets each
  apart. The sizes are a :class:`WanShape` of their own (what detection reads: ``dim``, so
  ``dim // 128`` heads, the ``blocks.N`` count and ``ffn_dim``): ``full_models.py`` builds
  Wan 2.1 T2V 1.3B (:data:`WAN21_T2V_1_3B`: dim 1536, 12 heads, 30 layers, FFN 8960) for the
  benchmark's GPU suite, and the Wan 2.1 VAE at its released width 96 (:data:`WAN21_FULL_VAE`).
  The variants:

  - ``wan``: Wan 2.1 T2V, in/out 16 -> ``WAN21_T2V`` -> ``model_base.WAN21`` (flow matching,
    shift 8, ``latent_formats.Wan21``, image_to_video False). Wan 2.2 A14B's T2V experts
    have the same keys, so this file also stands in for its high-noise expert.
  - ``wan_low_noise``: the same layout under another seed (other weights, same names): the
    low-noise expert beside ``wan``, a second file that loads as a second model.
  - ``vace``: plus ``vace_patch_embedding`` and 2 VACE blocks -> ``WAN21_Vace`` ->
    ``model_base.WAN21_Vace``. ``WAN21_Vace.extra_conds`` concatenates per control video 32
    latent channels (inactive and reactive halves, 16 each) and 64 mask channels (the 8x8
    pixel mask of each latent cell), so ``vace_in_dim`` is 96. ``VaceWanModel`` runs VACE
    block ``j`` after main block ``i`` for ``i`` in ``range(0, num_layers, num_layers //
    vace_layers)``; its ``after_proj`` output times ``vace_strength`` is added to the hidden
    state.
  - ``wan_i2v``: Wan 2.1 I2V, in 36 (16 noise + 4 mask channels, one per pixel frame of a
    latent frame, + 16 of the start-image latent), the CLIP-vision branch ``img_emb.proj``
    (LayerNorm 1280, Linear 1280 -> 1280, GELU, Linear 1280 -> dim, LayerNorm; ``MLPProj``
    fixes 1280) and in every block ``cross_attn.k_img``, ``v_img``, ``norm_k_img`` ->
    ``WAN21_I2V`` -> ``model_base.WAN21`` with ``image_to_video=True``.
  - ``wan_flf``: the same plus ``img_emb.emb_pos`` ``[1, 514, 1280]`` (the CLIP-vision tokens
    of first and last frame, 257 each, that ``WanFirstLastFrameToVideo`` concatenates) ->
    ``WAN21_I2V`` with ``flf_pos_embed_token_number`` 514.
  - ``wan_fun_control``: the i2v keys, in 48 (16 noise + 16 control-video latent + 16
    start-image latent, no mask: ``WanFunControlToVideo``) -> ``WAN21_FunControl2V`` ->
    ``model_base.WAN21``, image_to_video False.
  - ``wan_camera``: the i2v keys plus ``control_adapter`` (``WanCamAdapter``: a 2x2 stride-2
    conv from 24 Plücker channels x 64 after an 8x pixel unshuffle to dim, then one residual
    block of two 3x3 convs), in 32 (16 noise + 16 start-image latent) -> ``WAN21_Camera`` ->
    ``model_base.WAN21_Camera`` (``CameraWanModel``), image_to_video False.
  - ``wan22_ti2v``: Wan 2.2 TI2V 5B's layout: t2v keys, in/out 48 (the Wan 2.2 VAE's latent;
    the start image replaces latent frames instead of being concatenated) -> ``WAN22_T2V`` ->
    ``model_base.WAN22`` with image_to_video True, ``latent_formats.Wan22``.
  - ``wan22_fun_control``: Wan 2.2 Fun Control A14B's layout: t2v keys, in 52 (16 noise + 16
    control + 4 mask + 16 start image; ``Wan22FunControlToVideo`` sets ``concat_mask_index``
    16) and ``ref_conv`` (a 2x2 stride-2 conv from a 16-channel reference latent to dim) ->
    ``WAN21_T2V`` -> ``model_base.WAN21`` with ``in_dim_ref_conv`` 16.
* Wan 2.1 VAE (``VAELoader``: ``comfy.sd.VAE``): ``decoder.middle.0.residual.0.gamma``
  marks the Wan VAEs, ``decoder.upsamples.0.upsamples.0.residual.2.weight`` would make it
  Wan 2.2. For 2.1 the base width is ``decoder.head.0.gamma.shape[0]``, image channels are
  ``encoder.conv1.weight.shape[1]``, output channels ``decoder.head.2.weight.shape[0]``;
  z_dim 16, width multipliers 1-2-4-4, two res blocks, temporal downsampling in the last two
  stages are fixed: 8x spatial, 4x temporal (``1 + 4k`` frames <-> ``1 + k`` latents).
* Wan 2.2 VAE (``wan22_vae``, built only for the slow tier, ``ADT_SLOW=1``): with that key
  ComfyUI builds ``comfy.ldm.wan.vae2_2.WanVAE`` from a fixed config whatever the file
  holds: encoder width 160, decoder width 256 (``WanVAE``'s default), z_dim 48, the same
  multipliers, res blocks and temporal stages as 2.1, frames patchified 2x2 into 12 channels
  around encoder and decoder: 16x spatial, 4x temporal. Its stages nest their blocks
  (``downsamples.L.downsamples.N``), its up-sampling convs keep the width (2.1's halve it)
  and each stage's shortcut (``AvgDown3D``, ``DupUp3D``) has no weights. So the file is full
  size: 705M parameters, 1.4 GB in fp16.
* Second tiny VAE, LTX-Video's (``decoder.up_blocks.0.res_blocks.0.conv1.conv.weight`` marks
  it): 128 latent channels, 32x spatial, 8x temporal (``1 + 8k`` frames). ``comfy.sd.VAE``
  takes its layout from the file's ``config`` metadata (``{"vae": {...}}``, as LTX-Video
  checkpoints can carry) and falls back to a full-size built-in config (picked by that
  tensor's width) only without one; ``VAELoader`` passes the metadata, so a cut-down VAE
  loads. (The Wan 2.2 VAE cannot be cut down: it takes 20-35 s to encode and decode 17
  frames of 64x64 on 2 CPU cores; this LTX-Video VAE takes well under a second.) Without the
  metadata, e.g. ``comfy.sd.VAE(sd=comfy.utils.load_torch_file(path))``, ComfyUI would build
  the full-size VAE and the shapes would not match: load it with ``return_metadata=True``.

Weights follow tiny_checkpoint.py (whose helpers this module imports): normal with std
``0.5 / sqrt(fan_in)`` from a generator seeded by the tensor's name (and the model's seed),
zero biases, identity norms, a sine table for the first-last-frame position embedding,
stored in fp16 (ComfyUI casts to its working dtype). Every build writes a byte-identical
file, cached outside the repository under a name carrying a hash of its layout, written
atomically, rebuilt when missing or damaged. The tiny files take well under a second each;
the Wan 2.2 VAE about 9 s and 1.9 GB of memory on 2 CPU cores.

Run as a script to build (or find) the files and print their paths and sizes (by default
every kind but the slow tier's ``wan22_vae``)::

    python tools/tiny_video_models.py [--cache-dir DIR] [--which KIND]
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple

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

ModelKind = Literal["wan", "wan_low_noise", "vace", "wan_i2v", "wan_flf", "wan_fun_control", "wan_camera",
                    "wan22_ti2v", "wan22_fun_control", "wan_vae", "ltxv_vae", "wan22_vae"]
MODEL_KINDS: tuple[ModelKind, ...] = ("wan", "wan_low_noise", "vace", "wan_i2v", "wan_flf", "wan_fun_control",
                                      "wan_camera", "wan22_ti2v", "wan22_fun_control", "wan_vae", "ltxv_vae",
                                      "wan22_vae")
# Full size, built only for the slow tier (ADT_SLOW=1) or on request.
SLOW_KINDS: tuple[ModelKind, ...] = ("wan22_vae",)
FAST_KINDS: tuple[ModelKind, ...] = tuple(kind for kind in MODEL_KINDS if kind not in SLOW_KINDS)

# --- Wan diffusion models ---------------------------------------------------------------


class WanShape(NamedTuple):
    """The sizes ComfyUI reads from a Wan file: ``dim`` (``num_heads = dim // 128``), ``layers``
    (``blocks.N``) and ``ffn_dim``; everything else is fixed by ComfyUI or set by the variant."""

    dim: int
    layers: int
    ffn_dim: int


WAN_DIM = 128  # one attention head: ComfyUI derives num_heads = dim // 128
WAN_HEAD_DIM = 128
WAN_LAYERS = 2
WAN_FFN_DIM = 512
TINY_WAN = WanShape(WAN_DIM, WAN_LAYERS, WAN_FFN_DIM)
WAN21_T2V_1_3B = WanShape(12 * WAN_HEAD_DIM, 30, 8960)  # Wan 2.1 T2V 1.3B: 12 heads of 128
WAN_FREQ_DIM = 256  # fixed by ComfyUI
WAN_TEXT_DIM = 4096  # umT5-XXL; not read from the weights, WanModel's default
WAN_PATCH = (1, 2, 2)
LATENT_CHANNELS = 16  # Wan 2.1 latent
WAN22_LATENT_CHANNELS = 48  # Wan 2.2 VAE latent (TI2V 5B)
WAN_IN_DIM = LATENT_CHANNELS
WAN_OUT_DIM = LATENT_CHANNELS
# What WAN21.concat_cond puts beside the noise: the start-image (and control) latents and, for
# I2V, a 4-channel mask (one channel per pixel frame a latent frame packs).
CONCAT_MASK_CHANNELS = 4
I2V_IN_DIM = LATENT_CHANNELS + CONCAT_MASK_CHANNELS + LATENT_CHANNELS  # noise, mask, start image
FUN_CONTROL_IN_DIM = 3 * LATENT_CHANNELS  # noise, control video, start image
CAMERA_IN_DIM = 2 * LATENT_CHANNELS  # noise, start image
WAN22_FUN_CONTROL_IN_DIM = 3 * LATENT_CHANNELS + CONCAT_MASK_CHANNELS  # noise, control, mask, start image
# The I2V CLIP-vision branch: MLPProj fixes the 1280-wide input (CLIP-H's penultimate layer).
CLIP_VISION_DIM = 1280
CLIP_VISION_TOKENS = 257
FLF_TOKENS = 2 * CLIP_VISION_TOKENS  # first and last frame's CLIP-vision tokens
FLF_POSITION_BASE = 10000.0  # emb_pos is a sine table (learned in real files)
# WanCamAdapter: 24 Plücker channels (6 x the 4 pixel frames of a latent frame), unshuffled 8x.
CAMERA_CHANNELS = 24
CAMERA_UNSHUFFLE = 8
# Wan 2.2 A14B's low-noise expert: another seed. make_tensor seeds a tensor's generator with
# seed + a hash of its name, and torch's CPU generator keeps only the low 32 bits of that, so the
# offset must change them (2**32 or more would give the same weights).
LOW_NOISE_SEED = SEED + 1
# VACE: per control video, 2 x 16 latent channels (inactive, reactive) + 8 x 8 mask channels.
VACE_MASK_CHANNELS = 64
VACE_IN_DIM = 2 * LATENT_CHANNELS + VACE_MASK_CHANNELS
VACE_LAYERS = 2  # one VACE block after each main block


class WanVariant(NamedTuple):
    """What sets one Wan diffusion model apart from the T2V layout (the defaults).

    ``in_dim``: ``patch_embedding`` input channels (the noise and what ``concat_cond`` adds);
    ``out_dim``: latent channels predicted; ``image_branch``: the i2v CLIP-vision branch
    (``img_emb.proj`` and the image keys of every cross-attention); ``flf_tokens``: positions of
    ``img_emb.emb_pos`` (None: none); ``camera``: the ``control_adapter``; ``ref_conv_in``:
    input channels of ``ref_conv`` (None: none); ``vace``: VACE patch embedding and blocks;
    ``seed``: of the weights.
    """

    in_dim: int = WAN_IN_DIM
    out_dim: int = WAN_OUT_DIM
    image_branch: bool = False
    flf_tokens: int | None = None
    camera: bool = False
    ref_conv_in: int | None = None
    vace: bool = False
    seed: int = SEED


WAN_VARIANTS: dict[ModelKind, WanVariant] = {
    "wan": WanVariant(),
    "wan_low_noise": WanVariant(seed=LOW_NOISE_SEED),
    "vace": WanVariant(vace=True),
    "wan_i2v": WanVariant(in_dim=I2V_IN_DIM, image_branch=True),
    "wan_flf": WanVariant(in_dim=I2V_IN_DIM, image_branch=True, flf_tokens=FLF_TOKENS),
    "wan_fun_control": WanVariant(in_dim=FUN_CONTROL_IN_DIM, image_branch=True),
    "wan_camera": WanVariant(in_dim=CAMERA_IN_DIM, image_branch=True, camera=True),
    "wan22_ti2v": WanVariant(in_dim=WAN22_LATENT_CHANNELS, out_dim=WAN22_LATENT_CHANNELS),
    "wan22_fun_control": WanVariant(in_dim=WAN22_FUN_CONTROL_IN_DIM, ref_conv_in=LATENT_CHANNELS),
}

# --- Wan VAEs ---------------------------------------------------------------------------
WAN_VAE_DIM_MULT = (1, 2, 4, 4)  # fixed by ComfyUI (2.1 and 2.2)
WAN_VAE_RES_BLOCKS = 2  # per encoder stage; the decoder's have one more
WAN_VAE_TEMPORAL_DOWN = (False, True, True)
IMAGE_CHANNELS = 3


class WanVaeSpec(NamedTuple):
    """One Wan VAE generation. ``encoder_dim``, ``decoder_dim``: base widths; ``latent_channels``:
    z_dim; ``patch``: pixels folded into channels around the model (2x2 in Wan 2.2);
    ``nested``: stages name their blocks ``downsamples.L.downsamples.N`` and up-sampling keeps
    the width (Wan 2.2) instead of one flat ``downsamples.N`` sequence whose up-sampling
    convs halve the channels (Wan 2.1)."""

    encoder_dim: int
    decoder_dim: int
    latent_channels: int
    patch: int
    nested: bool


WAN_VAE_DIM = 16  # the tiny Wan 2.1 VAE's width; ComfyUI reads it from decoder.head.0.gamma
WAN21_VAE = WanVaeSpec(WAN_VAE_DIM, WAN_VAE_DIM, LATENT_CHANNELS, 1, nested=False)
WAN21_FULL_VAE = WAN21_VAE._replace(encoder_dim=96, decoder_dim=96)  # the released Wan 2.1 VAE's width
# Fixed by ComfyUI (comfy/sd.py builds WanVAE(dim=160), whose decoder width defaults to 256).
WAN22_VAE = WanVaeSpec(160, 256, WAN22_LATENT_CHANNELS, 2, nested=True)
WAN_VAE_SPECS: dict[ModelKind, WanVaeSpec] = {"wan_vae": WAN21_VAE, "wan22_vae": WAN22_VAE}

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
    "wan_low_noise": "tiny-wan21-t2v-low-noise",
    "vace": "tiny-wan21-vace",
    "wan_i2v": "tiny-wan21-i2v",
    "wan_flf": "tiny-wan21-flf2v",
    "wan_fun_control": "tiny-wan21-fun-control",
    "wan_camera": "tiny-wan21-camera",
    "wan22_ti2v": "tiny-wan22-ti2v",
    "wan22_fun_control": "tiny-wan22-fun-control",
    "wan_vae": "tiny-wan21-vae",
    "ltxv_vae": "tiny-ltxv-vae",
    "wan22_vae": "full-wan22-vae",
}
# The ComfyUI model folder (and loader) of each kind: UNETLoader or VAELoader.
MODEL_FOLDERS: dict[ModelKind, str] = {
    **{kind: "diffusion_models" for kind in WAN_VARIANTS},
    **{kind: "vae" for kind in (*WAN_VAE_SPECS, "ltxv_vae")},
}


def _conv_nd(name: str, c_in: int, c_out: int, kernel: tuple[int, ...], *, bias: bool = True) -> Iterator[Param]:
    """A 2-D or 3-D conv: weight ``[c_out, c_in, *kernel]`` and a zero bias."""
    yield Param(f"{name}.weight", (c_out, c_in, *kernel), "normal", STD_GAIN)
    if bias:
        yield Param(f"{name}.bias", (c_out,), "const", 0.0)


def _ones(name: str, shape: tuple[int, ...]) -> Param:
    return Param(name, shape, "const", 1.0)


# --- Wan diffusion models ---------------------------------------------------------------


def _wan_attention(p: str, dim: int, *, image: bool = False) -> Iterator[Param]:
    """Self- or text cross-attention: q, k, v, o at model width, RMS qk-norms; with ``image``
    (i2v cross-attention) also the CLIP-vision tokens' key, value and key norm."""
    for proj in ("q", "k", "v", "o"):
        yield from linear(f"{p}.{proj}", dim, dim)
    yield _ones(f"{p}.norm_q.weight", (dim,))
    yield _ones(f"{p}.norm_k.weight", (dim,))
    if image:
        yield from linear(f"{p}.k_img", dim, dim)
        yield from linear(f"{p}.v_img", dim, dim)
        yield _ones(f"{p}.norm_k_img.weight", (dim,))


def _wan_block(p: str, shape: WanShape, *, image: bool = False) -> Iterator[Param]:
    """``WanAttentionBlock`` (norm1 and norm2 have no weights); ``image``: i2v cross-attention."""
    yield from _wan_attention(f"{p}.self_attn", shape.dim)
    yield from norm(f"{p}.norm3", shape.dim)  # cross_attn_norm
    yield from _wan_attention(f"{p}.cross_attn", shape.dim, image=image)
    yield from linear(f"{p}.ffn.0", shape.dim, shape.ffn_dim)
    yield from linear(f"{p}.ffn.2", shape.ffn_dim, shape.dim)
    yield Param(f"{p}.modulation", (1, 6, shape.dim), "normal", STD_GAIN)


def _wan_vace_block(p: str, index: int, shape: WanShape) -> Iterator[Param]:
    yield from _wan_block(p, shape)
    if index == 0:
        yield from linear(f"{p}.before_proj", shape.dim, shape.dim)
    yield from linear(f"{p}.after_proj", shape.dim, shape.dim)


def _wan_image_embedding(p: str, dim: int, flf_tokens: int | None) -> Iterator[Param]:
    """``MLPProj``: CLIP-vision tokens to model width (LayerNorm, Linear, GELU, Linear, LayerNorm)
    and, for first-last-frame models, a position embedding over both frames' tokens."""
    yield from norm(f"{p}.proj.0", CLIP_VISION_DIM)
    yield from linear(f"{p}.proj.1", CLIP_VISION_DIM, CLIP_VISION_DIM)
    yield from linear(f"{p}.proj.3", CLIP_VISION_DIM, dim)
    yield from norm(f"{p}.proj.4", dim)
    if flf_tokens is not None:
        yield Param(f"{p}.emb_pos", (1, flf_tokens, CLIP_VISION_DIM), "sinusoid", FLF_POSITION_BASE)


def _wan_camera_adapter(p: str, dim: int) -> Iterator[Param]:
    """``WanCamAdapter``: a conv over the unshuffled Plücker rays, one patch per token, then a
    residual block of two 3x3 convs."""
    yield from _conv_nd(f"{p}.conv", CAMERA_CHANNELS * CAMERA_UNSHUFFLE**2, dim, WAN_PATCH[1:])
    yield from _conv_nd(f"{p}.residual_blocks.0.conv1", dim, dim, (3, 3))
    yield from _conv_nd(f"{p}.residual_blocks.0.conv2", dim, dim, (3, 3))


def wan_layout(variant: WanVariant = WanVariant(), shape: WanShape = TINY_WAN) -> list[Param]:
    """Every tensor of the Wan diffusion model ``variant`` (default: Wan 2.1 T2V) at the sizes
    ``shape`` (default: the tiny ones)."""
    dim = shape.dim
    params: list[Param] = []
    params += _conv_nd("patch_embedding", variant.in_dim, dim, WAN_PATCH)
    params += linear("text_embedding.0", WAN_TEXT_DIM, dim)
    params += linear("text_embedding.2", dim, dim)
    params += linear("time_embedding.0", WAN_FREQ_DIM, dim)
    params += linear("time_embedding.2", dim, dim)
    params += linear("time_projection.1", dim, 6 * dim)
    for i in range(shape.layers):
        params += _wan_block(f"blocks.{i}", shape, image=variant.image_branch)
    params += linear("head.head", dim, math.prod(WAN_PATCH) * variant.out_dim)
    params.append(Param("head.modulation", (1, 2, dim), "normal", STD_GAIN))
    if variant.image_branch:
        params += _wan_image_embedding("img_emb", dim, variant.flf_tokens)
    elif variant.flf_tokens is not None:
        raise ValueError("Wan variant: a first-last-frame position embedding needs the image branch")
    if variant.camera:
        params += _wan_camera_adapter("control_adapter", dim)
    if variant.ref_conv_in is not None:
        params += _conv_nd("ref_conv", variant.ref_conv_in, dim, WAN_PATCH[1:])
    if variant.vace:
        params += _conv_nd("vace_patch_embedding", VACE_IN_DIM, dim, WAN_PATCH)
        for j in range(VACE_LAYERS):
            params += _wan_vace_block(f"vace_blocks.{j}", j, shape)
    return _checked(params, "Wan")


# --- Wan VAEs ---------------------------------------------------------------------------


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


def _wan_vae_resample(p: str, ch: int, spatial_out: int, *, up: bool, temporal: bool) -> Iterator[Param]:
    """Spatial 2x (a 2-D conv to ``spatial_out`` channels) plus, when ``temporal``, a causal
    (3, 1, 1) time conv (upsampling: doubling the channels into two frames)."""
    yield from _conv_nd(f"{p}.resample.1", ch, spatial_out, (3, 3))
    if temporal:
        yield from _conv_nd(f"{p}.time_conv", ch, 2 * ch if up else ch, (3, 1, 1))


def _wan_vae_middle(p: str, ch: int) -> Iterator[Param]:
    yield from _wan_vae_residual(f"{p}.0", ch, ch)
    yield from _wan_vae_attention(f"{p}.1", ch)
    yield from _wan_vae_residual(f"{p}.2", ch, ch)


def _wan_vae_stages(p: str, widths: list[int], spec: WanVaeSpec, *, up: bool) -> Iterator[Param]:
    """The encoder's down or the decoder's up stages: per width step, res blocks and (but after
    the last) a resample, named and sized as ``spec`` says (see :class:`WanVaeSpec`)."""
    group = "upsamples" if up else "downsamples"
    blocks = WAN_VAE_RES_BLOCKS + 1 if up else WAN_VAE_RES_BLOCKS
    temporal = tuple(reversed(WAN_VAE_TEMPORAL_DOWN)) if up else WAN_VAE_TEMPORAL_DOWN
    halve = up and not spec.nested
    last = len(widths) - 2
    index = 0  # flat numbering (Wan 2.1)
    for level, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
        if halve and level > 0:
            c_in //= 2  # the previous upsample halved the channels
        names = [f"{p}.{group}.{level}.{group}.{j}" if spec.nested else f"{p}.{group}.{index + j}"
                 for j in range(blocks + 1)]
        for name in names[:blocks]:
            yield from _wan_vae_residual(name, c_in, c_out)
            c_in = c_out
        index += blocks
        if level != last:
            yield from _wan_vae_resample(names[blocks], c_out, c_out // 2 if halve else c_out, up=up,
                                         temporal=temporal[level])
            index += 1


def _wan_vae_encoder(p: str, spec: WanVaeSpec) -> Iterator[Param]:
    widths = [spec.encoder_dim * m for m in (1, *WAN_VAE_DIM_MULT)]
    yield from _conv_nd(f"{p}.conv1", IMAGE_CHANNELS * spec.patch**2, widths[0], (3, 3, 3))
    yield from _wan_vae_stages(p, widths, spec, up=False)
    yield from _wan_vae_middle(f"{p}.middle", widths[-1])
    yield _rms_gamma(f"{p}.head.0", widths[-1])
    yield from _conv_nd(f"{p}.head.2", widths[-1], 2 * spec.latent_channels, (3, 3, 3))  # mean, log-variance


def _wan_vae_decoder(p: str, spec: WanVaeSpec) -> Iterator[Param]:
    widths = [spec.decoder_dim * m for m in (WAN_VAE_DIM_MULT[-1], *reversed(WAN_VAE_DIM_MULT))]
    yield from _conv_nd(f"{p}.conv1", spec.latent_channels, widths[0], (3, 3, 3))
    yield from _wan_vae_middle(f"{p}.middle", widths[0])
    yield from _wan_vae_stages(p, widths, spec, up=True)
    yield _rms_gamma(f"{p}.head.0", widths[-1])  # ComfyUI reads the Wan 2.1 base width here
    yield from _conv_nd(f"{p}.head.2", widths[-1], IMAGE_CHANNELS * spec.patch**2, (3, 3, 3))


def wan_vae_layout(spec: WanVaeSpec = WAN21_VAE) -> list[Param]:
    """Every tensor of a Wan VAE: the tiny Wan 2.1 one (default), :data:`WAN21_FULL_VAE` or
    :data:`WAN22_VAE`."""
    z = spec.latent_channels
    params = [
        *_wan_vae_encoder("encoder", spec),
        *_conv_nd("conv1", 2 * z, 2 * z, (1, 1, 1)),
        *_conv_nd("conv2", z, z, (1, 1, 1)),
        *_wan_vae_decoder("decoder", spec),
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
    """Every tensor of the model ``kind`` (one of :data:`MODEL_KINDS`), in file order."""
    if kind in WAN_VARIANTS:
        return wan_layout(WAN_VARIANTS[kind])
    if kind in WAN_VAE_SPECS:
        return wan_vae_layout(WAN_VAE_SPECS[kind])
    if kind == "ltxv_vae":
        return ltxv_vae_layout()
    raise ValueError(f"kind must be one of {MODEL_KINDS}, not {kind!r}")


def seed(kind: ModelKind) -> int:
    """The seed of the model's "normal" tensors (:func:`tiny_checkpoint.make_tensor`)."""
    return WAN_VARIANTS[kind].seed if kind in WAN_VARIANTS else SEED


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
        "seed": seed(kind),
        "dtype": str(STORE_DTYPE),
        "metadata": _metadata(kind),
        "params": [[p.name, list(p.shape), p.kind, p.value] for p in layout(kind)],
    }
    blob = json.dumps(description, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def build_state_dict(kind: ModelKind) -> dict[str, torch.Tensor]:
    """The model's tensors, freshly generated."""
    return {param.name: make_tensor(param, seed(kind)) for param in layout(kind)}


def _writer(kind: ModelKind, version: str) -> Callable[[Path], None]:
    size = "" if kind in SLOW_KINDS else "tiny "

    def write(path: Path) -> None:
        log.info("Building %s%s model (%s parameters) at %s", size, kind, f"{parameter_count(kind):,}", path)
        key, info = _metadata(kind)
        info = {**info, "layout": version, "about": f"random-weight {size}{kind} model for integration tests"}
        write_safetensors_atomically(path, build_state_dict(kind), key, info)

    return write


def ensure_tiny_model(kind: ModelKind, cache_dir: str | os.PathLike[str] | None = None) -> str:
    """Path of the model ``kind`` (one of :data:`MODEL_KINDS`; ComfyUI's folder for it is
    :data:`MODEL_FOLDERS`), building it in ``cache_dir`` if missing or damaged. Concurrent
    callers are safe: each writes its own temporary file and renames it into place."""
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
                      for kind in args.which or FAST_KINDS],
        lambda parser: parser.add_argument(
            "--which", choices=MODEL_KINDS, action="append",
            help=f"model to build; repeat for several (default: all but the slow tier's {', '.join(SLOW_KINDS)})"),
    )


if __name__ == "__main__":
    raise SystemExit(main())
