"""The pack's companion nodes inside a real ComfyUI 0.29: ControlNet for SEGS, SEGS utilities, pipes.

* ControlNet: ComfyUI's ``ControlNetLoader`` loads a tiny random-weight SD1.5 ControlNet
  (``tiny_controlnet.py``) that matches the tiny checkpoint's UNet. Our ``ControlNetForSEGS``
  cuts one hint per frame from a control clip at the SEG's crop (union crop) or at each
  frame's moving window (tracked crop); the recording model shows the sampler got the
  ControlNet in its conditioning (hint, strength) and every UNet call got its residuals.
  Impact's ``ImpactControlNetApplyAdvancedSEGS`` wrapper goes through our detailer as well:
  Advanced-ControlNet is not installed, so the detailer asks it for ComfyUI's own ControlNet.
* The "ours only" workflow, in a ComfyUI without Impact Pack (subprocess): loader, pipes,
  masks to SEGS, ControlNet for SEGS, detailer, paste and ComfyUI's SaveImage.
* SEGS utilities on a two-subject clip: filter by label / by size, order, preview, the
  pipe splitter and the one-node detail-and-paste.

Sizes are tiny (4 frames, 96 to 128 px, 2 steps).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from comfy_harness import (
    CHECKPOINT_NAME,
    CONTROLNET_NAME,
    FIXTURE_LINK_NAME,
    FIXTURE_PACK_DIR,
    IMPACT_CONTROLNET_SEGS,
    IMPACT_SEGS_CONCAT,
    OUR_CONTROLNET_FOR_SEGS,
    OUR_DETAIL_AND_PASTE,
    OUR_DETAILER,
    OUR_FILTER_BY_LABEL,
    OUR_FILTER_BY_SIZE,
    OUR_FROM_BASIC_PIPE,
    OUR_MASK_TO_SEGS,
    OUR_ORDER,
    OUR_PASTE,
    OUR_PREVIEW,
    OUR_TO_BASIC_PIPE,
    PACK_LINK_NAME,
    REPO_ROOT,
    ClipSettings,
    DetailSettings,
    Graph,
    mask_to_segs_inputs,
    seg_union_masks,
)
from pipelines import (
    Pipeline,
    Recorded,
    build_pipeline,
    changed_windows,
    refined_crops,
    require,
    run_in_subprocess,
    run_recorded,
)

OUT = Graph.out
CNET_CLIP = ClipSettings(frames=4)
CNET_DETAIL = DetailSettings(steps=2)


# --- ControlNet helpers ----------------------------------------------------------------------------


def control_outputs() -> int:
    from tiny_controlnet import control_outputs as count

    return count()


def add_control_net(pipeline: Pipeline, *, node: str = OUR_CONTROLNET_FOR_SEGS, strength: float = 1.0,
                    start_percent: float = 0.0, end_percent: float = 1.0, control_clip: bool = True,
                    segs_from: str = "segs", name: str = "cnet") -> Pipeline:
    """Put a ControlNet-for-SEGS node between the pipeline's SEGS and its detailer.

    ``control_clip``: feed a control clip (another synthetic clip, its disc moving the other
    way, so every frame differs from the image frames and from the other control frames).
    """
    g, ids = pipeline.graph, pipeline.ids
    if "cnet_loader" not in ids:
        ids["cnet_loader"] = g.add("ControlNetLoader", control_net_name=CONTROLNET_NAME)
    inputs = {"segs": OUT(ids[segs_from]), "control_net": OUT(ids["cnet_loader"]), "strength": strength,
              "start_percent": start_percent, "end_percent": end_percent}
    if control_clip:
        if "control" not in ids:
            clip = pipeline.clip
            ids["control"] = g.add("TestClipSource", frames=clip.frames, width=clip.width, height=clip.height,
                                   seed=99, radius=clip.radius, x_start=0.75, x_end=0.25)
        inputs["control_image"] = OUT(ids["control"], 0)
    ids[name] = g.add(node, **inputs)
    g.set(ids["detailer"], segs=OUT(ids[name]))
    return pipeline


def cnet_pipeline(comfy, crop_mode: str, **control) -> Pipeline:
    require(comfy, OUR_CONTROLNET_FOR_SEGS, "the ControlNet for SEGS node is tested")
    pipeline = build_pipeline(comfy, clip=CNET_CLIP, detail=CNET_DETAIL, record_tag="base", crop_mode=crop_mode)
    return add_control_net(pipeline, **control)


def cnet_images(recorded: Recorded) -> list[torch.Tensor]:
    """The detailer's ``cnet_images`` output (an output list: one hint batch per SEG and ControlNet)."""
    images = recorded.result.output_lists[recorded.pipeline.ids["detailer"]][1]
    assert isinstance(images, list)
    return [torch.as_tensor(image) for image in images]


