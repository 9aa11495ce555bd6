"""Test-only ComfyUI node pack for the real-ComfyUI tier of comfyui-animatediff-detailer.

Loaded by ComfyUI from the test session's temporary custom_nodes folder, never installed
for users. Nodes:

* ``TestClipSource``: a synthetic clip (IMAGE) and the subject's per-frame mask (MASK).
* ``TestBoxMask``: a rectangle MASK, e.g. for ConditioningSetMask.
* ``TestTextConditioning``: a seeded random CONDITIONING ``[[tensor [1, tokens, dim], {}]]``,
  standing in for a text encoder that cannot be shrunk (Wan's umT5-XXL: dim 4096).
* ``TestClipVisionOutput``: a seeded random CLIP_VISION_OUTPUT (``penultimate_hidden_states``
  ``[1, tokens, 1280]``, what Wan's I2V models read), standing in for CLIP-H vision.
* ``TestRecordingModel``: a clone of a MODEL whose sampling calls, UNet calls and
  conditioning batches are recorded (``TestRecordingModel.RECORDER``), optionally
  requesting a cancel after a number of UNet calls, or running out of memory (as a GPU
  would) on every UNet batch larger than ``batch_limit`` (-1: no limit). Conditioning batches include each
  cond's ControlNet chain (hint, strength, range); UNet calls the ControlNet residuals they got.
* ``TestOracleModel``: a MODEL predicting the clean latent it samples from (it changes nothing).
* ``TestRecordingVAE``: a VAE that records its encode/decode calls and can request a cancel
  during one of them.
* ``TestRetype``: frames cast to another float type and a mask scaled, as other packs emit them.
* ``TestBlankSegMasks``: the SEGS with every mask zeroed (nothing to detail).
* ``TestFakeDetector``: a BBOX_DETECTOR whose ``detect`` finds, in a frame of the clip it was
  given, one box per subject mask (each subject apart, even where they overlap), missing the
  listed frames; Impact's SEGS types (numpy bbox and mask, list crop region, array confidence).
* ``TestColourCastSegs``: SEGS whose refined crop is the frames' crop under a colour cast.
* ``TestSink``: an output node taking anything the tests want ComfyUI to compute.
* ``TestSAM3TrackData``, ``TestBoundingBoxes``, ``TestAudio``: SAM3's track data and boxes and an
  AUDIO, as ComfyUI's nodes emit them (``sam3_video.py``).
"""

from __future__ import annotations

import time
from collections import namedtuple

import torch

from .sam3_video import NODE_CLASS_MAPPINGS as SAM3_VIDEO_NODES
from .synthetic import box_mask, make_clip

# Another pack's SEG, as Impact Pack defines it (same fields and order): the fake detector hands
# these to our tracker, as Impact's detectors do.
SEG = namedtuple("SEG", ["cropped_image", "cropped_mask", "confidence", "crop_region", "bbox", "label",
                         "control_net_wrapper"], defaults=[None])

RECORDER_KEY = "adtest_recorder"


