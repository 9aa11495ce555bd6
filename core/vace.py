"""VACE control (Wan's video conditioning) cut per SEG and per frame, like ControlNet hints.

ComfyUI's ``WanVaceToVideo`` puts into each conditioning entry ``vace_frames``, a list of
video latents ``[1, 2C, T, h, w]`` (the control video with the masked part removed, then the
masked part alone, each VAE-encoded over the whole frame; a reference image adds leading
latent frames), ``vace_mask``, a list of ``[1, s*s, T, h, w]`` (the pixel mask folded into
s x s channels per latent cell) and ``vace_strength``. A SEG is sampled as a crop of the frame
at another size, so each control video is decoded once per detail pass, cut at the SEG's crop
windows frame by frame, scaled to the sampling size and encoded again; the mask is cut and
folded the same way. The control video then lines up with the crops.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .conditioning import Conditionings, map_conditioning
from .crop_windows import CropWindows
from .frames import pad_frames, per_frame
from .geometry import LatentLayout, SamplingSize
from .images import cut_full_frames, resize_frames
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


def _center_resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Images ``[N, H, W, 3]`` cut to the aspect of ``width`` x ``height`` around their centre, then resized
    (as WanVaceToVideo fits its reference image)."""
    old_h, old_w = image.shape[1:3]
    if old_w * height > width * old_h:
        keep = round(old_h * width / height)
        x = (old_w - keep) // 2
        image = image[:, :, x : x + keep]
    elif old_w * height < width * old_h:
        keep = round(old_w * height / width)
        y = (old_h - keep) // 2
        image = image[:, y : y + keep]
    return resize_frames(image, height, width)


@dataclass
class _DecodedControl:
    """One control video of a WanVaceToVideo conditioning, decoded over the whole frame."""

    inactive: torch.Tensor  # [F, H, W, 3]: the control video outside its mask
    reactive: torch.Tensor  # [F, H, W, 3]: inside its mask
    mask: torch.Tensor  # [F, H, W]
    reference: torch.Tensor | None  # [1, H, W, 3]: the reference image, decoded
    reference_fill: torch.Tensor | None  # [1, C, 1, h, w]: the reference frame's second half, as given


