"""The one module that talks to ComfyUI.

Everything ComfyUI-specific the nodes need goes through here: sampler and scheduler
lists, the VAE, noise, sampling, differential diffusion, progress and cancel. ComfyUI
is imported lazily, inside functions, so the pack and its node classes import (and
their tests run) without ComfyUI; only running a sampling pass needs it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import torch

from ..core.enhance import Conditionings
from ..core.frame_windows import crossfade_weights, frame_windows
from ..core.masks import resize_masks
from ..core.schedule import (
    EXTRA_SCHEDULERS,
    ays_sigmas,
    denoise_tail,
    gits_sigmas,
    parse_scheduler,
    refiner_split,
    with_sampler_rule,
)

log = logging.getLogger(__name__)

# ComfyUI 0.29's lists and limit, used only when ComfyUI cannot be imported (unit tests, linting).
_FALLBACK_SAMPLERS = [
    "euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2", "dpm_2",
    "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral", "dpmpp_2s_ancestral_cfg_pp",
    "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu",
    "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm", "lcm", "ipndm", "ipndm_v", "deis", "res_multistep",
    "res_multistep_cfg_pp", "res_multistep_ancestral", "res_multistep_ancestral_cfg_pp", "gradient_estimation",
    "er_sde", "seeds_2", "seeds_3", "sa_solver", "sa_solver_pece", "ddim", "uni_pc", "uni_pc_bh2",
]
_FALLBACK_SCHEDULERS = [
    "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal", "linear_quadratic", "kl_optimal",
]
_FALLBACK_MAX_RESOLUTION = 16384

# Frames per VAE call. On the CPU a larger batch is no faster per frame and holds more
# activations (measured on 2 cores: 4 frames per call took longer and +25% memory), and one
# frame per call honours Cancel within seconds.
CPU_FRAMES_PER_BATCH = 1
GPU_FRAMES_PER_BATCH = 64
VAE_ENCODE_PRECISIONS = ("auto", "fp32", "bf16")
# Tile sides (pixels) of the retries after ComfyUI's own tiled retry ran out of memory too.
RETRY_TILE_SIZES = (256, 128, 64)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), so bf16 is faster, not slower."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = cpuinfo.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _comfy_samplers() -> Any | None:
    try:
        import comfy.samplers
    except ImportError:
        return None
    return comfy.samplers


def sampler_names() -> list[str]:
    """ComfyUI's sampler names."""
    samplers = _comfy_samplers()
    return list(samplers.KSampler.SAMPLERS) if samplers else list(_FALLBACK_SAMPLERS)


def comfy_scheduler_names() -> list[str]:
    """ComfyUI's own scheduler names."""
    samplers = _comfy_samplers()
    return list(samplers.KSampler.SCHEDULERS) if samplers else list(_FALLBACK_SCHEDULERS)


def scheduler_names() -> list[str]:
    """ComfyUI's schedulers plus the names Impact Pack adds (Align Your Steps, GITS)."""
    return comfy_scheduler_names() + list(EXTRA_SCHEDULERS)


def max_resolution() -> int:
    try:
        import nodes as comfy_nodes  # ComfyUI's top-level nodes module
    except ImportError:
        return _FALLBACK_MAX_RESOLUTION
    return int(getattr(comfy_nodes, "MAX_RESOLUTION", _FALLBACK_MAX_RESOLUTION))


def custom_node_folders(pack_dir: str) -> list[str]:
    """The folders ComfyUI scans for custom node packs (the one holding this pack first)."""
    folders = [os.path.dirname(os.path.abspath(pack_dir))]
    try:
        import folder_paths
    except ImportError:
        return folders
    for folder in folder_paths.get_folder_paths("custom_nodes"):
        if os.path.abspath(folder) not in folders:
            folders.append(os.path.abspath(folder))
    return folders


