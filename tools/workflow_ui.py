"""Plain-Python helpers for ComfyUI workflows in the frontend's UI format (what *Save* writes).

A UI workflow is ``{"nodes": [...], "links": [...], "version": 0.4, ...}``: every node has an
``id``, a ``type``, a ``mode``, ``inputs`` (sockets, each with the ``link`` feeding it and, for
widget sockets, ``widget: {"name"}``), ``outputs`` and ``widgets_values`` (the widget values in
the frontend's widget order); every link is ``[id, from_node, from_slot, to_node, to_slot, type]``
(or the same as an object in schema 1). ComfyUI's ``/prompt`` takes the *API* format instead:
``{node_id: {"class_type", "inputs", "_meta": {"title"}}}`` with links as ``[from_id, slot]``.

This module reads the first and writes the second the way ComfyUI's frontend 1.47 does
(``LGraphNode.configure`` and ``ComfyNode.configure`` on load, ``graphToPrompt`` on queue);
the frontend behaviour ported here is cited where it is not obvious. It needs nothing but the
standard library, so it runs without ComfyUI:

* :func:`load_workflow` reads a workflow file (and refuses an API-format prompt, naming it);
* :func:`node_definitions` builds node definitions in ``/object_info`` format from node
  classes (a pack's ``NODE_CLASS_MAPPINGS`` standalone, or ComfyUI's full in-process
  ``nodes.NODE_CLASS_MAPPINGS`` including V3 nodes); :func:`load_object_info` reads a saved
  ``/object_info`` JSON file or fetches it from a running server;
* :func:`widget_slots` / :func:`widget_names` list a definition's widgets in the frontend's
  order, including the slots the frontend adds (the ``control_after_generate`` value after a
  seed, a combo's control filter, the ``upload`` button of image/video/audio loaders);
* :func:`widget_values` maps a node's ``widgets_values`` to input names (missing trailing
  values, as an older save of a node has, take the widget defaults);
* :func:`to_api_prompt` converts a whole workflow to the API format: linked inputs as
  ``[from_id, slot]``, widget values by name (control values left out), muted nodes dropped,
  bypassed nodes passed through by type, reroutes followed, primitive nodes applied.

Not handled (each reported by :class:`UnsupportedWorkflowError` from :func:`to_api_prompt`,
and by :func:`unsupported_reason` for one definition): subgraphs and legacy group nodes, and
nodes whose definition uses the frontend's dynamic V3 inputs or composite widgets (dynamic
combos, autogrow inputs, bounding boxes, 3D viewers, ...), whose widget layout depends on
frontend code beyond this port.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import random
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("workflow_ui")

# LiteGraph node modes (LGraphEventMode).
MODE_ALWAYS = 0
MODE_NEVER = 2  # "muted": the node and everything it feeds is left out of the prompt
MODE_BYPASS = 4  # "bypassed": its outputs are wired to its inputs of a matching type

# Node types that exist only in the frontend (never sent to the server).
REROUTE = "Reroute"
PRIMITIVE = "PrimitiveNode"
FRONTEND_ONLY_TYPES = frozenset({REROUTE, PRIMITIVE, "Note", "MarkdownNote"})

CONTROL_VALUES = ("fixed", "increment", "decrement", "randomize")
COMBO_CONTROL_VALUES = CONTROL_VALUES + ("increment-wrap",)

# Input types the frontend shows as one widget holding one value (ComfyWidgets in the bundle).
SIMPLE_WIDGET_TYPES = frozenset({"INT", "FLOAT", "BOOLEAN", "STRING", "COMBO", "MARKDOWN", "TEXTAREA", "COLOR"})
# Widget types whose layout (several widgets, dynamic inputs, canvas state) this module does not model.
COMPLEX_WIDGET_TYPES = frozenset({
    "IMAGECOMPARE", "BOUNDING_BOX", "CHART", "GALLERIA", "PAINTER", "CURVE", "RANGE", "BOUNDING_BOXES", "COLORS",
    "COMFY_DYNAMICCOMBO_V3", "AUDIO_RECORD", "WEBCAM", "LOAD_3D", "LOAD_3D_ADVANCED", "PREVIEW_3D",
})
DYNAMIC_INPUT_TYPES = frozenset({"COMFY_AUTOGROW_V3"})
MATCH_TYPE = "COMFY_MATCHTYPE_V3"
UPLOAD_TYPES = frozenset({"IMAGEUPLOAD", "AUDIOUPLOAD"})
MEDIA_UPLOAD_OPTIONS = ("image_upload", "video_upload", "animated_image_upload")
# Nodes whose audio preview widget the frontend adds (Comfy.AudioWidget); it is not saved.
AUDIO_UI_NODES = frozenset({"LoadAudio", "SaveAudio", "PreviewAudio", "SaveAudioMP3", "SaveAudioOpus", "SaveAudioAdvanced"})
# Nodes whose filename_prefix gets %date:...% / %Node.widget% replaced on queue (Comfy.SaveImageExtraOutput).
TEXT_REPLACEMENT_NODES = frozenset({
    "SaveImage", "SaveImageAdvanced", "SaveSVGNode", "SaveVideo", "SaveAnimatedWEBP", "SaveWEBM", "SaveAudio",
    "SaveAudioMP3", "SaveAudioOpus", "SaveAudioAdvanced", "SaveGLB", "Save3DAdvanced", "SaveGaussianSplat",
    "SavePointCloud", "SaveAnimatedPNG", "CLIPSave", "VAESave", "ModelSave", "LoraSave", "SaveLatent",
})
RUN_WIDGET_REPLACE = "Run widget replace on values"  # PrimitiveNode property
# Nodes the frontend's 3D extensions give extra viewer widgets (saved in widgets_values, some sent).
FRONTEND_3D_NODES = frozenset({"Load3D", "Load3DAdvanced", "Preview3D", "Preview3DAdvanced", "SaveGLB", "Save3DAdvanced",
                               "SaveGaussianSplat", "SavePointCloud"})


class WorkflowError(ValueError):
    """The data is not a UI workflow these helpers can read, or its graph is broken."""


class UnsupportedWorkflowError(WorkflowError):
    """A valid workflow that uses something :func:`to_api_prompt` cannot convert faithfully."""


# --- loading ---------------------------------------------------------------------------------


def load_workflow(path: str | Path) -> dict:
    """Read a UI-format workflow JSON file.

    Raises :class:`WorkflowError` (naming the file and what to do) when it cannot be read,
    is not JSON, or is not a UI workflow, e.g. an API-format prompt written by *Export (API)*.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise WorkflowError(f"{path}: cannot read the file ({error.strerror or error})") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise WorkflowError(f"{path}: not JSON ({error}); give a workflow saved by ComfyUI (Workflow > Save)") from error
    check_ui_workflow(data, str(path))
    return data


