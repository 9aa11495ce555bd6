"""Checks of the pipe inputs a node receives, with errors that name the input and the fix."""

from __future__ import annotations

from typing import Any


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
