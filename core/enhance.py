"""The detail pass: crop each SEG over all frames, sample it as one clip, scale it back.

This module orchestrates; the model work goes through a :class:`SamplingBackend`
(encode, noise, sample, decode, ControlNet), so the whole routine runs against a fake
backend in tests and against ComfyUI in the node.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from .colour import ColourMatch
from .conditioning import Conditionings
from .context_windows import sample_in_context_windows
from .crop_windows import CropWindows
from .frame_conditioning import FrameConditioning, for_window
from .frame_rules import Clip, SegCut
from .frames import pad_frames, per_frame
from .geometry import LatentLayout, SamplingSize, rect_size, sampling_size
from .images import check_frames, crop_frames, resize_frames
from .masks import feather_masks, masks_per_latent_frame, resize_masks
from .paste import paste_segs
from .regions import FittedSeg, fit_segs
from .segs import replace_seg, unpack_segs
from .subject_controls import denoise_by_size, size_gate, subject_sizes
from .tracking import tracked_windows
from .vace import has_vace

log = logging.getLogger(__name__)

SEED_LIMIT = 2**64
CROP_MODES = ("union", "tracked")
RESIZE_FRAMES_PER_CHUNK = 8  # decoded video frames scaled back per call (bounded temporaries)
MASK_FIX = "give one mask per frame or a single mask for all frames (rebuild the SEGS from the same clip as the images)"


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
    denoise_by_size: bool = False
    large_subject_denoise: float = 0.25
    size_gate: int = 0
    correction_only: bool = False

    def __post_init__(self) -> None:
        if self.crop_mode not in CROP_MODES:
            raise ValueError(f"crop_mode '{self.crop_mode}' is not one of {', '.join(CROP_MODES)}")
        if not 0.0 <= self.large_subject_denoise <= 1.0:
            raise ValueError(f"large_subject_denoise must be in 0..1, got {self.large_subject_denoise}")
        if self.size_gate < 0:
            raise ValueError(f"size_gate must be 0 (off) or a size in pixels, got {self.size_gate}")

    @property
    def differential(self) -> bool:
        """Whether soft noise-mask values mean partial denoise (differential diffusion): with a
        feathered mask, and with a per-frame denoise."""
        return self.noise_mask_feather > 0 or self.denoise_by_size

    def seed_for(self, seg_index: int) -> int:
        return (self.seed + seg_index) % SEED_LIMIT if self.seed_per_seg else self.seed


class SamplingBackend(Protocol):
    """The model work of a detail pass. Pixels are IMAGE ``[B, H, W, 3]``; latents
    ``[B, C, H/s, W/s]`` with s = ``layout.spatial``, or for a video VAE (``layout.is_video``)
    one latent ``[1, C, T, H/s, W/s]`` per clip.

    The detail pass drives the context windows itself: it asks the backend which windows to
    use, draws the clip's noise once, and calls :meth:`sample` per window with slices of it.
    """

    layout: LatentLayout
    denoise: float  # the pass's denoise (the per-frame denoise of :mod:`.subject_controls` scales from it)
    # The model reads one timestep per latent frame from the noise mask's mean over the frame (Wan 2.2
    # TI2V 5B): a mask covering part of a frame would lower the whole frame's noise level, so such a
    # model gets frame-uniform noise masks (the paste still blends through the SEG's own mask).
    frame_uniform_noise_mask: bool

    def begin(self, frame_count: int, sizes: list[SamplingSize]) -> None:
        """Called once before the first SEG, with the clip's frame count and the sampling size of
        every SEG that will be sampled (for the progress bar)."""

    def frames_per_batch(self, width: int, height: int) -> int:
        """How many frames of ``width`` x ``height`` pixels one encode or decode call may take."""

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Encode a batch of frames to latents."""

    def context_windows(self, latent_shape: tuple[int, ...]) -> list[range]:
        """The windows of latent frames a SEG's latent of that shape is sampled in (one window: the
        whole clip at once); windows that do not overlap are chunks of frames the model samples
        independently."""

    def noise(self, latent: torch.Tensor, seed: int) -> torch.Tensor:
        """The initial noise of the whole clip for ``seed``, shaped like ``latent``."""

    def sample(self, latent: torch.Tensor, noise: torch.Tensor, noise_mask: torch.Tensor,
               conditionings: Conditionings, seed: int, frames: range) -> torch.Tensor:
        """Sample the latent frames ``frames`` of the clip (one context window) in one pass;
        ``noise_mask`` is one mask per latent frame ``[F, H, W]`` at pixel size."""

    def slice_control(self, control: Any, frames: range, frame_count: int) -> Any:
        """A ControlNet chain whose per-frame hints are cut to ``frames`` of the clip."""

    def apply_control(self, wrapper: Any, conditionings: Conditionings, crops: torch.Tensor, masks: torch.Tensor,
                      crop_windows: CropWindows) -> tuple[Conditionings, list[torch.Tensor]]:
        """Let a SEG's ControlNet wrapper add its ControlNet to the conditionings, for crops
        ``[F, h, w, 3]`` and noise masks ``[F, h, w]`` cut at ``crop_windows``; returns the
        conditionings and the hint images used."""

    def cut_control(self, control: Any, crop_windows: CropWindows, frame_height: int, frame_width: int) -> Any:
        """A copy of a ControlNet chain of the pipe's conditioning whose hints (over the whole frame) are cut
        at ``crop_windows``, one per frame."""

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Decode a batch of latents to frames ``[B, H, W, 3]`` (a video latent to all its frames)."""


@dataclass(frozen=True)
class SegPlan:
    """How one SEG is detailed: the crop windows cut from the frames and the size they are sampled at."""

    fitted: FittedSeg
    crop_windows: CropWindows
    size: SamplingSize
    paste_weights: torch.Tensor | None = None  # [F]: the size gate's weight of the SEG's mask per frame
    noise_scales: torch.Tensor | None = None  # [F]: the noise mask's scale per frame (gate and per-frame denoise)


def plan_seg(fitted: FittedSeg, settings: DetailSettings, frame_count: int, layout: LatentLayout = LatentLayout(),
             denoise: float = 1.0) -> SegPlan:
    """The crop windows and sampling size of a usable SEG (sampling sides are multiples of
    ``layout.size_multiple``), and its per-frame controls for a pass of ``denoise``.

    A mask whose frame count fits neither the clip nor one frame is an error here, before any
    model work.
    """
    mask = per_frame(fitted.mask, frame_count, f"{fitted.name} cropped_mask", fix=MASK_FIX)
    tracked = settings.crop_mode == "tracked"
    wrapper = getattr(fitted.seg, "control_net_wrapper", None)
    if tracked and wrapper is not None and not getattr(wrapper, "accepts_windows", False):
        # another pack's ControlNet wrapper cuts its hint at the crop region: keep that crop
        log.info("%s: its ControlNet wrapper cannot follow a tracked crop; using the union crop", fitted.name)
        tracked = False
    if tracked:
        crop_windows, subject_size = tracked_windows(mask, fitted.rect, fitted.bbox, frame_count, settings.track_smoothing)
    else:
        crop_windows, subject_size = CropWindows.fixed(fitted.rect, frame_count), rect_size(fitted.bbox)
    size = sampling_size(
        (crop_windows.width, crop_windows.height), subject_size, settings.guide_size, settings.guide_for_bbox,
        settings.max_size, layout.size_multiple,
    )
    paste_weights, noise_scales = frame_controls(mask, settings, denoise)
    return SegPlan(fitted, crop_windows, size, paste_weights, noise_scales)


def frame_controls(mask: torch.Tensor, settings: DetailSettings,
                   denoise: float) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The size gate's paste weight ``[F]`` and the noise mask's scale ``[F]`` of a SEG whose mask per
    frame is ``mask`` ``[F, h, w]`` (None where the controls are off; :mod:`.subject_controls`)."""
    if not settings.size_gate and not settings.denoise_by_size:
        return None, None
    sizes, present = subject_sizes(mask)
    paste = size_gate(sizes, present, settings.size_gate) if settings.size_gate else torch.ones(mask.shape[0])
    noise = paste.clone()
    if settings.denoise_by_size and denoise > 0:
        noise = noise * denoise_by_size(sizes, settings.guide_size, denoise, settings.large_subject_denoise) / denoise
    return (paste if settings.size_gate else None), noise.clamp(0.0, 1.0)


