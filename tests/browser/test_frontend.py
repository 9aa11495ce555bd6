"""The pack at home in ComfyUI's frontend (1.47), in headless Chromium.

* *Browse Templates -> Extensions -> <pack folder>* lists every example workflow with its own picture
  (``example_workflows/<name>.jpg``, fetched from ``/api/workflow_templates/...``), not the placeholder.
* The side panel's *Info* tab of the selected detailer shows its help page (``web/docs``) and pictures.
* The node search finds the detailers by the words users type ("face detailer video", "adetailer", ...).
* In Nodes 2.0 (Vue nodes: ``Comfy.VueNodes.Enabled``, the frontend's default on desktop and cloud)
  the detailer shows only the inputs that matter until *Show advanced inputs* is clicked; the saved
  widget values keep their order. The classic canvas shows every widget (the frontend hides advanced
  widgets there in no version up to 1.47), which the test records too.
* Impact Pack installed but broken (a second ComfyUI whose Impact Pack folder fails to import): a
  workflow saved with Impact's nodes loads with them missing, the errors panel offers our nodes,
  *Replace All* keeps every saved widget value (the seed's "fixed" included) and every link, and the
  replaced workflow runs to success. Served without ``old_widget_ids`` (as the pack used to register
  them), the same Replace loses the values: the check can fail.

Screenshots go to the artifacts folder (``tests/browser/artifacts``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES_DIR = REPO_ROOT / "example_workflows"
EXAMPLES = sorted(path.stem for path in EXAMPLES_DIR.glob("*.json"))
PACK_FOLDER = "comfyui-animatediff-detailer"  # comfy_browser.PACK_LINK_NAME: the key of the pack's templates
OUR_DETAILER = "AnimateDiffDetailer_SEGSDetailerForAnimateDiff"
IMPACT_EXAMPLE = EXAMPLES_DIR / "impact_shared_video_detailer.json"
RUN_TIMEOUT = 1200.0
BROKEN_IMPACT_FOLDER = "ComfyUI-Impact-Pack"

# Impact Pack's own nodes, as its workflows save them: the widget values in order (the seed's control value
# after the seed). Written out from Impact Pack 8.x's declarations, not from this pack's registry.
IMPACT_SAVED_WIDGETS = {
    "SEGSDetailerForAnimateDiff": ["guide_size", "guide_size_for", "max_size", "seed", "control_after_generate",
                                   "steps", "cfg", "sampler_name", "scheduler", "denoise", "refiner_ratio",
                                   "noise_mask_feather"],
    "MaskToSEGS_for_AnimateDiff": ["combined", "crop_factor", "bbox_fill", "drop_size", "contour_fill"],
    "SEGSPaste": ["feather", "alpha"],
    "ToBasicPipe": [],
}
# Our inputs after a replacement behave as Impact's node did.
IMPACT_BEHAVIOUR = {"SEGSDetailerForAnimateDiff": {"crop_mode": "union", "context_length": 0,
                                                   "sampling_precision": "fp32", "vae_decode_precision": "fp32",
                                                   "noise_mask_feather": 20},
                    "SEGSPaste": {"color_match": False}}

_JS_NODE_WIDGETS = """() => window.app.rootGraph.nodes.map((n) => ({id: String(n.id), type: n.type,
    widgets: (n.widgets || []).filter((w) => w.serialize !== false).map((w) => [w.name, w.value])}))"""
_JS_SEARCH = """(query) => window.app.extensionManager._p._s.get('nodeDef').nodeSearchService
    .searchNode(query).slice(0, 8).map((n) => n.name)"""
_JS_WIDGET_ROWS = """(id) => [...document.querySelectorAll(`[data-node-id="${id}"] [data-testid="node-widget"]`)]
    .map((row) => row.innerText.split('\\n')[0].trim())"""


def _node_id(page, node_type: str) -> str:
    return page.page.evaluate("(t) => String(window.app.rootGraph.nodes.find((n) => n.type === t).id)", node_type)


def _click_title(page, node_id: str) -> None:
    """Click the node's title bar on the canvas (selecting it as a user does)."""
    page.fit_view([int(node_id)], zoom=0.5)
    point = page.page.evaluate("""(id) => {
        const app = window.app, node = app.rootGraph.getNodeById(id), ds = app.canvas.ds;
        const box = app.canvas.canvas.getBoundingClientRect();
        return {x: box.left + (node.pos[0] + 40 + ds.offset[0]) * ds.scale,
                y: box.top + (node.pos[1] - 15 + ds.offset[1]) * ds.scale};
    }""", node_id)
    page.page.mouse.click(point["x"], point["y"])


