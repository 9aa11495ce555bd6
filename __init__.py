"""AnimateDiff Detailer: a video region detailer for ComfyUI (SEGS detailing over AnimateDiff clips)."""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

# Served by ComfyUI at /extensions/<this folder>/: the node help pages (docs/<node id>.md) the frontend
# shows in the node library and the side panel's Info tab. No .js here: ComfyUI would load it as an extension.
WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