def encode_in_batches(frames: torch.Tensor, width: int, height: int, backend: SamplingBackend) -> torch.Tensor:
    """Resize ``[F, h, w, 3]`` crops to ``width`` x ``height`` and encode them, a batch at a time.

    Only one batch of upscaled pixels exists at any moment.
    """
    step = max(1, backend.frames_per_batch(width, height))
    latents = [backend.encode(resize_frames(frames[i : i + step], height, width)) for i in range(0, frames.shape[0], step)]
    return latents[0] if len(latents) == 1 else torch.cat(latents)


def encode_crops(crops: torch.Tensor, width: int, height: int, backend: SamplingBackend) -> torch.Tensor:
    """Latents of crops ``[F, h, w, 3]`` sampled at ``width`` x ``height``.

    An image VAE encodes them in batches. A video VAE encodes them as one clip, padded (the last
    frame held) to the next frame count it encodes whole: ``[1, C, T, h', w']``.
    """
    layout = backend.layout
    if not layout.is_video:
        return encode_in_batches(crops, width, height, backend)
    padded = pad_frames(resize_frames(crops, height, width), layout.encoded_frame_count(crops.shape[0]))
    return backend.encode(padded)


def frame_uniform(noise_mask: torch.Tensor) -> torch.Tensor:
    """Noise masks ``[F, H, W]`` made uniform over each frame: every pixel at the frame's largest value
    (1 where the SEG is, a per-frame denoise kept, 0 where the frame holds nothing)."""
    return noise_mask.flatten(1).amax(dim=1).view(-1, 1, 1).expand_as(noise_mask).contiguous()


