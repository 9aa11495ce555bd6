"""Benchmark: our SEGS detailer against Impact Pack's, in one real ComfyUI process.

Both nodes get the same clip, SEGS, tiny SD1.5 checkpoint and parameters (feather 0:
Impact 7.10.6 breaks on ComfyUI 0.29 with any feather, see SPEC section 3). For each
clip size it prints wall time, its split into UNet forward calls, VAE encode, VAE decode
and everything else, the peak memory growth above the level at the start of the run, and
the ratio ours / Impact's. Our node runs with Impact's settings (union crop, no frame
windows; VAE encode precision "auto", which is bf16 on a CPU with native bf16), the same
with fp32 encoding, and with our own defaults (tracked crop, frame windows). ``--tracking``
adds union against tracked crops on a subject crossing the frame; ``--long`` the long-clip
table (windows on, 32 to 256 frames, each frame count in a fresh process, since resident
memory measured after an earlier run in the same process shows only what that run had
not already claimed); ``--motion-module`` a row per clip of 8 and 40 frames with a real
AnimateDiff motion module (SD1.5's full UNet; frame windows used), each in a fresh process.

    COMFYUI_PATH=/path/to/ComfyUI python benchmarks/bench_detailer.py [--frames 8 16 32] [--tracking] [--long]
    COMFYUI_PATH=/path/to/ComfyUI python benchmarks/bench_detailer.py --frames --large 0 --long   # long clips only
    COMFYUI_PATH=/path/to/ComfyUI python benchmarks/bench_detailer.py --frames --large 0 --motion-module   # motion module only

Impact Pack is used when it sits in $COMFYUI_PATH/custom_nodes. Nothing here is a test:
the numbers depend on the machine, so they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.append(str(REPO / "tools"))  # tools/ only: the repository root never goes on sys.path

import comfy_headless  # noqa: E402
import tiny_checkpoint  # noqa: E402

OUR_DETAILER = "AnimateDiffDetailer_SEGSDetailerForAnimateDiff"
IMPACT_DETAILER = "SEGSDetailerForAnimateDiff"

log = logging.getLogger("bench")


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Samples this process's resident memory every few milliseconds while active."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.start = self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        gc.collect()
        self.start = self.peak = rss_bytes()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth(self) -> int:
        return self.peak - self.start


@dataclass
class Timers:
    unet: float = 0.0
    encode: float = 0.0
    decode: float = 0.0
    unet_batches: list[int] = field(default_factory=list)


@contextmanager
def instrumented(model, vae, timers: Timers):
    """Time the model's UNet calls and the VAE's encode/decode calls, whoever makes them."""
    patched = model.clone()

    def unet_wrapper(apply_model, args):
        started = time.perf_counter()
        try:
            return apply_model(args["input"], args["timestep"], **args["c"])
        finally:
            timers.unet += time.perf_counter() - started
            timers.unet_batches.append(int(args["input"].shape[0]))

    patched.set_model_unet_function_wrapper(unet_wrapper)

    def timed(method, field: str):
        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                setattr(timers, field, getattr(timers, field) + time.perf_counter() - started)

        return call

    vae.encode, vae.decode = timed(vae.encode, "encode"), timed(vae.decode, "decode")
    try:
        yield patched
    finally:
        del vae.encode, vae.decode


@dataclass
class Row:
    label: str
    frames: int
    size: int
    wall: float
    timers: Timers
    growth: int

    @property
    def rest(self) -> float:
        return self.wall - self.timers.unet - self.timers.encode - self.timers.decode

    @property
    def outside_unet(self) -> float:
        return self.wall - self.timers.unet


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


def run_once(node, model, vae, clip_model, positive, negative, frames, segs, extra: dict,
             guide_size: float = 256, max_size: float = 768, steps: int = 4) -> tuple[float, Timers, int]:
    import torch

    timers = Timers()
    with instrumented(model, vae, timers) as patched, PeakMemory() as memory, torch.inference_mode():
        started = time.perf_counter()
        node.doit(frames, segs, guide_size, True, max_size, 42, steps, 8.0, "euler", "normal", 0.5,
                  (patched, clip_model, vae, positive, negative), refiner_ratio=0.2, noise_mask_feather=0, **extra)
        wall = time.perf_counter() - started
    return wall, timers, memory.growth


def table(rows: list[Row], impact: dict[tuple[int, int], Row]) -> str:
    lines = [
        "| node | frames | size | wall s | UNet s | VAE encode s | VAE decode s | rest s | outside UNet s | peak growth MB | wall vs Impact | outside UNet vs Impact | growth vs Impact |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ref = impact.get((row.frames, row.size))
        ratios = ["", "", ""]
        if ref is not None and row is not ref:
            ratios = [f"{row.wall / ref.wall:.2f}x", f"{row.outside_unet / ref.outside_unet:.2f}x",
                      f"{row.growth / max(ref.growth, 1):.2f}x"]
        lines.append(
            f"| {row.label} | {row.frames} | {row.size} | {row.wall:.1f} | {row.timers.unet:.1f} | {row.timers.encode:.1f} | "
            f"{row.timers.decode:.1f} | {row.rest:.1f} | {row.outside_unet:.1f} | {row.growth / 2**20:.0f} | " + " | ".join(ratios) + " |"
        )
    return "\n".join(lines)


def tracking_table(session: Session, frames: int = 16, size: int = 256) -> str:
    """Union against tracked crops on a subject crossing the frame, same guide_size and max_size:
    the subject's scale at sampling time, wall time, and the window path's jitter."""
    import torch

    enhance = session.harness.pack_module("core.enhance")
    mask_segs = session.harness.pack_module("core.mask_segs")
    tracking = session.harness.pack_module("core.tracking")
    regions = session.harness.pack_module("core.regions")
    generator = torch.Generator().manual_seed(0)
    clip = torch.rand(frames, size, size, 3, generator=generator) * 0.3 + 0.35
    masks = torch.zeros(frames, size, size)
    for i in range(frames):  # a 40x48 subject crossing left to right with a little detector jitter
        x = 8 + i * (size - 56) // (frames - 1) + int(torch.randint(-2, 3, (1,), generator=generator))
        masks[i, 100:148, x : x + 40] = 1.0
    segs = mask_segs.masks_to_segs(masks, mask_segs.MaskToSegsOptions(crop_factor=1.5, drop_size=4, label="face"))
    lines = ["| crop mode | crop or window px | sampled px | subject scale | wall s | window jitter px/frame^2 |",
             "|---|---|---|---|---|---|"]
    for mode in ("union", "tracked"):
        settings = enhance.DetailSettings(256, True, 768, 42, 0, False, mode, 2.0)
        (fitted,) = regions.fit_segs(segs, size, size)
        plan = enhance.plan_seg(fitted, settings, frames)
        wall, _, _ = session.run(session.ours, clip, segs, {"crop_mode": mode, "context_length": 0})
        jitter = tracking.path_jitter(plan.crop_windows)
        lines.append(f"| {mode} | {plan.crop_windows.width}x{plan.crop_windows.height} | {plan.size.width}x{plan.size.height} | "
                     f"{plan.size.width / plan.crop_windows.width:.2f} | {wall:.1f} | {jitter:.2f} |")
    return "\n".join(lines)


@dataclass
class Session:
    """ComfyUI booted in this process with the tiny checkpoint loaded and encoded prompts."""

    harness: Any
    seg_type: type
    model: Any
    clip_model: Any
    vae: Any
    positive: Any
    negative: Any
    ours: Any
    theirs: Any  # Impact's node, None without Impact Pack

    def run(self, node, frames, segs, extra: dict, guide_size: float = 256) -> tuple[float, Timers, int]:
        return run_once(node, self.model, self.vae, self.clip_model, self.positive, self.negative, frames, segs,
                        extra, guide_size)


def boot(comfy_path: str, with_impact: bool) -> Session:
    checkpoint = tiny_checkpoint.ensure_tiny_checkpoint()
    packs = {comfy_headless.PACK_LINK_NAME: REPO}
    impact_dir = comfy_headless.find_pack(Path(comfy_path) / "custom_nodes", comfy_headless.IMPACT_MARKER)
    if impact_dir is not None and with_impact:
        packs[comfy_headless.IMPACT_LINK_NAME] = impact_dir
    work = tempfile.mkdtemp(prefix="adbench-")
    harness = comfy_headless.ComfyHarness(comfy_path, work, packs, {"checkpoints": [Path(checkpoint).parent]}).boot()

    import comfy.sd
    import torch

    model, clip_model, vae = comfy.sd.load_checkpoint_guess_config(checkpoint, output_vae=True, output_clip=True)[:3]
    with torch.inference_mode():
        positive = clip_model.encode_from_tokens_scheduled(clip_model.tokenize("a detailed face"))
        negative = clip_model.encode_from_tokens_scheduled(clip_model.tokenize("blurry"))
    theirs = harness.node_class(IMPACT_DETAILER)() if comfy_headless.IMPACT_LINK_NAME in packs else None
    return Session(harness, harness.pack_module("core.segs").SEG, model, clip_model, vae, positive, negative,
                   harness.node_class(OUR_DETAILER)(), theirs)


LONG_FRAMES = (32, 64, 128, 256)
LONG_WINDOWS = {"16/4": {"context_length": 16, "context_overlap": 4}, "off": {"context_length": 0}}
LONG_POINT_TAG = "LONG_POINT "


def long_point(comfy_path: str, frames: int, guide_size: float, windows: str) -> int:
    """One long-clip measurement in this (fresh) process: prints a tagged JSON line."""
    session = boot(comfy_path, with_impact=False)
    clip, segs = make_clip(session.seg_type, frames, 256)
    before = rss_bytes()
    wall, timers, growth = session.run(session.ours, clip, segs, {"crop_mode": "union", **LONG_WINDOWS[windows]}, guide_size)
    x1, y1, x2, y2 = segs[1][0].crop_region
    output = frames * (x2 - x1) * (y2 - y1) * 3 * 4  # the refined crops the SEG returns, float32
    print(LONG_POINT_TAG + json.dumps({"frames": frames, "windows": windows, "wall": wall, "unet": timers.unet, "encode": timers.encode,
                                       "decode": timers.decode, "growth": growth, "before": before,
                                       "peak": before + growth, "input": clip.element_size() * clip.nelement(),
                                       "output": output}), flush=True)
    return 0


def long_table(comfy_path: str, guide_size: float, repeats: int = 1) -> str:
    """The long-clip table, each frame count measured in a process of its own, ``repeats`` times.

    Resident memory only grows within a process (the allocator keeps freed pages for reuse),
    so a run measured after a larger one shows no growth at all, and one after a smaller
    one only what the earlier runs had not already claimed: each point gets a fresh process,
    booted and loaded the same way, and its peak is compared with the others'. With repeats,
    times and memory are medians and the working memory's range is shown.
    """
    mb = 2**20
    lines = ["| windows | frames | wall s | UNet s | VAE encode s | VAE decode s | wall s per frame | input clip MB | "
             "process before run MB | peak MB | peak vs 32 frames | growth MB | refined crops MB | working MB | "
             "working MB, range |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for windows in LONG_WINDOWS:
        first_peak = None
        for frames in LONG_FRAMES:
            runs = [_long_point_process(frames, guide_size, windows) for _ in range(repeats)]
            point = {key: statistics.median(run[key] for run in runs) for key in runs[0] if key != "windows"}
            working = [run["growth"] - run["output"] for run in runs]
            first_peak = first_peak or point["peak"]
            lines.append(
                f"| {windows} | {frames} | {point['wall']:.1f} | {point['unet']:.1f} | {point['encode']:.1f} | "
                f"{point['decode']:.1f} | {point['wall'] / frames:.3f} | {point['input'] / mb:.0f} | "
                f"{point['before'] / mb:.0f} | {point['peak'] / mb:.0f} | {point['peak'] / first_peak - 1:+.1%} | "
                f"{point['growth'] / mb:.0f} | {point['output'] / mb:.0f} | {statistics.median(working) / mb:.0f} | "
                f"{min(working) / mb:.0f}-{max(working) / mb:.0f} |"
            )
    return "\n".join(lines)


def _long_point_process(frames: int, guide_size: float, windows: str) -> dict:
    log.info("long clip: %d frames, windows %s, in a fresh process ...", frames, windows)
    completed = subprocess.run([sys.executable, __file__, "--long-point", str(frames), "--long-guide", str(guide_size),
                                "--long-windows", windows], capture_output=True, text=True, check=False)
    line = next((l for l in completed.stdout.splitlines() if l.startswith(LONG_POINT_TAG)), None)
    if line is None:
        raise RuntimeError(f"the {frames}-frame run failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}")
    point = json.loads(line[len(LONG_POINT_TAG):])
    log.info("  %.1fs, peak %d MB (+%d MB)", point["wall"], point["peak"] // 2**20, point["growth"] // 2**20)
    return point


MOTION_FRAMES = (8, 40)
MOTION_POINT_TAG = "MOTION_POINT "


def motion_point(comfy_path: str, frames: int) -> int:
    """One run of our detailer (own defaults: tracked crop, auto frame windows) on a model carrying
    a real AnimateDiff motion module, in this (fresh) process: SD1.5's full UNet and a random AD v2
    module from tools/motion_models.py, applied with AnimateDiff-Evolved's gen2 nodes; 64 px crops
    (8x8 latents), 2 steps. Prints a tagged JSON line."""
    import motion_models

    checkpoint = motion_models.ensure_sd15_checkpoint()
    motion_module = motion_models.ensure_motion_module()
    ade_dir = comfy_headless.find_pack(Path(comfy_path) / "custom_nodes", comfy_headless.ADE_MARKER)
    if ade_dir is None:
        raise RuntimeError("--motion-module needs AnimateDiff-Evolved in $COMFYUI_PATH/custom_nodes")
    packs = {comfy_headless.PACK_LINK_NAME: REPO, comfy_headless.ADE_LINK_NAME: ade_dir}
    folders = {"checkpoints": [Path(checkpoint).parent], "animatediff_models": [Path(motion_module).parent]}
    harness = comfy_headless.ComfyHarness(comfy_path, tempfile.mkdtemp(prefix="adbench-"), packs, folders).boot()

    import comfy.sd
    import torch
    from comfy.patcher_extension import WrappersMP

    model, clip_model, vae = comfy.sd.load_checkpoint_guess_config(checkpoint, output_vae=True, output_clip=True)[:3]
    with torch.inference_mode():
        positive = clip_model.encode_from_tokens_scheduled(clip_model.tokenize("a detailed face"))
        negative = clip_model.encode_from_tokens_scheduled(clip_model.tokenize("blurry"))

    def call(node_id: str, **inputs):
        node = harness.node_class(node_id)()
        return getattr(node, node.FUNCTION)(**inputs)[0]

    motion = call("ADE_LoadAnimateDiffModel", model_name=Path(motion_module).name)
    m_models = call("ADE_ApplyAnimateDiffModelSimple", motion_model=motion)
    model = call("ADE_UseEvolvedSampling", model=model, beta_schedule="autoselect", m_models=m_models)
    windows: list[int] = []  # latent frames of each sampling call: the frame windows

    def record_window(executor, noise, latent_image, *args, **kwargs):
        windows.append(int(latent_image.shape[0]))
        return executor(noise, latent_image, *args, **kwargs)

    model.add_wrapper_with_key(WrappersMP.OUTER_SAMPLE, "bench_windows", record_window)
    clip, segs = make_clip(harness.pack_module("core.segs").SEG, frames, 160)
    before = rss_bytes()
    wall, timers, growth = run_once(harness.node_class(OUR_DETAILER)(), model, vae, clip_model, positive, negative,
                                    clip, segs, {}, guide_size=64, max_size=64, steps=2)
    print(MOTION_POINT_TAG + json.dumps({"frames": frames, "wall": wall, "unet": timers.unet, "encode": timers.encode,
                                         "decode": timers.decode, "growth": growth, "before": before,
                                         "windows": windows, "unet_batches": timers.unet_batches}), flush=True)
    return 0


def motion_table(comfy_path: str) -> str:
    """Our detailer with a real motion module on 8 and 40 frames, each in a fresh process."""
    lines = ["| frames | wall s | UNet s | VAE s | peak growth MB | process peak MB | windows used (frames each) | UNet batches |",
             "|---|---|---|---|---|---|---|---|"]
    for frames in MOTION_FRAMES:
        log.info("motion module: %d frames in a fresh process ...", frames)
        completed = subprocess.run([sys.executable, __file__, "--motion-point", str(frames)], capture_output=True,
                                   text=True, check=False)
        line = next((l for l in completed.stdout.splitlines() if l.startswith(MOTION_POINT_TAG)), None)
        if line is None:
            raise RuntimeError(f"the {frames}-frame motion-module run failed:\n{completed.stderr[-4000:]}")
        point = json.loads(line[len(MOTION_POINT_TAG):])
        batches = sorted(set(point["unet_batches"]))
        lines.append(f"| {frames} | {point['wall']:.1f} | {point['unet']:.1f} | {point['encode'] + point['decode']:.1f} | "
                     f"{point['growth'] / 2**20:.0f} | {(point['before'] + point['growth']) / 2**20:.0f} | "
                     f"{len(point['windows'])} ({', '.join(map(str, point['windows']))}) | "
                     f"{len(point['unet_batches'])} of {'/'.join(map(str, batches))} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs="*", default=[8, 16, 32])
    parser.add_argument("--large", type=int, default=512, help="side of the larger clip (16 frames); 0 to skip")
    parser.add_argument("--long", action="store_true",
                        help="also the long-clip table: 32..256 frames, windows 16/4 and off, each in a fresh process")
    parser.add_argument("--long-repeats", type=int, default=1, help="fresh processes per long-clip point (medians)")
    parser.add_argument("--long-point", type=int, help=argparse.SUPPRESS)  # one long-clip run (a child process)
    parser.add_argument("--long-windows", choices=list(LONG_WINDOWS), default="16/4", help=argparse.SUPPRESS)
    parser.add_argument("--no-impact", action="store_true")
    parser.add_argument("--long-guide", type=float, default=64,
                        help="guide_size of the long-clip runs (64 samples the 101x79 crop at its own size)")
    parser.add_argument("--tracking", action="store_true", help="also union vs tracked crops on a subject crossing the frame")
    parser.add_argument("--motion-module", action="store_true",
                        help="also our detailer with a real AnimateDiff motion module (full SD1.5 UNet, random "
                             "weights; builds 3 GB of models once) on 8 and 40 frames, each in a fresh process")
    parser.add_argument("--motion-point", type=int, help=argparse.SUPPRESS)  # one motion-module run (a child process)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)

    comfy_path = os.environ.get("COMFYUI_PATH")
    if not comfy_path:
        print("COMFYUI_PATH is not set: point it at a ComfyUI checkout and run with its Python.")
        return 2
    if args.long_point:
        long_point(comfy_path, args.long_point, args.long_guide, args.long_windows)
        os._exit(0)
    if args.motion_point:
        motion_point(comfy_path, args.motion_point)
        os._exit(0)

    import torch

    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"CPU only; tiny SD1.5 checkpoint (UNet 24.5M parameters, full-size VAE encoder), 4 steps, euler, cfg 8, "
          f"denoise 0.5, max_size 768, feather 0.")
    sizes = [(frames, 256) for frames in args.frames] + ([(16, args.large)] if args.large else [])
    if sizes or args.tracking:
        session = boot(comfy_path, with_impact=not args.no_impact)
        compare(session, sizes)
        if args.tracking:
            print()
            print(tracking_table(session))
    if args.long:
        print()
        print(f"Long clips, frame windows of 16 with overlap 4 and without windows, guide_size {args.long_guide:g}:")
        print(long_table(comfy_path, args.long_guide, args.long_repeats))
    if args.motion_module:
        print()
        print("Real motion module (SD1.5's full UNet + random AnimateDiff v2, ADE evolved sampling), our defaults "
              "(tracked crop, auto windows), 64 px crops, 2 steps, cfg 8, denoise 0.5:")
        print(motion_table(comfy_path))
    os._exit(0)  # Impact leaves a non-daemon thread behind


def compare(session: Session, sizes: list[tuple[int, int]]) -> None:
    """Ours against Impact's at each (frames, size), guide_size 256: prints the table."""
    compat = {"crop_mode": "union", "context_length": 0}
    own_defaults = {"crop_mode": "tracked", "context_length": -1}  # our id's defaults
    rows: list[Row] = []
    impact_rows: dict[tuple[int, int], Row] = {}
    for frames, size in sizes:
        clip, segs = make_clip(session.seg_type, frames, size)
        runs = [("ours, Impact settings", session.ours, compat),
                ("ours, Impact settings, fp32 encode", session.ours, {**compat, "vae_encode_precision": "fp32"}),
                ("ours, own defaults", session.ours, own_defaults)]
        if session.theirs is not None:
            runs.insert(0, ("Impact 7.10.6", session.theirs, {}))
        for label, node, extra in runs:
            log.info("%s: %d frames at %dx%d ...", label, frames, size, size)
            wall, timers, growth = session.run(node, clip, segs, extra)
            row = Row(label, frames, size, wall, timers, growth)
            rows.append(row)
            if node is session.theirs:
                impact_rows[(frames, size)] = row
            log.info("  %.1fs (UNet %.1fs, encode %.1fs, decode %.1fs), +%d MB", wall, timers.unet, timers.encode,
                     timers.decode, growth // 2**20)
    if rows:
        print()
        print(table(rows, impact_rows))


if __name__ == "__main__":
    raise SystemExit(main())
