"""Benchmark: our SEGS detailer against Impact Pack's, each run in a real ComfyUI process of its own.

Every measured run ("point") boots ComfyUI headless in a fresh process, loads its models, runs
one node once and reports wall time, its split into UNet forward calls, VAE encode, VAE decode
and the rest, the peak of the process's resident memory above its level just before the run
("growth"), and the sampling calls it made (latent frames per call: the context windows or
chunks). Fresh processes because resident memory never shrinks inside one: a run measured after
another shows only what the earlier one had not already claimed.

Tables (each a flag; the defaults print the first):

* ``--frames 8 16 32 [--large 512]``: the tiny SD1.5 checkpoint, ours against Impact's
  ``SEGSDetailerForAnimateDiff`` (feather 0: Impact 7.10.6 breaks on ComfyUI 0.29 with any
  feather, see docs/BEHAVIOUR.md §3), ours with Impact's settings (union crop, context_length 0),
  with fp32 sampling, with ComfyUI's fp32 throughout (encode, sampling and decode, as Impact), and with
  our id's own defaults (tracked crop, auto context windows, auto precisions); ``--rows`` picks
  rows by label (``--rows "Impact 7.10.6" "ours, own defaults"``). With ``--repeats`` the rows of
  one frame count run in rounds, so a slow spell of the machine falls on all of them.
* ``--long``: our id's defaults on a plain model from 32 to 256 frames, against one UNet batch for
  the whole clip (chunking disabled) and windows of 16/4; ``--repeats`` fresh runs per point (all tables).
* ``--tracking``: union against tracked crops on a subject crossing the frame.
* ``--wan``: the tiny Wan 2.1 T2V model and VAE on 17, 33 and 81 frames, ours against Impact's.
* ``--motion-module``: ours with a real AnimateDiff motion module (SD1.5's full UNet) on 8 and 40 frames.
* ``--gpu-suite`` (alone): on a CUDA GPU, full-size random-weight models (``tools/full_models.py``,
  drawn on the GPU once and cached): Impact's node, ours with its own defaults and ours with
  Impact's settings on SD1.5 at 16 and 48 frames, ours on Wan 2.1 T2V 1.3B at 33 frames, and
  Impact's and ours with an AnimateDiff v2 motion module at 16 frames; one SEG sampled at 512 px,
  20 steps. One table: the columns above plus peak VRAM (``torch.cuda.max_memory_allocated`` in
  the run's process) and ratios against Impact's row of the same frame count. Rows run in that
  order while they fit before ``--deadline`` (8 minutes from the start, model generation
  included; a row whose estimate does not fit says "skipped: time", a run still going at the
  deadline is stopped). ``--gpu-suite --smoke`` runs the same code on the CPU with the tiny
  models (``SMOKE_SUITE``: smaller clip and frame counts, 2 steps, 3 minutes), so the path is
  tested without a GPU; its numbers mean nothing. ``tools/bench_suite.py`` does its arithmetic.

    COMFYUI_PATH=/path/to/ComfyUI /path/to/comfy-venv/bin/python benchmarks/bench_detailer.py [--frames 8 16 32] [--long] [--wan]
    COMFYUI_PATH=/path/to/ComfyUI /path/to/comfy-venv/bin/python benchmarks/bench_detailer.py --frames --large 0 --wan   # Wan only
    COMFYUI_PATH=/path/to/ComfyUI /path/to/comfy-venv/bin/python benchmarks/bench_detailer.py --gpu-suite [--smoke]

Impact Pack (in $COMFYUI_PATH/custom_nodes) is needed for its rows of the first and the Wan
tables; ``--no-impact`` leaves them out. AnimateDiff-Evolved is needed for ``--motion-module``.
In the GPU suite, a row whose pack is missing says so in its note.
The model files are generated (once, cached) before any measured run. Nothing here is a test:
the numbers depend on the machine, so they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.append(str(REPO / "tools"))  # tools/ only: the repository root never goes on sys.path

import bench_suite  # noqa: E402
import comfy_headless  # noqa: E402
import tiny_checkpoint  # noqa: E402
from bench_suite import SuiteRow, sampling_calls  # noqa: E402
from memory_probe import PeakMemory  # noqa: E402

OUR_DETAILER = "AnimateDiffDetailer_SEGSDetailerForAnimateDiff"
IMPACT_DETAILER = "SEGSDetailerForAnimateDiff"
POINT_TAG = "BENCH_POINT "
MB = 2**20

log = logging.getLogger("bench")


@dataclass
class Timers:
    unet: float = 0.0
    encode: float = 0.0
    decode: float = 0.0
    unet_batches: list[int] = field(default_factory=list)
    sampled_shapes: list[list[int]] = field(default_factory=list)  # the latent of every sampling call


def _no_sync() -> None:
    pass


@contextmanager
def instrumented(model, vae, timers: Timers, sync=_no_sync):
    """Time the model's UNet calls and the VAE's encode/decode calls, whoever makes them, and
    record the latent frames of every sampling call. ``sync`` waits for the device before and
    after each timed call (``torch.cuda.synchronize``: a GPU's calls return before its work ends)."""
    from comfy.patcher_extension import WrappersMP

    patched = model.clone()

    def unet_wrapper(apply_model, args):
        sync()
        started = time.perf_counter()
        try:
            return apply_model(args["input"], args["timestep"], **args["c"])
        finally:
            sync()
            timers.unet += time.perf_counter() - started
            timers.unet_batches.append(int(args["input"].shape[0]))

    def record_sampling(executor, noise, latent_image, *args, **kwargs):
        timers.sampled_shapes.append(list(latent_image.shape))
        return executor(noise, latent_image, *args, **kwargs)

    patched.set_model_unet_function_wrapper(unet_wrapper)
    patched.add_wrapper_with_key(WrappersMP.OUTER_SAMPLE, "bench_sampling_calls", record_sampling)

    def timed(method, name: str):
        def call(*args, **kwargs):
            sync()
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                sync()
                setattr(timers, name, getattr(timers, name) + time.perf_counter() - started)

        return call

    vae.encode, vae.decode = timed(vae.encode, "encode"), timed(vae.decode, "decode")
    try:
        yield patched
    finally:
        del vae.encode, vae.decode


# --- one measured run, in a process of its own ----------------------------------------------


@dataclass
class Point:
    """One run: ``model`` "sd15" (the tiny checkpoint), "wan" (tiny Wan 2.1 T2V + VAE) or "motion"
    (SD1.5's full UNet + a random AnimateDiff v2 module); ``node`` "ours" or "impact"; ``extra``
    our node's optional inputs; ``one_batch`` samples the whole clip in one UNet batch (chunking off).
    ``files`` replaces those model files by kind ("sd15", "wan", "wan_vae", "motion": the GPU
    suite's full-size ones); ``device`` "cuda" runs ComfyUI on the GPU."""

    model: str
    node: str
    frames: int
    size: int = 256
    extra: dict = field(default_factory=dict)
    guide_size: float = 256
    max_size: float = 768
    steps: int = 4
    one_batch: bool = False
    clip: str = "drift"  # "drift": a subject drifting inside one SEG; "crossing": one crossing the frame
    label: str = ""
    device: str = "cpu"
    files: dict = field(default_factory=dict)


@dataclass
class Loaded:
    harness: Any
    model: Any
    clip_model: Any
    vae: Any
    positive: Any
    negative: Any
    cfg: float
    sampler: str
    scheduler: str


def _harness(comfy_path: str, packs: list[str], folders: dict[str, list[Path]], cpu: bool = True):
    available = {comfy_headless.PACK_LINK_NAME: REPO}
    for name, marker in ((comfy_headless.IMPACT_LINK_NAME, comfy_headless.IMPACT_MARKER),
                         (comfy_headless.ADE_LINK_NAME, comfy_headless.ADE_MARKER)):
        found = comfy_headless.find_pack(Path(comfy_path) / "custom_nodes", marker)
        if found is not None:
            available[name] = found
    missing = [name for name in packs if name not in available]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not installed in $COMFYUI_PATH/custom_nodes")
    chosen = {name: path for name, path in available.items() if name == comfy_headless.PACK_LINK_NAME or name in packs}
    return comfy_headless.ComfyHarness(comfy_path, tempfile.mkdtemp(prefix="adbench-"), chosen, folders, cpu=cpu).boot()


def _text_conditionings(clip_model) -> tuple[Any, Any]:
    import torch

    with torch.inference_mode():
        return (clip_model.encode_from_tokens_scheduled(clip_model.tokenize("a detailed face")),
                clip_model.encode_from_tokens_scheduled(clip_model.tokenize("blurry")))


def load(comfy_path: str, point: Point) -> Loaded:
    """Boot ComfyUI with the packs the point needs and load its models."""
    import_packs = [comfy_headless.IMPACT_LINK_NAME] if point.node == "impact" else []
    cpu = point.device == "cpu"
    if point.model == "sd15":
        checkpoint = point.files.get("sd15") or tiny_checkpoint.ensure_tiny_checkpoint()
        harness = _harness(comfy_path, import_packs, {"checkpoints": [Path(checkpoint).parent]}, cpu)
        import comfy.sd

        model, clip_model, vae = comfy.sd.load_checkpoint_guess_config(checkpoint, output_vae=True, output_clip=True)[:3]
        return Loaded(harness, model, clip_model, vae, *_text_conditionings(clip_model), 8.0, "euler", "normal")
    if point.model == "wan":
        import tiny_video_models

        unet = point.files.get("wan") or tiny_video_models.ensure_tiny_model("wan")
        vae_file = point.files.get("wan_vae") or tiny_video_models.ensure_tiny_model("wan_vae")
        harness = _harness(comfy_path, import_packs, {}, cpu)
        import comfy.sd
        import comfy.utils
        import torch

        model = comfy.sd.load_diffusion_model(unet)
        state, metadata = comfy.utils.load_torch_file(vae_file, return_metadata=True)
        vae = comfy.sd.VAE(sd=state, metadata=metadata)
        generator = torch.Generator().manual_seed(1)  # umT5-XXL cannot be shrunk: conditioning made by hand
        positive = [[torch.randn(1, 8, 4096, generator=generator) * 0.1, {}]]
        negative = [[torch.randn(1, 8, 4096, generator=generator) * 0.1, {}]]
        return Loaded(harness, model, None, vae, positive, negative, 5.0, "euler", "simple")
    if point.model == "motion":
        import motion_models

        checkpoint = point.files.get("sd15") or motion_models.ensure_sd15_checkpoint()
        module = point.files.get("motion") or motion_models.ensure_motion_module()
        harness = _harness(comfy_path, import_packs + [comfy_headless.ADE_LINK_NAME],
                           {"checkpoints": [Path(checkpoint).parent], "animatediff_models": [Path(module).parent]}, cpu)
        import comfy.sd

        model, clip_model, vae = comfy.sd.load_checkpoint_guess_config(checkpoint, output_vae=True, output_clip=True)[:3]

        def call(node_id: str, **inputs):
            node = harness.node_class(node_id)()
            return getattr(node, node.FUNCTION)(**inputs)[0]

        motion = call("ADE_LoadAnimateDiffModel", model_name=Path(module).name)
        model = call("ADE_UseEvolvedSampling", model=model, beta_schedule="autoselect",
                     m_models=call("ADE_ApplyAnimateDiffModelSimple", motion_model=motion))
        return Loaded(harness, model, clip_model, vae, *_text_conditionings(clip_model), 8.0, "euler", "normal")
    raise ValueError(f"unknown model {point.model}")


def make_clip(seg_type, frames: int, size: int):
    """Frames with texture and a subject drifting inside one SEG, as the anchor's measurement:
    a 101x79 crop (at 256x256) whose 63x63 bbox makes guide_size 256 upscale it to 410x321."""
    import torch

    scale = size / 256
    generator = torch.Generator().manual_seed(0)
    clip = torch.rand(frames, size, size, 3, generator=generator) * 0.3 + 0.35
    x1, y1, x2, y2 = (round(v * scale) for v in (60, 80, 161, 159))
    bx1, by1, bx2, by2 = (round(v * scale) for v in (80, 88, 143, 151))
    masks = torch.zeros(frames, y2 - y1, x2 - x1)
    for i in range(frames):
        shift = round((i % 8) * scale)
        masks[i, by1 - y1 : by2 - y1, bx1 - x1 + shift // 2 : bx2 - x1 - 8 + shift // 2] = 1.0
    segs = ((size, size), [seg_type(None, masks, 1.0, (x1, y1, x2, y2), (bx1, by1, bx2, by2), "face")])
    return clip, segs


def crossing_clip(mask_segs, frames: int = 16, size: int = 256):
    """Frames with a 40x48 subject crossing left to right (with a little detector jitter) and its
    SEGS from our MaskToSEGS (crop_factor 1.5)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    clip = torch.rand(frames, size, size, 3, generator=generator) * 0.3 + 0.35
    masks = torch.zeros(frames, size, size)
    for i in range(frames):
        x = 8 + i * (size - 56) // (frames - 1) + int(torch.randint(-2, 3, (1,), generator=generator))
        masks[i, 100:148, x : x + 40] = 1.0
    return clip, mask_segs.masks_to_segs(masks, mask_segs.MaskToSegsOptions(crop_factor=1.5, drop_size=4, label="face"))


def run_point(comfy_path: str, point: Point) -> dict:
    """Measure one point in this process (boots ComfyUI): the fields of a table row."""
    import torch

    loaded = load(comfy_path, point)
    if point.one_batch:  # the whole clip in one UNet batch, as before chunking (and as Impact does)
        backend = loaded.harness.pack_module("nodes.adapter.sampling").ComfySamplingBackend
        backend.frames_per_chunk = lambda self, latent_shape: latent_shape[0]
    node = loaded.harness.node_class(IMPACT_DETAILER if point.node == "impact" else OUR_DETAILER)()
    if point.clip == "crossing":
        clip, segs = crossing_clip(loaded.harness.pack_module("core.mask_segs"), point.frames, point.size)
    else:
        clip, segs = make_clip(loaded.harness.pack_module("core.segs").SEG, point.frames, point.size)
    x1, y1, x2, y2 = segs[1][0].crop_region
    timers, error = Timers(), None
    cuda = point.device == "cuda"
    sync = torch.cuda.synchronize if cuda else _no_sync
    if cuda:  # the peak of this run alone: the models' weights, loaded on first use, count
        torch.cuda.reset_peak_memory_stats()
    with (instrumented(loaded.model, loaded.vae, timers, sync) as patched, PeakMemory() as memory,
          torch.inference_mode()):
        sync()
        started = time.perf_counter()
        try:
            node.doit(clip, segs, point.guide_size, True, point.max_size, 42, point.steps, loaded.cfg, loaded.sampler,
                      loaded.scheduler, 0.5, (patched, loaded.clip_model, loaded.vae, loaded.positive, loaded.negative),
                      refiner_ratio=0.2, noise_mask_feather=0, **point.extra)
        except Exception as failure:  # noqa: BLE001 - Impact's node on a video model: recorded, not raised
            error = f"{type(failure).__name__}: {(str(failure).splitlines() or [''])[0][:160]}"
        sync()
        wall = time.perf_counter() - started
    return {"wall": wall, "unet": timers.unet, "encode": timers.encode, "decode": timers.decode,
            "vram": torch.cuda.max_memory_allocated() if cuda else None,
            "growth": memory.growth, "before": memory.start, "input": clip.element_size() * clip.nelement(),
            "output": point.frames * (x2 - x1) * (y2 - y1) * 3 * 4, "sampled_shapes": timers.sampled_shapes,
            "unet_batches": timers.unet_batches, "error": error}


def run_fresh(point: Point, timeout: float | None = None) -> dict:
    """Run ``point`` once, in a fresh process (stopped after ``timeout`` seconds:
    ``subprocess.TimeoutExpired``); ``seconds`` in the result is the whole process's time."""
    log.info("%s (%s, %s, %d frames at %d px) in a fresh process ...", point.label, point.model, point.node,
             point.frames, point.size)
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, __file__, "--point", json.dumps(asdict(point))], capture_output=True,
                               text=True, check=False, timeout=timeout)
    line = next((l for l in completed.stdout.splitlines() if l.startswith(POINT_TAG)), None)
    if line is None:
        raise RuntimeError(f"the run {point} failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}")
    run = json.loads(line[len(POINT_TAG):])
    run["seconds"] = time.perf_counter() - started
    log.info("  %.1fs (process %.1fs), +%d MB%s", run["wall"], run["seconds"], run["growth"] // MB,
             f" ({run['error']})" if run["error"] else "")
    return run


