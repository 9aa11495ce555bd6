"""A tiny SD1.5-format checkpoint with deterministic random weights, for integration tests.

ComfyUI picks a checkpoint's model family from the names and shapes of its tensors, not
from a config file. So a ``.safetensors`` file with SD1.5's key layout, a cut-down UNet
and random weights loads through ``CheckpointLoaderSimple`` (ComfyUI 0.29) as SD1.5, with
UNet, VAE and CLIP-L text encoder. Each part is as small as ComfyUI's detection allows:

* UNet: 320 channels and 768-wide cross-attention (the SD15 match requires both), two
  levels at 320 channels (``channel_mult (1, 1)``) with one res block each, one depth-1
  transformer in the lower level's input block (detection reads ``context_dim`` there),
  no middle block and no transformers in the output blocks. 24.5M parameters. Attention
  runs at a quarter of the latent's area, so larger guide sizes stay affordable.
* VAE (``vae="kl"``, the default): SD's AutoencoderKL. ComfyUI always builds the encoder
  at SD size (ch 128, mult 1-2-4-4, 2 res blocks) but reads the decoder width from
  ``decoder.conv_in``, so the decoder uses ch 32, the narrowest 32-group GroupNorm allows.
* VAE (``vae="kl_full"``): SD's AutoencoderKL at its own size, the decoder as wide as the
  encoder (ch 128): the VAE of a real SD1.5 checkpoint, for measurements at full size.
* VAE (``vae="taesd"``, opt-in): a TAESD (tiny autoencoder) under the same prefix, which
  ComfyUI also accepts as a checkpoint's VAE. Same latent shape (4 channels, 1/8 size);
  on the CPU it encodes 256x256 frames about five times faster than the KL encoder.
* CLIP-L: full size (12 layers, width 768, 49408-token vocabulary), as ComfyUI builds it
  from a fixed config and leaves any weight the file lacks uninitialised.

The UNet layout is a parameter (:class:`UNetLayout`): the same function builds SD1.5's
full-size UNet (``SD15_UNET``), which ``motion_models.py`` uses for AnimateDiff tests and
``full_models.py`` for the benchmark's GPU suite.

Weights are normal with std ``0.5 / sqrt(fan_in)`` from a generator seeded per tensor,
biases are zero and norms are identity (TAESD, which has no norms, uses unit gain), so
every run writes a byte-identical file and sampling stays finite. :func:`make_tensor` can draw
on another device (a GPU draws a full-size model in seconds); its values then differ from the
CPU's, so the device goes into the layout hash (:func:`params_hash`) of such files. Nothing is downloaded
or committed: the file is cached outside the repository under a name carrying a hash of
its layout, written atomically, and rebuilt when missing or damaged.

Run as a script to build (or find) the file and print its path and size::

    python tools/tiny_checkpoint.py [--cache-dir DIR] [--vae kl|taesd]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal, NamedTuple

import torch

log = logging.getLogger(__name__)

VaeKind = Literal["kl", "taesd", "kl_full"]
VAE_KINDS: tuple[VaeKind, ...] = ("kl", "taesd", "kl_full")

# Bump when generation changes in a way the layout hash does not capture.
GENERATOR_VERSION = 1
SEED = 1_234_567
STD_GAIN = 0.5
STORE_DTYPE = torch.float16
CACHE_SUBDIR = "animatediff-detailer"
FILE_STEM = "tiny-sd15"

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer.text_model."

LATENT_CHANNELS = 4
IMAGE_CHANNELS = 3

# UNet. ComfyUI's SD15 entry requires model_channels 320, context_dim 768, a conv proj_in
# (use_linear_in_transformer False), no label_emb (adm_in_channels None), no temporal
# layers; level count, res blocks and transformer depths are free.
UNET_CHANNELS = 320
UNET_TIME_DIM = 4 * UNET_CHANNELS
UNET_RES_BLOCKS = 1
# One entry per level, all at 320 channels: does the level's input res block carry a
# transformer? Detection needs at least one, to read context_dim.
UNET_LEVEL_ATTENTION: tuple[bool, ...] = (False, True)
CONTEXT_DIM = 768


class UNetLayout(NamedTuple):
    """The shape of an SD1.5-family UNet (always 320 base channels, 768-wide context).

    ``channel_mult``: width of each level in units of 320; ``level_attention``: whether a
    level's blocks carry a depth-1 transformer (input side, and output side when
    ``output_attention``); ``middle_block``: res, transformer, res at the bottom.
    """

    channel_mult: tuple[int, ...]
    res_blocks: int
    level_attention: tuple[bool, ...]
    middle_block: bool
    output_attention: bool


# The tiny test UNet described above.
TINY_UNET = UNetLayout((1,) * len(UNET_LEVEL_ATTENTION), UNET_RES_BLOCKS, UNET_LEVEL_ATTENTION, False, False)
# SD1.5's own UNet (860M parameters): what AnimateDiff motion modules are built for.
SD15_UNET = UNetLayout((1, 2, 4, 4), 2, (True, True, True, False), True, True)

# AutoencoderKL: ComfyUI fixes the encoder; only the decoder width follows the weights.
KL_CH_MULT = (1, 2, 4, 4)
KL_RES_BLOCKS = 2
KL_ENCODER_CH = 128
KL_DECODER_CH = 32
KL_FULL_DECODER_CH = KL_ENCODER_CH  # SD's own VAE: the decoder as wide as the encoder

# TAESD: fixed width, three 2x stages each way. It has no norm layers, so at STD_GAIN the
# signal would fade through its ~20 convs (constant output); it uses unit gain instead,
# and a damped last conv with bias 0.5 so decoded images sit around mid-grey, unclipped.
TAESD_CH = 64
TAESD_STAGES = 3
TAESD_BLOCKS_PER_STAGE = 3
TAESD_GAIN = 1.0
TAESD_OUT_GAIN = 0.1
TAESD_OUT_BIAS = 0.5

# CLIP-L, as in ComfyUI's sd1_clip_config.json.
CLIP_WIDTH = 768
CLIP_LAYERS = 12
CLIP_MLP = 3072
CLIP_VOCAB = 49408
CLIP_POSITIONS = 77


class Param(NamedTuple):
    """One tensor of the checkpoint: key, shape and fill.

    ``kind`` "normal": std ``value / sqrt(fan_in)``; ``kind`` "const": every element ``value``;
    ``kind`` "sinusoid": a sine/cosine position table ``[..., positions, features]`` with base
    ``value`` (a transformer's fixed positional encoding; unused by this file's checkpoint).
    """

    name: str
    shape: tuple[int, ...]
    kind: Literal["normal", "const", "sinusoid"]
    value: float


def linear(name: str, n_in: int, n_out: int, bias: bool = True) -> Iterator[Param]:
    """A linear layer's weight (``[n_out, n_in]``) and, unless ``bias`` is False, its zero bias."""
    yield Param(f"{name}.weight", (n_out, n_in), "normal", STD_GAIN)
    if bias:
        yield Param(f"{name}.bias", (n_out,), "const", 0.0)


