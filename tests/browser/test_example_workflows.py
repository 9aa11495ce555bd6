"""Every ``example_workflows/*.json`` in ComfyUI's real frontend (headless Chromium).

For each example: the file loads through the frontend's *Open* path with no missing node
type, no missing model or input file, and no widget value its widget rejects; what the
frontend would save (``app.rootGraph.serialize()``) has the file's node types, links and
``widgets_values`` (so the files stay in the frontend's own format; a node saved by an older
version may store fewer values, and the frontend must append exactly the newer widgets'
defaults); queueing it with the
*Run* button passes the server's validation and the prompt finishes with status success in
``/history``. Screenshots of the loaded graph and of the output nodes go to the artifacts
folder; with ``ADT_UPDATE_PREVIEWS=1`` the loaded-graph screenshot becomes the example's
preview, ``example_workflows/<stem>.png``, and its template-browser thumbnail ``<stem>.jpg``.

An example whose spec gives a ``not_queued`` reason (``example_workflows_spec.py``; the test id
ends in ``-load_only``) gets every load check, and, in place of the server's validation at queue
time, ``tools/validate_workflow.py`` against the server's ``/object_info``; it is not queued, and
the reason is printed in the tier's summary. The Wan examples (2.1, 2.2 image to video) are such: running them
needs the real umT5-XXL text encoder, which no test can make; so is the SAM3 example: ComfyUI builds SAM3 at full
size whatever its file holds. The scratch ComfyUI lists an empty placeholder under each name (``NAME_ONLY_MODELS`` in
``comfy_browser.py``).

The checks are shown able to fail: a workflow with an unknown node type is reported missing
(by LiteGraph's registry and by the frontend's own missing-nodes store) and rejected by the
server; a combo value not in its list is reported; a model file name the server does not
list is reported missing; a file whose ``widgets_values`` the frontend would save differently
is reported.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import template_thumbnails  # tools/
import validate_workflow  # tools/
from example_workflows_spec import all_specs

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES_DIR = REPO_ROOT / "example_workflows"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.json"))
RUN_TIMEOUT = 1200.0  # seconds for one example on two shared CPU cores
UNKNOWN_TYPE = "AnimateDiffDetailer_NoSuchNode"
# Examples loaded and checked but not queued: file stem -> why.
NOT_QUEUED = {spec.name: spec.not_queued for spec in all_specs() if spec.not_queued}


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


# --- a small UI-format workflow for the negative checks -------------------------------------


def _node(node_id: int, node_type: str, x: int, inputs: list, outputs: list, widgets_values: list | None) -> dict:
    return {"id": node_id, "type": node_type, "pos": [x, 0], "size": [260, 120], "flags": {}, "order": node_id - 1,
            "mode": 0, "inputs": inputs, "outputs": outputs, "properties": {"Node name for S&R": node_type},
            "widgets_values": widgets_values}


def _in(name: str, kind: str, link: int | None, widget: bool = False) -> dict:
    slot = {"name": name, "type": kind, "link": link}
    if widget:
        slot["widget"] = {"name": name}
    return slot


def _out(name: str, kind: str, links: list[int] | None) -> dict:
    return {"name": name, "type": kind, "links": links}


def small_workflow() -> dict:
    """LoadImage (the demo clip) -> ImageToMask -> ThresholdMask -> MaskToImage -> PreviewImage,
    in the frontend's 0.4 format (core nodes only)."""
    nodes = [
        _node(1, "LoadImage", 0, [_in("image", "COMBO", None, True), _in("upload", "IMAGEUPLOAD", None, True)],
              [_out("IMAGE", "IMAGE", [1]), _out("MASK", "MASK", None)],
              ["animatediff_detailer_example.webp", "image"]),
        _node(2, "ImageToMask", 320, [_in("image", "IMAGE", 1), _in("channel", "COMBO", None, True)],
              [_out("MASK", "MASK", [2])], ["green"]),
        _node(3, "ThresholdMask", 640, [_in("mask", "MASK", 2), _in("value", "FLOAT", None, True)],
              [_out("MASK", "MASK", [3])], [0.5]),
        _node(4, "MaskToImage", 960, [_in("mask", "MASK", 3)], [_out("IMAGE", "IMAGE", [4])], []),
        _node(5, "PreviewImage", 1280, [_in("images", "IMAGE", 4)], [], []),
    ]
    links = [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "MASK"], [3, 3, 0, 4, 0, "MASK"], [4, 4, 0, 5, 0, "IMAGE"]]
    return {"id": "00000000-0000-0000-0000-000000000000", "revision": 0, "last_node_id": 5, "last_link_id": 4,
            "nodes": nodes, "links": links, "groups": [], "config": {}, "extra": {}, "version": 0.4}


