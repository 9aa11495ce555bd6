"""The kinds of rule that cut a conditioning entry laid over the frame or the clip to one SEG.

:mod:`.frame_conditioning` holds the table (which key has which rule) and applies it; this module
holds what a rule is and the rules shared by many keys. Layouts (latent stride ``s``, ``T`` latent
frames, the clip ``F`` frames of ``H`` x ``W`` pixels):

* a latent over the clip: ``[B, n*C, T, H/s, W/s]`` (``n`` latents of the VAE's ``C`` channels
  stacked, as a Fun control video and its start image) or, for an image VAE, ``[1|F, n*C, H/s, W/s]``;
* a mask over the clip: ``[B, c, T, h, w]`` at any resolution, with ``c`` one or the VAE's time
  compression (slot ``j`` of latent frame ``k`` is the ``j``-th frame of the group it holds, as
  ComfyUI's 4-channel Wan masks); for an image model ``[1|F, 1, h, w]``;
* pixels over the clip: ``[B, m*c, T, H, W]`` (``m`` values per pixel for each of ``c`` slots, e.g.
  camera rays), or ``[1|F, m, H, W]`` for an image model.

A SEG's crop of frame ``f`` is ``crop_windows`` frame ``f``; each entry is cut frame by frame (a
latent frame's slots at their own frames) and scaled to the sampled latent, so it lines up with the
crops the model samples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from .conditioning import crop_condition_mask
from .crop_windows import CropWindows
from .geometry import LatentLayout, SamplingSize
from .images import centre_fit, cut_full_frames

FRAMES_FIX = "set the node's width, height and length to those of image_frames"


@dataclass(frozen=True)
class Clip:
    """The clip of a detail pass: ``frame_count`` frames of ``width`` x ``height`` pixels, and the
    latent layout of the pipe's VAE."""

    frame_count: int
    height: int
    width: int
    layout: LatentLayout

    @property
    def latent_frames(self) -> int:
        """Latent frames of the clip as the detailer encodes it (padded to the VAE's frame rule)."""
        layout = self.layout
        return layout.latent_frames(layout.encoded_frame_count(self.frame_count)) if layout.is_video else self.frame_count

    @property
    def latent_size(self) -> tuple[int, int]:
        """``(height, width)`` of the frame's latent."""
        return self.height // self.layout.spatial, self.width // self.layout.spatial

    def slots(self, latent_frames: int, per_frame: int) -> torch.Tensor:
        """The pixel frame of each slot of a tensor with ``per_frame`` slots per latent frame: int64
        ``[latent_frames, per_frame]``, slot ``j`` of latent frame ``k`` the ``j``-th frame of the group
        it holds, its last frame repeated (Wan's latent frame 0 holds frame 0 alone)."""
        spans = self.layout.latent_frame_spans(latent_frames)
        return torch.tensor([[span.start + min(j, len(span) - 1) for j in range(per_frame)] for span in spans])


@dataclass(frozen=True)
class SegCut:
    """Where one SEG is cut from each frame of the clip (``crop_windows``), and its sampling size."""

    crop_windows: CropWindows
    size: SamplingSize

    def windows_of(self, pixel_frames: torch.Tensor) -> CropWindows:
        """The crop windows of the given pixel frames (frames past the clip's end, padding, take the last)."""
        last = self.crop_windows.origins.shape[0] - 1
        return CropWindows(self.crop_windows.origins[pixel_frames.clamp(max=last)], self.crop_windows.width,
                           self.crop_windows.height)

    def latent_size(self, layout: LatentLayout) -> tuple[int, int]:
        """``(height, width)`` of the sampled latent."""
        return self.size.height // layout.spatial, self.size.width // layout.spatial


class PassState(Protocol):
    """What the rules share during a pass (:class:`.frame_conditioning.FrameConditioning`)."""

    clip: Clip
    reference_frames: set[int]
    cut_control: Callable[[Any, CropWindows, int, int], Any] | None

    def encode(self, frames: torch.Tensor, width: int, height: int) -> torch.Tensor:
        """Crops ``[F, h, w, 3]`` to the pipe VAE's latent at ``width`` x ``height``."""

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Frames ``[F, H, W, 3]`` float32 of a latent of the pipe's VAE."""

    def cached(self, key: tuple, value: Any, make: Callable[[], Any], per_seg: bool = True) -> Any:
        """``make()`` once per SEG (or per pass) for the object ``value``."""


