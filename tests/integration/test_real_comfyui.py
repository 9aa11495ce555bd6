"""The detailer inside a real ComfyUI 0.29: graphs validated and executed by ComfyUI's own engine.

Graphs: CheckpointLoaderSimple (a tiny random-weight SD1.5 checkpoint) -> CLIPTextEncode
(positive, negative) -> BASIC_PIPE -> a synthetic clip's masks -> SEGS -> our detailer ->
paste -> output. Observation points are fixture-pack nodes: ``TestClipSource`` feeds the clip,
``TestRecordingModel`` wraps a MODEL clone and records what ComfyUI's sampler hands the model
(sampling calls, UNet calls with their sigma and batch, the conditioning batches with their
resolved masks), ``TestSink`` is the output node. Node outputs are read from the executor's cache.

Our companion nodes (MaskToSEGS, SEGSPaste, ToBasicPipe) are used when registered; otherwise
Impact Pack's are used where that still tests our detailer, and tests that need ours
specifically skip with the reason. Inputs the detailer does not have (crop_mode,
context_length) skip the tests that need them.

Sizes are tiny (2 to 10 frames, 64 to 160 px, 2 to 8 steps) so the tier takes a few minutes
on two CPU cores.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from comfy_harness import (
    CHECKPOINT_NAME,
    FIXTURE_LINK_NAME,
    FIXTURE_PACK_DIR,
    IMPACT_DETAILER,
    IMPACT_LINK_NAME,
    IMPACT_MASK_TO_SEGS,
    IMPACT_PASTE,
    IMPACT_TO_BASIC_PIPE,
    OUR_DETAILER,
    OUR_MASK_TO_SEGS,
    OUR_PASTE,
    OUR_TO_BASIC_PIPE,
    PACK_LINK_NAME,
    REPO_ROOT,
    ClipSettings,
    DetailSettings,
    Graph,
    load_synthetic,
    mask_to_segs_inputs,
    seg_union_masks,
)
from pipelines import (
    Recorded,
    build_pipeline,
    changed_windows,
    expected_context_windows,
    pick,
    refined_crops,
    require,
    run_in_subprocess,
    run_recorded,
)

HERE = Path(__file__).resolve().parent

# Impact's SEGSDetailerForAnimateDiff inputs, in its order (Impact Pack 7.10.6).
IMPACT_REQUIRED = ["image_frames", "segs", "guide_size", "guide_size_for", "max_size", "seed", "steps", "cfg",
                   "sampler_name", "scheduler", "denoise", "basic_pipe", "refiner_ratio"]
IMPACT_OPTIONAL = ["refiner_basic_pipe_opt", "noise_mask_feather", "scheduler_func_opt"]

# widgets_values of Impact's SEGSDetailerForAnimateDiff in a saved (UI-format) workflow; "fixed" is the
# frontend-only control_after_generate of the seed. No noise_mask_feather: the workflow predates it.
IMPACT_SAVED_WIDGETS = [512, True, 768, 565511830783268, "fixed", 6, 2, "lcm", "normal", 0.5, 0.2]
IMPACT_WIDGET_NAMES = ["guide_size", "guide_size_for", "max_size", "seed", None, "steps", "cfg", "sampler_name",
                       "scheduler", "denoise", "refiner_ratio"]


def impact_widgets_to_api(widgets: list) -> dict:
    """Map a saved workflow's widget list to API inputs, as the frontend does (dropping control_after_generate)."""
    assert len(widgets) == len(IMPACT_WIDGET_NAMES)
    return {name: value for name, value in zip(IMPACT_WIDGET_NAMES, widgets) if name is not None}


# --- graph helpers (graph builders and run helpers live in pipelines.py) -----------------------


def frames_per_sigma(calls: list[dict], cond_index: int = 0) -> dict[float, int]:
    """Latent frames the model saw per sampling step for one cond (calls may split cond/uncond or batches)."""
    seen: dict[float, int] = {}
    for call in calls:
        chunks = call["cond_or_uncond"] or [0]
        per_chunk = call["batch"] // len(chunks)
        seen[call["sigma"]] = seen.get(call["sigma"], 0) + per_chunk * chunks.count(cond_index)
    return seen


# --- session-wide runs -------------------------------------------------------------------------


CROP_MODES = ("default", "union", "tracked")


@pytest.fixture(scope="module")
def base_runs(comfy):
    """The standard graph per crop mode, recorded, run once on first use: our detailer, pasted by
    our paste (else Impact's) with feather 0. "default" leaves crop_mode out."""
    runs: dict[str, Recorded] = {}

    def get(mode: str = "default") -> Recorded:
        if mode not in runs:
            paste = pick(comfy, [OUR_PASTE, IMPACT_PASTE], "SEGS paste")
            pipeline = build_pipeline(comfy, record_tag="base", pastes={"paste": paste},
                                      crop_mode=None if mode == "default" else mode)
            runs[mode] = run_recorded(comfy, pipeline, f"standard graph, crop_mode {mode} (8 frames 128x128, 3 steps)")
        return runs[mode]

    return get


@pytest.fixture
def base_run(base_runs, request) -> Recorded:
    return base_runs(getattr(request, "param", "default"))


# --- registration ------------------------------------------------------------------------------


def test_packs_load_and_our_detailer_is_registered(comfy):
    loaded = comfy.loaded_pack_dirs()
    assert PACK_LINK_NAME in loaded and FIXTURE_LINK_NAME in loaded
    failures = [m for m in comfy.import_failures() if PACK_LINK_NAME in m or FIXTURE_LINK_NAME in m]
    assert not failures, failures
    ours = comfy.node_class(OUR_DETAILER)
    assert ours.RELATIVE_PYTHON_MODULE == f"custom_nodes.{PACK_LINK_NAME}"
    types = ours.INPUT_TYPES()
    assert list(types["required"]) == IMPACT_REQUIRED
    assert list(types["optional"])[: len(IMPACT_OPTIONAL)] == IMPACT_OPTIONAL
    assert types["optional"]["noise_mask_feather"][1]["default"] == 20
    assert ours.RETURN_TYPES == ("SEGS", "IMAGE") and ours.OUTPUT_IS_LIST == (False, True)
    # The combo lists are ComfyUI's live ones (not the pack's fallback copies).
    import comfy.samplers as comfy_samplers

    assert list(types["required"]["sampler_name"][0]) == list(comfy_samplers.KSampler.SAMPLERS)
    assert set(comfy_samplers.KSampler.SCHEDULERS) <= set(types["required"]["scheduler"][0])


def test_with_impact_both_detailers_are_registered_and_impact_keeps_its_id(comfy, impact):
    impact_cls, ours = comfy.node_class(IMPACT_DETAILER), comfy.node_class(OUR_DETAILER)
    assert impact_cls is not ours and not issubclass(impact_cls, ours)
    assert impact_cls.RELATIVE_PYTHON_MODULE == f"custom_nodes.{IMPACT_LINK_NAME}"
    assert impact_cls.__module__.endswith("impact.animatediff_nodes"), impact_cls.__module__
    assert ours.RELATIVE_PYTHON_MODULE == f"custom_nodes.{PACK_LINK_NAME}"
    # Impact's other ids stay Impact's too, whatever nodes of ours exist.
    for node_id in (IMPACT_MASK_TO_SEGS, IMPACT_PASTE, IMPACT_TO_BASIC_PIPE):
        assert comfy.node_class(node_id).RELATIVE_PYTHON_MODULE == f"custom_nodes.{IMPACT_LINK_NAME}", node_id
    # A saved Impact workflow must validate against our node too: same inputs, in the same order,
    # and every sampler / scheduler name Impact offers is accepted by ours.
    impact_types, our_types = impact_cls.INPUT_TYPES(), ours.INPUT_TYPES()
    assert list(impact_types["required"]) == list(our_types["required"])
    assert list(impact_types["optional"]) == list(our_types["optional"])[: len(impact_types["optional"])]
    for name in ("sampler_name", "scheduler"):
        missing = set(impact_types["required"][name][0]) - set(our_types["required"][name][0])
        assert not missing, f"{name}: Impact offers {sorted(missing)} which our node rejects"


