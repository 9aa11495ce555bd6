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
  feather, see SPEC section 3), ours with Impact's settings (union crop, context_length 0),
  with fp32 sampling, with ComfyUI's fp32 throughout (encode, sampling and decode, as Impact), and with
  our id's own defaults (tracked crop, auto context windows, auto precisions); ``--rows`` picks
  rows by label (``--rows "Impact 7.10.6" "ours, own defaults"``). With ``--repeats`` the rows of
  one frame count run in rounds, so a slow spell of the machine falls on all of them.
* ``--long``: our id's defaults on a plain model from 32 to 256 frames, against one UNet batch for
  the whole clip (chunking disabled) and windows of 16/4; ``--repeats`` fresh runs per point (all tables).
* ``--tracking``: union against tracked crops on a subject crossing the frame.
* ``--wan``: the tiny Wan 2.1 T2V model and VAE on 17, 33 and 81 frames, ours against Impact's.
* ``--motion-module``: ours with a real AnimateDiff motion module (SD1.5's full UNet) on 8 and 40 frames.

    COMFYUI_PATH=/path/to/ComfyUI /path/to/comfy-venv/bin/python benchmarks/bench_detailer.py [--frames 8 16 32] [--long] [--wan]
    COMFYUI_PATH=/path/to/ComfyUI /path/to/comfy-venv/bin/python benchmarks/bench_detailer.py --frames --large 0 --wan   # Wan only

Impact Pack (in $COMFYUI_PATH/custom_nodes) is needed for its rows of the first and the Wan
tables; ``--no-impact`` leaves them out. AnimateDiff-Evolved is needed for ``--motion-module``.
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

import comfy_headless  # noqa: E402
import tiny_checkpoint  # noqa: E402
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


@contextmanager
def instrumented(model, vae, timers: Timers):
    """Time the model's UNet calls and the VAE's encode/decode calls, whoever makes them, and
    record the latent frames of every sampling call."""
    from comfy.patcher_extension import WrappersMP

    patched = model.clone()

    def unet_wrapper(apply_model, args):
        started = time.perf_counter()
        try:
            return apply_model(args["input"], args["timestep"], **args["c"])
        finally:
            timers.unet += time.perf_counter() - started
            timers.unet_batches.append(int(args["input"].shape[0]))

    def record_sampling(executor, noise, latent_image, *args, **kwargs):
        timers.sampled_shapes.append(list(latent_image.shape))
        return executor(noise, latent_image, *args, **kwargs)

    patched.set_model_unet_function_wrapper(unet_wrapper)
    patched.add_wrapper_with_key(WrappersMP.OUTER_SAMPLE, "bench_sampling_calls", record_sampling)

    def timed(method, name: str):
        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
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
    our node's optional inputs; ``one_batch`` samples the whole clip in one UNet batch (chunking off)."""

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


def _harness(comfy_path: str, packs: list[str], folders: dict[str, list[Path]]):
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
    return comfy_headless.ComfyHarness(comfy_path, tempfile.mkdtemp(prefix="adbench-"), chosen, folders).boot()


def _text_conditionings(clip_model) -> tuple[Any, Any]:
    import torch

    with torch.inference_mode():
        return (clip_model.encode_from_tokens_scheduled(clip_model.tokenize("a detailed face")),
                clip_model.encode_from_tokens_scheduled(clip_model.tokenize("blurry")))


def load(comfy_path: str, point: Point) -> Loaded:
    """Boot ComfyUI with the packs the point needs and load its models."""
    import_packs = [comfy_headless.IMPACT_LINK_NAME] if point.node == "impact" else []
    if point.model == "sd15":
        checkpoint = tiny_checkpoint.ensure_tiny_checkpoint()
        harness = _harness(comfy_path, import_packs, {"checkpoints": [Path(checkpoint).parent]})
        import comfy.sd

        model, clip_model, vae = comfy.sd.load_checkpoint_guess_config(checkpoint, output_vae=True, output_clip=True)[:3]
        return Loaded(harness, model, clip_model, vae, *_text_conditionings(clip_model), 8.0, "euler", "normal")
    if point.model == "wan":
        import tiny_video_models

        unet, vae_file = tiny_video_models.ensure_tiny_model("wan"), tiny_video_models.ensure_tiny_model("wan_vae")
        harness = _harness(comfy_path, import_packs, {})
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

        checkpoint, module = motion_models.ensure_sd15_checkpoint(), motion_models.ensure_motion_module()
        harness = _harness(comfy_path, import_packs + [comfy_headless.ADE_LINK_NAME],
                           {"checkpoints": [Path(checkpoint).parent], "animatediff_models": [Path(module).parent]})
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
    with instrumented(loaded.model, loaded.vae, timers) as patched, PeakMemory() as memory, torch.inference_mode():
        started = time.perf_counter()
        try:
            node.doit(clip, segs, point.guide_size, True, point.max_size, 42, point.steps, loaded.cfg, loaded.sampler,
                      loaded.scheduler, 0.5, (patched, loaded.clip_model, loaded.vae, loaded.positive, loaded.negative),
                      refiner_ratio=0.2, noise_mask_feather=0, **point.extra)
        except Exception as failure:  # noqa: BLE001 - Impact's node on a video model: recorded, not raised
            error = f"{type(failure).__name__}: {str(failure).splitlines()[0][:160]}"
        wall = time.perf_counter() - started
    return {"wall": wall, "unet": timers.unet, "encode": timers.encode, "decode": timers.decode,
            "growth": memory.growth, "before": memory.start, "input": clip.element_size() * clip.nelement(),
            "output": point.frames * (x2 - x1) * (y2 - y1) * 3 * 4, "sampled_shapes": timers.sampled_shapes,
            "unet_batches": timers.unet_batches, "error": error}


def run_fresh(point: Point) -> dict:
    """Run ``point`` once, in a fresh process."""
    log.info("%s (%s, %s, %d frames at %d px) in a fresh process ...", point.label, point.model, point.node,
             point.frames, point.size)
    completed = subprocess.run([sys.executable, __file__, "--point", json.dumps(asdict(point))], capture_output=True,
                               text=True, check=False)
    line = next((l for l in completed.stdout.splitlines() if l.startswith(POINT_TAG)), None)
    if line is None:
        raise RuntimeError(f"the run {point} failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}")
    run = json.loads(line[len(POINT_TAG):])
    log.info("  %.1fs, +%d MB%s", run["wall"], run["growth"] // MB, f" ({run['error']})" if run["error"] else "")
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


def _sampling_calls(result: dict) -> str:
    """The frames of each sampling call ("3 + 3 + 2", or "2 x 16" when all alike): latent frames,
    the time axis of a video latent ``[B, C, T, h, w]``, else its batch."""
    frames = [shape[2] if len(shape) == 5 else shape[0] for shape in result["sampled_shapes"]]
    if not frames:
        return "none"
    return f"{len(frames)} x {max(frames)}" if len(set(frames)) == 1 else " + ".join(map(str, frames))


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
                         f"{_sampling_calls(result)} | " + " | ".join(ratios) + " |")
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
                f"{result['decode']:.1f} | {result['wall'] / frames:.3f} | {_sampling_calls(result)} | "
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
                     f"{_sampling_calls(result)} | {len(result['unet_batches'])} of {'/'.join(map(str, batches))} |")
    return "\n".join(lines)


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


def main(argv: list[str] | None = None) -> int:
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
    parser.add_argument("--point", help=argparse.SUPPRESS)  # one measured run (a child process)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)

    comfy_path = os.environ.get("COMFYUI_PATH")
    if not comfy_path:
        print("COMFYUI_PATH is not set: point it at a ComfyUI checkout and run with its Python.")
        return 2
    if args.point:
        result = run_point(comfy_path, Point(**json.loads(args.point)))
        print(POINT_TAG + json.dumps(result), flush=True)
        os._exit(0)  # Impact leaves a non-daemon thread behind

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
