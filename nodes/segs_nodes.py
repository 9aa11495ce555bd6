"""SEGS nodes a video workflow needs: masks to SEGS, subject tracks, paste, pipes, ControlNet, filters, preview."""

from __future__ import annotations

from typing import Any

import torch

from ..core.boxes import box_detections, frame_boxes
from ..core.colour import ColourMatch
from ..core.images import check_frames
from ..core.mask_segs import MaskToSegsOptions, masks_to_segs
from ..core.masks import mask_frames
from ..core.paste import paste_segs
from ..core.track_segs import ORDER_BY, TrackOptions, detector_detections, mask_detections, track_segs
from ..core.segs_ops import ORDER_KEYS, order_segs, parse_labels, preview_crops, split_by_label, split_by_size
from .adapter.controlnet import attach_control_net
from .adapter.environment import max_resolution
from .adapter.inputs import unpack_basic_pipe
from .adapter.previews import animated_preview
from .adapter.progress import step_progress
from .detailer_inputs import colour_match_inputs
from .registry import PACK_CATEGORY


def crop_factor_input(relative_to: str) -> tuple:
    """The ``crop_factor`` input of the nodes that make SEGS (Impact's range and default): the crop region's
    size relative to ``relative_to``."""
    return ("FLOAT", {"default": 3.0, "min": 1.0, "max": 100, "step": 0.1,
                      "tooltip": f"Crop region size relative to {relative_to} (more context around it)."})


class SegsNode:
    """What every SEGS node of the pack declares alike: its function and menu category."""

    FUNCTION = "doit"
    CATEGORY = f"{PACK_CATEGORY}/segs"


class PipeNode:
    FUNCTION = "doit"
    CATEGORY = f"{PACK_CATEGORY}/pipe"


class MaskToSEGSForVideo(SegsNode):
    """MASK batch to SEGS: one SEG per subject region over the whole clip, each frame's mask kept."""

    DESCRIPTION = (
        "Finds the regions of a mask batch (over all frames together) and makes one SEG per region, keeping "
        "every frame's own mask. A single mask gives single-image SEGS."
    )
    RETURN_TYPES = ("SEGS",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, tuple]]:
        return {
            "required": {
                "mask": ("MASK", {"tooltip": "Mask batch [frames, height, width] (or one mask)."}),
                "combined": ("BOOLEAN", {"default": False, "label_on": "True", "label_off": "False",
                                         "tooltip": "One SEG around all regions instead of one per region."}),
                "crop_factor": crop_factor_input("the region's bbox"),
                "bbox_fill": ("BOOLEAN", {"default": False, "label_on": "enabled", "label_off": "disabled", "advanced": True,
                                          "tooltip": "Fill each frame's bbox of the region in its mask."}),
                "drop_size": ("INT", {"min": 1, "max": max_resolution(), "step": 1, "default": 10, "advanced": True,
                                      "tooltip": "Regions whose bbox is not larger than this (pixels) on both sides are dropped."}),
                "contour_fill": ("BOOLEAN", {"default": False, "label_on": "enabled", "label_off": "disabled", "advanced": True,
                                             "tooltip": "Fill holes inside each region, in every frame."}),
            },
            "optional": {
                "label": ("STRING", {"default": "A", "tooltip": "Label given to the SEGs (filter nodes select by it)."}),
                "image_frames": ("IMAGE", {"tooltip": "The clip the mask was made from, to check its frame count (one "
                                                      "mask per frame, or one for all) against per-object masks."}),
            },
        }

    def doit(self, mask: torch.Tensor, combined: bool, crop_factor: float, bbox_fill: bool, drop_size: int,
             contour_fill: bool = False, label: str = "A", image_frames: torch.Tensor | None = None) -> tuple[Any]:
        options = MaskToSegsOptions(combined, crop_factor, bbox_fill, drop_size, contour_fill, label)
        if image_frames is not None:
            mask_frames(mask, check_frames(image_frames, "image_frames").shape[0], "mask")
        return (masks_to_segs(mask, options),)


