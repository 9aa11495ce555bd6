"""Which node ids the pack registers, so that it lives beside Impact Pack (docs/BEHAVIOUR.md §5).

Every node has an id of our own. A node that is a drop-in for an Impact Pack node is
also registered under Impact's id, but only when Impact Pack is not installed: ComfyUI
loads packs in directory-listing order, so two packs registering one id would override
each other unpredictably.
"""

from __future__ import annotations

import os
from collections.abc import Container, Iterable
from dataclasses import dataclass
from typing import Any

PACK_CATEGORY = "AnimateDiff Detailer"  # menu category of our own nodes
ID_PREFIX = "AnimateDiffDetailer_"
DISPLAY_SUFFIX = " [AnimateDiff Detailer]"

# A file only Impact Pack has: the folder name varies (git clone, registry install, a fork).
_IMPACT_MARKER = os.path.join("modules", "impact", "impact_pack.py")


def impact_pack_installed(custom_node_folders: Iterable[str]) -> bool:
    """Whether an enabled Impact Pack sits in one of ``custom_node_folders``.

    Decided from the folders on disk, not from what ComfyUI has loaded so far (it may not
    have reached Impact yet). Folders disabled by ComfyUI-Manager (``*.disabled``) do not count.
    """
    for folder in custom_node_folders:
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            if entry.endswith(".disabled") or entry.startswith("."):
                continue
            if os.path.isfile(os.path.join(folder, entry, _IMPACT_MARKER)):
                return True
    return False


@dataclass(frozen=True)
class NodeEntry:
    """One node of the pack: our class under our id, and optionally an Impact Pack alias."""

    short_name: str
    node_class: type
    display_name: str
    impact_id: str | None = None
    impact_class: type | None = None


def build_mappings(entries: Iterable[NodeEntry], impact_installed: bool) -> tuple[dict[str, type], dict[str, str]]:
    """NODE_CLASS_MAPPINGS and NODE_DISPLAY_NAME_MAPPINGS: our ids always, Impact ids only without Impact Pack."""
    classes: dict[str, type] = {}
    names: dict[str, str] = {}
    for entry in entries:
        node_id = ID_PREFIX + entry.short_name
        classes[node_id] = entry.node_class
        names[node_id] = entry.display_name + DISPLAY_SUFFIX
        if entry.impact_id and not impact_installed:
            classes[entry.impact_id] = entry.impact_class or entry.node_class
            names[entry.impact_id] = entry.display_name + " (Impact-compatible)" + DISPLAY_SUFFIX
    return classes, names


def impact_fallbacks(entries: Iterable[NodeEntry]) -> dict[str, str]:
    """Impact id -> our id, for every node of ours that is a drop-in for an Impact node."""
    return {entry.impact_id: ID_PREFIX + entry.short_name for entry in entries if entry.impact_id}


def impact_alias_values(entries: Iterable[NodeEntry]) -> dict[str, dict[str, Any]]:
    """Impact id -> our optional inputs whose default differs under Impact's id (crop_mode union,
    color_match off, ...): given to a prompt redirected to our node, it behaves as the alias would."""
    values: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if not entry.impact_id or entry.impact_class is None:
            continue
        ours = entry.node_class.INPUT_TYPES().get("optional", {})
        alias = entry.impact_class.INPUT_TYPES().get("optional", {})
        differing = {name: spec[1]["default"] for name, spec in alias.items()
                     if name in ours and len(spec) > 1 and "default" in spec[1]
                     and ours[name][1].get("default") != spec[1]["default"]}
        if differing:
            values[entry.impact_id] = differing
    return values


def redirect_missing_nodes(prompt: dict, fallbacks: dict[str, str], registered: Container[str],
                           alias_values: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """Point nodes of an API prompt whose Impact id is not registered at our node, in place.

    For the case Impact Pack is installed (so we leave its ids alone) but failed to load:
    its ids are then missing and a saved Impact workflow would not run. Our nodes take
    Impact's inputs under the same names, so every input is kept; inputs of ours the prompt
    lacks take the values ``alias_values`` gives for that Impact id (what our node does under
    Impact's id). Returns the node ids changed.
    """
    changed = []
    for node_id, node in prompt.items():
        class_type = node.get("class_type") if isinstance(node, dict) else None
        if class_type in fallbacks and class_type not in registered and fallbacks[class_type] in registered:
            node["class_type"] = fallbacks[class_type]
            for name, value in (alias_values or {}).get(class_type, {}).items():
                node.setdefault("inputs", {}).setdefault(name, value)
            changed.append(node_id)
    return changed
