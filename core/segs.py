"""SEG and SEGS: the region data shared with Impact Pack, and its normalisation.

A SEGS is the tuple ``((H, W), [SEG, ...])``. Producers in the wild disagree on the
types inside a SEG (numpy or torch, 2-D or 3-D masks, uint8 or float), so every
consumer in this pack goes through :func:`unpack_segs` and the ``as_*`` helpers
below instead of trusting a field's type.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .geometry import Rect
from .masks import unit_mask_values

# Same fields, order and default as Impact Pack's SEG, so that either pack's
# namedtuple is accepted by the other (both are read by attribute name).
SEG = namedtuple(
    "SEG",
    ["cropped_image", "cropped_mask", "confidence", "crop_region", "bbox", "label", "control_net_wrapper"],
    defaults=[None],
)


def replace_seg(seg: Any, **changes: Any) -> Any:
    """A copy of ``seg`` with some fields changed, of the same SEG type (Impact's namedtuple or
    ours); a SEG-like object that is not a namedtuple comes back as our SEG."""
    if hasattr(seg, "_replace"):
        return seg._replace(**changes)
    values = {field: getattr(seg, field, None) for field in SEG._fields}
    return SEG(**{**values, **changes})


def as_rect(value: Any, what: str) -> Rect:
    """Read a rectangle ``[x1, y1, x2, y2]`` (list, tuple, numpy or torch) as four ints."""
    try:
        values = [float(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a rectangle [x1, y1, x2, y2], got {value!r}") from None
    if len(values) != 4 or not all(np.isfinite(values)):
        raise ValueError(f"{what} must be a rectangle [x1, y1, x2, y2] of finite numbers, got {value!r}")
    x1, y1, x2, y2 = (int(round(v)) for v in values)
    return x1, y1, x2, y2


def as_mask_tensor(mask: Any, what: str = "cropped_mask") -> torch.Tensor:
    """Normalise a SEG mask to a float32 CPU tensor ``[M, h, w]`` with values 0..1.

    Accepts numpy or torch, ``[h, w]``, ``[M, h, w]`` or ``[M, h, w, 1]``, float, bool
    or uint8 (0/1 or 0..255). M is 1 for a mask shared by all frames. Float values above 1
    are read as 0..255 levels (see :func:`.masks.unit_mask_values`).
    """
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(np.ascontiguousarray(mask))
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"{what} must be a numpy array or torch tensor, got {type(mask).__name__}")
    if mask.ndim == 4 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.ndim == 2:
        mask = mask.unsqueeze(0)
    if mask.ndim != 3:
        raise ValueError(f"{what} must have shape [h, w] or [frames, h, w], got {tuple(mask.shape)}")
    if mask.dtype == torch.bool:
        return mask.to(torch.float32).cpu()
    if mask.dtype == torch.uint8:
        scale = 255.0 if mask.numel() and int(mask.max()) > 1 else 1.0
        return (mask.to(torch.float32) / scale).cpu()
    return unit_mask_values(mask.to(device="cpu", dtype=torch.float32), what)


def as_image_tensor(image: Any, what: str = "cropped_image") -> torch.Tensor | None:
    """Normalise an optional SEG image to a float32 CPU tensor ``[F, h, w, 3]`` (or None)."""
    if image is None:
        return None
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.ascontiguousarray(image))
    if not isinstance(image, torch.Tensor):
        raise ValueError(f"{what} must be None, a numpy array or a torch tensor, got {type(image).__name__}")
    if image.ndim == 3:
        image = image.unsqueeze(0)
    if image.ndim != 4:
        raise ValueError(f"{what} must have shape [frames, h, w, channels], got {tuple(image.shape)}")
    return image.to(device="cpu", dtype=torch.float32)


def as_confidence(confidence: Any) -> float:
    """A SEG's confidence as a float (producers give floats or one-element arrays)."""
    if confidence is None:
        return 1.0
    if hasattr(confidence, "reshape"):
        flat = confidence.reshape(-1)
        return float(flat[0]) if len(flat) else 1.0
    return float(confidence)


def unpack_segs(segs: Any, what: str = "segs") -> tuple[tuple[int, int], list]:
    """Check a SEGS value's structure and return ``((H, W), [seg, ...])``.

    The SEG objects are returned as given (Impact's namedtuple or ours); only the
    container is checked, with an error that names the input and the fix.
    """
    if not isinstance(segs, (tuple, list)) or len(segs) != 2:
        raise ValueError(
            f"{what} must be a SEGS value ((height, width), [SEG, ...]) from a detector or a 'to SEGS' node, "
            f"got {type(segs).__name__}"
        )
    header, items = segs
    try:
        height, width = (int(v) for v in header)
    except (TypeError, ValueError):
        raise ValueError(f"{what} header must be (height, width), got {header!r}") from None
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)):
        raise ValueError(f"{what} must hold a list of SEG, got {type(items).__name__}")
    for index, seg in enumerate(items):
        missing = [field for field in ("cropped_mask", "crop_region", "bbox") if not hasattr(seg, field)]
        if missing:
            raise ValueError(f"{what}[{index}] is not a SEG: it has no {', '.join(missing)}")
    return (height, width), list(items)


def seg_label(seg: Any, index: int) -> str:
    """A short human name for log messages: 'SEG 2 (face)'."""
    label = getattr(seg, "label", None)
    return f"SEG {index} ({label})" if label else f"SEG {index}"