class ImpactMaskToSEGSForAnimateDiff(MaskToSEGSForVideo):
    CATEGORY = "ImpactPack/Operation"
    IMPACT_INPUTS = ("mask", "combined", "crop_factor", "bbox_fill", "drop_size", "contour_fill")  # no label


def colour_match_from(color_match: bool, color_match_strength: float) -> ColourMatch | None:
    """The paste's colour match for those two inputs (None: paste the pixels as they are)."""
    return ColourMatch(strength=float(color_match_strength)) if color_match else None


class SEGSPasteForVideo(SegsNode):
    """Paste refined SEGS onto the frames through their per-frame masks."""

    DESCRIPTION = (
        "Blends each SEG's refined crop into the frames through its mask (per frame). The feather fades in inside "
        "the mask, so pixels outside every mask are left exactly as they were. The refined crop first takes the "
        "frame's colours around its mask edge (color_match), so no colour cast shows."
    )
    RETURN_TYPES = ("IMAGE",)
    SEARCH_ALIASES = ["paste segs video", "segs paste", "paste face back", "composite detailed region",
                      "blend segs into frames"]
    COLOR_MATCH_DEFAULT = True

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, tuple]]:
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The frames to paste onto."}),
                "segs": ("SEGS", {"tooltip": "Refined SEGS from a detailer (SEGS made for another resolution are rescaled)."}),
                "feather": ("INT", {"default": 5, "min": 0, "max": 100, "step": 1,
                                    "tooltip": "The pasted region fades in over this many pixels inside its mask."}),
                "alpha": ("INT", {"default": 255, "min": 0, "max": 255, "step": 1, "advanced": True,
                                  "tooltip": "Opacity of the pasted regions (255 = opaque)."}),
            },
            "optional": {
                "ref_image_opt": ("IMAGE", {"tooltip": "Paste these frames' pixels instead of the SEGS' images."}),
                **colour_match_inputs(impact=not cls.COLOR_MATCH_DEFAULT),
            },
        }

    def doit(self, image: torch.Tensor, segs: Any, feather: int, alpha: int = 255,
             ref_image_opt: torch.Tensor | None = None, color_match: bool | None = None,
             color_match_strength: float = 1.0) -> tuple[torch.Tensor]:
        matching = colour_match_from(self.COLOR_MATCH_DEFAULT if color_match is None else color_match,
                                     color_match_strength)
        return (paste_segs(image, segs, feather, alpha, ref_image_opt, matching),)


class ImpactSEGSPaste(SEGSPasteForVideo):
    CATEGORY = "ImpactPack/Detailer"
    COLOR_MATCH_DEFAULT = False  # Impact's SEGSPaste pastes the pixels as they are
    IMPACT_INPUTS = ("image", "segs", "feather", "alpha", "ref_image_opt")  # no colour match


