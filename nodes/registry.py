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


# Input types the frontend shows as widgets (a list of choices is a combo); any other type is a socket.
WIDGET_TYPES = ("INT", "FLOAT", "BOOLEAN", "STRING", "COMBO")
SEED_CONTROL = "control_after_generate"  # the combo the frontend adds after a seed widget, saved right after it


def saved_widget_ids(input_types: dict[str, dict[str, tuple]], names: Iterable[str]) -> list[str]:
    """The ids of the values the frontend saves for inputs ``names`` of a node declared by ``input_types``, in its
    ``widgets_values`` order: each widget input, and after a seed its control value ("fixed", "randomize", ...)."""
    specs = {**input_types.get("required", {}), **input_types.get("optional", {})}
    ids = []
    for name in names:
        kind, options = specs[name][0], (specs[name][1] if len(specs[name]) > 1 else {})
        if not (isinstance(kind, (list, tuple)) or kind in WIDGET_TYPES) or options.get("forceInput"):
            continue
        ids.append(name)
        control = options.get("control_after_generate", kind == "INT" and name in ("seed", "noise_seed"))
        if control:
            ids.append(control if isinstance(control, str) else SEED_CONTROL)
    return ids


@dataclass(frozen=True)
class Replacement:
    """What ComfyUI's Node Replacement API learns for one Impact id: the frontend's *Replace* moves every
    link and saved widget value (``input_mapping``, ``old_widget_ids``: the Impact node's saved widget
    order) and sets our extra inputs to their values under Impact's id; the server, applying it to a
    queued prompt whose node is still missing, maps only ``server_input_mapping`` (the inputs every
    prompt has: ComfyUI fails on a mapped input a prompt lacks, such as the seed's control value or an
    unconnected optional socket). See docs/BEHAVIOUR.md §5."""

    old_node_id: str
    new_node_id: str
    old_widget_ids: list[str]
    input_mapping: list[dict[str, Any]]
    output_mapping: list[dict[str, int]]
    server_input_mapping: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """What ``/node_replacements`` serves the frontend for it."""
        return {"new_node_id": self.new_node_id, "old_node_id": self.old_node_id,
                "old_widget_ids": list(self.old_widget_ids), "input_mapping": list(self.input_mapping),
                "output_mapping": list(self.output_mapping)}


def impact_replacements(entries: Iterable[NodeEntry]) -> list[Replacement]:
    """One :class:`Replacement` per Impact id of ours (our node for Impact's), from the alias class's
    ``IMPACT_INPUTS``: Impact's inputs in Impact's order, the rest of the alias's inputs being ours."""
    alias_values = impact_alias_values(entries)
    replacements = []
    for entry in entries:
        if not entry.impact_id:
            continue
        alias = entry.impact_class or entry.node_class
        declared = alias.INPUT_TYPES()
        impact_inputs = list(getattr(alias, "IMPACT_INPUTS", None) or
                             [*declared.get("required", {}), *declared.get("optional", {})])
        widget_ids = saved_widget_ids(declared, impact_inputs)
        moved = [{"new_id": name, "old_id": name} for name in impact_inputs]
        moved += [{"new_id": name, "old_id": name} for name in widget_ids if name not in impact_inputs]
        values = [{"new_id": name, "set_value": value} for name, value in alias_values.get(entry.impact_id, {}).items()]
        required = [{"new_id": name, "old_id": name} for name in declared.get("required", {})]
        replacements.append(Replacement(
            old_node_id=entry.impact_id, new_node_id=ID_PREFIX + entry.short_name, old_widget_ids=widget_ids,
            input_mapping=moved + values,
            output_mapping=[{"new_idx": index, "old_idx": index} for index in range(len(alias.RETURN_TYPES))],
            server_input_mapping=required + values))
    return replacements


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
