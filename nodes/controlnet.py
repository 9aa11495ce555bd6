"""ControlNet per SEG: a wrapper with Impact's ``apply`` contract, applied through ComfyUI's
own ControlNet objects (no Advanced-ControlNet needed), with one hint per frame."""

from __future__ import annotations

from typing import Any

import torch

from ..core.geometry import Rect
from ..core.images import resize_frames
from ..core.segs import SEG, as_rect, unpack_segs
from ..core.windows import CropWindows


class SegControlNet:
    """Adds a ControlNet to a SEG's conditioning when it is detailed.

    The hint is the SEG's crop itself, or ``control_image`` (full frames, one per frame or one
    for all) cut at the same place as the crop, frame by frame, so every frame gets its own
    hint. ``apply`` keeps Impact's contract, ``(positive, negative, cnet_images)``, so Impact's
    detailer can use it and ours can use Impact's wrappers; ``use_acn`` is accepted and not
    needed. Our detailer also passes the crop ``windows`` (tracked crops move per frame).
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
        control = self.control_image[..., :3]
        height, width = self.frame_size
        if control.shape[1:3] != (height, width):
            control = resize_frames(control, height, width)
        windows = windows or CropWindows.fixed(self.crop_region, image.shape[0])
        if control.shape[0] not in (1, image.shape[0]):
            raise ValueError(
                f"control_image has {control.shape[0]} frames but the clip has {image.shape[0]}: "
                f"give one control image per frame or a single one"
            )
        hint = windows.cut(control)
        if hint.shape[0] == 1:
            hint = hint.expand(image.shape[0], -1, -1, -1)
        return hint.contiguous()

    def apply(self, positive: Any, negative: Any, image: torch.Tensor, mask: Any = None, use_acn: bool = False,
              windows: CropWindows | None = None) -> tuple[Any, Any, list[torch.Tensor]]:
        hints: list[torch.Tensor] = []
        if self.previous is not None:
            if getattr(self.previous, "accepts_windows", False):
                positive, negative, hints = self.previous.apply(positive, negative, image, mask, use_acn=use_acn, windows=windows)
            else:
                positive, negative, hints = self.previous.apply(positive, negative, image, mask, use_acn=use_acn)
            hints = list(hints or [])
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
        new_items.append(SEG(seg.cropped_image, seg.cropped_mask, seg.confidence, seg.crop_region, seg.bbox, seg.label, wrapper))
    return header, new_items