def _conv(
    name: str, c_in: int, c_out: int, kernel: int, *, bias: float | None = 0.0, gain: float = STD_GAIN
) -> Iterator[Param]:
    """A conv's weight and (unless ``bias`` is None) its bias, filled with ``bias``."""
    yield Param(f"{name}.weight", (c_out, c_in, kernel, kernel), "normal", gain)
    if bias is not None:
        yield Param(f"{name}.bias", (c_out,), "const", bias)


def norm(name: str, channels: int) -> Iterator[Param]:
    """An identity affine norm: unit weight, zero bias."""
    yield Param(f"{name}.weight", (channels,), "const", 1.0)
    yield Param(f"{name}.bias", (channels,), "const", 0.0)


# --- UNet -------------------------------------------------------------------------------


def _unet_resblock(p: str, c_in: int, c_out: int) -> Iterator[Param]:
    yield from norm(f"{p}.in_layers.0", c_in)
    yield from _conv(f"{p}.in_layers.2", c_in, c_out, 3)
    yield from linear(f"{p}.emb_layers.1", UNET_TIME_DIM, c_out)
    yield from norm(f"{p}.out_layers.0", c_out)
    yield from _conv(f"{p}.out_layers.3", c_out, c_out, 3)
    if c_in != c_out:
        yield from _conv(f"{p}.skip_connection", c_in, c_out, 1)


