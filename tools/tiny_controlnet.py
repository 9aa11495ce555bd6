"""A tiny SD1.5 ControlNet with deterministic random weights, matching the tiny checkpoint's UNet.

ComfyUI 0.29's ``ControlNetLoader`` (``comfy.controlnet.load_controlnet``) recognises an
LDM-format ControlNet by its ``zero_convs.0.0.weight`` key and reads the control model's
config from the weights the same way it reads a UNet's (``model_config_from_unet``): width
from ``input_blocks.0.0``, levels and res blocks from the input blocks, transformer depth
and ``context_dim`` from their transformers. ``comfy.cldm.cldm.ControlNet`` then builds:

* ``time_embed`` and the input blocks of the UNet it controls (here the tiny checkpoint's:
  320 channels, ``channel_mult (1, 1)``, one res block per level, one depth-1 transformer
  with ``context_dim`` 768 at the second level, a downsample between the levels);
* ``input_hint_block``: eight 3x3 convs (3 -> 16 -> 16 -> 32 -> 32 -> 96 -> 96 -> 256 -> 320
  channels, three of them with stride 2) turning the pixel hint into a latent-sized feature
  that is added after the first input block;
* one ``zero_convs.N`` (1x1 conv) per input block: their outputs are the residuals added to
  the UNet's skip connections (the ``output`` list of the control);
* a middle block and ``middle_block_out``. The ControlNet always builds a middle res block
  (ComfyUI does not allow leaving it out: missing keys are only warned about and stay
  uninitialised memory), so the file has one (``middle_block.0``, no transformer, read as
  ``transformer_depth_middle`` -1); the tiny UNet, which has no middle block, still adds
  its residual at the middle.

Weights follow tiny_checkpoint.py (normal, std ``gain / sqrt(fan_in)``, seeded per tensor
name, zero biases, identity norms), so files are byte-identical across runs and sampling
stays finite. The hint block uses unit gain so the hint's content survives its eight convs;
the zero convs use :data:`ZERO_CONV_GAIN` (a trained ControlNet's are not zero either), so
applying it changes what the UNet computes. Cached outside the repository, written
atomically, rebuilt when missing or damaged.

Run as a script to build (or find) the file and print its path and size::

    python tools/tiny_controlnet.py [--cache-dir DIR]
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path

import torch

from tiny_checkpoint import (
    ensure_cached_file,
    generator_cli,
    write_safetensors_atomically,
    CONTEXT_DIM,
    IMAGE_CHANNELS,
    LATENT_CHANNELS,
    SEED,
    STD_GAIN,
    STORE_DTYPE,
    UNET_CHANNELS,
    UNET_LEVEL_ATTENTION,
    UNET_RES_BLOCKS,
    UNET_TIME_DIM,
    _conv,
    linear,
    make_tensor,
    Param,
    _unet_resblock,
    _unet_transformer,
)

log = logging.getLogger(__name__)

# Bump when generation changes in a way the layout hash does not capture.
GENERATOR_VERSION = 1
FILE_STEM = "tiny-controlnet-sd15"

# input_hint_block: (out channels, stride) of its convs, in order (SiLU between them).
HINT_CONVS: tuple[tuple[int, int], ...] = (
    (16, 1), (16, 1), (32, 2), (32, 1), (96, 2), (96, 1), (256, 2), (UNET_CHANNELS, 1),
)
HINT_GAIN = 1.0
ZERO_CONV_GAIN = STD_GAIN


def _hint_block(p: str) -> Iterator[Param]:
    """``input_hint_block``: module indices 0, 2, 4, ... are convs, the odd ones SiLU."""
    channels = IMAGE_CHANNELS
    for i, (out_channels, _stride) in enumerate(HINT_CONVS):
        yield from _conv(f"{p}.{2 * i}", channels, out_channels, 3, gain=HINT_GAIN)
        channels = out_channels


def _zero_conv(p: str, channels: int) -> Iterator[Param]:
    yield from _conv(f"{p}.0", channels, channels, 1, gain=ZERO_CONV_GAIN)


def controlnet_layout() -> list[Param]:
    """Every tensor of the ControlNet, in file order (LDM key names, no prefix)."""
    ch = UNET_CHANNELS
    params: list[Param] = []
    params += linear("time_embed.0", ch, UNET_TIME_DIM)
    params += linear("time_embed.2", UNET_TIME_DIM, UNET_TIME_DIM)
    params += _conv("input_blocks.0.0", LATENT_CHANNELS, ch, 3)
    params += _hint_block("input_hint_block")
    params += _zero_conv("zero_convs.0", ch)
    block = 1
    last_level = len(UNET_LEVEL_ATTENTION) - 1
    for level, attention in enumerate(UNET_LEVEL_ATTENTION):
        for _ in range(UNET_RES_BLOCKS):
            params += _unet_resblock(f"input_blocks.{block}.0", ch, ch)
            if attention:
                params += _unet_transformer(f"input_blocks.{block}.1", ch)
            params += _zero_conv(f"zero_convs.{block}", ch)
            block += 1
        if level != last_level:
            params += _conv(f"input_blocks.{block}.0.op", ch, ch, 3)
            params += _zero_conv(f"zero_convs.{block}", ch)
            block += 1
    params += _unet_resblock("middle_block.0", ch, ch)
    params += _zero_conv("middle_block_out", ch)
    if len({p.name for p in params}) != len(params):
        raise AssertionError("duplicate tensor names in the tiny ControlNet layout")
    if CONTEXT_DIM not in {p.shape[1] for p in params if p.name.endswith("attn2.to_k.weight")}:
        raise AssertionError("the ControlNet's cross-attention must read the checkpoint's context_dim")
    return params


def control_outputs() -> int:
    """Number of residuals the ControlNet returns for the UNet's skip connections (one per input block)."""
    return sum(1 for p in controlnet_layout() if p.name.startswith("zero_convs.") and p.name.endswith(".weight"))


