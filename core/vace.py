"""VACE control (Wan's video conditioning) cut per SEG and per frame, like ControlNet hints.

ComfyUI's ``WanVaceToVideo`` puts into each conditioning entry ``vace_frames``, a list of
video latents ``[1, 2C, T, h, w]`` (the control video with the masked part removed, then the
masked part alone, each VAE-encoded over the whole frame; a reference image adds leading
latent frames), ``vace_mask``, a list of ``[1, s*s, T, h, w]`` (the pixel mask folded into
s x s channels per latent cell) and ``vace_strength``. A SEG is sampled as a crop of the frame
at another size, so each control video is decoded once per detail pass, cut at the SEG's crop
windows frame by frame, scaled to the sampling size and encoded again; the mask is cut and
folded the same way. The control video then lines up with the crops. :class:`VaceRule` is
these keys' rule in :mod:`.frame_conditioning`'s table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .conditioning import Conditionings
from .frame_rules import Clip, PassState, Rule, SegCut
from .frames import pad_frames, per_frame
from .images import centre_fit, cut_full_frames
from .masks import resize_masks

VACE_FIX = "set WanVaceToVideo's width, height and length to the frames of image_frames"


def has_vace(conditionings: Conditionings) -> bool:
    """Whether any of the conditionings carries VACE control frames."""
    return any(isinstance(options, dict) and options.get("vace_frames")
               for conditioning in (conditionings.positive, conditionings.negative,
                                    conditionings.refiner_positive, conditionings.refiner_negative)
               if conditioning is not None for _, options, *_ in conditioning)


def unfold_mask(folded: torch.Tensor) -> torch.Tensor:
    """A VACE mask ``[s*s, T, h, w]`` back to pixels ``[T, h*s, w*s]`` (WanVaceToVideo folds each
    s x s block of the pixel mask into channels, row offset first)."""
    cells, frames, height, width = folded.shape
    stride = math.isqrt(cells)
    if stride * stride != cells:
        raise ValueError(f"a vace_mask has {cells} channels, not the square of a stride: not a WanVaceToVideo mask")
    blocks = folded.reshape(stride, stride, frames, height, width)  # [row offset, column offset, T, h, w]
    return blocks.permute(2, 3, 0, 4, 1).reshape(frames, height * stride, width * stride)


def fold_mask(masks: torch.Tensor, stride: int, latent_count: int) -> torch.Tensor:
    """Pixel masks ``[F, H, W]`` folded as WanVaceToVideo folds them: ``[1, s*s, T, H/s, W/s]``,
    the frames resampled to ``latent_count`` latent frames by nearest-exact interpolation."""
    frames, height, width = masks.shape
    blocks = masks.reshape(frames, height // stride, stride, width // stride, stride)
    folded = blocks.permute(2, 4, 0, 1, 3).reshape(stride * stride, frames, height // stride, width // stride)
    resampled = F.interpolate(folded.unsqueeze(0), size=(latent_count, height // stride, width // stride), mode="nearest-exact")
    return resampled


@dataclass
class _DecodedControl:
    """One control video of a WanVaceToVideo conditioning, decoded over the whole frame."""

    inactive: torch.Tensor  # [F, H, W, 3]: the control video outside its mask
    reactive: torch.Tensor  # [F, H, W, 3]: inside its mask
    mask: torch.Tensor  # [F, H, W]
    reference: torch.Tensor | None  # [1, H, W, 3]: the reference image, decoded
    reference_fill: torch.Tensor | None  # [1, C, 1, h, w]: the reference frame's second half, as given


class VaceRule(Rule):
    """``vace_frames`` and ``vace_mask`` (paired lists, one item per WanVaceToVideo): each control video
    decoded once per pass, cut per SEG at its crop windows and encoded at the sampling size, each mask
    cut and folded again; a reference image leading the control fitted whole to the sampling size, and
    the sampled latent led by as many frames (``PassState.reference_frames``)."""

    keys = ("vace_frames", "vace_mask", "vace_strength")
    laid = "VACE control video and mask: cut per frame, encoded again at the sampling size"
    nodes = "WanVaceToVideo"

    def check(self, key: str, value: Any, options: dict, clip: Clip) -> None:
        if key != "vace_frames" or not value:
            return
        masks = options.get("vace_mask")
        if not masks or len(masks) != len(value):
            raise ValueError("a conditioning has vace_frames without a vace_mask for each: build it with WanVaceToVideo")
        for frames, mask in zip(value, masks):
            references = frames.shape[2] - clip.latent_frames
            if references not in (0, 1) or mask.shape[2] != frames.shape[2] or tuple(frames.shape[-2:]) != clip.latent_size:
                raise ValueError(f"the VACE conditioning covers {frames.shape[2]} latent frames of "
                                 f"{frames.shape[-1] * clip.layout.spatial}x{frames.shape[-2] * clip.layout.spatial} but "
                                 f"image_frames ({clip.frame_count} frames of {clip.width}x{clip.height}) makes "
                                 f"{clip.latent_frames}: {VACE_FIX}")

    def cut(self, key: str, value: Any, options: dict, seg: SegCut, state: PassState) -> Any:
        if key == "vace_strength" or not value:
            return value
        frames_list, masks = options["vace_frames"], options["vace_mask"]
        pairs = [state.cached(("vace", id(f), id(m)), f, lambda f=f, m=m: self._cut_pair(f, m, seg, state))
                 for f, m in zip(frames_list, masks)]
        state.reference_frames.update(references for _, _, references in pairs)
        return [pair[0] if key == "vace_frames" else pair[1] for pair in pairs]

    def window(self, key: str, value: Any, frames: range, latent_frames: range | None, frame_count: int) -> Any:
        if key == "vace_strength" or not value or latent_frames is None:
            return value
        return [item[:, :, latent_frames.start : latent_frames.stop] for item in value]

    @staticmethod
    def _decoded_control(frames: torch.Tensor, mask: torch.Tensor, state: PassState) -> _DecodedControl:
        clip = state.clip

        def decode() -> _DecodedControl:
            references = frames.shape[2] - clip.latent_frames
            channels = frames.shape[1] // 2
            inactive = state.decode(frames[:, :channels, references:])
            reactive = state.decode(frames[:, channels:, references:])
            spans = clip.layout.latent_frame_spans(clip.latent_frames)
            counts = torch.tensor([len(span) for span in spans])
            pixel_mask = torch.repeat_interleave(unfold_mask(mask[0, :, references:].to(torch.float32)), counts, dim=0)
            if inactive.shape[0] < clip.frame_count:
                raise ValueError(f"the VACE control video decodes to {inactive.shape[0]} frames, fewer than "
                                 f"image_frames' {clip.frame_count}: {VACE_FIX}")
            reference = fill = None
            if references:
                reference = state.decode(frames[:, :channels, :references])[:1]
                fill = frames[:, channels:, :references]
            return _DecodedControl(inactive[: clip.frame_count], reactive[: clip.frame_count],
                                   pixel_mask[: clip.frame_count], reference, fill)

        return state.cached(("vace decoded", id(frames)), frames, decode, per_seg=False)

    def _cut_pair(self, frames: torch.Tensor, mask: torch.Tensor, seg: SegCut,
                  state: PassState) -> tuple[torch.Tensor, torch.Tensor, int]:
        clip, size = state.clip, seg.size
        control = self._decoded_control(frames, mask, state)
        padded = clip.layout.encoded_frame_count(clip.frame_count)

        def encode_cut(video: torch.Tensor) -> torch.Tensor:
            cut = cut_full_frames(video, seg.crop_windows, clip.height, clip.width, "VACE control video", VACE_FIX)
            return state.encode(cut, size.width, size.height).to(torch.float32)

        latent = torch.cat([encode_cut(control.inactive), encode_cut(control.reactive)], dim=1)
        stride = math.isqrt(mask.shape[1])
        frame_masks = per_frame(resize_masks(control.mask, clip.height, clip.width), clip.frame_count,
                                "VACE control mask", "image_frames", VACE_FIX)
        cut_masks = resize_masks(seg.crop_windows.cut(frame_masks), size.height, size.width)
        folded = fold_mask(pad_frames(cut_masks, padded), stride, latent.shape[2]).to(mask.dtype)
        if control.reference is None:
            return latent.to(frames.dtype), folded, 0
        reference = state.encode(centre_fit(control.reference, size.height, size.width), size.width, size.height)
        fill = F.interpolate(control.reference_fill.to(torch.float32), size=reference.shape[2:], mode="nearest")
        latent = torch.cat([torch.cat([reference.to(torch.float32), fill], dim=1), latent], dim=2)
        folded = torch.cat([torch.zeros_like(folded[:, :, :1]), folded], dim=2)
        return latent.to(frames.dtype), folded, 1