def _unet_transformer(p: str, ch: int) -> Iterator[Param]:
    """A depth-1 spatial transformer with 1x1-conv projections, as in SD1.5."""
    yield from norm(f"{p}.norm", ch)
    yield from _conv(f"{p}.proj_in", ch, ch, 1)
    block = f"{p}.transformer_blocks.0"
    for attn, context in (("attn1", ch), ("attn2", CONTEXT_DIM)):
        yield from linear(f"{block}.{attn}.to_q", ch, ch, bias=False)
        yield from linear(f"{block}.{attn}.to_k", context, ch, bias=False)
        yield from linear(f"{block}.{attn}.to_v", context, ch, bias=False)
        yield from linear(f"{block}.{attn}.to_out.0", ch, ch)
    yield from linear(f"{block}.ff.net.0.proj", ch, 8 * ch)  # GEGLU: value and gate, 4*ch each
    yield from linear(f"{block}.ff.net.2", 4 * ch, ch)
    for norm_name in ("norm1", "norm2", "norm3"):
        yield from norm(f"{block}.{norm_name}", ch)
    yield from _conv(f"{p}.proj_out", ch, ch, 1)


def _unet_params(p: str, layout: UNetLayout = TINY_UNET) -> Iterator[Param]:
    """Conv in; per level, res blocks (with a transformer where enabled) and a downsample
    between levels; the middle block if any; output res blocks mirroring the input side,
    each fed one skip connection, with an upsample closing every level but the top one."""
    if len(layout.channel_mult) != len(layout.level_attention):
        raise ValueError("UNet layout: one attention flag per level")
    yield from linear(f"{p}time_embed.0", UNET_CHANNELS, UNET_TIME_DIM)
    yield from linear(f"{p}time_embed.2", UNET_TIME_DIM, UNET_TIME_DIM)
    ch = UNET_CHANNELS
    yield from _conv(f"{p}input_blocks.0.0", LATENT_CHANNELS, ch, 3)
    skips = [ch]  # width of each input block's output, consumed by the output blocks in reverse
    block = 1
    last_level = len(layout.channel_mult) - 1
    for level, (mult, attention) in enumerate(zip(layout.channel_mult, layout.level_attention)):
        for _ in range(layout.res_blocks):
            yield from _unet_resblock(f"{p}input_blocks.{block}.0", ch, mult * UNET_CHANNELS)
            ch = mult * UNET_CHANNELS
            if attention:
                yield from _unet_transformer(f"{p}input_blocks.{block}.1", ch)
            skips.append(ch)
            block += 1
        if level != last_level:
            yield from _conv(f"{p}input_blocks.{block}.0.op", ch, ch, 3)
            skips.append(ch)
            block += 1
    if layout.middle_block:
        yield from _unet_resblock(f"{p}middle_block.0", ch, ch)
        yield from _unet_transformer(f"{p}middle_block.1", ch)
        yield from _unet_resblock(f"{p}middle_block.2", ch, ch)
    block = 0
    for level in reversed(range(len(layout.channel_mult))):
        width = layout.channel_mult[level] * UNET_CHANNELS
        attention = layout.output_attention and layout.level_attention[level]
        for i in range(layout.res_blocks + 1):
            # Input: the running features plus one skip connection.
            yield from _unet_resblock(f"{p}output_blocks.{block}.0", ch + skips.pop(), width)
            ch = width
            if attention:
                yield from _unet_transformer(f"{p}output_blocks.{block}.1", ch)
            if level != 0 and i == layout.res_blocks:
                yield from _conv(f"{p}output_blocks.{block}.{2 if attention else 1}.conv", ch, ch, 3)
            block += 1
    if skips:
        raise AssertionError("UNet layout: skip connections do not pair up")
    yield from norm(f"{p}out.0", ch)
    yield from _conv(f"{p}out.2", ch, LATENT_CHANNELS, 3)


