"""Video models' frame-carrying conditioning through the engine: the model receives it cut to each SEG.

Graphs: the tiny Wan model of each family (``UNETLoader``) with the tiny Wan 2.1 VAE, one of ComfyUI's
own conditioning nodes (WanImageToVideo, WanFirstLastFrameToVideo, WanFunInpaintToVideo,
WanFunControlToVideo, Wan22FunControlToVideo, WanCameraImageToVideo, WanPhantomSubjectToVideo) fed the
clip, our detailer and paste. The recording model keeps what reaches the diffusion model in every call
(``c_concat``, camera rays, reference latents): it has the sampled latent's size, and with the union
crop it equals what ComfyUI's own VAE makes of the conditioning's frames cut at the crop and scaled to
the sampling size, within float tolerance. Pixels outside the SEG's mask come back unchanged.
"""

from __future__ import annotations

import pytest
import torch

from comfy_harness import CHECKPOINT_NAME, OUR_DETAILER, OUR_MASK_TO_SEGS, OUR_PASTE, OUR_TO_BASIC_PIPE, ClipSettings, \
    DetailSettings, Graph, mask_to_segs_inputs, seg_union_masks, slow_tests_enabled
from pipelines import Pipeline, Recorded, run_recorded

OUT = Graph.out
SIZE = 64
FRAMES = 17
LATENT_FRAMES = 5  # Wan 2.1's VAE: 17 frames -> 5 latent frames
WAN_CHANNELS = 16


