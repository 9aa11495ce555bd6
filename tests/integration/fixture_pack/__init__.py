"""Test-only ComfyUI node pack for the real-ComfyUI tier of comfyui-animatediff-detailer.

Loaded by ComfyUI from the test session's temporary custom_nodes folder, never installed
for users. Nodes:

* ``TestClipSource``: a synthetic clip (IMAGE) and the subject's per-frame mask (MASK).
* ``TestBoxMask``: a rectangle MASK, e.g. for ConditioningSetMask.
* ``TestTextConditioning``: a seeded random CONDITIONING ``[[tensor [1, tokens, dim], {}]]``,
  standing in for a text encoder that cannot be shrunk (Wan's umT5-XXL: dim 4096).
* ``TestRecordingModel``: a clone of a MODEL whose sampling calls, UNet calls and
  conditioning batches are recorded (``TestRecordingModel.RECORDER``), optionally
  requesting a cancel after a number of UNet calls. Conditioning batches include each
  cond's ControlNet chain (hint, strength, range); UNet calls the ControlNet residuals they got.
* ``TestRecordingVAE``: a VAE that records its encode/decode calls and can request a cancel
  during one of them.
* ``TestRetype``: frames cast to another float type and a mask scaled, as other packs emit them.
* ``TestBlankSegMasks``: the SEGS with every mask zeroed (nothing to detail).
* ``TestSink``: an output node taking anything the tests want ComfyUI to compute.
"""

from __future__ import annotations

import time

import torch

from .synthetic import box_mask, make_clip

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
            },
        }

    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("frames", "mask")
    FUNCTION = "make"
    CATEGORY = "_adtest"

    def make(self, frames, width, height, seed, radius=0, x_start=0.3, x_end=0.7):
        return make_clip(frames, width, height, seed, radius, x_start, x_end)


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


def _record_unet(tag, interrupt_after_calls, previous):
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
            "cond_or_uncond": list(args.get("cond_or_uncond") or []),
            "ad_full_length": None if ad_params is None else ad_params.get("full_length"),
            "ad_sub_idxs": None if (ad_params or {}).get("sub_idxs") is None else list(ad_params["sub_idxs"]),
            "after_interrupt": RECORDER.interrupt_requested_at is not None,
            "control": _describe_control_residuals(c.get("control")),
            "time": time.perf_counter(),
        })
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
            },
        }

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "wrap"
    CATEGORY = "_adtest"

    def wrap(self, model, tag, interrupt_after_calls=0):
        from comfy.patcher_extension import WrappersMP

        model = model.clone()
        previous = model.model_options.get("model_function_wrapper")
        model.set_model_unet_function_wrapper(_record_unet(tag, interrupt_after_calls, previous))
        model.add_wrapper_with_key(WrappersMP.OUTER_SAMPLE, RECORDER_KEY, _record_outer_sample(tag))
        model.add_wrapper_with_key(WrappersMP.CALC_COND_BATCH, RECORDER_KEY, _record_cond_batch(tag))
        return (model,)


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
        RECORDER.vae_calls.append({"op": "decode", "shape": tuple(latent.shape), "time": time.perf_counter()})
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
            },
        }

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "sink"
    CATEGORY = "_adtest"

    def sink(self, images=None, segs=None, mask=None, images_b=None):
        named = (("images", images), ("mask", mask), ("images_b", images_b))
        shapes = {name: list(value.shape) for name, value in named if value is not None}
        if segs is not None:
            shapes["segs"] = [len(segs[1])]
        return {"ui": {"shapes": [shapes]}}


NODE_CLASS_MAPPINGS = {
    "TestClipSource": TestClipSource,
    "TestBoxMask": TestBoxMask,
    "TestTextConditioning": TestTextConditioning,
    "TestRecordingModel": TestRecordingModel,
    "TestRecordingVAE": TestRecordingVAE,
    "TestOutOfMemoryVAE": TestOutOfMemoryVAE,
    "TestRetype": TestRetype,
    "TestBlankSegMasks": TestBlankSegMasks,
    "TestSink": TestSink,
}
NODE_DISPLAY_NAME_MAPPINGS = {name: f"{name} [adtest]" for name in NODE_CLASS_MAPPINGS}