def decode_latent(latent: torch.Tensor, backend: SamplingBackend) -> torch.Tensor:
    """Frames ``[F, H, W, 3]`` of a latent at its own size: a video latent in one call, image latents a
    batch at a time."""
    if backend.layout.is_video:
        return backend.decode(latent)
    spatial = backend.layout.spatial
    step = max(1, backend.frames_per_batch(latent.shape[-1] * spatial, latent.shape[-2] * spatial))
    return torch.cat([backend.decode(latent[start : start + step]) for start in range(0, latent.shape[0], step)])


def noise_mask_for(masks: torch.Tensor, width: int, height: int, latent: torch.Tensor, layout: LatentLayout) -> torch.Tensor:
    """The noise mask of crops' masks ``[F, h, w]``: one per latent frame at the sampling size.

    For a video latent each latent frame holds several frames: it is denoised wherever any of
    them is (the maximum), padded frames taking the last frame's mask.
    """
    resized = resize_masks(masks, height, width)
    if not layout.is_video:
        return resized
    latent_count = latent.shape[2]
    padded = pad_frames(resized, layout.pixel_frames(latent_count))
    return masks_per_latent_frame(padded, layout.latent_frame_spans(latent_count))


def decode_crops(latent: torch.Tensor, frame_count: int, width: int, height: int, backend: SamplingBackend) -> torch.Tensor:
    """The ``frame_count`` refined crops of sampled latents, each scaled straight to ``width`` x
    ``height``: float32 ``[F, height, width, 3]`` on the CPU.

    Image latents are decoded a batch at a time; a video latent in one call, its padding frames
    dropped. Decoded frames are scaled back a few at a time, so no full-size copy of the clip exists.
    """
    out = torch.empty((frame_count, height, width, 3), dtype=torch.float32)
    if backend.layout.is_video:
        batches = [(0, latent)]
    else:
        spatial = backend.layout.spatial
        step = max(1, backend.frames_per_batch(latent.shape[-1] * spatial, latent.shape[-2] * spatial))
        batches = ((start, latent[start : start + step]) for start in range(0, frame_count, step))
    for start, part in batches:
        expected = frame_count - start if backend.layout.is_video else part.shape[0]
        pixels = backend.decode(part)[:expected]
        if pixels.shape[0] < expected:
            raise RuntimeError(f"basic_pipe: the VAE decoded {pixels.shape[0]} frames where {expected} were expected "
                               f"(its frame formulas are not what it reports): this VAE type is not supported by the "
                               f"detailer, use the VAE that belongs to the model")
        for offset in range(0, pixels.shape[0], RESIZE_FRAMES_PER_CHUNK):
            chunk = pixels[offset : offset + RESIZE_FRAMES_PER_CHUNK, ..., :3].to("cpu", torch.float32)
            out[start + offset : start + offset + chunk.shape[0]] = resize_frames(chunk, height, width)
    return out