# --- the template browser -------------------------------------------------------------------------


def test_browse_templates_lists_every_example_with_its_picture(comfy_page, artifacts_dir, timings):
    started = time.perf_counter()
    page = comfy_page.page
    thumbnails: dict[str, int] = {}
    prefix = f"/api/workflow_templates/{PACK_FOLDER}/"

    def record(response):
        path = response.url.split("?")[0]
        if prefix in path and path.endswith(".jpg"):
            thumbnails[path.rsplit("/", 1)[1][: -len(".jpg")]] = response.status

    page.on("response", record)
    page.locator(".templates-tab-button").first.click()
    page.get_by_test_id("template-workflows-content").wait_for(timeout=60_000)
    page.get_by_role("button", name=PACK_FOLDER).click()
    cards = {stem: page.get_by_test_id(f"template-workflow-{stem}") for stem in EXAMPLES}
    for card in cards.values():
        card.wait_for(timeout=60_000)
    shown = """(card) => [...card.querySelectorAll('img')].some((img) => img.complete && img.naturalWidth >= 256
        && !img.src.includes('default-template'))"""
    for stem, card in cards.items():
        page.wait_for_function(f"() => ({shown})(document.querySelector('[data-testid=\"template-workflow-{stem}\"]'))",
                               timeout=60_000, polling=250)
        assert stem in card.inner_text(), f"the card of {stem} shows another title"
    page.screenshot(path=str(artifacts_dir / "templates_browser.png"))
    timings.append(("Browse Templates: every example with its picture", time.perf_counter() - started))
    assert thumbnails == {stem: 200 for stem in EXAMPLES}, f"thumbnails fetched: {thumbnails}"
    listed = page.evaluate("() => [...document.querySelectorAll('[data-testid^=\"template-workflow-\"]')]"
                           ".map((c) => c.dataset.testid.replace('template-workflow-', ''))")
    assert sorted(listed) == EXAMPLES


