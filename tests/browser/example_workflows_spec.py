"""What the example workflows contain: nodes, widget values by name, and links.

``tools/make_example_workflows.py`` builds each graph in ComfyUI's real frontend from these
specs and saves what the frontend serializes, so the files in ``example_workflows/`` are in
the frontend's own format. Plain Python, no ComfyUI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from example_clip import CLIP_FILE_NAME, MASK_CHANNEL, MASK_THRESHOLD

CHECKPOINT = "v1-5-pruned-emaonly.safetensors"
CONTROLNET = "control_v11f1e_sd15_tile.safetensors"
OURS = "AnimateDiffDetailer_"

# Impact Pack's node properties in workflows its users save (what the frontend records for a registry pack).
IMPACT_PROPERTIES = {"cnr_id": "comfyui-impact-pack", "ver": "8.8.1"}
# SPEC §2: the detailer's widget values in a workflow saved before noise_mask_feather existed.
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


def _source_nodes(detail_prefix: str, mask_to_segs: str, to_basic_pipe: str) -> list[NodeSpec]:
    """Checkpoint, prompts, the demo clip, and the subject mask made with ComfyUI's own nodes."""
    return [
        NodeSpec("checkpoint", "CheckpointLoaderSimple", (40, 60), {"ckpt_name": CHECKPOINT}),
        NodeSpec("positive", "CLIPTextEncode", (440, 40), {"text": "a detailed glowing orb, intricate texture, sharp focus"},
                 title="Positive prompt"),
        NodeSpec("negative", "CLIPTextEncode", (440, 280), {"text": "blurry, low quality"}, title="Negative prompt"),
        NodeSpec("pipe", to_basic_pipe, (860, 60)),
        NodeSpec("frames", "LoadImage", (40, 420), {"image": CLIP_FILE_NAME}, title="Load frames (animated WebP)"),
        NodeSpec("channel", "ImageToMask", (440, 520), {"channel": MASK_CHANNEL}),
        NodeSpec("threshold", "ThresholdMask", (440, 640), {"value": MASK_THRESHOLD}),
        NodeSpec("segs", mask_to_segs, (860, 420), {"combined": False, "crop_factor": 3.0, "bbox_fill": False,
                                                    "drop_size": 10, "contour_fill": True}),
    ]


_SOURCE_LINKS = [
    ("checkpoint", 0, "pipe", "model"), ("checkpoint", 1, "pipe", "clip"), ("checkpoint", 2, "pipe", "vae"),
    ("checkpoint", 1, "positive", "clip"), ("checkpoint", 1, "negative", "clip"),
    ("positive", 0, "pipe", "positive"), ("negative", 0, "pipe", "negative"),
    ("frames", 0, "channel", "image"), ("channel", 0, "threshold", "mask"), ("threshold", 0, "segs", "mask"),
]

_OUR_DETAILER_WIDGETS = {
    "guide_size": 256, "guide_size_for": True, "max_size": 512, "seed": 20241125, "control_after_generate": "fixed",
    "steps": 12, "cfg": 6.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 0.5, "refiner_ratio": 0.2,
    "noise_mask_feather": 8, "crop_mode": "tracked", "context_length": -1,
}


def _detail_and_paste(detailer: str, paste: str, segs_from: str) -> tuple[list[NodeSpec], list]:
    nodes = [
        NodeSpec("detailer", detailer, (1280, 60), dict(_OUR_DETAILER_WIDGETS)),
        NodeSpec("paste", paste, (1700, 60), {"feather": 5, "alpha": 255}),
        NodeSpec("save", "SaveImage", (2060, 60), {"filename_prefix": "animatediff_detailer/detailed"}),
    ]
    links = [
        ("frames", 0, "detailer", "image_frames"), (segs_from, 0, "detailer", "segs"), ("pipe", 0, "detailer", "basic_pipe"),
        ("frames", 0, "paste", "image"), ("detailer", 0, "paste", "segs"), ("paste", 0, "save", "images"),
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


EXAMPLES = (video_detailer, video_detailer_controlnet, impact_shared_video_detailer)


def all_specs() -> list[WorkflowSpec]:
    return [make() for make in EXAMPLES]
