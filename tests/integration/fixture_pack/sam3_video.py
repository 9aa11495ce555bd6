"""Fixture nodes for SAM3's outputs and ComfyUI's VIDEO, in the formats ComfyUI's own nodes emit them.

* ``TestSAM3TrackData``: SAM3_TRACK_DATA as SAM3 Video Track returns it (``comfy_extras/nodes_sam3.py``,
  ``tracker.py``): each object's mask at a square mask resolution (the frames squashed, as SAM3's
  1008x1008), bit-packed with ComfyUI's own ``pack_masks``, object 1 zero in the frames listed (absent,
  as before SAM3 first sees it); and the same masks as SAM3 Detect's ``individual_masks`` MASK (frame
  by frame, the objects of each frame in turn: ``2 * frames`` masks).
* ``TestBoundingBoxes``: SAM3 Detect's ``bboxes``: per frame a list of ``{x, y, width, height, score}``
  floats in pixels, sorted by score (which swaps the objects' order every frame), not clamped (a
  box may reach past the frame).
* ``TestAudio``: an AUDIO ``{"waveform": [1, channels, samples] float32, "sample_rate"}`` of seeded noise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _objects(mask, mask_b):
    return [m.to(torch.float32) for m in (mask, mask_b) if m is not None]


def _frames(text: str) -> set[int]:
    return {int(v) for v in text.replace(",", " ").split()}


class TestSAM3TrackData:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "mask": ("MASK",),
                "mask_size": ("INT", {"default": 32, "min": 8, "max": 1008, "step": 8}),
                "absent_b": ("STRING", {"default": ""}),
            },
            "optional": {"mask_b": ("MASK",)},
        }

    RETURN_TYPES = ("SAM3_TRACK_DATA", "MASK")
    RETURN_NAMES = ("track_data", "individual_masks")
    FUNCTION = "make"
    CATEGORY = "_adtest"

    def make(self, mask, mask_size, absent_b, mask_b=None):
        from comfy.ldm.sam3.tracker import pack_masks

        objects = _objects(mask, mask_b)
        frames, height, width = objects[0].shape
        low = torch.stack([F.interpolate(m.unsqueeze(1), size=(mask_size, mask_size), mode="area")[:, 0] > 0.5
                           for m in objects], dim=1)  # [frames, objects, m, m]
        for frame in _frames(absent_b):
            if len(objects) > 1:
                low[frame, 1] = False
        track_data = {"packed_masks": pack_masks(low), "n_frames": frames, "scores": [0.9, 0.8][: len(objects)],
                      "orig_size": (height, width)}
        individual = torch.stack(objects, dim=1).reshape(frames * len(objects), height, width)
        return track_data, individual


class TestBoundingBoxes:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"mask": ("MASK",), "overhang": ("FLOAT", {"default": 1.5, "min": 0.0, "max": 64.0})},
                "optional": {"mask_b": ("MASK",)}}

    RETURN_TYPES = ("BOUNDING_BOX",)
    FUNCTION = "make"
    CATEGORY = "_adtest"

    def make(self, mask, overhang, mask_b=None):
        objects = _objects(mask, mask_b)
        out = []
        for frame in range(objects[0].shape[0]):
            boxes = []
            for index, m in enumerate(objects):
                rows = torch.nonzero(m[frame].any(dim=1)).flatten()
                cols = torch.nonzero(m[frame].any(dim=0)).flatten()
                if rows.numel() == 0:
                    continue
                x1, y1 = float(cols[0]) - overhang, float(rows[0]) - overhang  # not clamped, as SAM3's
                boxes.append({"x": x1, "y": y1, "width": float(cols[-1]) + 1 + overhang - x1,
                              "height": float(rows[-1]) + 1 + overhang - y1,
                              "score": 0.9 - 0.1 * ((index + frame) % 2)})
            out.append(sorted(boxes, key=lambda box: -box["score"]))
        return (out,)


class TestAudio:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seconds": ("FLOAT", {"default": 1.0, "min": 0.01, "max": 60.0}),
                             "sample_rate": ("INT", {"default": 44100, "min": 8000, "max": 96000}),
                             "channels": ("INT", {"default": 2, "min": 1, "max": 6}),
                             "seed": ("INT", {"default": 0, "min": 0, "max": 2**31})}}

    RETURN_TYPES = ("AUDIO",)
    FUNCTION = "make"
    CATEGORY = "_adtest"

    def make(self, seconds, sample_rate, channels, seed):
        generator = torch.Generator().manual_seed(seed)
        samples = round(seconds * sample_rate)
        waveform = (torch.rand((1, channels, samples), generator=generator) - 0.5) * 0.4
        return ({"waveform": waveform, "sample_rate": sample_rate},)


NODE_CLASS_MAPPINGS = {"TestSAM3TrackData": TestSAM3TrackData, "TestBoundingBoxes": TestBoundingBoxes,
                       "TestAudio": TestAudio}
