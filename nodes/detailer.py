"""The SEGS detailer nodes: thin node classes over ``core.enhance``.

Each input is declared once (:mod:`.detailer_inputs`): the node methods take the inputs by name
(or by position, in the declared order, as Impact's ``doit`` does), inputs left out take their
declared default, and every input reaches the detail pass's option of its name.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from ..core.colour import ColourMatch
from ..core.conditioning import Conditionings
from ..core.enhance import DetailSettings, detail_and_paste, detail_segs
from ..core.images import check_frames
from ..core.segs import unpack_segs
from .adapter import environment
from .adapter.inputs import unpack_basic_pipe
from .adapter.sampling import ComfySamplingBackend
from .detailer_inputs import DETAIL_AND_PASTE, DETAILER, core_options, impact_input_names, node_inputs
from .registry import PACK_CATEGORY
from .segs_nodes import colour_match_from

log = logging.getLogger(__name__)

IMPACT_DETAILER_CATEGORY = "ImpactPack/Detailer"
# What users type in the node search for a video detailer (the frontend matches each alias fuzzily).
DETAILER_SEARCH_ALIASES = ["face detailer video", "video detailer", "adetailer", "after detailer", "wan detailer",
                           "animatediff detailer", "hand detailer video", "segs detailer", "video inpaint region"]


def empty_cnet_image() -> torch.Tensor:
    """The placeholder IMAGE for an empty ``cnet_images`` list: one 64x64 black frame."""
    return torch.zeros((1, 64, 64, 3), dtype=torch.float32)


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


def prepare_pass(inputs: dict[str, Any]) -> tuple[ComfySamplingBackend, Conditionings, DetailSettings] | None:
    """Check every input (errors name the input and the fix), then build the ComfyUI backend.

    Returns None when there is nothing to sample (empty SEGS), without touching ComfyUI.
    """
    model, _clip, vae, positive, negative = unpack_basic_pipe(inputs["basic_pipe"], "basic_pipe")
    refiner_model = refiner_positive = refiner_negative = None
    if inputs["refiner_basic_pipe_opt"] is not None:
        refiner_model, _, _, refiner_positive, refiner_negative = unpack_basic_pipe(
            inputs["refiner_basic_pipe_opt"], "refiner_basic_pipe_opt")
    sampling, settings = core_options(inputs)
    sampling.validate(environment.sampler_names(), environment.comfy_scheduler_names())
    check_frames(inputs["image_frames"], "image_frames")
    if not unpack_segs(inputs["segs"], "segs")[1]:
        return None
    backend = ComfySamplingBackend(model, vae, sampling, refiner_model=refiner_model, differential=settings.differential)
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
        "or video model keeps the region coherent in time) and returns the refined SEGS. Paste them onto the frames "
        "with SEGS Paste."
    )
    RETURN_TYPES = ("SEGS", "IMAGE")
    RETURN_NAMES = ("segs", "cnet_images")
    SEARCH_ALIASES = DETAILER_SEARCH_ALIASES
    OUTPUT_IS_LIST = (False, True)
    OUTPUT_TOOLTIPS = ("The refined SEGS: each SEG's cropped_image holds its detailed frames.",
                       "The ControlNet hint images each SEG used (one black image when none).")
    FUNCTION = "doit"
    CATEGORY = f"{PACK_CATEGORY}/detailer"
    NODE = DETAILER
    IMPACT = False  # our id: our defaults (tracked crop, auto windows and precisions)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, tuple]]:
        return node_inputs(cls.NODE, cls.IMPACT)

    def doit(self, *args: Any, **kwargs: Any) -> tuple[Any, list[torch.Tensor]]:
        _, refined, cnet_images = run_pass(bind_inputs(type(self), args, kwargs))
        return refined, cnet_images


class ImpactSEGSDetailerForAnimateDiff(SEGSDetailerForAnimateDiff):
    """Our detailer under Impact Pack's id and category, for workflows saved with Impact's node."""

    CATEGORY = IMPACT_DETAILER_CATEGORY
    IMPACT = True  # saved Impact workflows behave as before
    IMPACT_INPUTS = impact_input_names(DETAILER)  # Impact's own inputs (registry.impact_replacements)


class DetailerForEachPipeForAnimateDiff:
    """Detail each SEG over all frames and paste it, one SEG after another."""

    DESCRIPTION = ("Details every SEG over all frames (one batched sampling pass per SEG) and pastes it onto the frames, "
                   "as SEGS Paste does (color_match: the refined crop first takes the frame's colours).")
    RETURN_TYPES = ("IMAGE", "SEGS", "BASIC_PIPE", "IMAGE")
    RETURN_NAMES = ("image", "segs", "basic_pipe", "cnet_images")
    SEARCH_ALIASES = [*DETAILER_SEARCH_ALIASES, "detail and paste", "face fix video"]
    OUTPUT_IS_LIST = (False, False, False, True)
    OUTPUT_TOOLTIPS = ("The frames with every SEG detailed and pasted.", "The refined SEGS.",
                       "The basic_pipe, passed through.", "The ControlNet hint images used (one black image when none).")
    FUNCTION = "doit"
    CATEGORY = f"{PACK_CATEGORY}/detailer"
    NODE = DETAIL_AND_PASTE
    IMPACT = False

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, dict[str, tuple]]:
        return node_inputs(cls.NODE, cls.IMPACT)

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
    IMPACT = True  # Impact's defaults: union crop, no windows, fp32, no colour match
    IMPACT_INPUTS = impact_input_names(DETAIL_AND_PASTE)
