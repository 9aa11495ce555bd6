"""Build the example workflows in ComfyUI's real frontend and save what it serializes.

Each graph of ``example_workflows_spec.py`` is created node by node with the frontend's own
LiteGraph API (create, set widgets by name, connect), then ``app.graph.serialize()`` is written
to ``example_workflows/<name>.json``: the files are exactly what the frontend saves. The Impact
example is then given the shape of an older save (docs/BEHAVIOUR.md §2): its detailer stores only the
widget values Impact Pack had before ``noise_mask_feather``.

Needs a running ComfyUI with this pack (``--url``), or ``COMFYUI_PATH`` to start one, and
Chromium with playwright (see tests/browser). Run with the ComfyUI environment's python:

    COMFYUI_PATH=~/ComfyUI python tests/browser/make_example_workflows.py [--only video_detailer_wan21 ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
if str(REPO_ROOT / "tools") not in sys.path:  # the spec and the browser driver import tools by name
    sys.path.append(str(REPO_ROOT / "tools"))

from example_workflows_spec import WorkflowSpec, all_specs  # noqa: E402

log = logging.getLogger("make_example_workflows")
EXAMPLES_DIR = REPO_ROOT / "example_workflows"

# Builds one graph with the frontend's LiteGraph API and returns its serialization.
BUILD_GRAPH_JS = """
async (spec) => {
  const graph = window.app.graph;
  graph.clear();
  const made = {};
  for (const n of spec.nodes) {
    const node = window.LiteGraph.createNode(n.type);
    if (!node) throw new Error(`node type ${n.type} is not registered`);
    node.pos = n.pos;
    if (n.title) node.title = n.title;
    graph.add(node);
    for (const [name, value] of Object.entries(n.widgets)) {
      const widget = (node.widgets || []).find((w) => w.name === name);
      if (!widget) throw new Error(`${n.type} has no widget ${name}`);
      widget.value = value;
      if (widget.callback) widget.callback(value);
    }
    made[n.key] = node;
  }
  for (const [from, slot, to, inputName] of spec.links) {
    const target = made[to];
    const inputSlot = target.findInputSlot(inputName);
    if (inputSlot < 0) throw new Error(`${target.type} has no input ${inputName}`);
    if (!made[from].connect(slot, target, inputSlot)) throw new Error(`cannot link ${from}:${slot} -> ${to}.${inputName}`);
  }
  for (const node of Object.values(made)) node.setSize(node.computeSize());
  // The spec places nodes in columns (one x each); a column whose nodes grew wider than the
  // gap to the next one (long display names) pushes the columns to its right along.
  const columns = [...new Set(spec.nodes.map((n) => n.pos[0]))].sort((a, b) => a - b);
  let shift = 0;
  let previousRight = -Infinity;
  for (const x of columns) {
    const members = spec.nodes.filter((n) => n.pos[0] === x).map((n) => made[n.key]);
    shift = Math.max(shift, previousRight + 40 - x);
    for (const node of members) node.pos = [Math.round(x + shift), node.pos[1]];
    previousRight = Math.max(...members.map((node) => node.pos[0] + node.size[0]));
  }
  graph.setDirtyCanvas(true, true);
  const ids = Object.fromEntries(Object.entries(made).map(([key, node]) => [key, node.id]));
  return {workflow: graph.serialize(), ids};
}
"""


def spec_payload(spec: WorkflowSpec) -> dict:
    return {
        "nodes": [{"key": n.key, "type": n.type, "pos": list(n.pos), "widgets": n.widgets, "title": n.title}
                  for n in spec.nodes],
        "links": [list(link) for link in spec.links],
    }


def as_older_save(workflow: dict, ids: dict[str, int], spec: WorkflowSpec) -> dict:
    """Give the nodes named in ``spec.saved_widget_values`` the stored values of an older save:
    fewer widget values, and no input entries for the widgets that did not exist yet."""
    by_id = {str(node["id"]): node for node in workflow["nodes"]}
    for key, values in spec.saved_widget_values.items():
        node = by_id[str(ids[key])]
        known = _widget_names_in_order(node)[: len(values)]
        node["widgets_values"] = list(values)
        node["inputs"] = [slot for slot in node.get("inputs", [])
                          if "widget" not in slot or slot["widget"]["name"] in known]
    for key, properties in spec.properties.items():
        by_id[str(ids[key])].setdefault("properties", {}).update(properties)
    return workflow


def _widget_names_in_order(node: dict) -> list[str]:
    """Widget names as the frontend stores their values (the seed's control value counts as one)."""
    names = []
    for slot in node.get("inputs", []):
        if "widget" in slot:
            names.append(slot["widget"]["name"])
            if slot["widget"]["name"] in ("seed", "noise_seed"):
                names.append("control_after_generate")
    return names


def write_workflow(workflow: dict, path: Path) -> None:
    path.write_text(json.dumps(workflow, indent=2) + "\n", encoding="utf-8")


def build_all(page, out_dir: Path = EXAMPLES_DIR, only: list[str] | None = None) -> list[Path]:
    """Build every example (or those named in ``only``) in an open frontend page
    (``comfy_browser.ComfyPage``) and write the files; returns their paths."""
    specs = [spec for spec in all_specs() if not only or spec.name in only]
    unknown = sorted(set(only or ()) - {spec.name for spec in specs})
    if unknown:
        raise ValueError(f"no example named {', '.join(unknown)}; known: {', '.join(s.name for s in all_specs())}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in specs:
        result = page.page.evaluate(BUILD_GRAPH_JS, spec_payload(spec))
        workflow = as_older_save(result["workflow"], result["ids"], spec)
        workflow.setdefault("extra", {})["info"] = {"description": spec.description}
        path = out_dir / f"{spec.name}.json"
        write_workflow(workflow, path)
        log.info("wrote %s (%d nodes, %d links)", path, len(workflow["nodes"]), len(workflow["links"]))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running ComfyUI with this pack (default: start one from COMFYUI_PATH)")
    parser.add_argument("--out", type=Path, default=EXAMPLES_DIR, help="where to write the workflows")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="build only these examples (file stems)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import comfy_browser  # tools/comfy_browser.py: the server and Chromium driver the browser tier uses

    if args.url:
        with comfy_browser.open_frontend(args.url) as page:
            build_all(page, args.out, args.only)
        return 0
    comfy_path = os.environ.get("COMFYUI_PATH")
    if not comfy_path:
        parser.error("give --url of a running ComfyUI with this pack, or set COMFYUI_PATH")
    with comfy_browser.example_server(comfy_path) as server, comfy_browser.open_frontend(server.url) as page:
        build_all(page, args.out, args.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