class Rule:
    """How some entries of a conditioning dict are cut for a SEG; one subclass per kind.

    ``keys`` are the entries it owns, ``laid`` says in a few words what they are and what is done
    (the table of docs/CONDITIONING.md), ``nodes`` which of ComfyUI's nodes set them.
    """

    keys: tuple[str, ...] = ()
    laid = ""
    nodes = ""

    def nodes_of(self, key: str) -> str:
        """Which of ComfyUI's nodes set ``key``."""
        return self.nodes

    def check(self, key: str, value: Any, options: dict, clip: Clip) -> None:
        """Raise, naming ``key`` and the fix, when the entry cannot be cut for ``clip``; called before
        any model work, only for values that are not None."""

    def cut(self, key: str, value: Any, options: dict, seg: SegCut, state: PassState) -> Any:
        """The entry's value for the SEG (``options`` is the whole conditioning dict)."""
        return value

    def window(self, key: str, value: Any, frames: range, latent_frames: range | None, frame_count: int) -> Any:
        """The entry's value for a context window: pixel ``frames`` of ``frame_count``, or for a video
        latent its ``latent_frames``."""
        return value


def refusal(key: str, what: str, fix: str) -> ValueError:
    return ValueError(f"basic_pipe: the conditioning entry '{key}' ({what}) cannot be cut to a SEG's crop: {fix}")


class Global(Rule):
    """Entries without a spatial layout (embeddings, scalars): passed unchanged. ``nodes``: the nodes
    that set them, one string for all keys or one per key."""

    laid = "global: no spatial layout, passed unchanged"

    def __init__(self, keys: Iterable[str] | dict[str, str], nodes: str = "") -> None:
        self._nodes = dict(keys) if isinstance(keys, dict) else {}
        self.keys, self.nodes = tuple(keys), nodes

    def nodes_of(self, key: str) -> str:
        return self._nodes.get(key, self.nodes)


class TemporalOnly(Global):
    """Entries per frame with no spatial layout (audio features): passed unchanged when the clip is
    sampled whole; the detailer's own context windows cannot cut them."""

    laid = "per frame, no spatial layout: passed unchanged; not with the detailer's own context windows"

    def window(self, key: str, value: Any, frames: range, latent_frames: range | None, frame_count: int) -> Any:
        raise ValueError(f"basic_pipe: the conditioning entry '{key}' holds per-frame features the detailer's own "
                         f"context windows cannot cut: set context_length to 0 and use ComfyUI's Context Windows node "
                         f"on the model instead")


class Refused(Rule):
    """Entries the detailer cannot cut: an error naming the entry and the fix, before any model work."""

    def __init__(self, keys: Iterable[str], what: str, fix: str, nodes: str = "") -> None:
        self.keys, self.what, self.fix, self.nodes = tuple(keys), what, fix, nodes
        self.laid = f"refused ({what})"

    def check(self, key: str, value: Any, options: dict, clip: Clip) -> None:
        raise refusal(key, self.what, self.fix)


