"""Slow tier: the detailer with a real AnimateDiff motion module, through ComfyUI's engine.

AnimateDiff-Evolved builds motion modules at SD1.5's full widths, so this needs SD1.5's full
UNet (860M parameters) and a full v2 motion module (453M), both random-weight and generated
by ``tools/motion_models.py`` (cached outside the repository; about 3 GB together). Opt-in:
``ADT_SLOW=1``; skipped otherwise, and skipped when AnimateDiff-Evolved is not installed.

Graph: CheckpointLoaderSimple (full UNet) -> TestRecordingModel -> ADE_UseEvolvedSampling with
ADE_LoadAnimateDiffModel -> ADE_ApplyAnimateDiffModelSimple -> our ToBasicPipe -> our detailer
(its default inputs, but guide_size and max_size 64, so crops are sampled at 64 px or less,
8x8 latents, and 2 steps) on TestClipSource clips of 8 and 40 frames via our MaskToSEGS.

Observed: every forward of ADE's temporal modules (a global module forward hook: which block,
the batch, the ``video_length`` it split the batch by, whether it changed its input), the
sampling calls and UNet calls (the fixture pack's recording model), wall time and resident
memory (sampled every few milliseconds). The 40-frame clip is longer than the module's
32-frame positional encoding: the detailer's ``context_length`` auto (16 for a model with a
motion module) must sample it in three windows of 16 frames (overlap 4).
"""

from __future__ import annotations

import logging
import resource
import time
from dataclasses import dataclass, field

import pytest
import torch

from comfy_harness import (
    FULL_CHECKPOINT_NAME,
    MOTION_MODULE_NAME,
    OUR_DETAILER,
    OUR_MASK_TO_SEGS,
    OUR_TO_BASIC_PIPE,
    SLOW_ENV,
    ClipSettings,
    Graph,
    mask_to_segs_inputs,
    slow_tests_enabled,
)
from pipelines import DetailSettings, Pipeline, Recorded, expected_context_windows, require, run_recorded
from memory_probe import PeakMemory  # tools/

pytestmark = pytest.mark.skipif(
    not slow_tests_enabled(),
    reason=f"slow motion-module test: set {SLOW_ENV}=1 to run it (builds a 2 GB SD1.5 checkpoint and a 0.9 GB "
           f"AnimateDiff motion module, then runs for minutes)",
)

FRAME_COUNTS = (8, 40)
CLIP_SIZE = 96  # the disc's bbox is about 23 px; guide_size 64 upscales it, max_size 64 caps the crop
DETAILER_OVERRIDES = {"guide_size": 64, "max_size": 64, "steps": 2}
AUTO_WINDOW, DEFAULT_OVERLAP = 16, 4
MOTION_POSITIONS = 32
# SD1.5 v2 motion module: 2 temporal modules in each of 4 down blocks, 3 in each of 4 up blocks, 1 in the middle.
TEMPORAL_MODULES = 4 * 2 + 4 * 3 + 1
ADE_LOGGER = "AnimateDiffEvo"


# --- observation ---------------------------------------------------------------------------------


class TemporalCalls:
    """Records every forward of AnimateDiff-Evolved's temporal modules while active.

    A global module forward hook, so it sees the modules ADE injects into the UNet however it
    loads, clones or moves them; it matches them by class (``VanillaTemporalModule`` in ADE's
    ``motion_module_ad``).
    """

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self._handle = None

    def __enter__(self) -> TemporalCalls:
        self._handle = torch.nn.modules.module.register_module_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()

    def _hook(self, module, args, output) -> None:
        kind = type(module)
        if kind.__name__ != "VanillaTemporalModule" or not kind.__module__.endswith("motion_module_ad"):
            return
        x = args[0]
        self.calls.append({
            "block": (module.block_type, module.block_idx, module.module_idx),
            "shape": tuple(x.shape),
            "video_length": module.video_length,
            "full_length": module.full_length,
            "change": float((output.float() - x.float()).abs().max()),
            "finite": bool(torch.isfinite(output).all()),
            "bf16_autocast": torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16,
        })


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int = logging.DEBUG) -> list[str]:
        return [f"{r.levelname}: {r.getMessage()}" for r in self.records if r.levelno >= level]


# --- graph and runs ------------------------------------------------------------------------------