# --- the standard graph ------------------------------------------------------------------------


@pytest.mark.parametrize("base_run", CROP_MODES, indirect=True)
def test_graph_validates_runs_and_keeps_the_frame_shape(comfy, base_run):
    frames = base_run.frames()
    clip = base_run.pipeline.clip
    assert tuple(frames.shape) == (clip.frames, clip.height, clip.width, 3)
    pasted = base_run.output("paste")
    assert tuple(pasted.shape) == tuple(frames.shape) and pasted.dtype == torch.float32
    assert bool(torch.isfinite(pasted).all()) and float(pasted.min()) >= 0.0 and float(pasted.max()) <= 1.0

    header, segs = base_run.segs()
    assert tuple(header) == (clip.height, clip.width)
    assert len(segs) == 1, "one moving disc must give one SEG over the whole clip"
    for seg in segs:
        x1, y1, x2, y2 = (int(v) for v in seg.crop_region)
        assert tuple(torch.as_tensor(seg.cropped_image).shape) == (clip.frames, y2 - y1, x2 - x1, 3)
    cnet_images = base_run.result.output_lists[base_run.pipeline.ids["detailer"]][1]
    assert isinstance(cnet_images, list) and len(cnet_images) == 1 and tuple(cnet_images[0].shape) == (1, 64, 64, 3)


@pytest.mark.parametrize("base_run", CROP_MODES, indirect=True)
def test_pixels_outside_every_mask_are_unchanged_bit_for_bit_and_inside_changed(comfy, base_run):
    if base_run.pipeline.nodes_used["paste"] != OUR_PASTE:
        require(comfy, OUR_PASTE, "this check uses our paste with feather 0")
    frames, pasted = base_run.frames(), base_run.output("paste")
    clip = base_run.pipeline.clip
    union = seg_union_masks(base_run.segs(), clip.frames, clip.height, clip.width)
    clip_masks = base_run.clip_masks()
    assert bool((union[clip_masks > 0] > 0).all()), "the SEGS masks must cover the subject's mask"

    outside = union == 0
    assert int(outside.sum()) > 0
    assert torch.equal(pasted[outside], frames[outside]), (
        f"{int((pasted[outside] != frames[outside]).sum())} values outside every SEG mask changed")
    inside = union >= 0.999
    changed = (pasted - frames).abs().amax(dim=-1)[inside]
    assert float(changed.mean()) > 0.01 and float((changed > 1e-4).float().mean()) > 0.5, (
        f"inside the masks: mean change {float(changed.mean()):.4f}")


def test_same_seed_gives_identical_output_another_seed_a_different_one(comfy, base_run, report):
    first = refined_crops(base_run.segs())
    again = run_recorded(comfy, base_run.pipeline, "standard graph again, same seed")
    pipeline = build_pipeline(comfy, record_tag="base", detail=replace(base_run.pipeline.detail, seed=4321))
    other = run_recorded(comfy, pipeline, "standard graph, other seed")
    for a, b in zip(first, refined_crops(again.segs())):
        assert torch.equal(a, b), f"same seed, max difference {float((a - b).abs().max())}"
    differences = [float((a - b).abs().max()) for a, b in zip(first, refined_crops(other.segs()))]
    assert max(differences) > 1e-3, f"another seed gave the same crops (max difference {max(differences)})"
    assert again.sample_calls[0]["seed"] == base_run.pipeline.detail.seed and other.sample_calls[0]["seed"] == 4321
    report["measurements"].append(f"other seed changes refined crops by up to {max(differences):.3f}")


OUR_DETAIL_AND_PASTE = "AnimateDiffDetailer_DetailerForEachPipeForAnimateDiff"


def test_detail_and_paste_node_equals_detailer_then_paste(comfy):
    """Our one-node detail-and-paste gives, for one SEG, exactly the detailer's SEGS pasted by our SEGSPaste."""
    require(comfy, OUR_DETAIL_AND_PASTE, "the one-node detailer is compared with detailer + paste")
    require(comfy, OUR_PASTE, "the one-node detailer is compared with detailer + our paste")
    pipeline = build_pipeline(comfy, pastes={"paste": OUR_PASTE}, clip=ClipSettings(frames=4), record_tag="base")
    g, out, ids = pipeline.graph, Graph.out, pipeline.ids
    detailer_inputs = dict(g.nodes[ids["detailer"]]["inputs"])
    # the pipeline's paste runs with colour match off (see build_pipeline), so this one does too
    ids["detail_and_paste"] = g.add(OUR_DETAIL_AND_PASTE, feather=0, color_match=False, **detailer_inputs)
    g.set(ids["sink"], images_b=out(ids["detail_and_paste"], 0))
    recorded = run_recorded(comfy, pipeline, "detail-and-paste node beside detailer + paste (4 frames)")
    one_node = recorded.output("detail_and_paste", 0)
    two_nodes = recorded.output("paste", 0)
    assert tuple(one_node.shape) == tuple(recorded.frames().shape)
    assert torch.equal(one_node, two_nodes), f"max difference {float((one_node - two_nodes).abs().max())}"
    assert len(recorded.sample_calls) == 2 and {c["latent_shape"][0] for c in recorded.sample_calls} == {4}
    refined = recorded.output("detail_and_paste", 1)
    refined_crop = torch.as_tensor(refined[1][0].cropped_image)
    assert torch.equal(refined_crop, torch.as_tensor(recorded.segs()[1][0].cropped_image))


@pytest.mark.parametrize("base_run", CROP_MODES, indirect=True)
def test_sampler_gets_all_frames_of_a_seg_in_one_call(comfy, base_run):
    clip = base_run.pipeline.clip
    segs = base_run.segs()[1]
    calls = [c for c in base_run.sample_calls if c["tag"] == "base"]
    assert len(calls) == len(segs) == 1, "one sampling call per SEG"
    latent = calls[0]["latent_shape"]
    assert latent[0] == clip.frames, f"the sampler got {latent[0]} latent frames, the clip has {clip.frames}"
    assert calls[0]["denoise_mask_shape"] is not None and calls[0]["denoise_mask_shape"][0] == clip.frames
    assert calls[0]["seed"] == base_run.pipeline.detail.seed
    assert calls[0]["denoise_mask_function"] is None, "noise_mask_feather 0 must not add differential diffusion"
    per_step = frames_per_sigma(base_run.unet_calls)
    assert len(per_step) == base_run.pipeline.detail.steps
    assert set(per_step.values()) == {clip.frames}, per_step
    # Memory permitting (it does here), ComfyUI batches the whole clip into every UNet call.
    assert all(c["batch"] == clip.frames * len(c["cond_or_uncond"]) for c in base_run.unet_calls)


# --- conditioning masks ------------------------------------------------------------------------


def centroid(m: torch.Tensor) -> tuple[float, float]:
    ys, xs = torch.meshgrid(torch.arange(m.shape[0], dtype=torch.float32),
                            torch.arange(m.shape[1], dtype=torch.float32), indexing="ij")
    return float((m * ys).sum() / m.sum()), float((m * xs).sum() / m.sum())


