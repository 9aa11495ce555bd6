"""What ComfyUI offers the nodes: sampler and scheduler names, limits, folders, other packs,
model features, and the server hook that keeps Impact ids running when Impact fails to load."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any

from ...core.schedule import EXTRA_SCHEDULERS

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

AUTO_CONTEXT_LENGTH = 16  # AnimateDiff motion modules are trained on 16 frames


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


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), so bf16 is faster, not slower.
    Read from /proc/cpuinfo once per process (each detail pass asks for its VAE and every model)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = cpuinfo.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def runs_in_bf16(precision: str, on_cpu: bool, compute_dtype: Any, auto_applies: bool = True) -> bool:
    """Whether a model (UNet or VAE) runs under bfloat16 autocast for a precision input
    (``core.options.PRECISIONS``). Only on the CPU and over ComfyUI's fp32 (a lower precision
    ComfyUI or the user chose is kept): "bf16" always; "auto" where ``auto_applies`` (the model
    kinds measured) and the CPU computes bf16 natively. ComfyUI itself runs models in bf16 or fp16
    on GPUs that support it, but keeps fp32 on every CPU, where bf16 is slow without native support."""
    import torch

    if precision == "fp32" or not on_cpu or compute_dtype != torch.float32:
        return False
    if precision == "bf16":
        return True
    return auto_applies and cpu_has_native_bf16()


def run_in_precision(run: Callable[[], Any], in_bf16: bool) -> Any:
    """``run()``, under CPU bfloat16 autocast when ``in_bf16`` (see :func:`runs_in_bf16`), its
    tensor result then returned as float32; otherwise ``run()`` as it is."""
    if not in_bf16:
        return run()
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16):
        return run().to(torch.float32)


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


def advanced_controlnet_installed() -> bool:
    """Whether Advanced-ControlNet's apply node is registered (Impact's ControlNet wrappers need
    it for batches when asked to use it; without it they fall back to ComfyUI's ControlNet)."""
    try:
        import nodes as comfy_nodes
    except ImportError:
        return False
    return "ACN_AdvancedControlNetApply" in getattr(comfy_nodes, "NODE_CLASS_MAPPINGS", {})


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


def install_impact_fallback(fallbacks: dict[str, str], replacements: list[Any],
                            alias_values: dict[str, dict[str, Any]],
                            redirect_missing_nodes: Callable[[dict, dict[str, str], Any, dict], list[str]]) -> None:
    """Let workflows with Impact ids run on our nodes when Impact Pack is installed but did not load.

    A prompt handler rewrites the missing ids before the server validates the prompt with
    ``redirect_missing_nodes(prompt, fallbacks, registered ids, alias_values)`` (the registry's:
    all inputs kept, and ``alias_values`` for our inputs the prompt lacks, so the node behaves as
    under Impact's id). ComfyUI's Node Replacement API, where it exists, learns ``replacements``
    (the registry's ``Replacement``: one per Impact id), so the frontend offers *Replace* for the
    missing nodes and keeps every link and widget value (``old_widget_ids`` and the full
    ``input_mapping`` are what ``/node_replacements`` serves). The server applies the same
    registration to queued prompts, where a mapped input the prompt lacks (the seed's control
    value, an unconnected optional socket) would fail the request: there only the replacement's
    ``server_input_mapping`` is used (docs/BEHAVIOUR.md §5); the prompt handler has already done
    the full job by then.
    """
    try:
        import server
        import nodes as comfy_nodes
    except ImportError:
        return
    prompt_server = getattr(server.PromptServer, "instance", None)
    if prompt_server is None:
        return

    def redirect(json_data: dict) -> dict:
        prompt = json_data.get("prompt") if isinstance(json_data, dict) else None
        if isinstance(prompt, dict):
            changed = redirect_missing_nodes(prompt, fallbacks, comfy_nodes.NODE_CLASS_MAPPINGS, alias_values)
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
    for replacement in replacements:
        manager.register(_node_replace(io.NodeReplace, replacement))


def _node_replace(node_replace: type, replacement: Any) -> Any:
    """A ``NodeReplace`` whose ``input_mapping`` (what the server applies to prompts) is the replacement's
    server mapping, and whose ``as_dict`` (what ``/node_replacements`` serves the frontend) is its full one."""

    class FrontendNodeReplace(node_replace):
        def as_dict(self) -> dict:
            return {**super().as_dict(), **replacement.as_dict()}

    return FrontendNodeReplace(new_node_id=replacement.new_node_id, old_node_id=replacement.old_node_id,
                               old_widget_ids=list(replacement.old_widget_ids),
                               input_mapping=list(replacement.server_input_mapping),
                               output_mapping=list(replacement.output_mapping))