def controls_seen(recorded: Recorded) -> tuple[list, list]:
    """The ControlNet chains on the positive and on the negative conds of every conditioning batch."""
    batches = [b for b in recorded.cond_batches if b["tag"] == "base"]
    assert batches, "the sampler never evaluated the conditioning"
    positive = [item["control"] for b in batches for item in b["conds"][0]]
    negative = [item["control"] for b in batches for item in b["conds"][1]]
    return positive, negative


def assert_sampler_got_the_hints(recorded: Recorded, hints: list[torch.Tensor],
                                 strengths: list[float] | None = None) -> None:
    """Every cond the sampler evaluated carries the ControlNet chain with these hints and strengths
    (in the order cnet_images lists them: innermost first), and every UNet call got the residuals."""
    strengths = strengths or [1.0] * len(hints)
    positive, negative = controls_seen(recorded)
    for chain in positive + negative:
        assert [link["type"] for link in chain] == ["ControlNet"] * len(hints), chain
        for link, hint, strength in zip(chain, reversed(hints), reversed(strengths)):
            assert link["strength"] == pytest.approx(strength)
            assert link["hint"] is not None and torch.equal(link["hint"], hint.movedim(-1, 1)), (
                f"the sampler's hint {tuple(link['hint'].shape)} is not the cnet_images hint {tuple(hint.shape)}")
    calls = [c for c in recorded.unet_calls if c["tag"] == "base"]
    assert calls
    for call in calls:
        residuals = call["control"]
        assert residuals is not None, "a UNet call got no ControlNet residuals"
        assert residuals["counts"]["output"] == control_outputs() and residuals["counts"]["middle"] == 1, residuals
        assert residuals["finite"] and residuals["max_abs"] > 0.0, residuals


def cut(stack: torch.Tensor, rect) -> torch.Tensor:
    x1, y1, x2, y2 = (int(v) for v in rect)
    return stack[:, y1:y2, x1:x2, :]


def assert_one_hint_per_frame(hint: torch.Tensor) -> None:
    assert any(not torch.equal(hint[0], hint[f]) for f in range(1, hint.shape[0])), "every frame got the same hint"


# --- a. our ControlNet for SEGS --------------------------------------------------------------------


@pytest.fixture(scope="module")
def union_cnet_run(comfy) -> Recorded:
    return run_recorded(comfy, cnet_pipeline(comfy, "union"),
                        "ControlNet for SEGS, per-frame control clip, union crop (4 frames, 2 steps)")


def test_control_net_for_segs_gives_each_frame_its_hint_cut_at_the_crop(comfy, union_cnet_run):
    recorded = union_cnet_run
    control = recorded.output("control", 0)
    (seg,) = recorded.segs()[1]
    (hint,) = cnet_images(recorded)
    x1, y1, x2, y2 = (int(v) for v in seg.crop_region)
    assert tuple(hint.shape) == (CNET_CLIP.frames, y2 - y1, x2 - x1, 3)
    assert torch.equal(hint, cut(control, seg.crop_region)), "the hints are not the control frames cut at the crop"
    assert_one_hint_per_frame(hint)
    assert not torch.equal(hint, cut(recorded.frames(), seg.crop_region))
    assert_sampler_got_the_hints(recorded, [hint])
    # one sampling call with all frames, the hint batch matching the latent batch
    (call,) = [c for c in recorded.sample_calls if c["tag"] == "base"]
    assert call["latent_shape"][0] == CNET_CLIP.frames
    refined = torch.as_tensor(seg.cropped_image)
    assert bool(torch.isfinite(refined).all()) and float(refined.min()) >= 0.0 and float(refined.max()) <= 1.0


def test_control_net_changes_the_result_and_strength_zero_does_not_apply_it(comfy, union_cnet_run, report):
    """Same graph and seed at strength 0: the hint is still reported, no ControlNet reaches the
    sampler, and the refined crop differs from the one sampled with the ControlNet."""
    recorded = run_recorded(comfy, cnet_pipeline(comfy, "union", strength=0.0),
                            "ControlNet for SEGS at strength 0 (4 frames, 2 steps)")
    (hint,) = cnet_images(recorded)
    assert torch.equal(hint, cnet_images(union_cnet_run)[0])
    positive, negative = controls_seen(recorded)
    assert all(chain == [] for chain in positive + negative), "strength 0 must not attach a ControlNet"
    assert all(c["control"] is None for c in recorded.unet_calls)
    with_cnet, without = refined_crops(union_cnet_run.segs())[0], refined_crops(recorded.segs())[0]
    difference = float((with_cnet - without).abs().max())
    report["measurements"].append(f"tiny ControlNet at strength 1 vs 0: refined crop differs by up to {difference:.3f}")
    assert difference > 1e-3, "applying the ControlNet did not change the sampled crop"


