"""Check a ComfyUI workflow (UI format, as saved by the frontend) before running it.

    python tools/validate_workflow.py WORKFLOW.json                       # this pack's nodes only
    python tools/validate_workflow.py WORKFLOW.json --object-info http://127.0.0.1:8188
    python tools/validate_workflow.py WORKFLOW.json --object-info object_info.json --json

Reports which of this pack's nodes (``AnimateDiffDetailer_*``) and which Impact Pack ids the
workflow uses, and who serves the Impact ids; widget values out of range, not in a combo's
list or of the wrong type; links whose type does not fit the output or the input they join;
links to missing nodes, slots or links; required inputs left unconnected; node types the
definitions do not know. Every message names the node (id, title, type), the input, the value
and the fix.

Definitions: without ``--object-info`` only this pack's nodes are known (built from its
classes, standalone: no ComfyUI needed, including the Impact-compatible ids whether or not
Impact Pack is installed); other node types are listed as *not checked*. With
``--object-info`` (a running server's URL, or its ``/object_info`` saved to a file) every
node is checked against that ComfyUI, and a node type it lacks is an error.

Exit status: 0 no errors (warnings allowed), 1 errors, 2 the workflow or the definitions
could not be read.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import workflow_ui as wui
from pack_paths import PACK_MODULE, REPO_ROOT, load_pack

log = logging.getLogger("validate_workflow")

PACK_NAME = "AnimateDiff Detailer"

EXIT_OK, EXIT_ERRORS, EXIT_UNREADABLE = 0, 1, 2


# --- this pack's definitions -----------------------------------------------------------------


@dataclass
class PackNodes:
    """This pack's node ids and their definitions, Impact-compatible ids included."""

    definitions: dict[str, dict]
    our_ids: set[str]
    impact_ids: dict[str, str]  # Impact Pack id -> our id of the same node
    impact_installed: bool  # Impact Pack found next to this checkout (then it serves its own ids)
    python_module: str


def pack_nodes() -> PackNodes:
    """Definitions of every node the pack defines, built from its classes (``NODE_ENTRIES``).

    The Impact ids are included whether or not Impact Pack is installed here: the pack
    registers them only when it is absent, but a workflow using them is checked either way.
    """
    load_pack()
    nodes = sys.modules[f"{PACK_MODULE}.nodes"]
    registry = sys.modules[f"{PACK_MODULE}.nodes.registry"]
    classes, names = registry.build_mappings(nodes.NODE_ENTRIES, False)
    definitions = wui.node_definitions(classes, names)
    python_module = f"custom_nodes.{REPO_ROOT.name}"
    for definition in definitions.values():
        definition["python_module"] = python_module
    our_ids = {registry.ID_PREFIX + entry.short_name for entry in nodes.NODE_ENTRIES}
    return PackNodes(definitions, our_ids, registry.impact_fallbacks(nodes.NODE_ENTRIES),
                     bool(getattr(nodes, "IMPACT_PACK_INSTALLED", False)), python_module)


# --- the report ------------------------------------------------------------------------------


@dataclass
class Issue:
    """One finding. ``severity``: ``error`` (will not run as saved), ``warning``, ``info``."""

    severity: str
    code: str
    message: str
    fix: str = ""
    node_id: str | None = None
    node_type: str | None = None
    title: str | None = None
    input: str | None = None
    value: Any = None
    allowed: Any = None
    link_id: int | None = None


@dataclass
class NodeRef:
    id: str
    type: str
    title: str
    note: str = ""


@dataclass
class Report:
    """What :func:`validate` found in one workflow."""

    workflow: str
    definitions: str
    nodes: int = 0
    links: int = 0
    ours: list[NodeRef] = field(default_factory=list)
    impact: list[NodeRef] = field(default_factory=list)
    not_checked: list[NodeRef] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict:
        data = asdict(self)
        data.update(ok=self.ok, error_count=len(self.errors), warning_count=len(self.warnings))
        return data


# --- checks ----------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else repr(value)


def _range_text(options: dict) -> str:
    low, high = options.get("min"), options.get("max")
    if low is not None and high is not None:
        return f"{_fmt(low)} to {_fmt(high)}"
    if low is not None:
        return f"at least {_fmt(low)}"
    return f"at most {_fmt(high)}"


