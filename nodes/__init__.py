"""ComfyUI node classes of the pack, their registration, and the adapter they use to talk to ComfyUI."""

from __future__ import annotations

import logging
import os

from .adapter import environment
from .detailer import (
    DetailerForEachPipeForAnimateDiff,
    ImpactDetailerForEachPipeForAnimateDiff,
    ImpactSEGSDetailerForAnimateDiff,
    SEGSDetailerForAnimateDiff,
)
from .segs_nodes import (
    ControlNetForSEGS,
    SEGSFilterByLabel,
    SEGSFilterBySize,
    SEGSOrder,
    SEGSPreview,
    FromBasicPipe,
    ImpactFromBasicPipe,
    ImpactMaskToSEGSForAnimateDiff,
    ImpactSEGSPaste,
    ImpactToBasicPipe,
    MaskToSEGSForVideo,
    SEGSPasteForVideo,
    ToBasicPipe,
    TrackSEGSForVideo,
)
from .video_nodes import SAM3TrackToSEGS, VideoDetailerForEachPipe
from .registry import (
    NodeEntry,
    build_mappings,
    impact_alias_values,
    impact_fallbacks,
    impact_pack_installed,
    impact_replacements,
    redirect_missing_nodes,
)

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
    NodeEntry(
        "DetailerForEachPipeForAnimateDiff",
        DetailerForEachPipeForAnimateDiff,
        "Detailer (SEGS, pipe) for AnimateDiff",
        impact_id="DetailerForEachPipeForAnimateDiff",
        impact_class=ImpactDetailerForEachPipeForAnimateDiff,
    ),
    NodeEntry(
        "MaskToSEGS",
        MaskToSEGSForVideo,
        "Mask to SEGS for video",
        impact_id="MaskToSEGS_for_AnimateDiff",
        impact_class=ImpactMaskToSEGSForAnimateDiff,
    ),
    NodeEntry("TrackSEGS", TrackSEGSForVideo, "Track SEGS over video (detections to subject tracks)"),
    NodeEntry("SEGSPaste", SEGSPasteForVideo, "SEGS Paste for video", impact_id="SEGSPaste", impact_class=ImpactSEGSPaste),
    NodeEntry("ToBasicPipe", ToBasicPipe, "To Basic Pipe", impact_id="ToBasicPipe", impact_class=ImpactToBasicPipe),
    NodeEntry("FromBasicPipe", FromBasicPipe, "From Basic Pipe", impact_id="FromBasicPipe", impact_class=ImpactFromBasicPipe),
    NodeEntry("ControlNetForSEGS", ControlNetForSEGS, "ControlNet for SEGS (per frame)"),
    NodeEntry("SEGSFilterByLabel", SEGSFilterByLabel, "SEGS Filter by Label"),
    NodeEntry("SEGSFilterBySize", SEGSFilterBySize, "SEGS Filter by Size and Confidence"),
    NodeEntry("SEGSOrder", SEGSOrder, "SEGS Order"),
    NodeEntry("SEGSPreview", SEGSPreview, "SEGS Preview Crops"),
    NodeEntry("SAM3TrackToSEGS", SAM3TrackToSEGS, "SAM3 Track to SEGS (one SEG per tracked object)"),
    NodeEntry("VideoDetailerForEachPipe", VideoDetailerForEachPipe, "Detailer (SEGS, pipe) for VIDEO"),
]

IMPACT_PACK_INSTALLED = impact_pack_installed(environment.custom_node_folders(PACK_DIR))
NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = build_mappings(NODE_ENTRIES, IMPACT_PACK_INSTALLED)

if IMPACT_PACK_INSTALLED:
    log.info("AnimateDiff Detailer: Impact Pack is installed; our nodes use their own ids only")
    environment.install_impact_fallback(
        impact_fallbacks(NODE_ENTRIES),
        impact_replacements(NODE_ENTRIES),
        impact_alias_values(NODE_ENTRIES),
        redirect_missing_nodes,
    )