def detailer_defaults(comfy, node_id: str) -> dict:
    """The widget values a fresh node gets in the frontend: each input's default, a combo's first choice."""
    values = {}
    types = comfy.node_class(node_id).INPUT_TYPES()
    for section in ("required", "optional"):
        for name, spec in types.get(section, {}).items():
            options = spec[1] if len(spec) > 1 else {}
            if isinstance(spec[0], (list, tuple)):
                values[name] = options.get("default", spec[0][0])
            elif "default" in options:
                values[name] = options["default"]
    return values


def motion_pipeline(comfy, frames: int) -> Pipeline:
    """Full-UNet checkpoint, recording model, ADE gen2 motion module and evolved sampling, our pipe,
    SEGS and detailer (its defaults but DETAILER_OVERRIDES) on a clip of ``frames``."""
    g, out = Graph(), Graph.out
    ids = {"ckpt": g.add("CheckpointLoaderSimple", ckpt_name=FULL_CHECKPOINT_NAME)}
    ids["positive"] = g.add("CLIPTextEncode", text="a shiny red ball, highly detailed", clip=out(ids["ckpt"], 1))
    ids["negative"] = g.add("CLIPTextEncode", text="blurry, low quality", clip=out(ids["ckpt"], 1))
    clip = ClipSettings(frames=frames, width=CLIP_SIZE, height=CLIP_SIZE)
    ids["clip"] = g.add("TestClipSource", **clip.inputs())
    ids["model"] = g.add("TestRecordingModel", model=out(ids["ckpt"], 0), tag="motion")
    ids["motion_model"] = g.add("ADE_LoadAnimateDiffModel", model_name=MOTION_MODULE_NAME)
    ids["m_models"] = g.add("ADE_ApplyAnimateDiffModelSimple", motion_model=out(ids["motion_model"]))
    ids["evolved"] = g.add("ADE_UseEvolvedSampling", model=out(ids["model"]), beta_schedule="autoselect",
                           m_models=out(ids["m_models"]))
    ids["pipe"] = g.add(OUR_TO_BASIC_PIPE, model=out(ids["evolved"]), clip=out(ids["ckpt"], 1), vae=out(ids["ckpt"], 2),
                        positive=out(ids["positive"]), negative=out(ids["negative"]))
    ids["segs"] = g.add(OUR_MASK_TO_SEGS, mask=out(ids["clip"], 1), **mask_to_segs_inputs())
    inputs = {**detailer_defaults(comfy, OUR_DETAILER), **DETAILER_OVERRIDES}
    ids["detailer"] = g.add(OUR_DETAILER, image_frames=out(ids["clip"], 0), segs=out(ids["segs"]),
                            basic_pipe=out(ids["pipe"]), **inputs)
    ids["sink"] = g.add("TestSink", segs=out(ids["detailer"]))
    detail = DetailSettings(**{k: v for k, v in inputs.items() if k in DetailSettings.__dataclass_fields__})
    return Pipeline(g, ids, clip, detail, {"detailer": OUR_DETAILER})


@dataclass
class MotionRun:
    frames: int
    recorded: Recorded
    temporal: list[dict]
    wall: float
    rss_start: int
    rss_peak: int
    max_rss_after: int  # the process's lifetime peak (ru_maxrss) after the run
    detailer_inputs: dict = field(default_factory=dict)

    @property
    def growth(self) -> int:
        return self.rss_peak - self.rss_start


@pytest.fixture(scope="module")
def motion_runs(comfy, animatediff, report):
    """The motion-module graph on 8 and on 40 frames, each run once, observed."""
    for node in (OUR_TO_BASIC_PIPE, OUR_MASK_TO_SEGS, OUR_DETAILER):
        require(comfy, node, "the motion-module graph uses it")
    runs: dict[int, MotionRun] = {}
    mb = 2**20
    for frames in FRAME_COUNTS:
        pipeline = motion_pipeline(comfy, frames)
        label = f"motion module (full SD1.5 UNet + AD v2), {frames} frames, 2 steps, 64 px crops"
        comfy._collect_garbage()  # as between two prompts: the previous run's freed memory goes back to the OS
        with TemporalCalls() as temporal, PeakMemory() as memory:
            started = time.perf_counter()
            recorded = run_recorded(comfy, pipeline, label)
            wall = time.perf_counter() - started
        max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        run = MotionRun(frames, recorded, temporal.calls, wall, memory.start, memory.peak, max_rss,
                        pipeline.graph.nodes[pipeline.ids["detailer"]]["inputs"])
        runs[frames] = run
        sample_frames = [c["latent_shape"][0] for c in recorded.sample_calls]
        before_sampling = recorded.sample_calls[0]["time"] - started if recorded.sample_calls else float("nan")
        report["measurements"].append(
            f"motion module, {frames} frames: wall {wall:.1f}s ({before_sampling:.1f}s loading models and encoding "
            f"before the first sampling call), sampling calls of {sample_frames} frames, "
            f"{len(recorded.unet_calls)} UNet calls, {len(temporal.calls)} temporal-module forwards; RSS "
            f"{memory.start / mb:.0f} MB at start, peak {memory.peak / mb:.0f} MB (+{run.growth / mb:.0f} MB), "
            f"process max {max_rss / mb:.0f} MB")
    return runs