class TrackSEGSForVideo(SegsNode):
    """Per-frame detections (a MASK batch, an Impact detector or BOUNDING_BOX lists) linked into one SEG per subject track."""

    DESCRIPTION = (
        "Links per-frame detections into one SEG per subject over the clip, with its own mask in every frame. The "
        "detections are the connected regions of a mask batch, an Impact Pack BBOX/SEGM detector run on each frame, "
        "or per-frame boxes such as SAM3 Detect's bboxes. Crossing subjects keep their identity (motion prediction, "
        "one-to-one matching), frames a detector missed are filled, short tracks are dropped. Feeds the detailer's "
        "tracked crop."
    )
    RETURN_TYPES = ("SEGS",)
    OUTPUT_TOOLTIPS = ("One SEG per track, labelled <label>_<n> (n = 1 for the first in order_by), with a mask per "
                       "frame (empty where the subject is absent).",)
    SEARCH_ALIASES = ["track faces", "face tracker", "object tracking video", "tracking segs", "detections to tracks",
                      "bytetrack", "sort tracker", "person tracking"]

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, tuple]]:
        return {
            "required": {
                "image_frames": ("IMAGE", {"tooltip": "The video frames [frames, height, width, 3] the detector runs on and "
                                                      "the SEGS are made for."}),
                "threshold": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01,
                                        "tooltip": "Lowest detector confidence (or box score) kept, or for a mask "
                                                   "the value above which a pixel belongs to a subject."}),
                "dilation": ("INT", {"default": 0, "min": -512, "max": 512, "step": 1, "advanced": True,
                                     "tooltip": "Grow (> 0) or shrink (< 0) each detection's mask by a square of this "
                                                "many pixels, as in Impact's detector nodes."}),
                "crop_factor": crop_factor_input("the track's bbox over the clip"),
                "drop_size": ("INT", {"min": 1, "max": max_resolution(), "step": 1, "default": 10, "advanced": True,
                                      "tooltip": "Detections whose box is not larger than this (pixels) on both sides "
                                                 "are ignored."}),
                "max_gap": ("INT", {"default": 4, "min": 0, "max": 1000, "step": 1, "advanced": True,
                                    "tooltip": "Frames in a row a track may miss and go on (their box interpolated, "
                                               "the last mask held); a longer gap ends it."}),
                "min_track_length": ("INT", {"default": 3, "min": 1, "max": 100000, "step": 1, "advanced": True,
                                             "tooltip": "Tracks covering fewer frames (first to last detection) are "
                                                        "dropped: false detections seldom last."}),
                "max_tracks": ("INT", {"default": 0, "min": 0, "max": 1000, "step": 1,
                                       "tooltip": "Keep at most this many tracks, the first ones by order_by (0 keeps "
                                                  "all)."}),
                "order_by": (list(ORDER_BY), {"default": "size",
                                              "tooltip": "Order of the SEGS (and of max_tracks): size = mean box area, "
                                                         "confidence = mean detection confidence; largest first."}),
                "label": ("STRING", {"default": "", "tooltip": "Base label of the tracks (empty: the detector's class, "
                                                               "or 'subject' for a mask); track n is <label>_<n>."}),
            },
            "optional": {
                "mask": ("MASK", {"tooltip": "Per-frame masks [frames, height, width] from any segmenter (give one "
                                             "of mask, detector or boxes)."}),
                "detector": ("BBOX_DETECTOR,SEGM_DETECTOR",
                             {"tooltip": "An Impact Pack BBOX_DETECTOR or SEGM_DETECTOR (such as "
                                         "UltralyticsDetectorProvider's) run on every frame (give one of mask, "
                                         "detector or boxes)."}),
                "boxes": ("BOUNDING_BOX", {"forceInput": True,
                                           "tooltip": "Per-frame boxes in pixels of image_frames, such as SAM3 Detect's "
                                                      "bboxes (give one of mask, detector or boxes)."}),
            },
        }

    def doit(self, image_frames: torch.Tensor, threshold: float, dilation: int, crop_factor: float, drop_size: int,
             max_gap: int, min_track_length: int, max_tracks: int, order_by: str, label: str = "",
             mask: torch.Tensor | None = None, detector: Any = None, boxes: Any = None) -> tuple[Any]:
        frames = check_frames(image_frames, "image_frames")
        frame_count, height, width = frames.shape[:3]
        options = TrackOptions(max_gap=max_gap, min_length=min_track_length, max_tracks=max_tracks, order_by=order_by,
                               crop_factor=crop_factor, label=label or "")
        sources = [name for name, value in (("mask", mask), ("detector", detector), ("boxes", boxes)) if value is not None]
        if len(sources) != 1:
            raise ValueError("give the tracker one source of detections: a mask (a MASK batch from a segmenter), a "
                             "detector (an Impact BBOX_DETECTOR or SEGM_DETECTOR) or boxes (BOUNDING_BOX lists, e.g. "
                             "SAM3 Detect's bboxes): " + (" and ".join(sources) + " are connected, keep one"
                                                          if sources else "none is connected"))
        if detector is not None:
            detections = detector_detections(detector, frames, threshold, dilation, crop_factor, drop_size,
                                             step_progress(frame_count))
        elif boxes is not None:
            detections = box_detections(frame_boxes(boxes, frame_count, height, width, "boxes"), height, width,
                                        threshold, dilation, drop_size)
        else:
            masks = mask_frames(mask, frame_count, "mask", size=(height, width))
            detections = mask_detections(masks, threshold, dilation, drop_size)
        return (track_segs(detections, height, width, options),)


