"""Previews shown in a node: frames written to ComfyUI's temp folder as one animated WebP, described
the way ComfyUI's own animated-image nodes describe theirs, so the frontend plays it in the node."""

from __future__ import annotations

import logging
import os
import secrets
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

PREVIEW_FPS = 8.0
PREVIEW_PREFIX = "AnimateDiffDetailer_preview"


def write_animated_webp(frames: Any, path: str, fps: float = PREVIEW_FPS) -> None:
    """IMAGE ``[frames, height, width, 3]`` (0..1) as an animated WebP at ``path`` (a single frame: a still one)."""
    from PIL import Image

    array = frames.detach().float().cpu().numpy() if hasattr(frames, "detach") else np.asarray(frames, np.float32)
    pixels = np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)
    images = [Image.fromarray(frame) for frame in pixels]
    images[0].save(path, format="WEBP", save_all=True, append_images=images[1:], duration=round(1000.0 / fps),
                   loop=0, lossless=False, quality=85, method=4)


def animated_preview(frames: Any, fps: float = PREVIEW_FPS) -> dict[str, list | tuple]:
    """The ``ui`` part of a node's result that shows ``frames`` in the node as one animated image.

    The file goes to ComfyUI's temp folder (emptied when ComfyUI starts), as ComfyUI's *Preview Image*
    does; ``animated`` tells the frontend to play it rather than draw a grid of stills. Without ComfyUI
    (the unit tests) nothing is written and the ``ui`` is empty.
    """
    try:
        import folder_paths
    except ImportError:
        return {}
    if frames is None or len(frames) == 0:
        return {}
    temp_dir = folder_paths.get_temp_directory()
    prefix = f"{PREVIEW_PREFIX}_{secrets.token_hex(3)}"
    height, width = int(frames.shape[1]), int(frames.shape[2])
    folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(prefix, temp_dir, width, height)
    name = f"{filename}_{counter:05}_.webp"
    os.makedirs(folder, exist_ok=True)
    write_animated_webp(frames, os.path.join(folder, name), fps)
    log.debug("preview of %d frames written to %s", len(frames), os.path.join(folder, name))
    return {"images": [{"filename": name, "subfolder": subfolder, "type": "temp"}], "animated": (True,)}