def check_ui_workflow(data: Any, source: str = "workflow") -> None:
    """Raise :class:`WorkflowError` unless ``data`` looks like a UI workflow (``nodes`` and ``links`` lists)."""
    if isinstance(data, dict) and data and all(isinstance(v, dict) and "class_type" in v for v in data.values()):
        raise WorkflowError(f"{source}: this is an API-format prompt (Export (API)), not a UI workflow; "
                            "give the workflow saved with Workflow > Save")
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise WorkflowError(f"{source}: not a ComfyUI UI workflow (no 'nodes' list); give a workflow saved with Workflow > Save")
    if data.get("links") is not None and not isinstance(data["links"], list):
        raise WorkflowError(f"{source}: 'links' is not a list; the file is damaged, save the workflow again")
    for index, node in enumerate(data["nodes"]):
        if not isinstance(node, dict) or "id" not in node or "type" not in node:
            raise WorkflowError(f"{source}: nodes[{index}] has no 'id' or 'type'; the file is damaged, save the workflow again")


def load_object_info(source: str | Path, timeout: float = 60.0) -> dict[str, dict]:
    """Node definitions from a saved ``/object_info`` JSON file, or fetched from a server URL.

    ``source`` is a file path, ``http(s)://host:port`` (``/object_info`` is appended) or the
    full ``.../object_info`` URL. Raises :class:`WorkflowError` naming the source on failure.
    """
    text = str(source)
    if text.startswith(("http://", "https://")):
        url = text if urllib.parse.urlparse(text).path.rstrip("/").endswith("object_info") else text.rstrip("/") + "/object_info"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - user-given server URL
                data = json.loads(response.read().decode("utf-8"))
        except (urllib.error.URLError, OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
            raise WorkflowError(f"--object-info {url}: cannot fetch node definitions ({error}); "
                                "is ComfyUI running there?") from error
    else:
        try:
            data = json.loads(Path(text).read_text(encoding="utf-8"))
        except OSError as error:
            raise WorkflowError(f"--object-info {text}: cannot read the file ({error.strerror or error})") from error
        except json.JSONDecodeError as error:
            raise WorkflowError(f"--object-info {text}: not JSON ({error}); save http://<server>/object_info to a file") from error
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "input" in v for v in data.values()):
        raise WorkflowError(f"--object-info {text}: not ComfyUI /object_info data (a dict of node definitions with 'input')")
    return data


# --- node definitions ------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """Tuples to lists, recursively: node classes use tuples where /object_info JSON has lists."""
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def class_definition(node_id: str, node_class: type, display_name: str | None = None) -> dict:
    """One node class's definition in ``/object_info`` format (as ComfyUI 0.29's ``server.node_info``).

    V3 nodes (``comfy_api`` ``ComfyNode``) are described by their own ``GET_NODE_INFO_V1``, as the
    server does; V1 classes by ``INPUT_TYPES`` / ``RETURN_TYPES`` / ``RETURN_NAMES`` / ``OUTPUT_IS_LIST``.
    """
    get_info = getattr(node_class, "GET_NODE_INFO_V1", None)
    if callable(get_info):
        return _jsonable(get_info())
    inputs = node_class.INPUT_TYPES()
    outputs = tuple(getattr(node_class, "RETURN_TYPES", ()))
    info = {
        "input": _jsonable(inputs),
        "input_order": {key: list(value.keys()) for key, value in inputs.items()},
        "is_input_list": getattr(node_class, "INPUT_IS_LIST", False),
        "output": _jsonable(list(outputs)),
        "output_is_list": list(getattr(node_class, "OUTPUT_IS_LIST", [False] * len(outputs))),
        "output_name": list(getattr(node_class, "RETURN_NAMES", outputs)),
        "name": node_id,
        "display_name": display_name or node_id,
        "description": getattr(node_class, "DESCRIPTION", ""),
        "python_module": getattr(node_class, "RELATIVE_PYTHON_MODULE", "nodes"),
        "category": getattr(node_class, "CATEGORY", "sd"),
        "output_node": getattr(node_class, "OUTPUT_NODE", False) is True,
        "has_intermediate_output": getattr(node_class, "HAS_INTERMEDIATE_OUTPUT", False) is True,
    }
    if hasattr(node_class, "OUTPUT_TOOLTIPS"):
        info["output_tooltips"] = _jsonable(node_class.OUTPUT_TOOLTIPS)
    for flag in ("DEPRECATED", "EXPERIMENTAL", "DEV_ONLY"):
        if getattr(node_class, flag, False):
            info[flag.lower()] = True
    if hasattr(node_class, "API_NODE"):
        info["api_node"] = node_class.API_NODE
    info["search_aliases"] = _jsonable(getattr(node_class, "SEARCH_ALIASES", []))
    if hasattr(node_class, "ESSENTIALS_CATEGORY"):
        info["essentials_category"] = node_class.ESSENTIALS_CATEGORY
    return info


