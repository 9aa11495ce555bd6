"""Run one scenario in a fresh process: boot ComfyUI with a given set of packs, inspect node ids, run a graph.

ComfyUI keeps its node registry in module globals, so a scenario with another set of
installed packs (e.g. "Impact Pack absent") cannot share the test session's process.

    python comfy_runner.py SCENARIO.json RESULT.json

SCENARIO: ``comfy_path``, ``work_dir``, ``packs`` (link name -> folder), ``model_dirs`` (model folder kind -> folders),
``inspect_ids`` (node ids to describe), ``graph`` (API prompt; a node may carry
``"_alternatives": [class_type, ...]`` used in order when its class_type is not
registered), ``validate_only`` (prompts to validate without running), ``fetch``
(``{name: [node_id, slot]}`` outputs to save with torch.save).
RESULT: JSON describing all of it (with ``output_files``: what output nodes such as SaveImage
wrote to the output folder); saved tensors go to ``work_dir``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from comfy_harness import ComfyHarness  # noqa: E402


def describe_class(harness: ComfyHarness, node_id: str) -> dict:
    if not harness.has_node(node_id):
        return {"registered": False}
    cls = harness.node_class(node_id)
    types = cls.INPUT_TYPES()
    optional = types.get("optional", {})
    return {
        "registered": True,
        "class_name": cls.__name__,
        "module": cls.__module__,
        "relative_python_module": getattr(cls, "RELATIVE_PYTHON_MODULE", None),
        "category": getattr(cls, "CATEGORY", None),
        "mro": [k.__name__ for k in cls.__mro__],
        "required": list(types.get("required", {})),
        "optional": list(optional),
        "optional_defaults": {k: (v[1].get("default") if len(v) > 1 and isinstance(v[1], dict) else None)
                              for k, v in optional.items()},
        "return_types": list(getattr(cls, "RETURN_TYPES", ())),
        "display_name": harness.nodes.NODE_DISPLAY_NAME_MAPPINGS.get(node_id),
    }


def resolve_alternatives(harness: ComfyHarness, graph: dict) -> tuple[dict, dict, list]:
    substitutions, missing = {}, []
    for node_id, node in graph.items():
        alternatives = node.pop("_alternatives", [])
        if harness.has_node(node["class_type"]):
            continue
        chosen = next((alt for alt in alternatives if harness.has_node(alt)), None)
        if chosen is None:
            missing.append(node["class_type"])
        else:
            substitutions[node_id] = [node["class_type"], chosen]
            node["class_type"] = chosen
    return graph, substitutions, missing


def summarize(value) -> object:
    try:
        import torch
    except ImportError:  # pragma: no cover - the runner always has torch
        torch = None
    if torch is not None and isinstance(value, torch.Tensor):
        return {"tensor": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], list):  # SEGS
        return {"segs_header": list(value[0]), "segs": [
            {"crop_region": [int(v) for v in seg.crop_region], "bbox": [int(v) for v in seg.bbox],
             "cropped_image": None if seg.cropped_image is None else list(seg.cropped_image.shape),
             "cropped_mask": list(seg.cropped_mask.shape)} for seg in value[1]]}
    return repr(value)[:200]


def plain(value) -> object:
    """A SEGS as plain dicts and tensors (the SEG class lives in a pack module the test process cannot import)."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], list):
        return {"header": list(value[0]), "segs": [
            {"crop_region": [int(v) for v in seg.crop_region], "bbox": [int(v) for v in seg.bbox],
             "cropped_image": seg.cropped_image, "cropped_mask": seg.cropped_mask, "label": seg.label}
            for seg in value[1]]}
    return value


def main(spec_path: str, result_path: str) -> int:
    with open(spec_path) as f:
        spec = json.load(f)
    result: dict = {"ok": False}
    try:
        harness = ComfyHarness(spec["comfy_path"], spec["work_dir"], spec["packs"], spec.get("model_dirs", {}))
        harness.boot()
        result["boot_seconds"] = harness.boot_seconds
        result["loaded_packs"] = sorted(harness.loaded_pack_dirs())
        result["import_failures"] = harness.import_failures()
        result["nodes"] = {node_id: describe_class(harness, node_id) for node_id in spec.get("inspect_ids", [])}
        result["replacements_registered"] = sorted(harness.server.node_replace_manager._replacements)

        result["validate_only"] = []
        for prompt in spec.get("validate_only", []):
            # as the server does: the packs' prompt handlers and node replacements come first
            prompt = harness.prepare_prompt(prompt)
            prompt, substitutions, missing = resolve_alternatives(harness, prompt)
            if missing:
                result["validate_only"].append({"missing": missing})
                continue
            valid, error, outputs, node_errors = harness.validate(prompt)
            result["validate_only"].append({"valid": valid, "error": error, "node_errors": node_errors,
                                            "substitutions": substitutions})

        graph = spec.get("graph")
        if graph:
            graph, substitutions, missing = resolve_alternatives(harness, graph)
            result["substitutions"] = substitutions
            result["missing_nodes"] = missing
            if not missing:
                run = harness.run(graph, check=False)
                result["run"] = {"valid": run.valid, "success": run.success, "interrupted": run.interrupted,
                                 "failure": None if run.success else run.describe_failure(), "seconds": run.seconds,
                                 "class_types": {k: v["class_type"] for k, v in graph.items()}}
                saved = {}
                if run.success:
                    import torch

                    for name, (node_id, slot) in spec.get("fetch", {}).items():
                        value = run.outputs[node_id][slot]
                        path = os.path.join(spec["work_dir"], f"{name}.pt")
                        torch.save(plain(value), path)
                        saved[name] = {"path": path, "summary": summarize(value)}
                result["saved"] = saved
                output_dir = os.path.join(spec["work_dir"], "output")  # the harness's output folder
                result["output_files"] = sorted(
                    os.path.relpath(os.path.join(root, name), output_dir)
                    for root, _dirs, names in os.walk(output_dir) for name in names)
        result["ok"] = True
    except BaseException as error:  # report everything to the test, which shows it
        result["exception"] = "".join(traceback.format_exception(error))
    with open(result_path, "w") as f:
        json.dump(result, f, indent=1, default=repr)
    sys.stdout.flush()
    sys.stderr.flush()
    # Packs may leave non-daemon threads behind (Impact's wildcard loader); do not wait for them.
    os._exit(0)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        raise SystemExit(2)
    main(sys.argv[1], sys.argv[2])