def measure_all(points: list[Point], repeats: int = 1) -> list[dict]:
    """Run every point ``repeats`` times, in rounds (each round runs every point once, so a slow
    spell of the machine falls on all of them): per point the medians of the numbers and the
    range of the growth."""
    rounds = [[run_fresh(point) for point in points] for _ in range(repeats)]
    results = []
    for runs in zip(*rounds):
        result = dict(runs[0])
        for key in ("wall", "unet", "encode", "decode", "growth", "before"):
            result[key] = statistics.median(run[key] for run in runs)
        result["growth_range"] = (min(run["growth"] for run in runs), max(run["growth"] for run in runs))
        results.append(result)
    return results


def measure(point: Point, repeats: int = 1) -> dict:
    """:func:`measure_all` of one point."""
    return measure_all([point], repeats)[0]


# --- tables ---------------------------------------------------------------------------------------


IMPACT_SETTINGS = {"crop_mode": "union", "context_length": 0}  # our node with the Impact id's defaults
FP32 = {"vae_encode_precision": "fp32", "sampling_precision": "fp32", "vae_decode_precision": "fp32"}  # ComfyUI's own precision throughout


IMPACT_TABLE_ROWS = {
    "Impact 7.10.6": ("impact", {}),
    "ours, Impact settings": ("ours", IMPACT_SETTINGS),
    "ours, Impact settings, fp32 sampling": ("ours", {**IMPACT_SETTINGS, "sampling_precision": "fp32"}),
    "ours, Impact settings, fp32": ("ours", {**IMPACT_SETTINGS, **FP32}),
    "ours, own defaults": ("ours", {}),
}