def install_impact_fallback(fallbacks: dict[str, str], required_inputs: dict[str, list[str]]) -> None:
    """Let prompts with Impact ids run on our nodes when Impact Pack is installed but did not load.

    A prompt handler rewrites the missing ids before the server validates the prompt (all
    inputs kept); ComfyUI's Node Replacement API, where it exists, also learns the
    replacements, so the frontend can offer them for missing nodes. Its server-side copy
    keeps only the inputs named in the mapping, and it fails on one that a prompt lacks, so
    only required inputs are mapped there; the prompt handler has already done the full job.
    """
    try:
        import server
        import nodes as comfy_nodes
    except ImportError:
        return
    from .registry import redirect_missing_nodes

    prompt_server = getattr(server.PromptServer, "instance", None)
    if prompt_server is None:
        return

    def redirect(json_data: dict) -> dict:
        prompt = json_data.get("prompt") if isinstance(json_data, dict) else None
        if isinstance(prompt, dict):
            changed = redirect_missing_nodes(prompt, fallbacks, comfy_nodes.NODE_CLASS_MAPPINGS)
            if changed:
                log.warning("Impact Pack nodes are missing; nodes %s run on AnimateDiff Detailer's equivalents", changed)
        return json_data

    if hasattr(prompt_server, "add_on_prompt_handler"):
        prompt_server.add_on_prompt_handler(redirect)
    manager = getattr(prompt_server, "node_replace_manager", None)
    try:
        from comfy_api.latest import io
    except ImportError:
        return
    if manager is None or not hasattr(io, "NodeReplace"):
        return
    for old_id, new_id in fallbacks.items():
        names = required_inputs.get(old_id, [])
        mapping = [{"new_id": name, "old_id": name} for name in names]
        manager.register(io.NodeReplace(new_node_id=new_id, old_node_id=old_id, old_widget_ids=None, input_mapping=mapping))


# --- inputs -------------------------------------------------------------------------------------


def _is_conditioning(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(entry, (list, tuple)) and len(entry) >= 2 and isinstance(entry[1], dict) for entry in value
    )


def unpack_basic_pipe(pipe: Any, what: str = "basic_pipe") -> tuple[Any, Any, Any, Any, Any]:
    """Check a BASIC_PIPE and return ``(model, clip, vae, positive, negative)``.

    The error names the input, the part that is wrong and how to build a correct pipe.
    """
    fix = f"connect a BASIC_PIPE made by 'ToBasicPipe' (model, clip, vae, positive, negative) to {what}"
    if not isinstance(pipe, (tuple, list)) or len(pipe) != 5:
        size = f"{len(pipe)} items" if isinstance(pipe, (tuple, list)) else type(pipe).__name__
        raise ValueError(f"{what} must be a BASIC_PIPE of 5 items (model, clip, vae, positive, negative), got {size}: {fix}")
    model, clip, vae, positive, negative = pipe
    if not (hasattr(model, "clone") and hasattr(model, "model_options")):
        raise ValueError(f"{what}: item 1 must be a MODEL, got {type(model).__name__}: {fix}")
    if not (hasattr(vae, "encode") and hasattr(vae, "decode")):
        raise ValueError(f"{what}: item 3 must be a VAE, got {type(vae).__name__}: {fix}")
    for position, name, cond in ((4, "positive", positive), (5, "negative", negative)):
        if not _is_conditioning(cond):
            raise ValueError(f"{what}: item {position} ({name}) must be a CONDITIONING, got {type(cond).__name__}: {fix}")
    return model, clip, vae, positive, negative


def check_scheduler(scheduler: str, scheduler_func: Any = None, what: str = "scheduler") -> None:
    """Fail early, naming the input, on a scheduler name ComfyUI cannot compute."""
    if scheduler_func is not None:
        if not callable(scheduler_func):
            raise ValueError(f"scheduler_func_opt must be a SCHEDULER_FUNC (callable), got {type(scheduler_func).__name__}")
        return
    try:
        parse_scheduler(scheduler, comfy_scheduler_names())
    except ValueError as error:
        raise ValueError(str(error).replace("scheduler '", f"{what} '", 1)) from None


def check_sampler(sampler_name: str, what: str = "sampler_name") -> None:
    """ComfyUI silently samples with euler on an unknown name: refuse it instead."""
    names = sampler_names()
    if sampler_name not in names:
        raise ValueError(f"{what} '{sampler_name}' is not a ComfyUI sampler; accepted values: {', '.join(names)}")


# --- sampling -----------------------------------------------------------------------------------


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


def advanced_controlnet_installed() -> bool:
    """Whether Advanced-ControlNet's apply node is registered (Impact's ControlNet wrappers need
    it for batches when asked to use it; without it they fall back to ComfyUI's ControlNet)."""
    try:
        import nodes as comfy_nodes
    except ImportError:
        return False
    return "ACN_AdvancedControlNetApply" in getattr(comfy_nodes, "NODE_CLASS_MAPPINGS", {})


AUTO_CONTEXT_LENGTH = 16  # AnimateDiff motion modules are trained on 16 frames


def has_motion_module(model: Any) -> bool:
    """Whether AnimateDiff-Evolved injected a motion module into the model (frames are then coupled)."""
    additional = getattr(model, "additional_models", None)
    return bool(isinstance(additional, dict) and additional.get("ADE"))


