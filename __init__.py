"""AnimateDiff Detailer: a video region detailer for ComfyUI (SEGS detailing over AnimateDiff clips)."""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
