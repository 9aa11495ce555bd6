"""The real-ComfyUI tier's view of the headless engine: names of the packs, nodes and models
under test, and graph building blocks shared by the tests and the subprocess scenarios.

The engine itself (boot ComfyUI in-process, run API graphs) is ``tools/comfy_headless.py``,
shared with the headless example runner; it is imported here by path and re-exported.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
FIXTURE_PACK_DIR = HERE / "fixture_pack"

FIXTURE_LINK_NAME = "adtest-fixture-pack"
CHECKPOINT_NAME = "adtest-tiny-sd15.safetensors"  # the tiny checkpoint's name in the checkpoints folder
CONTROLNET_NAME = "adtest-tiny-controlnet-sd15.safetensors"  # the tiny ControlNet's name in the controlnet folder
# Slow tier (ADT_SLOW=1): SD1.5's full UNet and a random AnimateDiff v2 motion module (tools/motion_models.py).
SLOW_ENV = "ADT_SLOW"
FULL_CHECKPOINT_NAME = "adtest-full-sd15.safetensors"  # in the checkpoints folder
MOTION_MODULE_NAME = "adtest-mm-sd15-v2.safetensors"  # in the animatediff_models folder

OUR_PREFIX = "AnimateDiffDetailer_"
OUR_DETAILER = OUR_PREFIX + "SEGSDetailerForAnimateDiff"
OUR_MASK_TO_SEGS = OUR_PREFIX + "MaskToSEGS"
OUR_PASTE = OUR_PREFIX + "SEGSPaste"
OUR_TO_BASIC_PIPE = OUR_PREFIX + "ToBasicPipe"
OUR_FROM_BASIC_PIPE = OUR_PREFIX + "FromBasicPipe"
OUR_CONTROLNET_FOR_SEGS = OUR_PREFIX + "ControlNetForSEGS"
OUR_DETAIL_AND_PASTE = OUR_PREFIX + "DetailerForEachPipeForAnimateDiff"
OUR_FILTER_BY_LABEL = OUR_PREFIX + "SEGSFilterByLabel"
OUR_FILTER_BY_SIZE = OUR_PREFIX + "SEGSFilterBySize"
OUR_ORDER = OUR_PREFIX + "SEGSOrder"
OUR_PREVIEW = OUR_PREFIX + "SEGSPreview"
IMPACT_DETAILER = "SEGSDetailerForAnimateDiff"
IMPACT_MASK_TO_SEGS = "MaskToSEGS_for_AnimateDiff"
IMPACT_PASTE = "SEGSPaste"
IMPACT_TO_BASIC_PIPE = "ToBasicPipe"
IMPACT_CONTROLNET_SEGS = "ImpactControlNetApplyAdvancedSEGS"
IMPACT_SEGS_CONCAT = "ImpactSEGSConcat"


# tools/ is not a package and the repository root never goes on sys.path: tools/ does, and its
# modules are imported by name (this module also runs in subprocesses and the benchmark).
if str(REPO_ROOT / "tools") not in sys.path:
    sys.path.append(str(REPO_ROOT / "tools"))

import comfy_headless as _headless  # noqa: E402
from pack_paths import import_by_path  # noqa: E402

ComfyHarness = _headless.ComfyHarness
Graph = _headless.Graph
RunResult = _headless.RunResult
make_fake_server = _headless.make_fake_server
PACK_LINK_NAME = _headless.PACK_LINK_NAME
IMPACT_LINK_NAME = _headless.IMPACT_LINK_NAME
ADE_LINK_NAME = _headless.ADE_LINK_NAME
IMPACT_MARKER = _headless.IMPACT_MARKER
ADE_MARKER = _headless.ADE_MARKER
find_pack = _headless.find_pack


def slow_tests_enabled() -> bool:
    """Whether the slow tests (full-size models) are asked for: ``ADT_SLOW=1``."""
    return os.environ.get(SLOW_ENV, "").strip() == "1"


def load_synthetic():
    """The fixture pack's clip generator, imported by path (the fixture pack is not a package on sys.path)."""
    return import_by_path("adtest_synthetic", FIXTURE_PACK_DIR / "synthetic.py")


# --- graph building blocks shared by the tests and the subprocess runner ----------------------


@dataclass
class DetailSettings:
    """Widget values of the detailer, kept tiny for the CPU."""

    guide_size: float = 64
    guide_size_for: bool = True
    max_size: float = 96
    seed: int = 1234
    steps: int = 3
    cfg: float = 4.0
    sampler_name: str = "euler"
    scheduler: str = "normal"
    denoise: float = 0.6
    refiner_ratio: float = 0.2
    noise_mask_feather: int | None = 0
    seed_per_seg: bool | None = None

    def inputs(self) -> dict[str, Any]:
        values = {
            "guide_size": self.guide_size, "guide_size_for": self.guide_size_for, "max_size": self.max_size,
            "seed": self.seed, "steps": self.steps, "cfg": self.cfg, "sampler_name": self.sampler_name,
            "scheduler": self.scheduler, "denoise": self.denoise, "refiner_ratio": self.refiner_ratio,
        }
        if self.noise_mask_feather is not None:
            values["noise_mask_feather"] = self.noise_mask_feather
        if self.seed_per_seg is not None:
            values["seed_per_seg"] = self.seed_per_seg
        return values


@dataclass
class ClipSettings:
    frames: int = 8
    width: int = 128
    height: int = 128
    seed: int = 7
    radius: int = 0
    x_start: float = 0.3
    x_end: float = 0.7
    radius_end: int = 0  # > 0: the subject grows from radius to this over the clip

    def inputs(self) -> dict[str, Any]:
        values = {"frames": self.frames, "width": self.width, "height": self.height, "seed": self.seed,
                  "radius": self.radius, "x_start": self.x_start, "x_end": self.x_end}
        if self.radius_end:
            values["radius_end"] = self.radius_end
        return values


def mask_to_segs_inputs(crop_factor: float = 2.0, drop_size: int = 4) -> dict[str, Any]:
    """Inputs of Impact's MaskToSEGS_for_AnimateDiff (and ours), minus the mask."""
    return {"combined": False, "crop_factor": crop_factor, "bbox_fill": False, "drop_size": drop_size,
            "contour_fill": False}


def seg_union_masks(segs: Any, frames: int, height: int, width: int):
    """Per-frame union of the SEGS' masks placed at their crop regions: float ``[F, H, W]`` (max over SEGS)."""
    import numpy as np
    import torch

    (seg_h, seg_w), items = segs
    assert (seg_h, seg_w) == (height, width), f"SEGS made for {seg_w}x{seg_h}, frames are {width}x{height}"
    union = torch.zeros((frames, height, width), dtype=torch.float32)
    for seg in items:
        mask = seg.cropped_mask
        if isinstance(mask, np.ndarray):
            mask = torch.from_numpy(mask)
        mask = mask.to(torch.float32).cpu()
        if mask.ndim == 2:
            mask = mask.unsqueeze(0).expand(frames, -1, -1)
        x1, y1, x2, y2 = (int(v) for v in seg.crop_region)
        region = union[:, y1:y2, x1:x2]
        union[:, y1:y2, x1:x2] = torch.maximum(region, mask[:, : region.shape[1], : region.shape[2]])
    return union
