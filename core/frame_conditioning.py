"""Conditioning laid over the frame or the clip, cut to what one SEG samples.

Video models' conditioning nodes put into CONDITIONING tensors that cover the whole frame and the
whole clip: the latent of a start image (image-to-video, first-last-frame), of a control video (Fun
control, VACE), masks of the frames to keep, camera rays per pixel; image models' too
(ConditioningSetMask masks, ControlNet hints, an inpainting model's image). A SEG is sampled as a
crop of each frame at another size, so each such entry is cut at the SEG's crop windows, frame by
frame, and scaled to the sampling size by the rule its key has in :data:`RULES` (the kinds of rule:
:mod:`.frame_rules`); a model would otherwise resize the whole frame into the crop (ComfyUI's
``common_upscale(..., "center")``), silently. An entry that holds a tensor laid over the frame and
that no rule knows is refused before any model work (:meth:`FrameConditioning.check`).

The rules were read from ComfyUI 0.29's nodes (``comfy_extras/nodes_wan.py``, ``nodes_hunyuan.py``,
``nodes_lt.py``, ``nodes_kandinsky5.py``, ``nodes_camera_trajectory.py``, ``nodes.py`` and the
others that put tensors into CONDITIONING) and the model classes that read them
(``comfy/model_base.py``). ``docs/CONDITIONING.md`` lists every key with its rule. Adding a family is
adding a rule to :data:`RULES`: the detail pass cuts per SEG with :meth:`FrameConditioning.cut` and
per context window with :func:`for_window`, whatever the keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from .conditioning import Conditionings, map_conditioning
from .crop_windows import CropWindows
from .frame_rules import (
    Clip,
    ConditioningMask,
    ControlHints,
    Global,
    LatentOverClip,
    MaskOverClip,
    PixelsOverClip,
    ReferenceLatents,
    Refused,
    Rule,
    SegCut,
    TemporalOnly,
)
from .vace import VaceRule

# Cuts a ControlNet chain's hints at crop windows: (control, crop_windows, frame_h, frame_w) -> control.
CutControl = Callable[[Any, CropWindows, int, int], Any]
# Cuts a ControlNet chain's per-frame hints to a range of frames: (control, frames, frame_count) -> control.
SliceControl = Callable[[Any, range, int], Any]

ONE_PIPE = "detail the clip with a text-, image- or VACE-to-video pipe"

RULES: tuple[Rule, ...] = (
    LatentOverClip(("concat_latent_image",),
                   "WanImageToVideo, WanFirstLastFrameToVideo, WanFunInpaintToVideo, WanFunControlToVideo, "
                   "Wan22FunControlToVideo, WanCameraImageToVideo, WanTrackToVideo, WanMoveTrackToVideo, "
                   "WanInfiniteTalkToVideo, WanDancerVideo, HunyuanImageToVideo, HunyuanVideo15ImageToVideo, "
                   "InpaintModelConditioning, InstructPixToPixConditioning, SVD_img2vid_Conditioning"),
    MaskOverClip(("concat_mask",), "the image-to-video nodes of concat_latent_image, InpaintModelConditioning"),
    LatentOverClip(("ref_latent",), "HunyuanImageToVideo (custom)"),
    LatentOverClip(("time_dim_replace",), "Kandinsky5ImageToVideo"),
    LatentOverClip(("control_video",), "WanSoundImageToVideo"),
    PixelsOverClip(("camera_conditions",), 6, "WanCameraImageToVideo (rays of WanCameraEmbedding)"),
    PixelsOverClip(("concat_image",), 3, "SD_4XUpscale_Conditioning"),
    VaceRule(),
    ReferenceLatents(("reference_latents",), "Wan22FunControlToVideo (ref_image), WanHuMoImageToVideo, "
                     "WanSoundImageToVideo, ReferenceLatent"),
    ReferenceLatents(("time_dim_concat",), "WanPhantomSubjectToVideo"),
    ConditioningMask(),
    ControlHints(),
    TemporalOnly(("audio_embed",), "WanHuMoImageToVideo, WanSoundImageToVideo, WanDancerVideo"),
    Global({"clip_vision_output": "CLIPVisionEncode through WanImageToVideo and the other image-to-video nodes",
            "clip_vision_output_ref": "WanDancerVideo",
            "pooled_output": "text encoders",
            "attention_mask": "text encoders (T5, umT5)",
            "cross_attn_controlnet": "ControlNet text conditioning",
            "pooled_output_controlnet": "ControlNet text conditioning",
            "unclip_conditioning": "unCLIPConditioning",
            "guiding_frame_index": "HunyuanImageToVideo (replace)",
            "concat_mask_index": "Wan22FunControlToVideo",
            "noise_augmentation": "HunyuanVideo15 super-resolution, SD_4XUpscale_Conditioning",
            "frame_rate": "LTXVConditioning",
            "fps": "WanDancerVideo, SVD_img2vid_Conditioning",
            "audio_inject_scale": "WanDancerVideo",
            "ref_audio": "LTXVReferenceAudio"}),
    Refused(("keyframe_idxs", "guide_attention_entries"), "LTX-Video guide frames, which live in the latent",
            "pass the conditioning through LTXVCropGuides before the pipe (the detailer builds the latent from the "
            "crops)", "LTXVAddGuide"),
    Refused(("reference_motion",), "the latents of a previous clip",
            "detail the extended clip with a pipe built by WanSoundImageToVideo, not its Extend node",
            "WanSoundImageToVideoExtend"),
    Refused(("pose_video_latent", "face_video_pixels"), "Wan Animate's pose video and face crops", ONE_PIPE,
            "WanAnimateToVideo"),
    Refused(("context_latents",), "Bernini's source video and references", ONE_PIPE, "BerniniConditioning"),
    Refused(("driving_mask_28ch", "ref_mask_28ch", "ref_mask_flag"), "SCAIL's pose masks", ONE_PIPE, "WanSCAILToVideo"),
    Refused(("condition",), "a whole video to restore, SeedVR2", "upscale the whole clip first, then detail it",
            "SeedVR2Conditioning"),
)

_BY_KEY: dict[str, Rule] = {key: rule for rule in RULES for key in rule.keys}


def rule_for(key: str) -> Rule | None:
    """The rule of a conditioning key (None: no rule; then only a tensor laid over the frame is refused)."""
    return _BY_KEY.get(key)


def documented_rules() -> list[tuple[str, str, str]]:
    """``(key, what is done, which nodes set it)`` for every key with a rule, in table order."""
    return [(key, rule.laid, rule.nodes_of(key)) for rule in RULES for key in rule.keys]


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def _options(conditionings: Conditionings) -> Iterator[tuple[str, dict]]:
    for name in ("positive", "negative", "refiner_positive", "refiner_negative"):
        for entry in getattr(conditionings, name) or []:
            if isinstance(entry, (list, tuple)) and len(entry) > 1 and isinstance(entry[1], dict):
                yield name, entry[1]


@dataclass
class FrameConditioning:
    """Cuts a detail pass's conditionings per SEG by :data:`RULES` (the rules' ``PassState``).

    ``encode(frames, width, height)`` turns crops ``[F, h, w, 3]`` into the pipe VAE's latent at
    ``width`` x ``height`` (a video VAE: one ``[1, C, T, h', w']``); ``decode`` a latent into frames
    ``[F, H, W, 3]``; ``cut_control`` cuts a ControlNet chain's hints at crop windows. A tensor that
    several entries share (the positive and the negative) is decoded once per pass and cut once per SEG.
    """

    clip: Clip
    encode_crops: Callable[[torch.Tensor, int, int], torch.Tensor]
    decode_latent: Callable[[torch.Tensor], torch.Tensor]
    cut_control: CutControl | None = None
    reference_frames: set[int] = field(default_factory=set)
    _pass_cache: dict[tuple, tuple[Any, Any]] = field(default_factory=dict)
    _seg_cache: dict[tuple, tuple[Any, Any]] = field(default_factory=dict)

    def check(self, conditionings: Conditionings) -> None:
        """Refuse, before any model work, an entry its rule cannot cut for this clip, and an entry of no
        rule that holds a tensor laid over the frame; the error names the entry and the fix."""
        frame_sizes = {(self.clip.height, self.clip.width), self.clip.latent_size}
        for name, options in _options(conditionings):
            # a refusal first: it says what the pipe is, where another rule's check would only say a size
            keys = sorted(options, key=lambda key: not isinstance(rule_for(key), Refused))
            for key in keys:
                value = options[key]
                if value is None:
                    continue
                rule = rule_for(key)
                if rule is not None:
                    rule.check(key, value, options, self.clip)
                    continue
                laid = next((t for t in _tensors(value) if t.ndim >= 2 and tuple(t.shape[-2:]) in frame_sizes), None)
                if laid is not None:
                    raise ValueError(
                        f"basic_pipe: the {name} conditioning carries '{key}', a tensor {tuple(laid.shape)} laid over "
                        f"the frame that the detailer has no rule to cut to a SEG's crop (the model would squeeze the "
                        f"whole frame into it): remove the node that adds '{key}' from the pipe's conditioning "
                        f"(docs/CONDITIONING.md lists the entries the detailer cuts)")

    def cut(self, conditionings: Conditionings, seg: SegCut) -> tuple[Conditionings, int]:
        """The conditionings with every entry of a rule cut for ``seg``, and the number of reference latent
        frames (a VACE reference image) the sampled latent must lead with."""
        self._seg_cache.clear()
        self.reference_frames.clear()

        def change(options: dict) -> dict | None:
            changed = {}
            for key, value in options.items():
                rule = rule_for(key)
                if rule is not None and value is not None:
                    new = rule.cut(key, value, options, seg, self)
                    if new is not value:
                        changed[key] = new
            return {**options, **changed} if changed else None

        cut = conditionings.mapped(lambda c: map_conditioning(c, change))
        if len(self.reference_frames) > 1:
            raise ValueError("the VACE conditionings disagree on a reference image: give every WanVaceToVideo the same one")
        return cut, max(self.reference_frames, default=0)

    # the PassState the rules use

    def encode(self, frames: torch.Tensor, width: int, height: int) -> torch.Tensor:
        return self.encode_crops(frames, width, height)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decode_latent(latent).to("cpu", torch.float32)

    def cached(self, key: tuple, value: Any, make: Callable[[], Any], per_seg: bool = True) -> Any:
        cache = self._seg_cache if per_seg else self._pass_cache
        hit = cache.get(key)
        if hit is not None and hit[0] is value:
            return hit[1]
        result = make()
        cache[key] = (value, result)
        return result


def conditioning_for_window(conditioning: Any, frames: range, frame_count: int, slice_control: SliceControl | None = None,
                            latent_frames: range | None = None) -> Any:
    """A CONDITIONING cut to a context window: every entry with a frame axis cut by its rule to the
    window's pixel ``frames`` (of ``frame_count``) or, for a video latent, its ``latent_frames``;
    ControlNet chains by ``slice_control``; everything else shared."""

    def cut(options: dict) -> dict:
        options = dict(options)
        for key, value in list(options.items()):
            rule = rule_for(key)
            if rule is not None and value is not None:
                options[key] = rule.window(key, value, frames, latent_frames, frame_count)
        if options.get("control") is not None and slice_control is not None:
            options["control"] = slice_control(options["control"], frames, frame_count)
        return options

    return map_conditioning(conditioning, cut)


def for_window(conditionings: Conditionings, frames: range, frame_count: int, slice_control: SliceControl | None = None,
               latent_frames: range | None = None) -> Conditionings:
    """The pass's conditionings cut to a context window (see :func:`conditioning_for_window`)."""
    return conditionings.mapped(lambda c: conditioning_for_window(c, frames, frame_count, slice_control, latent_frames))
