"""Graph builders and run helpers shared by the real-ComfyUI test modules.

The standard detailing graph (:func:`build_pipeline`), recorded runs (:func:`run_recorded`),
skip helpers for nodes or inputs not registered yet, the per-frame windows the detailer
resampled (:func:`changed_windows`) and the subprocess runner call (:func:`run_in_subprocess`).
ComfyUI is not imported here: everything goes through the session's ``ComfyHarness``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from comfy_harness import (
    CHECKPOINT_NAME,
    IMPACT_MASK_TO_SEGS,
    IMPACT_TO_BASIC_PIPE,
    OUR_DETAILER,
    OUR_MASK_TO_SEGS,
    OUR_PASTE,
    OUR_TO_BASIC_PIPE,
    ClipSettings,
    DetailSettings,
    Graph,
    mask_to_segs_inputs,
)

HERE = Path(__file__).resolve().parent


def pick(comfy, candidates: list[str], what: str) -> str:
    """The first registered node id of ``candidates``, else skip with the reason."""
    for candidate in candidates:
        if comfy.has_node(candidate):
            return candidate
    pytest.skip(f"{what}: none of {candidates} is registered (ours is not in NODE_CLASS_MAPPINGS yet "
                f"and Impact Pack does not provide it here)")


def require(comfy, node_id: str, why: str) -> str:
    if not comfy.has_node(node_id):
        pytest.skip(f"{node_id} is not in NODE_CLASS_MAPPINGS yet; {why}")
    return node_id


def require_input(comfy, node_id: str, name: str) -> None:
    types = comfy.node_class(node_id).INPUT_TYPES()
    if name not in types.get("required", {}) and name not in types.get("optional", {}):
        pytest.skip(f"{node_id} has no input '{name}' yet")


def require_crop_mode(comfy, detailer: str, crop_mode: str) -> None:
    optional = comfy.node_class(detailer).INPUT_TYPES().get("optional", {})
    if "crop_mode" not in optional or crop_mode not in optional["crop_mode"][0]:
        pytest.skip(f"{detailer} has no crop_mode '{crop_mode}'")


@dataclass
class Pipeline:
    graph: Graph
    ids: dict[str, str]
    clip: ClipSettings
    detail: DetailSettings
    nodes_used: dict[str, str] = field(default_factory=dict)


def build_pipeline(comfy, *, clip: ClipSettings | None = None, detail: DetailSettings | None = None,
                   segs_node: str | None = None, pipe_node: str | None = None, pastes: dict[str, str] | None = None,
                   detailer: str = OUR_DETAILER, crop_factor: float = 2.0, record_tag: str | None = None,
                   interrupt_after_calls: int = 0, cond_mask: dict | None = None, refiner: bool = False,
                   animatediff: str | None = None, crop_mode: str | None = None, comfy_context: int = 0,
                   detailer_extra: dict | None = None, vae_interrupt_on_encode: int | None = None,
                   vae_oom_calls: int = 0, unet_batch_limit: int = -1, oracle: bool = False) -> Pipeline:
    """The standard detailing graph; ``pastes`` maps a name to a paste node id (run with feather 0, and
    ours with color_match off: these runs compare pastes bit for bit, the colour match has its tests).

    ``crop_mode`` None leaves the detailer's crop_mode input out (its default applies).
    ``animatediff``: "plain" (ADE evolved sampling) or "context" (plus ADE context windows of 4
    frames, overlap 1); ``comfy_context`` > 0 adds ComfyUI's own Context Windows (Manual) of that
    length (overlap 1). ``detailer_extra``: more detailer inputs (each must exist on the node).
    ``vae_interrupt_on_encode`` puts a recording VAE in the pipe (requesting a cancel during that
    encode call when > 0). ``vae_oom_calls`` > 0 makes that many VAE encode and decode batches run
    out of memory (ComfyUI's VAE then retries tiled).
    """
    clip = clip or ClipSettings()
    detail = detail or DetailSettings()
    segs_node = segs_node or pick(comfy, [OUR_MASK_TO_SEGS, IMPACT_MASK_TO_SEGS], "MASK -> SEGS")
    pipe_node = pipe_node or pick(comfy, [OUR_TO_BASIC_PIPE, IMPACT_TO_BASIC_PIPE], "ToBasicPipe")
    g, out = Graph(), Graph.out
    ids: dict[str, str] = {}
    ids["ckpt"] = g.add("CheckpointLoaderSimple", ckpt_name=CHECKPOINT_NAME)
    ids["positive"] = g.add("CLIPTextEncode", text="a shiny red ball, highly detailed", clip=out(ids["ckpt"], 1))
    ids["negative"] = g.add("CLIPTextEncode", text="blurry, low quality", clip=out(ids["ckpt"], 1))
    positive = out(ids["positive"])
    if cond_mask is not None:
        ids["cond_mask"] = g.add("TestBoxMask", **cond_mask)
        ids["masked_positive"] = g.add("ConditioningSetMask", conditioning=positive, mask=out(ids["cond_mask"]),
                                       strength=1.0, set_cond_area="default")
        positive = out(ids["masked_positive"])
    ids["clip"] = g.add("TestClipSource", **clip.inputs())

    model = out(ids["ckpt"], 0)
    if record_tag:
        ids["model"] = g.add("TestRecordingModel", model=model, tag=record_tag,
                             interrupt_after_calls=interrupt_after_calls, batch_limit=unet_batch_limit)
        model = out(ids["model"])
    if oracle:  # the model changes nothing (TestOracleModel)
        ids["oracle"] = g.add("TestOracleModel", model=model)
        model = out(ids["oracle"])
    if animatediff is not None:
        ade_inputs = {"model": model, "beta_schedule": "autoselect"}
        if animatediff == "context":
            ids["context"] = g.add("ADE_StandardStaticContextOptions", context_length=4, context_overlap=1)
            ade_inputs["context_options"] = out(ids["context"])
        ids["evolved"] = g.add("ADE_UseEvolvedSampling", **ade_inputs)
        model = out(ids["evolved"])
    if comfy_context:
        ids["comfy_context"] = g.add(
            "ContextWindowsManual", model=model, context_length=comfy_context, context_overlap=1,
            context_schedule="standard_static", context_stride=1, closed_loop=False, fuse_method="pyramid", dim=0,
            freenoise=False, cond_retain_index_list="", split_conds_to_windows=False, latent_retain_index_list="",
            causal_window_fix=True)
        model = out(ids["comfy_context"])
    vae = out(ids["ckpt"], 2)
    if vae_interrupt_on_encode is not None:
        ids["vae"] = g.add("TestRecordingVAE", vae=vae, interrupt_on_encode_call=vae_interrupt_on_encode)
        vae = out(ids["vae"])
    if vae_oom_calls:
        ids["oom_vae"] = g.add("TestOutOfMemoryVAE", vae=vae, oom_calls=vae_oom_calls)
        vae = out(ids["oom_vae"])
    ids["pipe"] = g.add(pipe_node, model=model, clip=out(ids["ckpt"], 1), vae=vae,
                        positive=positive, negative=out(ids["negative"]))
    detailer_inputs = {"image_frames": out(ids["clip"], 0), "basic_pipe": out(ids["pipe"]), **detail.inputs()}
    if crop_mode is not None:
        require_crop_mode(comfy, detailer, crop_mode)
        detailer_inputs["crop_mode"] = crop_mode
    for name, value in (detailer_extra or {}).items():
        require_input(comfy, detailer, name)
        detailer_inputs[name] = value
    if refiner:
        ids["refiner_model"] = g.add("TestRecordingModel", model=out(ids["ckpt"], 0), tag="refiner")
        ids["refiner_positive"] = g.add("CLIPTextEncode", text="a matte blue ball", clip=out(ids["ckpt"], 1))
        ids["refiner_pipe"] = g.add(pipe_node, model=out(ids["refiner_model"]), clip=out(ids["ckpt"], 1),
                                    vae=out(ids["ckpt"], 2), positive=out(ids["refiner_positive"]),
                                    negative=out(ids["negative"]))
        detailer_inputs["refiner_basic_pipe_opt"] = out(ids["refiner_pipe"])
    ids["segs"] = g.add(segs_node, mask=out(ids["clip"], 1), **mask_to_segs_inputs(crop_factor))
    ids["detailer"] = g.add(detailer, segs=out(ids["segs"]), **detailer_inputs)
    sink = {"segs": out(ids["detailer"])}
    for slot, (name, paste_node) in zip(("images", "images_b"), (pastes or {}).items()):
        exact = {"color_match": False} if paste_node == OUR_PASTE else {}
        ids[name] = g.add(paste_node, image=out(ids["clip"], 0), segs=out(ids["detailer"]), feather=0, alpha=255,
                          **exact)
        sink[slot] = out(ids[name])
    ids["sink"] = g.add("TestSink", **sink)
    used = {"segs": segs_node, "pipe": pipe_node, "detailer": detailer, **(pastes or {})}
    return Pipeline(g, ids, clip, detail, used)


@dataclass
class Recorded:
    """A run and what the recording models saw during it."""

    result: object
    pipeline: Pipeline
    sample_calls: list
    unet_calls: list
    cond_batches: list
    interrupt_requested_at: float | None
    vae_calls: list = field(default_factory=list)

    def output(self, name: str, slot: int = 0):
        return self.result.output(self.pipeline.ids[name], slot)

    def frames(self) -> torch.Tensor:
        return self.output("clip", 0)

    def clip_masks(self) -> torch.Tensor:
        return self.output("clip", 1)

    def segs(self):
        return self.output("detailer", 0)


def run_recorded(comfy, pipeline: Pipeline, label: str, check: bool = True, keep_models: bool = False) -> Recorded:
    recorder = comfy.recorder()
    recorder.clear()
    result = comfy.run(pipeline.graph, label=label, check=check, keep_models=keep_models)
    return Recorded(result, pipeline, list(recorder.sample_calls), list(recorder.unet_calls),
                    list(recorder.cond_batches), recorder.interrupt_requested_at, list(recorder.vae_calls))


def expected_context_windows(frame_count: int, length: int, overlap: int) -> list[range]:
    """The detailer's documented context windows, written out independently of the pack: ``length``
    frames, ``overlap`` shared, the last one moved back to end at the last frame."""
    if length <= 0 or frame_count <= length:
        return [range(frame_count)]
    starts = list(range(0, frame_count - length, length - overlap)) + [frame_count - length]
    return [range(start, start + length) for start in dict.fromkeys(starts)]


def refined_crops(segs) -> list[torch.Tensor]:
    return [torch.as_tensor(seg.cropped_image).clone() for seg in segs[1]]



def changed_windows(frames: torch.Tensor, seg) -> list[tuple[int, int, int, int]]:
    """Per frame, the rectangle (frame pixels) the detailer actually resampled.

    The refined SEG's cropped_image is its whole crop region; pixels the detailer did not
    sample (outside a tracked window) are the original ones bit for bit, and with a random
    VAE every resampled pixel differs. So the changed pixels of each frame are its window.
    """
    x1, y1, x2, y2 = (int(v) for v in seg.crop_region)
    refined = torch.as_tensor(seg.cropped_image)
    changed = (refined != frames[:, y1:y2, x1:x2]).any(dim=-1)
    windows = []
    for frame_changed in changed:
        rows = torch.nonzero(frame_changed.any(dim=1)).flatten()
        cols = torch.nonzero(frame_changed.any(dim=0)).flatten()
        assert rows.numel() and cols.numel(), "a frame of the SEG was not resampled at all"
        wy1, wy2, wx1, wx2 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        fill = float(frame_changed[wy1:wy2, wx1:wx2].float().mean())
        assert fill > 0.9, f"the resampled pixels do not form a window ({fill:.0%} of their bbox)"
        windows.append((x1 + wx1, y1 + wy1, x1 + wx2, y1 + wy2))
    return windows


def run_in_subprocess(spec: dict, work: Path, label: str, report) -> dict:
    """Run ``comfy_runner.py`` on ``spec`` in a fresh Python and return its JSON result."""
    spec_path, result_path = work / "spec.json", work / "result.json"
    spec_path.write_text(json.dumps(spec))
    started = time.perf_counter()
    process = subprocess.run([sys.executable, str(HERE / "comfy_runner.py"), str(spec_path), str(result_path)],
                             capture_output=True, text=True, timeout=900, cwd=str(work))
    report["timings"].append((label, time.perf_counter() - started))
    assert result_path.is_file(), f"runner wrote no result (exit {process.returncode}):\n{process.stderr[-4000:]}"
    result = json.loads(result_path.read_text())
    assert result.get("ok"), result.get("exception") or process.stderr[-4000:]
    result["_stderr"] = process.stderr[-4000:]
    return result