@pytest.mark.parametrize("crop_mode", ["union", "tracked"])
def test_conditioning_set_mask_is_cut_where_the_pixels_are_cut(comfy, crop_mode, report):
    """A ConditioningSetMask mask drawn over the whole frame reaches the sampler cut to the SEG's crop.

    Observable: ComfyUI resolves each cond's mask to the latent's size before the model runs;
    the recording model's calc_cond_batch wrapper sees those masks. Where the crop is comes
    from the output (the pixels the detailer resampled, per frame), so the check is that the
    conditioning mask was cut exactly where the pixels were. The frame is not square and the
    mask has another resolution and aspect, so a crop measured on the wrong axis or on the
    mask's own pixel grid lands elsewhere.
    """
    clip = ClipSettings(frames=4, width=160, height=128, x_start=0.3, x_end=0.65)
    box = {"width": 96, "height": 48, "x1": 0.35, "y1": 0.35, "x2": 0.7, "y2": 0.6}
    pipeline = build_pipeline(comfy, clip=clip, record_tag="base", cond_mask=box, crop_factor=1.6,
                              detail=DetailSettings(guide_size=64, max_size=128, steps=2), crop_mode=crop_mode)
    recorded = run_recorded(comfy, pipeline, f"ConditioningSetMask graph, crop_mode {crop_mode} (4 frames 160x128)")
    frames = recorded.frames()
    (seg,) = recorded.segs()[1]
    rect = tuple(int(v) for v in seg.crop_region)
    assert (rect[2] - rect[0], rect[3] - rect[1]) != (clip.width, clip.height), "the crop must be a part of the frame"
    windows = changed_windows(frames, seg)
    if crop_mode == "union":
        assert all(window == rect for window in windows), (windows, rect)
    else:
        assert len(set(windows)) > 1, "the tracked window did not move with the subject"
        for (wx1, wy1, wx2, wy2), (cx, cy, _) in zip(windows, load_synthetic().clip_geometry(
                clip.frames, clip.width, clip.height, clip.radius, clip.x_start, clip.x_end)):
            assert wx1 <= cx <= wx2 and wy1 <= cy <= wy2, "the window lost the subject"

    batches = [b for b in recorded.cond_batches if b["tag"] == "base"]
    assert batches, "the sampler never evaluated the conditioning"
    positive = [item["mask"] for b in batches for item in b["conds"][0]]
    negative = [item["mask"] for b in batches for item in b["conds"][1]]
    assert all(m is None for m in negative), "the unmasked negative must stay unmasked"
    assert positive and all(m is not None for m in positive)
    latent_h, latent_w = batches[0]["x_shape"][-2:]
    observed = positive[0].reshape(-1, latent_h, latent_w)
    assert observed.shape[0] in (1, clip.frames)
    if crop_mode == "union":
        assert observed.shape[0] == 1, "a fixed crop keeps the mask's own frame count"

    mask = load_synthetic().box_mask(box["width"], box["height"], box["x1"], box["y1"], box["x2"], box["y2"])
    at_frame = F.interpolate(mask.unsqueeze(1), size=(clip.height, clip.width), mode="bilinear", align_corners=False)

    def to_latent(m: torch.Tensor) -> torch.Tensor:
        return F.interpolate(m, size=(latent_h, latent_w), mode="bilinear", align_corners=False)[0, 0]

    x1, y1, x2, y2 = rect
    uncropped, union_crop = to_latent(at_frame), to_latent(at_frame[:, :, y1:y2, x1:x2])
    errors, moved_from_union = [], []
    for f, (wx1, wy1, wx2, wy2) in enumerate(windows):
        seen = observed[f if observed.shape[0] > 1 else 0]
        expected = to_latent(at_frame[:, :, wy1:wy2, wx1:wx2])
        errors.append(float((seen - expected).abs().max()))
        assert float((seen - uncropped).abs().max()) > 0.5, "the mask reached the sampler uncropped"
        moved_from_union.append(float((seen - union_crop).abs().max()))
        if float(expected.sum()) > 2.0:
            (sy, sx), (ey, ex) = centroid(seen), centroid(expected)
            assert abs(sy - ey) < 0.35 and abs(sx - ex) < 0.35, (f, (sy, sx), (ey, ex))
    assert max(errors) < 0.2, f"cropped masks differ from the expected ones by up to {max(errors):.3f}"
    if crop_mode == "tracked":
        assert max(moved_from_union) > 0.5, "the mask was cut to the union crop, not to the moving window"
    report["measurements"].append(f"ConditioningSetMask crop ({crop_mode}): max |observed - expected| "
                                  f"{max(errors):.3f} at latent {latent_w}x{latent_h}")


# --- progress and previews ----------------------------------------------------------------------


def test_progress_completes_and_latent_previews_reach_the_server(comfy):
    """With previews on (as the frontend asks with extra_data), every sampling step sends a preview the
    server can encode, and the detailer's progress bar ends full."""
    clip, detail = ClipSettings(frames=4), DetailSettings(steps=2)
    pipeline = build_pipeline(comfy, clip=clip, detail=detail)
    comfy.server.events.clear()
    comfy.server.binary_events.clear()
    result = comfy.run(pipeline.graph, label="previews on (latent2rgb), 4 frames 2 steps",
                       extra_data={"preview_method": "latent2rgb"})
    detailer = pipeline.ids["detailer"]
    progress = [data for event, data in comfy.server.events if event == "progress" and data["node"] == detailer]
    assert progress, "the detailer reported no progress"
    values = [p["value"] for p in progress]
    assert values == sorted(values) and values[-1] == progress[-1]["max"], progress
    previews = [data for _event, data in comfy.server.binary_events]
    assert len(previews) >= detail.steps
    image_type, image, max_size = previews[0]
    assert image_type == "JPEG" and hasattr(image, "size") and image.size[0] > 0
    assert result.success

    comfy.server.binary_events.clear()
    comfy.run(pipeline.graph, label="previews off (default)")
    assert not comfy.server.binary_events, "no previews unless asked for"


# --- node replacements -------------------------------------------------------------------------


def test_a_missing_impact_node_runs_on_ours_with_every_input_kept(comfy, monkeypatch):
    """Impact installed but its SEGSPaste missing (as when Impact fails to load): the prompt runs on ours."""
    import nodes as comfy_nodes

    paste = require(comfy, OUR_PASTE, "the fallback target")
    replacement = comfy.server.node_replace_manager.get_replacement(IMPACT_PASTE)
    assert replacement and replacement[0].new_node_id == paste, "the Node Replacement API knows the fallback"
    assert {m["new_id"] for m in replacement[0].input_mapping if "old_id" in m} == {"image", "segs", "feather", "alpha"}
    assert [m for m in replacement[0].input_mapping if "set_value" in m] == [{"new_id": "color_match", "set_value": False}], (
        "our paste replaces Impact's as our Impact alias does: without colour match")
    monkeypatch.delitem(comfy_nodes.NODE_CLASS_MAPPINGS, IMPACT_PASTE, raising=False)
    g, out = Graph(), Graph.out
    source = g.add("TestClipSource", frames=2, width=64, height=64, seed=1)
    segs = g.add(pick(comfy, [OUR_MASK_TO_SEGS, IMPACT_MASK_TO_SEGS], "MASK -> SEGS"), mask=out(source, 1),
                 **mask_to_segs_inputs())
    pasted = g.add(IMPACT_PASTE, image=out(source, 0), segs=out(segs), feather=0, alpha=255,
                   ref_image_opt=out(source, 0))
    g.add("TestSink", images=out(pasted))
    result = comfy.run(g, label="graph with a missing Impact node id")
    assert torch.equal(result.output(pasted), result.output(source, 0))


