"""What the example workflows contain: nodes, widget values by name, and links.

``tools/make_example_workflows.py`` builds each graph in ComfyUI's real frontend from these
specs and saves what the frontend serializes, so the files in ``example_workflows/`` are in
the frontend's own format. Plain Python, no ComfyUI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from example_clip import CLIP_FILE_NAME, MASK_CHANNEL, MASK_THRESHOLD, VIDEO_FILE_NAME

CHECKPOINT = "v1-5-pruned-emaonly.safetensors"
CONTROLNET = "control_v11f1e_sd15_tile.safetensors"
OURS = "AnimateDiffDetailer_"

# Wan 2.1 text to video 1.3B: the files ComfyUI's own template loads (comfyui_workflow_templates,
# "text_to_video_wan"), by models folder, with the download addresses it gives for them.
_WAN21_FILES = "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files"
WAN21_MODEL = "wan2.1_t2v_1.3B_fp16.safetensors"  # diffusion_models
WAN21_TEXT_ENCODER = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"  # text_encoders
WAN21_VAE = "wan_2.1_vae.safetensors"  # vae
WAN21_NOT_QUEUED = ("running it needs the real umT5-XXL text encoder (CLIPLoader type wan), which cannot be "
                    "shrunk to a test model: the browser tier loads and checks it but does not queue it")

# Wan 2.2 A14B image to video: the files ComfyUI's own template loads (comfyui_workflow_templates,
# "video_wan2_2_14B_i2v"): two experts, the same umT5-XXL text encoder and the Wan 2.1 VAE, with the
# download addresses it gives for them (the text encoder's in the Wan 2.1 repository).
_WAN22_FILES = "https://huggingface.co/Comfy-Org/Wan_2.2_ComfyUI_Repackaged/resolve/main/split_files"
WAN22_I2V_HIGH_NOISE = "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors"  # diffusion_models
WAN22_I2V_LOW_NOISE = "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors"  # diffusion_models
WAN22_NOT_QUEUED = WAN21_NOT_QUEUED

# SAM3.1, as ComfyUI's own SAM3 blueprints load it (blueprints/Video Segmentation (SAM3).json): CheckpointLoaderSimple
# gives the model and its text encoder; the download address is the blueprint's.
SAM31_CHECKPOINT = "sam3.1_multiplex_fp16.safetensors"  # checkpoints
SAM31_URL = f"https://huggingface.co/Comfy-Org/sam3.1/resolve/main/checkpoints/{SAM31_CHECKPOINT}"
SAM3_NOT_QUEUED = ("running it needs SAM3.1's weights: ComfyUI builds SAM3 at its full size (519.7M parameters, plus "
                   "its text encoder) whatever the checkpoint holds, so no test model can be made: the browser tier "
                   "loads and checks it but does not queue it")

# Impact Pack's node properties in workflows its users save (what the frontend records for a registry pack).
IMPACT_PROPERTIES = {"cnr_id": "comfyui-impact-pack", "ver": "8.8.1"}
# docs/BEHAVIOUR.md §2: the detailer's widget values in a workflow saved before noise_mask_feather existed.
IMPACT_OLD_DETAILER_VALUES = [512, True, 768, 565511830783268, "fixed", 6, 2, "lcm", "normal", 0.5, 0.2]


@dataclass
class NodeSpec:
    key: str
    type: str
    pos: tuple[int, int]
    widgets: dict[str, Any] = field(default_factory=dict)  # widget name -> value
    title: str | None = None


@dataclass
class WorkflowSpec:
    name: str  # file stem in example_workflows/
    description: str
    nodes: list[NodeSpec]
    links: list[tuple[str, int, str, str]]  # (from key, output slot, to key, input name)
    # Applied to the frontend's serialization: node key -> widget values to store instead (an older save).
    saved_widget_values: dict[str, list] = field(default_factory=dict)
    # Node key -> extra node properties (e.g. the registry id of the pack that defined the node).
    properties: dict[str, dict] = field(default_factory=dict)
    # Why the browser tier only loads and checks this example and does not queue it (None: it is queued).
    not_queued: str | None = None


def _prompt_nodes(top: int) -> list[NodeSpec]:
    """The positive and negative prompts, in the second column from ``top`` down."""
    return [
        NodeSpec("positive", "CLIPTextEncode", (440, top), {"text": "a detailed glowing orb, intricate texture, sharp focus"},
                 title="Positive prompt"),
        NodeSpec("negative", "CLIPTextEncode", (440, top + 240), {"text": "blurry, low quality"}, title="Negative prompt"),
    ]


def _clip_and_mask_nodes(mask_to_segs: str, top: int) -> list[NodeSpec]:
    """The demo clip and the subject mask made with ComfyUI's own nodes, then SEGS, from ``top`` down."""
    return [
        NodeSpec("frames", "LoadImage", (40, top), {"image": CLIP_FILE_NAME}, title="Load frames (animated WebP)"),
        NodeSpec("channel", "ImageToMask", (440, top + 100), {"channel": MASK_CHANNEL}),
        NodeSpec("threshold", "ThresholdMask", (440, top + 220), {"value": MASK_THRESHOLD}),
        NodeSpec("segs", mask_to_segs, (860, top), {"combined": False, "crop_factor": 3.0, "bbox_fill": False,
                                                    "drop_size": 10, "contour_fill": True}),
    ]