def node_definitions(mapping: Mapping[str, type], display_names: Mapping[str, str] | None = None) -> dict[str, dict]:
    """Definitions in ``/object_info`` format for every class of ``mapping`` (node id -> class).

    Works for a pack's ``NODE_CLASS_MAPPINGS`` without ComfyUI and for ComfyUI's in-process
    ``nodes.NODE_CLASS_MAPPINGS`` (V1 and V3 nodes). Like the server, a class whose definition
    fails is logged and left out. ``display_names`` is ``NODE_DISPLAY_NAME_MAPPINGS``.
    """
    definitions = {}
    for node_id, node_class in mapping.items():
        try:
            definitions[node_id] = class_definition(node_id, node_class, (display_names or {}).get(node_id))
        except Exception as error:  # noqa: BLE001 - one broken node must not hide the others (as the server)
            log.error("node %s: cannot build its definition (%s: %s); left out", node_id, type(error).__name__, error)
    return definitions


@dataclass(frozen=True)
class InputSpec:
    """One input of a definition, normalized the way the frontend reads it (its "V2" spec)."""

    name: str
    type: str  # "COMBO" for option lists
    options: dict
    optional: bool
    combo: list | None = None  # the allowed values of a combo

    @property
    def widget_type(self) -> str:
        return self.options.get("widgetType") or self.type

    @property
    def is_widget(self) -> bool:
        """Whether the frontend gives this input a widget (a value in ``widgets_values``)."""
        if self.options.get("forceInput"):
            return False
        widget_type = self.widget_type
        return widget_type in SIMPLE_WIDGET_TYPES or widget_type in COMPLEX_WIDGET_TYPES or widget_type in UPLOAD_TYPES \
            or widget_type == "AUDIO_UI"


def _input_spec(name: str, raw: Any, optional: bool) -> InputSpec:
    raw = list(raw) if isinstance(raw, (list, tuple)) else [raw]
    options = dict(raw[1]) if len(raw) > 1 and isinstance(raw[1], dict) else {}
    if optional and options.get("defaultInput"):  # deprecated spelling of forceInput on optional inputs
        options["forceInput"] = True
    kind = raw[0] if raw else None
    if isinstance(kind, (list, tuple)):
        return InputSpec(name, "COMBO", options, optional, list(kind))
    if kind == "COMBO":
        return InputSpec(name, "COMBO", options, optional, list(options.get("options") or []))
    return InputSpec(name, kind if isinstance(kind, str) else "UNKNOWN", options, optional)


def input_specs(definition: Mapping, node_type: str | None = None) -> list[InputSpec]:
    """The inputs of ``definition`` in the frontend's order (``getOrderedInputSpecs``).

    Required inputs in ``input_order``, then optional ones, then the inputs the frontend's
    extensions add (not in ``input_order``, so last): the ``upload`` button of a node whose
    first media combo is a required image/video input (``Comfy.UploadImage``), ``audioUI`` and
    ``upload`` on audio nodes. Without ``input_order`` (older servers) the extension inputs
    follow the required ones. Hidden inputs are not inputs of the node in the UI: left out.
    """
    node_type = node_type or definition.get("name")
    raw_inputs = definition.get("input") or {}
    required = dict(raw_inputs.get("required") or {})
    optional = dict(raw_inputs.get("optional") or {})
    specs = {name: _input_spec(name, raw, False) for name, raw in required.items()}
    extra: dict[str, InputSpec] = {}
    if node_type in AUDIO_UI_NODES:
        extra["audioUI"] = InputSpec("audioUI", "AUDIO_UI", {}, False)
    audio = specs.get("audio")
    if audio is not None and audio.options.get("audio_upload") is True:
        extra["upload"] = InputSpec("upload", "AUDIOUPLOAD", {}, False)
    media = next((spec for spec in specs.values()
                  if spec.type == "COMBO" and any(spec.options.get(k) is True for k in MEDIA_UPLOAD_OPTIONS)), None)
    if media is not None:
        extra["upload"] = InputSpec("upload", "IMAGEUPLOAD", {**media.options, "imageInputName": media.name}, False)
    specs.update(extra)  # the extensions add these to "required" (after its inputs)
    specs.update({name: _input_spec(name, raw, True) for name, raw in optional.items() if name not in specs})
    order = definition.get("input_order")
    if not order:
        return list(specs.values())
    ordered: list[InputSpec] = []
    for name in order.get("required") or []:
        if name in specs and not specs[name].optional and name not in extra:
            ordered.append(specs[name])
    for name in order.get("optional") or []:
        if name in specs and specs[name].optional:
            ordered.append(specs[name])
    seen = {spec.name for spec in ordered}
    ordered.extend(spec for spec in specs.values() if spec.name not in seen)
    return ordered


def _v2_order(definition: Mapping, node_type: str | None) -> list[InputSpec]:
    """Inputs in the frontend's ``nodeData.inputs`` dict order: required (+ extension inputs), then optional."""
    return input_specs({**definition, "input_order": None}, node_type)


def unsupported_reason(definition: Mapping, node_type: str | None = None) -> str | None:
    """Why the widgets of ``definition`` cannot be mapped by this module, or None when they can."""
    if (node_type or definition.get("name")) in FRONTEND_3D_NODES:
        return "the frontend adds 3D viewer widgets to this node"
    for spec in input_specs(definition, node_type):
        if spec.type in DYNAMIC_INPUT_TYPES:
            return f"input '{spec.name}' is a dynamic {spec.type} input (sockets added in the frontend)"
        if spec.is_widget and spec.widget_type in COMPLEX_WIDGET_TYPES:
            return f"input '{spec.name}' is a {spec.widget_type} widget (a composite frontend widget)"
    return None


def output_types(definition: Mapping) -> list[str]:
    """The output types of a definition as the frontend types its output slots (lists -> ``COMBO``)."""
    types = []
    for kind in definition.get("output") or []:
        if isinstance(kind, (list, tuple)):
            types.append("COMBO")
        elif kind == MATCH_TYPE:
            types.append("*")
        else:
            types.append(str(kind))
    return types