def test_replacements_served_to_the_frontend_follow_impacts_own_declarations(comfy):
    """With Impact Pack loaded, each registration's old_widget_ids is the saved widget order of Impact's real
    node (its control value after the seed), and its mapping moves every input Impact's node declares."""
    saved_widget_ids = comfy.pack_module("nodes.registry").saved_widget_ids
    served = comfy.server.node_replace_manager.as_dict()
    checked = []
    for old_id, (registration, *_) in served.items():
        impact = comfy.nodes.NODE_CLASS_MAPPINGS.get(old_id)
        if impact is None or "impact" not in impact.__module__.lower():
            continue
        declared = impact.INPUT_TYPES()
        names = [*declared.get("required", {}), *declared.get("optional", {})]
        assert registration["old_widget_ids"] == saved_widget_ids(declared, names), old_id
        moved = {m["old_id"] for m in registration["input_mapping"] if "old_id" in m}
        assert set(names) | set(registration["old_widget_ids"]) == moved, old_id
        assert [m["old_idx"] for m in registration["output_mapping"]] == list(range(len(impact.RETURN_TYPES))), old_id
        checked.append(old_id)
    if not checked:
        pytest.skip("Impact Pack is not loaded: no registration to compare with its nodes")
    assert IMPACT_DETAILER in checked


def test_the_server_applies_a_replacement_to_a_prompt_without_optional_inputs(comfy, monkeypatch):
    """ComfyUI's server applies the registration to a queued prompt whose node is missing: an API prompt
    never holds the seed's control value and leaves unconnected optional sockets out, and the request must
    not fail on them (the frontend's full mapping is served, the server's names only required inputs)."""
    import nodes as comfy_nodes

    if not comfy.server.node_replace_manager.has_replacement(IMPACT_DETAILER):
        pytest.skip("no replacement registered: Impact Pack is not installed, its ids are ours")
    monkeypatch.delitem(comfy_nodes.NODE_CLASS_MAPPINGS, IMPACT_DETAILER, raising=False)
    widgets = impact_widgets_to_api(IMPACT_SAVED_WIDGETS)
    prompt = {"1": {"class_type": IMPACT_DETAILER, "_meta": {"title": "detailer"},
                    "inputs": {"image_frames": ["9", 0], "segs": ["8", 0], "basic_pipe": ["7", 0], **widgets}},
              "2": {"class_type": "PreviewImage", "_meta": {}, "inputs": {"images": ["1", 1]}}}
    comfy.server.node_replace_manager.apply_replacements(prompt)
    node = prompt["1"]
    assert node["class_type"] == OUR_DETAILER
    assert {name: node["inputs"][name] for name in widgets} == widgets, "every value of the prompt is kept"
    assert node["inputs"]["crop_mode"] == "union" and node["inputs"]["context_length"] == 0, "Impact's behaviour"
    assert prompt["2"]["inputs"]["images"] == ["1", 1]


# --- refiner -----------------------------------------------------------------------------------


def test_refiner_pipe_runs_the_last_steps(comfy):
    import comfy.samplers as comfy_samplers

    detail = DetailSettings(steps=4, refiner_ratio=0.5, denoise=0.6, noise_mask_feather=20)
    clip = ClipSettings(frames=4)
    pipeline = build_pipeline(comfy, clip=clip, detail=detail, record_tag="base", refiner=True)
    recorded = run_recorded(comfy, pipeline, "refiner graph (4 frames, 4 steps, ratio 0.5)", keep_models=True)

    model = recorded.result.output(pipeline.ids["ckpt"], 0)
    ksampler = comfy_samplers.KSampler(model, steps=detail.steps, device="cpu", sampler=detail.sampler_name,
                                       scheduler=detail.scheduler, denoise=detail.denoise)
    sigmas = [float(s) for s in ksampler.sigmas]
    switch = int(detail.steps * (1 - detail.refiner_ratio))

    base_samples = [c for c in recorded.sample_calls if c["tag"] == "base"]
    refiner_samples = [c for c in recorded.sample_calls if c["tag"] == "refiner"]
    assert len(base_samples) == 1 and len(refiner_samples) == 1
    assert base_samples[0]["sigmas"] == pytest.approx(sigmas[: switch + 1], rel=1e-5)
    assert refiner_samples[0]["sigmas"] == pytest.approx(sigmas[switch:], rel=1e-5)
    assert refiner_samples[0]["noise_is_zero"], "the refiner continues the base latent without new noise"
    # noise_mask_feather > 0: both models sample with a soft-mask (differential diffusion) denoise function.
    assert base_samples[0]["denoise_mask_function"] is not None
    assert refiner_samples[0]["denoise_mask_function"] is not None
    assert base_samples[0]["time"] < refiner_samples[0]["time"]
    assert refiner_samples[0]["latent_shape"][0] == clip.frames

    base_sigmas = sorted({c["sigma"] for c in recorded.unet_calls if c["tag"] == "base"}, reverse=True)
    refiner_sigmas = sorted({c["sigma"] for c in recorded.unet_calls if c["tag"] == "refiner"}, reverse=True)
    assert base_sigmas == pytest.approx(sigmas[:switch], rel=1e-5)
    assert refiner_sigmas == pytest.approx(sigmas[switch:-1], rel=1e-5)
    last_base = max(i for i, c in enumerate(recorded.unet_calls) if c["tag"] == "base")
    first_refiner = min(i for i, c in enumerate(recorded.unet_calls) if c["tag"] == "refiner")
    assert last_base < first_refiner


# --- schedules ------------------------------------------------------------------------------------


def impact_style_sigmas(comfy, model, sampler_name: str, scheduler: str, steps: int) -> torch.Tensor:
    """The full schedule for ``steps`` as Impact Pack's calculate_sigmas computes it: ComfyUI's AYS /
    GITS scheduler nodes for Impact's extra names, then the discard-penultimate rule for dpm_2 / uni_pc."""
    import comfy.samplers as comfy_samplers

    discard = sampler_name in ("dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2")
    n = steps + 1 if discard else steps
    mappings = comfy.nodes.NODE_CLASS_MAPPINGS
    if scheduler.startswith("AYS"):
        sigmas = mappings["AlignYourStepsScheduler"].execute(scheduler[4:], n, 1.0).args[0]
    elif scheduler.startswith("GITS[coeff="):
        sigmas = mappings["GITSScheduler"].execute(float(scheduler[11:-1]), n, 1.0).args[0]
    else:
        sigmas = comfy_samplers.calculate_sigmas(model.get_model_object("model_sampling"), scheduler, n)
    return torch.cat([sigmas[:-2], sigmas[-1:]]) if discard else sigmas


@pytest.mark.parametrize("sampler_name,scheduler", [("euler", "AYS SD1"), ("euler", "GITS[coeff=1.2]"),
                                                    ("dpm_2", "karras"), ("uni_pc", "AYS SD1")])