def parameter_count() -> int:
    return sum(math.prod(p.shape) for p in controlnet_layout())


def layout_hash() -> str:
    """Short hash of layout, fills, seed and dtype; part of the cached file's name."""
    description = {
        "generator": GENERATOR_VERSION,
        "seed": SEED,
        "dtype": str(STORE_DTYPE),
        "params": [[p.name, list(p.shape), p.kind, p.value] for p in controlnet_layout()],
    }
    blob = json.dumps(description, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def build_state_dict() -> dict[str, torch.Tensor]:
    """The ControlNet's tensors, freshly generated."""
    return {param.name: make_tensor(param) for param in controlnet_layout()}


def _write(path: Path, version: str) -> None:
    log.info("Building tiny SD1.5 ControlNet at %s", path)
    info = {"layout": version, "about": "random-weight SD1.5 ControlNet for the tiny test checkpoint"}
    write_safetensors_atomically(path, build_state_dict(), "tiny_controlnet_sd15", info)


def ensure_tiny_controlnet(cache_dir: str | os.PathLike[str] | None = None) -> str:
    """Path of the tiny SD1.5 ControlNet, building it in ``cache_dir`` if missing or damaged.

    ``cache_dir`` defaults to the tiny checkpoint's cache folder. Concurrent callers are safe:
    each writes its own temporary file and renames it into place.
    """
    version = layout_hash()
    return ensure_cached_file(f"{FILE_STEM}-{version}.safetensors", cache_dir, lambda path: _write(path, version))


def main(argv: list[str] | None = None) -> int:
    """CLI: build (or find) the ControlNet and print its path and size."""
    return generator_cli(__doc__, argv, lambda args: [(
        ensure_tiny_controlnet(args.cache_dir), f"parameters: {parameter_count():,}; control outputs: {control_outputs()}")])


if __name__ == "__main__":
    raise SystemExit(main())
