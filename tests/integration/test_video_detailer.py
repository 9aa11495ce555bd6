"""The detailer with native video models, through ComfyUI's engine.

Graphs of ComfyUI's ``UNETLoader`` (the tiny Wan 2.1 T2V or VACE model) and ``VAELoader`` (the
tiny Wan 2.1 VAE), the fixture pack's text conditioning (umT5-XXL cannot be shrunk), a clip and
its subject mask -> MaskToSEGS -> our detailer -> our paste. Each SEG's crop stack is one video:
the sampler sees one 5-D latent per SEG whose latent frame count follows the VAE's rule (frames
padded to ``4n + 1``), and the SEG comes back with the clip's own frame count. The Wan 2.1 example
workflow (``example_workflows/video_detailer_wan21.json``, which the browser tier only loads) runs
here with the tiny models in its loaders and the fixture's conditioning in place of its prompts.
"""

from __future__ import annotations

import json

import pytest
import torch

import example_clip  # tools/
import workflow_ui
from comfy_harness import (
    CHECKPOINT_NAME,
    OUR_DETAIL_AND_PASTE,
    OUR_DETAILER,
    OUR_FILTER_BY_SIZE,
    OUR_MASK_TO_SEGS,
    OUR_ORDER,
    OUR_PASTE,
    OUR_PREVIEW,
    OUR_TO_BASIC_PIPE,
    REPO_ROOT,
    ClipSettings,
    DetailSettings,
    Graph,
    mask_to_segs_inputs,
    seg_union_masks,
)
from pipelines import Pipeline, Recorded, run_recorded

OUT = Graph.out
SIZE = 64  # frames of 64x64: crops sampled at up to 64 px, latents of up to 8 cells
WAN21_EXAMPLE = REPO_ROOT / "example_workflows" / "video_detailer_wan21.json"


def latent_frames(frames: int) -> int:
    """Wan 2.1's rule: the clip is padded to 4n + 1 frames, which encode to n + 1 latent frames."""
    return (frames - 1 + 3) // 4 + 1


def video_pipeline(names: dict[str, str], frames: int, crop_mode: str, *, vace: bool = False,
                   seed: int = 3, vae: str = "wan_vae", steps: int = 2, feather: int = 0, refiner: bool = False,
                   interrupt_after_calls: int = 0, model_context: int = 0, detailer_extra: dict | None = None) -> Pipeline:
    """The Wan detailing graph. ``refiner`` adds a refiner pipe (the same Wan model, recorded as
    "refiner"); ``model_context`` > 0 puts ComfyUI's WAN Context Windows of that many frames on the model."""
    clip = ClipSettings(frames=frames, width=SIZE, height=SIZE, seed=5, x_start=0.35, x_end=0.65)
    detail = DetailSettings(guide_size=64, max_size=64, seed=seed, steps=steps, cfg=4.0, sampler_name="euler",
                            scheduler="simple", denoise=0.6, noise_mask_feather=feather, refiner_ratio=0.5)
    g, ids = Graph(), {}
    ids["clip"] = g.add("TestClipSource", **clip.inputs())
    ids["unet"] = g.add("UNETLoader", unet_name=names["vace" if vace else "wan"], weight_dtype="default")
    model = OUT(ids["unet"])
    if model_context:
        ids["context"] = g.add("WanContextWindowsManual", model=model, context_length=model_context, context_overlap=4,
                               context_schedule="standard_static", context_stride=1, closed_loop=False,
                               fuse_method="pyramid", freenoise=False, retain_first_frame=False,
                               split_conds_to_windows=False)
        model = OUT(ids["context"])
    ids["model"] = g.add("TestRecordingModel", model=model, tag="wan", interrupt_after_calls=interrupt_after_calls)
    ids["vae"] = g.add("VAELoader", vae_name=names[vae])
    ids["ckpt"] = g.add("CheckpointLoaderSimple", ckpt_name=CHECKPOINT_NAME)  # only to fill the pipe's clip slot
    ids["positive"] = g.add("TestTextConditioning", seed=1, tokens=8, dim=4096, scale=0.1)
    ids["negative"] = g.add("TestTextConditioning", seed=2, tokens=8, dim=4096, scale=0.1)
    positive, negative = OUT(ids["positive"]), OUT(ids["negative"])
    if vace:
        ids["vace"] = g.add("WanVaceToVideo", positive=positive, negative=negative, vae=OUT(ids["vae"]), width=SIZE,
                            height=SIZE, length=frames, batch_size=1, strength=1.0, control_video=OUT(ids["clip"], 0),
                            control_masks=OUT(ids["clip"], 1))
        positive, negative = OUT(ids["vace"], 0), OUT(ids["vace"], 1)
    ids["pipe"] = g.add(OUR_TO_BASIC_PIPE, model=OUT(ids["model"]), clip=OUT(ids["ckpt"], 1), vae=OUT(ids["vae"]),
                        positive=positive, negative=negative)
    ids["segs"] = g.add(OUR_MASK_TO_SEGS, mask=OUT(ids["clip"], 1), **mask_to_segs_inputs(crop_factor=2.0))
    extra = dict(detailer_extra or {})
    if refiner:
        ids["refiner_model"] = g.add("TestRecordingModel", model=OUT(ids["unet"]), tag="refiner")
        ids["refiner_pipe"] = g.add(OUR_TO_BASIC_PIPE, model=OUT(ids["refiner_model"]), clip=OUT(ids["ckpt"], 1),
                                    vae=OUT(ids["vae"]), positive=positive, negative=negative)
        extra["refiner_basic_pipe_opt"] = OUT(ids["refiner_pipe"])
    ids["detailer"] = g.add(OUR_DETAILER, image_frames=OUT(ids["clip"], 0), segs=OUT(ids["segs"]),
                            basic_pipe=OUT(ids["pipe"]), crop_mode=crop_mode, **detail.inputs(), **extra)
    ids["paste"] = g.add(OUR_PASTE, image=OUT(ids["clip"], 0), segs=OUT(ids["detailer"]), feather=0, alpha=255)
    ids["sink"] = g.add("TestSink", images=OUT(ids["paste"]), segs=OUT(ids["detailer"]))
    return Pipeline(g, ids, clip, detail)