class Recorder:
    """What the recording models saw during one run; the tests clear it before each run."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.sample_calls: list[dict] = []
        self.unet_calls: list[dict] = []
        self.cond_batches: list[dict] = []
        self.vae_calls: list[dict] = []
        self.interrupt_requested_at: float | None = None
        self.interrupt_call_index: int | None = None

    def calls(self, tag: str | None = None) -> list[dict]:
        return [c for c in self.unet_calls if tag is None or c["tag"] == tag]


RECORDER = Recorder()


class TestClipSource:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": ("INT", {"default": 8, "min": 1, "max": 256}),
                "width": ("INT", {"default": 128, "min": 16, "max": 2048, "step": 8}),
                "height": ("INT", {"default": 128, "min": 16, "max": 2048, "step": 8}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF}),
            },
            "optional": {
                "radius": ("INT", {"default": 0, "min": 0, "max": 1024}),
                "x_start": ("FLOAT", {"default": 0.3, "min": 0.0, "max": 1.0, "step": 0.01}),
                "x_end": ("FLOAT", {"default": 0.7, "min": 0.0, "max": 1.0, "step": 0.01}),
                "radius_end": ("INT", {"default": 0, "min": 0, "max": 1024}),
            },
        }

    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("frames", "mask")
    FUNCTION = "make"
    CATEGORY = "_adtest"

    def make(self, frames, width, height, seed, radius=0, x_start=0.3, x_end=0.7, radius_end=0):
        return make_clip(frames, width, height, seed, radius, x_start, x_end, radius_end=radius_end)


class TestBoxMask:
    @classmethod
    def INPUT_TYPES(cls):
        box = {"min": 0.0, "max": 1.0, "step": 0.001}
        return {
            "required": {
                "width": ("INT", {"default": 128, "min": 1, "max": 4096}),
                "height": ("INT", {"default": 128, "min": 1, "max": 4096}),
                "x1": ("FLOAT", {"default": 0.0, **box}),
                "y1": ("FLOAT", {"default": 0.0, **box}),
                "x2": ("FLOAT", {"default": 1.0, **box}),
                "y2": ("FLOAT", {"default": 1.0, **box}),
            }
        }

    RETURN_TYPES = ("MASK",)
    FUNCTION = "make"
    CATEGORY = "_adtest"

    def make(self, width, height, x1, y1, x2, y2):
        return (box_mask(width, height, x1, y1, x2, y2),)


class TestTextConditioning:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF}),
                "tokens": ("INT", {"default": 8, "min": 1, "max": 1024}),
                "dim": ("INT", {"default": 4096, "min": 1, "max": 16384}),
                "scale": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 100.0, "step": 0.01}),
            }
        }

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "make"
    CATEGORY = "_adtest"

    def make(self, seed, tokens, dim, scale):
        generator = torch.Generator().manual_seed(int(seed) % (2**63))
        return ([[torch.randn((1, tokens, dim), generator=generator) * scale, {}]],)


class TestClipVisionOutput:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF}),
                "tokens": ("INT", {"default": 257, "min": 1, "max": 4096}),
                "dim": ("INT", {"default": 1280, "min": 1, "max": 16384}),
                "scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 100.0, "step": 0.01}),
            }
        }

    RETURN_TYPES = ("CLIP_VISION_OUTPUT",)
    FUNCTION = "make"
    CATEGORY = "_adtest"

    def make(self, seed, tokens, dim, scale):
        from comfy.clip_vision import Output

        generator = torch.Generator().manual_seed(int(seed) % (2**63))
        output = Output()
        output["penultimate_hidden_states"] = torch.randn((1, tokens, dim), generator=generator) * scale
        return (output,)


def _record_outer_sample(tag):
    def wrapper(executor, *args, **kwargs):
        noise, latent, sigmas = args[0], args[1], args[3]
        denoise_mask = args[4] if len(args) > 4 else kwargs.get("denoise_mask")
        seed = args[7] if len(args) > 7 else kwargs.get("seed")
        model_options = getattr(executor.class_obj, "model_options", None) or {}
        RECORDER.sample_calls.append({
            "tag": tag,
            "latent_shape": tuple(latent.shape),
            "noise_shape": tuple(noise.shape),
            "noise_is_zero": bool((noise == 0).all()),
            "noise": noise.detach().to("cpu").clone() if noise.numel() <= 2_000_000 else None,
            "sigmas": [float(s) for s in sigmas],
            "denoise_mask_shape": None if denoise_mask is None else tuple(denoise_mask.shape),
            "denoise_mask": None if denoise_mask is None else _small_copy(denoise_mask),
            "seed": seed,
            "denoise_mask_function": model_options.get("denoise_mask_function"),
            "time": time.perf_counter(),
        })
        return executor(*args, **kwargs)

    return wrapper


def _describe_control(control):
    """A ControlNet chain on a cond (``cond["control"]``), outermost first: type, hint, strength, range."""
    chain = []
    while control is not None and len(chain) < 16:
        hint = getattr(control, "cond_hint_original", None)
        chain.append({
            "type": type(control).__name__,
            "hint": hint.detach().to("cpu", torch.float32).clone() if isinstance(hint, torch.Tensor) else None,
            "strength": getattr(control, "strength", None),
            "range": tuple(getattr(control, "timestep_percent_range", ()) or ()),
        })
        control = getattr(control, "previous_controlnet", None)
    return chain


def _describe_control_residuals(control):
    """What a UNet call got from the ControlNets (``c["control"]``): residual counts and their size."""
    if not control:
        return None
    tensors = [t for key in ("input", "middle", "output") for t in control.get(key) or [] if t is not None]
    return {
        "counts": {key: sum(1 for t in control.get(key) or [] if t is not None) for key in ("input", "middle", "output")},
        "max_abs": max((float(t.detach().abs().max()) for t in tensors), default=0.0),
        "finite": all(bool(torch.isfinite(t).all()) for t in tensors),
    }


def _record_cond_batch(tag):
    def wrapper(executor, model, conds, x_in, timestep, model_options):
        entries = []
        for cond_list in conds:
            items = []
            for cond in cond_list or []:
                mask = cond.get("mask")
                items.append({
                    "mask": None if mask is None else mask.detach().to("cpu", torch.float32).clone(),
                    "area": cond.get("area"),
                    "strength": cond.get("strength", 1.0),
                    "control": _describe_control(cond.get("control")),
                })
            entries.append(items)
        RECORDER.cond_batches.append({
            "tag": tag, "sigma": float(timestep.flatten()[0]), "x_shape": tuple(x_in.shape), "conds": entries,
        })
        return executor(model, conds, x_in, timestep, model_options)

    return wrapper


# Model inputs built from conditioning laid over the frame (what the detailer cuts per SEG).
FRAME_LAID_MODEL_INPUTS = ("c_concat", "camera_conditions", "reference_latent", "time_dim_concat", "vace_context")


def _small_copy(tensor):
    """A CPU float32 copy of a small tensor; a big one is recorded by its shape alone."""
    if tensor.numel() > 4_000_000:
        return tuple(tensor.shape)
    return tensor.detach().to("cpu", torch.float32).clone()


def _record_unet(tag, interrupt_after_calls, previous, batch_limit=-1):
    state = {"calls": 0}

    def wrapper(apply_model, args):
        import comfy.model_management

        x, timestep, c = args["input"], args["timestep"], args["c"]
        ad_params = (c.get("transformer_options") or {}).get("ad_params")
        state["calls"] += 1
        RECORDER.unet_calls.append({
            "tag": tag,
            "sigma": float(timestep.flatten()[0]),
            "batch": int(x.shape[0]),
            "x_shape": tuple(x.shape),
            "latent_hw": tuple(x.shape[-2:]),
            "vace_context_shape": tuple(c["vace_context"].shape) if c.get("vace_context") is not None else None,
            "frame_conds": {key: _small_copy(c[key]) for key in FRAME_LAID_MODEL_INPUTS if isinstance(c.get(key), torch.Tensor)},
            "text_sum": float(c["c_crossattn"].sum()) if isinstance(c.get("c_crossattn"), torch.Tensor) else None,
            "cond_or_uncond": list(args.get("cond_or_uncond") or []),
            "ad_full_length": None if ad_params is None else ad_params.get("full_length"),
            "ad_sub_idxs": None if (ad_params or {}).get("sub_idxs") is None else list(ad_params["sub_idxs"]),
            "after_interrupt": RECORDER.interrupt_requested_at is not None,
            "control": _describe_control_residuals(c.get("control")),
            "bf16_autocast": _in_bf16_autocast(),
            "time": time.perf_counter(),
        })
        if 0 <= batch_limit < x.shape[0]:
            RECORDER.unet_calls[-1]["oom"] = True
            raise torch.OutOfMemoryError(f"simulated out of memory in a UNet batch of {x.shape[0]}")
        if interrupt_after_calls and state["calls"] == interrupt_after_calls:
            RECORDER.interrupt_requested_at = time.perf_counter()
            RECORDER.interrupt_call_index = len(RECORDER.unet_calls) - 1
            comfy.model_management.interrupt_current_processing(True)  # what the server's Cancel does
        if previous is not None:
            return previous(apply_model, args)
        return apply_model(x, timestep, **c)

    return wrapper


class TestRecordingModel:
    RECORDER = RECORDER

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("MODEL",),
                "tag": ("STRING", {"default": "base"}),
            },
            "optional": {
                "interrupt_after_calls": ("INT", {"default": 0, "min": 0, "max": 100000}),
                "batch_limit": ("INT", {"default": -1, "min": -1, "max": 100000}),
            },
        }

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "wrap"
    CATEGORY = "_adtest"

    def wrap(self, model, tag, interrupt_after_calls=0, batch_limit=-1):
        from comfy.patcher_extension import WrappersMP

        model = model.clone()
        previous = model.model_options.get("model_function_wrapper")
        model.set_model_unet_function_wrapper(_record_unet(tag, interrupt_after_calls, previous, batch_limit))
        model.add_wrapper_with_key(WrappersMP.OUTER_SAMPLE, RECORDER_KEY, _record_outer_sample(tag))
        model.add_wrapper_with_key(WrappersMP.CALC_COND_BATCH, RECORDER_KEY, _record_cond_batch(tag))
        return (model,)


def _oracle_outer_sample(state):
    def wrapper(executor, *args, **kwargs):
        latent = args[1]
        state["clean"] = executor.class_obj.model_patcher.model.process_latent_in(latent)
        return executor(*args, **kwargs)

    return wrapper


class TestOracleModel:
    """A MODEL whose every prediction is the clean latent it was asked to sample from: sampling then
    returns that latent exactly, whatever the noise, as a model that changes nothing would."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",)}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "wrap"
    CATEGORY = "_adtest"

    def wrap(self, model):
        from comfy.patcher_extension import WrappersMP

        state = {}
        model = model.clone()

        def predict(apply_model, args):
            x = args["input"]
            clean = state["clean"].to(x)
            return clean.repeat(x.shape[0] // clean.shape[0], *([1] * (clean.ndim - 1)))

        model.set_model_unet_function_wrapper(predict)
        model.add_wrapper_with_key(WrappersMP.OUTER_SAMPLE, "adtest_oracle", _oracle_outer_sample(state))
        return (model,)


def _in_bf16_autocast() -> bool:
    """Whether the caller runs under CPU bfloat16 autocast (the detailer's bf16 precisions)."""
    return torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16


class _RecordingVAE:
    """Delegates everything to a ComfyUI VAE; records encode/decode calls, may request a cancel."""

    def __init__(self, vae, interrupt_on_encode_call: int) -> None:
        self._vae = vae
        self._interrupt_on = interrupt_on_encode_call
        self._encodes = 0

    def __getattr__(self, name):
        return getattr(self._vae, name)

    def encode(self, pixels, *args, **kwargs):
        import comfy.model_management

        self._encodes += 1
        RECORDER.vae_calls.append({"op": "encode", "shape": tuple(pixels.shape), "time": time.perf_counter()})
        if self._interrupt_on and self._encodes == self._interrupt_on:
            RECORDER.interrupt_requested_at = time.perf_counter()
            comfy.model_management.interrupt_current_processing(True)
        return self._vae.encode(pixels, *args, **kwargs)

    def decode(self, latent, *args, **kwargs):
        RECORDER.vae_calls.append({"op": "decode", "shape": tuple(latent.shape), "time": time.perf_counter(),
                                   "bf16_autocast": _in_bf16_autocast()})
        return self._vae.decode(latent, *args, **kwargs)


class TestRecordingVAE:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"vae": ("VAE",)},
            "optional": {"interrupt_on_encode_call": ("INT", {"default": 0, "min": 0, "max": 100000})},
        }

    RETURN_TYPES = ("VAE",)
    FUNCTION = "wrap"
    CATEGORY = "_adtest"

    def wrap(self, vae, interrupt_on_encode_call=0):
        return (_RecordingVAE(vae, interrupt_on_encode_call),)