def test_the_placeholder_is_what_a_missing_thumbnail_shows(comfy_page):
    """The check above can fail: a template whose .jpg is missing gets the frontend's placeholder."""
    page = comfy_page.page
    page.route(f"**/api/workflow_templates/{PACK_FOLDER}/video_detailer.jpg",
               lambda route: route.fulfill(status=404, body="not found"))
    page.locator(".templates-tab-button").first.click()
    page.get_by_test_id("template-workflows-content").wait_for(timeout=60_000)
    page.get_by_role("button", name=PACK_FOLDER).click()
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="template-workflow-video_detailer"] img')]
        .some((img) => img.src.includes('default-template') && img.complete)""", timeout=60_000, polling=250)


# --- help, search ---------------------------------------------------------------------------------


def test_the_info_panel_shows_the_detailers_help_page(comfy_page, artifacts_dir):
    comfy_page.load_workflow(EXAMPLES_DIR / "video_detailer.json")
    page = comfy_page.page
    node_id = _node_id(comfy_page, OUR_DETAILER)
    _click_title(comfy_page, node_id)
    page.get_by_test_id("info-button").click()
    content = page.locator(".node-help-content .markdown-content")
    content.wait_for(timeout=60_000)
    page.wait_for_function("""() => {
        const imgs = [...document.querySelectorAll('.node-help-content img')];
        return imgs.length >= 2 && imgs.every((img) => img.complete && img.naturalWidth > 0);
    }""", timeout=60_000, polling=250)
    text = content.inner_text()
    sources = page.evaluate("() => [...document.querySelectorAll('.node-help-content img')].map((i) => i.getAttribute('src'))")
    page.screenshot(path=str(artifacts_dir / "help_panel_detailer.png"))
    assert "SEGS Detailer for AnimateDiff" in text and "Crop modes" in text
    for name in ("context_length", "sampling_precision", "refiner_boundary", "cnet_images"):
        assert name in text, f"the help page does not show {name}"
    assert f"/extensions/{PACK_FOLDER}/docs/crop_modes.png" in sources, sources


@pytest.mark.parametrize("query, expected", [
    ("face detailer video", OUR_DETAILER), ("adetailer", OUR_DETAILER), ("wan detailer", OUR_DETAILER),
    ("track faces", "AnimateDiffDetailer_TrackSEGS"), ("paste segs video", "AnimateDiffDetailer_SEGSPaste"),
])
def test_the_node_search_finds_the_pack_by_what_users_type(comfy_page, query, expected):
    found = comfy_page.page.evaluate(_JS_SEARCH, query)
    assert expected in found, f"searching {query!r} finds {found}"


def test_the_search_box_lists_the_detailers(comfy_page, artifacts_dir):
    page = comfy_page.page
    page.evaluate("() => window.app.rootGraph.clear()")
    box = page.locator("#graph-canvas").bounding_box()
    page.mouse.dblclick(box["x"] + box["width"] / 3, box["y"] + box["height"] / 2)
    page.keyboard.type("face detailer video", delay=20)
    item = page.get_by_text("SEGS Detailer for AnimateDiff [AnimateDiff Detailer]", exact=True)
    item.first.wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts_dir / "search_face_detailer_video.png"))


# --- SEGS Preview ---------------------------------------------------------------------------------

_JS_PREVIEW_GRAPH = """([clip, channel, threshold]) => {
    const graph = window.app.graph, LiteGraph = window.LiteGraph;
    graph.clear();
    const add = (type, x, widgets = {}) => {
        const node = LiteGraph.createNode(type);
        node.pos = [x, 0];
        graph.add(node);
        for (const [name, value] of Object.entries(widgets)) node.widgets.find((w) => w.name === name).value = value;
        return node;
    };
    const frames = add('LoadImage', 0, {image: clip});
    const mask = add('ImageToMask', 340, {channel});
    const binary = add('ThresholdMask', 640, {value: threshold});
    const segs = add('AnimateDiffDetailer_MaskToSEGS', 940);
    const preview = add('AnimateDiffDetailer_SEGSPreview', 1300, {size: 128});
    frames.connect(0, mask, 0);
    mask.connect(0, binary, 0);
    binary.connect(0, segs, 0);
    segs.connect(0, preview, 0);
    frames.connect(0, preview, preview.findInputSlot('image_frames'));
    return preview.id;
}"""


def test_segs_preview_plays_its_frames_in_the_node(cb, comfy_server, comfy_page, artifacts_dir):
    """An output node with nothing downstream: queued, it shows the SEGS' crops in the node as one animated
    image (the frontend's animation widget), not a grid of stills."""
    import example_clip  # tools/

    page = comfy_page.page
    preview = page.evaluate(_JS_PREVIEW_GRAPH, [example_clip.CLIP_FILE_NAME, example_clip.MASK_CHANNEL,
                                                example_clip.MASK_THRESHOLD])
    queued = comfy_page.queue(via="app")
    assert queued.status == 200 and queued.prompt_id and not queued.node_errors, queued.body
    entry = comfy_server.wait_for_history(queued.prompt_id, timeout=300)
    assert cb.history_error(entry) is None, cb.history_error(entry)
    (image,) = entry["outputs"][str(preview)]["images"]
    assert image["filename"].endswith(".webp") and entry["outputs"][str(preview)]["animated"] == [True]
    assert comfy_page.wait_for_images([preview])
    shown = page.evaluate("""(id) => {
        const node = window.app.rootGraph.getNodeById(id);
        const widget = node.widgets.find((w) => w.name === '$$comfy_animation_preview');
        const img = widget && widget.element.querySelector('img');
        return {animated: node.animatedImages === true, src: img ? img.src : null,
                width: img ? img.naturalWidth : 0, visible: img ? img.getBoundingClientRect().width > 0 : false};
    }""", preview)
    page.evaluate("(id) => { const n = window.app.rootGraph.getNodeById(id); n.setSize([420, 520]); "
                  "window.app.canvas.setDirty(true, true); }", preview)
    comfy_page.screenshot(artifacts_dir / "segs_preview_in_node.png", [preview], focus=False)
    assert shown["animated"] and shown["width"] == 128 and shown["visible"], shown
    assert ".webp" in shown["src"] and "type=temp" in shown["src"], shown


# --- advanced inputs ------------------------------------------------------------------------------


def test_show_advanced_reveals_the_expert_inputs_in_nodes_2(cb, comfy_server, comfy_page, artifacts_dir):
    definition = comfy_server.object_info()[OUR_DETAILER]["input"]
    options = {name: spec[1] if len(spec) > 1 else {} for group in definition.values() for name, spec in group.items()
               if isinstance(spec, list)}
    widget_types = ("INT", "FLOAT", "BOOLEAN", "STRING", "COMBO")

    def is_widget(name: str) -> bool:
        spec = definition.get("required", {}).get(name) or definition.get("optional", {}).get(name)
        return isinstance(spec[0], list) or spec[0] in widget_types

    workflow = EXAMPLES_DIR / "video_detailer.json"
    saved = json.loads(workflow.read_text())
    page = comfy_page.page
    classic = None
    try:
        # the classic canvas first (the local default): every widget is drawn
        comfy_page.load_workflow(workflow)
        node_id = _node_id(comfy_page, OUR_DETAILER)
        classic = page.evaluate("(id) => window.app.rootGraph.getNodeById(id).widgets.filter((w) => "
                                "window.app.rootGraph.getNodeById(id).isWidgetVisible(w)).map((w) => w.name)", node_id)
        comfy_page.screenshot(artifacts_dir / "advanced_classic_canvas.png", [int(node_id)])
        # with the node selected, the side panel's Parameters tab folds the advanced ones into their own section
        _click_title(comfy_page, node_id)
        page.get_by_test_id("info-button").click()
        page.get_by_test_id("panel-tab-parameters").click()
        panel = page.get_by_test_id("properties-panel")
        panel.get_by_text("ADVANCED INPUTS").first.wait_for(timeout=30_000)
        page.screenshot(path=str(artifacts_dir / "advanced_parameters_tab.png"))
        page.evaluate("async () => { await window.app.extensionManager.setting.set('Comfy.VueNodes.Enabled', true); }")
        comfy_page.load_workflow(workflow)
        node_id = _node_id(comfy_page, OUR_DETAILER)
        comfy_page.fit_view([int(node_id)], zoom=0.8)
        page.locator(f'[data-node-id="{node_id}"] [data-testid="node-widget"]').first.wait_for(timeout=30_000)
        before = page.evaluate(_JS_WIDGET_ROWS, node_id)
        comfy_page.screenshot(artifacts_dir / "advanced_hidden.png", [int(node_id)], crop=None)
        button = page.locator(f'[data-node-id="{node_id}"] [data-testid="advanced-inputs-button"]')
        assert "Show advanced" in button.inner_text()
        button.click()
        page.wait_for_function(f"() => ({_JS_WIDGET_ROWS})('{node_id}').length > {len(before)}", timeout=30_000)
        after = page.evaluate(_JS_WIDGET_ROWS, node_id)
        comfy_page.screenshot(artifacts_dir / "advanced_shown.png", [int(node_id)], crop=None)
        serialized = comfy_page.serialize()
    finally:
        page.evaluate("async () => { await window.app.extensionManager.setting.set('Comfy.VueNodes.Enabled', false); }")

    widgets = [name for name in options if is_widget(name)]
    basic = [name for name in widgets if not options[name].get("advanced")]
    assert before == basic, f"shown before Show advanced: {before}"
    assert before == ["guide_size", "max_size", "seed", "steps", "cfg", "sampler_name", "scheduler", "denoise",
                      "crop_mode"]
    assert after == widgets, f"shown after Show advanced: {after}"
    assert {"context_length", "context_overlap", "sampling_precision", "vae_encode_precision",
            "vae_decode_precision", "track_smoothing", "seed_per_seg"} <= set(after) - set(before)
    assert "guide_size_for" in classic and "context_length" in classic, "the classic canvas draws every widget"
    # display only: the saved values keep their order (what the frontend saves is the file, the values of
    # widgets newer than the file appended at their defaults, as test_example_workflows checks)
    differences = cb.graph_differences(saved, serialized, cb.saved_widget_defaults(comfy_server.object_info()))
    assert not differences, differences


# --- Impact Pack installed but broken: Node Replacement -------------------------------------------


@pytest.fixture(scope="module")
def broken_impact_server(cb, comfy_root, artifacts_dir, tmp_path_factory, timings):
    """A second ComfyUI: this pack and an Impact Pack folder that fails to import (so Impact's ids are missing
    and ours are not registered under them), with the tiny models and the demo clip."""
    base = cb.prepare_base_dir(tmp_path_factory.mktemp("comfyui-broken-impact"), models=cb.ensure_tiny_models())
    fake = base / "custom_nodes" / BROKEN_IMPACT_FOLDER
    (fake / "modules" / "impact").mkdir(parents=True)
    (fake / "modules" / "impact" / "impact_pack.py").write_text("")
    (fake / "__init__.py").write_text('raise ImportError("simulated broken Impact Pack install")\n')
    server = cb.ComfyServer(comfy_root, base)
    try:
        server.start()
        timings.append(("ComfyUI with a broken Impact Pack: start", server.start_seconds))
        failures = server.import_failures()
        assert any(BROKEN_IMPACT_FOLDER in line for line in failures), failures
        assert "SEGSDetailerForAnimateDiff" not in server.object_info(), "Impact's id must be missing"
        yield server
    finally:
        server.stop()
        if server.log_path.is_file():
            (artifacts_dir / "comfyui_broken_impact.log").write_text(server.log_text())


@pytest.fixture
def broken_impact_page(browser, broken_impact_server, artifacts_dir, request):
    page = browser(broken_impact_server.url)
    try:
        page.open()
        yield page
    finally:
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)
        (artifacts_dir / f"{name}.console.txt").write_text("\n".join(page.console) + "\n")
        page.page.context.close()


