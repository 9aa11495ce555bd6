"""Every input of the detailer nodes, declared once.

An input is one :class:`Input`: its ComfyUI type and options, its default under Impact's ids and
under ours, the nodes that have it, and the core option it reaches (by its name, unless it names
another). A node's inputs are Impact's, in Impact's order, then ours in the order they were added to
the pack: saved workflows store widget values by position, so an input of ours is only ever
appended to :data:`OURS` (tests/widget_order.json holds every node's order; a test compares).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..core.enhance import CROP_MODES, DetailSettings
from ..core.options import PRECISIONS, SamplingOptions
from .adapter import environment

DETAILER = "detailer"  # SEGSDetailerForAnimateDiff
DETAIL_AND_PASTE = "detail_and_paste"  # DetailerForEachPipeForAnimateDiff
BOTH = (DETAILER, DETAIL_AND_PASTE)
PASTE = "paste"  # SEGSPaste: the colour match only

_SAME = object()  # "ours" default: the same as under Impact's id


@dataclass(frozen=True)
class Input:
    """One input: ``type`` is ComfyUI's (``"FLOAT"``, ``"IMAGE"``, ...), a tuple of choices, or a function
    giving the choices when the node is declared; ``default`` is its default under Impact's ids (and
    ours, unless ``ours`` differs); ``node_defaults`` overrides it per node; ``core`` names the core
    option it reaches when that is not its own name ("" for inputs the node uses itself); ``advanced`` marks an
    expert input (display only: the frontend's "show advanced" toggle; values and order are unchanged)."""

    name: str
    type: Any
    tooltip: str
    default: Any = None
    ours: Any = _SAME
    options: Mapping[str, Any] = field(default_factory=dict)
    nodes: tuple[str, ...] = BOTH
    node_defaults: Mapping[str, Any] = field(default_factory=dict)
    core: str | None = None
    advanced: bool = False  # an expert input: the frontend may tuck it behind "show advanced"

    def declare(self, node: str, impact: bool) -> tuple:
        """The ``(type, options)`` ComfyUI reads for ``node`` under Impact's id or ours."""
        kind = self.type() if callable(self.type) else list(self.type) if isinstance(self.type, tuple) else self.type
        options = {key: value() if callable(value) else value for key, value in self.options.items()}
        default = self.node_defaults.get(node, self.default if impact or self.ours is _SAME else self.ours)
        if default is not None:
            options["default"] = default
        options["tooltip"] = self.tooltip
        if self.advanced:
            options["advanced"] = True
        return kind, options


def _max_res() -> int:
    return environment.max_resolution()


IMPACT_REQUIRED: tuple[Input, ...] = (
    Input("image_frames", "IMAGE", "The video frames [frames, height, width, 3] the SEGS were detected on.", core=""),
    Input("segs", "SEGS", "Regions to detail (faces, hands, ...); SEGS made at another resolution are rescaled to the "
          "frames.", core=""),
    Input("guide_size", "FLOAT", "Each region is upscaled until its shorter side (bbox or crop, see guide_size_for) reaches "
          "this many pixels.", 256, options={"min": 64, "max": _max_res, "step": 8}, node_defaults={DETAIL_AND_PASTE: 512}),
    Input("guide_size_for", "BOOLEAN", "Measure guide_size against the detected bbox or against the whole crop region.",
          True, options={"label_on": "bbox", "label_off": "crop_region"}, core="guide_for_bbox", advanced=True),
    Input("max_size", "FLOAT", "Cap on the longer side of the sampled crop, in pixels, also for crops already larger "
          "(caps memory use).", 768, options={"min": 64, "max": _max_res, "step": 8}, node_defaults={DETAIL_AND_PASTE: 1024}),
    Input("seed", "INT", "Noise seed; the same seed and settings give the same result.", 0,
          options={"min": 0, "max": 0xFFFFFFFFFFFFFFFF}),
    Input("steps", "INT", "Sampling steps (after denoise, as in KSampler).", 20, options={"min": 1, "max": 10000}),
    Input("cfg", "FLOAT", "Classifier-free guidance scale.", 8.0, options={"min": 0.0, "max": 100.0}),
    Input("sampler_name", environment.sampler_names, "ComfyUI sampler."),
    Input("scheduler", environment.scheduler_names, "ComfyUI scheduler, or an Align Your Steps or GITS schedule."),
    Input("denoise", "FLOAT", "How much of each region is redrawn: 1.0 replaces it, low values keep its structure.", 0.5,
          options={"min": 0.0001, "max": 1.0, "step": 0.01}),
    Input("feather", "INT", "Paste blend: the refined region fades in over this many pixels inside its mask.", 5,
          options={"min": 0, "max": 100, "step": 1}, nodes=(DETAIL_AND_PASTE,), core=""),
    Input("basic_pipe", "BASIC_PIPE", "Model, clip, vae, positive and negative (from To Basic Pipe); an AnimateDiff or "
          "video model keeps the region coherent over time.", core=""),
    Input("refiner_ratio", "FLOAT", "With a refiner pipe: the share of the steps its model runs at the end.", 0.2,
          options={"min": 0.0, "max": 1.0}, advanced=True),
)

IMPACT_OPTIONAL: tuple[Input, ...] = (
    Input("detailer_hook", "DETAILER_HOOK", "Impact detailer hook; only its post_paste stage is applied.",
          nodes=(DETAIL_AND_PASTE,), core="", advanced=True),
    Input("refiner_basic_pipe_opt", "BASIC_PIPE", "Optional refiner pipe; its model finishes the last refiner_ratio of "
          "the steps (Wan 2.2: the low-noise expert).", core="", advanced=True),
    Input("noise_mask_feather", "INT", "Blur radius of the noise mask in crop pixels; above 0, soft edges mean partial "
          "denoise (differential diffusion).", 20, options={"min": 0, "max": 100, "step": 1}, advanced=True),
    Input("scheduler_func_opt", "SCHEDULER_FUNC", "Optional function computing the sigmas; replaces scheduler.",
          core="scheduler_func", advanced=True),
)

COLOR_MATCH = Input("color_match", "BOOLEAN", "Give each refined crop the frame's colours around its mask edge before "
                    "pasting, so no colour cast shows.", False, ours=True, options={"label_on": "on", "label_off": "off"},
                    nodes=(DETAIL_AND_PASTE, PASTE), core="")
COLOR_MATCH_STRENGTH = Input("color_match_strength", "FLOAT", "How far the colours are matched: 1 fully, 0 not at all.",
                             1.0, options={"min": 0.0, "max": 1.0, "step": 0.05}, nodes=(DETAIL_AND_PASTE, PASTE), core="",
                             advanced=True)

# Ours, in the order they were added (append only).
OURS: tuple[Input, ...] = (
    Input("seed_per_seg", "BOOLEAN", "Give each SEG its own noise (seed + its index) instead of one seed for all, as "
          "Impact does.", False, options={"label_on": "seed + SEG index", "label_off": "same seed"}, advanced=True),
    Input("crop_mode", CROP_MODES, "union: one crop region for the whole clip, as Impact; tracked: a smaller window "
          "that follows the subject, so it is sampled larger.", "union", ours="tracked"),
    Input("track_smoothing", "FLOAT", "tracked crops: frames over which the window's path is smoothed (removes "
          "detector jitter).", 2.0, options={"min": 0.0, "max": 30.0, "step": 0.5}, advanced=True),
    Input("context_length", "INT", "Sample clips longer than this in overlapping windows (-1 auto: 16 with an "
          "AnimateDiff motion module; 0 off).", 0, ours=-1, options={"min": -1, "max": 4096, "step": 1}, advanced=True),
    Input("context_overlap", "INT", "Frames shared by neighbouring context windows, blended so no seam shows.", 4,
          options={"min": 0, "max": 4095, "step": 1}, advanced=True),
    Input("vae_encode_precision", PRECISIONS, "VAE encoding on the CPU: auto uses bfloat16 where the CPU computes it "
          "natively (about 2x faster); GPUs keep ComfyUI's.", "auto", advanced=True),
    COLOR_MATCH,
    COLOR_MATCH_STRENGTH,
    Input("sampling_precision", PRECISIONS, "Sampling on the CPU: auto uses bfloat16 where the CPU computes it natively "
          "(2x to 4x faster); fp32 keeps ComfyUI's precision, as Impact.", "fp32", ours="auto", advanced=True),
    Input("vae_decode_precision", PRECISIONS, "VAE decoding on the CPU: auto uses bfloat16 where the CPU computes it "
          "natively (about 2x faster); fp32 keeps ComfyUI's, as Impact.", "fp32", ours="auto", advanced=True),
    Input("refiner_boundary", "FLOAT", "With a refiner pipe: hand over once the noise level falls below this fraction "
          "of the schedule (Wan 2.2: 0.875 text, 0.9 image to video); 0 uses refiner_ratio.", 0.0,
          options={"min": 0.0, "max": 1.0, "step": 0.005}, advanced=True),
    Input("denoise_by_size", "BOOLEAN", "Per frame: full denoise while the subject is small, down to "
          "large_subject_denoise once it reaches guide_size (smoothed, no pumping).", False,
          options={"label_on": "on", "label_off": "off"}, advanced=True),
    Input("large_subject_denoise", "FLOAT", "With denoise_by_size: the denoise of frames where the subject is at "
          "least guide_size.", 0.25, options={"min": 0.0, "max": 1.0, "step": 0.01}, advanced=True),
    Input("size_gate", "INT", "Detail the subject only in frames where it is smaller than this many pixels, fading "
          "at each switch; 0 details every frame.", 0, options={"min": 0, "max": 8192, "step": 8}, advanced=True),
    Input("correction_only", "BOOLEAN", "Paste only what the model changed: the original plus the refined crop minus "
          "the VAE's round trip of the original.", False, options={"label_on": "on", "label_off": "off"},
          advanced=True),
    Input("shared_noise", "BOOLEAN", "One noise for every frame of a SEG (models without temporal layers: less "
          "flicker); the same result whatever the chunks.", False, options={"label_on": "on", "label_off": "off"},
          advanced=True),
)

ALL_INPUTS: tuple[Input, ...] = IMPACT_REQUIRED + IMPACT_OPTIONAL + OURS


def node_inputs(node: str, impact: bool) -> dict[str, dict[str, tuple]]:
    """ComfyUI's ``INPUT_TYPES`` of ``node`` under Impact's id (``impact``) or ours."""
    def declared(inputs: tuple[Input, ...]) -> dict[str, tuple]:
        return {item.name: item.declare(node, impact) for item in inputs if node in item.nodes}

    return {"required": declared(IMPACT_REQUIRED), "optional": {**declared(IMPACT_OPTIONAL), **declared(OURS)}}


def _core_names(target: type) -> set[str]:
    return {item.name for item in fields(target)}


def core_options(inputs: Mapping[str, Any]) -> tuple[SamplingOptions, DetailSettings]:
    """The detail pass's sampling options and settings from a detailer node's inputs by name: every
    declared input reaches the core option of its name (or the one it names)."""
    sampling_names, settings_names = _core_names(SamplingOptions), _core_names(DetailSettings)
    sampling: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for item in ALL_INPUTS:
        target = item.name if item.core is None else item.core
        if not target or item.name not in inputs:
            continue
        if target in sampling_names:
            sampling[target] = inputs[item.name]
        elif target in settings_names:
            settings[target] = inputs[item.name]
        else:
            raise AssertionError(f"input '{item.name}' reaches no core option '{target}'")
    return SamplingOptions(**sampling), DetailSettings(**settings)


def colour_match_inputs(impact: bool) -> dict[str, tuple]:
    """The paste node's optional colour-match inputs (declared once, with the detail-and-paste node's)."""
    return {item.name: item.declare(PASTE, impact) for item in (COLOR_MATCH, COLOR_MATCH_STRENGTH)}



def impact_input_names(node: str) -> tuple[str, ...]:
    """The inputs Impact Pack's own node has, in its order (the Node Replacement mapping moves exactly these)."""
    return tuple(item.name for item in IMPACT_REQUIRED + IMPACT_OPTIONAL if node in item.nodes)
