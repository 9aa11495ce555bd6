"""VAE calls of a detail pass: batches of a fixed size (never sized by the free memory, see
:mod:`.batching`), bf16 encode and decode on CPUs that compute it natively, and retries in ever
smaller tiles when a batch runs out of memory."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

from ...core.geometry import VAE_STRIDE, LatentLayout
from .batching import UNLIMITED, is_out_of_memory, pinned_free_memory, vae_budget
from .environment import run_in_precision, runs_in_bf16

log = logging.getLogger(__name__)

# Frames per VAE call. On the CPU a larger batch is no faster per frame and holds more
# activations (measured on 2 cores: 4 frames per call took longer and +25% memory), and one
# frame per call honours Cancel within seconds.
CPU_FRAMES_PER_BATCH = 1
GPU_FRAMES_PER_BATCH = 64
# Tile sides (pixels) of the retries after ComfyUI's own tiled retry ran out of memory too.
RETRY_TILE_SIZES = (256, 128, 64)


def vae_layout(vae: Any, patch_size: int = 1) -> LatentLayout:
    """The latent layout of a ComfyUI VAE, read from its own attributes: spatial compression
    (``spacial_compression_encode``), and for a video VAE (``latent_dim`` 3) the frame formulas
    ``downscale_ratio[0]`` / ``upscale_ratio[0]``, and its latent channels. Sampling sizes are multiples
    of the spatial compression times ``patch_size`` (the diffusion model's spatial patch)."""
    compression = getattr(vae, "spacial_compression_encode", None)
    spatial = compression() if callable(compression) else getattr(vae, "downscale_ratio", VAE_STRIDE)
    spatial = int(spatial) if isinstance(spatial, (int, float)) and spatial >= 1 else VAE_STRIDE
    channels = getattr(vae, "latent_channels", 4)
    channels = channels if isinstance(channels, int) and channels >= 1 else 4
    if getattr(vae, "latent_dim", 2) != 3:
        return LatentLayout(spatial=spatial, size_multiple=spatial * patch_size, channels=channels)
    down, up = getattr(vae, "downscale_ratio", None), getattr(vae, "upscale_ratio", None)
    if not (isinstance(down, tuple) and isinstance(up, tuple) and callable(down[0]) and callable(up[0])):
        raise ValueError(
            "basic_pipe: the VAE makes video latents but reports no frame formulas (downscale_ratio / upscale_ratio); "
            "this ComfyUI VAE type is not supported by the detailer"
        )
    return LatentLayout(spatial=spatial, size_multiple=spatial * patch_size, latent_frames=down[0], pixel_frames=up[0],
                        channels=channels)


class VaeRunner:
    """``vae.encode`` / ``vae.decode`` of IMAGE batches ``[B, H, W, 3]`` and latents ``[B, C, h, w]``
    (for a video VAE: a clip ``[T, H, W, 3]`` and its latent ``[1, C, T', h, w]``)."""

    def __init__(self, vae: Any, vae_encode_precision: str = "auto", patch_size: int = 1,
                 vae_decode_precision: str = "auto") -> None:
        import comfy.model_management

        self._mm = comfy.model_management
        self.vae = vae
        self.layout = vae_layout(vae, patch_size)
        self._on_cpu = self._mm.is_device_cpu(getattr(vae, "device", torch.device("cpu")))
        # "auto" was measured only for image VAEs: a video VAE keeps ComfyUI's precision unless asked
        dtype, auto_applies = getattr(vae, "vae_dtype", torch.float32), not self.layout.is_video
        self.encode_in_bf16 = runs_in_bf16(vae_encode_precision, self._on_cpu, dtype, auto_applies)
        self.decode_in_bf16 = runs_in_bf16(vae_decode_precision, self._on_cpu, dtype, auto_applies)

    def frames_per_batch(self, width: int, height: int) -> int:
        """How many frames of ``width`` x ``height`` pixels one call takes: one on the CPU; on a GPU
        as many as a fixed share of the device holds by ComfyUI's estimate of the VAE (at most
        :data:`GPU_FRAMES_PER_BATCH`). Never the free memory: the batch, and so the result, is the
        same on every run."""
        if self._on_cpu:
            return CPU_FRAMES_PER_BATCH
        stride = self.layout.spatial
        try:
            dtype = self.vae.vae_dtype
            per_frame = max(
                self.vae.memory_used_encode((1, 3, height, width), dtype),
                self.vae.memory_used_decode((1, self.layout.channels, height // stride, width // stride), dtype),
            )
        except (AttributeError, TypeError):
            return GPU_FRAMES_PER_BATCH
        return int(max(1, min(GPU_FRAMES_PER_BATCH, vae_budget(self._mm, self.vae) // max(1, int(per_frame)))))

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Latents of IMAGE ``pixels`` (float32, whatever precision the encoder ran in)."""
        return run_in_precision(lambda: self._call("encode", pixels[..., :3]), self.encode_in_bf16)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """IMAGE ``[B, H, W, 3]`` of ``latent``."""
        if latent.ndim == 4 and self._on_cpu:
            # A channels-last latent makes every decoder convolution run channels-last on the CPU
            # (ComfyUI's encode input already is, as a moved IMAGE): measured 0.71 -> 0.62 s per
            # 408x336 frame, the same pixels within 3e-5, and the VAE's own weights untouched.
            latent = latent.contiguous(memory_format=torch.channels_last)
        pixels = run_in_precision(lambda: self._call("decode", latent), self.decode_in_bf16)
        if pixels.ndim == 5:  # video VAEs return [B, T, H, W, C]
            pixels = pixels.reshape(-1, *pixels.shape[-3:])
        return pixels

    def _call(self, op: str, batch: torch.Tensor) -> torch.Tensor:
        """``vae.encode`` or ``vae.decode`` of one batch, kept from failing on out-of-memory.

        ComfyUI's VAE already retries a batch that runs out of memory once, tiled at its own
        tile size. When that runs out of memory too, the batch is retried tiled with ever
        smaller tiles (:data:`RETRY_TILE_SIZES` pixels) before the node gives up.
        """
        plain, tiled = (self.vae.encode, self.vae.encode_tiled) if op == "encode" else (self.vae.decode, self.vae.decode_tiled)
        stride = self.layout.spatial

        def whole() -> torch.Tensor:
            # ComfyUI would cut the batch further by its free memory; the batch is already sized
            with pinned_free_memory(getattr(self.vae, "patcher", None), UNLIMITED):
                return plain(batch)

        attempts: list[Callable[[], torch.Tensor]] = [whole]
        for tile in RETRY_TILE_SIZES:
            # encode tiles are in pixels, decode tiles in latent cells; overlaps as ComfyUI's own
            size, overlap = (tile, tile // 8) if op == "encode" else (tile // stride, tile // stride // 4)
            attempts.append(lambda size=size, overlap=overlap: tiled(batch, tile_x=size, tile_y=size, overlap=overlap))
        for number, attempt in enumerate(attempts):
            if number:  # outside the except block: the failed call's tensors are free by now
                log.warning("VAE %s of %s ran out of memory; retrying in tiles of %d px", op, tuple(batch.shape),
                            RETRY_TILE_SIZES[number - 1])
                self._mm.soft_empty_cache()
            try:
                return attempt()
            except Exception as error:  # noqa: BLE001 - only out-of-memory is retried
                if not is_out_of_memory(self._mm, error):
                    raise
        raise RuntimeError(
            f"VAE {op} of a batch {tuple(batch.shape)} ran out of memory even in tiles of {RETRY_TILE_SIZES[-1]} px: "
            f"lower max_size (the sampled crop's longer side) or free memory used by other models"
        )