# --- widgets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WidgetSlot:
    """One widget of a node in the frontend's order.

    ``kind`` is ``"input"`` (the widget of input ``input_name``), ``"control"`` (the
    control_after_generate value after it), ``"filter"`` (a combo's control filter list),
    ``"upload"`` (the upload button) or ``"ui"`` (a display widget). ``saved``: it has a value in
    ``widgets_values``; ``sent``: its value goes to the API prompt.
    """

    name: str
    input_name: str
    kind: str
    spec: InputSpec
    default: Any
    saved: bool = True
    sent: bool = False

    @property
    def key(self) -> str:
        """A name unique within the node: the input name, or ``<input>.<name>`` for the extra slots."""
        return self.input_name if self.kind == "input" else f"{self.input_name}.{self.name}"


def _widget_default(spec: InputSpec) -> Any:
    options = spec.options
    widget_type = spec.widget_type
    if widget_type == "COMBO":
        if options.get("multi_select"):
            return options.get("default", [])
        if "default" in options:
            return options["default"]
        return spec.combo[0] if spec.combo else None
    if widget_type in ("INT", "FLOAT"):
        return options.get("default", 0)
    if widget_type == "BOOLEAN":
        return options.get("default", False)
    if widget_type in ("STRING", "MARKDOWN", "TEXTAREA"):
        return options.get("default", "")
    return options.get("default")


def _control_slots(spec: InputSpec) -> list[WidgetSlot]:
    """The value-control widgets the frontend adds after a widget (``addValueControlWidget(s)``)."""
    setting = spec.options.get("control_after_generate")
    widget_type = spec.widget_type
    if widget_type == "INT":
        wanted = setting if setting is not None else spec.name in ("seed", "noise_seed")
        default = setting if isinstance(setting, str) else "randomize"
    elif widget_type == "FLOAT":
        wanted, default = setting, "fixed"
    elif widget_type == "COMBO":
        wanted = setting
        fallback = "fixed" if spec.options.get("multi_select") else "randomize"
        default = setting if isinstance(setting, str) else fallback
    else:
        return []
    if not wanted:
        return []
    slots = [WidgetSlot("control_after_generate", spec.name, "control", spec, default)]
    if widget_type == "COMBO":
        slots.append(WidgetSlot("control_filter_list", spec.name, "filter", spec, ""))
    return slots


def widget_slots(definition: Mapping, node_type: str | None = None) -> list[WidgetSlot]:
    """Every widget of a node of ``definition``, in the frontend's order, with the extra slots.

    Raises :class:`UnsupportedWorkflowError` for definitions :func:`unsupported_reason` rejects.
    """
    node_type = node_type or definition.get("name")
    reason = unsupported_reason(definition, node_type)
    if reason:
        raise UnsupportedWorkflowError(f"{node_type}: {reason}; its widget values cannot be mapped")
    slots: list[WidgetSlot] = []
    for spec in input_specs(definition, node_type):
        if not spec.is_widget:
            continue
        if spec.widget_type in UPLOAD_TYPES:
            default = "image" if spec.widget_type == "IMAGEUPLOAD" else ""
            slots.append(WidgetSlot("upload", spec.name, "upload", spec, default))
        elif spec.widget_type == "AUDIO_UI":
            slots.append(WidgetSlot(spec.name, spec.name, "ui", spec, None, saved=False))
        else:
            slots.append(WidgetSlot(spec.name, spec.name, "input", spec, _widget_default(spec), sent=True))
            slots.extend(_control_slots(spec))
    return slots


def widget_names(definition: Mapping, node_type: str | None = None) -> list[str]:
    """The widget names of ``definition`` in the frontend's order, with the extra slots
    (``control_after_generate`` after a seed, ``upload`` last on image loaders, ...)."""
    return [slot.name for slot in widget_slots(definition, node_type)]


def _migrate_force_inputs(definition: Mapping, node_type: str, slots: list[WidgetSlot], values: list) -> list:
    """The frontend's ``migrateWidgetsValues``: drop values saved for inputs that became ``forceInput``."""
    names = {slot.name for slot in slots}
    flags: list[bool] = []
    for spec in _v2_order(definition, node_type):
        if spec.name in names or spec.options.get("forceInput"):
            force = bool(spec.options.get("forceInput"))
            flags.extend([force, False] if spec.options.get("control_after_generate") else [force])
    if any(flags) and len(flags) == len(values):
        return [value for value, force in zip(values, flags) if not force]
    return values


def assign_widget_values(node: Mapping, definition: Mapping, slots: list[WidgetSlot]) -> tuple[dict[str, Any], list]:
    """:attr:`WidgetSlot.key` -> value of every slot of ``slots`` (from :func:`widget_slots`) as the
    frontend loads them (``LGraphNode.configure`` then ``loadGraphData``'s fixes), and the saved
    values no widget took."""
    node_type = node.get("type")
    saved = node.get("widgets_values")
    values: dict[str, Any] = {slot.key: slot.default for slot in slots}
    unused: list = []
    if isinstance(saved, dict):  # some packs save {widget name: value}
        for slot in slots:
            if slot.saved and slot.name in saved:
                values[slot.key] = saved[slot.name]
    elif isinstance(saved, list):
        saved = _migrate_force_inputs(definition, node_type, slots, saved)
        position = 0
        for slot in slots:
            if not slot.saved:
                continue
            if position >= len(saved):
                break
            values[slot.key] = saved[position]
            position += 1
        unused = list(saved[position:])
    # What loadGraphData fixes after configure.
    for slot in slots:
        value = values[slot.key]
        if node_type in ("KSampler", "KSamplerAdvanced"):
            if slot.name == "sampler_name" and isinstance(value, str) and value.startswith("sample_"):
                values[slot.key] = value[len("sample_"):]
            if slot.kind == "control" and isinstance(value, bool):
                values[slot.key] = "randomize" if value else "fixed"
        if slot.kind == "input" and slot.spec.widget_type == "COMBO" and value is None and slot.spec.combo:
            values[slot.key] = slot.spec.combo[0]
    return values, unused


