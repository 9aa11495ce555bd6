"""Batch sizes of a detail pass that never depend on free memory.

A model call's result can depend on its batch size: on CPUs whose bfloat16 matrix kernels are
chosen by problem size (Intel AMX), a frame sampled with two others differs from the same frame
sampled with thirteen (see ``docs/REPRODUCIBILITY.md``). So every split whose size can change the
arithmetic is decided from the inputs, the model and the device, never from the memory free at
that moment, and one machine gives one result for one seed:

* frames per sampling call (models without temporal layers): ComfyUI's estimate of the model's
  working memory against a fixed budget (:func:`sampling_budget`);
* frames per VAE call: one on the CPU, on a GPU the VAE's estimate against a fixed share of the
  device (:func:`vae_budget`);
* ComfyUI's own memory-driven splits inside those calls (cond and uncond in one UNet batch or in
  two; a VAE batch cut further) are pinned for the detailer's calls (:func:`pinned_free_memory`,
  :func:`with_fixed_batching`); on the CPU, where ComfyUI's default attention cuts the keys into
  chunks by the free memory, the model's attention runs as PyTorch's scaled dot product instead.

When a call runs out of memory anyway, the split steps down a fixed ladder (halving the frames
per call, then cond and uncond apart) and says so in the log: the one way memory may change a
result, and never silently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

log = logging.getLogger(__name__)

# Bytes one sampling call may take on the CPU, whatever the machine holds, so every CPU splits a
# clip alike; and at most this many frames per call (more were measured no faster there).
CPU_SAMPLING_BUDGET = 2 * 1024**3
CPU_FRAMES_PER_CHUNK = 16
# On a GPU: this share of the device memory the model's weights leave (both fixed for a machine).
GPU_SAMPLING_SHARE = 0.5
GPU_VAE_SHARE = 0.25
# What ComfyUI is told is free while it decides a split of the detailer's own batches: enough
# for any batch (its VAE divides by it, so no infinity), or nothing (one cond at a time).
UNLIMITED = float(2**60)
NOTHING = 0.0

CALC_COND_BATCH_KEY = "animatediff_detailer_fixed_batching"


def _is_cpu(device: Any) -> bool:
    return torch.device(device).type == "cpu" if device is not None else True


def _device_total(mm: Any, device: Any) -> int:
    return int(mm.get_total_memory(device))


def _size_of(patcher: Any) -> int:
    try:
        return int(patcher.model_size())
    except (AttributeError, TypeError):
        return 0


def sampling_budget(mm: Any, model: Any) -> int:
    """Bytes of working memory one sampling call of ``model`` may take: a constant on the CPU,
    on a GPU a share of the device's total memory beside the model's weights."""
    device = getattr(model, "load_device", None)
    if _is_cpu(device):
        return CPU_SAMPLING_BUDGET
    return max(0, int((_device_total(mm, device) - _size_of(model)) * GPU_SAMPLING_SHARE))


def frames_per_call(per_frame_bytes: int, budget: int, frame_count: int, on_cpu: bool) -> int:
    """Frames of one sampling call: as many as ``budget`` holds at ``per_frame_bytes`` each (at
    least one), at most ``frame_count`` and on the CPU at most :data:`CPU_FRAMES_PER_CHUNK`."""
    most = min(frame_count, CPU_FRAMES_PER_CHUNK) if on_cpu else frame_count
    return int(max(1, min(most, budget // max(1, per_frame_bytes))))


def vae_budget(mm: Any, vae: Any) -> int:
    """Bytes one VAE call may take on a GPU: a share of the device's total memory beside the VAE."""
    device = getattr(vae, "device", None)
    if _is_cpu(device):
        return 0
    return max(0, int((_device_total(mm, device) - _size_of(getattr(vae, "patcher", None))) * GPU_VAE_SHARE))


@contextmanager
def pinned_free_memory(patcher: Any, free: float) -> Iterator[None]:
    """While inside, ComfyUI's ``patcher.get_free_memory`` answers ``free`` (bytes): ComfyUI asks it
    only to split a batch further (VAE batches, cond batching), and the detailer has sized its
    batches already. The patcher's own method is back afterwards."""
    if patcher is None or not hasattr(patcher, "get_free_memory"):
        yield
        return
    own = vars(patcher)
    previous = own.get("get_free_memory")
    patcher.get_free_memory = lambda device=None: free
    try:
        yield
    finally:
        if previous is None:
            del patcher.get_free_memory
        else:
            patcher.get_free_memory = previous


class CondBatching:
    """Whether cond and uncond share one UNet batch (``together``) in the detailer's sampling
    calls; a step down the ladder sets it False. Shared by the wrapper of every model of a pass."""

    def __init__(self) -> None:
        self.together = True

    def wrapper(self, executor: Any, model: Any, conds: Any, x_in: Any, timestep: Any, model_options: Any) -> Any:
        """ComfyUI's CALC_COND_BATCH wrapper: runs its cond batching with the free memory pinned."""
        with pinned_free_memory(getattr(model, "current_patcher", None), UNLIMITED if self.together else NOTHING):
            return executor(model, conds, x_in, timestep, model_options)


# ComfyUI attention functions whose arithmetic depends on the free memory (the key chunks of the
# sub-quadratic attention, ComfyUI's default on the CPU).
MEMORY_SIZED_ATTENTION = ("attention_sub_quad",)


def _attention_of_fixed_arithmetic(func: Any, *args: Any, **kwargs: Any) -> Any:
    """ComfyUI's ``optimized_attention_override``: PyTorch's scaled dot product attention in place of
    an attention that sizes its chunks by the free memory; any other attention as it is."""
    if getattr(func, "__name__", None) in MEMORY_SIZED_ATTENTION:
        from comfy.ldm.modules import attention

        return attention.attention_pytorch(*args, **kwargs)
    return func(*args, **kwargs)


def with_fixed_batching(model: Any, batching: CondBatching) -> Any:
    """A clone of ``model`` whose cond batching follows ``batching``, not the free memory, and whose
    attention on the CPU does not depend on it either (unless an attention override is set already)."""
    from comfy.patcher_extension import WrappersMP

    model = model.clone()
    model.add_wrapper_with_key(WrappersMP.CALC_COND_BATCH, CALC_COND_BATCH_KEY, batching.wrapper)
    options = model.model_options.setdefault("transformer_options", {})
    if _is_cpu(getattr(model, "load_device", None)) and "optimized_attention_override" not in options:
        options["optimized_attention_override"] = _attention_of_fixed_arithmetic
    return model


def is_out_of_memory(mm: Any, error: BaseException) -> bool:
    """Whether ``error`` is an out-of-memory error (ComfyUI 0.29 also counts accelerators' own)."""
    is_oom = getattr(mm, "is_oom", None)
    return bool(is_oom(error)) if is_oom is not None else isinstance(error, torch.OutOfMemoryError)