class _OutOfMemoryOnce(torch.nn.Module):
    """Wraps a VAE's first-stage model: its first ``count`` encode and decode calls each raise
    the out-of-memory error a GPU would, later calls (ComfyUI's tiled retry) go through."""

    def __init__(self, inner, count: int) -> None:
        super().__init__()
        self.inner = inner
        self.left = {"encode": count, "decode": count}

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.inner, name)

    def _call(self, op: str, x, *args, **kwargs):
        RECORDER.vae_calls.append({"op": op, "shape": tuple(x.shape), "oom": self.left[op] > 0})
        if self.left[op] > 0:
            self.left[op] -= 1
            raise torch.OutOfMemoryError(f"simulated out of memory in VAE {op} of {tuple(x.shape)}")
        return getattr(self.inner, op)(x, *args, **kwargs)

    def encode(self, x, *args, **kwargs):
        return self._call("encode", x, *args, **kwargs)

    def decode(self, x, *args, **kwargs):
        return self._call("decode", x, *args, **kwargs)


class TestOutOfMemoryVAE:
    """A copy of the VAE whose first ``oom_calls`` encode and decode batches run out of memory."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"vae": ("VAE",), "oom_calls": ("INT", {"default": 1, "min": 0, "max": 1000})}}

    RETURN_TYPES = ("VAE",)
    FUNCTION = "wrap"
    CATEGORY = "_adtest"

    def wrap(self, vae, oom_calls):
        import copy

        failing = copy.copy(vae)
        failing.first_stage_model = _OutOfMemoryOnce(vae.first_stage_model, oom_calls)
        return (failing,)


class TestRetype:
    """Frames in another float type (half precision) and a mask scaled (e.g. to 0..255 levels)."""

    DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE",),
                "mask": ("MASK",),
                "dtype": (list(cls.DTYPES),),
                "mask_scale": ("FLOAT", {"default": 1.0, "min": -1000.0, "max": 1000.0}),
            }
        }

    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "retype"
    CATEGORY = "_adtest"

    def retype(self, images, mask, dtype, mask_scale):
        return images.to(self.DTYPES[dtype]), mask * mask_scale


class TestBlankSegMasks:
    """The SEGS with every SEG's mask set to zero in every frame."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"segs": ("SEGS",)}}

    RETURN_TYPES = ("SEGS",)
    FUNCTION = "blank"
    CATEGORY = "_adtest"

    def blank(self, segs):
        header, items = segs
        return ((header, [seg._replace(cropped_mask=torch.zeros_like(torch.as_tensor(seg.cropped_mask)))
                          for seg in items]),)