def widget_values(node: Mapping, definition: Mapping, *, extras: bool = False) -> dict[str, Any]:
    """Input name -> value of a node's widgets, mapped from its ``widgets_values`` as the frontend does.

    Values are taken in widget order (the control value after a seed and the upload button
    of image loaders take a value each); missing trailing values, as a workflow saved by an
    older version of the node has, take the widget defaults; ``widgets_values`` saved as a
    dict is read by name. With ``extras`` the extra slots are included under
    ``<input>.control_after_generate``, ``<input>.control_filter_list`` and ``<input>.upload``.
    """
    slots = widget_slots(definition, node.get("type"))
    values, _ = assign_widget_values(node, definition, slots)
    return {slot.key: values[slot.key] for slot in slots if slot.saved and (extras or slot.kind == "input")}


def unused_widget_values(node: Mapping, definition: Mapping) -> list:
    """Saved widget values beyond the definition's widgets (the frontend ignores them)."""
    return assign_widget_values(node, definition, widget_slots(definition, node.get("type")))[1]


# --- types -----------------------------------------------------------------------------------


def frontend_types_match(type_a: Any, type_b: Any) -> bool:
    """LiteGraph's ``isValidConnection``: ``*``/empty match anything; case-insensitive; comma unions overlap."""
    a = 0 if type_a in ("", "*") else type_a
    b = 0 if type_b in ("", "*") else type_b
    if not a or not b or a == b:
        return True
    a, b = str(a).lower(), str(b).lower()
    if "," not in a and "," not in b:
        return a == b
    return any(frontend_types_match(x, y) for x in a.split(",") for y in b.split(","))


def server_types_match(received: Any, expected: Any) -> bool:
    """ComfyUI's ``validate_node_input`` (non-strict) for a link from an output of type ``received``.

    ``*`` and MatchType accept anything; comma-separated unions must overlap; a combo input
    takes a ``COMBO`` or option-list output.
    """
    if isinstance(expected, (list, tuple)) or expected == "COMBO":
        return received in ("COMBO", "*", MATCH_TYPE) or isinstance(received, (list, tuple))
    if isinstance(received, (list, tuple)):
        return False
    if received == expected:
        return True
    if "*" in (received, expected) or MATCH_TYPE in (received, expected):
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in expected.split(",")}
    return "*" in got or "*" in want or bool(got & want)


# --- the graph -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """One link of the workflow: ``origin_id``'s output ``origin_slot`` to ``target_id``'s input ``target_slot``."""

    id: int
    origin_id: str
    origin_slot: int
    target_id: str
    target_slot: int
    type: Any


@dataclass(frozen=True)
class Socket:
    """An input or output slot of a node as the frontend has it after loading."""

    name: str
    type: Any
    link: int | None = None  # inputs: the link feeding it
    widget: str | None = None  # inputs: the widget it belongs to


def as_link_id(value: Any) -> int | None:
    """A saved link id as an int (None when absent or not a number)."""
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_links(workflow: Mapping) -> dict[int, Link]:
    """Link id -> :class:`Link`, from the array form (version 0.4) or the object form (schema 1)."""
    links: dict[int, Link] = {}
    for raw in workflow.get("links") or []:
        try:
            if isinstance(raw, dict):
                link = Link(int(raw["id"]), str(raw["origin_id"]), int(raw["origin_slot"]), str(raw["target_id"]),
                            int(raw["target_slot"]), raw.get("type"))
            else:
                link = Link(int(raw[0]), str(raw[1]), int(raw[2]), str(raw[3]), int(raw[4]), raw[5] if len(raw) > 5 else None)
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise WorkflowError(f"link {raw!r} is malformed ({error}); the file is damaged, save the workflow again") from error
        links[link.id] = link
    return links


def subgraph_ids(workflow: Mapping) -> set[str]:
    """The ids of the subgraphs the workflow defines (a node whose type is one is a subgraph node)."""
    definitions = workflow.get("definitions") or {}
    return {str(sub.get("id")) for sub in (definitions.get("subgraphs") or []) if isinstance(sub, dict)}


def is_group_node_type(node_type: str) -> bool:
    """Legacy group nodes (``workflow>name``), replaced by subgraphs in the frontend."""
    return node_type.startswith(("workflow>", "workflow/"))


def node_label(node: Mapping, definition: Mapping | None = None) -> str:
    """``node 9 "Title" (Type)``: how messages name a node."""
    title = node_title(node, definition)
    node_type = node.get("type")
    return f'node {node.get("id")} "{title}" ({node_type})' if title != node_type else f"node {node.get('id')} ({node_type})"


def node_title(node: Mapping, definition: Mapping | None = None) -> str:
    """The node's title: its own, else its definition's display name, else its type."""
    return str(node.get("title") or (definition or {}).get("display_name") or node.get("type"))