def test_control_net_for_segs_hints_follow_the_tracked_window(comfy):
    recorded = run_recorded(comfy, cnet_pipeline(comfy, "tracked"),
                            "ControlNet for SEGS, per-frame control clip, tracked crop (4 frames, 2 steps)")
    control, frames = recorded.output("control", 0), recorded.frames()
    (seg,) = recorded.segs()[1]
    (hint,) = cnet_images(recorded)
    windows = changed_windows(frames, seg)
    assert len(set(windows)) > 1, "the tracked window did not move"
    x1, y1, x2, y2 = (int(v) for v in seg.crop_region)
    wx1, wy1, wx2, wy2 = windows[0]
    assert tuple(hint.shape) == (CNET_CLIP.frames, wy2 - wy1, wx2 - wx1, 3)
    assert (wx2 - wx1, wy2 - wy1) != (x2 - x1, y2 - y1), "the tracked window should be smaller than the union crop"
    for f, window in enumerate(windows):
        assert torch.equal(hint[f], cut(control[f : f + 1], window)[0]), f"frame {f}: hint not cut at window {window}"
    assert_one_hint_per_frame(hint)
    assert_sampler_got_the_hints(recorded, [hint])


@pytest.mark.parametrize("crop_mode", ["union", "tracked"])
def test_control_net_for_segs_without_control_image_uses_the_crop_as_hint(comfy, crop_mode):
    recorded = run_recorded(comfy, cnet_pipeline(comfy, crop_mode, control_clip=False),
                            f"ControlNet for SEGS without control image, {crop_mode} crop (4 frames, 2 steps)")
    frames = recorded.frames()
    (seg,) = recorded.segs()[1]
    (hint,) = cnet_images(recorded)
    windows = changed_windows(frames, seg)
    if crop_mode == "union":
        assert set(windows) == {tuple(int(v) for v in seg.crop_region)}
    for f, window in enumerate(windows):
        assert torch.equal(hint[f], cut(frames[f : f + 1], window)[0]), f"frame {f}: hint is not the crop"
    assert_sampler_got_the_hints(recorded, [hint])


# --- b. Impact's ControlNet wrapper through our detailer -----------------------------------------


# Impact's wrapper copies its control image with torch.tensor(tensor), which warns; not ours to fix.
impact_copy_warning = pytest.mark.filterwarnings("ignore:To copy construct from a tensor:UserWarning")


def impact_hint(control: torch.Tensor, rect) -> torch.Tensor:
    """Impact's ControlNetAdvancedWrapper hint: the control frames through PIL (8 bits, truncated) at the
    SEGS' size, cut at the crop region."""
    return cut(torch.from_numpy(np.clip(255.0 * control.numpy(), 0, 255).astype(np.uint8)).float() / 255.0, rect)


def impact_cnet_pipeline(comfy, crop_mode: str, chain_ours: bool = False) -> Pipeline:
    require(comfy, IMPACT_CONTROLNET_SEGS, "Impact's ControlNet wrapper is tested")
    pipeline = build_pipeline(comfy, clip=CNET_CLIP, detail=CNET_DETAIL, record_tag="base", crop_mode=crop_mode)
    add_control_net(pipeline, node=IMPACT_CONTROLNET_SEGS, name="impact_cnet")
    if chain_ours:
        require(comfy, OUR_CONTROLNET_FOR_SEGS, "ours is chained after Impact's")
        add_control_net(pipeline, segs_from="impact_cnet", control_clip=False, strength=0.5)
    return pipeline


