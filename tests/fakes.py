"""Fakes for the unit tier: a sampling backend for the detail pass (no model, fully observable) and an Impact-style detector."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from animatediff_detailer.core.context_windows import context_windows
from animatediff_detailer.core.geometry import LatentLayout, expand_region
from animatediff_detailer.core.segs import SEG
from animatediff_detailer.nodes.adapter.controlnet import apply_seg_control, cut_control


@dataclass
class FakeBackend:
    """Encodes by 8x8 average pooling (RGB + a ones channel), decodes by nearest upsampling.

    ``sample`` mixes the seeded noise into the masked part of the latent, so the result depends
    on the seed and on the mask, and records every call for the tests to inspect. ControlNet
    wrappers are applied as the ComfyUI backend applies them, told ``advanced_controlnet``.
    """

    batch: int = 3
    stride: int = 8
    frame_uniform_noise_mask: bool = False
    denoise: float = 1.0
    advanced_controlnet: bool = True
    noise_strength: float = 0.5
    context_length: int = 0
    context_overlap: int = 4
    encode_sizes: list = field(default_factory=list)
    decode_sizes: list = field(default_factory=list)
    sample_calls: list = field(default_factory=list)
    begun: list = field(default_factory=list)

    @property
    def layout(self) -> LatentLayout:
        return LatentLayout(spatial=self.stride, size_multiple=self.stride)

    def begin(self, frame_count: int, sizes) -> None:
        self.begun.append((len(sizes), frame_count))

    def frames_per_batch(self, width: int, height: int) -> int:
        return self.batch

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        self.encode_sizes.append(tuple(pixels.shape))
        x = pixels.permute(0, 3, 1, 2)
        pooled = F.avg_pool2d(x, self.stride)
        return torch.cat([pooled, torch.ones_like(pooled[:, :1])], dim=1)

    def context_windows(self, latent_shape) -> list[range]:
        return context_windows(latent_shape[2 if self.layout.is_video else 0], self.context_length, self.context_overlap)

    def noise(self, latent: torch.Tensor, seed: int) -> torch.Tensor:
        return torch.rand(latent.shape, generator=torch.Generator().manual_seed(seed))

    def sample(self, latent, noise, noise_mask, conditionings, seed, frames=None):
        self.sample_calls.append({"latent": latent.shape, "mask": noise_mask.clone(), "conditionings": conditionings,
                                  "seed": seed, "frames": frames})
        mask = F.interpolate(noise_mask.unsqueeze(1), size=latent.shape[-2:], mode="bilinear")  # [F, 1, h, w]
        if self.layout.is_video:
            mask = mask.permute(1, 0, 2, 3).unsqueeze(0)  # [1, 1, T, h, w]
        return latent + self.noise_strength * mask * (noise - latent)

    def slice_control(self, control, frames: range, frame_count: int):
        return control

    def apply_control(self, wrapper, conditionings, crops, masks, crop_windows):
        return apply_seg_control(wrapper, conditionings, crops, masks, crop_windows, self.advanced_controlnet)

    def cut_control(self, control, crop_windows, frame_height, frame_width):
        return cut_control(control, crop_windows, frame_height, frame_width)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        self.decode_sizes.append(tuple(latent.shape))
        pixels = F.interpolate(latent[:, :3], scale_factor=self.stride, mode="nearest")
        return pixels.permute(0, 2, 3, 1).clamp(0, 1)


class IdentityBackend(FakeBackend):
    """Sampling changes nothing: the detail pass is then only resize, encode, decode, resize."""

    def sample(self, latent, noise, noise_mask, conditionings, seed, frames=None):
        super().sample(latent, noise, noise_mask, conditionings, seed, frames)
        return latent


def wan_frames_to_latent(frames: int) -> int:
    return max(0, (frames + 3) // 4)


def wan_latent_to_frames(latent: int) -> int:
    return max(0, latent * 4 - 3)


@dataclass
class FakeVideoBackend(FakeBackend):
    """A video VAE as Wan 2.1's: the clip is one latent ``[1, C, T, h, w]`` with ``T = (F + 3) // 4``
    (frame 0 alone, then groups of 4, each group's mean), 8x spatial; sampling sizes multiples of
    16 (a patch of 2). Decoding repeats each latent frame over the frames it holds."""

    stride: int = 8
    patch: int = 2
    encode_frames: list = field(default_factory=list)

    @property
    def layout(self) -> LatentLayout:
        return LatentLayout(self.stride, self.stride * self.patch, wan_frames_to_latent, wan_latent_to_frames)

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        self.encode_sizes.append(tuple(pixels.shape))
        frames = pixels.shape[0]
        pooled = F.avg_pool2d(pixels.permute(0, 3, 1, 2), self.stride)  # [F, 3, h, w]
        spans = self.layout.latent_frame_spans(wan_frames_to_latent(frames))
        groups = torch.stack([pooled[span.start : span.stop].mean(dim=0) for span in spans])  # [T, 3, h, w]
        latent = torch.cat([groups, torch.ones_like(groups[:, :1])], dim=1)
        return latent.permute(1, 0, 2, 3).unsqueeze(0)  # [1, 4, T, h, w]

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        self.decode_sizes.append(tuple(latent.shape))
        frames = latent[0, :3].permute(1, 0, 2, 3)  # [T, 3, h, w]
        counts = [len(span) for span in self.layout.latent_frame_spans(frames.shape[0])]
        repeated = torch.repeat_interleave(frames, torch.tensor(counts), dim=0)
        pixels = F.interpolate(repeated, scale_factor=self.stride, mode="nearest")
        return pixels.permute(0, 2, 3, 1).clamp(0, 1)


class IdentityVideoBackend(FakeVideoBackend):
    def sample(self, latent, noise, noise_mask, conditionings, seed, frames=None):
        super().sample(latent, noise, noise_mask, conditionings, seed, frames)
        return latent


class FakeDetector:
    """An Impact-style BBOX_DETECTOR: ``detect(image, threshold, dilation, crop_factor, drop_size)``
    answers, call after call (one call per frame), the scripted boxes of that frame as the SEGS of
    one image, in Impact's types: numpy float bbox, crop region a list of ints, numpy float
    cropped_mask of the box in crop coordinates, confidence a one-element numpy array.

    ``frames``: per frame a list of ``(box, confidence)``; boxes below ``threshold`` are left out.
    Every call is recorded (image shape and dtype, the other arguments).
    """

    def __init__(self, frames: list[list[tuple[tuple[float, float, float, float], float]]], label: str = "face") -> None:
        self.frames = frames
        self.label = label
        self.calls: list[dict] = []

    def detect(self, image, threshold, dilation, crop_factor, drop_size=1, detailer_hook=None):
        height, width = image.shape[1:3]
        self.calls.append({"shape": tuple(image.shape), "dtype": image.dtype, "threshold": threshold,
                           "dilation": dilation, "crop_factor": crop_factor, "drop_size": drop_size})
        items = []
        for box, confidence in self.frames[len(self.calls) - 1]:
            if confidence < threshold:
                continue
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            region = expand_region((x1, y1, x2, y2), crop_factor, width, height)
            mask = np.zeros((region[3] - region[1], region[2] - region[0]), dtype=np.float32)
            mask[y1 - region[1] : y2 - region[1], x1 - region[0] : x2 - region[0]] = 1.0
            items.append(SEG(None, mask, np.array([confidence], dtype=np.float32), list(region),
                             np.array(box, dtype=np.float32), self.label, None))
        return (height, width), items