# --- tests ---------------------------------------------------------------------------------------


def test_the_random_motion_module_loads_through_ade_as_v2_without_warnings(comfy, animatediff, report):
    """ADE's loader node reads the generated file as an SD1.5 AnimateDiff v2 module with a 32-frame
    positional encoding; its strict key check passes and it logs no warning."""
    capture = LogCapture()
    ade_logger = logging.getLogger(ADE_LOGGER)
    ade_logger.addHandler(capture)
    root = logging.getLogger()
    root.addHandler(capture)
    try:
        started = time.perf_counter()
        node = comfy.node_class("ADE_LoadAnimateDiffModel")()
        (motion_model,) = getattr(node, node.FUNCTION)(model_name=MOTION_MODULE_NAME)
        seconds = time.perf_counter() - started
    finally:
        ade_logger.removeHandler(capture)
        root.removeHandler(capture)
    assert MOTION_MODULE_NAME in comfy.list_models("animatediff_models")
    module = motion_model.model
    info = module.mm_info
    assert (info.sd_type, info.mm_format, info.mm_version) == ("SD1.5", "AnimateDiff", "v2"), info.get_string()
    assert module.encoding_max_len == MOTION_POSITIONS
    temporal = [m for m in module.modules() if type(m).__name__ == "VanillaTemporalModule"]
    assert len(temporal) == TEMPORAL_MODULES
    assert module.mid_block is not None and len(module.down_blocks) == 4 and len(module.up_blocks) == 4
    import folder_paths
    from safetensors import safe_open

    path = folder_paths.get_full_path("animatediff_models", MOTION_MODULE_NAME)
    with safe_open(path, "pt") as f:
        assert set(f.keys()) == set(module.state_dict().keys())
    assert not capture.messages(logging.WARNING), capture.messages(logging.WARNING)
    report["timings"].append(("ADE_LoadAnimateDiffModel: random AD v2 motion module", seconds))
    report["measurements"].append(f"ADE load of {MOTION_MODULE_NAME}: {info.get_string()}; ADE said: "
                                  f"{capture.messages(logging.INFO)}")


@pytest.mark.parametrize("frames", FRAME_COUNTS)
def test_the_motion_module_runs_in_every_unet_call(motion_runs, frames):
    """Each UNet call runs all 21 temporal modules of the motion module on its batch, split into clips
    of ``video_length`` frames, and they change the features (proj_out is not zero)."""
    run = motion_runs[frames]
    unet_calls, temporal = run.recorded.unet_calls, run.temporal
    assert unet_calls and len(temporal) == TEMPORAL_MODULES * len(unet_calls), (len(temporal), len(unet_calls))
    per_call = [temporal[i:i + TEMPORAL_MODULES] for i in range(0, len(temporal), TEMPORAL_MODULES)]
    blocks = {c["block"] for c in temporal}
    assert len(blocks) == TEMPORAL_MODULES, sorted(blocks)
    for unet_call, modules in zip(unet_calls, per_call):
        assert {m["shape"][0] for m in modules} == {unet_call["batch"]}
        assert all(m["shape"][0] % m["video_length"] == 0 for m in modules)
    assert all(c["finite"] for c in temporal)
    assert all(c["change"] > 0 for c in temporal)
    widths = {c["block"][0]: set() for c in temporal}
    for c in temporal:
        widths[c["block"][0]].add(c["shape"][1])
    assert widths == {"down": {320, 640, 1280}, "up": {320, 640, 1280}, "mid": {1280}}, widths


