"""A synthetic clip for the real-ComfyUI tests: a textured background and a disc moving left to right.

Plain torch, no ComfyUI: the fixture pack's ``TestClipSource`` node outputs it into graphs,
and the tests import this file (by path) to know what the graph was fed.
"""

from __future__ import annotations

import math

import torch


def clip_geometry(frames: int, width: int, height: int, radius: int = 0,
                  x_start: float = 0.3, x_end: float = 0.7, y: float = 0.5,
                  radius_end: int = 0) -> list[tuple[float, float, float]]:
    """The disc of every frame as ``(center_x, center_y, radius)`` in pixels; with ``radius_end`` the
    radius grows linearly from ``radius`` to it over the clip (a subject coming closer)."""
    r = float(radius) if radius > 0 else max(2.0, 0.12 * min(width, height))
    r_end = float(radius_end) if radius_end > 0 else r
    out = []
    for i in range(frames):
        t = i / (frames - 1) if frames > 1 else 0.0
        cx = (x_start + (x_end - x_start) * t) * width
        cy = y * height + 0.04 * height * math.sin(2.0 * math.pi * t)  # a small vertical bob
        out.append((cx, cy, r + (r_end - r) * t))
    return out


def make_clip(frames: int = 8, width: int = 128, height: int = 128, seed: int = 0, radius: int = 0,
              x_start: float = 0.3, x_end: float = 0.7, y: float = 0.5, radius_end: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """IMAGE ``[F, H, W, 3]`` float32 in 0..1 and MASK ``[F, H, W]`` float32 of exactly 0.0 or 1.0.

    The background is the same on every frame (gradient + stripes + seeded grain); the disc
    is a striped colour pattern, and the mask is 1 exactly on the disc's pixels.
    """
    generator = torch.Generator().manual_seed(int(seed) % (2**63))
    ys = torch.arange(height, dtype=torch.float32).view(height, 1).expand(height, width)
    xs = torch.arange(width, dtype=torch.float32).view(1, width).expand(height, width)
    u, v = xs / max(1, width - 1), ys / max(1, height - 1)
    phase = torch.rand(3, generator=generator) * 2 * math.pi
    background = torch.stack([
        0.45 + 0.25 * u + 0.10 * torch.sin(2 * math.pi * 6 * v + phase[0]),
        0.35 + 0.20 * v + 0.10 * torch.sin(2 * math.pi * 5 * (u + v) + phase[1]),
        0.55 - 0.20 * u + 0.10 * torch.cos(2 * math.pi * 7 * u + phase[2]),
    ], dim=-1)
    background = background + 0.04 * (torch.rand((height, width, 3), generator=generator) - 0.5)

    images = background.unsqueeze(0).repeat(frames, 1, 1, 1)
    masks = torch.zeros((frames, height, width), dtype=torch.float32)
    pixel_x, pixel_y = xs + 0.5, ys + 0.5
    for i, (cx, cy, r) in enumerate(clip_geometry(frames, width, height, radius, x_start, x_end, y, radius_end)):
        inside = (pixel_x - cx) ** 2 + (pixel_y - cy) ** 2 <= r * r
        stripes = 0.5 + 0.5 * torch.sin((pixel_x - cx) * 0.9)
        disc = torch.stack([0.85 + 0.1 * stripes, 0.15 + 0.3 * stripes, 0.2 * (1 - stripes)], dim=-1)
        images[i][inside] = disc[inside]
        masks[i][inside] = 1.0
    return images.clamp_(0.0, 1.0).contiguous(), masks


def box_mask(width: int, height: int, x1: float, y1: float, x2: float, y2: float) -> torch.Tensor:
    """MASK ``[1, height, width]``: 1.0 on the pixels whose centre lies in the box given as fractions."""
    ys = (torch.arange(height, dtype=torch.float32) + 0.5) / height
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) / width
    inside_y = (ys >= y1) & (ys < y2)
    inside_x = (xs >= x1) & (xs < x2)
    return (inside_y.view(-1, 1) & inside_x.view(1, -1)).to(torch.float32).unsqueeze(0)