def conditioned_pipeline(names: dict[str, str], model: str, condition: str, condition_inputs: dict, *,
                         crop_mode: str = "union", frames: int = FRAMES, refiner: str | None = None,
                         detailer_extra: dict | None = None, steps: int = 2) -> Pipeline:
    """Clip -> ``condition`` (a ComfyUI conditioning node; ``condition_inputs`` values "first", "last" and
    "clip" are the clip's first frame, last frame and all frames) -> a pipe of the tiny ``model`` ->
    detailer -> paste. ``refiner`` names a model for a refiner pipe with the same conditioning."""
    clip = ClipSettings(frames=frames, width=SIZE, height=SIZE, seed=5, x_start=0.35, x_end=0.65)
    detail = DetailSettings(guide_size=64, max_size=64, seed=3, steps=steps, cfg=4.0, sampler_name="euler",
                            scheduler="simple", denoise=0.6, noise_mask_feather=0, refiner_ratio=0.5)
    g, ids = Graph(), {}
    ids["clip"] = g.add("TestClipSource", **clip.inputs())
    frames_out = OUT(ids["clip"], 0)
    ids["first"] = g.add("ImageFromBatch", image=frames_out, batch_index=0, length=1)
    ids["last"] = g.add("ImageFromBatch", image=frames_out, batch_index=frames - 1, length=1)
    feeds = {"first": OUT(ids["first"]), "last": OUT(ids["last"]), "clip": frames_out}
    ids["unet"] = g.add("UNETLoader", unet_name=names[model], weight_dtype="default")
    ids["model"] = g.add("TestRecordingModel", model=OUT(ids["unet"]), tag="base")
    ids["vae"] = g.add("VAELoader", vae_name=names["wan_vae"])
    ids["ckpt"] = g.add("CheckpointLoaderSimple", ckpt_name=CHECKPOINT_NAME)  # only to fill the pipe's clip slot
    ids["positive"] = g.add("TestTextConditioning", seed=1, tokens=8, dim=4096, scale=0.1)
    ids["negative"] = g.add("TestTextConditioning", seed=2, tokens=8, dim=4096, scale=0.1)
    inputs = {"positive": OUT(ids["positive"]), "negative": OUT(ids["negative"]), "vae": OUT(ids["vae"]),
              "width": SIZE, "height": SIZE, "length": frames, "batch_size": 1}
    for name, value in condition_inputs.items():
        if isinstance(value, tuple):  # another node's output: (node type, its inputs)
            ids[name] = g.add(value[0], **value[1])
            value = OUT(ids[name])
        inputs[name] = feeds.get(value, value) if isinstance(value, str) else value
    ids["condition"] = g.add(condition, **inputs)
    positive, negative = OUT(ids["condition"], 0), OUT(ids["condition"], 1)
    ids["pipe"] = g.add(OUR_TO_BASIC_PIPE, model=OUT(ids["model"]), clip=OUT(ids["ckpt"], 1), vae=OUT(ids["vae"]),
                        positive=positive, negative=negative)
    extra = dict(detailer_extra or {})
    if refiner:  # the refiner's pipe: its own model and its own conditioning (other text, the same node)
        ids["refiner_unet"] = g.add("UNETLoader", unet_name=names[refiner], weight_dtype="default")
        ids["refiner_model"] = g.add("TestRecordingModel", model=OUT(ids["refiner_unet"]), tag="refiner")
        ids["refiner_positive"] = g.add("TestTextConditioning", seed=11, tokens=8, dim=4096, scale=0.1)
        ids["refiner_negative"] = g.add("TestTextConditioning", seed=12, tokens=8, dim=4096, scale=0.1)
        refiner_inputs = {**inputs, "positive": OUT(ids["refiner_positive"]), "negative": OUT(ids["refiner_negative"])}
        ids["refiner_condition"] = g.add(condition, **refiner_inputs)
        ids["refiner_pipe"] = g.add(OUR_TO_BASIC_PIPE, model=OUT(ids["refiner_model"]), clip=OUT(ids["ckpt"], 1),
                                    vae=OUT(ids["vae"]), positive=OUT(ids["refiner_condition"], 0),
                                    negative=OUT(ids["refiner_condition"], 1))
        extra["refiner_basic_pipe_opt"] = OUT(ids["refiner_pipe"])
    ids["segs"] = g.add(OUR_MASK_TO_SEGS, mask=OUT(ids["clip"], 1), **mask_to_segs_inputs(crop_factor=2.0))
    ids["detailer"] = g.add(OUR_DETAILER, image_frames=frames_out, segs=OUT(ids["segs"]), basic_pipe=OUT(ids["pipe"]),
                            crop_mode=crop_mode, **detail.inputs(), **extra)
    ids["paste"] = g.add(OUR_PASTE, image=frames_out, segs=OUT(ids["detailer"]), feather=0, alpha=255)
    ids["sink"] = g.add("TestSink", images=OUT(ids["paste"]), segs=OUT(ids["detailer"]))
    return Pipeline(g, ids, clip, detail)


def reached(recorded: Recorded, key: str, tag: str = "base") -> list[tuple[torch.Tensor, tuple]]:
    """``(model input, the UNet call's x shape)`` of every recorded call of ``tag``."""
    calls = [c for c in recorded.unet_calls if c["tag"] == tag]
    assert calls, f"no UNet call of {tag}"
    missing = [c["x_shape"] for c in calls if key not in c["frame_conds"]]
    assert not missing, f"{key} reached no model call of {tag}"
    return [(c["frame_conds"][key], c["x_shape"]) for c in calls]


def check_paste(recorded: Recorded) -> None:
    frames, pasted = recorded.frames(), recorded.output("paste")
    clip = recorded.pipeline.clip
    outside = seg_union_masks(recorded.segs(), frames.shape[0], clip.height, clip.width) == 0
    assert torch.equal(pasted[outside], frames[outside]), "pixels outside every mask changed"
    assert bool(torch.isfinite(pasted).all()) and not torch.equal(pasted, frames)


def wan_vae(comfy, names):
    (vae,) = comfy.node_class("VAELoader")().load_vae(vae_name=names["wan_vae"])
    return vae


def union_rect(recorded: Recorded) -> tuple[int, int, int, int]:
    (seg,) = recorded.segs()[1]
    return tuple(int(v) for v in seg.crop_region)