def test_the_sampler_gets_impacts_schedule(comfy, sampler_name, scheduler):
    """Impact's extra scheduler names and ComfyUI's discard-penultimate rule give the sigmas Impact
    (and ComfyUI's AYS / GITS nodes) would give: steps/denoise as Impact reads them."""
    detail = DetailSettings(steps=3, denoise=0.6, sampler_name=sampler_name, scheduler=scheduler)
    pipeline = build_pipeline(comfy, clip=ClipSettings(frames=4), detail=detail, record_tag="base")
    recorded = run_recorded(comfy, pipeline, f"schedule {sampler_name} / {scheduler} (4 frames, 3 steps)",
                            keep_models=True)
    model = recorded.result.output(pipeline.ids["ckpt"], 0)
    total = int(detail.steps / detail.denoise)
    expected = impact_style_sigmas(comfy, model, sampler_name, scheduler, total)[-(detail.steps + 1):]
    impact_sampling = sys.modules.get("impact.impact_sampling")
    if impact_sampling is not None and not scheduler.startswith("GITS"):  # Impact's GITS call fails on 0.29
        impacts = impact_sampling.calculate_sigmas(model, sampler_name, scheduler, total)[-(detail.steps + 1):]
        assert torch.allclose(impacts.float(), expected.float()), (impacts, expected)
    assert recorded.sample_calls
    for call in recorded.sample_calls:
        assert call["sigmas"] == pytest.approx([float(v) for v in expected], rel=1e-5, abs=1e-7)


# --- cancel ------------------------------------------------------------------------------------


def test_cancel_stops_the_node_promptly_and_the_next_run_works(comfy, report):
    import comfy.model_management as model_management

    detail = DetailSettings(steps=8)
    pipeline = build_pipeline(comfy, detail=detail, record_tag="base", interrupt_after_calls=2)
    recorded = run_recorded(comfy, pipeline, "cancel requested at the 2nd UNet call of 8 steps", check=False)
    result = recorded.result
    assert recorded.interrupt_requested_at is not None, "the cancel was never requested"
    assert result.interrupted and not result.success, result.describe_failure()
    interrupted = [data for event, data in result.status_messages if event == "execution_interrupted"]
    assert interrupted and interrupted[0]["node_type"] == OUR_DETAILER
    assert recorded.pipeline.ids["detailer"] not in result.outputs

    steps_seen = sorted({c["sigma"] for c in recorded.unet_calls}, reverse=True)
    after = [c for c in recorded.unet_calls if c["after_interrupt"]]
    calls_per_step = max(sum(1 for c in recorded.unet_calls if c["sigma"] == s) for s in steps_seen)
    assert len(after) <= calls_per_step, f"{len(after)} UNet calls ran after the cancel request"
    assert len(steps_seen) < detail.steps, "sampling ran to the end despite the cancel"
    latency = result.finished_at - recorded.interrupt_requested_at
    assert latency < 5.0, f"the node took {latency:.2f}s to stop after the cancel request"
    report["measurements"].append(f"cancel: node stopped {latency * 1000:.0f} ms after the request, "
                                  f"{len(after)} UNet call(s) after it, {len(steps_seen)} of {detail.steps} steps run")
    assert not model_management.processing_interrupted()

    follow_up = build_pipeline(comfy, detail=replace(detail, steps=2), record_tag="base")
    again = run_recorded(comfy, follow_up, "run after a cancel")
    assert again.result.success
    assert len({c["sigma"] for c in again.unet_calls}) == 2
    assert tuple(again.segs()[1][0].cropped_image.shape)[0] == follow_up.clip.frames


def test_cancel_during_vae_encoding_stops_before_sampling(comfy):
    """A Cancel while the crops are being encoded (a long step on the CPU) stops the node at the next
    VAE batch: the remaining frames are not encoded and the sampler never starts."""
    clip = ClipSettings(frames=8)
    pipeline = build_pipeline(comfy, clip=clip, record_tag="base", vae_interrupt_on_encode=1)
    recorded = run_recorded(comfy, pipeline, "cancel requested during the first VAE encode", check=False)
    result = recorded.result
    assert result.interrupted and not result.success, result.describe_failure()
    interrupted = [data for event, data in result.status_messages if event == "execution_interrupted"]
    assert interrupted and interrupted[0]["node_type"] == OUR_DETAILER
    encodes = [c for c in recorded.vae_calls if c["op"] == "encode"]
    assert len(encodes) == 1 and encodes[0]["shape"][0] < clip.frames, (
        f"encode calls {[c['shape'] for c in encodes]}: the clip should be encoded in batches and stop after one")
    assert not recorded.sample_calls and not recorded.unet_calls


# --- long clips and context windows ------------------------------------------------------------


def test_long_clip_is_sampled_in_overlapping_windows_with_the_whole_clips_noise(comfy):
    """Beyond context_length frames the pack samples overlapping windows; each window's noise is the
    whole clip's noise (ComfyUI's prepare_noise for the full latent and seed) sliced, so a frame's
    noise does not depend on the window it falls in."""
    import comfy.sample as comfy_sample

    clip, detail = ClipSettings(frames=10), DetailSettings(steps=2)
    pipeline = build_pipeline(comfy, clip=clip, detail=detail, record_tag="base",
                              detailer_extra={"context_length": 4, "context_overlap": 2})
    recorded = run_recorded(comfy, pipeline, "long clip in windows (10 frames, length 4, overlap 2)")
    windows = expected_context_windows(clip.frames, 4, 2)
    calls = recorded.sample_calls
    assert [c["latent_shape"][0] for c in calls] == [len(w) for w in windows]
    full_shape = (clip.frames, *calls[0]["latent_shape"][1:])
    full_noise = comfy_sample.prepare_noise(torch.zeros(full_shape), detail.seed)
    for call, window in zip(calls, windows):
        assert torch.equal(call["noise"], full_noise[window.start:window.stop]), window
    (seg,) = recorded.segs()[1]
    assert torch.as_tensor(seg.cropped_image).shape[0] == clip.frames


def test_sampling_precision_bf16_runs_the_model_in_bfloat16_and_stays_close_to_fp32(comfy, report):
    """sampling_precision: fp32 leaves ComfyUI's precision (fp32 on the CPU), bf16 runs every model
    forward under bfloat16 autocast, auto does so where the CPU computes bf16 natively. The bf16
    result is float32 frames, close to the fp32 one, and the same again for the same seed."""
    native = comfy.pack_module("nodes.adapter.environment").cpu_has_native_bf16()
    clip, detail = ClipSettings(frames=4), DetailSettings(steps=3)
    runs, crops = {}, {}
    for precision in ("fp32", "bf16", "auto", "bf16 again"):
        pipeline = build_pipeline(comfy, clip=clip, detail=detail, record_tag="base", detailer_extra={
            "sampling_precision": precision.split()[0], "vae_encode_precision": "fp32"})
        runs[precision] = run_recorded(comfy, pipeline, f"sampling_precision {precision} (4 frames)")
        (crops[precision],) = refined_crops(runs[precision].segs())
    assert {c["bf16_autocast"] for c in runs["fp32"].unet_calls} == {False}
    assert {c["bf16_autocast"] for c in runs["bf16"].unet_calls} == {True}
    assert {c["bf16_autocast"] for c in runs["auto"].unet_calls} == {native}, f"auto follows native bf16 ({native})"
    bf16, fp32 = crops["bf16"], crops["fp32"]
    assert bf16.dtype == torch.float32 and torch.isfinite(bf16).all()
    assert torch.equal(bf16, crops["bf16 again"]), "the same seed gives the same bf16 result"
    assert torch.equal(crops["auto"], bf16 if native else fp32)
    mean, largest = float((bf16 - fp32).abs().mean()), float((bf16 - fp32).abs().max())
    report["measurements"].append(f"sampling_precision bf16 vs fp32: refined crops differ by {mean:.4f} mean, {largest:.4f} max")
    assert 0 < mean < 0.005, f"bf16 sampling moved the refined crops by {mean} on average"


