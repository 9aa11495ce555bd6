"""ControlNet per SEG through ComfyUI's own ControlNet objects (no Advanced-ControlNet needed):
the wrapper our ControlNet node attaches to SEGS, how the detail pass applies any wrapper
(ours or Impact's), and how a chain's per-frame hints are cut to a context window."""

from __future__ import annotations

from typing import Any

import torch

from ...core.conditioning import Conditionings
from ...core.crop_windows import CropWindows
from ...core.geometry import Rect
from ...core.images import cut_full_frames
from ...core.segs import as_rect, replace_seg, unpack_segs

CONTROL_IMAGE_FIX = "give one control image per frame or a single one"


class SegControlNet:
    """Adds a ControlNet to a SEG's conditioning when it is detailed.

    The hint is the SEG's crop itself, or ``control_image`` (full frames, one per frame or one
    for all) cut at the same place as the crop, frame by frame, so every frame gets its own
    hint. ``apply`` keeps Impact's contract, ``(positive, negative, cnet_images)``, so Impact's
    detailer can use it and ours can use Impact's wrappers; ``use_acn`` is accepted and not
    needed. Our detailer also passes the ``windows`` of the crop (tracked crops move per frame).
    """

    accepts_windows = True

    def __init__(self, control_net: Any, strength: float, start_percent: float, end_percent: float,
                 crop_region: Rect, frame_size: tuple[int, int], control_image: torch.Tensor | None = None,
                 vae: Any = None, previous: Any = None) -> None:
        self.control_net = control_net
        self.strength = strength
        self.start_percent = start_percent
        self.end_percent = end_percent
        self.crop_region = crop_region
        self.frame_size = frame_size  # (height, width) of the frames the SEG belongs to
        self.control_image = control_image
        self.vae = vae
        self.previous = previous
        self.accepts_windows = previous is None or getattr(previous, "accepts_windows", False)  # tracked crops only if the whole chain follows them

    def hint_for(self, image: torch.Tensor, windows: CropWindows | None) -> torch.Tensor:
        """The hint frames ``[F, h, w, 3]`` for crops ``image`` ``[F, h, w, 3]``."""
        if self.control_image is None:
            return image[..., :3]
        height, width = self.frame_size
        crop_windows = windows or CropWindows.fixed(self.crop_region, image.shape[0])
        return cut_full_frames(self.control_image[..., :3], crop_windows, height, width, "control_image", CONTROL_IMAGE_FIX)

    def apply(self, positive: Any, negative: Any, image: torch.Tensor, mask: Any = None, use_acn: bool = False,
              windows: CropWindows | None = None) -> tuple[Any, Any, list[torch.Tensor]]:
        hints: list[torch.Tensor] = []
        if self.previous is not None:
            positive, negative, hints = apply_wrapper(self.previous, positive, negative, image, mask, use_acn, windows)
        hint = self.hint_for(image, windows)
        if self.strength == 0:
            return positive, negative, hints + [hint]
        control_hint = hint.movedim(-1, 1)
        made: dict[int, Any] = {}
        result = []
        for conditioning in (positive, negative):
            entries = []
            for entry in conditioning:
                options = dict(entry[1])
                previous = options.get("control")
                if id(previous) not in made:
                    control = self.control_net.copy().set_cond_hint(
                        control_hint, self.strength, (self.start_percent, self.end_percent), vae=self.vae
                    )
                    control.set_previous_controlnet(previous)
                    made[id(previous)] = control
                options["control"] = made[id(previous)]
                options["control_apply_to_uncond"] = False
                entries.append([entry[0], options, *entry[2:]])
            result.append(entries)
        return result[0], result[1], hints + [hint]


