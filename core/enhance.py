"""The detail pass: crop each SEG over all frames, sample it as one clip, scale it back.

This module orchestrates; the model work goes through a :class:`SamplingBackend`
(encode, sample, decode), so the whole routine runs against a fake backend in tests
and against ComfyUI in the node.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import torch

from .conditioning import crop_conditioning
from .geometry import VAE_STRIDE, SamplingSize, rect_size, sampling_size
from .images import check_frames, crop_frames, resize_frames
from .masks import feather_masks, masks_for_frames, resize_masks
from .paste import paste_segs
from .regions import FittedSeg, fit_segs
from .segs import SEG, unpack_segs
from .tracking import tracked_windows
from .windows import CropWindows

log = logging.getLogger(__name__)

SEED_LIMIT = 2**64
CROP_MODES = ("union", "tracked")


@dataclass(frozen=True)
class DetailSettings:
    """What decides the crop and its sampling size, and the seed of each SEG.

    ``guide_size`` and ``max_size`` are pixels; ``noise_mask_feather`` is the blur
    radius of the noise mask in crop pixels. With ``seed_per_seg`` SEG i uses
    ``seed + i`` (two faces do not get the same noise); without it every SEG uses
    ``seed``, as Impact does.
    """

    guide_size: float
    guide_for_bbox: bool
    max_size: float
    seed: int
    noise_mask_feather: int = 0
    seed_per_seg: bool = False
    crop_mode: str = "union"
    track_smoothing: float = 2.0

    def __post_init__(self) -> None:
        if self.crop_mode not in CROP_MODES:
            raise ValueError(f"crop_mode '{self.crop_mode}' is not one of {', '.join(CROP_MODES)}")

    def seed_for(self, seg_index: int) -> int:
        return (self.seed + seg_index) % SEED_LIMIT if self.seed_per_seg else self.seed


@dataclass(frozen=True)
class Conditionings:
    """The CONDITIONING lists a pass samples with (the refiner's may be None)."""

    positive: Any
    negative: Any
    refiner_positive: Any = None
    refiner_negative: Any = None

    def cropped(self, windows: CropWindows, frame_width: int, frame_height: int) -> Conditionings:
        """The same conditionings with every mask cut to the crop windows of the full frame."""
        return Conditionings(
            *(crop_conditioning(c, windows, frame_width, frame_height) for c in
              (self.positive, self.negative, self.refiner_positive, self.refiner_negative))
        )


class SamplingBackend(Protocol):
    """The model work of a detail pass. Pixels are IMAGE ``[B, H, W, 3]``; latents ``[B, C, H/s, W/s]``.

    ``stride`` (s) is the VAE's downscale factor: sampling sizes are multiples of it.
    ``advanced_controlnet`` tells ControlNet wrappers (Impact's ``apply(..., use_acn=)``)
    whether Advanced-ControlNet is there to apply them; without it they use ComfyUI's own.
    """

    stride: int
    advanced_controlnet: bool

    def begin(self, seg_count: int, frame_count: int) -> None:
        """Called once before the first SEG, with the number of SEGS that will be sampled."""

    def frames_per_batch(self, width: int, height: int) -> int:
        """How many frames of ``width`` x ``height`` pixels one encode or decode call may take."""

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Encode a batch of frames to latents."""

    def sample(self, latent: torch.Tensor, noise_mask: torch.Tensor, conditionings: Conditionings, seed: int) -> torch.Tensor:
        """Sample all frames of one SEG in one pass; ``noise_mask`` is ``[F, H, W]`` at pixel size."""

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Decode a batch of latents to frames."""


@dataclass(frozen=True)
class SegPlan:
    """How one SEG is detailed: the windows cut from the frames and the size they are sampled at."""

    fitted: FittedSeg
    windows: CropWindows
    size: SamplingSize


def plan_seg(fitted: FittedSeg, settings: DetailSettings, frame_count: int, stride: int = VAE_STRIDE) -> SegPlan:
    """The crop windows and sampling size of a usable SEG (sampling sides are multiples of ``stride``).

    A mask whose frame count fits neither the clip nor one frame is an error here, before any
    model work.
    """
    mask = masks_for_frames(fitted.mask, frame_count, f"{fitted.name} cropped_mask")
    tracked = settings.crop_mode == "tracked"
    wrapper = getattr(fitted.seg, "control_net_wrapper", None)
    if tracked and wrapper is not None and not getattr(wrapper, "accepts_windows", False):
        # another pack's ControlNet wrapper cuts its hint at the crop region: keep that crop
        log.info("%s: its ControlNet wrapper cannot follow a tracked crop; using the union crop", fitted.name)
        tracked = False
    if tracked:
        windows, subject_size = tracked_windows(mask, fitted.rect, fitted.bbox, frame_count, settings.track_smoothing)
    else:
        windows, subject_size = CropWindows.fixed(fitted.rect, frame_count), rect_size(fitted.bbox)
    size = sampling_size(
        (windows.width, windows.height), subject_size, settings.guide_size, settings.guide_for_bbox, settings.max_size, stride
    )
    return SegPlan(fitted, windows, size)


def encode_in_batches(frames: torch.Tensor, width: int, height: int, backend: SamplingBackend) -> torch.Tensor:
    """Resize ``[F, h, w, 3]`` crops to ``width`` x ``height`` and encode them, a batch at a time.

    Only one batch of upscaled pixels exists at any moment.
    """
    step = max(1, backend.frames_per_batch(width, height))
    latents = [backend.encode(resize_frames(frames[i : i + step], height, width)) for i in range(0, frames.shape[0], step)]
    return latents[0] if len(latents) == 1 else torch.cat(latents)


def decode_in_batches(latent: torch.Tensor, width: int, height: int, backend: SamplingBackend) -> torch.Tensor:
    """Decode latents and scale each batch straight to ``width`` x ``height``: float32 ``[F, height, width, 3]`` on the CPU."""
    frame_count = latent.shape[0]
    out = torch.empty((frame_count, height, width, 3), dtype=torch.float32)
    step = max(1, backend.frames_per_batch(latent.shape[-1] * backend.stride, latent.shape[-2] * backend.stride))
    for start in range(0, frame_count, step):
        pixels = backend.decode(latent[start : start + step])
        out[start : start + pixels.shape[0]] = resize_frames(pixels[..., :3].to("cpu", torch.float32), height, width)
    return out


@dataclass(frozen=True)
class SegResult:
    seg: Any
    cnet_images: list[torch.Tensor]


def detail_seg(
    frames: torch.Tensor,
    plan: SegPlan,
    settings: DetailSettings,
    conditionings: Conditionings,
    backend: SamplingBackend,
) -> SegResult:
    """Detail one SEG over all frames and return its refined SEG (nothing is pasted).

    The crop is taken from ``frames`` for every frame (never from ``seg.cropped_image``),
    sampled at ``plan.size`` in one call, and scaled back to the crop's own size.
    """
    fitted, windows = plan.fitted, plan.windows
    frame_count, frame_h, frame_w = frames.shape[:3]
    x1, y1, x2, y2 = fitted.rect
    in_crop = windows.shifted(x1, y1)
    crops = windows.cut(frames)
    masks = masks_for_frames(feather_masks(fitted.mask, settings.noise_mask_feather), frame_count, f"{fitted.name} cropped_mask")
    masks = in_crop.cut(masks)

    conds = conditionings.cropped(windows, frame_w, frame_h)
    cnet_images: list[torch.Tensor] = []
    wrapper = getattr(fitted.seg, "control_net_wrapper", None)
    if wrapper is not None:
        extra = {"windows": windows} if getattr(wrapper, "accepts_windows", False) else {}
        use_acn = getattr(backend, "advanced_controlnet", True)
        positive, negative, hints = wrapper.apply(conds.positive, conds.negative, crops.contiguous(), masks, use_acn=use_acn, **extra)
        conds = replace(conds, positive=positive, negative=negative)
        cnet_images.extend(hints or [])

    width, height = plan.size.width, plan.size.height
    log.info(
        "%s: %s crop %dx%d in %s, sampled at %dx%d (x%.2f) over %d frames",
        fitted.name, "fixed" if windows.is_fixed else "tracked", windows.width, windows.height, list(fitted.rect),
        width, height, plan.size.scale, frame_count,
    )
    latent = encode_in_batches(crops, width, height, backend)
    noise_mask = resize_masks(masks, height, width)
    # Per-frame tensors are dropped as soon as they are used: on a long clip each is a sizeable
    # share of the peak, which must not grow with the frame count more than the output does.
    del crops, masks
    latent = backend.sample(latent, noise_mask, conds, settings.seed_for(fitted.index))
    del noise_mask
    refined = decode_in_batches(latent, windows.width, windows.height, backend)
    if not bool(torch.isfinite(refined).all()):
        raise RuntimeError(
            f"{fitted.name}: sampling produced NaN or infinite pixels; the model or VAE overflowed "
            f"(try an fp32 VAE, a lower cfg, or another checkpoint)"
        )
    if (windows.width, windows.height) != (x2 - x1, y2 - y1):
        # the SEG keeps its crop region: the union crop with each frame's window refined
        refined = in_crop.paste(crop_frames(frames, fitted.rect).to("cpu", torch.float32).clone(), refined)

    seg = fitted.seg
    new_seg = SEG(refined, seg.cropped_mask, seg.confidence, fitted.rect, fitted.bbox, seg.label, None)
    return SegResult(new_seg, cnet_images)


def _plan_all(frames: torch.Tensor, segs: Any, settings: DetailSettings, stride: int) -> tuple[list[FittedSeg], dict[int, SegPlan]]:
    """Fit the SEGS to the frames and plan every usable one; mask-count errors surface here, before model work."""
    frame_count, frame_h, frame_w = frames.shape[:3]
    fitted = fit_segs(segs, frame_h, frame_w)
    plans = {item.index: plan_seg(item, settings, frame_count, stride) for item in fitted if item.usable}
    return fitted, plans


def detail_segs(
    frames: torch.Tensor,
    segs: Any,
    settings: DetailSettings,
    conditionings: Conditionings,
    backend: SamplingBackend,
) -> tuple[Any, list[torch.Tensor]]:
    """Detail every SEG of ``segs`` over ``frames`` (IMAGE ``[F, H, W, 3]``).

    Returns the refined SEGS, in the frames' coordinates and in input order, and the
    ControlNet hint images used. Empty SEGS come back as given. A SEG with no area
    inside the frames comes back unchanged (a warning names it).
    """
    _, refined, cnet_images = _detail_each(frames, segs, settings, conditionings, backend)
    return refined, cnet_images


def detail_and_paste(
    frames: torch.Tensor,
    segs: Any,
    settings: DetailSettings,
    conditionings: Conditionings,
    backend: SamplingBackend,
    feather: int,
    after_paste: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, Any, list[torch.Tensor]]:
    """Detail the SEGS one after another, pasting each onto the frames before the next.

    A later SEG that overlaps an earlier one is detailed on the already refined pixels,
    as Impact's DetailerForEach does. Returns ``(frames, refined SEGS, cnet images)``;
    ``after_paste`` (a detailer hook's post_paste) runs on the frames after each paste.
    """
    return _detail_each(frames, segs, settings, conditionings, backend, feather, after_paste)


def _detail_each(
    frames: torch.Tensor,
    segs: Any,
    settings: DetailSettings,
    conditionings: Conditionings,
    backend: SamplingBackend,
    paste_feather: int | None = None,
    after_paste: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, Any, list[torch.Tensor]]:
    """Detail the SEGS in order; with ``paste_feather`` each is pasted before the next one."""
    frames = check_frames(frames)
    if not unpack_segs(segs)[1]:
        return frames, segs, []
    fitted, plans = _plan_all(frames, segs, settings, backend.stride)
    backend.begin(len(plans), frames.shape[0])
    header = tuple(frames.shape[1:3])
    new_segs: list[Any] = []
    cnet_images: list[torch.Tensor] = []
    for item in fitted:
        if item.index not in plans:
            new_segs.append(item.seg)
            continue
        result = detail_seg(frames, plans[item.index], settings, conditionings, backend)
        if paste_feather is not None:
            frames = paste_segs(frames, (header, [result.seg]), paste_feather)
            if after_paste is not None:
                frames = after_paste(frames)
        new_segs.append(result.seg)
        cnet_images.extend(result.cnet_images)
    return frames, (header, new_segs), cnet_images