class _FakeBoxDetector:
    """What ``TestFakeDetector`` outputs: an object with Impact's ``detect`` signature."""

    def __init__(self, frames, masks, missed, label, confidence):
        self.frames, self.masks, self.missed = frames, masks, missed
        self.label, self.confidence = label, confidence

    def detect(self, image, threshold, dilation, crop_factor, drop_size=1, detailer_hook=None):
        import numpy as np

        matches = [i for i in range(self.frames.shape[0]) if torch.equal(self.frames[i], image[0].to(self.frames.dtype))]
        if len(matches) != 1:
            raise ValueError(f"TestFakeDetector was given an image that is not one frame of its clip ({len(matches)} match)")
        frame = matches[0]
        height, width = image.shape[1:3]
        items = []
        if frame in self.missed or self.confidence < threshold:
            return (height, width), items
        for mask in self.masks:
            rows = torch.nonzero(mask[frame].any(dim=1)).flatten()
            cols = torch.nonzero(mask[frame].any(dim=0)).flatten()
            if rows.numel() == 0:
                continue
            x1, y1, x2, y2 = int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
            if x2 - x1 <= drop_size or y2 - y1 <= drop_size:
                continue
            half_w, half_h = (x2 - x1) * crop_factor / 2, (y2 - y1) * crop_factor / 2
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            region = [max(0, int(cx - half_w)), max(0, int(cy - half_h)), min(width, int(cx + half_w)),
                      min(height, int(cy + half_h))]
            box_mask = np.zeros((region[3] - region[1], region[2] - region[0]), dtype=np.float32)
            box_mask[y1 - region[1] : y2 - region[1], x1 - region[0] : x2 - region[0]] = 1.0
            seg = SEG(image[:, region[1] : region[3], region[0] : region[2]].numpy(), box_mask,
                      np.array([self.confidence], dtype=np.float32), region,
                      np.array([x1, y1, x2, y2], dtype=np.float32), self.label, None)
            items.append(seg)
        return (height, width), items