@dataclass
class VaceControls:
    """Cuts the VACE control of a detail pass per SEG. ``encode`` / ``decode`` are the pipe VAE's:
    frames ``[F, H, W, 3]`` to a video latent ``[1, C, T, h, w]`` and back."""

    encode: Callable[[torch.Tensor], torch.Tensor]
    decode: Callable[[torch.Tensor], torch.Tensor]
    layout: LatentLayout
    frame_count: int
    _decoded: dict[int, tuple[torch.Tensor, _DecodedControl]] = field(default_factory=dict)

    @property
    def clip_latent_frames(self) -> int:
        return self.layout.latent_frames(self.layout.encoded_frame_count(self.frame_count))

    def _decoded_control(self, frames: torch.Tensor, mask: torch.Tensor) -> _DecodedControl:
        key = id(frames)
        if key in self._decoded and self._decoded[key][0] is frames:
            return self._decoded[key][1]
        clip_latents = self.clip_latent_frames
        references = frames.shape[2] - clip_latents
        if references < 0 or references > 1 or mask.shape[2] != frames.shape[2]:
            raise ValueError(
                f"the VACE conditioning covers {frames.shape[2]} latent frames but image_frames ({self.frame_count} "
                f"frames) makes {clip_latents}: {VACE_FIX}"
            )
        channels = frames.shape[1] // 2
        inactive = self.decode(frames[:, :channels, references:])
        reactive = self.decode(frames[:, channels:, references:])
        spans = self.layout.latent_frame_spans(clip_latents)
        counts = torch.tensor([len(span) for span in spans])
        pixel_mask = torch.repeat_interleave(unfold_mask(mask[0, :, references:].to(torch.float32)), counts, dim=0)
        if inactive.shape[0] < self.frame_count:
            raise ValueError(f"the VACE control video decodes to {inactive.shape[0]} frames, fewer than "
                             f"image_frames' {self.frame_count}: {VACE_FIX}")
        reference = fill = None
        if references:
            reference = self.decode(frames[:, :channels, :references])[:1]
            fill = frames[:, channels:, :references]
        control = _DecodedControl(inactive[: self.frame_count], reactive[: self.frame_count],
                                  pixel_mask[: self.frame_count], reference, fill)
        self._decoded[key] = (frames, control)
        return control

    def _cut_one(self, frames: torch.Tensor, mask: torch.Tensor, crop_windows: CropWindows, frame_height: int,
                 frame_width: int, size: SamplingSize) -> tuple[torch.Tensor, torch.Tensor, int]:
        control = self._decoded_control(frames, mask)
        padded = self.layout.encoded_frame_count(self.frame_count)

        def encode_cut(video: torch.Tensor, what: str) -> torch.Tensor:
            cut = cut_full_frames(video, crop_windows, frame_height, frame_width, what, VACE_FIX)
            return self.encode(pad_frames(resize_frames(cut, size.height, size.width), padded))

        latent = torch.cat([encode_cut(control.inactive, "VACE control video"),
                            encode_cut(control.reactive, "VACE control video")], dim=1)
        stride = math.isqrt(mask.shape[1])
        frame_masks = per_frame(resize_masks(control.mask, frame_height, frame_width), self.frame_count,
                                "VACE control mask", "image_frames", VACE_FIX)
        cut_masks = resize_masks(crop_windows.cut(frame_masks), size.height, size.width)
        folded = fold_mask(pad_frames(cut_masks, padded), stride, latent.shape[2]).to(mask.dtype)
        if control.reference is None:
            return latent.to(frames.dtype), folded, 0
        reference = self.encode(_center_resize(control.reference, size.height, size.width))
        fill = F.interpolate(control.reference_fill.to(torch.float32), size=reference.shape[2:], mode="nearest")
        latent = torch.cat([torch.cat([reference, fill.to(reference)], dim=1), latent], dim=2)
        folded = torch.cat([torch.zeros_like(folded[:, :, :1]), folded], dim=2)
        return latent.to(frames.dtype), folded, 1

    def cut(self, conditionings: Conditionings, crop_windows: CropWindows, frame_height: int, frame_width: int,
            size: SamplingSize) -> tuple[Conditionings, int]:
        """The conditionings with every VACE control cut to the crop windows and sampled at ``size``,
        and the number of reference latent frames the sampled latent must lead with (0 or 1)."""
        references: set[int] = set()
        # WanVaceToVideo puts the same control into the positive and the negative conditioning:
        # each distinct control is cut (decoded, cut, encoded) once per SEG.
        cuts: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor, int]] = {}

        def cut_one(frames: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
            key = (id(frames), id(mask))
            if key not in cuts:
                cuts[key] = self._cut_one(frames, mask, crop_windows, frame_height, frame_width, size)
            return cuts[key]

        def change(options: dict) -> dict | None:
            if not options.get("vace_frames"):
                return None
            masks = options.get("vace_mask")
            if not masks or len(masks) != len(options["vace_frames"]):
                raise ValueError("a conditioning has vace_frames without a vace_mask for each: build it with WanVaceToVideo")
            cut = [cut_one(f, m) for f, m in zip(options["vace_frames"], masks)]
            references.update(r for _, _, r in cut)
            return {**options, "vace_frames": [c[0] for c in cut], "vace_mask": [c[1] for c in cut]}

        cut = conditionings.mapped(lambda c: map_conditioning(c, change))
        if len(references) > 1:
            raise ValueError("the VACE conditionings disagree on a reference image: give every WanVaceToVideo the same one")
        return cut, references.pop() if references else 0