# --- VAE: AutoencoderKL -----------------------------------------------------------------


def _kl_resnet(p: str, c_in: int, c_out: int) -> Iterator[Param]:
    yield from norm(f"{p}.norm1", c_in)
    yield from _conv(f"{p}.conv1", c_in, c_out, 3)
    yield from norm(f"{p}.norm2", c_out)
    yield from _conv(f"{p}.conv2", c_out, c_out, 3)
    if c_in != c_out:
        yield from _conv(f"{p}.nin_shortcut", c_in, c_out, 1)


def _kl_mid(p: str, ch: int) -> Iterator[Param]:
    yield from _kl_resnet(f"{p}.block_1", ch, ch)
    yield from norm(f"{p}.attn_1.norm", ch)
    for proj in ("q", "k", "v", "proj_out"):
        yield from _conv(f"{p}.attn_1.{proj}", ch, ch, 1)
    yield from _kl_resnet(f"{p}.block_2", ch, ch)


def _kl_encoder(p: str) -> Iterator[Param]:
    widths = [KL_ENCODER_CH * m for m in KL_CH_MULT]
    ch = widths[0]
    yield from _conv(f"{p}.conv_in", IMAGE_CHANNELS, ch, 3)
    for level, width in enumerate(widths):
        for j in range(KL_RES_BLOCKS):
            yield from _kl_resnet(f"{p}.down.{level}.block.{j}", ch, width)
            ch = width
        if level != len(widths) - 1:
            yield from _conv(f"{p}.down.{level}.downsample.conv", ch, ch, 3)
    yield from _kl_mid(f"{p}.mid", ch)
    yield from norm(f"{p}.norm_out", ch)
    yield from _conv(f"{p}.conv_out", ch, 2 * LATENT_CHANNELS, 3)  # mean and log-variance


def _kl_decoder(p: str, base: int) -> Iterator[Param]:
    widths = [base * m for m in KL_CH_MULT]
    ch = widths[-1]
    yield from _conv(f"{p}.conv_in", LATENT_CHANNELS, ch, 3)
    yield from _kl_mid(f"{p}.mid", ch)
    for level in reversed(range(len(widths))):
        for j in range(KL_RES_BLOCKS + 1):
            yield from _kl_resnet(f"{p}.up.{level}.block.{j}", ch, widths[level])
            ch = widths[level]
        if level != 0:
            yield from _conv(f"{p}.up.{level}.upsample.conv", ch, ch, 3)
    yield from norm(f"{p}.norm_out", ch)
    yield from _conv(f"{p}.conv_out", ch, IMAGE_CHANNELS, 3)


def _kl_params(p: str, decoder_ch: int = KL_DECODER_CH) -> Iterator[Param]:
    yield from _kl_encoder(f"{p}encoder")
    yield from _conv(f"{p}quant_conv", 2 * LATENT_CHANNELS, 2 * LATENT_CHANNELS, 1)
    yield from _conv(f"{p}post_quant_conv", LATENT_CHANNELS, LATENT_CHANNELS, 1)
    yield from _kl_decoder(f"{p}decoder", decoder_ch)


# --- VAE: TAESD -------------------------------------------------------------------------