class WorkflowGraph:
    """A UI workflow with node definitions: the frontend's view of the loaded graph.

    ``definitions`` is ``/object_info`` data; nodes whose type it lacks keep their saved
    sockets (as the frontend keeps a missing node's).
    """

    def __init__(self, workflow: Mapping, definitions: Mapping[str, Mapping]) -> None:
        check_ui_workflow(workflow)
        self.workflow = workflow
        self.definitions = definitions
        self.nodes: dict[str, dict] = {}
        for node in workflow["nodes"]:
            self.nodes[str(node["id"])] = node
        self.links = parse_links(workflow)
        self.subgraphs = subgraph_ids(workflow)
        self._inputs: dict[str, list[Socket]] = {}
        self._outputs: dict[str, list[Socket]] = {}
        self._primitives: dict[tuple[str, str], Any] | None = None

    # nodes

    def definition(self, node: Mapping) -> Mapping | None:
        """The node's definition, or None for frontend-only, subgraph and unknown nodes."""
        node_type = node.get("type")
        if node_type in FRONTEND_ONLY_TYPES or self.is_subgraph(node):
            return None
        return self.definitions.get(node_type)

    def is_subgraph(self, node: Mapping) -> bool:
        return str(node.get("type")) in self.subgraphs

    def is_virtual(self, node: Mapping) -> bool:
        """Frontend-only nodes (reroutes, primitives, notes) and subgraph nodes: never sent themselves."""
        return node.get("type") in FRONTEND_ONLY_TYPES or self.is_subgraph(node)

    @staticmethod
    def mode(node: Mapping) -> int:
        return int(node.get("mode") or MODE_ALWAYS)

    def inputs(self, node: Mapping) -> list[Socket]:
        """The node's input sockets after loading (``ComfyNode.configure``): the definition's
        sockets, then its widget sockets, each with the saved link of the same name, then saved
        inputs the definition lacks."""
        key = str(node.get("id"))
        if key in self._inputs:
            return self._inputs[key]
        saved = [slot for slot in node.get("inputs") or [] if isinstance(slot, dict)]
        definition = self.definition(node)
        if definition is None:
            sockets = [Socket(str(s.get("name")), s.get("type"), as_link_id(s.get("link")),
                              (s.get("widget") or {}).get("name")) for s in saved]
        else:
            by_name = {str(s.get("name")): s for s in saved}
            specs = input_specs(definition, node.get("type"))
            socket_specs = [s for s in specs if not s.is_widget]
            widget_specs = [s for s in specs if s.is_widget and not s.options.get("socketless")]
            sockets = []
            for spec in socket_specs:
                socket_type = "*" if spec.type == MATCH_TYPE else spec.type
                sockets.append(Socket(spec.name, socket_type, as_link_id((by_name.get(spec.name) or {}).get("link"))))
            for spec in widget_specs:
                sockets.append(Socket(spec.name, spec.type, as_link_id((by_name.get(spec.name) or {}).get("link")), spec.name))
            known = {s.name for s in sockets}
            sockets.extend(Socket(str(s.get("name")), s.get("type"), as_link_id(s.get("link")),
                                  (s.get("widget") or {}).get("name"))
                           for s in saved if str(s.get("name")) not in known)
        self._inputs[key] = sockets
        return sockets

    def outputs(self, node: Mapping) -> list[Socket]:
        """The node's output sockets after loading: the definition's (types from it), else the saved ones."""
        key = str(node.get("id"))
        if key in self._outputs:
            return self._outputs[key]
        saved = [slot for slot in node.get("outputs") or [] if isinstance(slot, dict)]
        definition = self.definition(node)
        if definition is None:
            sockets = [Socket(str(s.get("name")), s.get("type")) for s in saved]
        else:
            names = list(definition.get("output_name") or [])
            types = output_types(definition)
            sockets = [Socket(str(names[i]) if i < len(names) else t, t) for i, t in enumerate(types)]
            sockets.extend(Socket(str(s.get("name")), s.get("type")) for s in saved[len(types):])
        self._outputs[key] = sockets
        return sockets

    def input_link(self, node: Mapping, index: int) -> Link | None:
        """The link feeding input ``index`` of ``node``; raises :class:`WorkflowError` if it points nowhere."""
        socket = self.inputs(node)[index]
        if socket.link is None:
            return None
        link = self.links.get(socket.link)
        if link is None:
            raise WorkflowError(f"{node_label(node, self.definition(node))}: input '{socket.name}' refers to link "
                                f"{socket.link}, which the workflow does not have; reconnect the input")
        if link.origin_id not in self.nodes:
            raise WorkflowError(f"{node_label(node, self.definition(node))}: input '{socket.name}' is linked from "
                                f"node {link.origin_id}, which the workflow does not have; reconnect the input")
        return link

    # link resolution (ExecutableNodeDTO.resolveInput / resolveOutput)

    def resolve_input(self, node: Mapping, index: int, type_hint: Any = None,
                      visiting: set | None = None) -> tuple[str, int] | None:
        """Where input ``index`` of ``node`` really comes from: ``(node id, output slot)`` of an active
        node, following reroutes and bypassed nodes, or None (unconnected, muted source, primitive)."""
        visiting = set() if visiting is None else visiting
        marker = (str(node.get("id")), "I", index)
        if marker in visiting:
            raise WorkflowError(f"{node_label(node)}: circular link through input {index}; remove the loop")
        visiting.add(marker)
        link = self.input_link(node, index)
        if link is None:
            return None
        socket = self.inputs(node)[index]
        origin = self.nodes[link.origin_id]
        return self._resolve_output(origin, link.origin_slot, type_hint if type_hint is not None else socket.type, visiting)

    def _resolve_output(self, node: Mapping, slot: int, wanted: Any, visiting: set) -> tuple[str, int] | None:
        marker = (str(node.get("id")), "O", slot)
        if marker in visiting:
            raise WorkflowError(f"{node_label(node)}: circular link through output {slot}; remove the loop")
        visiting.add(marker)
        mode = self.mode(node)
        if mode == MODE_NEVER:
            return None
        if mode == MODE_BYPASS:
            index = self.bypass_input_index(node, slot, wanted)
            return None if index < 0 else self.resolve_input(node, index, None, visiting)
        if self.is_subgraph(node):
            raise UnsupportedWorkflowError(f"{node_label(node)}: subgraphs are not supported; convert it back to nodes")
        if node.get("type") in FRONTEND_ONLY_TYPES:
            if node.get("type") == REROUTE and self.inputs(node) and slot < len(self.inputs(node)):
                return self.resolve_input(node, slot, wanted, visiting)
            return None
        return str(node.get("id")), slot

    def bypass_input_index(self, node: Mapping, slot: int, wanted: Any) -> int:
        """The input a bypassed node passes to its output ``slot`` for a consumer of type ``wanted``
        (``ExecutableNodeDTO._getBypassSlotIndex``): the input at the same index if its type fits
        both, else the first input of exactly that type, else the first that fits both; -1 if none."""
        inputs = self.inputs(node)
        outputs = self.outputs(node)
        if wanted in ("*", ""):
            return slot if len(inputs) > slot else 0
        output_type = outputs[slot].type if slot < len(outputs) else None
        same = inputs[slot] if slot < len(inputs) else None
        if same is not None and frontend_types_match(same.type, output_type) and frontend_types_match(same.type, wanted):
            return slot
        for index, socket in enumerate(inputs):
            if socket.type == wanted:
                return index
        for index, socket in enumerate(inputs):
            if frontend_types_match(socket.type, output_type) and frontend_types_match(socket.type, wanted):
                return index
        return -1

    # widget values

    def primitive_values(self) -> dict[tuple[str, str], Any]:
        """(node id, widget name) -> value that a PrimitiveNode sets on the widgets it is linked to
        (``applyToGraph``, run for every primitive before a prompt is made)."""
        if self._primitives is not None:
            return self._primitives
        values: dict[tuple[str, str], Any] = {}
        for node in self.nodes.values():
            if node.get("type") != PRIMITIVE:
                continue
            saved = node.get("widgets_values")
            if not isinstance(saved, list) or not saved:
                continue
            value = saved[0]
            if value and (node.get("properties") or {}).get(RUN_WIDGET_REPLACE) and isinstance(value, str):
                value = self.apply_text_replacements(value, primitives={})
            for link in self.links.values():
                if link.origin_id != str(node.get("id")) or link.origin_slot != 0 or link.target_id not in self.nodes:
                    continue
                saved_inputs = [s for s in self.nodes[link.target_id].get("inputs") or [] if isinstance(s, dict)]
                slot = next((s for s in saved_inputs if as_link_id(s.get("link")) == link.id), None)
                if slot is None and link.target_slot < len(saved_inputs):
                    slot = saved_inputs[link.target_slot]
                widget = ((slot or {}).get("widget") or {}).get("name")
                if widget:
                    values[(link.target_id, widget)] = value
        self._primitives = values
        return values

    def node_widget_values(self, node: Mapping, primitives: Mapping | None = None) -> dict[str, Any]:
        """Input name -> widget value of a node with a definition, primitive nodes applied."""
        definition = self.definition(node)
        if definition is None or unsupported_reason(definition, node.get("type")):
            return {}
        values = widget_values(node, definition)
        node_id = str(node.get("id"))
        for (target, widget), value in (self.primitive_values() if primitives is None else primitives).items():
            if target == node_id and widget in values:
                values[widget] = value
        return values

    def apply_text_replacements(self, text: str, now: _dt.datetime | None = None, primitives: Mapping | None = None) -> str:
        """The frontend's ``applyTextReplacements``: ``%date:FORMAT%`` and ``%Node.widget%`` in ``text``
        (``%Node.widget%``: the widget's value, primitive nodes applied unless ``primitives`` says otherwise)."""
        now = now or _dt.datetime.now()

        def replace(match: re.Match) -> str:
            parts = match.group(1).split(".")
            if len(parts) != 2:
                return format_date(parts[0][5:], now) if parts[0].startswith("date:") else match.group(0)
            wanted, widget = parts
            found = [n for n in self.nodes.values() if (n.get("properties") or {}).get("Node name for S&R") == wanted]
            if not found:
                found = [n for n in self.nodes.values() if node_title(n, self.definition(n)) == wanted]
            if not found:
                return match.group(0)
            values = self.node_widget_values(found[0], primitives) if self.definition(found[0]) else {}
            if widget not in values:
                return match.group(0)
            return re.sub(r'[/?<>\\:*|"\x00-\x1F\x7F]', "_", _js_string(values[widget]))

        return re.sub(r"%([^%]+)%", replace, text)

    # order

    def execution_order(self) -> list[dict]:
        """Nodes in LiteGraph's ``computeExecutionOrder``: sources first, then in link order; the
        rest (cycles) after, by id."""
        remaining: dict[str, int] = {}
        queue: list[dict] = []
        for node in self.nodes.values():
            count = sum(1 for slot in node.get("inputs") or [] if isinstance(slot, dict) and slot.get("link") is not None)
            if count == 0:
                queue.append(node)
            else:
                remaining[str(node["id"])] = count
        order: list[dict] = []
        placed: set[str] = set()
        visited_links: set[int] = set()
        while queue:
            node = queue.pop(0)
            order.append(node)
            placed.add(str(node["id"]))
            for output in node.get("outputs") or []:
                for link_id in (output or {}).get("links") or []:
                    link = self.links.get(as_link_id(link_id))
                    if link is None or link.id in visited_links:
                        continue
                    visited_links.add(link.id)
                    if link.target_id not in self.nodes:
                        continue
                    remaining[link.target_id] = remaining.get(link.target_id, 0) - 1
                    if remaining[link.target_id] == 0:
                        queue.append(self.nodes[link.target_id])
        rest = [node for key, node in self.nodes.items() if key not in placed]
        rest.sort(key=lambda n: (0, int(n["id"])) if str(n["id"]).isdigit() else (1, str(n["id"])))
        return order + rest