def _node_by_id(workflow: dict, node_id: int) -> dict:
    return next(node for node in workflow["nodes"] if node["id"] == node_id)


# --- the examples -----------------------------------------------------------------------------


def _example_params():
    if not EXAMPLES:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no {EXAMPLES_DIR.name}/*.json yet"), id="none")]
    return [pytest.param(path, id=f"{path.stem}-load_only" if path.stem in NOT_QUEUED else path.stem)
            for path in EXAMPLES]


@pytest.mark.parametrize("workflow_path", _example_params())
def test_example_workflow_loads_and_runs(workflow_path, cb, comfy_server, comfy_page, artifacts_dir,
                                         update_previews, timings, notes):
    stem = workflow_path.stem
    saved = json.loads(workflow_path.read_text())

    started = time.perf_counter()
    comfy_page.load_workflow(workflow_path)
    report = comfy_page.load_report()
    serialized = comfy_page.serialize()
    _write_json(artifacts_dir / f"{stem}.serialized.json", serialized)
    graph_png = comfy_page.screenshot(artifacts_dir / f"{stem}.graph.png")
    timings.append((f"{stem}: load, checks, screenshot", time.perf_counter() - started))

    assert not report.missing_node_types, f"{stem}: node types the frontend does not know: {report.missing_node_types}"
    assert not report.problems(), f"{stem}: the frontend reports:\n" + "\n".join(report.problems())
    # An older save (Impact's detailer before noise_mask_feather) stores fewer values: the
    # frontend must keep every stored value in place and add only the newer widgets' defaults.
    differences = cb.graph_differences(saved, serialized, cb.saved_widget_defaults(comfy_server.object_info()))
    assert not differences, (f"{stem}: the file is not what the frontend would save "
                             f"(see {stem}.serialized.json in the artifacts):\n" + "\n".join(differences))

    if stem in NOT_QUEUED:
        report = validate_workflow.validate(saved, object_info=comfy_server.object_info(), source=stem,
                                            object_info_source=comfy_server.url)
        assert report.ok and not report.warnings, validate_workflow.format_report(report)
        notes.append(f"{stem}: loaded and checked, not queued: {NOT_QUEUED[stem]}")
    else:
        _queue_to_success(stem, cb, comfy_server, comfy_page, artifacts_dir, timings)

    if update_previews:
        shutil.copyfile(graph_png, workflow_path.with_suffix(".png"))
        template_thumbnails.make_thumbnail(graph_png, workflow_path.with_suffix(".jpg"))


def _queue_to_success(stem, cb, comfy_server, comfy_page, artifacts_dir, timings) -> None:
    """Queue the loaded example with the *Run* button; the server accepts it and it finishes with
    success, its output nodes showing their images."""
    started = time.perf_counter()
    queued = comfy_page.queue(via="button")
    assert queued.status == 200 and queued.prompt_id and not queued.node_errors, (
        f"{stem}: the server rejected the prompt: error={json.dumps(queued.error)} "
        f"node_errors={json.dumps(queued.node_errors, indent=1)}")
    entry = comfy_server.wait_for_history(queued.prompt_id, timeout=RUN_TIMEOUT)
    _write_json(artifacts_dir / f"{stem}.history.json", entry)
    timings.append((f"{stem}: queued run to history", time.perf_counter() - started))
    outputs = cb.output_node_ids(entry)
    shown = comfy_page.wait_for_images(outputs) if outputs else False
    comfy_page.screenshot(artifacts_dir / f"{stem}.result.png", outputs or None)

    error = cb.history_error(entry)
    assert error is None, f"{stem}: the prompt failed: {error}"
    assert outputs, f"{stem}: no node produced an image (history outputs: {list(entry.get('outputs') or {})})"
    assert shown, f"{stem}: the output nodes {outputs} never showed their images in the frontend"


# --- the checks can fail ----------------------------------------------------------------------


def test_small_workflow_is_clean(cb, comfy_page):
    """The negative tests' base workflow itself loads cleanly and round-trips unchanged."""
    workflow = small_workflow()
    comfy_page.load_workflow(workflow)
    report = comfy_page.load_report()
    assert report.problems() == []
    assert cb.graph_differences(workflow, comfy_page.serialize()) == []


def test_unknown_node_type_is_reported_missing(cb, comfy_page, artifacts_dir):
    workflow = small_workflow()
    _node_by_id(workflow, 2)["type"] = UNKNOWN_TYPE
    comfy_page.load_workflow(workflow)
    report = comfy_page.load_report()
    comfy_page.screenshot(artifacts_dir / "unknown_node_type.graph.png")

    assert report.unregistered_types == [UNKNOWN_TYPE]
    assert [entry.get("type") for entry in report.missing_nodes] == [UNKNOWN_TYPE], (
        "the frontend's missing-nodes store did not list the unknown type")
    assert report.missing_node_types == [UNKNOWN_TYPE]

    queued = comfy_page.queue(via="app")
    assert queued.status == 400 and not queued.prompt_id
    assert (queued.error or {}).get("type") == "missing_node_type", queued.body


def test_rejected_combo_value_is_reported(comfy_page):
    workflow = small_workflow()
    _node_by_id(workflow, 1)["widgets_values"][0] = "not_in_the_input_folder.webp"
    _node_by_id(workflow, 2)["widgets_values"] = ["purple"]
    comfy_page.load_workflow(workflow)
    report = comfy_page.load_report()

    rejected = {(w["node"], w["widget"]) for w in report.rejected_widgets}
    assert rejected == {("1", "image"), ("2", "channel")}, report.rejected_widgets
    assert [m.get("name") for m in report.missing_media] == ["not_in_the_input_folder.webp"], report.missing_media

    queued = comfy_page.queue(via="app")
    assert queued.status == 400 and set(queued.node_errors) == {"1", "2"}, queued.body


def test_file_not_in_frontend_format_is_reported(cb, comfy_page):
    """A file with one widget value more than the node has differs from what the frontend saves."""
    workflow = small_workflow()
    _node_by_id(workflow, 3)["widgets_values"] = [0.5, "stray"]
    comfy_page.load_workflow(workflow)
    differences = cb.graph_differences(workflow, comfy_page.serialize())
    assert any("node 3 (ThresholdMask): widgets_values" in line for line in differences), differences


def test_a_model_file_not_on_the_server_is_reported_missing(comfy_page):
    """The missing-model check is a check of names: the Wan 2.1 example passes it for its text
    encoder through the placeholder the scratch ComfyUI lists under that name; a name the server
    does not list is reported missing (and its combo value rejected)."""
    workflow = json.loads((EXAMPLES_DIR / "video_detailer_wan21.json").read_text())
    loader = next(node for node in workflow["nodes"] if node["type"] == "CLIPLoader")
    loader["widgets_values"][0] = "umt5_xxl_not_on_this_server.safetensors"
    comfy_page.load_workflow(workflow)
    report = comfy_page.load_report()

    assert [m.get("name") for m in report.missing_models] == ["umt5_xxl_not_on_this_server.safetensors"], (
        report.missing_models)
    assert {(w["node"], w["widget"]) for w in report.rejected_widgets} == {(str(loader["id"]), "clip_name")}
