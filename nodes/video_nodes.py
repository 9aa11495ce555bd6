"""Nodes for ComfyUI's own video types: SAM3's tracked objects as SEGS, and the detailer over a VIDEO.

* *SAM3 Track to SEGS*: ``SAM3_TRACK_DATA`` (SAM3 Video Track) -> one SEG per tracked object, its
  identity kept (``core/object_segs.py``; the masks unpacked with ComfyUI's helper, ``adapter/sam3.py``).
* *Detailer (SEGS, pipe) for VIDEO*: the detail-and-paste node over a VIDEO: its frames detailed,
  the frame rate, audio, metadata and bit depth carried through (``adapter/video.py``). Its inputs are
  the detail-and-paste node's (``detailer_inputs.py``, declared once) with ``video`` in place of
  ``image_frames``.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from ..core.images import check_frames
from ..core.object_segs import DEFAULT_LABEL, ORDER_BY, ObjectOptions, objects_to_segs, parse_indices
from .adapter.sam3 import read_track_data
from .adapter.video import read_video, video_with_frames
from .detailer import DETAILER_SEARCH_ALIASES, DetailerForEachPipeForAnimateDiff, bind_inputs
from .detailer_inputs import DETAIL_AND_PASTE, node_inputs
from .registry import PACK_CATEGORY
from .segs_nodes import crop_factor_input

log = logging.getLogger(__name__)

IMAGE_DETAILER_NAME = "Detailer (SEGS, pipe) for AnimateDiff"


class SAM3TrackToSEGS:
    """SAM3 Video Track's objects to SEGS: one SEG per tracked object, its identity and per-frame mask kept."""

    DESCRIPTION = (
        "Makes one SEG per object SAM3 Video Track followed, with its mask in every frame at the frames' size (empty "
        "where the object is absent). SAM3 keeps each object's identity through crossings, so nothing is re-linked: "
        "SEG <label>_<i> is SAM3's object i. Feeds the detailer's tracked crop."
    )
    RETURN_TYPES = ("SEGS",)
    OUTPUT_TOOLTIPS = (("One SEG per selected object, labelled <label>_<i> (i: SAM3's object index), with a mask per "
                        "frame."),)
    FUNCTION = "doit"
    CATEGORY = f"{PACK_CATEGORY}/segs"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, tuple]]:
        return {
            "required": {
                "track_data": ("SAM3_TRACK_DATA", {"tooltip": "The objects SAM3 Video Track followed over the clip (its "
                                                              "track_data output)."}),
                "object_indices": ("STRING", {"default": "", "tooltip": "SAM3 object indices to keep, comma-separated "
                                                                        "(such as '0,2', as in SAM3 Track to Mask); "
                                                                        "empty keeps every object."}),
                "order_by": (list(ORDER_BY), {"default": "size",
                                              "tooltip": "Order of the SEGS (and of max_objects): size = mean share of "
                                                         "the frame covered, largest first; index = SAM3's object index."}),
                "max_objects": ("INT", {"default": 0, "min": 0, "max": 1000, "step": 1,
                                        "tooltip": "Keep at most this many objects, the first ones by order_by (0 keeps "
                                                   "all)."}),
                "crop_factor": crop_factor_input("the object's bbox over the clip"),
                "label": ("STRING", {"default": DEFAULT_LABEL,
                                     "tooltip": "Base label: SAM3's object i becomes <label>_<i> (pick one downstream "
                                                "with SEGS Filter by Label)."}),
            },
            "optional": {
                "image_frames": ("IMAGE", {"tooltip": "The frames to make the SEGS for, as many as the track's (without "
                                                      "them, the SEGS take the size of the frames SAM3 tracked)."}),
            },
        }

    def doit(self, track_data: Any, object_indices: str, order_by: str, max_objects: int, crop_factor: float,
             label: str = DEFAULT_LABEL, image_frames: torch.Tensor | None = None) -> tuple[Any]:
        options = ObjectOptions(parse_indices(object_indices), order_by, int(max_objects), float(crop_factor),
                                label or DEFAULT_LABEL)
        track = read_track_data(track_data, "track_data")
        if image_frames is not None:
            frames = check_frames(image_frames, "image_frames")
            if frames.shape[0] != track.frame_count:
                raise ValueError(f"image_frames has {frames.shape[0]} frames but track_data has {track.frame_count}: "
                                 f"connect the frames SAM3 Video Track tracked (or frames of the same clip)")
            height, width = int(frames.shape[1]), int(frames.shape[2])
        elif track.orig_size is not None:
            height, width = track.orig_size
        else:
            raise ValueError("track_data does not say the size of its frames (no orig_size): connect image_frames")
        if track.masks is None:
            log.info("track_data holds no object (SAM3 found nothing): empty SEGS")
            return (((height, width), []),)
        return (objects_to_segs(track.masks, track.scores, height, width, options),)