def _source_nodes(detail_prefix: str, mask_to_segs: str, to_basic_pipe: str) -> list[NodeSpec]:
    """Checkpoint, prompts, the demo clip, and the subject mask made with ComfyUI's own nodes."""
    return ([NodeSpec("checkpoint", "CheckpointLoaderSimple", (40, 60), {"ckpt_name": CHECKPOINT})] + _prompt_nodes(40)
            + [NodeSpec("pipe", to_basic_pipe, (860, 60))] + _clip_and_mask_nodes(mask_to_segs, 420))


def _pipe_links(model: tuple[str, int], clip: tuple[str, int], vae: tuple[str, int]) -> list[tuple[str, int, str, str]]:
    """Model, CLIP and VAE (node key, output slot) into the pipe, the CLIP into both prompts, the prompts into the pipe."""
    return [
        (*model, "pipe", "model"), (*clip, "pipe", "clip"), (*vae, "pipe", "vae"),
        (*clip, "positive", "clip"), (*clip, "negative", "clip"),
        ("positive", 0, "pipe", "positive"), ("negative", 0, "pipe", "negative"),
    ]


_CLIP_AND_MASK_LINKS = [("frames", 0, "channel", "image"), ("channel", 0, "threshold", "mask"), ("threshold", 0, "segs", "mask")]
_SOURCE_LINKS = _pipe_links(("checkpoint", 0), ("checkpoint", 1), ("checkpoint", 2)) + _CLIP_AND_MASK_LINKS

_OUR_DETAILER_WIDGETS = {
    "guide_size": 256, "guide_size_for": True, "max_size": 512, "seed": 20241125, "control_after_generate": "fixed",
    "steps": 12, "cfg": 6.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 0.5, "refiner_ratio": 0.2,
    "noise_mask_feather": 8, "crop_mode": "tracked", "context_length": -1,
}


def _detail_and_paste(detailer: str, paste: str, segs_from: str, widgets: dict[str, Any] | None = None,
                      output: NodeSpec | None = None, x: int = 1280) -> tuple[list[NodeSpec], list]:
    """The detailer (``widgets``, default ours) at column ``x``, the paste, and ``output`` (default
    Save Image), whose ``images`` input takes the pasted frames."""
    output = output or NodeSpec("save", "SaveImage", (2060, 60), {"filename_prefix": "animatediff_detailer/detailed"})
    nodes = [
        NodeSpec("detailer", detailer, (x, 60), dict(widgets or _OUR_DETAILER_WIDGETS)),
        NodeSpec("paste", paste, (x + 420, 60), {"feather": 5, "alpha": 255}),
        output,
    ]
    links = [
        ("frames", 0, "detailer", "image_frames"), (segs_from, 0, "detailer", "segs"), ("pipe", 0, "detailer", "basic_pipe"),
        ("frames", 0, "paste", "image"), ("detailer", 0, "paste", "segs"), ("paste", 0, output.key, "images"),
    ]
    return nodes, links