@impact_copy_warning
def test_impacts_controlnet_wrapper_is_applied_by_our_detailer(comfy, impact):
    """Impact's wrapper cannot follow a tracked window, so the detailer keeps the union crop for its SEG;
    without Advanced-ControlNet it is applied with use_acn=False, through ComfyUI's ControlNetApplyAdvanced."""
    assert not comfy.has_node("ACN_AdvancedControlNetApply"), "this test expects Advanced-ControlNet absent"
    recorded = run_recorded(comfy, impact_cnet_pipeline(comfy, "tracked"),
                            "Impact ControlNetApply (SEGS) -> our detailer, tracked asked (4 frames, 2 steps)")
    control, frames = recorded.output("control", 0), recorded.frames()
    (seg,) = recorded.segs()[1]
    assert type(recorded.output("impact_cnet")[1][0].control_net_wrapper).__name__ == "ControlNetAdvancedWrapper"
    windows = changed_windows(frames, seg)
    assert set(windows) == {tuple(int(v) for v in seg.crop_region)}, "a wrapper without windows keeps the union crop"
    (hint,) = cnet_images(recorded)
    expected = impact_hint(control, seg.crop_region)
    assert tuple(hint.shape) == tuple(expected.shape)
    assert float((hint - expected).abs().max()) <= 1e-6, "cnet_images does not hold Impact's hint"
    assert_one_hint_per_frame(hint)
    assert_sampler_got_the_hints(recorded, [hint])


@impact_copy_warning
def test_our_controlnet_chains_after_impacts(comfy, impact):
    """Impact's wrapper, then ours on the same SEG (union crop): both hints reported in order, both
    ControlNets in the sampler's conditioning (ours outermost)."""
    recorded = run_recorded(comfy, impact_cnet_pipeline(comfy, "union", chain_ours=True),
                            "Impact ControlNetApply (SEGS) + ours chained (4 frames, 2 steps)")
    control, frames = recorded.output("control", 0), recorded.frames()
    (seg,) = recorded.segs()[1]
    impacts, ours = cnet_images(recorded)
    assert float((impacts - impact_hint(control, seg.crop_region)).abs().max()) <= 1e-6
    assert torch.equal(ours, cut(frames, seg.crop_region))
    assert_sampler_got_the_hints(recorded, [impacts, ours], strengths=[1.0, 0.5])


@impact_copy_warning
def test_a_chain_holding_impacts_wrapper_keeps_the_union_crop(comfy, impact):
    """Ours chained after Impact's in tracked mode: Impact's hint is cut at the union crop, so the SEG is
    sampled at the union crop and ours is cut there too (before the fix in nodes/controlnet.py only the
    outermost wrapper was asked: a tracked window was sampled with Impact's union-crop hint)."""
    recorded = run_recorded(comfy, impact_cnet_pipeline(comfy, "tracked", chain_ours=True),
                            "Impact ControlNetApply (SEGS) + ours chained, tracked asked (4 frames, 2 steps)")
    (seg,) = recorded.segs()[1]
    impacts, ours = cnet_images(recorded)
    assert tuple(impacts.shape) == tuple(ours.shape), (
        f"Impact's hint {tuple(impacts.shape)} and ours {tuple(ours.shape)} were cut for different crops")
    assert set(changed_windows(recorded.frames(), seg)) == {tuple(int(v) for v in seg.crop_region)}
    assert torch.equal(ours, cut(recorded.frames(), seg.crop_region))
    assert_sampler_got_the_hints(recorded, [impacts, ours], strengths=[1.0, 0.5])


# --- c. the "ours only" workflow without Impact Pack (subprocess) --------------------------------


def ours_only_graph(clip: ClipSettings) -> tuple[dict, dict]:
    g = Graph()
    ckpt = g.add("CheckpointLoaderSimple", ckpt_name=CHECKPOINT_NAME)
    positive = g.add("CLIPTextEncode", text="a shiny red ball, highly detailed", clip=OUT(ckpt, 1))
    negative = g.add("CLIPTextEncode", text="blurry, low quality", clip=OUT(ckpt, 1))
    pipe = g.add(OUR_TO_BASIC_PIPE, model=OUT(ckpt, 0), clip=OUT(ckpt, 1), vae=OUT(ckpt, 2),
                 positive=OUT(positive), negative=OUT(negative))
    source = g.add("TestClipSource", **clip.inputs())
    segs = g.add(OUR_MASK_TO_SEGS, mask=OUT(source, 1), **mask_to_segs_inputs(2.0))
    loader = g.add("ControlNetLoader", control_net_name=CONTROLNET_NAME)
    cnet = g.add(OUR_CONTROLNET_FOR_SEGS, segs=OUT(segs), control_net=OUT(loader), strength=0.8, start_percent=0.0,
                 end_percent=1.0, control_image=OUT(source, 0))
    detail = DetailSettings(guide_size=64, max_size=64, steps=2)
    detailer = g.add(OUR_DETAILER, image_frames=OUT(source, 0), segs=OUT(cnet), basic_pipe=OUT(pipe),
                     **detail.inputs())
    paste = g.add(OUR_PASTE, image=OUT(source, 0), segs=OUT(detailer), feather=5, alpha=255)
    save = g.add("SaveImage", images=OUT(paste), filename_prefix="adtest_ours_only")
    return g.prompt(), {"source": source, "detailer": detailer, "paste": paste, "save": save}