class ToBasicPipe(PipeNode):
    """Bundle model, clip, vae and conditionings into a BASIC_PIPE."""

    DESCRIPTION = ("Bundles a model, its clip and vae and the positive and negative conditioning into one BASIC_PIPE, "
                   "the single input the detailers take.")
    RETURN_TYPES = ("BASIC_PIPE",)
    OUTPUT_TOOLTIPS = ("The tuple (model, clip, vae, positive, negative), as Impact Pack's pipes hold it.",)
    RETURN_NAMES = ("basic_pipe",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, tuple]]:
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "The model to sample with (AnimateDiff-patched for video)."}),
                "clip": ("CLIP", {"tooltip": "The text encoder."}),
                "vae": ("VAE", {"tooltip": "The VAE that encodes and decodes the crops."}),
                "positive": ("CONDITIONING", {"tooltip": "Positive prompt conditioning."}),
                "negative": ("CONDITIONING", {"tooltip": "Negative prompt conditioning."}),
            },
        }

    def doit(self, model: Any, clip: Any, vae: Any, positive: Any, negative: Any) -> tuple[tuple]:
        return ((model, clip, vae, positive, negative),)


class FromBasicPipe(PipeNode):
    """Split a BASIC_PIPE into its parts."""

    DESCRIPTION = "Splits a BASIC_PIPE (ours or Impact Pack's) back into its model, clip, vae and two conditionings."
    RETURN_TYPES = ("MODEL", "CLIP", "VAE", "CONDITIONING", "CONDITIONING")
    RETURN_NAMES = ("model", "clip", "vae", "positive", "negative")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, tuple]]:
        return {"required": {"basic_pipe": ("BASIC_PIPE", {"tooltip": "A pipe from To Basic Pipe (or any pack that makes one)."})}}

    def doit(self, basic_pipe: Any) -> tuple:
        return tuple(unpack_basic_pipe(basic_pipe, "basic_pipe"))


class ImpactToBasicPipe(ToBasicPipe):
    CATEGORY = "ImpactPack/Pipe"


class ImpactFromBasicPipe(FromBasicPipe):
    CATEGORY = "ImpactPack/Pipe"


class ControlNetForSEGS(SegsNode):
    """Attach a ControlNet to every SEG: hints cut per SEG and per frame from a control image batch, or the crop itself."""

    DESCRIPTION = (
        "Gives each SEG a ControlNet used when it is detailed. With control_image (one per frame), every frame gets "
        "its own hint cut at the SEG's crop; without it the crop itself is the hint. Uses ComfyUI's own ControlNet "
        "support (no Advanced-ControlNet needed); the detailer's cnet_images show the hints used."
    )
    RETURN_TYPES = ("SEGS",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, tuple]]:
        return {
            "required": {
                "segs": ("SEGS", {"tooltip": "The SEGS to give a ControlNet."}),
                "control_net": ("CONTROL_NET", {"tooltip": "From ComfyUI's ControlNet loader."}),
                "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.01, "tooltip": "ControlNet strength."}),
                "start_percent": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.001, "advanced": True, "tooltip": "Where in the schedule it starts."}),
                "end_percent": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.001, "advanced": True, "tooltip": "Where in the schedule it stops."}),
            },
            "optional": {
                "control_image": ("IMAGE", {"tooltip": "Control frames of the whole clip (pose, depth, ...), one per frame or one for all."}),
                "vae": ("VAE", {"advanced": True, "tooltip": "Only for ControlNets that need a VAE."}),
            },
        }

    def doit(self, segs: Any, control_net: Any, strength: float, start_percent: float, end_percent: float,
             control_image: torch.Tensor | None = None, vae: Any = None) -> tuple[Any]:
        return (attach_control_net(segs, control_net, strength, start_percent, end_percent, control_image, vae),)