def has_own_context_windows(model: Any) -> bool:
    """Whether the model already samples long clips in windows: ComfyUI's context handler
    (Context Windows node) or AnimateDiff-Evolved's context options."""
    if model.model_options.get("context_handler") is not None:
        return True
    get_attachment = getattr(model, "get_attachment", None)
    params = get_attachment("ADE_params") if callable(get_attachment) else None
    return getattr(getattr(params, "context_options", None), "context_length", None) is not None


def _slice_control(control: Any, frames: range, frame_count: int) -> Any:
    """A copy of a ControlNet chain whose per-frame hint images are cut to ``frames``."""
    if control is None:
        return None
    copy = control.copy()
    hint = getattr(control, "cond_hint_original", None)
    if isinstance(hint, torch.Tensor) and hint.shape[0] == frame_count:
        copy.cond_hint_original = hint[frames.start : frames.stop]
    copy.previous_controlnet = _slice_control(getattr(control, "previous_controlnet", None), frames, frame_count)
    return copy


def conditioning_for_frames(conditioning: Any, frames: range, frame_count: int) -> Any:
    """CONDITIONING for a window of a clip: per-frame masks and ControlNet hints cut to ``frames``."""
    if conditioning is None:
        return None
    sliced = []
    for entry in conditioning:
        embedding, options = entry[0], dict(entry[1])
        mask = options.get("mask")
        if isinstance(mask, torch.Tensor) and mask.ndim == 3 and mask.shape[0] == frame_count:
            options["mask"] = mask[frames.start : frames.stop]
        if options.get("control") is not None:
            options["control"] = _slice_control(options["control"], frames, frame_count)
        sliced.append([embedding, options, *entry[2:]])
    return sliced