def test_vae_decode_precision_bf16_decodes_in_bfloat16_and_stays_close_to_fp32(comfy, report):
    """vae_decode_precision: fp32 decodes in ComfyUI's precision (fp32 on the CPU), bf16 under
    bfloat16 autocast, auto so where the CPU computes bf16 natively. Sampling is fp32 in every run,
    so the refined crops differ only by the decode: float32, close, the same again for bf16."""
    native = comfy.pack_module("nodes.adapter.environment").cpu_has_native_bf16()
    clip, detail = ClipSettings(frames=3), DetailSettings(steps=2)
    runs, crops = {}, {}
    for precision in ("fp32", "bf16", "auto", "bf16 again"):
        pipeline = build_pipeline(comfy, clip=clip, detail=detail, record_tag="base", vae_interrupt_on_encode=0,
                                  detailer_extra={"vae_decode_precision": precision.split()[0],
                                                  "sampling_precision": "fp32", "vae_encode_precision": "fp32"})
        runs[precision] = run_recorded(comfy, pipeline, f"vae_decode_precision {precision} (3 frames)")
        (crops[precision],) = refined_crops(runs[precision].segs())
    flags = {p: {c["bf16_autocast"] for c in runs[p].vae_calls if c["op"] == "decode"} for p in runs}
    assert flags["fp32"] == {False} and flags["bf16"] == {True}
    assert flags["auto"] == {native}, f"auto follows native bf16 ({native})"
    bf16, fp32 = crops["bf16"], crops["fp32"]
    assert bf16.dtype == torch.float32 and float(bf16.min()) >= 0.0 and float(bf16.max()) <= 1.0
    assert torch.equal(bf16, crops["bf16 again"]), "the same seed gives the same bf16 result"
    assert torch.equal(crops["auto"], bf16 if native else fp32)
    mean, largest = float((bf16 - fp32).abs().mean()), float((bf16 - fp32).abs().max())
    report["measurements"].append(f"vae_decode_precision bf16 vs fp32: refined crops differ by {mean:.4f} mean, {largest:.4f} max")
    assert 0 < mean < 0.01, f"bf16 decoding moved the refined crops by {mean} on average"


@pytest.mark.parametrize("mode", ["whole clip", "context", "pack windows"])
def test_animatediff_evolved_gets_all_frames_of_a_seg_in_one_sampling_call(comfy, animatediff, mode):
    """With ADE's evolved sampling on the pipe's model, ADE sees the whole clip of a SEG at once.

    No motion module is loaded: AnimateDiff-Evolved builds its motion modules at SD1.5's fixed
    widths (320/640/1280/1280 channels, four levels) whatever the checkpoint, so a tiny one
    cannot be made; ADE's sampling machinery (outer sample wrapper, ad_params, context windows)
    runs without one. The recording model reports ADE's ``ad_params`` of every UNet call:
    ``full_length`` is the number of latents ADE was handed in one sampling call.

    * whole clip: the detailer's own windows off (context_length 0): one call, all 8 frames.
    * context: ADE context options (4 frames, overlap 1) and the detailer's context_length 4:
      the pack defers to ADE's windows and hands it the whole clip; ADE windows it.
    * pack windows: no ADE context options, context_length 4: the pack's windows, each a
      sampling call of its own that ADE sees as a clip of 4.
    """
    clip = ClipSettings(frames=8)
    detailer_extra = {"context_length": 0 if mode == "whole clip" else 4, "context_overlap": 1}
    pipeline = build_pipeline(comfy, clip=clip, record_tag="ade", detail=DetailSettings(steps=2, noise_mask_feather=20),
                              animatediff="context" if mode == "context" else "plain", detailer_extra=detailer_extra)
    recorded = run_recorded(comfy, pipeline, f"AnimateDiff-Evolved evolved sampling ({mode})")
    calls = recorded.unet_calls
    assert calls
    if mode == "pack windows":
        windows = expected_context_windows(clip.frames, 4, 1)
        assert [c["latent_shape"][0] for c in recorded.sample_calls] == [len(w) for w in windows]
        assert all(c["ad_full_length"] == 4 for c in calls), [c["ad_full_length"] for c in calls]
        return
    assert len(recorded.sample_calls) == 1 and recorded.sample_calls[0]["latent_shape"][0] == clip.frames
    assert all(c["ad_full_length"] == clip.frames for c in calls), [c["ad_full_length"] for c in calls]
    for sigma in {c["sigma"] for c in calls}:
        at_step = [c for c in calls if c["sigma"] == sigma]
        if mode == "context":
            windows = [c["ad_sub_idxs"] for c in at_step]
            assert all(w is not None and len(w) == 4 for w in windows), windows
            assert sorted({i for w in windows for i in w}) == list(range(clip.frames)), windows
        else:
            assert frames_per_sigma(at_step)[sigma] == clip.frames