def _js_string(value: Any) -> str:
    """``String(value)`` as JavaScript writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_DATE_PARTS = {"d": lambda t: t.day, "M": lambda t: t.month, "h": lambda t: t.hour, "m": lambda t: t.minute,
               "s": lambda t: t.second}


def format_date(pattern: str, now: _dt.datetime) -> str:
    """The frontend's ``formatDate``: ``yyyy``, ``yy``, ``MM``/``M``, ``dd``/``d``, ``hh``/``h``, ``mm``/``m``, ``ss``/``s``."""

    def replace(match: re.Match) -> str:
        token = match.group(0)
        if token == "yy":
            return str(now.year)[2:]
        if token == "yyyy":
            return str(now.year)
        if token[0] in _DATE_PARTS:
            return str(_DATE_PARTS[token[0]](now)).rjust(len(token), "0")
        return token

    return re.sub(r"dd?|MM?|hh?|mm?|ss?|yyy?y?", replace, pattern)


def process_dynamic_prompt(text: str, rng: random.Random | None = None) -> str:
    """The frontend's ``processDynamicPrompt`` (for STRING widgets with ``dynamicPrompts``):
    ``//`` and ``/* */`` comments removed, ``{a|b|c}`` replaced by one choice, ``\\{`` escapes kept."""
    rng = rng or random
    text = re.sub(r"/\*[\s\S]*?\*/|//.*", "", text)
    position = 0

    def escape() -> str:
        nonlocal position
        char = text[position] if position < len(text) else ""
        position += 1
        return "\\" + char

    def choice_block() -> str:
        nonlocal position
        choices, current, depth = [], "", 0
        while position < len(text):
            char = text[position]
            position += 1
            if char == "\\":
                current += escape()
                continue
            if char == "{":
                depth += 1
            elif char == "}":
                if not depth:
                    break
                depth -= 1
            elif char == "|" and not depth:
                choices.append(current)
                current = ""
                continue
            current += char
        choices.append(current)
        return process_dynamic_prompt(choices[rng.randrange(len(choices))], rng)

    out = ""
    while position < len(text):
        char = text[position]
        position += 1
        if char == "\\":
            out += escape()
        elif char == "{":
            out += choice_block()
        else:
            out += char
    return re.sub(r"\\([{}|])", r"\1", out)


