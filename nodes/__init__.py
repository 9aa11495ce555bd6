"""ComfyUI node classes of the pack and the adapter they use to talk to ComfyUI."""

from __future__ import annotations

import logging
import os

from . import comfy_adapter
from .detailer import ImpactSEGSDetailerForAnimateDiff, SEGSDetailerForAnimateDiff
from .registry import NodeEntry, build_mappings, impact_pack_installed

log = logging.getLogger(__name__)

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NODE_ENTRIES = [
    NodeEntry(
        "SEGSDetailerForAnimateDiff",
        SEGSDetailerForAnimateDiff,
        "SEGS Detailer for AnimateDiff",
        impact_id="SEGSDetailerForAnimateDiff",
        impact_class=ImpactSEGSDetailerForAnimateDiff,
    ),
]

IMPACT_PACK_INSTALLED = impact_pack_installed(comfy_adapter.custom_node_folders(PACK_DIR))
NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = build_mappings(NODE_ENTRIES, IMPACT_PACK_INSTALLED)

if IMPACT_PACK_INSTALLED:
    log.info("AnimateDiff Detailer: Impact Pack is installed; our nodes use their own ids only")