def check_video_run(recorded: Recorded, frames: int, windowed: bool = False) -> None:
    """One 5-D latent per SEG with the VAE's latent frame count (unless the detailer samples it in
    ``windowed`` context windows); the clip's frame count back; pixels outside every mask unchanged
    bit for bit."""
    clip = recorded.pipeline.clip
    call = recorded.sample_calls[0]
    batch, channels, time, height, width = call["latent_shape"]
    assert (batch, channels) == (1, 16) and (windowed or time == latent_frames(frames))
    assert height * 8 % 16 == 0 and width * 8 % 16 == 0, "sampling sizes are multiples of 16 px (stride 8 x patch 2)"
    assert call["denoise_mask_shape"] is not None and call["denoise_mask_shape"][-3] == time
    assert all(len(c["x_shape"]) == 5 for c in recorded.unet_calls)
    (seg,) = recorded.segs()[1]
    x1, y1, x2, y2 = (int(v) for v in seg.crop_region)
    refined = torch.as_tensor(seg.cropped_image)
    assert refined.shape == (frames, y2 - y1, x2 - x1, 3) and refined.dtype == torch.float32
    assert bool(torch.isfinite(refined).all())
    source, pasted = recorded.frames(), recorded.output("paste")
    assert pasted.shape == source.shape == (frames, clip.height, clip.width, 3)
    outside = seg_union_masks(recorded.segs(), frames, clip.height, clip.width) == 0
    assert torch.equal(pasted[outside], source[outside]), "pixels outside every mask changed"
    assert not torch.equal(pasted, source), "nothing was detailed"


@pytest.mark.parametrize("frames", [17, 33, 81])
@pytest.mark.parametrize("crop_mode", ["union", "tracked"])
def test_wan_clips_are_detailed_as_one_video_latent_per_seg(comfy, video_model_names, frames, crop_mode):
    pipeline = video_pipeline(video_model_names, frames, crop_mode)
    recorded = run_recorded(comfy, pipeline, f"Wan 2.1 detailer, {frames} frames, {crop_mode}")
    check_video_run(recorded, frames)


def test_a_frame_count_off_the_vaes_rule_is_padded_and_trimmed(comfy, video_model_names):
    recorded = run_recorded(comfy, video_pipeline(video_model_names, 18, "tracked"), "Wan 2.1 detailer, 18 frames")
    check_video_run(recorded, 18)  # sampled as 21 frames (6 latent frames), 18 come back


