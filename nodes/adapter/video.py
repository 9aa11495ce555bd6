"""ComfyUI's VIDEO type (``comfy_api``): its frames out, and a VIDEO of new frames with everything else kept.

A VIDEO (*Load Video*'s ``VideoFromFile``, *Create Video*'s ``VideoFromComponents``) hands out its
``VideoComponents``: frames ``[N, H, W, 3]`` float 0..1, frame rate (a ``Fraction``), audio
(``{"waveform": [B, C, S], "sample_rate"}`` or None), container metadata and, for sources with an
alpha channel, alpha. :func:`video_with_frames` builds ComfyUI's ``VideoFromComponents`` of new
frames with the frame rate, audio, metadata, alpha and bit depth of the source, the same objects
(audio samples bit for bit). ComfyUI 0.29's ``VideoFromComponents.get_components`` hands out only
frames, audio and frame rate; ours also hands out the metadata and alpha it was given.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class VideoParts:
    """A VIDEO's components and bit depth."""

    images: torch.Tensor
    frame_rate: Any
    audio: Any
    metadata: Any
    alpha: Any
    bit_depth: int


def read_video(video: Any, what: str = "video", image_node: str = "") -> VideoParts:
    """The components of a VIDEO input (its frames decoded); an error naming ``what`` for anything else
    (``image_node``: the node to use for an IMAGE batch instead)."""
    get_components = getattr(video, "get_components", None)
    if not callable(get_components):
        instead = f"; for an IMAGE batch use '{image_node}'" if image_node else ""
        raise ValueError(f"{what} must be a VIDEO (from Load Video or Create Video), got {type(video).__name__}{instead}")
    components = get_components()
    get_bit_depth = getattr(video, "get_bit_depth", None)
    bit_depth = int(get_bit_depth()) if callable(get_bit_depth) else 8
    return VideoParts(components.images, components.frame_rate, getattr(components, "audio", None),
                      getattr(components, "metadata", None), getattr(components, "alpha", None), bit_depth)


@functools.cache
def _video_class() -> type:
    from comfy_api.latest import InputImpl, Types

    class VideoOfFrames(InputImpl.VideoFromComponents):
        """ComfyUI's VideoFromComponents whose components keep the source's metadata and alpha."""

        def __init__(self, components: Any, bit_depth: int = 8) -> None:
            super().__init__(components, bit_depth=bit_depth)
            self._all_components = components

        def get_components(self) -> Any:
            kept = self._all_components
            return Types.VideoComponents(images=kept.images, frame_rate=kept.frame_rate, audio=kept.audio,
                                         metadata=kept.metadata, alpha=kept.alpha)

    return VideoOfFrames


def video_with_frames(source: VideoParts, frames: torch.Tensor) -> Any:
    """A VIDEO of ``frames`` ``[N, H, W, 3]`` with the source's frame rate, audio, metadata, alpha and bit depth."""
    from comfy_api.latest import Types

    components = Types.VideoComponents(images=frames, frame_rate=source.frame_rate, audio=source.audio,
                                       metadata=source.metadata, alpha=source.alpha)
    return _video_class()(components, bit_depth=source.bit_depth)
