"""The sampling backend of the detail pass: ComfyUI's VAE, noise, schedulers and samplers,
with differential diffusion, the refiner split, progress, previews and Cancel."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import torch

from ...core.conditioning import Conditionings
from ...core.context_windows import context_windows, frame_chunks
from ...core.crop_windows import CropWindows
from ...core.frame_conditioning import for_window
from ...core.geometry import LatentLayout, SamplingSize
from ...core.masks import resize_masks
from ...core.noise import FrameNoise
from ...core.options import SamplingOptions
from ...core.schedule import (
    ays_sigmas,
    denoise_tail,
    gits_sigmas,
    parse_scheduler,
    refiner_split,
    refiner_split_at_boundary,
    with_sampler_rule,
)
from .controlnet import apply_seg_control, cut_control, slice_control
from .batching import CondBatching, frames_per_call, is_out_of_memory, sampling_budget, with_fixed_batching
from .environment import (
    AUTO_CONTEXT_LENGTH,
    advanced_controlnet_installed,
    comfy_scheduler_names,
    has_motion_module,
    has_own_context_windows,
    run_in_precision,
    runs_in_bf16,
)
from .vae import VaeRunner

log = logging.getLogger(__name__)

# Frames per chunk at most, whatever the budget (None: the budget alone); tests lower it.
CHUNK_FRAMES_LIMIT: int | None = None


def _differential_diffusion(sigma: torch.Tensor, denoise_mask: torch.Tensor, extra_options: dict) -> torch.Tensor:
    """Denoise-mask function: a pixel is denoised while the schedule's progress is below its mask value.

    So a soft mask value m means "change this pixel over the last m of the steps".
    """
    model_sampling = extra_options["model"].inner_model.model_sampling
    step_sigmas = extra_options["sigmas"]
    sigma_last = max(float(step_sigmas[-1]), float(model_sampling.sigma_min))
    t_first = model_sampling.timestep(step_sigmas[0])
    t_last = model_sampling.timestep(torch.as_tensor(sigma_last))
    t_now = model_sampling.timestep(sigma[0])
    progress = (t_now - t_last) / (t_first - t_last)
    return (denoise_mask >= progress).to(denoise_mask.dtype)


def with_differential_diffusion(model: Any) -> Any:
    """A clone of ``model`` that reads soft noise-mask values as partial denoise (unless one is set)."""
    if "denoise_mask_function" in model.model_options:
        return model
    model = model.clone()
    model.set_model_denoise_mask_function(_differential_diffusion)
    return model


def resolve_context_length(model: Any, context_length: int) -> int:
    """The context window length (frames) the detail pass uses for ``model``: 0 (the whole clip
    at once) when the model has context windows of its own; for -1 (auto), 16 when an
    AnimateDiff motion module couples the frames, else 0 (a video model sees the whole clip,
    or the context windows set on it with ComfyUI's Context Windows nodes)."""
    own_windows = has_own_context_windows(model)
    if context_length < 0:
        context_length = AUTO_CONTEXT_LENGTH if has_motion_module(model) else 0
    if own_windows and context_length:
        log.info("the model has its own context windows; it gets the whole clip")
        return 0
    return context_length


def _latent_format(model: Any) -> Any:
    """The model's ComfyUI latent format (None for an object that is not a ComfyUI model)."""
    return getattr(getattr(model, "model", None), "latent_format", None)


def samples_video_latents(model: Any) -> bool:
    """Whether the model samples video latents (with a time axis) rather than one image latent per frame."""
    return getattr(_latent_format(model), "latent_dimensions", 2) == 3


def has_temporal_layers(model: Any) -> bool:
    """Whether the model's frames see each other when sampled: a video model (latents with a
    time axis), an AnimateDiff motion module, or context windows of the model's own."""
    return samples_video_latents(model) or has_motion_module(model) or has_own_context_windows(model)


def takes_noise_sampler(sampler_name: str) -> bool:
    """Whether ComfyUI's sampler of that name draws step noise through a ``noise_sampler`` it can be given."""
    if sampler_name in ("dpm_fast", "dpm_adaptive", "uni_pc", "uni_pc_bh2"):  # no step noise
        return False
    from comfy.k_diffusion import sampling as k_sampling

    function = getattr(k_sampling, f"sample_{sampler_name}", None)
    return function is not None and "noise_sampler" in inspect.signature(function).parameters


def model_patch_size(model: Any) -> int:
    """The diffusion model's spatial patch (2 for Wan and HunyuanVideo, 1 for a UNet)."""
    try:
        patch = getattr(model.get_model_object("diffusion_model"), "patch_size", 1)
    except (AttributeError, KeyError):
        return 1
    if isinstance(patch, (tuple, list)):
        patch = patch[-1]
    return int(patch) if isinstance(patch, int) and patch >= 1 else 1


def timestep_follows_frame_mask(model: Any) -> bool:
    """Whether the model turns the noise mask into one timestep per latent frame, its mean over the
    frame (ComfyUI's ``process_timestep`` of Wan 2.2 TI2V 5B and Cosmos Predict 2), read by asking the
    model: a frame a quarter masked must come out at a quarter of the timestep, not per token."""
    process = getattr(getattr(model, "model", None), "process_timestep", None)
    latent_format = _latent_format(model)
    if process is None or getattr(latent_format, "latent_dimensions", 2) != 3:
        return False
    channels = getattr(latent_format, "latent_channels", 16)
    mask = torch.ones(1, 1, 2, 2, 2)
    mask[0, 0, 0] = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    try:
        timesteps = process(torch.ones(1), x=torch.zeros(1, channels, 2, 2, 2), denoise_mask=mask)
    except Exception:  # noqa: BLE001 - a model whose timestep takes other shapes does not average
        return False
    values = torch.as_tensor(timesteps).flatten().tolist()
    return any(abs(value - 0.25) < 1e-6 for value in values)


def check_model_and_vae(model: Any, vae: Any, layout: LatentLayout, what: str = "basic_pipe") -> None:
    """Fail, naming the pipe, when the VAE's latents are not what the model samples (an image
    VAE with a video model, a 4-channel VAE with a 16-channel model, ...)."""
    latent_format = _latent_format(model)
    if latent_format is None:
        return
    model_video = samples_video_latents(model)
    model_channels = getattr(latent_format, "latent_channels", None)
    vae_channels = getattr(vae, "latent_channels", None)
    kind = {True: "video", False: "image"}
    if model_video != layout.is_video or (model_channels and vae_channels and model_channels != vae_channels):
        raise ValueError(
            f"{what}: the model samples {model_channels}-channel {kind[model_video]} latents but the VAE makes "
            f"{vae_channels}-channel {kind[layout.is_video]} latents: put the VAE that belongs to the model in the pipe "
            f"(e.g. the Wan 2.1 VAE with a Wan 2.1 model)"
        )


class ComfySamplingBackend:
    """Encode, sample and decode with ComfyUI's VAE, noise, schedulers and samplers.

    The same seed and settings give the same latents as ComfyUI's KSampler: noise from
    ``comfy.sample.prepare_noise``, sigmas as KSampler computes them for ``denoise``.
    With a refiner the base model runs the first ``1 - refiner_ratio`` of the steps, the
    original latent is restored outside the noise mask, and the refiner finishes.
    """

    def __init__(self, model: Any, vae: Any, options: SamplingOptions, *, refiner_model: Any = None,
                 differential: bool = False) -> None:
        import comfy.model_management
        import comfy.sample
        import comfy.samplers
        import comfy.utils

        self._mm = comfy.model_management
        self._sample = comfy.sample
        self._samplers = comfy.samplers
        self._utils = comfy.utils
        if differential:  # soft noise-mask values mean partial denoise (a feathered mask, a per-frame denoise)
            model = with_differential_diffusion(model)
            refiner_model = with_differential_diffusion(refiner_model) if refiner_model is not None else None
        # ComfyUI splits cond and uncond, and its CPU attention, by the free memory: pinned (batching.py)
        self._batching = CondBatching()
        model = with_fixed_batching(model, self._batching)
        refiner_model = with_fixed_batching(refiner_model, self._batching) if refiner_model is not None else None
        self.model = model
        self.refiner_model = refiner_model
        self.options = options
        self.denoise = options.denoise
        self.vae = VaeRunner(vae, options.vae_encode_precision, model_patch_size(model), options.vae_decode_precision)
        self.layout = self.vae.layout
        check_model_and_vae(model, vae, self.layout)
        if refiner_model is not None:
            check_model_and_vae(refiner_model, vae, self.layout, "refiner_basic_pipe_opt")
        self.context_length = resolve_context_length(model, options.context_length)
        self.frame_uniform_noise_mask = timestep_follows_frame_mask(model)
        if self.frame_uniform_noise_mask:
            log.info("the model reads one timestep per frame from the noise mask (Wan 2.2 TI2V 5B): each SEG's crop is "
                     "redrawn whole in the frames where its mask is, and the paste keeps only the mask")
        # Frames of a model without temporal layers do not see each other: without context windows
        # asked for, they are sampled in chunks sized to memory, with noise that does not depend on them.
        self.chunked = self.context_length <= 0 and not has_temporal_layers(model)
        self._frames_cap = None  # frames per sampling call after running out of memory (a step down)
        self.advanced_controlnet = advanced_controlnet_installed()
        self._bf16_models = {id(m) for m in (model, refiner_model) if m is not None and self._samples_in_bf16(m)}
        self._progress = None
        self._done = self._total = 0
        self._sigmas: torch.Tensor | None = None  # the same for every SEG and context window
        self._callbacks: dict[int, Callable] = {}  # per model: one previewer for every chunk and window

    def _samples_in_bf16(self, model: Any) -> bool:
        """Whether ``model``'s forward passes run under bfloat16 autocast (``sampling_precision``);
        "auto" was measured on models of image latents (SD1.5, with and without a motion module),
        so video models keep ComfyUI's precision unless asked."""
        dtype_inference = getattr(getattr(model, "model", None), "get_dtype_inference", None)
        compute_dtype = dtype_inference() if callable(dtype_inference) else None
        on_cpu = self._mm.is_device_cpu(getattr(model, "load_device", torch.device("cpu")))
        return runs_in_bf16(self.options.sampling_precision, on_cpu, compute_dtype,
                            auto_applies=not samples_video_latents(model))

    # context windows and chunks

    def context_windows(self, latent_shape: tuple[int, ...]) -> list[range]:
        """Windows of latent frames: chunks sized to memory for a model without temporal layers,
        else the context windows asked for (for a video VAE, context_length and context_overlap
        frames are converted to latent frames by the VAE's own formula)."""
        frame_count = latent_shape[2] if self.layout.is_video else latent_shape[0]
        if self.chunked:
            return frame_chunks(frame_count, self.frames_per_chunk(latent_shape))
        length, overlap = self.context_length, self.options.context_overlap
        if self.layout.is_video and length > 0:
            length = max(1, self.layout.latent_frames(length))
            overlap = min(length - 1, overlap * length // max(1, self.context_length))
        return context_windows(frame_count, length, overlap)

    def latent_shape(self, frame_count: int, size: SamplingSize) -> tuple[int, ...]:
        """The latent shape of ``frame_count`` frames sampled at ``size``."""
        spatial, channels = self.layout.spatial, self.layout.channels
        cells = (size.height // spatial, size.width // spatial)
        if self.layout.is_video:
            return 1, channels, self.layout.latent_frames(self.layout.encoded_frame_count(frame_count)), *cells
        return frame_count, channels, *cells

    def frames_per_chunk(self, latent_shape: tuple[int, ...]) -> int:
        """How many frames of a latent ``[F, C, h, w]`` one sampling call takes: ComfyUI's estimate of
        the model's working memory for one frame (cond and uncond) against a fixed budget, never the
        memory free at the moment (:mod:`.batching`), so the split, and with it the result, is the
        same on every run."""
        frames = latent_shape[0]
        try:
            per_frame = self.model.model.memory_required([2, *latent_shape[1:]])
        except (AttributeError, TypeError):
            return frames
        on_cpu = self._mm.is_device_cpu(getattr(self.model, "load_device", torch.device("cpu")))
        chunk = frames_per_call(int(per_frame), sampling_budget(self._mm, self.model), frames, on_cpu)
        return min(chunk, CHUNK_FRAMES_LIMIT) if CHUNK_FRAMES_LIMIT else chunk

    # progress and cancel

    def begin(self, frame_count: int, sizes: list[SamplingSize]) -> None:
        """A progress bar counting every frame encoded and decoded and every sampling step of every
        window of every SEG."""
        frames = self.layout.encoded_frame_count(frame_count)
        passes = sum(len(self.context_windows(self.latent_shape(frame_count, size))) for size in sizes)
        self._total = max(1, 2 * frames * len(sizes) + self.options.steps * passes)
        self._progress = self._utils.ProgressBar(self._total)
        self._done = 0

    def _advance(self, units: int, preview: Any = None) -> None:
        self._done = min(self._done + units, self._total)
        if self._progress is not None:
            self._progress.update_absolute(self._done, self._total, preview)

    def _check_cancel(self) -> None:
        self._mm.throw_exception_if_processing_interrupted()

    # VAE

    def frames_per_batch(self, width: int, height: int) -> int:
        return self.vae.frames_per_batch(width, height)

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        self._check_cancel()
        latent = self.vae.encode(pixels)
        self._advance(pixels.shape[0])
        return latent

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        self._check_cancel()
        pixels = self.vae.decode(latent)
        self._advance(pixels.shape[0])
        return pixels

    # ControlNet

    def apply_control(self, wrapper: Any, conditionings: Conditionings, crops: torch.Tensor, masks: torch.Tensor,
                      crop_windows: CropWindows) -> tuple[Conditionings, list[torch.Tensor]]:
        if self.layout.is_video:
            raise ValueError(
                "segs: a SEG carries a ControlNet (ControlNet for SEGS), which works with image models; this pipe holds "
                "a video model: remove the ControlNet from the SEGS and guide the video model with its own control "
                "(for Wan, VACE through WanVaceToVideo in the pipe's conditioning)"
            )
        return apply_seg_control(wrapper, conditionings, crops, masks, crop_windows, self.advanced_controlnet)

    def slice_control(self, control: Any, frames: range, frame_count: int) -> Any:
        return slice_control(control, frames, frame_count)

    def cut_control(self, control: Any, crop_windows: CropWindows, frame_height: int, frame_width: int) -> Any:
        return cut_control(control, crop_windows, frame_height, frame_width)

    # sampling

    def sigmas(self, model: Any) -> torch.Tensor:
        """The schedule for this pass, after the denoise tail, as KSampler would use it."""
        options = self.options
        if options.scheduler_func is not None:
            full = lambda steps: torch.as_tensor(options.scheduler_func(model, options.sampler_name, steps), dtype=torch.float32)
        else:
            full = with_sampler_rule(self._scheduler_function(model), options.sampler_name)
        return denoise_tail(full, options.steps, options.denoise).cpu()

    def noise_levels(self, sigmas: torch.Tensor) -> torch.Tensor:
        """Each sigma's place in the base model's noise schedule, 0..1 (1: pure noise): its timestep
        over the 1000 training steps, as Wan 2.2's reference code places the experts' boundary (for
        a flow model the sigma itself)."""
        model_sampling = self.model.get_model_object("model_sampling")
        return torch.stack([torch.as_tensor(model_sampling.timestep(sigma)).float().reshape(()) for sigma in sigmas]) / 1000.0

    def _scheduler_function(self, model: Any) -> Callable[[int], torch.Tensor]:
        scheduler = self.options.scheduler
        choice = parse_scheduler(scheduler, comfy_scheduler_names())
        if choice.kind == "ays":
            from comfy_extras.nodes_align_your_steps import NOISE_LEVELS as AYS_LEVELS

            return lambda steps: ays_sigmas(AYS_LEVELS[choice.ays_model], steps)
        if choice.kind == "gits":
            from comfy_extras.nodes_gits import NOISE_LEVELS as GITS_LEVELS

            table = next((rows for coeff, rows in GITS_LEVELS.items() if round(coeff, 2) == choice.gits_coeff), None)
            if table is None:
                raise ValueError(f"scheduler '{scheduler}': this ComfyUI has no GITS table for coeff {choice.gits_coeff}")
            return lambda steps: gits_sigmas(table, steps)
        model_sampling = model.get_model_object("model_sampling")
        return lambda steps: self._samplers.calculate_sigmas(model_sampling, choice.name, steps).cpu()

    def _callback(self, model: Any) -> Callable:
        """The sampler callback for ``model`` (progress, preview, Cancel), made once per model: a
        previewer may load a decoder (TAESD), and a SEG is sampled in many chunks or windows."""
        if id(model) not in self._callbacks:
            self._callbacks[id(model)] = self._make_callback(model)
        return self._callbacks[id(model)]

    def _make_callback(self, model: Any) -> Callable:
        try:
            import latent_preview

            previewer = latent_preview.get_previewer(model.load_device, model.model.latent_format)
        except Exception:  # previews are a nicety; a missing previewer must not stop sampling
            log.debug("no latent previewer", exc_info=True)
            previewer = None

        def callback(step: int, x0: torch.Tensor, x: torch.Tensor, total_steps: int) -> None:
            self._check_cancel()
            preview = previewer.decode_latent_to_preview_image("JPEG", x0[:1]) if previewer is not None else None
            self._advance(1, preview)

        return callback

    @property
    def shares_noise(self) -> bool:
        """Whether every frame gets the same noise (``shared_noise``; image latents only)."""
        return self.options.shared_noise and not self.layout.is_video

    def _sampler(self, seed: int, frames: range, latent: torch.Tensor, stream: int) -> Any:
        """ComfyUI's sampler object; in chunks, or with shared noise, its step noise drawn per frame
        (:class:`FrameNoise`) so that the result does not depend on the chunk size."""
        name = self.options.sampler_name
        if not (self.chunked or self.shares_noise):
            return self._samplers.sampler_object(name)
        if name == "ddim":  # euler with inpainting noise drawn for the batch: use the clip's own noise instead
            return self._samplers.ksampler("euler")
        if takes_noise_sampler(name):
            noise = FrameNoise(seed, frames, latent, stream=stream, shared=self.shares_noise)
            return self._samplers.ksampler(name, {"noise_sampler": noise})
        return self._samplers.sampler_object(name)

    def _run(self, model: Any, noise: torch.Tensor, sigmas: torch.Tensor, positive: Any, negative: Any,
             latent: torch.Tensor, noise_mask: torch.Tensor, seed: int, frames: range) -> torch.Tensor:
        sampler = self._sampler(seed, frames, latent, stream=0 if model is self.model else 1)
        return run_in_precision(lambda: self._sample.sample_custom(
            model, noise, self.options.cfg, sampler, sigmas, positive, negative, latent,
            noise_mask=noise_mask, callback=self._callback(model), disable_pbar=True, seed=seed,
        ), id(model) in self._bf16_models)

    def noise(self, latent: torch.Tensor, seed: int) -> torch.Tensor:
        self._check_cancel()
        if self.shares_noise:  # one frame's noise for every frame
            return self._sample.prepare_noise(latent[:1], seed).expand_as(latent).contiguous()
        if self.options.shared_noise:
            log.info("shared_noise: a video model samples the clip as one latent; its noise is not shared")
        return self._sample.prepare_noise(latent, seed)

    def sample(self, latent: torch.Tensor, noise: torch.Tensor, noise_mask: torch.Tensor,
               conditionings: Conditionings, seed: int, frames: range) -> torch.Tensor:
        self._check_cancel()
        if self._frames_cap is not None and len(frames) > self._frames_cap:
            return self._sample_in_parts(latent, noise, noise_mask, conditionings, seed, frames)
        done = self._done
        try:
            return self._sample_once(latent, noise, noise_mask, conditionings, seed, frames)
        except Exception as error:  # noqa: BLE001 - only out-of-memory is retried
            if not is_out_of_memory(self._mm, error):
                raise
        # outside the except block: the failed call's tensors are free by now
        self._done = done
        self._mm.soft_empty_cache()
        self._step_down(len(frames))
        return self.sample(latent, noise, noise_mask, conditionings, seed, frames)

    def _step_down(self, frame_count: int) -> None:
        """One step down the fixed ladder after a sampling call of ``frame_count`` frames ran out of
        memory: half the frames per call (for frames sampled independently), then cond and uncond in
        separate UNet batches; past the last step, a clear error."""
        if self.chunked and frame_count > 1:
            self._frames_cap = frame_count // 2
            log.warning("sampling %d frames in one call ran out of memory: the rest of this pass samples at most %d "
                        "frames per call (more memory gives the usual split; see docs/REPRODUCIBILITY.md)",
                        frame_count, self._frames_cap)
        elif self._batching.together:
            self._batching.together = False
            log.warning("sampling ran out of memory: the rest of this pass runs cond and uncond in separate UNet "
                        "batches (more memory gives the usual split; see docs/REPRODUCIBILITY.md)")
        else:
            raise RuntimeError(
                "sampling ran out of memory even with one frame per call and cond and uncond apart: lower max_size "
                "(the sampled crop's longer side) or free memory used by other models")

    def _sample_in_parts(self, latent: torch.Tensor, noise: torch.Tensor, noise_mask: torch.Tensor,
                         conditionings: Conditionings, seed: int, frames: range) -> torch.Tensor:
        """Frames sampled independently, split into calls of at most ``_frames_cap`` frames (after a
        step down); each part keeps its frames' noise, conditioning masks and hints."""
        parts = frame_chunks(len(frames), self._frames_cap)
        self._total += self.options.steps * (len(parts) - 1)
        sampled = []
        for part in parts:
            conds = for_window(conditionings, part, len(frames), self.slice_control)
            sampled.append(self.sample(latent[part.start : part.stop], noise[part.start : part.stop],
                                       noise_mask[part.start : part.stop], conds, seed,
                                       range(frames.start + part.start, frames.start + part.stop)))
        return torch.cat(sampled)

    def _sample_once(self, latent: torch.Tensor, noise: torch.Tensor, noise_mask: torch.Tensor,
                     conditionings: Conditionings, seed: int, frames: range) -> torch.Tensor:
        if self._sigmas is None:
            self._sigmas = self.sigmas(self.model)
        sigmas = self._sigmas
        use_refiner = self.refiner_model is not None and conditionings.refiner_positive is not None
        if not use_refiner:
            base_sigmas, refiner_sigmas = sigmas, sigmas[-1:]
        elif self.options.refiner_boundary > 0:
            base_sigmas, refiner_sigmas = refiner_split_at_boundary(sigmas, self.noise_levels(sigmas),
                                                                    self.options.refiner_boundary)
        else:
            base_sigmas, refiner_sigmas = refiner_split(sigmas, self.options.refiner_ratio)

        result = latent
        if len(base_sigmas) > 1:
            result = self._run(self.model, noise, base_sigmas, conditionings.positive, conditionings.negative,
                               latent, noise_mask, seed, frames)
        if len(refiner_sigmas) > 1:
            if len(base_sigmas) > 1:
                # The base pass left noise everywhere; keep only its masked part and let the
                # refiner continue from there without adding noise again.
                keep = resize_masks(noise_mask, result.shape[-2], result.shape[-1]).to(result)
                keep = keep.view(1, 1, *keep.shape) if result.ndim == 5 else keep.unsqueeze(1)
                result = latent.to(result) * (1.0 - keep) + result * keep
                noise = torch.zeros_like(noise)
            result = self._run(self.refiner_model, noise, refiner_sigmas, conditionings.refiner_positive,
                               conditionings.refiner_negative, result, noise_mask, seed, frames)
        return result