def _taesd_block(p: str) -> Iterator[Param]:
    for index in (0, 2, 4):  # conv, ReLU, conv, ReLU, conv; equal widths, so no skip conv
        yield from _conv(f"{p}.conv.{index}", TAESD_CH, TAESD_CH, 3, gain=TAESD_GAIN)


def _taesd_encoder(p: str) -> Iterator[Param]:
    yield from _conv(f"{p}.0", IMAGE_CHANNELS, TAESD_CH, 3, gain=TAESD_GAIN)
    yield from _taesd_block(f"{p}.1")
    index = 2
    for _ in range(TAESD_STAGES):
        yield from _conv(f"{p}.{index}", TAESD_CH, TAESD_CH, 3, bias=None, gain=TAESD_GAIN)  # stride 2
        index += 1
        for _ in range(TAESD_BLOCKS_PER_STAGE):
            yield from _taesd_block(f"{p}.{index}")
            index += 1
    yield from _conv(f"{p}.{index}", TAESD_CH, LATENT_CHANNELS, 3, gain=TAESD_GAIN)


def _taesd_decoder(p: str) -> Iterator[Param]:
    yield from _conv(f"{p}.1", LATENT_CHANNELS, TAESD_CH, 3, gain=TAESD_GAIN)  # 0 is a clamp, 2 a ReLU
    index = 3
    for _ in range(TAESD_STAGES):
        for _ in range(TAESD_BLOCKS_PER_STAGE):
            yield from _taesd_block(f"{p}.{index}")
            index += 1
        index += 1  # nearest-neighbour upsample, no weights
        yield from _conv(f"{p}.{index}", TAESD_CH, TAESD_CH, 3, bias=None, gain=TAESD_GAIN)
        index += 1
    yield from _taesd_block(f"{p}.{index}")
    last = f"{p}.{index + 1}"
    yield from _conv(last, TAESD_CH, IMAGE_CHANNELS, 3, bias=TAESD_OUT_BIAS, gain=TAESD_OUT_GAIN)


def _taesd_params(p: str) -> Iterator[Param]:
    yield from _taesd_encoder(f"{p}taesd_encoder")
    yield from _taesd_decoder(f"{p}taesd_decoder")
    yield Param(f"{p}vae_scale", (), "const", 1.0)
    yield Param(f"{p}vae_shift", (), "const", 0.0)


# --- CLIP-L -----------------------------------------------------------------------------


def _clip_params(p: str) -> Iterator[Param]:
    """CLIP-L text model. No position_ids or text_projection: SD1.5 loading uses neither."""
    embeddings = f"{p}embeddings"
    yield Param(f"{embeddings}.token_embedding.weight", (CLIP_VOCAB, CLIP_WIDTH), "normal", STD_GAIN)
    yield Param(f"{embeddings}.position_embedding.weight", (CLIP_POSITIONS, CLIP_WIDTH), "normal", STD_GAIN)
    for i in range(CLIP_LAYERS):
        layer = f"{p}encoder.layers.{i}"
        yield from norm(f"{layer}.layer_norm1", CLIP_WIDTH)
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            yield from linear(f"{layer}.self_attn.{proj}", CLIP_WIDTH, CLIP_WIDTH)
        yield from norm(f"{layer}.layer_norm2", CLIP_WIDTH)
        yield from linear(f"{layer}.mlp.fc1", CLIP_WIDTH, CLIP_MLP)
        yield from linear(f"{layer}.mlp.fc2", CLIP_MLP, CLIP_WIDTH)
    yield from norm(f"{p}final_layer_norm", CLIP_WIDTH)


# --- building and caching ---------------------------------------------------------------


def _check_vae(vae: str) -> None:
    if vae not in VAE_KINDS:
        raise ValueError(f"vae must be one of {VAE_KINDS}, not {vae!r}")