def apply_wrapper(wrapper: Any, positive: Any, negative: Any, crops: torch.Tensor, masks: Any, use_acn: bool,
                  crop_windows: CropWindows | None) -> tuple[Any, Any, list[torch.Tensor]]:
    """Call a ControlNet wrapper with Impact's contract ``apply(positive, negative, image, mask,
    use_acn=)``, adding the crop windows for wrappers that follow them (ours)."""
    extra = {"windows": crop_windows} if getattr(wrapper, "accepts_windows", False) else {}
    positive, negative, hints = wrapper.apply(positive, negative, crops, masks, use_acn=use_acn, **extra)
    return positive, negative, list(hints or [])


def apply_seg_control(wrapper: Any, conditionings: Conditionings, crops: torch.Tensor, masks: torch.Tensor,
                      crop_windows: CropWindows, use_acn: bool) -> tuple[Conditionings, list[torch.Tensor]]:
    """A SEG's wrapper applied to the positive and negative conditionings of its detail pass."""
    positive, negative, hints = apply_wrapper(wrapper, conditionings.positive, conditionings.negative, crops, masks,
                                              use_acn, crop_windows)
    return Conditionings(positive, negative, conditionings.refiner_positive, conditionings.refiner_negative), hints


def slice_control(control: Any, frames: range, frame_count: int) -> Any:
    """A copy of a ControlNet chain whose per-frame hint images are cut to ``frames``."""
    if control is None:
        return None
    copy = control.copy()
    hint = getattr(control, "cond_hint_original", None)
    if isinstance(hint, torch.Tensor) and hint.shape[0] == frame_count:
        copy.cond_hint_original = hint[frames.start : frames.stop]
    copy.previous_controlnet = slice_control(getattr(control, "previous_controlnet", None), frames, frame_count)
    return copy


def cut_control(control: Any, crop_windows: CropWindows, frame_height: int, frame_width: int) -> Any:
    """A copy of a ControlNet chain of the pipe's conditioning whose hints, drawn over the whole frame
    (``[1|F, 3, H, W]``, any resolution), are cut at ``crop_windows``, one per frame: ComfyUI would fit
    the whole frame's hint into the crop (a centre cut)."""
    if control is None:
        return None
    copy = control.copy()
    hint = getattr(control, "cond_hint_original", None)
    if isinstance(hint, torch.Tensor) and hint.ndim == 4 and hint.shape[1] in (1, 3):
        frames = hint.movedim(1, -1).to(torch.float32)
        cut = cut_full_frames(frames, crop_windows, frame_height, frame_width, "a ControlNet hint in the pipe's conditioning",
                              "give one hint per frame of image_frames, or a single one")
        copy.cond_hint_original = cut.movedim(-1, 1).to(hint.dtype)
        copy.cond_hint = None  # ComfyUI prepares it again from the cut hint
    copy.previous_controlnet = cut_control(getattr(control, "previous_controlnet", None), crop_windows, frame_height,
                                           frame_width)
    return copy


def attach_control_net(segs: Any, control_net: Any, strength: float, start_percent: float, end_percent: float,
                       control_image: torch.Tensor | None = None, vae: Any = None) -> Any:
    """A SEGS whose every SEG carries a :class:`SegControlNet` (chained after any it had)."""
    header, items = unpack_segs(segs)
    if not (hasattr(control_net, "copy") and hasattr(control_net, "set_cond_hint")):
        raise ValueError(f"control_net must be a CONTROL_NET from a ControlNet loader, got {type(control_net).__name__}")
    if control_image is not None and (not isinstance(control_image, torch.Tensor) or control_image.ndim != 4):
        raise ValueError("control_image must be an IMAGE batch [frames, height, width, 3]")
    new_items = []
    for index, seg in enumerate(items):
        wrapper = SegControlNet(control_net, strength, start_percent, end_percent,
                                as_rect(seg.crop_region, f"segs[{index}].crop_region"), tuple(header), control_image, vae,
                                getattr(seg, "control_net_wrapper", None))
        new_items.append(replace_seg(seg, control_net_wrapper=wrapper))
    return header, new_items