def sample_clip(latent: torch.Tensor, noise_mask: torch.Tensor, conditionings: Conditionings, seed: int,
                backend: SamplingBackend, reference_frames: int = 0) -> torch.Tensor:
    """Sample one SEG's latents in the backend's context windows, with the noise drawn once for
    the whole clip; each window samples with its frames' conditioning masks and hints.

    Image latents ``[F, C, h, w]`` are windowed over F; a video latent ``[1, C, T, h, w]`` over
    its T latent frames, each window after the first anchored on the frame before it. A video
    latent may lead with ``reference_frames`` frames (a VACE reference image): they are sampled
    with the clip, fully denoised, and dropped from the result.
    """
    layout = backend.layout
    time_dim = 2 if layout.is_video else 0
    latent_count = latent.shape[time_dim]
    spans = layout.latent_frame_spans(latent_count)
    frame_count = spans[-1].stop
    windows = backend.context_windows(tuple(latent.shape))
    if len(windows) > 1:
        if reference_frames:
            raise ValueError("a VACE reference image cannot be sampled in the detailer's context windows: set "
                             "context_length to 0 (or -1) and use ComfyUI's Context Windows node on the model instead")
        log.info("sampling %d latent frames in %d context windows of %d", latent_count, len(windows), len(windows[0]))
    if reference_frames:
        latent = torch.cat([torch.zeros_like(latent[:, :, :reference_frames]), latent], dim=2)
        noise_mask = torch.cat([torch.ones_like(noise_mask[:reference_frames]), noise_mask])
        windows = [range(0, latent_count + reference_frames)]

    def sample_window(frames: range, part: torch.Tensor, noise: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        conds = conditionings
        if len(frames) != latent.shape[time_dim]:  # per-frame conditioning masks and hints count pixel frames
            pixels = range(spans[frames.start].start, spans[frames.stop - 1].stop)
            conds = for_window(conditionings, pixels, frame_count, backend.slice_control,
                               frames if layout.is_video else None)
        return backend.sample(part, noise, mask, conds, seed, frames)

    sampled = sample_in_context_windows(latent, backend.noise(latent, seed), noise_mask, windows, sample_window,
                                        time_dim, causal_anchor=layout.is_video)
    return sampled[:, :, reference_frames:] if reference_frames else sampled


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
    frame_conditioning: FrameConditioning,
) -> SegResult:
    """Detail one SEG over all frames and return its refined SEG (nothing is pasted).

    The crop is taken from ``frames`` for every frame (never from ``seg.cropped_image``),
    sampled at ``plan.size`` in one pass, and scaled back to the crop's own size; every
    conditioning entry laid over the frame is cut to the crop by ``frame_conditioning``.
    """
    fitted, crop_windows = plan.fitted, plan.crop_windows
    frame_count = frames.shape[0]
    x1, y1, x2, y2 = fitted.rect
    in_crop = crop_windows.shifted(x1, y1)
    crops = crop_windows.cut(frames)
    masks = per_frame(feather_masks(fitted.mask, settings.noise_mask_feather), frame_count,
                      f"{fitted.name} cropped_mask", fix=MASK_FIX)
    if plan.noise_scales is not None:
        masks = masks * plan.noise_scales.view(-1, 1, 1)
    masks = in_crop.cut(masks)

    conds, reference_frames = frame_conditioning.cut(conditionings, SegCut(crop_windows, plan.size))
    cnet_images: list[torch.Tensor] = []
    wrapper = getattr(fitted.seg, "control_net_wrapper", None)
    if wrapper is not None:
        conds, hints = backend.apply_control(wrapper, conds, crops.contiguous(), masks, crop_windows)
        cnet_images.extend(hints)

    width, height = plan.size.width, plan.size.height
    log.info(
        "%s: %s crop %dx%d in %s, sampled at %dx%d (x%.2f) over %d frames",
        fitted.name, "fixed" if crop_windows.is_fixed else "tracked", crop_windows.width, crop_windows.height,
        list(fitted.rect), width, height, plan.size.scale, frame_count,
    )
    latent = encode_crops(crops, width, height, backend)
    source_latent = latent if settings.correction_only else None
    noise_mask = noise_mask_for(masks, width, height, latent, backend.layout)
    if getattr(backend, "frame_uniform_noise_mask", False):
        noise_mask = frame_uniform(noise_mask)
    # Per-frame tensors are dropped as soon as they are used: on a long clip each is a sizeable
    # share of the peak, which must not grow with the frame count more than the output does.
    del crops, masks
    latent = sample_clip(latent, noise_mask, conds, settings.seed_for(fitted.index), backend, reference_frames)
    del noise_mask
    refined = decode_crops(latent, frame_count, crop_windows.width, crop_windows.height, backend)
    if not bool(torch.isfinite(refined).all()):
        raise RuntimeError(
            f"{fitted.name}: sampling produced NaN or infinite pixels; the model or VAE overflowed "
            f"(try an fp32 VAE, a lower cfg, or another checkpoint)"
        )
    if source_latent is not None:
        # what the model changed, on the original: the VAE's own loss cancels where it changed nothing
        round_trip = decode_crops(source_latent, frame_count, crop_windows.width, crop_windows.height, backend)
        original = crop_windows.cut(frames).to("cpu", torch.float32)
        refined = (original + (refined - round_trip)).clamp_(0.0, 1.0)
        del round_trip, original
    if (crop_windows.width, crop_windows.height) != (x2 - x1, y2 - y1):
        # the SEG keeps its crop region: the union crop with each frame's window refined
        refined = in_crop.paste(crop_frames(frames, fitted.rect).to("cpu", torch.float32).clone(), refined)

    changes: dict[str, Any] = {}
    if plan.paste_weights is not None:  # the size gate: the paste leaves the frames outside it untouched
        changes["cropped_mask"] = gated_mask(fitted.mask, plan.paste_weights)
    new_seg = replace_seg(fitted.seg, cropped_image=refined, crop_region=fitted.rect, bbox=fitted.bbox,
                          control_net_wrapper=None, **changes)
    return SegResult(new_seg, cnet_images)