@pytest.fixture(scope="module")
def ours_only_without_impact(comfy_root, checkpoints_dir, controlnet_dir, tmp_path_factory, report) -> dict:
    work = tmp_path_factory.mktemp("ours_only")
    clip = ClipSettings(frames=4, width=96, height=64, seed=3)
    graph, ids = ours_only_graph(clip)
    spec = {
        "comfy_path": str(comfy_root),
        "work_dir": str(work),
        "packs": {PACK_LINK_NAME: str(REPO_ROOT), FIXTURE_LINK_NAME: str(FIXTURE_PACK_DIR)},
        "model_dirs": {"checkpoints": [str(checkpoints_dir)], "controlnet": [str(controlnet_dir)]},
        "inspect_ids": ["ControlNetLoader", "SaveImage", OUR_CONTROLNET_FOR_SEGS, IMPACT_CONTROLNET_SEGS],
        "validate_only": [graph],
        "graph": graph,
        "fetch": {"frames": [ids["source"], 0], "pasted": [ids["paste"], 0], "segs": [ids["detailer"], 0]},
    }
    result = run_in_subprocess(spec, work, "subprocess: ours-only workflow with ControlNet and SaveImage, "
                                           "no Impact Pack (boot + run)", report)
    result["_clip"] = clip
    result["_work"] = work
    return result


def test_ours_only_workflow_runs_without_impact_and_saves_the_frames(ours_only_without_impact):
    result = ours_only_without_impact
    clip: ClipSettings = result["_clip"]
    assert result["loaded_packs"] == sorted([PACK_LINK_NAME, FIXTURE_LINK_NAME])
    assert not result["import_failures"], result["import_failures"]
    assert not result["nodes"][IMPACT_CONTROLNET_SEGS]["registered"]
    assert result["nodes"][OUR_CONTROLNET_FOR_SEGS]["registered"]
    (validated,) = result["validate_only"]
    assert validated.get("valid"), validated
    run = result["run"]
    assert run["valid"] and run["success"], run["failure"]
    assert not result["missing_nodes"] and not result["substitutions"]

    files = result["output_files"]
    assert len(files) == clip.frames and all(f.startswith("adtest_ours_only") and f.endswith(".png") for f in files), files
    pasted = torch.load(result["saved"]["pasted"]["path"], weights_only=False)
    frames = torch.load(result["saved"]["frames"]["path"], weights_only=False)
    assert tuple(pasted.shape) == tuple(frames.shape) == (clip.frames, clip.height, clip.width, 3)
    assert float((pasted - frames).abs().max()) > 0.01, "the detailer changed nothing"
    from PIL import Image

    output_dir = Path(result["_work"]) / "output"
    for index, name in enumerate(sorted(files)):
        saved = np.asarray(Image.open(output_dir / name).convert("RGB")).astype(np.int16)
        expected = np.clip(255.0 * pasted[index].numpy(), 0, 255).astype(np.uint8).astype(np.int16)
        assert saved.shape == expected.shape and int(np.abs(saved - expected).max()) <= 1, name


# --- d. SEGS utilities on a two-subject clip -----------------------------------------------------


TWO_SUBJECTS = {"frames": 4, "width": 128, "height": 96}
BIG = {"seed": 5, "radius": 16, "x_start": 0.15, "x_end": 0.3}
SMALL = {"seed": 6, "radius": 6, "x_start": 0.75, "x_end": 0.88}
MIN_SIDE = 28  # between the small disc's bbox (about 19 px high) and the big one's (about 39 px)
PREVIEW_SIZE = 48


def two_subject_sources(g: Graph) -> dict[str, str]:
    """Two synthetic clips composited into one: a big disc on the left, a small one on the right."""
    ids = {"big": g.add("TestClipSource", **TWO_SUBJECTS, **BIG), "small": g.add("TestClipSource", **TWO_SUBJECTS, **SMALL)}
    ids["mask"] = g.add("MaskComposite", destination=OUT(ids["big"], 1), source=OUT(ids["small"], 1), x=0, y=0,
                        operation="or")
    ids["frames"] = g.add("ImageCompositeMasked", destination=OUT(ids["big"], 0), source=OUT(ids["small"], 0), x=0,
                          y=0, resize_source=False, mask=OUT(ids["small"], 1))
    return ids


def rects(segs) -> list[tuple[int, ...]]:
    return [tuple(int(v) for v in seg.crop_region) for seg in segs[1]]


