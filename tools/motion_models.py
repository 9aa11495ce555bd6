"""Full-size random-weight models for tests with a real AnimateDiff motion module.

AnimateDiff-Evolved (ADE) builds its motion modules at SD1.5's fixed widths (320, 640,
1280, 1280 channels over four levels, plus the 1280-wide middle block) whatever the
checkpoint, and injects them after the UNet's blocks of those widths. So a motion module
needs SD1.5's real UNet; neither can be made small. This module makes both, slowly:

* :func:`ensure_sd15_checkpoint`: SD1.5's full UNet layout (channel_mult 1-2-4-4, two res
  blocks per level, depth-1 transformers at the first three levels, middle block,
  transformers in the output blocks; 860M parameters), laid out by ``tiny_checkpoint``'s
  own UNet function, with the tiny checkpoint's VAE (TAESD by default, fastest on the CPU)
  and its CLIP-L. ``CheckpointLoaderSimple`` loads it as SD1.5.
* :func:`ensure_motion_module`: an AnimateDiff v2 motion module (the layout of
  ``mm_sd_v15_v2.ckpt``, stored as ``.safetensors``): ``down_blocks.0-3`` with two temporal
  transformers each, ``up_blocks.0-3`` with three, ``mid_block`` with one (its presence is
  what marks v2), 8 heads, two temporal self-attention blocks each with a 32-frame
  sinusoidal ``pos_encoder.pe``, GEGLU feed-forward. 453M parameters. ADE's
  ``ADE_LoadAnimateDiffModel`` loads it from the ``animatediff_models`` folder; it fails
  on any missing or unexpected key.

Weights follow ``tiny_checkpoint``: normal with std ``0.5 / sqrt(fan_in)``, seeded per
tensor name, zero biases, identity norms, stored as float16; the motion module's
``proj_out`` is not zeroed (as in a trained module, unlike a fresh one), so it changes
the frames. Files are cached outside the repository under names carrying a hash of their
layout, written atomically, rebuilt when missing or damaged.

    python tools/motion_models.py [--cache-dir DIR] [--vae taesd|kl] [--only checkpoint|motion]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path

from tiny_checkpoint import (
    GENERATOR_VERSION,
    SD15_UNET,
    UNET_CHANNELS,
    VAE_KINDS,
    VaeKind,
    linear,
    make_tensor,
    norm,
    Param,
    checkpoint_layout,
    generator_cli,
    ensure_cached_file,
    params_hash,
    write_safetensors_atomically,
)

log = logging.getLogger(__name__)

CHECKPOINT_STEM = "full-sd15"
MOTION_STEM = "mm-sd15-v2-random"

# AnimateDiff v2 for SD1.5, as ADE reads it: one temporal transformer per res block of each UNet level.
MOTION_LEVEL_CHANNELS = tuple(UNET_CHANNELS * mult for mult in SD15_UNET.channel_mult)  # 320, 640, 1280, 1280
MOTION_MIDDLE_CHANNELS = MOTION_LEVEL_CHANNELS[-1]
MOTION_DOWN_MODULES = SD15_UNET.res_blocks  # temporal transformers per down block
MOTION_UP_MODULES = SD15_UNET.res_blocks + 1  # and per up block (one per output block of the UNet level)
MOTION_ATTENTION_BLOCKS = 2  # two temporal self-attentions per transformer block
MOTION_POSITIONS = 32  # v2's positional-encoding length: the longest clip it sees at once
POSITION_BASE = 10000.0
FF_MULT = 4


def _temporal_transformer(p: str, ch: int) -> Iterator[Param]:
    """One temporal transformer: group norm, linear in, a transformer block of temporal
    self-attentions (each with a fixed position table) and a GEGLU feed-forward, linear out."""
    yield from norm(f"{p}.norm", ch)
    yield from linear(f"{p}.proj_in", ch, ch)
    block = f"{p}.transformer_blocks.0"
    for index in range(MOTION_ATTENTION_BLOCKS):
        attention = f"{block}.attention_blocks.{index}"
        for projection in ("to_q", "to_k", "to_v"):
            yield from linear(f"{attention}.{projection}", ch, ch, bias=False)
        yield from linear(f"{attention}.to_out.0", ch, ch)
        yield Param(f"{attention}.pos_encoder.pe", (1, MOTION_POSITIONS, ch), "sinusoid", POSITION_BASE)
        yield from norm(f"{block}.norms.{index}", ch)
    yield from linear(f"{block}.ff.net.0.proj", ch, 2 * FF_MULT * ch)  # GEGLU: value and gate
    yield from linear(f"{block}.ff.net.2", FF_MULT * ch, ch)
    yield from norm(f"{block}.ff_norm", ch)
    yield from linear(f"{p}.proj_out", ch, ch)


def motion_module_layout() -> list[Param]:
    """Every tensor of the v2 motion module, in file order."""
    params: list[Param] = []
    blocks = [("down_blocks", i, ch, MOTION_DOWN_MODULES) for i, ch in enumerate(MOTION_LEVEL_CHANNELS)]
    blocks += [("up_blocks", i, ch, MOTION_UP_MODULES) for i, ch in enumerate(reversed(MOTION_LEVEL_CHANNELS))]
    for kind, index, ch, modules in blocks:
        for module in range(modules):
            params += _temporal_transformer(f"{kind}.{index}.motion_modules.{module}.temporal_transformer", ch)
    params += _temporal_transformer("mid_block.motion_modules.0.temporal_transformer", MOTION_MIDDLE_CHANNELS)
    if len({p.name for p in params}) != len(params):
        raise AssertionError("duplicate tensor names in the motion module layout")
    return params


def sd15_checkpoint_layout(vae: VaeKind = "taesd") -> list[Param]:
    """Every tensor of the full-UNet checkpoint, in file order."""
    return checkpoint_layout(vae, SD15_UNET)


def parameter_count(params: list[Param]) -> int:
    """Number of elements of ``params`` (position tables included)."""
    return sum(math.prod(p.shape) for p in params)


def _write(path: Path, params: list[Param], metadata_key: str, info: dict) -> None:
    started = time.perf_counter()
    log.info("Building %s (%s parameters) at %s", metadata_key, f"{parameter_count(params):,}", path)
    tensors = {param.name: make_tensor(param) for param in params}
    write_safetensors_atomically(path, tensors, metadata_key, info)
    log.info("Built %s in %.1fs", path.name, time.perf_counter() - started)


def ensure_sd15_checkpoint(cache_dir: str | os.PathLike[str] | None = None, *, vae: VaeKind = "taesd") -> str:
    """Path of the full-UNet SD1.5 checkpoint (about 2 GB), building it in ``cache_dir`` if
    missing or damaged (default: ``tiny_checkpoint.default_cache_dir()``)."""
    params = sd15_checkpoint_layout(vae)  # checks vae
    version = params_hash(params, GENERATOR_VERSION)
    info = {"layout": version, "vae": vae, "about": "random-weight SD1.5 (full UNet) for motion-module tests"}
    return ensure_cached_file(f"{CHECKPOINT_STEM}-{vae}-{version}.safetensors", cache_dir,
                              lambda path: _write(path, params, "full_sd15", info))


def ensure_motion_module(cache_dir: str | os.PathLike[str] | None = None) -> str:
    """Path of the random-weight AnimateDiff v2 motion module (about 0.9 GB), building it in
    ``cache_dir`` if missing or damaged (default: ``tiny_checkpoint.default_cache_dir()``)."""
    params = motion_module_layout()
    version = params_hash(params, GENERATOR_VERSION)
    info = {"layout": version, "format": "AnimateDiff v2 (mm_sd_v15_v2)", "about": "random-weight motion module for tests"}
    return ensure_cached_file(f"{MOTION_STEM}-{version}.safetensors", cache_dir,
                              lambda path: _write(path, params, "random_motion_module", info))


def main(argv: list[str] | None = None) -> int:
    """CLI: build (or find) the files and print their paths and sizes."""

    def build(args: argparse.Namespace) -> list[tuple[str, str]]:
        builds = {"checkpoint": lambda: ensure_sd15_checkpoint(args.cache_dir, vae=args.vae),
                  "motion": lambda: ensure_motion_module(args.cache_dir)}
        return [(ensure(), name) for name, ensure in builds.items() if args.only in (None, name)]

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--vae", choices=VAE_KINDS, default="taesd", help="VAE stored in the checkpoint (default: taesd)")
        parser.add_argument("--only", choices=("checkpoint", "motion"), help="build just one of the two")

    return generator_cli(__doc__, argv, build, add_arguments)


if __name__ == "__main__":
    raise SystemExit(main())