class TestFakeDetector:
    """A BBOX_DETECTOR that finds each subject of the given masks as its own box (as a real detector
    sees two people where their masks merge), missing the frames listed in ``miss_frames``."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": ("IMAGE",),
                "mask": ("MASK",),
                "miss_frames": ("STRING", {"default": ""}),
                "label": ("STRING", {"default": "face"}),
                "confidence": ("FLOAT", {"default": 0.9, "min": 0.0, "max": 1.0}),
            },
            "optional": {"mask_b": ("MASK",)},
        }

    RETURN_TYPES = ("BBOX_DETECTOR",)
    FUNCTION = "make"
    CATEGORY = "_adtest"

    def make(self, frames, mask, miss_frames, label, confidence, mask_b=None):
        missed = {int(v) for v in miss_frames.replace(",", " ").split()}
        masks = [m > 0.5 for m in (mask, mask_b) if m is not None]
        return (_FakeBoxDetector(frames, masks, missed, label, confidence),)


class TestColourCastSegs:
    """The SEGS with each cropped_image set to the frames' crop under a colour cast (per-channel gain,
    then offset), as a VAE round trip or a drifting model returns a detailed region."""

    @classmethod
    def INPUT_TYPES(cls):
        channel = {"min": -2.0, "max": 2.0, "step": 0.01}
        return {
            "required": {
                "segs": ("SEGS",),
                "image": ("IMAGE",),
                "gain_r": ("FLOAT", {"default": 1.08, **channel}),
                "gain_g": ("FLOAT", {"default": 0.97, **channel}),
                "gain_b": ("FLOAT", {"default": 0.85, **channel}),
                "offset_r": ("FLOAT", {"default": 0.06, **channel}),
                "offset_g": ("FLOAT", {"default": 0.01, **channel}),
                "offset_b": ("FLOAT", {"default": -0.02, **channel}),
            }
        }

    RETURN_TYPES = ("SEGS",)
    FUNCTION = "cast"
    CATEGORY = "_adtest"

    def cast(self, segs, image, gain_r, gain_g, gain_b, offset_r, offset_g, offset_b):
        gain = torch.tensor([gain_r, gain_g, gain_b])
        offset = torch.tensor([offset_r, offset_g, offset_b])
        header, items = segs
        out = []
        for seg in items:
            x1, y1, x2, y2 = (int(v) for v in seg.crop_region)
            crop = image[:, y1:y2, x1:x2].to(torch.float32)
            out.append(seg._replace(cropped_image=(crop * gain + offset).clamp(0.0, 1.0)))
        return ((header, out),)


class TestSink:
    """Output node: makes ComfyUI compute whatever is connected; the tests read node outputs from the cache."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {},
            "optional": {
                "images": ("IMAGE",),
                "segs": ("SEGS",),
                "mask": ("MASK",),
                "images_b": ("IMAGE",),
                "conditioning": ("CONDITIONING",),
            },
        }

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "sink"
    CATEGORY = "_adtest"

    def sink(self, images=None, segs=None, mask=None, images_b=None, conditioning=None):
        named = (("images", images), ("mask", mask), ("images_b", images_b))
        shapes = {name: list(value.shape) for name, value in named if value is not None}
        if segs is not None:
            shapes["segs"] = [len(segs[1])]
        return {"ui": {"shapes": [shapes]}}


NODE_CLASS_MAPPINGS = {
    "TestClipSource": TestClipSource,
    "TestBoxMask": TestBoxMask,
    "TestTextConditioning": TestTextConditioning,
    "TestClipVisionOutput": TestClipVisionOutput,
    "TestRecordingModel": TestRecordingModel,
    "TestOracleModel": TestOracleModel,
    "TestRecordingVAE": TestRecordingVAE,
    "TestOutOfMemoryVAE": TestOutOfMemoryVAE,
    "TestRetype": TestRetype,
    "TestBlankSegMasks": TestBlankSegMasks,
    "TestFakeDetector": TestFakeDetector,
    "TestColourCastSegs": TestColourCastSegs,
    "TestSink": TestSink,
    **SAM3_VIDEO_NODES,
}
NODE_DISPLAY_NAME_MAPPINGS = {name: f"{name} [adtest]" for name in NODE_CLASS_MAPPINGS}