def impact_table(frame_counts: list[int], large: int, repeats: int, with_impact: bool = True,
                 rows: list[str] | None = None) -> str:
    """Ours against Impact's on the tiny checkpoint, guide_size 256; ``rows`` picks rows by label."""
    unknown = set(rows or ()) - set(IMPACT_TABLE_ROWS)
    if unknown:
        raise SystemExit(f"--rows: unknown {sorted(unknown)}; the rows are {list(IMPACT_TABLE_ROWS)}")
    variants = [(label, node, extra) for label, (node, extra) in IMPACT_TABLE_ROWS.items()
                if (rows is None or label in rows) and (with_impact or node != "impact")]
    lines = ["| node | frames | size | wall s | UNet s | VAE encode s | VAE decode s | rest s | peak growth MB | "
             "sampling calls | wall vs Impact | outside UNet vs Impact | growth vs Impact |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for frames, size in [(frames, 256) for frames in frame_counts] + ([(16, large)] if large else []):
        reference = None
        results = measure_all([Point("sd15", node, frames, size, extra, label=label) for label, node, extra in variants],
                              repeats)
        for (label, node, _), result in zip(variants, results):
            outside = result["wall"] - result["unet"]
            ratios = ["", "", ""]
            if node == "impact":
                reference = result
            elif reference is not None:
                ratios = [f"{result['wall'] / reference['wall']:.2f}x",
                          f"{outside / (reference['wall'] - reference['unet']):.2f}x",
                          f"{result['growth'] / max(reference['growth'], 1):.2f}x"]
            rest = outside - result["encode"] - result["decode"]
            lines.append(f"| {label} | {frames} | {size} | {result['wall']:.1f} | {result['unet']:.1f} | "
                         f"{result['encode']:.1f} | {result['decode']:.1f} | {rest:.1f} | {result['growth'] / MB:.0f} | "
                         f"{sampling_calls(result['sampled_shapes'])} | " + " | ".join(ratios) + " |")
    return "\n".join(lines)


LONG_FRAMES = (32, 64, 128, 256)
LONG_SETTINGS = {
    "own defaults": {"extra": {}},
    "one batch": {"extra": {}, "one_batch": True},
    "windows 16/4": {"extra": {"context_length": 16, "context_overlap": 4}},
}


def long_table(guide_size: float, repeats: int) -> str:
    """Our id on a plain model from 32 to 256 frames: its defaults (tracked crop, frames in chunks
    sized to memory), one UNet batch for the whole clip, and windows of 16/4."""
    lines = ["| settings | frames | wall s | UNet s | VAE encode s | VAE decode s | wall s per frame | sampling calls | "
             "input clip MB | process before run MB | growth MB | growth vs 32 frames | refined crops MB | working MB | "
             "growth MB, range |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, setting in LONG_SETTINGS.items():
        first = None
        for frames in LONG_FRAMES:
            result = measure(Point("sd15", "ours", frames, 256, setting["extra"], guide_size=guide_size,
                                   one_batch=setting.get("one_batch", False), label=f"long, {name}"), repeats)
            first = first or result["growth"]
            low, high = result["growth_range"]
            lines.append(
                f"| {name} | {frames} | {result['wall']:.1f} | {result['unet']:.1f} | {result['encode']:.1f} | "
                f"{result['decode']:.1f} | {result['wall'] / frames:.3f} | {sampling_calls(result['sampled_shapes'])} | "
                f"{result['input'] / MB:.0f} | {result['before'] / MB:.0f} | {result['growth'] / MB:.0f} | "
                f"{result['growth'] / first - 1:+.1%} | {result['output'] / MB:.0f} | "
                f"{(result['growth'] - result['output']) / MB:.0f} | {low / MB:.0f}-{high / MB:.0f} |")
    return "\n".join(lines)


def tracking_table(repeats: int, frames: int = 16, size: int = 256) -> str:
    """Union against tracked crops on a subject crossing the frame, same guide_size and max_size:
    the subject's scale at sampling time, wall time, and the window path's jitter."""
    from pack_paths import load_pack

    pack = load_pack()  # the planning functions need no ComfyUI
    enhance, mask_segs, tracking, regions = (sys.modules[f"{pack.__name__}.core.{name}"]
                                             for name in ("enhance", "mask_segs", "tracking", "regions"))
    _, segs = crossing_clip(mask_segs, frames, size)
    lines = ["| crop mode | crop or window px | sampled px | subject scale | wall s | window jitter px/frame^2 |",
             "|---|---|---|---|---|---|"]
    (fitted,) = regions.fit_segs(segs, size, size)
    for mode in ("union", "tracked"):
        settings = enhance.DetailSettings(256, True, 768, 42, 0, False, mode, 2.0)
        windows = (plan := enhance.plan_seg(fitted, settings, frames)).crop_windows
        result = measure(Point("sd15", "ours", frames, size, {"crop_mode": mode}, clip="crossing", label=f"tracking, {mode}"),
                         repeats)
        lines.append(f"| {mode} | {windows.width}x{windows.height} | {plan.size.width}x{plan.size.height} | "
                     f"{plan.size.width / windows.width:.2f} | {result['wall']:.1f} | {tracking.path_jitter(windows):.2f} |")
    return "\n".join(lines)


WAN_FRAMES = (17, 33, 81)


def wan_table(repeats: int, with_impact: bool = True) -> str:
    """The tiny Wan 2.1 T2V model and VAE: our id's defaults against Impact's node (union crop),
    and ours with Impact's settings; errors are recorded, not raised."""
    variants = [("Impact 7.10.6", "impact", {})] if with_impact else []
    variants += [("ours, Impact settings", "ours", IMPACT_SETTINGS), ("ours, own defaults", "ours", {})]
    lines = ["| node | frames | wall s | UNet s | VAE encode s | VAE decode s | peak growth MB | sampled latent "
             "[B, C, T, h, w] | result |",
             "|---|---|---|---|---|---|---|---|---|"]
    for frames in WAN_FRAMES:
        for label, node, extra in variants:
            result = measure(Point("wan", node, frames, 256, extra, label=f"Wan, {label}"), repeats)
            outcome = result["error"] or "ok"
            shapes = " + ".join(str(shape) for shape in result["sampled_shapes"]) or "none"
            lines.append(f"| {label} | {frames} | {result['wall']:.1f} | {result['unet']:.1f} | {result['encode']:.1f} | "
                         f"{result['decode']:.1f} | {result['growth'] / MB:.0f} | {shapes} | {outcome} |")
    return "\n".join(lines)


MOTION_FRAMES = (8, 40)


def motion_table(repeats: int) -> str:
    """Our detailer (own defaults) with a real motion module on 8 and 40 frames: 64 px crops, 2 steps."""
    lines = ["| frames | wall s | UNet s | VAE s | peak growth MB | process peak MB | sampling calls (frames) | UNet batches |",
             "|---|---|---|---|---|---|---|---|"]
    for frames in MOTION_FRAMES:
        result = measure(Point("motion", "ours", frames, 160, {}, guide_size=64, max_size=64, steps=2,
                               label="motion module"), repeats)
        batches = sorted(set(result["unet_batches"]))
        lines.append(f"| {frames} | {result['wall']:.1f} | {result['unet']:.1f} | {result['encode'] + result['decode']:.1f} | "
                     f"{result['growth'] / MB:.0f} | {(result['before'] + result['growth']) / MB:.0f} | "
                     f"{sampling_calls(result['sampled_shapes'])} | {len(result['unet_batches'])} of {'/'.join(map(str, batches))} |")
    return "\n".join(lines)


# --- the GPU suite ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteProfile:
    """What the GPU suite and its smoke run differ in: the device, the models and the sizes. The
    rows, the runs and the table are one code path (``bench_suite`` does the arithmetic).

    ``full_size``: the full-size models (``tools/full_models.py``, drawn on ``device``), else the
    test tier's tiny ones; one SEG in a ``size`` x ``size`` clip; ``frames`` the SD1.5 rows,
    ``wan_frames`` the Wan row, ``motion_frames`` the motion-module rows (0: none); ``priors``
    the seconds a model family's first run is expected to take, before one is measured."""

    name: str
    device: str
    full_size: bool
    size: int
    guide_size: float
    max_size: float
    steps: int
    frames: tuple[int, ...]
    wan_frames: int
    motion_frames: int
    deadline_minutes: float
    priors: dict = field(hash=False)
    model_names: dict = field(hash=False)


GPU_SUITE = SuiteProfile(
    "GPU suite", "cuda", True, 512, 512, 512, 20, (16, 48), 33, 16, 8.0,
    {"sd15": 60.0, "wan": 120.0, "motion": 90.0},
    {"sd15": "SD1.5", "wan": "Wan 2.1 1.3B", "motion": "SD1.5 + AnimateDiff v2"})
SMOKE_SUITE = SuiteProfile(
    "smoke run", "cpu", False, 128, 64, 64, 2, (2, 6), 9, 0, 3.0,
    {"sd15": 30.0, "wan": 20.0}, {"sd15": "tiny SD1.5", "wan": "tiny Wan 2.1"})
SUITE_LABELS = ("Impact 7.10.6", "ours, own defaults", "ours, Impact settings")  # per frame count, in this order
SUITE_MODEL_KINDS = {"sd15": ("sd15",), "wan": ("wan", "wan_vae"), "motion": ("sd15", "motion")}


def suite_rows(profile: SuiteProfile) -> list[SuiteRow]:
    """The suite's rows, the most important first: Impact's node, ours with its own defaults and
    ours with Impact's settings on SD1.5 at each frame count; ours on Wan 2.1; then Impact's and
    ours with a motion module."""
    rows = [SuiteRow(label, IMPACT_TABLE_ROWS[label][0], "sd15", frames, dict(IMPACT_TABLE_ROWS[label][1]))
            for frames in profile.frames for label in SUITE_LABELS]
    rows.append(SuiteRow("ours, own defaults", "ours", "wan", profile.wan_frames))
    if profile.motion_frames:
        rows += [SuiteRow(label, IMPACT_TABLE_ROWS[label][0], "motion", profile.motion_frames)
                 for label in SUITE_LABELS[:2]]
    return rows


def suite_model_file(profile: SuiteProfile, kind: str) -> str:
    """The file of ``kind`` ("sd15", "motion", "wan", "wan_vae") in the profile's model set,
    generated (once, cached) in this process if missing."""
    if profile.full_size:
        import full_models

        path = full_models.ensure_full_model(kind, profile.device)
        if profile.device == "cuda":
            import torch

            torch.cuda.empty_cache()  # hand the drawing's memory back before the measured processes run
        return path
    import tiny_video_models

    tiny = {"sd15": tiny_checkpoint.ensure_tiny_checkpoint, "wan": lambda: tiny_video_models.ensure_tiny_model("wan"),
            "wan_vae": lambda: tiny_video_models.ensure_tiny_model("wan_vae")}
    return tiny[kind]()


def gpu_suite(comfy_path: str, profile: SuiteProfile, budget: bench_suite.Budget, repeats: int = 1) -> str:
    """Run the suite's rows while they fit in ``budget`` (each run a fresh process) and return the
    table. Model files are made before the first row that needs them, so their time counts."""
    packs = {name: comfy_headless.find_pack(Path(comfy_path) / "custom_nodes", marker) is not None
             for name, marker in (("Impact Pack", comfy_headless.IMPACT_MARKER),
                                  ("AnimateDiff-Evolved", comfy_headless.ADE_MARKER))}
    files: dict[str, str] = {}

    def unavailable(row: SuiteRow) -> str:
        if row.node == "impact" and not packs["Impact Pack"]:
            return "no Impact Pack"
        return "no AnimateDiff-Evolved" if row.model == "motion" and not packs["AnimateDiff-Evolved"] else ""

    def run_once(row: SuiteRow, budget: bench_suite.Budget) -> dict:
        for kind in SUITE_MODEL_KINDS[row.model]:
            if kind not in files:
                started = time.perf_counter()
                files[kind] = suite_model_file(profile, kind)
                log.info("%s ready in %.1fs (%.0fs left)", Path(files[kind]).name, time.perf_counter() - started,
                         budget.left())
        timeout = budget.run_timeout()
        if timeout <= 0:
            raise bench_suite.RunTimedOut()
        point = Point(row.model, row.node, row.frames, profile.size, dict(row.extra), guide_size=profile.guide_size,
                      max_size=profile.max_size, steps=profile.steps, label=row.label, device=profile.device,
                      files={kind: files[kind] for kind in SUITE_MODEL_KINDS[row.model]})
        try:
            return run_fresh(point, timeout)
        except subprocess.TimeoutExpired as stopped:
            raise bench_suite.RunTimedOut() from stopped
        except RuntimeError as failure:
            log.warning("%s", failure)
            raise bench_suite.RunFailed(str(failure).rstrip().splitlines()[-1][:160]) from failure

    results = bench_suite.run_rows(suite_rows(profile), run_once, budget, profile.priors, repeats, unavailable)
    return bench_suite.suite_table(results, profile.model_names)


def _suite_device() -> str:
    import torch

    if not torch.cuda.is_available():
        return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores), torch {torch.__version__}"
    properties = torch.cuda.get_device_properties(0)
    return (f"{properties.name}, {properties.total_memory / 2**30:.0f} GiB, torch {torch.__version__} "
            f"(CUDA {torch.version.cuda}), {os.cpu_count()} CPU cores")


def prepare_models(args: argparse.Namespace) -> None:
    """Generate (or find in the cache) every model file the chosen tables load, before any measured
    run: a run that generated them would carry that memory into its numbers."""
    if args.frames or args.large or args.tracking or args.long:
        tiny_checkpoint.ensure_tiny_checkpoint()
    if args.wan:
        import tiny_video_models

        for kind in ("wan", "wan_vae"):
            tiny_video_models.ensure_tiny_model(kind)
    if args.motion_module:
        import motion_models

        motion_models.ensure_sd15_checkpoint()
        motion_models.ensure_motion_module()


def run_gpu_suite(comfy_path: str, args: argparse.Namespace, started: float) -> int:
    """``--gpu-suite`` (``--smoke``): the header, the suite's table, and what the deadline left out."""
    profile = SMOKE_SUITE if args.smoke else GPU_SUITE
    minutes = args.deadline if args.deadline is not None else profile.deadline_minutes
    budget = bench_suite.Budget(minutes * 60, started=started)
    print(f"{profile.name.capitalize()}: {_suite_device()}. Each row: a fresh ComfyUI process; {args.repeats} run(s) "
          f"per row (medians); deadline {minutes:g} min from the start, model generation included.")
    if args.smoke:
        print("The GPU suite's code path on the CPU with the test tier's tiny models: its figures say nothing "
              "about a GPU.")
    print(f"One SEG in a {profile.size}x{profile.size} clip, guide_size {profile.guide_size:g}, max_size "
          f"{profile.max_size:g}, {profile.steps} steps, euler, denoise 0.5, feather 0 (Impact 7.10.6 breaks on "
          "ComfyUI 0.29 with any feather); SD1.5: cfg 8, normal; Wan: cfg 5, simple, seeded conditioning in place "
          "of umT5-XXL. Peak VRAM: torch.cuda.max_memory_allocated in the run's process (n/a on the CPU); RSS "
          "growth: its resident memory's peak above the level before the run; ratios against Impact's row of the "
          "same model and frame count.\n")
    table = gpu_suite(comfy_path, profile, budget, args.repeats)
    print(table)
    print(f"\nFinished {budget.clock() - started:.0f}s after the start (deadline {minutes * 60:.0f}s).")
    return 0


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs="*", default=[8, 16, 32])
    parser.add_argument("--large", type=int, default=512, help="side of the larger clip (16 frames); 0 to skip")
    parser.add_argument("--repeats", type=int, default=1, help="fresh processes per point (medians)")
    parser.add_argument("--rows", nargs="+", help="only these rows of the first table, by label")
    parser.add_argument("--long", action="store_true", help="also the long-clip table: 32..256 frames")
    parser.add_argument("--long-guide", type=float, default=64,
                        help="guide_size of the long-clip runs (64 samples the 101x79 crop at its own size)")
    parser.add_argument("--tracking", action="store_true", help="also union vs tracked crops on a subject crossing the frame")
    parser.add_argument("--wan", action="store_true", help="also the tiny Wan 2.1 model on 17, 33 and 81 frames")
    parser.add_argument("--motion-module", action="store_true",
                        help="also our detailer with a real AnimateDiff motion module (full SD1.5 UNet, random "
                             "weights; builds 3 GB of models once) on 8 and 40 frames")
    parser.add_argument("--no-impact", action="store_true", help="leave Impact's node out of the first and Wan tables")
    parser.add_argument("--gpu-suite", action="store_true",
                        help="instead of the tables above: ours against Impact on a CUDA GPU with full-size "
                             "random-weight models (SD1.5 at 16 and 48 frames, Wan 2.1 1.3B at 33, a motion module), one table, "
                             "within --deadline")
    parser.add_argument("--smoke", action="store_true",
                        help="with --gpu-suite: the same code path on the CPU with the tiny models (a few minutes)")
    parser.add_argument("--deadline", type=float, metavar="MINUTES",
                        help="with --gpu-suite: rows that would end later are skipped (default: 8, --smoke 3)")
    parser.add_argument("--point", help=argparse.SUPPRESS)  # one measured run (a child process)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    logging.getLogger("bench_suite").setLevel(logging.INFO)
    logging.getLogger("full_models").setLevel(logging.INFO)
    if (args.smoke or args.deadline is not None) and not args.gpu_suite:
        parser.error("--smoke and --deadline go with --gpu-suite")
    if args.gpu_suite and (args.long or args.tracking or args.wan or args.motion_module or args.rows or args.no_impact):
        parser.error("--gpu-suite prints its own table alone: leave out --long, --tracking, --wan, --motion-module, "
                     "--rows and --no-impact")
    if args.gpu_suite and not args.smoke:
        import torch

        if not torch.cuda.is_available():
            log.error("--gpu-suite needs a CUDA GPU, and torch %s sees none here. On a CPU, run `--gpu-suite "
                      "--smoke`: the same code path with tiny models, in a few minutes.", torch.__version__)
            return 2

    comfy_path = os.environ.get("COMFYUI_PATH")
    if not comfy_path:
        print("COMFYUI_PATH is not set: point it at a ComfyUI checkout and run with its Python.")
        return 2
    if args.point:
        result = run_point(comfy_path, Point(**json.loads(args.point)))
        print(POINT_TAG + json.dumps(result), flush=True)
        os._exit(0)  # Impact leaves a non-daemon thread behind
    if args.gpu_suite:
        return run_gpu_suite(comfy_path, args, started)

    import torch

    prepare_models(args)
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"CPU only. Each row: a fresh ComfyUI process; {args.repeats} run(s) per row (medians).")
    if args.frames or args.large:
        print("\nTiny SD1.5 checkpoint (UNet 24.5M parameters, full-size VAE encoder), 4 steps, euler, cfg 8, "
              "denoise 0.5, guide_size 256, max_size 768, feather 0:")
        print(impact_table(args.frames, args.large, args.repeats, not args.no_impact, args.rows))
    if args.tracking:
        print("\nUnion against tracked crops (16 frames, a subject crossing 256x256 frames):")
        print(tracking_table(args.repeats))
    if args.long:
        print(f"\nLong clips on a plain model, our id, guide_size {args.long_guide:g}:")
        print(long_table(args.long_guide, args.repeats))
    if args.wan:
        print("\nTiny Wan 2.1 T2V model and VAE, 256x256 clip, 4 steps, euler / simple, cfg 5, denoise 0.5, "
              "guide_size 256, max_size 768:")
        print(wan_table(args.repeats, not args.no_impact))
    if args.motion_module:
        print("\nReal motion module (SD1.5's full UNet + random AnimateDiff v2, ADE evolved sampling), our defaults "
              "(tracked crop, auto windows), 64 px crops, 2 steps, cfg 8, denoise 0.5:")
        print(motion_table(args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