@pytest.fixture(scope="module")
def utilities_run(comfy):
    """One graph with every SEGS utility on the two-subject SEGS, the pipe split and rebuilt, and the
    one-node detail-and-paste beside detailer + paste, all from the same SEGS and pipe."""
    for node_id in (OUR_FILTER_BY_LABEL, OUR_FILTER_BY_SIZE, OUR_ORDER, OUR_PREVIEW, OUR_FROM_BASIC_PIPE,
                    OUR_DETAIL_AND_PASTE, OUR_MASK_TO_SEGS, OUR_TO_BASIC_PIPE, OUR_PASTE):
        require(comfy, node_id, "the SEGS utilities graph uses it")
    g = Graph()
    ids = two_subject_sources(g)
    ids["segs"] = g.add(OUR_MASK_TO_SEGS, mask=OUT(ids["mask"]), label="subject", **mask_to_segs_inputs(1.5))
    segs = OUT(ids["segs"])
    ids["label_hit"] = g.add(OUR_FILTER_BY_LABEL, segs=segs, labels="other, subject")
    ids["label_miss"] = g.add(OUR_FILTER_BY_LABEL, segs=segs, labels="face")
    ids["size"] = g.add(OUR_FILTER_BY_SIZE, segs=segs, min_side=MIN_SIDE, max_side=1024, min_confidence=0.0)
    ids["order_area"] = g.add(OUR_ORDER, segs=segs, order_by="area", descending=False, take=1)
    ids["order_x"] = g.add(OUR_ORDER, segs=segs, order_by="x", descending=True, take=0)
    ids["preview"] = g.add(OUR_PREVIEW, segs=segs, size=PREVIEW_SIZE, image_frames=OUT(ids["frames"]))

    ids["ckpt"] = g.add("CheckpointLoaderSimple", ckpt_name=CHECKPOINT_NAME)
    ids["positive"] = g.add("CLIPTextEncode", text="a shiny red ball", clip=OUT(ids["ckpt"], 1))
    ids["negative"] = g.add("CLIPTextEncode", text="blurry", clip=OUT(ids["ckpt"], 1))
    ids["model"] = g.add("TestRecordingModel", model=OUT(ids["ckpt"], 0), tag="base")
    ids["pipe"] = g.add(OUR_TO_BASIC_PIPE, model=OUT(ids["model"]), clip=OUT(ids["ckpt"], 1), vae=OUT(ids["ckpt"], 2),
                        positive=OUT(ids["positive"]), negative=OUT(ids["negative"]))
    ids["split"] = g.add(OUR_FROM_BASIC_PIPE, basic_pipe=OUT(ids["pipe"]))
    ids["pipe2"] = g.add(OUR_TO_BASIC_PIPE, **{name: OUT(ids["split"], slot) for slot, name in enumerate(
        ("model", "clip", "vae", "positive", "negative"))})
    detail = {**DetailSettings(steps=2).inputs(), "crop_mode": "tracked"}
    frames = OUT(ids["frames"])
    ids["detail_and_paste"] = g.add(OUR_DETAIL_AND_PASTE, image_frames=frames, segs=segs, basic_pipe=OUT(ids["pipe2"]),
                                    feather=0, **detail)
    ids["detailer"] = g.add(OUR_DETAILER, image_frames=frames, segs=segs, basic_pipe=OUT(ids["pipe2"]), **detail)
    # both at their defaults (colour match on): the one-node detailer pastes as our paste does, bit for bit
    ids["paste"] = g.add(OUR_PASTE, image=frames, segs=OUT(ids["detailer"]), feather=0, alpha=255)
    ids["preview_refined"] = g.add(OUR_PREVIEW, segs=OUT(ids["detail_and_paste"], 1), size=PREVIEW_SIZE)

    for name, inputs in {
        "sink_label": {"segs": OUT(ids["label_hit"], 0), "images": OUT(ids["preview"]), "mask": OUT(ids["mask"])},
        "sink_label_rest": {"segs": OUT(ids["label_hit"], 1)},
        "sink_miss": {"segs": OUT(ids["label_miss"], 0)},
        "sink_miss_rest": {"segs": OUT(ids["label_miss"], 1)},
        "sink_size": {"segs": OUT(ids["size"], 0)},
        "sink_size_rest": {"segs": OUT(ids["size"], 1)},
        "sink_order_area": {"segs": OUT(ids["order_area"])},
        "sink_order_x": {"segs": OUT(ids["order_x"])},
        "sink_detail": {"images": OUT(ids["detail_and_paste"], 0), "images_b": OUT(ids["paste"]),
                        "segs": OUT(ids["detail_and_paste"], 1)},
        "sink_preview_refined": {"images": OUT(ids["preview_refined"]), "segs": OUT(ids["detailer"])},
    }.items():
        ids[name] = g.add("TestSink", **inputs)
    recorder = comfy.recorder()
    recorder.clear()
    result = comfy.run(g, label="SEGS utilities + pipe split + detail-and-paste on two subjects (4 frames, 2 steps)",
                       keep_models=True)
    sample_calls = list(recorder.sample_calls)
    outputs = {name: result.outputs[node_id] for name, node_id in ids.items() if node_id in result.outputs}
    identity = {
        "split_is_pipe": all(a is b for a, b in zip(outputs["split"], outputs["pipe"][0])),
        "passthrough_is_pipe2": outputs["detail_and_paste"][2] is outputs["pipe2"][0],
        "model_is_recording_model": outputs["split"][0] is outputs["model"][0],
        "positive_is_encoded": outputs["split"][3] is outputs["positive"][0],
    }
    for name in ("ckpt", "model", "pipe", "pipe2", "split", "positive", "negative"):
        outputs.pop(name, None)  # release the models
    outputs["detail_and_paste"] = outputs["detail_and_paste"][:2]
    del result
    return {"outputs": outputs, "sample_calls": sample_calls, "identity": identity}


