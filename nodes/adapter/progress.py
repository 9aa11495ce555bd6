"""Progress and cancel for node work that is not sampling (e.g. a detector run on every frame)."""

from __future__ import annotations

from collections.abc import Callable


def step_progress(total: int) -> Callable[[], None]:
    """A function to call after each of ``total`` steps: it advances ComfyUI's progress bar by one
    and raises ComfyUI's interruption when the user pressed Cancel. Outside ComfyUI it does nothing."""
    try:
        import comfy.model_management as model_management
        import comfy.utils as comfy_utils
    except ImportError:
        return lambda: None
    bar = comfy_utils.ProgressBar(max(1, total))

    def step() -> None:
        model_management.throw_exception_if_processing_interrupted()
        bar.update(1)

    return step