class ComfySamplingBackend:
    """Encode, sample and decode with ComfyUI's VAE, noise, schedulers and samplers.

    The same seed and settings give the same latents as ComfyUI's KSampler: noise from
    ``comfy.sample.prepare_noise``, sigmas as KSampler computes them for ``denoise``.
    With a refiner the base model runs the first ``1 - refiner_ratio`` of the steps, the
    original latent is restored outside the noise mask, and the refiner finishes.

    Clips longer than ``context_length`` frames are sampled in overlapping windows whose
    results are cross-faded, unless the model has context windows of its own (then it
    gets the whole clip). The noise is drawn for the whole clip and sliced, so a frame's
    noise does not depend on the window it falls in.
    """

    def __init__(
        self,
        model: Any,
        vae: Any,
        *,
        steps: int,
        cfg: float,
        sampler_name: str,
        scheduler: str,
        denoise: float,
        refiner_model: Any = None,
        refiner_ratio: float = 0.0,
        noise_mask_feather: int = 0,
        scheduler_func: Callable | None = None,
        context_length: int = 0,
        context_overlap: int = 0,
        vae_encode_precision: str = "auto",
    ) -> None:
        import comfy.model_management
        import comfy.sample
        import comfy.samplers
        import comfy.utils

        self._mm = comfy.model_management
        self._sample = comfy.sample
        self._samplers = comfy.samplers
        self._utils = comfy.utils
        if noise_mask_feather > 0:
            model = with_differential_diffusion(model)
            refiner_model = with_differential_diffusion(refiner_model) if refiner_model is not None else None
        self.model = model
        self.vae = vae
        self.refiner_model = refiner_model
        self.steps = steps
        self.cfg = cfg
        self.sampler_name = sampler_name
        self.scheduler = scheduler
        self.denoise = denoise
        self.refiner_ratio = refiner_ratio
        self.scheduler_func = scheduler_func
        own_windows = has_own_context_windows(model)
        if context_length < 0:  # auto: windows only where frames are coupled by a motion module
            context_length = AUTO_CONTEXT_LENGTH if has_motion_module(model) else 0
        self.context_length = 0 if own_windows else context_length
        self.context_overlap = context_overlap
        if own_windows and context_length:
            log.info("the model has its own context windows; it gets the whole clip")
        ratio = getattr(vae, "downscale_ratio", 8)
        self.stride = ratio if isinstance(ratio, int) else 8
        self._progress = None
        self._done = 0
        self.advanced_controlnet = advanced_controlnet_installed()
        self.encode_in_bf16 = self._encode_in_bf16(vae_encode_precision)

    # progress and cancel

    def windows(self, frame_count: int) -> list[range]:
        return frame_windows(frame_count, self.context_length, self.context_overlap)

    def begin(self, seg_count: int, frame_count: int) -> None:
        total = max(1, seg_count * (2 * frame_count + self.steps * len(self.windows(frame_count))))
        self._progress = self._utils.ProgressBar(total)
        self._done = 0

    def _advance(self, units: int, preview: Any = None) -> None:
        self._done += units
        if self._progress is not None:
            self._progress.update_absolute(self._done, None, preview)

    def _check_cancel(self) -> None:
        self._mm.throw_exception_if_processing_interrupted()

    # VAE

    def frames_per_batch(self, width: int, height: int) -> int:
        device = getattr(self.vae, "device", torch.device("cpu"))
        cap = CPU_FRAMES_PER_BATCH if self._mm.is_device_cpu(device) else GPU_FRAMES_PER_BATCH
        try:
            dtype = self.vae.vae_dtype
            per_frame = max(
                self.vae.memory_used_encode((1, 3, height, width), dtype),
                self.vae.memory_used_decode((1, 4, height // self.stride, width // self.stride), dtype),
            )
            free = self._mm.get_free_memory(device)
            return int(max(1, min(cap, free // max(1, per_frame))))
        except (AttributeError, TypeError):
            return cap

    def _encode_in_bf16(self, precision: str) -> bool:
        """bf16 encoding where it pays: asked for, or "auto" on a CPU VAE with native bf16 (ComfyUI
        itself runs the VAE in bf16 on GPUs that support it, but keeps fp32 on every CPU)."""
        dtype = getattr(self.vae, "vae_dtype", torch.float32)
        device = getattr(self.vae, "device", torch.device("cpu"))
        if precision == "fp32" or dtype != torch.float32 or not self._mm.is_device_cpu(device):
            return False
        return precision == "bf16" or cpu_has_native_bf16()

    def _vae_call(self, op: str, batch: torch.Tensor) -> torch.Tensor:
        """``vae.encode`` or ``vae.decode`` of one batch, kept from failing on out-of-memory.

        ComfyUI's VAE already retries a batch that runs out of memory once, tiled at its own
        tile size. When that runs out of memory too, the batch is retried tiled with ever
        smaller tiles (:data:`RETRY_TILE_SIZES` pixels) before the node gives up.
        """
        plain, tiled = (self.vae.encode, self.vae.encode_tiled) if op == "encode" else (self.vae.decode, self.vae.decode_tiled)
        attempts = [lambda: plain(batch)]
        for tile in RETRY_TILE_SIZES:
            # encode tiles are in pixels, decode tiles in latent cells; overlaps as ComfyUI's own
            size, overlap = (tile, tile // 8) if op == "encode" else (tile // self.stride, tile // self.stride // 4)
            attempts.append(lambda size=size, overlap=overlap: tiled(batch, tile_x=size, tile_y=size, overlap=overlap))
        for number, attempt in enumerate(attempts):
            if number:  # outside the except block: the failed call's tensors are free by now
                log.warning("VAE %s of %s ran out of memory; retrying in tiles of %d px", op, tuple(batch.shape),
                            RETRY_TILE_SIZES[number - 1])
                self._mm.soft_empty_cache()
            try:
                return attempt()
            except Exception as error:  # noqa: BLE001 - only out-of-memory is retried
                if not self._is_out_of_memory(error):
                    raise
        raise RuntimeError(
            f"VAE {op} of a batch {tuple(batch.shape)} ran out of memory even in tiles of {RETRY_TILE_SIZES[-1]} px: "
            f"lower max_size (the sampled crop's longer side) or free memory used by other models"
        )

    def _is_out_of_memory(self, error: Exception) -> bool:
        is_oom = getattr(self._mm, "is_oom", None)  # ComfyUI 0.29 also counts accelerator OOM errors
        return bool(is_oom(error)) if is_oom is not None else isinstance(error, torch.OutOfMemoryError)

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        self._check_cancel()
        if self.encode_in_bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                latent = self._vae_call("encode", pixels[..., :3]).to(torch.float32)
        else:
            latent = self._vae_call("encode", pixels[..., :3])
        self._advance(pixels.shape[0])
        return latent

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        self._check_cancel()
        pixels = self._vae_call("decode", latent)
        if pixels.ndim == 5:  # video VAEs return [B, T, H, W, C]
            pixels = pixels.reshape(-1, *pixels.shape[-3:])
        self._advance(latent.shape[0])
        return pixels

    # sampling

    def sigmas(self, model: Any) -> torch.Tensor:
        """The schedule for this pass, after the denoise tail, as KSampler would use it."""
        if self.scheduler_func is not None:
            full = lambda steps: torch.as_tensor(self.scheduler_func(model, self.sampler_name, steps), dtype=torch.float32)
        else:
            full = with_sampler_rule(self._scheduler_function(model), self.sampler_name)
        return denoise_tail(full, self.steps, self.denoise).cpu()

    def _scheduler_function(self, model: Any) -> Callable[[int], torch.Tensor]:
        choice = parse_scheduler(self.scheduler, comfy_scheduler_names())
        if choice.kind == "ays":
            from comfy_extras.nodes_align_your_steps import NOISE_LEVELS as AYS_LEVELS

            return lambda steps: ays_sigmas(AYS_LEVELS[choice.ays_model], steps)
        if choice.kind == "gits":
            from comfy_extras.nodes_gits import NOISE_LEVELS as GITS_LEVELS

            table = next((rows for coeff, rows in GITS_LEVELS.items() if round(coeff, 2) == choice.gits_coeff), None)
            if table is None:
                raise ValueError(f"scheduler '{self.scheduler}': this ComfyUI has no GITS table for coeff {choice.gits_coeff}")
            return lambda steps: gits_sigmas(table, steps)
        model_sampling = model.get_model_object("model_sampling")
        return lambda steps: self._samplers.calculate_sigmas(model_sampling, choice.name, steps).cpu()

    def _callback(self, model: Any) -> Callable:
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

    def _run(self, model: Any, noise: torch.Tensor, sigmas: torch.Tensor, positive: Any, negative: Any,
             latent: torch.Tensor, noise_mask: torch.Tensor, seed: int) -> torch.Tensor:
        sampler = self._samplers.sampler_object(self.sampler_name)
        return self._sample.sample_custom(
            model, noise, self.cfg, sampler, sigmas, positive, negative, latent,
            noise_mask=noise_mask, callback=self._callback(model), disable_pbar=True, seed=seed,
        )

    def sample(self, latent: torch.Tensor, noise_mask: torch.Tensor, conditionings: Conditionings, seed: int) -> torch.Tensor:
        self._check_cancel()
        frame_count = latent.shape[0]
        noise = self._sample.prepare_noise(latent, seed)
        sigmas = self.sigmas(self.model)
        windows = self.windows(frame_count)
        if len(windows) == 1:
            return self._sample_clip(latent, noise, noise_mask, conditionings, seed, sigmas)
        log.info("sampling %d frames in %d windows of %d", frame_count, len(windows), self.context_length)
        result = torch.zeros_like(latent, dtype=torch.float32)
        for window, weight in zip(windows, crossfade_weights(windows, frame_count)):
            part = slice(window.start, window.stop)
            conds = Conditionings(*(conditioning_for_frames(c, window, frame_count) for c in (
                conditionings.positive, conditionings.negative, conditionings.refiner_positive, conditionings.refiner_negative)))
            sampled = self._sample_clip(latent[part], noise[part], noise_mask[part], conds, seed, sigmas)
            result[part] += sampled.to(result) * weight.view(-1, 1, 1, 1).to(result)
        return result.to(latent.dtype)

    def _sample_clip(self, latent: torch.Tensor, noise: torch.Tensor, noise_mask: torch.Tensor,
                     conditionings: Conditionings, seed: int, sigmas: torch.Tensor) -> torch.Tensor:
        use_refiner = self.refiner_model is not None and conditionings.refiner_positive is not None
        if not use_refiner:
            base_sigmas, refiner_sigmas = sigmas, sigmas[-1:]
        else:
            base_sigmas, refiner_sigmas = refiner_split(sigmas, self.refiner_ratio)

        result = latent
        if len(base_sigmas) > 1:
            result = self._run(self.model, noise, base_sigmas, conditionings.positive, conditionings.negative,
                               latent, noise_mask, seed)
        if len(refiner_sigmas) > 1:
            if len(base_sigmas) > 1:
                # The base pass left noise everywhere; keep only its masked part and let the
                # refiner continue from there without adding noise again.
                keep = resize_masks(noise_mask, result.shape[-2], result.shape[-1]).unsqueeze(1).to(result)
                result = latent.to(result) * (1.0 - keep) + result * keep
                noise = torch.zeros_like(noise)
            result = self._run(self.refiner_model, noise, refiner_sigmas, conditionings.refiner_positive,
                               conditionings.refiner_negative, result, noise_mask, seed)
        return result