def test_two_subject_mask_gives_two_labelled_segs(utilities_run):
    out = utilities_run["outputs"]
    header, items = out["segs"][0]
    assert tuple(header) == (TWO_SUBJECTS["height"], TWO_SUBJECTS["width"])
    assert len(items) == 2 and [seg.label for seg in items] == ["subject", "subject"]
    big, small = items
    assert big.bbox[0] < small.bbox[0], "the big disc is on the left"
    bx2, sx1 = int(big.crop_region[2]), int(small.crop_region[0])
    assert bx2 <= sx1, "the two crops must not overlap (detail-and-paste is compared with detailer + paste)"
    assert tuple(torch.as_tensor(big.cropped_mask).shape)[0] == TWO_SUBJECTS["frames"]


def test_filter_by_label(utilities_run):
    out = utilities_run["outputs"]
    segs = out["segs"][0]
    hit, rest = out["label_hit"]
    assert rects(hit) == rects(segs) and rects(rest) == []
    miss, miss_rest = out["label_miss"]
    assert rects(miss) == [] and rects(miss_rest) == rects(segs)
    assert tuple(miss[0]) == tuple(segs[0]), "an empty result keeps the SEGS' frame size"


def test_filter_by_size_and_order(utilities_run):
    out = utilities_run["outputs"]
    segs = out["segs"][0]
    big, small = rects(segs)
    sides = [min(seg.bbox[2] - seg.bbox[0], seg.bbox[3] - seg.bbox[1]) for seg in segs[1]]
    assert sides[0] >= MIN_SIDE > sides[1], sides
    kept, rest = out["size"]
    assert rects(kept) == [big] and rects(rest) == [small]
    assert rects(out["order_area"][0]) == [small], "ascending area, take 1: the small disc"
    assert rects(out["order_x"][0]) == [small, big], "descending x: right to left"


def test_segs_preview_letterboxes_every_segs_frames(utilities_run):
    out = utilities_run["outputs"]
    segs, frames = out["segs"][0], out["frames"][0]
    preview = out["preview"][0]
    count = TWO_SUBJECTS["frames"]
    assert tuple(preview.shape) == (2 * count, PREVIEW_SIZE, PREVIEW_SIZE, 3)
    for index, seg in enumerate(segs[1]):
        block = preview[index * count : (index + 1) * count]
        x1, y1, x2, y2 = (int(v) for v in seg.crop_region)
        scale = PREVIEW_SIZE / max(x2 - x1, y2 - y1)
        height, width = round((y2 - y1) * scale), round((x2 - x1) * scale)
        top, left = (PREVIEW_SIZE - height) // 2, (PREVIEW_SIZE - width) // 2
        inside = block[:, top : top + height, left : left + width]
        assert float(block.sum()) == pytest.approx(float(inside.sum())), "the letterbox padding must be black"
        crop = frames[:, y1:y2, x1:x2]
        assert float(inside.mean()) == pytest.approx(float(crop.mean()), abs=0.02)
    refined_preview = out["preview_refined"][0]
    assert tuple(refined_preview.shape) == tuple(preview.shape)
    assert float((refined_preview - preview).abs().max()) > 0.01, "the refined SEGS' preview shows the input crops"