def test_auto_precision_runs_the_unet_and_motion_module_in_bf16_where_the_cpu_has_it(comfy, motion_runs):
    """sampling_precision auto (our id's default): the UNet and every temporal-module forward run
    under bfloat16 autocast on a CPU that computes it natively, in ComfyUI's fp32 elsewhere."""
    native = comfy.pack_module("nodes.adapter.environment").cpu_has_native_bf16()
    for run in motion_runs.values():
        assert {c["bf16_autocast"] for c in run.recorded.unet_calls} == {native}
        assert {c["bf16_autocast"] for c in run.temporal} == {native}


def test_eight_frames_are_sampled_as_one_clip_with_the_motion_module(motion_runs):
    """8 frames fit the auto window (16): one sampling call of 8 latents; the module sees clips of 8."""
    run = motion_runs[8]
    assert [c["latent_shape"][0] for c in run.recorded.sample_calls] == [8]
    assert {c["ad_full_length"] for c in run.recorded.unet_calls} == {8}
    assert {c["video_length"] for c in run.temporal} == {8}


def test_forty_frames_run_in_windows_of_sixteen_within_the_positional_limit(motion_runs):
    """40 frames exceed the module's 32 positions: the detailer's auto context_length (16, overlap 4)
    samples windows 0-15, 12-27 and 24-39, each a sampling call of its own that ADE sees as a clip of
    16; each window's noise is the whole clip's noise sliced at its frames."""
    import comfy.sample as comfy_sample

    run = motion_runs[40]
    calls = run.recorded.sample_calls
    windows = expected_context_windows(40, AUTO_WINDOW, DEFAULT_OVERLAP)
    assert [(w.start, w.stop) for w in windows] == [(0, 16), (12, 28), (24, 40)]
    assert [c["latent_shape"][0] for c in calls] == [len(w) for w in windows]
    full_noise = comfy_sample.prepare_noise(torch.zeros((40, *calls[0]["latent_shape"][1:])), run.detailer_inputs["seed"])
    for call, window in zip(calls, windows):
        assert torch.equal(call["noise"], full_noise[window.start:window.stop]), window
    assert {c["ad_full_length"] for c in run.recorded.unet_calls} == {AUTO_WINDOW}
    assert {c["video_length"] for c in run.temporal} == {AUTO_WINDOW}, (
        f"the motion module sees windows of {AUTO_WINDOW} frames, within its {MOTION_POSITIONS} positions")
    # The UNet calls of each window carry its 16 frames (cond and uncond batched together, or split).
    frames_per_call = {c["batch"] // max(1, len(c["cond_or_uncond"])) for c in run.recorded.unet_calls}
    assert frames_per_call == {AUTO_WINDOW}, frames_per_call


@pytest.mark.parametrize("frames", FRAME_COUNTS)
def test_output_is_finite_with_every_frame_of_the_crop(motion_runs, frames):
    """The refined SEG has one crop per frame at the crop region's size, finite, in 0..1, and resampled."""
    run = motion_runs[frames]
    header, segs = run.recorded.segs()
    assert tuple(header) == (CLIP_SIZE, CLIP_SIZE) and len(segs) == 1
    (seg,) = segs
    x1, y1, x2, y2 = (int(v) for v in seg.crop_region)
    crops = torch.as_tensor(seg.cropped_image)
    assert crops.shape == (frames, y2 - y1, x2 - x1, 3)
    assert torch.isfinite(crops).all() and crops.min() >= 0 and crops.max() <= 1
    original = run.recorded.frames()[:, y1:y2, x1:x2]
    assert (crops != original).any(dim=(1, 2, 3)).all(), "a frame of the crop was not resampled"
    assert all(c["latent_hw"][0] <= 8 and c["latent_hw"][1] <= 8 for c in run.recorded.unet_calls)


def test_peak_memory_does_not_grow_with_the_clip(motion_runs):
    """Both runs load the same models (about 5.3 GB in fp32) into a process trimmed back to its idle
    size: the 40-frame run, sampled in windows of 16, peaks within 15% of the 8-frame run. (At 8x8
    latents the activations are small next to the weights; the window checks above show the bound.)"""
    short, long = motion_runs[8], motion_runs[40]
    assert long.rss_peak <= 1.15 * short.rss_peak, (long.rss_peak / 2**20, short.rss_peak / 2**20)