def comfy_cut(comfy, vae, latent: torch.Tensor, rect, height: int, width: int) -> torch.Tensor:
    """What ComfyUI's VAE makes of a full-frame latent's frames cut at ``rect`` and scaled to ``width`` x
    ``height`` (the detailer's documented resize), per 16-channel group; a group of one value per channel
    (the "empty" latent) rebuilt at the size. In the model's latent space (``process_latent_in``)."""
    import comfy.latent_formats as latent_formats

    resize = comfy.pack_module("core.images").resize_frames
    x1, y1, x2, y2 = rect
    groups = []
    for start in range(0, latent.shape[1], WAN_CHANNELS):
        part = latent[:, start : start + WAN_CHANNELS].to(torch.float32)
        if bool((part.amax(dim=(-2, -1)) == part.amin(dim=(-2, -1))).all()):
            cut = part[..., :1, :1].expand(*part.shape[:-2], height // 8, width // 8)
        else:
            pixels = vae.decode(part)
            pixels = pixels.reshape(-1, *pixels.shape[-3:])
            cut = vae.encode(resize(pixels[:, y1:y2, x1:x2], height, width))[:, :, : part.shape[2]].to(torch.float32)
        groups.append(latent_formats.Wan21().process_in(cut))
    return torch.cat(groups, dim=1)


def check_image_part(comfy, names, recorded: Recorded, concat: torch.Tensor, image: slice, report, what: str) -> None:
    """The image channels of ``c_concat`` in every call equal ComfyUI's VAE's cut of the node's latent."""
    source = recorded.output("condition", 0)[0][1]["concat_latent_image"]
    height, width = concat.shape[-2] * 8, concat.shape[-1] * 8
    with torch.inference_mode():  # as ComfyUI runs nodes (the recorded tensors are inference tensors)
        expected = comfy_cut(comfy, wan_vae(comfy, names), source, union_rect(recorded), height, width)
    difference = float((concat[:1, image] - expected).abs().max())
    report["measurements"].append(f"{what}: concat latent vs ComfyUI's VAE on the cut frames, largest difference "
                                  f"{difference:.2e} (latent std {float(expected.std()):.2f})")
    assert difference < 1e-3 * max(1.0, float(expected.abs().max()))


@pytest.mark.parametrize("crop_mode", ["union", "tracked"])
def test_image_to_video_start_frame_reaches_the_model_cut_to_the_seg(comfy, video_model_names, crop_mode, report):
    """WanImageToVideo with the clip's first frame: c_concat = [4 mask channels | 16 image channels],
    at the noise's size; the mask keeps latent frame 0 (the start image) and frees the rest."""
    pipeline = conditioned_pipeline(video_model_names, "wan_i2v", "WanImageToVideo", {"start_image": "first"},
                                    crop_mode=crop_mode)
    recorded = run_recorded(comfy, pipeline, f"Wan 2.1 I2V detailer, {crop_mode}")
    for concat, x_shape in reached(recorded, "c_concat"):
        assert concat.shape == (x_shape[0], 20, *x_shape[2:]), "the concat has the noise's latent size"
        assert float(concat[:, :4, 0].min()) == 1.0 and float(concat[:, :4, 1:].max()) == 0.0
    assert x_shape[2] == LATENT_FRAMES
    if crop_mode == "union":
        check_image_part(comfy, video_model_names, recorded, concat, slice(4, 20), report, "WanImageToVideo")
    check_paste(recorded)


def test_first_last_frame_masks_reach_the_model_slot_by_slot(comfy, video_model_names, report):
    """WanFirstLastFrameToVideo: the 4-channel mask keeps frame 0 (all four slots of latent frame 0)
    and the last frame (the last slot of the last latent frame), cut to the crop."""
    pipeline = conditioned_pipeline(video_model_names, "wan_flf", "WanFirstLastFrameToVideo",
                                    {"start_image": "first", "end_image": "last"})
    recorded = run_recorded(comfy, pipeline, "Wan 2.1 FLF2V detailer")
    for concat, x_shape in reached(recorded, "c_concat"):
        assert concat.shape == (x_shape[0], 20, *x_shape[2:])
        known = concat[0, :4].amin(dim=(-2, -1))  # [slot, latent frame]: 1 where the frame is kept
        assert known[:, 0].tolist() == [1.0] * 4 and known[3, -1] == 1.0 and float(known[:, 1:-1].max()) == 0.0
    check_image_part(comfy, video_model_names, recorded, concat, slice(4, 20), report, "WanFirstLastFrameToVideo")
    check_paste(recorded)


def test_fun_inpaint_start_and_end_reach_the_model_cut(comfy, video_model_names):
    pipeline = conditioned_pipeline(video_model_names, "wan_i2v", "WanFunInpaintToVideo",
                                    {"start_image": "first", "end_image": "last"})
    recorded = run_recorded(comfy, pipeline, "Wan 2.1 Fun inpaint detailer")
    for concat, x_shape in reached(recorded, "c_concat"):
        assert concat.shape == (x_shape[0], 20, *x_shape[2:])
    check_paste(recorded)


@pytest.mark.parametrize("crop_mode", ["union", "tracked"])
def test_fun_control_video_and_start_image_reach_the_model_cut(comfy, video_model_names, crop_mode, report):
    """WanFunControlToVideo: c_concat = [control video 16 | start image 16], no mask; the control video
    is the clip itself, cut at the crop like the frames the model samples."""
    pipeline = conditioned_pipeline(video_model_names, "wan_fun_control", "WanFunControlToVideo",
                                    {"start_image": "first", "control_video": "clip"}, crop_mode=crop_mode)
    recorded = run_recorded(comfy, pipeline, f"Wan 2.1 Fun control detailer, {crop_mode}")
    for concat, x_shape in reached(recorded, "c_concat"):
        assert concat.shape == (x_shape[0], 32, *x_shape[2:])
    if crop_mode == "union":
        check_image_part(comfy, video_model_names, recorded, concat, slice(0, 32), report, "WanFunControlToVideo")
    check_paste(recorded)


def test_wan22_fun_control_concat_and_reference_reach_the_model(comfy, video_model_names):
    """Wan22FunControlToVideo: c_concat [control 16 | mask 4 | image 16] and its reference image's latent,
    fitted whole to the crop (the ref_conv reads it on the sampled latent's grid)."""
    pipeline = conditioned_pipeline(video_model_names, "wan22_fun_control", "Wan22FunControlToVideo",
                                    {"ref_image": "first", "control_video": "clip"})
    recorded = run_recorded(comfy, pipeline, "Wan 2.2 Fun control detailer")
    for (concat, x_shape), (reference, _) in zip(reached(recorded, "c_concat"), reached(recorded, "reference_latent")):
        assert concat.shape == (x_shape[0], 36, *x_shape[2:])
        assert tuple(reference.shape[-2:]) == tuple(x_shape[-2:])
    check_paste(recorded)


def test_camera_rays_reach_the_model_at_the_sampling_size(comfy, video_model_names):
    """WanCameraImageToVideo with WanCameraEmbedding's rays [1, 24, T, H, W]: cut to the crop, at the
    sampling size in pixels (the camera adapter unshuffles them by 8)."""
    embedding = ("WanCameraEmbedding", {"camera_pose": "Pan Left", "width": SIZE, "height": SIZE, "length": FRAMES})
    pipeline = conditioned_pipeline(video_model_names, "wan_camera", "WanCameraImageToVideo",
                                    {"start_image": "first", "camera_conditions": embedding})
    recorded = run_recorded(comfy, pipeline, "Wan 2.1 camera detailer")
    for rays, x_shape in reached(recorded, "camera_conditions"):
        assert rays.shape[1:] == (24, x_shape[2], x_shape[3] * 8, x_shape[4] * 8)
    for concat, x_shape in reached(recorded, "c_concat"):
        assert concat.shape[-3:] == x_shape[-3:]
    check_paste(recorded)


def test_phantom_subject_latents_are_fitted_to_the_crop(comfy, video_model_names):
    """WanPhantomSubjectToVideo: the subject image's latent is appended to the sampled frames in time, so
    it must have the crop's latent size (fitted whole, not cut)."""
    pipeline = conditioned_pipeline(video_model_names, "wan", "WanPhantomSubjectToVideo", {"images": "first"})
    recorded = run_recorded(comfy, pipeline, "Wan 2.1 Phantom detailer")
    for subject, x_shape in reached(recorded, "time_dim_concat"):
        assert subject.shape[-2:] == x_shape[-2:] and subject.shape[2] == 1
    check_paste(recorded)


def test_a_conditioning_for_another_length_is_refused_naming_the_fix(comfy, video_model_names):
    pipeline = conditioned_pipeline(video_model_names, "wan_i2v", "WanImageToVideo", {"start_image": "first"})
    pipeline.graph.set(pipeline.ids["condition"], length=33)
    result = comfy.run(pipeline.graph, label="I2V conditioning of 33 frames for a 17-frame clip", check=False)
    message = str((result.error or {}).get("exception_message"))
    assert not result.success and "concat_latent_image" in message and "length" in message, message


@pytest.mark.parametrize("handover", ["ratio", "boundary"])
def test_wan22_experts_hand_over_as_the_templates_do(comfy, video_model_names, handover, report):
    """Wan 2.2 A14B's two image-to-video experts as the base and the refiner pipe (the tiny I2V model
    loaded twice, each pipe with its own WanImageToVideo conditioning). refiner_ratio 0.5 over 4 steps splits the
    schedule where ComfyUI's Wan 2.2 templates do (two KSamplerAdvanced: steps 0-2 and 2-4);
    refiner_boundary 0.875 hands over at the first step below that noise level, as Wan's reference code.
    The refiner continues from the leftover noise; each expert samples its own pipe's conditioning, cut."""
    import comfy.samplers as comfy_samplers

    extra = {"refiner_boundary": 0.875} if handover == "boundary" else {}
    pipeline = conditioned_pipeline(video_model_names, "wan_i2v", "WanImageToVideo", {"start_image": "first"},
                                    refiner="wan_i2v", detailer_extra=extra, steps=4)
    pipeline.graph.set(pipeline.ids["detailer"], denoise=1.0)
    recorded = run_recorded(comfy, pipeline, f"Wan 2.2 experts, handover by {handover}")
    base = [c for c in recorded.sample_calls if c["tag"] == "base"]
    refiner = [c for c in recorded.sample_calls if c["tag"] == "refiner"]
    assert len(base) == 1 and len(refiner) == 1
    (unet,) = comfy.node_class("UNETLoader")().load_unet(video_model_names["wan_i2v"], "default")
    template = [float(s) for s in comfy_samplers.calculate_sigmas(unet.get_model_object("model_sampling"), "simple", 4)]
    switch = 2 if handover == "ratio" else sum(1 for sigma in template[:-1] if sigma >= 0.875)
    assert base[0]["sigmas"] == pytest.approx(template[: switch + 1], abs=1e-6)
    assert refiner[0]["sigmas"] == pytest.approx(template[switch:], abs=1e-6)
    assert refiner[0]["noise_is_zero"], "the refiner continues from the leftover noise"
    report["measurements"].append(f"Wan 2.2 experts by {handover}: schedule {[round(s, 3) for s in template]}, "
                                  f"the high-noise expert runs {switch} of 4 steps")
    texts = {tag: {c["text_sum"] for c in recorded.unet_calls if c["tag"] == tag} for tag in ("base", "refiner")}
    assert texts["base"] and texts["refiner"] and not texts["base"] & texts["refiner"], "each expert its own text"
    for tag in ("base", "refiner"):
        for concat, x_shape in reached(recorded, "c_concat", tag):
            assert concat.shape == (x_shape[0], 20, *x_shape[2:])
    check_paste(recorded)


@pytest.mark.skipif(not slow_tests_enabled(), reason="slow tier: set ADT_SLOW=1 (ComfyUI builds the Wan 2.2 VAE at full "
                                                      "width, 705M parameters, whatever its file holds)")
def test_wan22_ti2v_5b_details_with_its_own_vae_and_frame_uniform_masks(comfy, video_model_names, report):
    """Wan 2.2 TI2V 5B (48-channel latents, 16 px stride) with its VAE: one latent per SEG at multiples of
    32 px (stride 16 x patch 2); the model averages the noise mask over each latent frame into its
    timestep, so each frame's mask is uniform (1 in frames holding the SEG)."""
    clip = ClipSettings(frames=9, width=SIZE, height=SIZE, seed=5, x_start=0.35, x_end=0.65)
    detail = DetailSettings(guide_size=64, max_size=64, seed=3, steps=2, cfg=4.0, sampler_name="euler",
                            scheduler="simple", denoise=0.6, noise_mask_feather=0)
    g, ids = Graph(), {}
    ids["clip"] = g.add("TestClipSource", **clip.inputs())
    ids["unet"] = g.add("UNETLoader", unet_name=video_model_names["wan22_ti2v"], weight_dtype="default")
    ids["model"] = g.add("TestRecordingModel", model=OUT(ids["unet"]), tag="base")
    ids["vae"] = g.add("VAELoader", vae_name=video_model_names["wan22_vae"])
    ids["ckpt"] = g.add("CheckpointLoaderSimple", ckpt_name=CHECKPOINT_NAME)
    ids["positive"] = g.add("TestTextConditioning", seed=1, tokens=8, dim=4096, scale=0.1)
    ids["negative"] = g.add("TestTextConditioning", seed=2, tokens=8, dim=4096, scale=0.1)
    ids["pipe"] = g.add(OUR_TO_BASIC_PIPE, model=OUT(ids["model"]), clip=OUT(ids["ckpt"], 1), vae=OUT(ids["vae"]),
                        positive=OUT(ids["positive"]), negative=OUT(ids["negative"]))
    ids["segs"] = g.add(OUR_MASK_TO_SEGS, mask=OUT(ids["clip"], 1), **mask_to_segs_inputs(crop_factor=2.0))
    ids["detailer"] = g.add(OUR_DETAILER, image_frames=OUT(ids["clip"], 0), segs=OUT(ids["segs"]),
                            basic_pipe=OUT(ids["pipe"]), crop_mode="tracked", **detail.inputs())
    ids["paste"] = g.add(OUR_PASTE, image=OUT(ids["clip"], 0), segs=OUT(ids["detailer"]), feather=0, alpha=255)
    ids["sink"] = g.add("TestSink", images=OUT(ids["paste"]), segs=OUT(ids["detailer"]))
    recorded = run_recorded(comfy, Pipeline(g, ids, clip, detail), "Wan 2.2 TI2V 5B detailer, 9 frames")
    (call,) = recorded.sample_calls
    batch, channels, time, height, width = call["latent_shape"]
    assert (batch, channels, time) == (1, 48, 3) and (height * 16) % 32 == 0 and (width * 16) % 32 == 0
    mask = call["denoise_mask"]
    frames_first = mask.movedim(2, 0).flatten(1) if mask.ndim == 5 else mask.flatten(1)  # [T', values]
    assert frames_first.shape[0] == time
    assert bool((frames_first.amax(dim=1) == frames_first.amin(dim=1)).all()), "each latent frame's mask is uniform"
    report["measurements"].append(f"Wan 2.2 TI2V 5B: latent {call['latent_shape']}, mask {tuple(mask.shape)}")
    check_paste(recorded)
