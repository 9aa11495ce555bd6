"""Crop windows: where each frame of a SEG is cut out, fixed or following the subject.

A :class:`CropWindows` is a ``width`` x ``height`` window with one origin per frame. The
union crop of Impact's detailer is the special case where every frame has the same
origin; a tracked crop moves the origin along the subject's smoothed path. Cutting and
writing back are single indexing operations over all frames (no per-frame loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .geometry import Rect


@dataclass(frozen=True)
class CropWindows:
    """Per-frame windows in frame pixels: frame f covers ``x0..x0+width`` x ``y0..y0+height``.

    ``origins`` is int64 ``[F, 2]`` holding ``(x0, y0)`` per frame.
    """

    origins: torch.Tensor
    width: int
    height: int

    @staticmethod
    def fixed(rect: Rect, frame_count: int) -> CropWindows:
        """The same window ``rect`` on every frame (Impact's union crop)."""
        x1, y1, x2, y2 = rect
        origins = torch.tensor([[x1, y1]], dtype=torch.int64).expand(frame_count, 2)
        return CropWindows(origins, x2 - x1, y2 - y1)

    @property
    def is_fixed(self) -> bool:
        return bool((self.origins == self.origins[0]).all())

    @property
    def first_rect(self) -> Rect:
        x0, y0 = (int(v) for v in self.origins[0])
        return x0, y0, x0 + self.width, y0 + self.height

    def shifted(self, dx: int, dy: int) -> CropWindows:
        """The same windows in coordinates whose origin is at ``(dx, dy)`` (e.g. inside a crop)."""
        return CropWindows(self.origins - torch.tensor([dx, dy], dtype=torch.int64), self.width, self.height)

    def _index(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        frames = self.origins.shape[0]
        f = torch.arange(frames, device=device).view(frames, 1, 1)
        rows = (self.origins[:, 1].to(device).view(frames, 1) + torch.arange(self.height, device=device)).view(frames, self.height, 1)
        cols = (self.origins[:, 0].to(device).view(frames, 1) + torch.arange(self.width, device=device)).view(frames, 1, self.width)
        return f, rows, cols

    def cut(self, stack: torch.Tensor) -> torch.Tensor:
        """Cut the windows from ``[F, H, W, ...]`` (one per frame) -> ``[F, height, width, ...]``.

        A stack with one frame is shared by all windows. Fixed windows give a view.
        """
        frames = self.origins.shape[0]
        if self.is_fixed:
            x1, y1, x2, y2 = self.first_rect
            return stack[:, y1:y2, x1:x2]
        if stack.shape[0] == 1:
            stack = stack.expand(frames, *stack.shape[1:])
        f, rows, cols = self._index(stack.device)
        return stack[f, rows, cols]

    def paste(self, target: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        """Write ``windows`` ``[F, height, width, ...]`` into ``target`` ``[F, H, W, ...]`` in place; returns it."""
        if self.is_fixed:
            x1, y1, x2, y2 = self.first_rect
            target[:, y1:y2, x1:x2] = windows
            return target
        f, rows, cols = self._index(target.device)
        target[f, rows, cols] = windows.to(target.dtype)
        return target