def test_same_seed_same_output_other_seed_differs(comfy, video_model_names):
    runs = [run_recorded(comfy, video_pipeline(video_model_names, 17, "union", seed=seed), f"Wan 2.1 detailer, seed {seed}")
            for seed in (7, 7, 8)]
    crops = [torch.as_tensor(run.segs()[1][0].cropped_image) for run in runs]
    assert torch.equal(crops[0], crops[1])
    assert not torch.equal(crops[0], crops[2])


@pytest.mark.parametrize("crop_mode", ["union", "tracked"])
def test_vace_control_is_cut_to_each_segs_crop(comfy, video_model_names, crop_mode, report):
    """WanVaceToVideo's control video and masks (over the whole frame) reach the VACE blocks cut
    to the SEG's crop: the VACE context has the sampled latent's frames and size."""
    recorded = run_recorded(comfy, video_pipeline(video_model_names, 17, crop_mode, vace=True),
                            f"Wan 2.1 VACE detailer, 17 frames, {crop_mode}")
    check_video_run(recorded, 17)
    (call,) = recorded.sample_calls
    _, _, time, height, width = call["latent_shape"]
    shapes = {c["vace_context_shape"] for c in recorded.unet_calls}
    assert None not in shapes
    for shape in shapes:  # [batch, VACE inputs, 2 x 16 latent channels + 64 mask channels, T, h, w]
        assert shape[1:] == (1, 96, time, height, width), shape
    report["measurements"].append(f"VACE ({crop_mode}): latent {call['latent_shape']}, VACE context {sorted(shapes)}")


def test_an_image_vae_with_a_wan_model_is_an_error_naming_the_pipe(comfy, video_model_names):
    pipeline = video_pipeline(video_model_names, 5, "union")
    pipeline.graph.set(pipeline.ids["pipe"], vae=OUT(pipeline.ids["ckpt"], 2))
    result = comfy.run(pipeline.graph, check=False)
    assert not result.success
    message = result.error["exception_message"]
    assert "basic_pipe" in message and "video" in message and "image" in message, message