def video_detailer() -> WorkflowSpec:
    """(a) Video detail with our nodes only."""
    detail_nodes, detail_links = _detail_and_paste(OURS + "SEGSDetailerForAnimateDiff", OURS + "SEGSPaste", "segs")
    return WorkflowSpec(
        "video_detailer",
        "Detail a moving subject in every frame: tracked crop, one sampling pass over all frames, exact paste.",
        _source_nodes(OURS, OURS + "MaskToSEGS", OURS + "ToBasicPipe") + detail_nodes,
        _SOURCE_LINKS + detail_links,
    )


def video_detailer_controlnet() -> WorkflowSpec:
    """(b) The same with the subject tracked (one SEG per subject track, from the per-frame mask), a
    ControlNet per SEG (tile: the crop itself is the hint) and its hints previewed."""
    detail_nodes, detail_links = _detail_and_paste(OURS + "SEGSDetailerForAnimateDiff", OURS + "SEGSPaste", "cnet_segs")
    sources = [n for n in _source_nodes(OURS, OURS + "MaskToSEGS", OURS + "ToBasicPipe") if n.key != "segs"]
    nodes = sources + [
        NodeSpec("tracks", OURS + "TrackSEGS", (860, 420),
                 {"threshold": 0.5, "dilation": 0, "crop_factor": 3.0, "drop_size": 10, "max_gap": 4,
                  "min_track_length": 3, "max_tracks": 0, "order_by": "size", "label": "orb"},
                 title="Track SEGS (one SEG per subject)"),
        NodeSpec("controlnet", "ControlNetLoader", (860, 800), {"control_net_name": CONTROLNET}),
        NodeSpec("cnet_segs", OURS + "ControlNetForSEGS", (1280, 640),
                 {"strength": 0.6, "start_percent": 0.0, "end_percent": 0.8}),
        NodeSpec("hints", "PreviewImage", (1700, 640), title="ControlNet hints"),
    ] + detail_nodes
    source_links = [link for link in _SOURCE_LINKS if link[2] != "segs"]
    links = source_links + [
        ("frames", 0, "tracks", "image_frames"), ("threshold", 0, "tracks", "mask"),
        ("tracks", 0, "cnet_segs", "segs"), ("controlnet", 0, "cnet_segs", "control_net"),
        ("detailer", 1, "hints", "images"),
    ] + detail_links
    return WorkflowSpec("video_detailer_controlnet",
                        "Video detail of a tracked subject (Track SEGS) with a ControlNet per SEG; the detailer's "
                        "cnet_images show the hints used.",
                        nodes, links)


def impact_shared_video_detailer() -> WorkflowSpec:
    """(c) The shape Impact Pack users share: Impact's node ids, saved before noise_mask_feather existed."""
    detail_nodes, detail_links = _detail_and_paste("SEGSDetailerForAnimateDiff", "SEGSPaste", "segs")
    nodes = _source_nodes("", "MaskToSEGS_for_AnimateDiff", "ToBasicPipe") + detail_nodes
    impact_keys = ("pipe", "segs", "detailer", "paste")
    return WorkflowSpec(
        "impact_shared_video_detailer",
        "A workflow as Impact Pack users share it (Impact node ids, an older save of the detailer); runs on this pack alone.",
        nodes, _SOURCE_LINKS + detail_links,
        saved_widget_values={"detailer": list(IMPACT_OLD_DETAILER_VALUES), "segs": [False, 3.0, False, 10, True]},
        properties={key: dict(IMPACT_PROPERTIES) for key in impact_keys},
    )


# Sampling as ComfyUI's Wan 2.1 template samples (cfg 6, uni_pc, simple; 20 steps instead of its 30), the
# crop sized for Wan's 480p-832 px range (sampling sizes are rounded to multiples of 16 px).
_WAN21_DETAILER_WIDGETS = dict(_OUR_DETAILER_WIDGETS, guide_size=512, max_size=832, steps=20, cfg=6.0,
                               sampler_name="uni_pc", scheduler="simple", denoise=0.5)