def _replace_all(page, artifacts_dir: Path, shot: str | None = None) -> None:
    """Open the errors panel from the overlay and click the Swap Nodes group's Replace All."""
    page.page.get_by_test_id("error-overlay-see-errors").click()
    group = page.page.get_by_test_id("error-group-swap-nodes")
    group.wait_for(timeout=30_000)
    if shot:
        page.page.screenshot(path=str(artifacts_dir / shot))
    group.get_by_role("button", name="Replace All").click()
    page.page.wait_for_function("() => !window.app.rootGraph.nodes.some((n) => n.type === 'SEGSDetailerForAnimateDiff')",
                                timeout=30_000, polling=100)


def _expected_after_replace(saved: dict) -> dict[str, dict]:
    """node id -> {widget name: value} that a replacement must keep: each Impact node's saved values by name,
    and our inputs at Impact's behaviour."""
    expected = {}
    for node in saved["nodes"]:
        names = IMPACT_SAVED_WIDGETS.get(node["type"])
        if names is None:
            continue
        values = dict(zip(names, node.get("widgets_values") or []))
        expected[str(node["id"])] = {**IMPACT_BEHAVIOUR.get(node["type"], {}), **values}
    return expected


def test_replacing_missing_impact_nodes_keeps_every_widget_value_and_runs(cb, broken_impact_server,
                                                                          broken_impact_page, artifacts_dir, timings):
    page = broken_impact_page
    saved = json.loads(IMPACT_EXAMPLE.read_text())
    page.load_workflow(IMPACT_EXAMPLE)
    report = page.load_report()
    assert report.missing_node_types == sorted(IMPACT_SAVED_WIDGETS), report.missing_node_types
    offered = {entry["type"]: entry.get("replacement", {}).get("new_node_id") for entry in report.missing_nodes}
    assert offered == {t: "AnimateDiffDetailer_" + {"MaskToSEGS_for_AnimateDiff": "MaskToSEGS"}.get(t, t)
                       for t in IMPACT_SAVED_WIDGETS}, offered
    page.screenshot(artifacts_dir / "impact_missing.graph.png")

    started = time.perf_counter()
    _replace_all(page, artifacts_dir, "impact_swap_nodes_panel.png")
    timings.append(("Replace All of the missing Impact nodes", time.perf_counter() - started))
    assert not page.load_report().missing_node_types
    widgets = {node["id"]: node for node in page.page.evaluate(_JS_NODE_WIDGETS)}
    for node_id, values in _expected_after_replace(saved).items():
        node = widgets[node_id]
        assert node["type"].startswith("AnimateDiffDetailer_"), node
        kept = {name: value for name, value in node["widgets"] if name in values}
        assert kept == values, f"node {node_id} ({node['type']}) after Replace: {kept}, saved {values}"
    serialized = page.serialize()
    (artifacts_dir / "impact_replaced.serialized.json").write_text(json.dumps(serialized, indent=2) + "\n")
    page.screenshot(artifacts_dir / "impact_replaced.graph.png")
    links = {link[1:5] for link in cb._link_tuples(saved)}
    assert {link[1:5] for link in cb._link_tuples(serialized)} == links, "every link is kept"

    started = time.perf_counter()
    queued = page.queue(via="button")
    assert queued.status == 200 and queued.prompt_id and not queued.node_errors, queued.body
    entry = broken_impact_server.wait_for_history(queued.prompt_id, timeout=RUN_TIMEOUT)
    (artifacts_dir / "impact_replaced.history.json").write_text(json.dumps(entry, indent=2) + "\n")
    timings.append(("the replaced Impact workflow: queued run to history", time.perf_counter() - started))
    assert cb.history_error(entry) is None, cb.history_error(entry)
    outputs = cb.output_node_ids(entry)
    assert outputs and page.wait_for_images(outputs)
    page.screenshot(artifacts_dir / "impact_replaced.result.png")


def test_without_old_widget_ids_the_replace_loses_the_values(broken_impact_page, artifacts_dir):
    """The check above can fail: served as the pack used to register them (old_widget_ids None), the same
    Replace gives the detailer our defaults instead of the saved values."""
    page = broken_impact_page

    def without_widget_ids(route):
        response = route.fetch()
        served = response.json()
        for registrations in served.values():
            for registration in registrations:
                registration["old_widget_ids"] = None
        route.fulfill(response=response, json=served)

    page.page.route("**/node_replacements", without_widget_ids)
    page.page.reload()
    page.open()
    page.load_workflow(IMPACT_EXAMPLE)
    _replace_all(page, artifacts_dir)
    widgets = {node["id"]: dict(node["widgets"]) for node in page.page.evaluate(_JS_NODE_WIDGETS)}
    detailer = next(node for node in json.loads(IMPACT_EXAMPLE.read_text())["nodes"]
                    if node["type"] == "SEGSDetailerForAnimateDiff")
    values = widgets[str(detailer["id"])]
    assert values["seed"] != detailer["widgets_values"][3] and values["steps"] != detailer["widgets_values"][5]