@pytest.mark.parametrize("kind, spatial, frame_step, size_multiple", [("wan_vae", 8, 4, 16), ("ltxv_vae", 32, 8, 32)])
def test_the_latent_layout_is_read_from_comfyuis_own_vae(comfy, video_model_names, kind, spatial, frame_step,
                                                         size_multiple):
    """Strides and frame rules come from the VAE ComfyUI built (Wan 2.1: 8 px, 4n + 1 frames; LTX-Video:
    32 px, 8n + 1 frames), never from a table of model names; the model's patch multiplies the stride."""
    (vae,) = comfy.node_class("VAELoader")().load_vae(video_model_names[kind])
    patch = size_multiple // spatial
    layout = comfy.pack_module("nodes.adapter.vae").vae_layout(vae, patch)
    assert layout.is_video and (layout.spatial, layout.size_multiple) == (spatial, size_multiple)
    for frames in (1, 2, 17, 18, 33, 80):
        padded = layout.encoded_frame_count(frames)
        assert (padded - 1) % frame_step == 0 and 0 <= padded - frames < frame_step
        assert layout.pixel_frames(layout.latent_frames(padded)) == padded
    runner = comfy.pack_module("nodes.adapter.vae").VaeRunner(vae, "fp32", patch)
    clip = torch.rand(layout.encoded_frame_count(10), 64, 64, 3, generator=torch.Generator().manual_seed(0))
    latent = runner.encode(clip)
    assert latent.shape[0] == 1 and latent.shape[2] == layout.latent_frames(clip.shape[0])
    assert latent.shape[-2:] == (64 // spatial, 64 // spatial)
    decoded = runner.decode(latent)
    assert decoded.shape == clip.shape and bool(torch.isfinite(decoded).all())


def test_wan_with_differential_diffusion_and_a_refiner(comfy, video_model_names):
    """noise_mask_feather > 0 samples with differential diffusion; a refiner pipe runs the last half
    of the steps after the base model, continuing its latent without new noise."""
    recorded = run_recorded(comfy, video_pipeline(video_model_names, 17, "tracked", steps=4, feather=20, refiner=True),
                            "Wan 2.1 detailer, feather 20 and a refiner")
    check_video_run(recorded, 17)
    base, refiner = ([c for c in recorded.sample_calls if c["tag"] == tag] for tag in ("wan", "refiner"))
    assert len(base) == 1 and len(refiner) == 1
    assert base[0]["denoise_mask_function"] is not None and refiner[0]["denoise_mask_function"] is not None
    assert refiner[0]["noise_is_zero"] and base[0]["time"] < refiner[0]["time"]
    assert base[0]["sigmas"][-1] == pytest.approx(refiner[0]["sigmas"][0])
    assert len(base[0]["sigmas"]) == 3 and len(refiner[0]["sigmas"]) == 3, "4 steps split 2 + 2"
    assert refiner[0]["latent_shape"] == base[0]["latent_shape"]


def test_wan_progress_previews_and_cancel(comfy, video_model_names):
    pipeline = video_pipeline(video_model_names, 17, "union", steps=3)
    comfy.server.events.clear()
    comfy.server.binary_events.clear()
    result = comfy.run(pipeline.graph, label="Wan 2.1 detailer with previews", extra_data={"preview_method": "latent2rgb"})
    assert result.success
    progress = [data for event, data in comfy.server.events if event == "progress" and data["node"] == pipeline.ids["detailer"]]
    values = [p["value"] for p in progress]
    assert progress and values == sorted(values) and values[-1] == progress[-1]["max"], progress
    assert len(comfy.server.binary_events) >= 3, "a latent preview per step"

    cancelled = run_recorded(comfy, video_pipeline(video_model_names, 17, "union", steps=8, interrupt_after_calls=2),
                             "Wan 2.1 detailer cancelled at the 2nd UNet call", check=False)
    assert cancelled.result.interrupted and not cancelled.result.success
    steps_seen = {c["sigma"] for c in cancelled.unet_calls}
    assert len(steps_seen) < 8, "sampling ran to the end despite the cancel"
    assert len([c for c in cancelled.unet_calls if c["after_interrupt"]]) <= 2


def test_long_wan_clips_defer_to_the_context_windows_set_on_the_model(comfy, video_model_names):
    """ComfyUI's WAN Context Windows node on the model: the detailer hands it the whole clip (one
    sampling call, 9 latent frames) and the model is called per window of 5 latent frames."""
    recorded = run_recorded(comfy, video_pipeline(video_model_names, 33, "union", model_context=17),
                            "Wan 2.1 detailer, 33 frames, WAN Context Windows of 17 on the model")
    check_video_run(recorded, 33)
    assert len(recorded.sample_calls) == 1 and recorded.sample_calls[0]["latent_shape"][2] == 9
    model_frames = {c["x_shape"][2] for c in recorded.unet_calls}
    assert max(model_frames) < 9, f"the model saw {model_frames} latent frames per call"


def test_the_detailers_own_context_windows_cut_latent_frames_with_an_anchor(comfy, video_model_names):
    """context_length 17 frames (5 latent frames), overlap 4 frames (1 latent frame) on a 33-frame clip
    (9 latent frames): windows 0-4 and 4-8; the second is sampled with latent frame 3 in front."""
    recorded = run_recorded(comfy, video_pipeline(video_model_names, 33, "union",
                                                  detailer_extra={"context_length": 17, "context_overlap": 4}),
                            "Wan 2.1 detailer, 33 frames, the detailer's windows of 17")
    check_video_run(recorded, 33, windowed=True)
    assert [c["latent_shape"][2] for c in recorded.sample_calls] == [5, 6]


def test_companion_nodes_work_on_refined_wan_segs(comfy, video_model_names):
    """The refined SEGS are pixels: preview, filter and order them, and detail-and-paste in one node."""
    pipeline = video_pipeline(video_model_names, 17, "tracked")
    g, ids = pipeline.graph, pipeline.ids
    preview = g.add(OUR_PREVIEW, segs=OUT(ids["detailer"]), size=64)
    kept = g.add(OUR_FILTER_BY_SIZE, segs=OUT(ids["detailer"]), min_side=1, max_side=4096,
                 min_confidence=0.0)
    ordered = g.add(OUR_ORDER, segs=OUT(kept, 0), order_by="area", descending=True, take=1)
    each = g.add(OUR_DETAIL_AND_PASTE, image_frames=OUT(ids["clip"], 0),
                 segs=OUT(ids["segs"]), feather=0, basic_pipe=OUT(ids["pipe"]), crop_mode="tracked",
                 **pipeline.detail.inputs())
    g.add("TestSink", images=OUT(preview), images_b=OUT(each, 0), segs=OUT(ordered))
    recorded = run_recorded(comfy, pipeline, "Wan 2.1 refined SEGS through the companion nodes")
    check_video_run(recorded, 17)
    previews = recorded.result.output(preview)
    assert previews.shape == (17, 64, 64, 3) and bool(torch.isfinite(previews).all())
    assert len(recorded.result.output(ordered)[1]) == 1
    frames = recorded.result.output(each, 0)
    assert frames.shape == recorded.frames().shape
    assert torch.equal(frames, recorded.output("paste")), "detail-and-paste equals detailer + paste (same seed)"


def wan21_example_with_tiny_models(comfy, names: dict[str, str]) -> dict:
    """``example_workflows/video_detailer_wan21.json`` as the frontend queues it (API format), with the
    tiny Wan 2.1 model and VAE in its loaders and, for the umT5-XXL text encoder that cannot be
    shrunk, the fixture's seeded 4096-wide conditioning in place of its two prompts (the pipe's clip
    slot takes the tiny checkpoint's CLIP). Everything else (the detailer's settings, the paste, the
    video save) is the example's own."""
    prompt = workflow_ui.to_api_prompt(json.loads(WAN21_EXAMPLE.read_text()),
                                       workflow_ui.node_definitions(comfy.nodes.NODE_CLASS_MAPPINGS))
    by_type = {}
    for node_id, node in prompt.items():
        by_type.setdefault(node["class_type"], []).append(node_id)
    (unet,), (vae,), (text_encoder,) = by_type["UNETLoader"], by_type["VAELoader"], by_type["CLIPLoader"]
    prompt[unet]["inputs"]["unet_name"] = names["wan"]
    prompt[vae]["inputs"]["vae_name"] = names["wan_vae"]
    prompt[text_encoder] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT_NAME}}
    for seed, node_id in enumerate(by_type["CLIPTextEncode"], start=1):
        prompt[node_id] = {"class_type": "TestTextConditioning",
                           "inputs": {"seed": seed, "tokens": 8, "dim": 4096, "scale": 0.1}}
    (pipe,) = by_type[OUR_TO_BASIC_PIPE]
    prompt[pipe]["inputs"]["clip"] = [text_encoder, 1]
    return prompt