def _download(directory: str, name: str, url: str) -> dict:
    """The node property ComfyUI's templates carry so the frontend can offer a missing file's download."""
    return {"models": [{"name": name, "url": url, "directory": directory}]}


def _wan21_download(directory: str, name: str) -> dict:
    """A file of ComfyUI's Wan 2.1 template, at the address it gives."""
    return _download(directory, name, f"{_WAN21_FILES}/{directory}/{name}?download=true")


def _wan22_download(directory: str, name: str, files: str = _WAN22_FILES) -> dict:
    """A file of ComfyUI's Wan 2.2 14B image-to-video template, at the address it gives (``files``:
    the repository; that template's addresses have no ``?download=true``)."""
    return _download(directory, name, f"{files}/{directory}/{name}")


def video_detailer_wan21() -> WorkflowSpec:
    """(d) A native video model: Wan 2.1 T2V 1.3B loaded as ComfyUI's template loads it; each SEG's crops
    are encoded as one video latent. Saved as a video (Create Video at Wan's 16 fps, Save Video)."""
    output = NodeSpec("video", "CreateVideo", (2060, 60), {"fps": 16.0})
    detail_nodes, detail_links = _detail_and_paste(OURS + "SEGSDetailerForAnimateDiff", OURS + "SEGSPaste", "segs",
                                                   _WAN21_DETAILER_WIDGETS, output)
    nodes = [
        NodeSpec("unet", "UNETLoader", (40, 60), {"unet_name": WAN21_MODEL, "weight_dtype": "default"}),
        NodeSpec("text_encoder", "CLIPLoader", (40, 220), {"clip_name": WAN21_TEXT_ENCODER, "type": "wan"}),
        NodeSpec("vae", "VAELoader", (40, 400), {"vae_name": WAN21_VAE}),
        NodeSpec("shift", "ModelSamplingSD3", (440, 40), {"shift": 8.0}),
        *_prompt_nodes(160),
        NodeSpec("pipe", OURS + "ToBasicPipe", (860, 60)),
        *_clip_and_mask_nodes(OURS + "MaskToSEGS", 540),
        *detail_nodes,
        NodeSpec("save", "SaveVideo", (2400, 60), {"filename_prefix": "animatediff_detailer/wan21_detailed",
                                                   "format": "auto", "codec": "auto"}),
    ]
    links = ([("unet", 0, "shift", "model")] + _pipe_links(("shift", 0), ("text_encoder", 0), ("vae", 0))
             + _CLIP_AND_MASK_LINKS + detail_links + [("video", 0, "save", "video")])
    return WorkflowSpec(
        "video_detailer_wan21",
        "Detail a moving subject with Wan 2.1 (a native video model): each SEG's crops are sampled as one video latent.",
        nodes, links,
        properties={"unet": _wan21_download("diffusion_models", WAN21_MODEL),
                    "text_encoder": _wan21_download("text_encoders", WAN21_TEXT_ENCODER),
                    "vae": _wan21_download("vae", WAN21_VAE)},
        not_queued=WAN21_NOT_QUEUED,
    )


# Sampling as ComfyUI's Wan 2.2 14B image-to-video template samples without its 4-step LoRAs (20
# steps, cfg 3.5, euler, simple, shift 5), the experts handing over at noise level 0.9 (the
# reference code's boundary for image to video). Denoise 0.75: with shift 5 a detail pass below
# about 0.65 starts under the boundary and the low-noise expert alone would sample; at 0.75 the
# high-noise expert takes the first 4 of the 20 steps, the low-noise one the other 16.
_WAN22_I2V_DETAILER_WIDGETS = dict(_WAN21_DETAILER_WIDGETS, cfg=3.5, sampler_name="euler", denoise=0.75,
                                   refiner_boundary=0.9)