def gated_mask(mask: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """A SEG's mask ``[1|F, h, w]`` weighted per frame: ``[F, h, w]`` float32, exactly 0 where the weight is."""
    return (mask.expand(weights.shape[0], *mask.shape[1:]) * weights.view(-1, 1, 1)).to(torch.float32).contiguous()


def _plan_all(frames: torch.Tensor, segs: Any, settings: DetailSettings, layout: LatentLayout,
              denoise: float = 1.0) -> tuple[list[FittedSeg], dict[int, SegPlan], set[int]]:
    """Fit the SEGS to the frames and plan every usable one; mask-count errors surface here, before model work.

    A SEG whose mask is zero in every frame has nothing to detail: it gets no plan (no model
    work) and passes through unchanged, with a warning naming it.
    """
    frame_count, frame_h, frame_w = frames.shape[:3]
    fitted = fit_segs(segs, frame_h, frame_w)
    plans = {}
    gated_out: set[int] = set()
    for item in fitted:
        if not item.usable:
            continue
        if not bool(item.mask.any()):
            log.warning("%s: its mask is empty in every frame, nothing to detail; it is passed through unchanged", item.name)
            continue
        plan = plan_seg(item, settings, frame_count, layout, denoise)
        if plan.paste_weights is not None and not bool(plan.paste_weights.any()):
            log.warning("%s: its subject is never smaller than size_gate (%d px); no frame is detailed",
                        item.name, settings.size_gate)
            gated_out.add(item.index)
            continue
        plans[item.index] = plan
    return fitted, plans, gated_out


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
    colour_match: ColourMatch | None = None,
) -> tuple[torch.Tensor, Any, list[torch.Tensor]]:
    """Detail the SEGS one after another, pasting each onto the frames before the next.

    A later SEG that overlaps an earlier one is detailed on the already refined pixels,
    as Impact's DetailerForEach does. Returns ``(frames, refined SEGS, cnet images)``;
    ``after_paste`` (a detailer hook's post_paste) runs on the frames after each paste;
    ``colour_match`` is the paste's (:func:`.paste.paste_segs`).
    """
    return _detail_each(frames, segs, settings, conditionings, backend, feather, after_paste, colour_match)


