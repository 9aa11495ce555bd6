"""The SEGS detailer nodes: thin node classes over ``core.enhance``.

Each input is declared once, in ``INPUT_TYPES``: the node methods take the inputs by name
(or by position, in the declared order, as Impact's ``doit`` does), inputs left out take their
declared default, and :func:`pass_options` turns them into the detail pass's options.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from ..core.colour import ColourMatch
from ..core.conditioning import Conditionings
from ..core.enhance import CROP_MODES, DetailSettings, detail_and_paste, detail_segs
from ..core.images import check_frames
from ..core.options import PRECISIONS, SamplingOptions
from ..core.segs import unpack_segs
from .adapter import environment
from .adapter.inputs import unpack_basic_pipe
from .adapter.sampling import ComfySamplingBackend
from .registry import PACK_CATEGORY
from .segs_nodes import colour_match_from, colour_match_inputs

log = logging.getLogger(__name__)

IMPACT_DETAILER_CATEGORY = "ImpactPack/Detailer"


def empty_cnet_image() -> torch.Tensor:
    """The placeholder IMAGE for an empty ``cnet_images`` list: one 64x64 black frame."""
    return torch.zeros((1, 64, 64, 3), dtype=torch.float32)


def detailer_inputs(
    guide_size_default: float = 256, crop_mode_default: str = "union", context_length_default: int = 0,
    precision_default: str = "fp32",
) -> dict[str, dict[str, tuple]]:
    """The inputs of Impact's SEGSDetailerForAnimateDiff, in its order, with tooltips; plus ours after them.
    ``precision_default`` is the default of ``sampling_precision`` and ``vae_decode_precision``."""
    max_res = environment.max_resolution()
    return {
        "required": {
            "image_frames": ("IMAGE", {"tooltip": "The video frames [frames, height, width, 3] the SEGS were detected on."}),
            "segs": ("SEGS", {"tooltip": "Regions to detail (faces, hands, ...). SEGS made at another resolution are rescaled to the frames."}),
            "guide_size": ("FLOAT", {"default": guide_size_default, "min": 64, "max": max_res, "step": 8,
                                     "tooltip": "Each region is upscaled until its shorter side (of the bbox or of the crop, see guide_size_for) reaches this many pixels. Regions already larger are sampled at their own size."}),
            "guide_size_for": ("BOOLEAN", {"default": True, "label_on": "bbox", "label_off": "crop_region",
                                           "tooltip": "Measure guide_size against the detected bbox or against the whole crop region."}),
            "max_size": ("FLOAT", {"default": 768, "min": 64, "max": max_res, "step": 8,
                                   "tooltip": "Cap on the longer side of the sampled crop, in pixels. Crops larger than this are sampled scaled down (caps memory use)."}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF,
                             "tooltip": "Noise seed; the same seed and settings give the same result."}),
            "steps": ("INT", {"default": 20, "min": 1, "max": 10000, "tooltip": "Sampling steps (after denoise, as in KSampler)."}),
            "cfg": ("FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "tooltip": "Classifier-free guidance scale."}),
            "sampler_name": (environment.sampler_names(), {"tooltip": "ComfyUI sampler."}),
            "scheduler": (environment.scheduler_names(), {"tooltip": "ComfyUI scheduler, or Align Your Steps / GITS schedules."}),
            "denoise": ("FLOAT", {"default": 0.5, "min": 0.0001, "max": 1.0, "step": 0.01,
                                  "tooltip": "How much of each region is redrawn: 1.0 replaces it, low values keep its structure."}),
            "basic_pipe": ("BASIC_PIPE", {"tooltip": "Model, clip, vae, positive and negative (from ToBasicPipe). An AnimateDiff-patched model keeps the region coherent over time."}),
            "refiner_ratio": ("FLOAT", {"default": 0.2, "min": 0.0, "max": 1.0,
                                        "tooltip": "With a refiner pipe: the share of the steps the refiner model runs at the end."}),
        },
        "optional": {
            "refiner_basic_pipe_opt": ("BASIC_PIPE", {"tooltip": "Optional refiner pipe; its model finishes the last refiner_ratio of the steps."}),
            "noise_mask_feather": ("INT", {"default": 20, "min": 0, "max": 100, "step": 1,
                                           "tooltip": "Blur radius of the noise mask in crop pixels. Above 0, soft mask edges mean partial denoise (differential diffusion)."}),
            "scheduler_func_opt": ("SCHEDULER_FUNC", {"tooltip": "Optional function computing the sigmas; replaces scheduler."}),
            "seed_per_seg": ("BOOLEAN", {"default": False, "label_on": "seed + SEG index", "label_off": "same seed",
                                         "tooltip": "Give each SEG its own noise (seed + its index) instead of the same seed for all, as Impact does."}),
            "crop_mode": (list(CROP_MODES), {"default": crop_mode_default,
                                             "tooltip": "union: one crop region for the whole clip (as Impact). tracked: a smaller window that follows the subject frame by frame, so a moving subject is sampled larger."}),
            "track_smoothing": ("FLOAT", {"default": 2.0, "min": 0.0, "max": 30.0, "step": 0.5,
                                          "tooltip": "tracked mode: how many frames the window's path is smoothed over (removes detector jitter)."}),
            "context_length": ("INT", {"default": context_length_default, "min": -1, "max": 4096, "step": 1,
                                       "tooltip": "Sample clips longer than this many frames in overlapping windows, cross-faded. 0 = no windows; -1 = auto: 16 when the model carries an AnimateDiff motion module, else none. Without windows, the frames of a model without temporal layers are sampled in chunks sized to free memory (the result does not change). Ignored when the model has its own context windows (AnimateDiff-Evolved context options, ComfyUI's Context Windows nodes). With a video model (Wan) the frames are converted to latent frames."}),
            "context_overlap": ("INT", {"default": 4, "min": 0, "max": 4095, "step": 1,
                                        "tooltip": "Frames shared by neighbouring windows, blended so no seam shows."}),
            "vae_encode_precision": (list(PRECISIONS), {"default": "auto",
                                     "tooltip": "auto: encode crops in bfloat16 on a CPU that computes it natively (about 2x faster), fp32 elsewhere. fp32 / bf16 force one. GPUs keep ComfyUI's own VAE precision."}),
            "sampling_precision": (list(PRECISIONS), {"default": precision_default,
                                   "tooltip": "Precision of the model while sampling on the CPU. auto: bfloat16 on a CPU that computes it natively (about 2x faster; ComfyUI does the same on GPUs, but keeps fp32 on every CPU), for models of image latents. fp32: ComfyUI's own precision, as Impact. bf16: bfloat16 in any case. GPUs keep ComfyUI's own precision."}),
            "vae_decode_precision": (list(PRECISIONS), {"default": precision_default,
                                     "tooltip": "Precision of the VAE decoding the refined crops on the CPU. auto: bfloat16 on a CPU that computes it natively (about 2x faster; ComfyUI decodes in bfloat16 on GPUs that support it, but in fp32 on every CPU), for image VAEs. fp32: ComfyUI's own precision, as Impact. bf16: bfloat16 in any case. GPUs keep ComfyUI's own VAE precision."}),
        },
    }


def bind_inputs(node_class: type, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """A node's inputs by name: positional values in ``INPUT_TYPES`` order (required, then
    optional, as ComfyUI and Impact's ``doit`` order them), keywords as given, and every input
    left out at its declared default (None where there is none)."""
    declared = node_class.INPUT_TYPES()
    specs = {**declared["required"], **declared.get("optional", {})}
    if len(args) > len(specs):
        raise TypeError(f"{node_class.__name__}.doit takes {len(specs)} inputs, got {len(args)} positional values")
    inputs = dict(zip(specs, args))
    for name, value in kwargs.items():
        if name not in specs:
            raise TypeError(f"{node_class.__name__}.doit got an unknown input '{name}'")
        if name in inputs:
            raise TypeError(f"{node_class.__name__}.doit got input '{name}' twice")
        inputs[name] = value
    for name, spec in specs.items():
        if name not in inputs:
            inputs[name] = spec[1].get("default") if len(spec) > 1 and isinstance(spec[1], dict) else None
    return inputs


def pass_options(inputs: dict[str, Any]) -> tuple[SamplingOptions, DetailSettings]:
    """The detail pass's sampling options and settings from a detailer node's inputs by name."""
    sampling = SamplingOptions(
        steps=inputs["steps"], cfg=inputs["cfg"], sampler_name=inputs["sampler_name"], scheduler=inputs["scheduler"],
        denoise=inputs["denoise"], refiner_ratio=inputs["refiner_ratio"] or 0.0,
        scheduler_func=inputs["scheduler_func_opt"], context_length=inputs["context_length"],
        context_overlap=inputs["context_overlap"], vae_encode_precision=inputs["vae_encode_precision"],
        sampling_precision=inputs["sampling_precision"], vae_decode_precision=inputs["vae_decode_precision"],
    )
    settings = DetailSettings(
        guide_size=inputs["guide_size"], guide_for_bbox=inputs["guide_size_for"], max_size=inputs["max_size"],
        seed=inputs["seed"], noise_mask_feather=inputs["noise_mask_feather"], seed_per_seg=inputs["seed_per_seg"],
        crop_mode=inputs["crop_mode"], track_smoothing=inputs["track_smoothing"],
    )
    return sampling, settings


def prepare_pass(inputs: dict[str, Any]) -> tuple[ComfySamplingBackend, Conditionings, DetailSettings] | None:
    """Check every input (errors name the input and the fix), then build the ComfyUI backend.

    Returns None when there is nothing to sample (empty SEGS), without touching ComfyUI.
    """
    model, _clip, vae, positive, negative = unpack_basic_pipe(inputs["basic_pipe"], "basic_pipe")
    refiner_model = refiner_positive = refiner_negative = None
    if inputs["refiner_basic_pipe_opt"] is not None:
        refiner_model, _, _, refiner_positive, refiner_negative = unpack_basic_pipe(
            inputs["refiner_basic_pipe_opt"], "refiner_basic_pipe_opt")
    sampling, settings = pass_options(inputs)
    sampling.validate(environment.sampler_names(), environment.comfy_scheduler_names())
    check_frames(inputs["image_frames"], "image_frames")
    if not unpack_segs(inputs["segs"], "segs")[1]:
        return None
    backend = ComfySamplingBackend(model, vae, sampling, refiner_model=refiner_model,
                                   noise_mask_feather=settings.noise_mask_feather)
    return backend, Conditionings(positive, negative, refiner_positive, refiner_negative), settings


def run_pass(inputs: dict[str, Any], paste_feather: int | None = None, after_paste: Any = None,
             colour_match: ColourMatch | None = None) -> tuple[torch.Tensor, Any, list[torch.Tensor]]:
    """Check the inputs and detail the SEGS (pasting each, with ``colour_match``, when ``paste_feather`` is given).

    Returns ``(frames, refined SEGS, cnet images)``; the cnet list is never empty (one black
    image stands in).
    """
    image_frames, segs = inputs["image_frames"], inputs["segs"]
    prepared = prepare_pass(inputs)
    if prepared is None:
        return image_frames, segs, [empty_cnet_image()]
    backend, conditionings, settings = prepared
    # ComfyUI's executor already runs nodes without autograd; called from elsewhere, a VAE pass
    # would otherwise keep its activations (about 0.8 GB per 256x256 frame).
    with torch.inference_mode():
        if paste_feather is None:
            frames = image_frames
            refined, cnet_images = detail_segs(image_frames, segs, settings, conditionings, backend)
        else:
            frames, refined, cnet_images = detail_and_paste(
                image_frames, segs, settings, conditionings, backend, paste_feather, after_paste, colour_match
            )
    return frames, refined, cnet_images or [empty_cnet_image()]


class SEGSDetailerForAnimateDiff:
    """Detail each SEG over all frames in one sampling pass; returns refined SEGS (paste them with a SEGS paste node)."""

    DESCRIPTION = (
        "Crops each SEG over all video frames, upscales the crop, samples all frames in one batch (so an AnimateDiff "
        "model keeps the region coherent in time) and returns the refined SEGS. Paste them onto the frames with SEGSPaste."
    )
    RETURN_TYPES = ("SEGS", "IMAGE")
    RETURN_NAMES = ("segs", "cnet_images")
    OUTPUT_IS_LIST = (False, True)
    OUTPUT_TOOLTIPS = ("The refined SEGS: each SEG's cropped_image holds its detailed frames.",
                       "The ControlNet hint images each SEG used (one black image when none).")
    FUNCTION = "doit"
    CATEGORY = f"{PACK_CATEGORY}/detailer"
    CROP_MODE_DEFAULT = "tracked"
    CONTEXT_LENGTH_DEFAULT = -1  # auto: windows of 16 frames for AnimateDiff models
    PRECISION_DEFAULT = "auto"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, tuple]]:
        return detailer_inputs(crop_mode_default=cls.CROP_MODE_DEFAULT, context_length_default=cls.CONTEXT_LENGTH_DEFAULT,
                               precision_default=cls.PRECISION_DEFAULT)

    def doit(self, *args: Any, **kwargs: Any) -> tuple[Any, list[torch.Tensor]]:
        _, refined, cnet_images = run_pass(bind_inputs(type(self), args, kwargs))
        return refined, cnet_images


class ImpactSEGSDetailerForAnimateDiff(SEGSDetailerForAnimateDiff):
    """Our detailer under Impact Pack's id and category, for workflows saved with Impact's node."""

    CATEGORY = IMPACT_DETAILER_CATEGORY
    CROP_MODE_DEFAULT = "union"  # saved Impact workflows behave as before
    CONTEXT_LENGTH_DEFAULT = 0
    PRECISION_DEFAULT = "fp32"


def detail_and_paste_inputs(crop_mode_default: str, context_length_default: int, colour_match_default: bool,
                            precision_default: str) -> dict[str, dict[str, tuple]]:
    """Impact's DetailerForEachPipeForAnimateDiff inputs: the detailer's, with ``feather`` after
    ``denoise``, ``detailer_hook`` first among the optional ones, and its own defaults; then the
    paste's colour match, ``sampling_precision`` and ``vae_decode_precision``, last, in the order
    they were added (saved workflows keep their widget order)."""
    base = detailer_inputs(512, crop_mode_default, context_length_default, precision_default)
    required = dict(base["required"])
    required["max_size"] = ("FLOAT", {**required["max_size"][1], "default": 1024})
    ordered: dict[str, tuple] = {}
    for name, spec in required.items():
        if name == "basic_pipe":
            ordered["feather"] = ("INT", {"default": 5, "min": 0, "max": 100, "step": 1,
                                          "tooltip": "Paste blend: the refined region fades in over this many pixels inside its mask."})
        ordered[name] = spec
    optional = {"detailer_hook": ("DETAILER_HOOK", {"tooltip": "Impact detailer hook; only its post_paste stage is applied."})}
    optional.update(base["optional"])
    added_later = {name: optional.pop(name) for name in ("sampling_precision", "vae_decode_precision")}
    optional.update(colour_match_inputs(colour_match_default))
    optional.update(added_later)
    return {"required": ordered, "optional": optional}


class DetailerForEachPipeForAnimateDiff:
    """Detail each SEG over all frames and paste it, one SEG after another."""

    DESCRIPTION = ("Details every SEG over all frames (one batched sampling pass per SEG) and pastes it onto the frames, "
                   "as SEGS Paste does (color_match: the refined crop first takes the frame's colours).")
    RETURN_TYPES = ("IMAGE", "SEGS", "BASIC_PIPE", "IMAGE")
    RETURN_NAMES = ("image", "segs", "basic_pipe", "cnet_images")
    OUTPUT_IS_LIST = (False, False, False, True)
    OUTPUT_TOOLTIPS = ("The frames with every SEG detailed and pasted.", "The refined SEGS.",
                       "The basic_pipe, passed through.", "The ControlNet hint images used (one black image when none).")
    FUNCTION = "doit"
    CATEGORY = f"{PACK_CATEGORY}/detailer"
    CROP_MODE_DEFAULT = "tracked"
    CONTEXT_LENGTH_DEFAULT = -1
    COLOR_MATCH_DEFAULT = True
    PRECISION_DEFAULT = "auto"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, tuple]]:
        return detail_and_paste_inputs(cls.CROP_MODE_DEFAULT, cls.CONTEXT_LENGTH_DEFAULT, cls.COLOR_MATCH_DEFAULT,
                                       cls.PRECISION_DEFAULT)

    def doit(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, Any, Any, list[torch.Tensor]]:
        inputs = bind_inputs(type(self), args, kwargs)
        after_paste = None
        if inputs["detailer_hook"] is not None:
            after_paste = getattr(inputs["detailer_hook"], "post_paste", None)
            log.warning("detailer_hook: only its post_paste stage is applied by this node")
        matching = colour_match_from(inputs["color_match"], inputs["color_match_strength"])
        frames, refined, cnet_images = run_pass(inputs, paste_feather=inputs["feather"], after_paste=after_paste,
                                                colour_match=matching)
        return frames, refined, inputs["basic_pipe"], cnet_images


class ImpactDetailerForEachPipeForAnimateDiff(DetailerForEachPipeForAnimateDiff):
    CATEGORY = IMPACT_DETAILER_CATEGORY
    CROP_MODE_DEFAULT = "union"
    CONTEXT_LENGTH_DEFAULT = 0
    COLOR_MATCH_DEFAULT = False  # Impact's node pastes the pixels as they are
    PRECISION_DEFAULT = "fp32"