WAN22_I2V_SHIFT = 5.0
# WanImageToVideo's size is the demo clip's (example_clip.make_example_clip: 8 frames of 160x128); its
# length is 9, the frame count the detailer pads 8 frames to for Wan's VAE (4n + 1 frames), so the
# start latent and mask cover every latent frame it samples.
WAN22_I2V_SIZE = {"width": 160, "height": 128, "length": 9, "batch_size": 1}


def video_detailer_wan22_i2v() -> WorkflowSpec:
    """(e) Wan 2.2 A14B image to video, loaded as ComfyUI's template loads it: the clip's first frame
    is WanImageToVideo's start image; two pipes share its conditioning, the high-noise expert's the
    base pipe and the low-noise expert's the refiner pipe, handing over at refiner_boundary 0.9. The
    detailer cuts the start frame (its latent and mask) to each SEG's crop. Saved as a video."""
    output = NodeSpec("video", "CreateVideo", (2480, 60), {"fps": 16.0})
    detail_nodes, detail_links = _detail_and_paste(OURS + "SEGSDetailerForAnimateDiff", OURS + "SEGSPaste", "segs",
                                                   _WAN22_I2V_DETAILER_WIDGETS, output, x=1700)
    nodes = [
        NodeSpec("unet_high", "UNETLoader", (40, 60), {"unet_name": WAN22_I2V_HIGH_NOISE, "weight_dtype": "default"},
                 title="High-noise expert"),
        NodeSpec("unet_low", "UNETLoader", (40, 200), {"unet_name": WAN22_I2V_LOW_NOISE, "weight_dtype": "default"},
                 title="Low-noise expert"),
        NodeSpec("text_encoder", "CLIPLoader", (40, 340), {"clip_name": WAN21_TEXT_ENCODER, "type": "wan"}),
        NodeSpec("vae", "VAELoader", (40, 520), {"vae_name": WAN21_VAE}),
        NodeSpec("shift_high", "ModelSamplingSD3", (440, 40), {"shift": WAN22_I2V_SHIFT}),
        NodeSpec("shift_low", "ModelSamplingSD3", (440, 160), {"shift": WAN22_I2V_SHIFT}),
        *_prompt_nodes(280),
        *_clip_and_mask_nodes(OURS + "MaskToSEGS", 660),
        NodeSpec("first_frame", "ImageFromBatch", (440, 1000), {"batch_index": 0, "length": 1}),
        NodeSpec("i2v", "WanImageToVideo", (860, 60), dict(WAN22_I2V_SIZE)),
        NodeSpec("pipe", OURS + "ToBasicPipe", (1280, 60), title="High noise"),
        NodeSpec("refiner_pipe", OURS + "ToBasicPipe", (1280, 260), title="Low noise"),
        *detail_nodes,
        NodeSpec("save", "SaveVideo", (2820, 60), {"filename_prefix": "animatediff_detailer/wan22_i2v_detailed",
                                                   "format": "auto", "codec": "auto"}),
    ]
    links = [
        ("unet_high", 0, "shift_high", "model"), ("unet_low", 0, "shift_low", "model"),
        ("text_encoder", 0, "positive", "clip"), ("text_encoder", 0, "negative", "clip"),
        ("frames", 0, "first_frame", "image"),
        ("positive", 0, "i2v", "positive"), ("negative", 0, "i2v", "negative"), ("vae", 0, "i2v", "vae"),
        ("first_frame", 0, "i2v", "start_image"),
    ]
    for pipe, model in (("pipe", "shift_high"), ("refiner_pipe", "shift_low")):
        links += [(model, 0, pipe, "model"), ("text_encoder", 0, pipe, "clip"), ("vae", 0, pipe, "vae"),
                  ("i2v", 0, pipe, "positive"), ("i2v", 1, pipe, "negative")]
    links += _CLIP_AND_MASK_LINKS + detail_links + [("refiner_pipe", 0, "detailer", "refiner_basic_pipe_opt"),
                                                    ("video", 0, "save", "video")]
    return WorkflowSpec(
        "video_detailer_wan22_i2v",
        "Detail a moving subject with Wan 2.2 A14B image to video: the clip's first frame is the start image "
        "(cut to each SEG's crop); the high-noise expert samples first, the low-noise one from noise level 0.9.",
        nodes, links,
        properties={"unet_high": _wan22_download("diffusion_models", WAN22_I2V_HIGH_NOISE),
                    "unet_low": _wan22_download("diffusion_models", WAN22_I2V_LOW_NOISE),
                    "text_encoder": _wan22_download("text_encoders", WAN21_TEXT_ENCODER, _WAN21_FILES),
                    "vae": _wan22_download("vae", WAN21_VAE)},
        not_queued=WAN22_NOT_QUEUED,
    )