# --- API format ------------------------------------------------------------------------------


def to_api_prompt(workflow: Mapping, definitions: Mapping[str, Mapping], *, rng: random.Random | None = None,
                  now: _dt.datetime | None = None) -> dict[str, dict]:
    """The API-format prompt the frontend's ``graphToPrompt`` makes of ``workflow``.

    Every active node becomes ``{"class_type", "inputs", "_meta": {"title"}}``: its widget values
    by name (control and upload slots left out, list values wrapped as ``{"__value__": [...]}``),
    then its linked inputs as ``[origin_id, slot]``. Muted nodes (mode 2) are left out and so
    are inputs they feed; bypassed nodes (mode 4) are left out and their consumers linked to the
    bypassed node's input of a matching type; reroutes are followed; primitive nodes set the
    widgets they are linked to; notes are dropped. Text with ``{a|b}`` in a ``dynamicPrompts``
    widget gets one choice (``rng``), a save node's ``filename_prefix`` its ``%date:...%`` /
    ``%Node.widget%`` replacements (``now``), as the frontend does on queue.

    Raises :class:`UnsupportedWorkflowError` for subgraphs, group nodes, node types not in
    ``definitions`` and definitions :func:`unsupported_reason` rejects, and
    :class:`WorkflowError` for links to missing nodes or links.
    """
    graph = WorkflowGraph(workflow, definitions)
    for node in graph.nodes.values():
        node_type = str(node.get("type"))
        if is_group_node_type(node_type):
            raise UnsupportedWorkflowError(f"{node_label(node)}: legacy group nodes are not supported; "
                                           "convert it to nodes (or to a subgraph) in ComfyUI")
        if graph.is_subgraph(node) and graph.mode(node) not in (MODE_NEVER, MODE_BYPASS):
            raise UnsupportedWorkflowError(f"{node_label(node)}: subgraphs are not supported; "
                                           "unpack the subgraph (right click > Unpack Subgraph) and save again")
    primitives = graph.primitive_values()
    prompt: dict[str, dict] = {}
    for node in graph.execution_order():
        if graph.is_virtual(node) or graph.mode(node) in (MODE_NEVER, MODE_BYPASS):
            continue
        node_type = str(node.get("type"))
        definition = definitions.get(node_type)
        if definition is None:
            raise UnsupportedWorkflowError(f"{node_label(node)}: node type {node_type} is not in the node definitions; "
                                           "install the pack that provides it (or mute the node)")
        slots = widget_slots(definition, node_type)
        values, _ = assign_widget_values(node, definition, slots)
        node_id = str(node.get("id"))
        inputs: dict[str, Any] = {}
        for slot in slots:
            if not slot.sent:
                continue
            value = primitives.get((node_id, slot.name), values[slot.key])
            if isinstance(value, str) and slot.spec.options.get("dynamicPrompts") is True:
                value = process_dynamic_prompt(value, rng)
            if isinstance(value, str) and slot.name == "filename_prefix" and node_type in TEXT_REPLACEMENT_NODES:
                value = graph.apply_text_replacements(value, now, primitives)
            inputs[slot.name] = {"__value__": value} if isinstance(value, list) else value
        for index, socket in enumerate(graph.inputs(node)):
            source = graph.resolve_input(node, index)
            if source is not None:
                inputs[socket.name] = [source[0], source[1]]
        prompt[node_id] = {"inputs": inputs, "class_type": node_type,
                           "_meta": {"title": node_title(node, definition)}}
    for entry in prompt.values():
        for name, value in list(entry["inputs"].items()):
            if isinstance(value, list) and len(value) == 2 and value[0] not in prompt:
                del entry["inputs"][name]
    return prompt


__all__ = [
    "COMBO_CONTROL_VALUES", "CONTROL_VALUES", "FRONTEND_ONLY_TYPES", "InputSpec", "Link", "MODE_BYPASS", "MODE_NEVER",
    "Socket", "UnsupportedWorkflowError", "as_link_id", "WidgetSlot", "WorkflowError", "WorkflowGraph", "check_ui_workflow",
    "assign_widget_values", "class_definition", "frontend_types_match", "input_specs", "load_object_info", "load_workflow", "node_definitions",
    "node_label", "node_title", "output_types", "parse_links", "process_dynamic_prompt", "server_types_match",
    "to_api_prompt", "unsupported_reason", "unused_widget_values", "widget_names", "widget_slots", "widget_values",
]