def check_value(spec, value: Any) -> list[tuple[str, str, str, str, Any]]:
    """Problems of one widget value: ``(severity, code, message, fix, allowed)`` tuples."""
    kind = spec.widget_type
    options = spec.options
    name = spec.name
    problems = []
    if kind in ("INT", "FLOAT"):
        number_ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not number_ok:
            what = "a whole number" if kind == "INT" else "a number"
            allowed = _range_text(options) if "min" in options or "max" in options else kind
            return [("error", "wrong_value_type", f"value {_fmt(value)} is not {what} ({kind} widget)",
                     f"set {name} to {what}" + (f" from {allowed}" if allowed != kind else ""), allowed)]
        if kind == "INT" and isinstance(value, float) and not value.is_integer():
            problems.append(("warning", "wrong_value_type", f"value {_fmt(value)} is not a whole number; ComfyUI "
                             f"truncates it to {int(value)}", f"set {name} to a whole number", "INT"))
        low, high = options.get("min"), options.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            side = f"below the minimum {_fmt(low)}" if low is not None and value < low else f"above the maximum {_fmt(high)}"
            allowed = _range_text(options)
            problems.append(("error", "value_out_of_range", f"value {_fmt(value)} is {side} (allowed {allowed})",
                             f"set {name} to a value from {allowed}", allowed))
        return problems
    if kind == "BOOLEAN":
        if not isinstance(value, bool):
            return [("error", "wrong_value_type", f"value {_fmt(value)} is not true/false (BOOLEAN widget)",
                     f"set {name} to true or false", "BOOLEAN")]
        return []
    if kind in ("STRING", "TEXTAREA", "MARKDOWN"):
        if not isinstance(value, str):
            return [("error", "wrong_value_type", f"value {_fmt(value)} is not text (STRING widget)",
                     f"set {name} to a text value (the saved values may be shifted: recreate the node)", "STRING")]
        return []
    if kind == "COMBO":
        allowed = list(spec.combo or [])
        chosen = value if isinstance(value, list) and options.get("multi_select") else [value]
        wrong = [v for v in chosen if v not in allowed]
        if not wrong:
            return []
        listed = ", ".join(_fmt(v) for v in allowed[:20]) + (f", ... ({len(allowed)} in all)" if len(allowed) > 20 else "")
        close = difflib.get_close_matches(str(wrong[0]), [str(v) for v in allowed], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        if any(options.get(k) for k in ("image_upload", "video_upload", "animated_image_upload", "audio_upload")):
            fix = f"put {_fmt(wrong[0])} into ComfyUI's input folder, or pick or upload a file in the node{hint}"
        elif not allowed:
            fix = f"this list is empty on that ComfyUI: install the file {_fmt(wrong[0])} where the node looks for it"
        else:
            fix = f"pick one of: {listed}{hint}"
        return [("error", "value_not_in_list", f"value {_fmt(value)} is not one of the {len(allowed)} allowed values",
                 fix, allowed if len(allowed) <= 50 else f"{len(allowed)} values")]
    return []


class _Checker:
    def __init__(self, workflow: dict, definitions: dict, pack: PackNodes, authoritative: bool, report: Report) -> None:
        self.workflow = workflow
        self.definitions = definitions
        self.pack = pack
        self.authoritative = authoritative
        self.report = report
        self.graph = wui.WorkflowGraph(workflow, definitions)
        self.primitives: dict = {}

    # helpers

    def issue(self, severity: str, code: str, message: str, fix: str = "", node: dict | None = None,
              input_name: str | None = None, value: Any = None, allowed: Any = None, link_id: int | None = None) -> None:
        definition = self.graph.definition(node) if node is not None else None
        self.report.issues.append(Issue(
            severity, code, message, fix,
            node_id=str(node.get("id")) if node is not None else None,
            node_type=node.get("type") if node is not None else None,
            title=wui.node_title(node, definition) if node is not None else None,
            input=input_name, value=value, allowed=allowed, link_id=link_id))

    def label(self, node: dict) -> str:
        return wui.node_label(node, self.graph.definition(node))

    def ref(self, node: dict, note: str = "") -> NodeRef:
        return NodeRef(str(node.get("id")), str(node.get("type")), wui.node_title(node, self.graph.definition(node)), note)

    def spec_of(self, node: dict, name: str):
        definition = self.graph.definition(node)
        if definition is None:
            return None
        return next((s for s in wui.input_specs(definition, node.get("type")) if s.name == name), None)

    # the run

    def run(self) -> None:
        try:
            self.primitives = self.graph.primitive_values()
        except wui.WorkflowError:
            self.primitives = {}
        for node in self.graph.nodes.values():
            self.check_node(node)
        self.check_links()

    def served_by(self, node_type: str) -> str:
        ours = self.pack.impact_ids[node_type]
        if not self.authoritative:
            note = (f"served by this pack (as {ours}'s Impact-compatible twin) when Impact Pack is not installed; "
                    "where Impact Pack is installed, Impact Pack's own node runs it")
            if self.pack.impact_installed:
                note += " (Impact Pack is installed next to this checkout: there Impact Pack serves it)"
            return note
        definition = self.definitions.get(node_type)
        if definition is None:
            return "registered by neither Impact Pack nor this pack on that ComfyUI"
        module = definition.get("python_module", "?")
        our_module = (self.definitions.get(ours) or {}).get("python_module")
        if our_module and module == our_module:
            return f"served by this pack on that ComfyUI (module {module}; Impact Pack is absent there)"
        return f"served by {module} on that ComfyUI (Impact Pack's node, not this pack's)"

    def check_node(self, node: dict) -> None:
        node_type = str(node.get("type"))
        mode = self.graph.mode(node)
        if node_type in self.pack.our_ids:
            self.report.ours.append(self.ref(node))
        if node_type in self.pack.impact_ids:
            self.report.impact.append(self.ref(node, self.served_by(node_type)))
        inactive = {wui.MODE_NEVER: "muted (mode 2): not run", wui.MODE_BYPASS: "bypassed (mode 4): not run, "
                    "its inputs are passed to its outputs"}.get(mode)
        if self.graph.is_subgraph(node):
            self.report.not_checked.append(self.ref(node, "subgraph: its inner nodes are not checked"))
            return
        if wui.is_group_node_type(node_type):
            self.report.not_checked.append(self.ref(node, "legacy group node: not checked"))
            return
        if node_type in wui.FRONTEND_ONLY_TYPES:
            return
        definition = self.definitions.get(node_type)
        if definition is None:
            if not self.authoritative:
                self.report.not_checked.append(self.ref(node, "not a node of this pack; pass --object-info to check it"))
            elif inactive:
                self.report.not_checked.append(self.ref(node, f"unknown to that ComfyUI, {inactive}"))
            else:
                provider = (f"this pack ({PACK_NAME})" if node_type in self.pack.our_ids else
                            f"this pack ({PACK_NAME}) or Impact Pack" if node_type in self.pack.impact_ids else
                            "the pack that provides it")
                self.issue("error", "unknown_node_type",
                           f"{self.label(node)}: node type {node_type} is not registered on that ComfyUI",
                           f"install {provider} there (ComfyUI-Manager: Install Missing Custom Nodes), or remove the node",
                           node)
            return
        if inactive:
            self.report.not_checked.append(self.ref(node, inactive))
            return
        reason = wui.unsupported_reason(definition, node_type)
        if reason:
            self.report.not_checked.append(self.ref(node, f"widgets not checked: {reason}"))
            return
        self.check_widgets(node, definition)
        self.check_required_inputs(node, definition)

    def check_widgets(self, node: dict, definition: dict) -> None:
        slots = wui.widget_slots(definition, node.get("type"))
        values, unused = wui.assign_widget_values(node, definition, slots)
        sockets = {s.name: s for s in self.graph.inputs(node)}
        node_id = str(node.get("id"))
        for slot in slots:
            value = values[slot.key]
            if slot.kind == "input":
                source = ""
                socket = sockets.get(slot.input_name)
                link = self.graph.links.get(socket.link) if socket is not None and socket.link is not None else None
                if link is not None and link.origin_id in self.graph.nodes:
                    origin = self.graph.nodes[link.origin_id]
                    if origin.get("type") != wui.PRIMITIVE:
                        continue  # the value comes from the link
                    value = self.primitives.get((node_id, slot.name), value)
                    source = f" (set by primitive node {origin.get('id')})"
                for severity, code, message, fix, allowed in check_value(slot.spec, value):
                    self.issue(severity, code, f"{self.label(node)} input '{slot.input_name}': {message}{source}",
                               fix, node, slot.input_name, value, allowed)
            elif slot.kind == "control" and slot.saved:
                allowed = wui.COMBO_CONTROL_VALUES if slot.spec.widget_type == "COMBO" else wui.CONTROL_VALUES
                if value not in allowed:
                    self.issue("error", "bad_control_value",
                               f"{self.label(node)} input '{slot.input_name}': its control_after_generate value "
                               f"{_fmt(value)} is not one of {', '.join(allowed)}; the saved widget values look shifted",
                               f"set control_after_generate of {slot.input_name} to 'fixed' or 'randomize', and "
                               "check the values after it (or recreate the node)",
                               node, slot.input_name, value, list(allowed))
        saved = node.get("widgets_values")
        if unused and isinstance(saved, list) and len(saved) > len(slots):  # the frontend saves unsaved widgets as holes
            self.issue("info", "extra_widget_values",
                       f"{self.label(node)}: {len(unused)} saved widget value(s) {_fmt(unused)} beyond the node's "
                       f"{sum(1 for s in slots if s.saved)} widgets are ignored (saved by another version of the node?)",
                       "check the node's values in ComfyUI and save the workflow again", node, value=unused)

    def check_required_inputs(self, node: dict, definition: dict) -> None:
        sockets = {s.name: s for s in self.graph.inputs(node)}
        for spec in wui.input_specs(definition, node.get("type")):
            if spec.optional or spec.is_widget:
                continue
            socket = sockets.get(spec.name)
            if socket is None or socket.link is None:
                needed = self.feeds_output(node)
                self.issue("error" if needed else "warning", "required_input_missing",
                           f"{self.label(node)}: required input '{spec.name}' ({spec.type}) is not connected"
                           + ("" if needed else " (the node feeds no output node, so ComfyUI skips it)"),
                           f"connect an output of type {spec.type} to '{spec.name}'", node, spec.name)

    def feeds_output(self, node: dict) -> bool:
        """Whether ``node`` may be needed by an output node (ComfyUI validates and runs only those).

        False only when every active node downstream is known and none is an output node."""
        graph = self.graph
        seen: set[str] = set()
        todo = [str(node.get("id"))]
        while todo:
            current = graph.nodes.get(todo.pop())
            if current is None or str(current.get("id")) in seen:
                continue
            seen.add(str(current.get("id")))
            if graph.mode(current) == wui.MODE_NEVER:
                continue
            definition = graph.definition(current)
            if graph.mode(current) != wui.MODE_BYPASS and current.get("type") not in wui.FRONTEND_ONLY_TYPES:
                if definition is None or definition.get("output_node"):
                    return True
            todo.extend(link.target_id for link in graph.links.values() if link.origin_id == str(current.get("id")))
        return False

    # links

    def check_links(self) -> None:
        graph = self.graph
        referenced: set[int] = set()
        for node in graph.nodes.values():
            for index, slot in enumerate(node.get("inputs") or []):
                if not isinstance(slot, dict) or slot.get("link") is None:
                    continue
                link_id = wui.as_link_id(slot.get("link"))
                name = slot.get("name")
                if link_id is None or link_id not in graph.links:
                    self.issue("error", "missing_link",
                               f"{self.label(node)} input '{name}': refers to link {slot.get('link')}, which the workflow "
                               "does not have", f"reconnect '{name}' in ComfyUI and save again", node, name,
                               link_id=link_id)
                    continue
                referenced.add(link_id)
        for link in graph.links.values():
            self.check_link(link, link.id in referenced)

    def _target_socket(self, target: dict, link) -> tuple[str | None, int | None]:
        """The name of the input of ``target`` that ``link`` feeds and its index among the loaded sockets."""
        saved = [s for s in target.get("inputs") or [] if isinstance(s, dict)]
        name = next((s.get("name") for s in saved if wui.as_link_id(s.get("link")) == link.id), None)
        if name is None and link.target_slot < len(saved):
            name = saved[link.target_slot].get("name")
        if name is None:
            return None, None
        index = next((i for i, s in enumerate(self.graph.inputs(target)) if s.name == name), None)
        return name, index

    def check_link(self, link, referenced: bool) -> None:
        graph = self.graph
        origin = graph.nodes.get(link.origin_id)
        target = graph.nodes.get(link.target_id)
        if target is None:
            self.issue("error", "link_missing_node",
                       f"link {link.id} goes to node {link.target_id}, which the workflow does not have",
                       "delete the dangling link: reconnect the nodes in ComfyUI and save again", origin, link_id=link.id)
            return
        name, index = self._target_socket(target, link)
        if name is None:
            self.issue("error", "link_missing_slot",
                       f"link {link.id} goes to input slot {link.target_slot} of {self.label(target)}, which has no such input",
                       "reconnect the node's inputs in ComfyUI and save again", target, link_id=link.id)
            return
        if origin is None:
            self.issue("error", "link_missing_node",
                       f"{self.label(target)} input '{name}': linked (link {link.id}) from node {link.origin_id}, "
                       "which the workflow does not have", f"connect '{name}' to an existing node's output",
                       target, name, link_id=link.id)
            return
        outputs = graph.outputs(origin)
        if link.origin_slot >= len(outputs) and origin.get("type") not in wui.FRONTEND_ONLY_TYPES:
            self.issue("error", "link_missing_slot",
                       f"{self.label(target)} input '{name}': linked from output slot {link.origin_slot} of "
                       f"{self.label(origin)}, which has only {len(outputs)} output(s)",
                       f"connect '{name}' to one of that node's outputs", target, name, link_id=link.id)
            return
        if not referenced:
            self.issue("warning", "unreferenced_link",
                       f"link {link.id} to {self.label(target)} input '{name}' is listed but the input does not refer to it",
                       "reconnect the input in ComfyUI and save again", target, name, link_id=link.id)
        if graph.mode(target) in (wui.MODE_NEVER, wui.MODE_BYPASS) or graph.is_virtual(target):
            return
        self.check_link_types(link, origin, target, name, index)

    def check_link_types(self, link, origin: dict, target: dict, name: str, index: int | None) -> None:
        graph = self.graph
        spec = self.spec_of(target, name)
        target_known = graph.definition(target) is not None
        expected = (spec.combo if spec.combo is not None else spec.type) if spec is not None else None
        expected_text = "COMBO" if isinstance(expected, list) else expected
        required_socket = spec is not None and not spec.optional and not spec.is_widget
        source = origin
        source_slot = link.origin_slot
        via = ""
        if origin.get("type") == wui.PRIMITIVE:
            return  # its value is checked with the widget
        if graph.mode(origin) in (wui.MODE_NEVER, wui.MODE_BYPASS) or origin.get("type") == wui.REROUTE:
            try:
                resolved = graph.resolve_input(target, index) if index is not None else None
            except wui.UnsupportedWorkflowError:
                return  # through a subgraph: not checked
            except wui.WorkflowError as error:
                self.issue("error", "link_unresolvable", f"{self.label(target)} input '{name}': {error}",
                           "reconnect the input", target, name, link_id=link.id)
                return
            if resolved is None:
                if required_socket:
                    why = ("muted" if graph.mode(origin) == wui.MODE_NEVER else
                           "bypassed and has no input of a matching type" if graph.mode(origin) == wui.MODE_BYPASS else
                           "a reroute fed by nothing active")
                    needed = self.feeds_output(target)
                    self.issue("error" if needed else "warning", "input_fed_by_inactive_node",
                               f"{self.label(target)} required input '{name}' gets nothing: {self.label(origin)} is {why}"
                               + ("" if needed else " (the node feeds no output node, so ComfyUI skips it)"),
                               f"{'unmute' if graph.mode(origin) == wui.MODE_NEVER else 'un-bypass'} {self.label(origin)}, "
                               f"or connect '{name}' to an active node",
                               target, name, link_id=link.id)
                return
            source = graph.nodes[resolved[0]]
            source_slot = resolved[1]
            via = f" (through {self.label(origin)})"
        source_known = graph.definition(source) is not None
        outputs = graph.outputs(source)
        produced = outputs[source_slot].type if source_slot < len(outputs) else None
        out_name = outputs[source_slot].name if source_slot < len(outputs) else str(source_slot)
        if source_known and target_known and expected is not None:
            raw_output = (graph.definition(source).get("output") or [None] * (source_slot + 1))
            raw = raw_output[source_slot] if source_slot < len(raw_output) else produced
            if not wui.server_types_match(raw, expected):
                self.issue("error", "link_type_mismatch",
                           f"{self.label(target)} input '{name}' ({expected_text}) is linked from output '{out_name}' "
                           f"({produced}) of {self.label(source)}{via}",
                           f"connect '{name}' to an output of type {expected_text}", target, name,
                           value=produced, allowed=expected_text, link_id=link.id)
            return
        recorded = link.type
        if recorded in (None, "", "*") or via:
            return
        if target_known and expected is not None and not wui.server_types_match(recorded, expected):
            self.issue("error", "link_type_mismatch",
                       f"{self.label(target)} input '{name}' ({expected_text}) is linked from {self.label(source)}, "
                       f"whose output the workflow records as {recorded}",
                       f"connect '{name}' to an output of type {expected_text}", target, name,
                       value=recorded, allowed=expected_text, link_id=link.id)
        elif source_known and produced is not None and not wui.frontend_types_match(recorded, produced):
            self.issue("error", "link_type_mismatch",
                       f"link {link.id} from output '{out_name}' ({produced}) of {self.label(source)} is recorded as "
                       f"type {recorded}, which does not match", f"reconnect {self.label(target)} input '{name}'",
                       target, name, value=recorded, allowed=produced, link_id=link.id)


def validate(workflow: dict, *, object_info: dict | None = None, pack: PackNodes | None = None,
             source: str = "workflow", object_info_source: str | None = None) -> Report:
    """Check ``workflow`` (UI format) and return the :class:`Report`.

    ``object_info``: definitions of the ComfyUI that will run it (then every node is checked
    and unknown types are errors); without it this pack's definitions are used and other node
    types are reported as not checked. Raises :class:`workflow_ui.WorkflowError` if
    ``workflow`` is not a UI workflow.
    """
    wui.check_ui_workflow(workflow, source)
    pack = pack or pack_nodes()
    if object_info is None:
        definitions, described = pack.definitions, f"this pack's nodes only ({len(pack.definitions)} node ids)"
    else:
        definitions = object_info
        described = f"object info {object_info_source or ''} ({len(object_info)} node types)".replace("  ", " ")
    report = Report(source, described, nodes=len(workflow["nodes"]), links=len(workflow.get("links") or []))
    _Checker(workflow, definitions, pack, object_info is not None, report).run()
    return report


# --- output ----------------------------------------------------------------------------------


def _refs(refs: list[NodeRef]) -> str:
    return ", ".join(f"#{r.id} {r.type}" + (f' "{r.title}"' if r.title != r.type else "") for r in refs)


def format_report(report: Report) -> str:
    """The human-readable report."""
    lines = [f"{report.workflow}: {report.nodes} nodes, {report.links} links; definitions: {report.definitions}"]
    lines.append(f"This pack's nodes: {_refs(report.ours) if report.ours else 'none'}")
    if report.impact:
        lines.append("Impact Pack ids:")
        for ref in report.impact:
            lines.append(f"  #{ref.id} {ref.type}: {ref.note}")
    else:
        lines.append("Impact Pack ids: none")
    if report.not_checked:
        grouped: dict[str, list[NodeRef]] = {}
        for ref in report.not_checked:
            grouped.setdefault(ref.note, []).append(ref)
        lines.append("Not checked:")
        for note, refs in grouped.items():
            lines.append(f"  {note}: {_refs(refs)}")
    for issue in sorted(report.issues, key=lambda i: ("error", "warning", "info").index(i.severity)):
        lines.append(f"{'NOTE' if issue.severity == 'info' else issue.severity.upper()}: {issue.message}")
        if issue.fix:
            lines.append(f"    fix: {issue.fix}")
    errors, warnings = len(report.errors), len(report.warnings)
    verdict = "OK" if report.ok else "FAILED"
    lines.append(f"{verdict}: {errors} error(s), {warnings} warning(s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check a ComfyUI workflow (UI format) for this pack: node ids, widget values, links.",
        epilog="Exit status: 0 no errors, 1 errors found, 2 the workflow or the definitions could not be read.")
    parser.add_argument("workflow", type=Path, help="workflow JSON saved by ComfyUI (Workflow > Save)")
    parser.add_argument("--object-info", metavar="FILE_OR_URL",
                        help="node definitions of the ComfyUI that will run it: a saved /object_info JSON file or the "
                             "server URL (http://127.0.0.1:8188); without it only this pack's nodes are checked")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is loaded")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    try:
        workflow = wui.load_workflow(args.workflow)
        object_info = wui.load_object_info(args.object_info) if args.object_info else None
    except wui.WorkflowError as error:
        log.error("%s", error)
        return EXIT_UNREADABLE
    try:
        pack = pack_nodes()
    except Exception as error:  # noqa: BLE001 - reported with the fix, never a traceback
        log.error("cannot load this pack's node definitions from %s (%s: %s); run with the Python that has torch "
                  "(ComfyUI's), or pass --object-info", REPO_ROOT, type(error).__name__, error)
        return EXIT_UNREADABLE
    try:
        report = validate(workflow, object_info=object_info, pack=pack, source=str(args.workflow),
                          object_info_source=args.object_info)
    except wui.WorkflowError as error:
        log.error("%s", error)
        return EXIT_UNREADABLE
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        print(format_report(report))
    return EXIT_OK if report.ok else EXIT_ERRORS


if __name__ == "__main__":
    raise SystemExit(main())