class SEGSFilterByLabel(SegsNode):
    """Keep the SEGS with the given labels."""

    DESCRIPTION = ("Splits SEGS by label: the SEGs whose label is exactly one of the list go to filtered, the others "
                   "to remained.")
    RETURN_TYPES = ("SEGS", "SEGS")
    RETURN_NAMES = ("filtered", "remained")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, tuple]]:
        return {"required": {
            "segs": ("SEGS", {"tooltip": "SEGS to filter."}),
            "labels": ("STRING", {"default": "face", "multiline": False, "tooltip": "Comma-separated labels to keep, such as 'face, hand'."}),
        }}

    def doit(self, segs: Any, labels: str) -> tuple[Any, Any]:
        return split_by_label(segs, parse_labels(labels))


class SEGSFilterBySize(SegsNode):
    """Keep the SEGS whose bbox size and confidence are in range."""

    DESCRIPTION = ("Splits SEGS by bbox size and detector confidence: SEGs within the limits go to filtered, the others "
                   "to remained.")
    RETURN_TYPES = ("SEGS", "SEGS")
    RETURN_NAMES = ("filtered", "remained")

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, tuple]]:
        max_res = max_resolution()
        return {"required": {
            "segs": ("SEGS", {"tooltip": "SEGS to filter."}),
            "min_side": ("INT", {"default": 0, "min": 0, "max": max_res, "tooltip": "Smallest allowed shorter side of the bbox, pixels."}),
            "max_side": ("INT", {"default": max_res, "min": 0, "max": max_res, "tooltip": "Largest allowed longer side of the bbox, pixels."}),
            "min_confidence": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "Lowest detector confidence kept."}),
        }}

    def doit(self, segs: Any, min_side: int, max_side: int, min_confidence: float) -> tuple[Any, Any]:
        return split_by_size(segs, min_side, max_side, min_confidence)


class SEGSOrder(SegsNode):
    """Sort SEGS and keep the first few."""

    DESCRIPTION = ("Sorts SEGS by bbox area, position, width, height or confidence and keeps the first few "
                   "(take 0 keeps all).")
    RETURN_TYPES = ("SEGS",)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, tuple]]:
        return {"required": {
            "segs": ("SEGS", {"tooltip": "SEGS to sort."}),
            "order_by": (list(ORDER_KEYS), {"default": "area", "tooltip": "Sort key, from the bbox or the confidence."}),
            "descending": ("BOOLEAN", {"default": True, "tooltip": "Largest first."}),
            "take": ("INT", {"default": 0, "min": 0, "max": 10000, "tooltip": "Keep this many (0 keeps all)."}),
        }}

    def doit(self, segs: Any, order_by: str, descending: bool, take: int) -> tuple[Any]:
        return (order_segs(segs, order_by, descending, take),)


class SEGSPreview(SegsNode):
    """Every SEG's crops as one IMAGE batch, to look at what will be detailed (or was)."""

    DESCRIPTION = ("Plays every SEG's crops in the node as an animated preview and returns them as one IMAGE batch, "
                   "each SEG's frames in turn, to check what will be detailed (or was).")
    RETURN_TYPES = ("IMAGE",)
    OUTPUT_TOOLTIPS = ("Each SEG's crops letterboxed to size x size, all frames of the first SEG, then the next.",)
    OUTPUT_NODE = True  # shows its frames in the node even when nothing is connected to its output

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, tuple]]:
        return {
            "required": {
                "segs": ("SEGS", {"tooltip": "SEGS to show (refined SEGS show their refined crops)."}),
                "size": ("INT", {"default": 256, "min": 16, "max": 4096, "step": 8, "tooltip": "Side of each preview frame."}),
            },
            "optional": {"image_frames": ("IMAGE", {"tooltip": "Frames to cut the crops from when a SEG has no image."})},
        }

    def doit(self, segs: Any, size: int, image_frames: torch.Tensor | None = None) -> dict[str, Any]:
        crops = preview_crops(segs, image_frames, size)
        return {"ui": animated_preview(crops), "result": (crops,)}