def test_from_basic_pipe_hands_back_the_pipes_parts(utilities_run):
    identity = utilities_run["identity"]
    assert identity["split_is_pipe"], "FromBasicPipe must return the pipe's own objects"
    assert identity["model_is_recording_model"] and identity["positive_is_encoded"]
    assert identity["passthrough_is_pipe2"], "the detail-and-paste node passes its basic_pipe through"


def test_detail_and_paste_details_both_subjects_like_detailer_then_paste(utilities_run):
    out = utilities_run["outputs"]
    frames, segs = out["frames"][0], out["segs"][0]
    one_node, refined = out["detail_and_paste"]
    two_nodes = out["paste"][0]
    calls = [c for c in utilities_run["sample_calls"] if c["tag"] == "base"]
    assert len(calls) == 4 and {c["latent_shape"][0] for c in calls} == {TWO_SUBJECTS["frames"]}, (
        "one sampling call per SEG and node")
    assert torch.equal(one_node, two_nodes), f"max difference {float((one_node - two_nodes).abs().max())}"
    assert rects(refined) == rects(segs)
    count, height, width = TWO_SUBJECTS["frames"], TWO_SUBJECTS["height"], TWO_SUBJECTS["width"]
    outside = seg_union_masks(segs, count, height, width) == 0
    assert torch.equal(one_node[outside], frames[outside])
    for seg in segs[1]:
        alone = seg_union_masks((segs[0], [seg]), count, height, width) >= 0.999
        change = (one_node - frames).abs().amax(dim=-1)[alone]
        assert float(change.mean()) > 0.01, f"SEG at {list(seg.crop_region)} was not detailed"


def test_filter_by_label_splits_concatenated_segs(comfy, impact):
    """Two MaskToSEGS with their own labels, concatenated by Impact's SEGS Concat: the filter splits them."""
    require(comfy, IMPACT_SEGS_CONCAT, "SEGS from two MaskToSEGS are concatenated with it")
    require(comfy, OUR_FILTER_BY_LABEL, "it is tested")
    g = Graph()
    ids = two_subject_sources(g)
    big = g.add(OUR_MASK_TO_SEGS, mask=OUT(ids["big"], 1), label="big", **mask_to_segs_inputs(1.5))
    small = g.add(OUR_MASK_TO_SEGS, mask=OUT(ids["small"], 1), label="small", **mask_to_segs_inputs(1.5))
    concat = g.add(IMPACT_SEGS_CONCAT, segs1=OUT(big), segs2=OUT(small))
    split = g.add(OUR_FILTER_BY_LABEL, segs=OUT(concat), labels=" small ,")
    g.add("TestSink", segs=OUT(split, 0))
    g.add("TestSink", segs=OUT(split, 1))
    result = comfy.run(g, label="two labelled MaskToSEGS -> Impact SEGS Concat -> filter by label")
    assert [seg.label for seg in result.output(concat)[1]] == ["big", "small"]
    filtered, remained = result.outputs[split]
    assert [seg.label for seg in filtered[1]] == ["small"] and [seg.label for seg in remained[1]] == ["big"]
    assert rects(filtered) == rects(result.output(small)) and rects(remained) == rects(result.output(big))


def test_segs_preview_plays_its_frames_in_the_node(comfy):
    """SEGS Preview is an output node: run alone (nothing downstream), it writes every SEG's crops to ComfyUI's
    temp folder as one animated WebP and tells the frontend so (``animated``), as ComfyUI's own animated nodes do."""
    from PIL import Image

    require(comfy, OUR_PREVIEW, "the preview test uses it")
    g = Graph()
    ids = two_subject_sources(g)
    segs = g.add(OUR_MASK_TO_SEGS, mask=OUT(ids["mask"]), label="subject", **mask_to_segs_inputs(1.5))
    preview = g.add(OUR_PREVIEW, segs=OUT(segs), size=PREVIEW_SIZE, image_frames=OUT(ids["frames"]))
    result = comfy.run(g, label="SEGS Preview alone, two subjects (4 frames)")
    assert result.success, result.describe_failure()
    ui = result.ui[preview]
    assert list(ui["animated"]) == [True]
    (image,) = ui["images"]
    assert image["type"] == "temp" and image["filename"].endswith(".webp")
    import folder_paths

    path = Path(folder_paths.get_temp_directory()) / image["subfolder"] / image["filename"]
    with Image.open(path) as webp:
        assert webp.is_animated and webp.n_frames == 2 * TWO_SUBJECTS["frames"]
        assert webp.size == (PREVIEW_SIZE, PREVIEW_SIZE)
    assert tuple(result.output(preview).shape) == (2 * TWO_SUBJECTS["frames"], PREVIEW_SIZE, PREVIEW_SIZE, 3)