def video_detailer_inputs(node: str = DETAIL_AND_PASTE, impact: bool = False) -> dict[str, dict[str, tuple]]:
    """The inputs of detailer ``node`` (declared once, in ``detailer_inputs``) with ``video`` in place of
    ``image_frames``, in the same place."""
    declared = node_inputs(node, impact)
    required = {}
    for name, spec in declared["required"].items():
        if name == "image_frames":
            required["video"] = ("VIDEO", {"tooltip": "The video to detail (Load Video, Create Video): its frames are "
                                                      "detailed; frame rate, audio and metadata pass through unchanged."})
        else:
            required[name] = spec
    return {"required": required, "optional": declared["optional"]}


class VideoDetailerForEachPipe:
    """Detail each SEG over all frames of a VIDEO and paste it; the VIDEO comes back with its audio and frame rate."""

    DESCRIPTION = (
        "Details every SEG over all frames of a VIDEO and pastes it, returning a VIDEO with the source's frame rate, "
        "audio, metadata and bit depth unchanged. It does what Detailer (SEGS, pipe) for AnimateDiff does for an IMAGE "
        "batch: Load Video -> this -> Save Video."
    )
    RETURN_TYPES = ("VIDEO", "SEGS", "BASIC_PIPE", "IMAGE")
    SEARCH_ALIASES = [*DETAILER_SEARCH_ALIASES, "detail video file", "face fix video"]
    RETURN_NAMES = ("video", "segs", "basic_pipe", "cnet_images")
    OUTPUT_IS_LIST = (False, False, False, True)
    OUTPUT_TOOLTIPS = ("The video with every SEG detailed and pasted; frame rate, audio and metadata as the source's.",
                       "The refined SEGS.", "The basic_pipe, passed through.",
                       "The ControlNet hint images used (one black image when none).")
    FUNCTION = "doit"
    CATEGORY = f"{PACK_CATEGORY}/detailer"
    NODE = DETAIL_AND_PASTE  # the detail-and-paste node's inputs, a VIDEO in place of the frames
    IMPACT = False  # our defaults (tracked crop, auto windows and precisions, colour match on)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, tuple]]:
        return video_detailer_inputs(cls.NODE, cls.IMPACT)

    def doit(self, *args: Any, **kwargs: Any) -> tuple[Any, Any, Any, list[torch.Tensor]]:
        inputs = bind_inputs(type(self), args, kwargs)
        video = inputs.pop("video")
        source = read_video(video, "video", IMAGE_DETAILER_NAME)
        frames, refined, pipe, cnet_images = DetailerForEachPipeForAnimateDiff().doit(image_frames=source.images,
                                                                                      **inputs)
        if frames is source.images:  # nothing to detail: the VIDEO itself (a file source saves losslessly)
            return video, refined, pipe, cnet_images
        log.info("VIDEO detailed: %d frames at %s fps, audio %s", frames.shape[0], source.frame_rate,
                 "kept" if source.audio is not None else "none")
        return video_with_frames(source, frames), refined, pipe, cnet_images