def _resize_planes(planes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``[N, c, h, w]`` resized bilinearly to ``[N, c, height, width]`` float32."""
    planes = planes.to(torch.float32)
    if planes.shape[-2:] == (height, width):
        return planes
    return F.interpolate(planes, size=(height, width), mode="bilinear", align_corners=False)


def cut_planes(planes: torch.Tensor, windows: CropWindows, clip: Clip, height: int, width: int) -> torch.Tensor:
    """Planes ``[N, c, h, w]`` over the frame at any resolution (plane ``i`` cut by window ``i``, or one
    plane by every window), cut at ``windows`` and scaled to ``[N, c, height, width]`` float32."""
    full = _resize_planes(planes, clip.height, clip.width).permute(0, 2, 3, 1)
    return _resize_planes(windows.cut(full).permute(0, 3, 1, 2), height, width)


def cut_slotted(value: torch.Tensor, seg: SegCut, clip: Clip, height: int, width: int, groups: int = 1) -> torch.Tensor:
    """A video tensor ``[B, groups*c, T, h, w]`` over the clip whose ``c`` slots per latent frame are
    frames of the group it holds (channel ``g*c + j``: slot ``j`` of group ``g``; ``c`` = 1: the whole
    group, cut at each of its frames and averaged), cut at each slot's window and scaled:
    ``[B, groups*c, T, height, width]`` float32."""
    batch, channels, latent_frames = value.shape[:3]
    per_frame = channels // groups
    planes = value.reshape(batch, groups, per_frame, latent_frames, *value.shape[-2:])
    planes = planes.permute(0, 3, 2, 1, 4, 5).reshape(batch * latent_frames * per_frame, groups, *value.shape[-2:])
    if per_frame == 1:
        spans = clip.layout.latent_frame_spans(latent_frames)
        cuts = []
        for index, span in enumerate(spans * batch):
            frames = torch.arange(span.start, span.stop)
            plane = planes[index : index + 1].expand(len(frames), *planes.shape[1:])
            cuts.append(cut_planes(plane, seg.windows_of(frames), clip, height, width).mean(dim=0, keepdim=True))
        cut = torch.cat(cuts)
    else:
        frames = clip.slots(latent_frames, per_frame).flatten().repeat(batch)
        cut = cut_planes(planes, seg.windows_of(frames), clip, height, width)
    cut = cut.reshape(batch, latent_frames, per_frame, groups, height, width).permute(0, 3, 2, 1, 4, 5)
    return cut.reshape(batch, channels, latent_frames, height, width)


def window_frames(value: Any, frames: range, latent_frames: range | None, frame_count: int) -> Any:
    """A tensor over the clip cut to a context window: a video one by latent frames (axis 2; a prefix
    of the clip, such as a start image, keeps what falls in the window), an image-model one holding
    one item per frame by frames (axis 0); one for all frames as it is."""
    if not isinstance(value, torch.Tensor):
        return value
    if value.ndim == 5 and latent_frames is not None:
        return value[:, :, latent_frames.start : latent_frames.stop]
    if value.ndim == 4 and value.shape[0] == frame_count:
        return value[frames.start : frames.stop]
    return value


class OverClip(Rule):
    """Shared by the rules of tensors laid over the clip: their checks of count and size, and windows."""

    def __init__(self, keys: Iterable[str], nodes: str, fix: str = FRAMES_FIX) -> None:
        self.keys, self.nodes, self.fix = tuple(keys), nodes, fix

    def _check_frames(self, key: str, value: torch.Tensor, clip: Clip, exact: bool = False) -> None:
        if value.ndim == 5 and (value.shape[2] > clip.latent_frames or (exact and value.shape[2] != clip.latent_frames)):
            raise ValueError(f"basic_pipe: the conditioning entry '{key}' covers {value.shape[2]} latent frames but "
                             f"image_frames ({clip.frame_count} frames) makes {clip.latent_frames}: {self.fix}")
        if value.ndim == 4 and value.shape[0] not in (1, clip.frame_count):
            raise ValueError(f"basic_pipe: the conditioning entry '{key}' holds {value.shape[0]} items for "
                             f"{clip.frame_count} frames: give one, or one per frame ({self.fix})")

    def _size_error(self, key: str, value: torch.Tensor, clip: Clip, scale: int) -> ValueError:
        height, width = value.shape[-2] * scale, value.shape[-1] * scale
        return ValueError(f"basic_pipe: the conditioning entry '{key}' was made for {width}x{height} frames but "
                          f"image_frames are {clip.width}x{clip.height}: {self.fix}")

    def window(self, key: str, value: Any, frames: range, latent_frames: range | None, frame_count: int) -> Any:
        return window_frames(value, frames, latent_frames, frame_count)


class LatentOverClip(OverClip):
    """A latent laid over the frame, per latent frame: decoded, cut at each frame's crop window, scaled
    to the sampling size and encoded again with the pipe's VAE; a stack of latents group by group. A
    group holding one value per channel in each latent frame (ComfyUI's "empty" latent placeholder)
    is rebuilt at the new size without the VAE. A latent of fewer latent frames than the clip covers
    its first frames (a start image)."""

    laid = "latent over the clip: decoded, cut per frame, encoded again at the sampling size"

    def check(self, key: str, value: Any, options: dict, clip: Clip) -> None:
        video = clip.layout.is_video
        if not isinstance(value, torch.Tensor) or value.ndim != (5 if video else 4):
            raise ValueError(f"basic_pipe: the conditioning entry '{key}' is {getattr(value, 'shape', type(value).__name__)}, "
                             f"not a latent of the pipe's {'video' if video else 'image'} VAE: use the VAE that made it")
        if value.shape[1] % clip.layout.channels:
            raise ValueError(f"basic_pipe: the conditioning entry '{key}' has {value.shape[1]} channels, not a stack of the "
                             f"pipe VAE's {clip.layout.channels}-channel latents: use the VAE that made it")
        if tuple(value.shape[-2:]) != clip.latent_size:
            raise self._size_error(key, value, clip, clip.layout.spatial)
        self._check_frames(key, value, clip)

    def cut(self, key: str, value: torch.Tensor, options: dict, seg: SegCut, state: PassState) -> torch.Tensor:
        channels = state.clip.layout.channels
        return state.cached(("latent", id(value)), value, lambda: torch.cat(
            [self._cut_group(value, start, seg, state) for start in range(0, value.shape[1], channels)],
            dim=1).to(value.dtype))

    def _cut_group(self, whole: torch.Tensor, start: int, seg: SegCut, state: PassState) -> torch.Tensor:
        """The cut of the latent of channels ``start..start+C`` of ``whole`` (its decoded frames kept for the pass)."""
        clip = state.clip
        group = whole[:, start : start + clip.layout.channels]
        height, width = seg.latent_size(clip.layout)
        if bool((group.amax(dim=(-2, -1)) == group.amin(dim=(-2, -1))).all()):  # a placeholder
            filled = group[..., :1, :1].expand(*group.shape[:-2], height, width).to(torch.float32)
            return filled.expand(clip.frame_count, *filled.shape[1:]).clone() if group.ndim == 4 else filled.clone()
        pixels = state.cached(("decoded", id(whole), start), whole, lambda: state.decode(group), per_seg=False)
        if clip.layout.is_video:
            windows = seg.windows_of(torch.arange(pixels.shape[0]))
        elif pixels.shape[0] == 1 and seg.crop_windows.is_fixed:
            windows = CropWindows.fixed(seg.crop_windows.first_rect, 1)  # one image, one window: one cut
        else:
            windows = seg.crop_windows  # one image for every frame, or one per frame
        cut = cut_full_frames(pixels, windows, clip.height, clip.width, "a conditioning latent", self.fix)
        latent = state.encode(cut, seg.size.width, seg.size.height).to(torch.float32)
        return latent[:, :, : group.shape[2]] if clip.layout.is_video else latent


class MaskOverClip(OverClip):
    """A mask laid over the frame, per latent frame (one plane, or one per frame of the group it holds)
    at any resolution, or an image model's per frame: cut at each frame's crop window and scaled to the
    sampled latent's size (a mask of the frame's pixel size to the sampling size in pixels)."""

    laid = "mask over the clip: cut per frame, scaled to the sampled latent"

    def check(self, key: str, value: Any, options: dict, clip: Clip) -> None:
        if not isinstance(value, torch.Tensor) or value.ndim not in (4, 5):
            raise ValueError(f"basic_pipe: the conditioning entry '{key}' should be a mask [B, c, (T,) h, w], got "
                             f"{getattr(value, 'shape', type(value).__name__)}")
        if value.ndim == 5 and value.shape[1] not in (1, clip.layout.time_compression):
            raise ValueError(f"basic_pipe: the conditioning entry '{key}' has {value.shape[1]} channels per latent frame; "
                             f"the pipe's VAE holds {clip.layout.time_compression} frames in one: use the VAE that made it")
        self._check_frames(key, value, clip)

    def cut(self, key: str, value: torch.Tensor, options: dict, seg: SegCut, state: PassState) -> torch.Tensor:
        clip = state.clip
        if tuple(value.shape[-2:]) == (clip.height, clip.width) and clip.layout.spatial > 1:
            height, width = seg.size.height, seg.size.width
        else:
            height, width = seg.latent_size(clip.layout)

        def cut() -> torch.Tensor:
            if value.ndim == 4:
                return cut_planes(value, seg.crop_windows, clip, height, width).to(value.dtype)
            return cut_slotted(value, seg, clip, height, width).to(value.dtype)

        return state.cached(("mask", id(value)), value, cut)


class PixelsOverClip(OverClip):
    """Pixels laid over the frame (camera rays per pixel, an image model's conditioning image, which may
    be scaled), cut at each frame's crop window and scaled to the sampling size in pixels; ``channels``
    values per pixel, for each slot of each latent frame in a video tensor."""

    laid = "pixels over the clip: cut per frame, scaled to the sampling size"

    def __init__(self, keys: Iterable[str], channels: int, nodes: str, fix: str = FRAMES_FIX) -> None:
        super().__init__(keys, nodes, fix)
        self.channels = channels

    def check(self, key: str, value: Any, options: dict, clip: Clip) -> None:
        if not isinstance(value, torch.Tensor) or value.ndim not in (4, 5) or value.shape[1] % self.channels:
            raise ValueError(f"basic_pipe: the conditioning entry '{key}' should hold {self.channels}-channel pixels over "
                             f"the frame, got {getattr(value, 'shape', type(value).__name__)}")
        height, width = value.shape[-2:]
        frame_sized = (height, width) == (clip.height, clip.width)
        if not frame_sized and (value.ndim == 5 or abs(width * clip.height - height * clip.width) > max(height, width)):
            raise self._size_error(key, value, clip, 1)  # an image model's may be scaled, keeping the frame's aspect
        self._check_frames(key, value, clip, exact=True)

    def cut(self, key: str, value: torch.Tensor, options: dict, seg: SegCut, state: PassState) -> torch.Tensor:
        clip, size = state.clip, seg.size
        if value.ndim == 4:
            return cut_planes(value, seg.crop_windows, clip, size.height, size.width).to(value.dtype)
        return cut_slotted(value, seg, clip, size.height, size.width, groups=self.channels).to(value.dtype)


class ReferenceLatents(Rule):
    """Latents of reference images (a subject, a style) fitted to the frame but not laid over it: not
    cut, but each fitted whole to the sampling size (decoded, centre-fitted, encoded again), since the
    video models read them on the sampled latent's grid. Image latents ``[B, C, h, w]`` (image-edit
    models, which read references at any size) pass unchanged."""

    laid = "reference image latents: each fitted whole to the sampling size"

    def __init__(self, keys: Iterable[str], nodes: str) -> None:
        self.keys, self.nodes = tuple(keys), nodes

    @staticmethod
    def _items(value: Any) -> list:
        return list(value) if isinstance(value, (list, tuple)) else [value]

    def check(self, key: str, value: Any, options: dict, clip: Clip) -> None:
        for item in self._items(value):
            if isinstance(item, torch.Tensor) and item.ndim == 5 and item.shape[1] != clip.layout.channels:
                raise ValueError(f"basic_pipe: the conditioning entry '{key}' holds {item.shape[1]}-channel latents but the "
                                 f"pipe's VAE makes {clip.layout.channels}-channel ones: use the VAE that made them")

    def cut(self, key: str, value: Any, options: dict, seg: SegCut, state: PassState) -> Any:
        fitted = [self._fit(item, seg, state) for item in self._items(value)]
        return fitted if isinstance(value, (list, tuple)) else fitted[0]

    @staticmethod
    def _fit(item: Any, seg: SegCut, state: PassState) -> Any:
        if not isinstance(item, torch.Tensor) or item.ndim != 5:
            return item

        def fit() -> torch.Tensor:
            frames = []
            for index in range(item.shape[2]):  # each reference frame is an image of its own
                pixels = state.decode(item[:, :, index : index + 1])[:1]
                fitted = centre_fit(pixels, seg.size.height, seg.size.width)
                frames.append(state.encode(fitted, seg.size.width, seg.size.height)[:, :, :1].to(torch.float32))
            return torch.cat(frames, dim=2).to(item.dtype)

        return state.cached(("reference", id(item), seg.size.width, seg.size.height), item, fit, per_seg=False)


class ConditioningMask(Rule):
    """ConditioningSetMask's mask over the frame (``[M, h, w]`` or ``[h, w]``, any resolution), cut at the
    crop windows; the model stretches it to the sampled latent, whose aspect the cut has."""

    keys = ("mask",)
    laid = "mask over the frame (ConditioningSetMask): cut per frame"
    nodes = "ConditioningSetMask"

    def check(self, key: str, value: Any, options: dict, clip: Clip) -> None:
        if isinstance(value, torch.Tensor) and value.ndim == 3 and value.shape[0] not in (1, clip.frame_count):
            raise ValueError(f"a conditioning mask has {value.shape[0]} frames but image_frames has {clip.frame_count}: "
                             f"give one mask or one per frame (ConditioningSetMask)")

    def cut(self, key: str, value: Any, options: dict, seg: SegCut, state: PassState) -> Any:
        if not isinstance(value, torch.Tensor):
            return value
        return crop_condition_mask(value, seg.crop_windows, state.clip.width, state.clip.height)

    def window(self, key: str, value: Any, frames: range, latent_frames: range | None, frame_count: int) -> Any:
        if isinstance(value, torch.Tensor) and value.ndim == 3 and value.shape[0] == frame_count:
            return value[frames.start : frames.stop]
        return value


class ControlHints(Rule):
    """A ControlNet chain applied to the pipe's conditioning: its hints cover the frame, so the backend
    (which knows the objects) cuts each link's hint at the crop windows, frame by frame. Windows: the
    backend's ``slice_control``."""

    keys = ("control",)
    laid = "ControlNet hints over the frame: cut per frame"
    nodes = "ControlNetApply, ControlNetApplyAdvanced"

    def cut(self, key: str, value: Any, options: dict, seg: SegCut, state: PassState) -> Any:
        if state.cut_control is None:
            return value
        return state.cached(("control", id(value)), value,
                            lambda: state.cut_control(value, seg.crop_windows, state.clip.height, state.clip.width))