def video_detailer_sam3() -> WorkflowSpec:
    """(f) A VIDEO in, a VIDEO out, the subjects found and tracked by ComfyUI's SAM3: Load Video -> SAM3 Video
    Track (a text prompt) -> SAM3 Track to SEGS (one SEG per tracked object) -> the VIDEO detailer -> Save
    Video, the frame rate and sound track carried through."""
    detailer_widgets = dict(_OUR_DETAILER_WIDGETS, feather=5)
    nodes = [
        NodeSpec("video", "LoadVideo", (40, 60), {"file": VIDEO_FILE_NAME}, title="Load video"),
        NodeSpec("sam3_checkpoint", "CheckpointLoaderSimple", (40, 440), {"ckpt_name": SAM31_CHECKPOINT},
                 title="SAM3.1 (model and text encoder)"),
        NodeSpec("checkpoint", "CheckpointLoaderSimple", (40, 700), {"ckpt_name": CHECKPOINT}),
        NodeSpec("components", "GetVideoComponents", (440, 60)),
        NodeSpec("sam3_prompt", "CLIPTextEncode", (440, 300), {"text": "orb"}, title="What SAM3 tracks"),
        *_prompt_nodes(620),
        NodeSpec("sam3_track", "SAM3_VideoTrack", (860, 60),
                 {"detection_threshold": 0.5, "max_objects": 4, "detect_interval": 1}),
        NodeSpec("pipe", OURS + "ToBasicPipe", (860, 620)),
        NodeSpec("objects", OURS + "SAM3TrackToSEGS", (1280, 60),
                 {"object_indices": "", "order_by": "size", "max_objects": 0, "crop_factor": 3.0, "label": "orb"}),
        NodeSpec("detailer", OURS + "VideoDetailerForEachPipe", (1700, 60), detailer_widgets),
        NodeSpec("save", "SaveVideo", (2120, 60), {"filename_prefix": "animatediff_detailer/sam3_detailed",
                                                   "format": "auto", "codec": "auto"}),
    ]
    links = [
        ("video", 0, "components", "video"), ("components", 0, "sam3_track", "images"),
        ("sam3_checkpoint", 0, "sam3_track", "model"), ("sam3_checkpoint", 1, "sam3_prompt", "clip"),
        ("sam3_prompt", 0, "sam3_track", "conditioning"),
        ("sam3_track", 0, "objects", "track_data"), ("components", 0, "objects", "image_frames"),
        *_pipe_links(("checkpoint", 0), ("checkpoint", 1), ("checkpoint", 2)),
        ("video", 0, "detailer", "video"), ("objects", 0, "detailer", "segs"), ("pipe", 0, "detailer", "basic_pipe"),
        ("detailer", 0, "save", "video"),
    ]
    return WorkflowSpec(
        "video_detailer_sam3",
        "Detail the objects SAM3 tracks in a video: Load Video, SAM3 Video Track with a text prompt, one SEG per "
        "tracked object, the VIDEO detailer, Save Video; frame rate and sound carried through.",
        nodes, links,
        properties={"sam3_checkpoint": _download("checkpoints", SAM31_CHECKPOINT, SAM31_URL)},
        not_queued=SAM3_NOT_QUEUED,
    )


EXAMPLES = (video_detailer, video_detailer_controlnet, impact_shared_video_detailer, video_detailer_wan21,
            video_detailer_wan22_i2v, video_detailer_sam3)


def all_specs() -> list[WorkflowSpec]:
    return [make() for make in EXAMPLES]
