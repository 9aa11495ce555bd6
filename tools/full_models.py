"""Full-size random-weight models for the benchmark's GPU suite, drawn on a device.

The layouts come from the tiny generators' own functions, at the sizes of the released models
(nothing here lists a tensor):

* ``"sd15"``: an SD1.5 checkpoint (``CheckpointLoaderSimple``): SD1.5's UNet
  (``tiny_checkpoint.SD15_UNET``, 860M parameters), SD's AutoencoderKL at its own size
  (``vae="kl_full"``, decoder as wide as the encoder) and CLIP-L. 1.07G parameters.
* ``"motion"``: an AnimateDiff v2 motion module (``motion_models``), 454M parameters, for
  AnimateDiff-Evolved's ``ADE_LoadAnimateDiffModel``.
* ``"wan"``: Wan 2.1 T2V 1.3B (``tiny_video_models.WAN21_T2V_1_3B``: dim 1536, 12 heads, 30
  layers, ffn 8960), 1.42G parameters, for ``UNETLoader``.
* ``"wan_vae"``: the Wan 2.1 VAE at its released base width 96
  (``tiny_video_models.WAN21_FULL_VAE``), 127M parameters.

Weights follow ``tiny_checkpoint`` (normal with std ``0.5 / sqrt(fan_in)`` seeded per tensor
name, zero biases, identity norms, stored as float16), drawn by ``device``'s generator: on a GPU
the 3.1 billion values (6.2 GB of files) take seconds to draw, where two CPU cores take about a
minute; writing the files takes the rest. The device is part of the file's layout hash (a GPU
draws other values than the CPU). Files are cached outside the repository under
``full-<kind>-<device>-<hash>.safetensors``, written atomically, rebuilt when missing or
damaged; never commit them.

    python tools/full_models.py [--cache-dir DIR] [--device cuda] [--which sd15|motion|wan|wan_vae]
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Literal

from motion_models import motion_module_layout
from tiny_checkpoint import (
    SD15_UNET,
    Param,
    checkpoint_layout,
    ensure_cached_file,
    generator_cli,
    make_tensor,
    params_hash,
    write_safetensors_atomically,
)
from tiny_video_models import WAN21_FULL_VAE, WAN21_T2V_1_3B, wan_layout, wan_vae_layout

log = logging.getLogger(__name__)

# Bump when generation changes in a way the layout hash does not capture.
GENERATOR_VERSION = 1

FullKind = Literal["sd15", "motion", "wan", "wan_vae"]
FULL_KINDS: tuple[FullKind, ...] = ("sd15", "motion", "wan", "wan_vae")


def layout(kind: FullKind) -> list[Param]:
    """Every tensor of the full-size model ``kind``, in file order."""
    if kind == "sd15":
        return checkpoint_layout("kl_full", SD15_UNET)
    if kind == "motion":
        return motion_module_layout()
    if kind == "wan":
        return wan_layout(shape=WAN21_T2V_1_3B)
    if kind == "wan_vae":
        return wan_vae_layout(WAN21_FULL_VAE)
    raise ValueError(f"kind must be one of {FULL_KINDS}, not {kind!r}")


def parameter_count(kind: FullKind) -> int:
    return sum(math.prod(p.shape) for p in layout(kind))


def ensure_full_model(kind: FullKind, device: str = "cuda", cache_dir: str | os.PathLike[str] | None = None) -> str:
    """Path of the full-size model ``kind``, drawn on ``device`` and written to ``cache_dir``
    (default ``tiny_checkpoint.default_cache_dir()``) if missing or damaged."""
    params = layout(kind)
    version = params_hash(params, GENERATOR_VERSION, device)
    tag = device.split(":")[0]

    def build(path: Path) -> None:
        started = time.perf_counter()
        log.info("Drawing full-size %s (%s parameters) on %s", kind, f"{parameter_count(kind):,}", device)
        tensors = {param.name: make_tensor(param, device=device) for param in params}
        info = {"layout": version, "device": tag, "about": f"random-weight full-size {kind} for the GPU suite"}
        # Never a "config" entry: ComfyUI would merge it into a Wan model's detected config.
        write_safetensors_atomically(path, tensors, f"full_{kind}", info)
        log.info("Built %s in %.1fs", path.name, time.perf_counter() - started)

    return ensure_cached_file(f"full-{kind}-{tag}-{version}.safetensors", cache_dir, build)


def main(argv: list[str] | None = None) -> int:
    """CLI: build (or find) the files and print their paths and sizes."""

    def add_arguments(parser) -> None:
        parser.add_argument("--device", default="cuda", help="where the random values are drawn (default: cuda)")
        parser.add_argument("--which", choices=FULL_KINDS, action="append",
                            help="model to build; repeat for several (default: all)")

    return generator_cli(
        __doc__, argv,
        lambda args: [(ensure_full_model(kind, args.device, args.cache_dir),
                       f"{kind} parameters: {parameter_count(kind):,}") for kind in args.which or FULL_KINDS],
        add_arguments,
    )


if __name__ == "__main__":
    raise SystemExit(main())