def _detail_each(
    frames: torch.Tensor,
    segs: Any,
    settings: DetailSettings,
    conditionings: Conditionings,
    backend: SamplingBackend,
    paste_feather: int | None = None,
    after_paste: Callable[[torch.Tensor], torch.Tensor] | None = None,
    colour_match: ColourMatch | None = None,
) -> tuple[torch.Tensor, Any, list[torch.Tensor]]:
    """Detail the SEGS in order; with ``paste_feather`` each is pasted before the next one.

    Frames of any float type are detailed in float32 (the refined crops are float32).
    """
    frames = check_frames(frames).to(torch.float32)
    if not unpack_segs(segs)[1]:
        return frames, segs, []
    fitted, plans, gated_out = _plan_all(frames, segs, settings, backend.layout, backend.denoise)
    if has_vace(conditionings) and not backend.layout.is_video:
        raise ValueError("basic_pipe: the conditioning carries VACE control (WanVaceToVideo) but the VAE is an image VAE: "
                         "use a Wan model and its VAE in the pipe")
    frame_conditioning = FrameConditioning(
        Clip(frames.shape[0], frames.shape[1], frames.shape[2], backend.layout),
        lambda crops, width, height: encode_crops(crops, width, height, backend),
        lambda latent: decode_latent(latent, backend), getattr(backend, "cut_control", None))
    frame_conditioning.check(conditionings)
    backend.begin(frames.shape[0], [plan.size for plan in plans.values()])
    header = tuple(frames.shape[1:3])
    new_segs: list[Any] = []
    cnet_images: list[torch.Tensor] = []
    for item in fitted:
        if item.index in gated_out:  # the frames come back untouched: an empty mask pastes nothing
            new_segs.append(replace_seg(item.seg, cropped_image=crop_frames(frames, item.rect).clone(),
                                        cropped_mask=torch.zeros(frames.shape[0], *item.mask.shape[1:]),
                                        crop_region=item.rect, bbox=item.bbox, control_net_wrapper=None))
            continue
        if item.index not in plans:
            new_segs.append(item.seg)
            continue
        result = detail_seg(frames, plans[item.index], settings, conditionings, backend, frame_conditioning)
        if paste_feather is not None:
            frames = paste_segs(frames, (header, [result.seg]), paste_feather, colour_match=colour_match)
            if after_paste is not None:
                frames = after_paste(frames)
        new_segs.append(result.seg)
        cnet_images.extend(result.cnet_images)
    return frames, (header, new_segs), cnet_images