def test_the_wan21_example_runs_with_tiny_models_in_place_of_the_real_ones(comfy, video_model_names, report):
    """The example's own graph and settings (uni_pc, simple, 20 steps, guide_size 512, max_size 832,
    tracked crop, paste, Create Video + Save Video) run to a saved video through ComfyUI's engine on
    the demo clip; pixels outside the SEGS' masks are unchanged."""
    clip = example_clip.make_example_clip()
    example_clip.write_animated_webp(clip, comfy.work_dir / "input" / example_clip.CLIP_FILE_NAME)
    prompt = wan21_example_with_tiny_models(comfy, video_model_names)
    result = comfy.run(prompt, label="Wan 2.1 example with the tiny models")

    ids = {node["class_type"]: node_id for node_id, node in prompt.items()}
    frames, pasted = result.output(ids["LoadImage"]), result.output(ids[OUR_PASTE])
    assert pasted.shape == frames.shape == (clip.shape[0], clip.shape[1], clip.shape[2], 3)
    outside = seg_union_masks(result.output(ids[OUR_DETAILER]), *pasted.shape[:3]) == 0
    assert torch.equal(pasted[outside], frames[outside]), "pixels outside every mask changed"
    assert not torch.equal(pasted, frames), "nothing was detailed"
    video_files = sorted(path.name for path in comfy.output_dir.rglob("wan21_detailed_*"))
    assert video_files, f"Save Video wrote nothing to {comfy.output_dir}"
    report["measurements"].append(f"Wan 2.1 example, tiny models: {result.seconds:.1f}s, saved {video_files}")
