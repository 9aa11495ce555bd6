"""SAM3's track data (ComfyUI's *SAM3 Video Track* output) read with ComfyUI's own mask helpers.

``SAM3_TRACK_DATA`` is a dict: ``packed_masks`` uint8 ``[frames, objects, Hm, Wm / 8]`` (each
object's mask bit-packed at the model's mask resolution; None when nothing was ever found),
``n_frames``, ``scores`` (one per object) and ``orig_size`` ``(H, W)``, the size of the frames
SAM3 tracked. The masks are unpacked with ``comfy.ldm.sam3.tracker.unpack_masks``, a few frames
of one object at a time, never the whole clip at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ...core.object_segs import ObjectMasks

FIX = "connect the track_data output of SAM3 Video Track (ComfyUI's SAM3 nodes)"


class PackedObjectMasks:
    """:class:`ObjectMasks` over SAM3's packed masks, unpacked by ComfyUI's helper on demand."""

    def __init__(self, packed: torch.Tensor, unpack: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.packed, self._unpack = packed, unpack
        self.frame_count, self.object_count = int(packed.shape[0]), int(packed.shape[1])
        self.mask_size = (int(packed.shape[2]), int(packed.shape[3]) * 8)

    def frames(self, index: int, start: int, stop: int) -> torch.Tensor:
        return self._unpack(self.packed[start:stop, index]).to("cpu", torch.bool)


@dataclass(frozen=True)
class TrackData:
    """SAM3 track data, checked: ``masks`` None when SAM3 found no object in any frame."""

    masks: ObjectMasks | None
    frame_count: int
    scores: list[Any]
    orig_size: tuple[int, int] | None


def _unpack_masks() -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        from comfy.ldm.sam3.tracker import unpack_masks
    except ImportError as error:
        raise ValueError(f"this ComfyUI has no SAM3 (comfy.ldm.sam3.tracker: {error}); SAM3 track data needs "
                         f"ComfyUI 0.29 or later") from None
    return unpack_masks


def read_track_data(track_data: Any, what: str = "track_data") -> TrackData:
    """Check a SAM3_TRACK_DATA value; errors name ``what``, what was given and the fix."""
    if not isinstance(track_data, dict) or "packed_masks" not in track_data:
        keys = f" with keys {', '.join(map(str, track_data))}" if isinstance(track_data, dict) else ""
        raise ValueError(f"{what} must be SAM3 track data (a dict with packed_masks, n_frames, scores, orig_size), got "
                         f"a {type(track_data).__name__}{keys}: {FIX}")
    packed, n_frames = track_data["packed_masks"], track_data.get("n_frames")
    if packed is None:
        if not isinstance(n_frames, int) or n_frames < 1:
            raise ValueError(f"{what} holds no masks and no frame count (n_frames {n_frames!r}): {FIX}")
        masks, frame_count = None, n_frames
    else:
        if not isinstance(packed, torch.Tensor) or packed.dtype != torch.uint8 or packed.ndim != 4:
            raise ValueError(f"{what}: packed_masks must be uint8 [frames, objects, height, width / 8] (SAM3's bit-packed "
                             f"masks), got {getattr(packed, 'dtype', type(packed).__name__)} "
                             f"{tuple(getattr(packed, 'shape', ()))}: {FIX}")
        masks, frame_count = PackedObjectMasks(packed, _unpack_masks()), int(packed.shape[0])
        if isinstance(n_frames, int) and n_frames != frame_count:
            raise ValueError(f"{what}: packed_masks holds {frame_count} frames but n_frames says {n_frames}: {FIX}")
    orig_size = track_data.get("orig_size")
    if orig_size is not None:
        try:
            height, width = (int(v) for v in orig_size)
        except (TypeError, ValueError):
            raise ValueError(f"{what}: orig_size must be (height, width), got {orig_size!r}: {FIX}") from None
        orig_size = (height, width)
    scores = track_data.get("scores")
    scores = scores.tolist() if hasattr(scores, "tolist") else list(scores or [])
    return TrackData(masks, frame_count, scores, orig_size)