def test_model_with_comfyuis_context_windows_gets_the_whole_clip(comfy):
    """ComfyUI's own Context Windows (Manual) on the model: the pack does not window as well."""
    clip = ClipSettings(frames=8)
    pipeline = build_pipeline(comfy, clip=clip, record_tag="base", detail=DetailSettings(steps=2), comfy_context=4,
                              detailer_extra={"context_length": 4, "context_overlap": 1})
    recorded = run_recorded(comfy, pipeline, "ComfyUI Context Windows (Manual) on the model (8 frames)")
    assert len(recorded.sample_calls) == 1 and recorded.sample_calls[0]["latent_shape"][0] == clip.frames
    # ComfyUI's handler calls the model per window (4 frames, +1 causal fix frame after the first window).
    batches = {c["batch"] // max(1, len(c["cond_or_uncond"])) for c in recorded.unet_calls}
    assert 4 in batches and max(batches) < clip.frames, f"model calls of {batches} frames"


# --- Impact Pack interop -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def impact_interop_run(comfy, impact) -> Recorded:
    """Impact's ToBasicPipe and MaskToSEGS_for_AnimateDiff -> our detailer -> Impact's SEGSPaste (and ours)."""
    pastes = {"impact_paste": IMPACT_PASTE}
    if comfy.has_node(OUR_PASTE):
        pastes["our_paste"] = OUR_PASTE
    pipeline = build_pipeline(comfy, segs_node=IMPACT_MASK_TO_SEGS, pipe_node=IMPACT_TO_BASIC_PIPE, pastes=pastes,
                              record_tag="base", clip=ClipSettings(frames=6, seed=11))
    return run_recorded(comfy, pipeline, "Impact SEGS -> our detailer -> Impact SEGSPaste")


def test_impact_segs_go_through_our_detailer_into_impact_paste(comfy, impact_interop_run):
    recorded = impact_interop_run
    clip = recorded.pipeline.clip
    frames, pasted = recorded.frames(), recorded.output("impact_paste")
    assert tuple(pasted.shape) == tuple(frames.shape)
    assert recorded.sample_calls[0]["latent_shape"][0] == clip.frames
    union = seg_union_masks(recorded.segs(), clip.frames, clip.height, clip.width)
    outside, inside = union == 0, union >= 0.999
    assert torch.equal(pasted[outside], frames[outside])
    assert float((pasted - frames).abs().amax(dim=-1)[inside].mean()) > 0.01


def test_impact_paste_of_our_segs_matches_our_paste(comfy, impact_interop_run, report):
    require(comfy, OUR_PASTE, "comparing Impact's SEGSPaste with ours needs ours")
    impact_pasted = impact_interop_run.output("impact_paste")
    our_pasted = impact_interop_run.output("our_paste")
    difference = (impact_pasted - our_pasted).abs()
    report["measurements"].append(
        f"Impact SEGSPaste vs ours (feather 0): max |diff| {float(difference.max()):.3g}, "
        f"{int((difference > 0).sum())} of {difference.numel()} values differ")
    assert float(difference.max()) <= 1.0 / 255.0, f"max difference {float(difference.max())}"


def test_impacts_own_detailer_still_runs_under_its_id(comfy, impact):
    """Impact's node keeps working beside ours (with noise_mask_feather 0: its feather path is broken on 0.29)."""
    pipeline = build_pipeline(comfy, detailer=IMPACT_DETAILER, segs_node=IMPACT_MASK_TO_SEGS,
                              pipe_node=IMPACT_TO_BASIC_PIPE, record_tag="impact", clip=ClipSettings(frames=4),
                              detail=DetailSettings(steps=2, noise_mask_feather=0))
    recorded = run_recorded(comfy, pipeline, "Impact's own SEGSDetailerForAnimateDiff")
    assert recorded.sample_calls and all(c["tag"] == "impact" for c in recorded.sample_calls)
    (seg,) = recorded.segs()[1]
    assert tuple(torch.as_tensor(seg.cropped_image).shape)[0] == 4


# --- without Impact Pack (subprocess) ----------------------------------------------------------


def impact_workflow_graph(widgets: dict, clip: ClipSettings) -> dict:
    """An API graph as ComfyUI's frontend writes it for a workflow built with Impact Pack's nodes.

    ``_alternatives`` lets the runner use our nodes for Impact's helper nodes when their Impact
    ids are not registered (Impact is absent); the detailer has none: it must answer to Impact's id.
    """
    g, out = Graph(), Graph.out
    ckpt = g.add("CheckpointLoaderSimple", ckpt_name=CHECKPOINT_NAME)
    positive = g.add("CLIPTextEncode", text="a shiny red ball", clip=out(ckpt, 1))
    negative = g.add("CLIPTextEncode", text="blurry", clip=out(ckpt, 1))
    source = g.add("TestClipSource", **clip.inputs())
    pipe = g.add(IMPACT_TO_BASIC_PIPE, model=out(ckpt, 0), clip=out(ckpt, 1), vae=out(ckpt, 2),
                 positive=out(positive), negative=out(negative))
    segs = g.add(IMPACT_MASK_TO_SEGS, mask=out(source, 1), **mask_to_segs_inputs(2.0))
    detailer = g.add(IMPACT_DETAILER, image_frames=out(source, 0), segs=out(segs), basic_pipe=out(pipe), **widgets)
    paste = g.add(IMPACT_PASTE, image=out(source, 0), segs=out(detailer), feather=5, alpha=255)
    g.add("TestSink", images=out(paste))
    prompt = g.prompt()
    prompt[pipe]["_alternatives"] = [OUR_TO_BASIC_PIPE]
    prompt[segs]["_alternatives"] = [OUR_MASK_TO_SEGS]
    prompt[paste]["_alternatives"] = [OUR_PASTE]
    prompt["_ids"] = {"source": source, "detailer": detailer, "paste": paste}
    return prompt



INSPECTED_IDS = [OUR_DETAILER, IMPACT_DETAILER, OUR_MASK_TO_SEGS, IMPACT_MASK_TO_SEGS, OUR_PASTE, IMPACT_PASTE,
                 OUR_TO_BASIC_PIPE, IMPACT_TO_BASIC_PIPE]


@pytest.fixture(scope="module")
def without_impact(comfy_root, checkpoints_dir, tmp_path_factory, report) -> dict:
    """Boot a second ComfyUI in a subprocess whose custom_nodes hold only our pack and the fixture pack."""
    work = tmp_path_factory.mktemp("without_impact")
    widgets = impact_widgets_to_api(IMPACT_SAVED_WIDGETS)
    clip = ClipSettings(frames=4, width=96, height=64, seed=3)
    # The saved values ask for 512..768 px crops: far too slow for a CPU test, so the run uses
    # 64 px; the saved graph with its exact values is validated (not run) as well.
    run_graph = impact_workflow_graph({**widgets, "guide_size": 64, "max_size": 64}, clip)
    saved_graph = impact_workflow_graph(widgets, clip)
    ids = run_graph.pop("_ids")
    saved_graph.pop("_ids")
    spec = {
        "comfy_path": str(comfy_root),
        "work_dir": str(work),
        "packs": {PACK_LINK_NAME: str(REPO_ROOT), FIXTURE_LINK_NAME: str(FIXTURE_PACK_DIR)},
        "model_dirs": {"checkpoints": [str(checkpoints_dir)]},
        "inspect_ids": INSPECTED_IDS,
        "validate_only": [saved_graph],
        "graph": run_graph,
        "fetch": {"frames": [ids["source"], 0], "pasted": [ids["paste"], 0], "segs": [ids["detailer"], 0]},
    }
    result = run_in_subprocess(spec, work, "subprocess: ComfyUI without Impact Pack, boot + saved Impact workflow",
                               report)
    aliased = sorted(k for k, v in result["nodes"].items()
                     if v["registered"] and not k.startswith("AnimateDiffDetailer_"))
    report["measurements"].append(f"without Impact Pack our pack answers to {aliased}; "
                                  f"substituted: {result.get('substitutions') or 'nothing'}")
    return result


def test_without_impact_our_node_answers_to_impacts_id(without_impact):
    result = without_impact
    assert result["loaded_packs"] == sorted([PACK_LINK_NAME, FIXTURE_LINK_NAME])
    assert not result["import_failures"], result["import_failures"]
    alias, ours = result["nodes"][IMPACT_DETAILER], result["nodes"][OUR_DETAILER]
    assert ours["registered"] and alias["registered"], "without Impact Pack our detailer must answer to Impact's id"
    assert alias["relative_python_module"] == f"custom_nodes.{PACK_LINK_NAME}"
    assert "SEGSDetailerForAnimateDiff" in alias["mro"] and alias["category"] == "ImpactPack/Detailer"
    assert alias["required"] == IMPACT_REQUIRED and alias["optional"][: len(IMPACT_OPTIONAL)] == IMPACT_OPTIONAL
    assert alias["optional_defaults"]["noise_mask_feather"] == 20
    if "crop_mode" in alias["optional"]:
        assert alias["optional_defaults"]["crop_mode"] == "union", "saved Impact workflows keep Impact's union crop"
    if "context_length" in alias["optional"]:
        assert alias["optional_defaults"]["context_length"] == 0, "saved Impact workflows sample all frames at once"


def test_without_impact_a_saved_impact_workflow_validates_and_runs(without_impact):
    result = without_impact
    if result.get("missing_nodes"):
        pytest.skip(f"the Impact workflow also needs {result['missing_nodes']}: neither Impact's nor ours registered")
    (saved,) = result["validate_only"]
    assert saved.get("valid"), saved
    run = result["run"]
    assert run["valid"] and run["success"], run["failure"]
    detailer_types = [t for t in run["class_types"].values() if "Detailer" in t]
    assert detailer_types == [IMPACT_DETAILER]
    frames = torch.load(result["saved"]["frames"]["path"], weights_only=False)
    pasted = torch.load(result["saved"]["pasted"]["path"], weights_only=False)
    segs = torch.load(result["saved"]["segs"]["path"], weights_only=False)
    assert tuple(pasted.shape) == tuple(frames.shape)
    assert bool(torch.isfinite(pasted).all())
    (seg,) = segs["segs"]
    x1, y1, x2, y2 = seg["crop_region"]
    assert tuple(seg["cropped_image"].shape) == (frames.shape[0], y2 - y1, x2 - x1, 3)
    assert float((pasted - frames).abs().max()) > 0.01


@pytest.fixture(scope="module")
def broken_impact(comfy_root, checkpoints_dir, tmp_path_factory, report) -> dict:
    """A subprocess ComfyUI where Impact Pack is installed but fails to import (a broken update, a missing
    dependency): our pack sees it on disk, so it keeps Impact's ids free, and Impact never registers them."""
    work = tmp_path_factory.mktemp("broken_impact")
    fake = work / "broken-impact-pack"
    (fake / "modules" / "impact").mkdir(parents=True)
    (fake / "modules" / "impact" / "impact_pack.py").write_text("")
    (fake / "__init__.py").write_text('raise ImportError("simulated broken Impact Pack install")\n')
    widgets = impact_widgets_to_api(IMPACT_SAVED_WIDGETS)
    saved_graph = impact_workflow_graph(widgets, ClipSettings(frames=4, width=96, height=64, seed=3))
    saved_graph.pop("_ids")
    for node in saved_graph.values():
        node.pop("_alternatives", None)
    spec = {
        "comfy_path": str(comfy_root),
        "work_dir": str(work),
        "packs": {PACK_LINK_NAME: str(REPO_ROOT), FIXTURE_LINK_NAME: str(FIXTURE_PACK_DIR),
                  IMPACT_LINK_NAME: str(fake)},
        "model_dirs": {"checkpoints": [str(checkpoints_dir)]},
        "inspect_ids": INSPECTED_IDS,
        "validate_only": [saved_graph],
    }
    return run_in_subprocess(spec, work, "subprocess: ComfyUI with a broken Impact Pack install", report)


def test_with_a_broken_impact_install_our_pack_keeps_impacts_ids_free(broken_impact):
    result = broken_impact
    assert IMPACT_LINK_NAME not in result["loaded_packs"]
    assert any("simulated broken Impact Pack install" in m or IMPACT_LINK_NAME in m for m in result["import_failures"])
    assert result["nodes"][OUR_DETAILER]["registered"]
    assert not result["nodes"][IMPACT_DETAILER]["registered"]


def test_with_a_broken_impact_install_a_saved_impact_workflow_still_validates(broken_impact):
    (saved,) = broken_impact["validate_only"]
    assert saved.get("valid"), saved.get("error")


def test_windowed_sampling_with_one_window_equals_unwindowed(comfy):
    """A context_length at least the clip's length is one window: the result is the unwindowed one,
    bit for bit (same noise, same single sampling call)."""
    clip, detail = ClipSettings(frames=6), DetailSettings(steps=2)
    results = {}
    for label, extra in (("off", {"context_length": 0}), ("one window", {"context_length": 6, "context_overlap": 2}),
                         ("longer", {"context_length": 16, "context_overlap": 4})):
        pipeline = build_pipeline(comfy, clip=clip, detail=detail, record_tag="base", detailer_extra=extra)
        recorded = run_recorded(comfy, pipeline, f"windows {label} (6 frames)")
        assert len(recorded.sample_calls) == 1 and recorded.sample_calls[0]["latent_shape"][0] == clip.frames
        (seg,) = recorded.segs()[1]
        results[label] = torch.as_tensor(seg.cropped_image)
    assert torch.equal(results["off"], results["one window"])
    assert torch.equal(results["off"], results["longer"])


def test_vae_out_of_memory_falls_back_to_tiled_instead_of_failing(comfy, report):
    """Out-of-memory errors in a VAE batch (encode and decode) do not fail the node: ComfyUI's VAE
    retries the batch tiled once (one error: that retry succeeds); when that retry runs out of
    memory too, the node retries with tiles of 256, 128 and 64 px. The crops here are sampled at
    96x96: ComfyUI's retry and ours at 256 px cover the crop in one tile (ComfyUI's tiled encode
    also passes tiles of half the side one way and twice the other) and must give the crops of a
    run without errors; at 128 and 64 px the crop really is tiled (the random-weight VAE then
    draws seams, so only a valid image of the same size is asserted, and the difference is reported)."""
    clip, detail = ClipSettings(frames=4), DetailSettings(steps=2)
    crops = {}
    cases = (("normal", 0), ("ComfyUI's tiled retry", 1), ("our 256 px retry", 2), ("our 128 px retry", 3),
             ("our 64 px retry", 4))
    for label, oom_calls in cases:
        pipeline = build_pipeline(comfy, clip=clip, detail=detail, record_tag="base", vae_oom_calls=oom_calls)
        recorded = run_recorded(comfy, pipeline, f"VAE out of memory, {label} (4 frames)")
        crops[label] = refined_crops(recorded.segs())
        for op in ("encode", "decode") if oom_calls else ():  # the VAE is wrapped (and its calls recorded) only then
            calls = [c for c in recorded.vae_calls if c["op"] == op]
            failed = [i for i, c in enumerate(calls) if c["oom"]]
            assert failed == list(range(oom_calls)), calls
            assert len(calls) > len(failed) and all(not c["oom"] for c in calls[len(failed):]), calls
    for label, _ in cases:
        worst = max(float((a - b).abs().max()) for a, b in zip(crops["normal"], crops[label]))
        report["measurements"].append(f"VAE out of memory, {label}: crops differ from the normal run by at most {worst:.4f}")
        if label in ("our 128 px retry", "our 64 px retry"):
            for tiled, plain in zip(crops[label], crops["normal"]):
                assert tiled.shape == plain.shape and bool(torch.isfinite(tiled).all())
                assert float(tiled.min()) >= 0.0 and float(tiled.max()) <= 1.0
        else:
            assert worst < 0.02, label


def test_vae_decode_on_the_cpu_equals_comfyuis_and_leaves_the_vae_as_it_was(comfy):
    """The detailer decodes image latents channels-last on the CPU (faster convolutions): the pixels
    equal ComfyUI's own ``vae.decode`` within float tolerance, and the VAE's weights, shared with the
    rest of the graph, keep their values and memory layout."""
    _, _, vae = comfy.node_class("CheckpointLoaderSimple")().load_checkpoint(CHECKPOINT_NAME)[:3]
    weights = {name: w.clone() for name, w in vae.first_stage_model.state_dict().items()}
    latent = torch.randn(2, 4, 12, 10, generator=torch.Generator().manual_seed(3))
    ours = comfy.pack_module("nodes.adapter.vae").VaeRunner(vae, "fp32", vae_decode_precision="fp32").decode(latent)
    theirs = vae.decode(latent)
    assert ours.shape == theirs.shape == (2, 96, 80, 3) and ours.dtype == theirs.dtype
    assert float((ours - theirs).abs().max()) < 1e-4
    for name, w in vae.first_stage_model.state_dict().items():
        assert torch.equal(w, weights[name]) and w.is_contiguous(), name


def test_vae_out_of_memory_at_every_tile_size_fails_naming_the_fix(comfy):
    """When even the smallest tiles run out of memory the node fails with an error that says which
    VAE step ran out and which input lowers the memory it needs."""
    pipeline = build_pipeline(comfy, clip=ClipSettings(frames=2), detail=DetailSettings(steps=2), record_tag="base",
                              vae_oom_calls=1000)
    recorded = run_recorded(comfy, pipeline, "VAE out of memory at every tile size", check=False)
    message = recorded.result.describe_failure()
    assert not recorded.result.success
    assert "VAE encode" in message and "ran out of memory even in tiles of 64 px" in message and "max_size" in message
    encodes = [c for c in recorded.vae_calls if c["op"] == "encode"]
    assert len(encodes) == 2 + len((256, 128, 64)), encodes  # ComfyUI's call and tiled retry, then ours
    assert not recorded.sample_calls