def checkpoint_layout(vae: VaeKind = "kl", unet: UNetLayout = TINY_UNET) -> list[Param]:
    """Every tensor of the checkpoint, in file order."""
    _check_vae(vae)
    if vae == "taesd":
        vae_params = _taesd_params(VAE_PREFIX)
    else:
        vae_params = _kl_params(VAE_PREFIX, KL_FULL_DECODER_CH if vae == "kl_full" else KL_DECODER_CH)
    params = [*_unet_params(UNET_PREFIX, unet), *vae_params, *_clip_params(CLIP_PREFIX)]
    if len({p.name for p in params}) != len(params):
        raise AssertionError("duplicate tensor names in the tiny checkpoint layout")
    return params


def unet_parameter_count() -> int:
    """Number of parameters of the tiny checkpoint's UNet."""
    return sum(math.prod(p.shape) for p in _unet_params(UNET_PREFIX, TINY_UNET))


def layout_hash(vae: VaeKind = "kl") -> str:
    """Short hash of the tiny checkpoint's layout, fills, seed and dtype; part of the cached file's name."""
    return params_hash(checkpoint_layout(vae), GENERATOR_VERSION)


def params_hash(params: list[Param], generator_version: int, device: str | None = None) -> str:
    """Short hash of a layout's tensors and fills, the seed, the dtype and ``generator_version``,
    and of the ``device`` that draws the values unless that is the CPU (whose hashes predate it)."""
    description = {
        "generator": generator_version,
        "seed": SEED,
        "dtype": str(STORE_DTYPE),
        "params": [[p.name, list(p.shape), p.kind, p.value] for p in params],
    }
    if _draws_elsewhere(device):
        description["device"] = torch.device(device).type
    blob = json.dumps(description, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/animatediff-detailer`` (``~/.cache`` if unset; temp dir if no home)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if base.startswith("~"):  # expanduser found no home directory
        base = tempfile.gettempdir()
    return Path(base) / CACHE_SUBDIR


def _draws_elsewhere(device: str | None) -> bool:
    return device is not None and torch.device(device).type != "cpu"


def make_tensor(param: Param, seed: int = SEED, device: str | None = None) -> torch.Tensor:
    """The tensor ``param`` describes, in ``STORE_DTYPE``, on the CPU; the same on every run. ``seed``
    gives "normal" tensors other values under the same names (another model of the same layout);
    ``device`` draws them there (``"cuda"``: a GPU's generator, other values again)."""
    if param.kind == "const":
        return torch.full(param.shape, param.value, dtype=STORE_DTYPE)
    if param.kind == "sinusoid":  # even features sin(pos * f_i), odd ones cos(pos * f_i), f_i = base^(-2i/d)
        positions, features = param.shape[-2:]
        angles = torch.arange(positions, dtype=torch.float64).unsqueeze(1) * torch.pow(
            param.value, -torch.arange(0, features, 2, dtype=torch.float64) / features)
        table = torch.zeros(positions, features, dtype=torch.float64)
        table[:, 0::2], table[:, 1::2] = torch.sin(angles), torch.cos(angles)
        return table.expand(param.shape).to(STORE_DTYPE).contiguous()
    # Seeded from the tensor's name, so its values do not depend on the rest of the layout.
    name_bits = int.from_bytes(hashlib.sha256(param.name.encode()).digest()[:6], "little")
    if _draws_elsewhere(device):
        generator = torch.Generator(device=device).manual_seed(seed + name_bits)
        values = torch.randn(param.shape, generator=generator, dtype=torch.float32, device=device)
    else:
        generator = torch.Generator().manual_seed(seed + name_bits)
        values = torch.randn(param.shape, generator=generator, dtype=torch.float32)
    fan_in = math.prod(param.shape[1:])
    return values.mul_(param.value / math.sqrt(fan_in)).to(STORE_DTYPE).cpu()


def build_state_dict(vae: VaeKind = "kl") -> dict[str, torch.Tensor]:
    """The tiny checkpoint's tensors, freshly generated."""
    return {param.name: make_tensor(param) for param in checkpoint_layout(vae)}


def _is_complete_safetensors(path: Path) -> bool:
    """Cheap check that a file is a whole safetensors file: header parses, data not cut short."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            if 8 + header_len > size:
                return False
            header = json.loads(f.read(header_len))
        ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    except (OSError, ValueError, KeyError, TypeError, IndexError, struct.error):
        return False
    return bool(ends) and size == 8 + header_len + max(ends)


def write_safetensors_atomically(path: Path, tensors: dict[str, torch.Tensor], metadata_key: str, info: dict) -> None:
    """Write ``tensors`` to ``path`` through a temporary file renamed into place.

    A single metadata entry (``metadata_key`` -> ``info`` as JSON): safetensors writes several in
    hash-map order, which would make otherwise identical files differ byte for byte.
    """
    from safetensors.torch import save_file  # only needed to (re)build a file

    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp_name, metadata={metadata_key: json.dumps(info, sort_keys=True)})
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    log.info("Wrote %s (%.1f MB)", path, path.stat().st_size / 1e6)


def _write_checkpoint(path: Path, vae: VaeKind, version: str) -> None:
    log.info("Building tiny SD1.5 checkpoint (%s VAE) at %s", vae, path)
    info = {"layout": version, "vae": vae, "about": "random-weight SD1.5 layout for integration tests"}
    write_safetensors_atomically(path, build_state_dict(vae), "tiny_sd15", info)


def ensure_tiny_checkpoint(cache_dir: str | os.PathLike[str] | None = None, *, vae: VaeKind = "kl") -> str:
    """Path of the tiny SD1.5 checkpoint, building it in ``cache_dir`` if missing or damaged.

    ``cache_dir`` defaults to :func:`default_cache_dir`. ``vae`` picks the VAE stored in
    the checkpoint: ``"kl"`` (SD's AutoencoderKL, narrow decoder), ``"taesd"`` (faster on the
    CPU) or ``"kl_full"`` (SD's AutoencoderKL at its own size).
    Concurrent callers are safe: each writes its own temporary file and renames it into place.
    """
    version = layout_hash(vae)
    name = f"{FILE_STEM}-{'' if vae == 'kl' else vae + '-'}{version}.safetensors"
    return ensure_cached_file(name, cache_dir, lambda path: _write_checkpoint(path, vae, version))


def ensure_cached_file(name: str, cache_dir: str | os.PathLike[str] | None, build,
                       is_complete: Callable[[Path], bool] = _is_complete_safetensors) -> str:
    """Path of ``name`` in ``cache_dir`` (default :func:`default_cache_dir`), calling ``build(path)``
    when the file is missing or damaged (``is_complete``: by default a whole safetensors file)."""
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    if path.is_file() and is_complete(path):
        log.debug("Using cached %s", path)
    else:
        build(path)
    return str(path)


def generator_cli(doc: str, argv: list[str] | None, build: Callable[[argparse.Namespace], Iterable[tuple[str, str]]],
                  add_arguments: Callable[[argparse.ArgumentParser], None] | None = None) -> int:
    """The command line of a model generator: ``--cache-dir`` plus the generator's own options;
    ``build(args)`` yields ``(path, description)`` per file, printed with the file's size."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--cache-dir", default=None, help=f"where to keep the files (default: {default_cache_dir()})")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for path, description in build(args):
        size = os.path.getsize(path)
        print(path)
        print(f"{size} bytes ({size / 1e6:.1f} MB); {description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI: build (or find) the checkpoint and print its path and size."""
    return generator_cli(
        __doc__, argv,
        lambda args: [(ensure_tiny_checkpoint(args.cache_dir, vae=args.vae), f"UNet parameters: {unet_parameter_count():,}")],
        lambda parser: parser.add_argument("--vae", choices=VAE_KINDS, default="kl",
                                           help="VAE stored in the checkpoint (default: kl)"),
    )


if __name__ == "__main__":
    raise SystemExit(main())
