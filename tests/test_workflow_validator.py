"""The workflow tools without ComfyUI: UI-format parsing, API conversion and the validator CLI.

``tools/workflow_ui.py`` and ``tools/validate_workflow.py`` are imported by name (tests/conftest.py
puts ``tools/`` on sys.path). Test
workflows are built here in the frontend's own shape (sockets, then widget sockets, then
``widgets_values`` in widget order); the core-node definitions are a trimmed copy of what
ComfyUI 0.29's ``/object_info`` returns for them.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest

import validate_workflow as vw
import workflow_ui as wui

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO_ROOT / "example_workflows").glob("*.json"))

OURS = "AnimateDiffDetailer_"
OLD_IMPACT_DETAILER_VALUES = [512, True, 768, 565511830783268, "fixed", 6, 2, "lcm", "normal", 0.5, 0.2]

# ComfyUI 0.29's /object_info for the core nodes the examples use (tooltips dropped, file lists filled).
CORE_DEFINITIONS = {
    "CheckpointLoaderSimple": {
        "input": {"required": {"ckpt_name": [["model.safetensors"], {}]}}, "input_order": {"required": ["ckpt_name"]},
        "output": ["MODEL", "CLIP", "VAE"], "output_is_list": [False] * 3, "output_name": ["MODEL", "CLIP", "VAE"],
        "output_node": False, "display_name": "Load Checkpoint"},
    "CLIPTextEncode": {
        "input": {"required": {"text": ["STRING", {"multiline": True, "dynamicPrompts": True}], "clip": ["CLIP", {}]}},
        "input_order": {"required": ["text", "clip"]}, "output": ["CONDITIONING"], "output_is_list": [False],
        "output_name": ["CONDITIONING"], "output_node": False, "display_name": "CLIP Text Encode (Prompt)"},
    "LoadImage": {
        "input": {"required": {"image": [["clip.webp", "other.png"], {"image_upload": True}]}},
        "input_order": {"required": ["image"]}, "output": ["IMAGE", "MASK"], "output_is_list": [False, False],
        "output_name": ["IMAGE", "MASK"], "output_node": False, "display_name": "Load Image"},
    "ImageToMask": {
        "input": {"required": {"image": ["IMAGE", {}], "channel": ["COMBO", {"multiselect": False,
                                                                          "options": ["red", "green", "blue", "alpha"]}]}},
        "input_order": {"required": ["image", "channel"]}, "output": ["MASK"], "output_is_list": [False],
        "output_name": ["MASK"], "output_node": False, "display_name": "Convert Image to Mask"},
    "ThresholdMask": {
        "input": {"required": {"mask": ["MASK", {}], "value": ["FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01}]}},
        "input_order": {"required": ["mask", "value"]}, "output": ["MASK"], "output_is_list": [False],
        "output_name": ["MASK"], "output_node": False, "display_name": "Threshold Mask"},
    "SaveImage": {
        "input": {"required": {"images": ["IMAGE", {}], "filename_prefix": ["STRING", {"default": "ComfyUI"}]},
                  "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}},
        "input_order": {"required": ["images", "filename_prefix"], "hidden": ["prompt", "extra_pnginfo"]},
        "output": ["IMAGE"], "output_is_list": [False], "output_name": ["images"], "output_node": True,
        "display_name": "Save Image"},
    "PreviewImage": {
        "input": {"required": {"images": ["IMAGE"]}, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}},
        "input_order": {"required": ["images"], "hidden": ["prompt", "extra_pnginfo"]}, "output": ["IMAGE"],
        "output_is_list": [False], "output_name": ["images"], "output_node": True, "display_name": "Preview Image"},
    "ControlNetLoader": {
        "input": {"required": {"control_net_name": [["controlnet.safetensors"]]}}, "input_order": {"required": ["control_net_name"]},
        "output": ["CONTROL_NET"], "output_is_list": [False], "output_name": ["CONTROL_NET"], "output_node": False,
        "display_name": "Load ControlNet Model"},
    "KSampler": {
        "input": {"required": {
            "model": ["MODEL", {}], "seed": ["INT", {"default": 0, "min": 0, "max": 2**64 - 1, "control_after_generate": True}],
            "steps": ["INT", {"default": 20, "min": 1, "max": 10000}], "cfg": ["FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0}],
            "sampler_name": [["euler", "lcm"], {}], "scheduler": [["normal", "karras"], {}],
            "positive": ["CONDITIONING", {}], "negative": ["CONDITIONING", {}], "latent_image": ["LATENT", {}],
            "denoise": ["FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0}]}},
        "input_order": {"required": ["model", "seed", "steps", "cfg", "sampler_name", "scheduler", "positive", "negative",
                                     "latent_image", "denoise"]},
        "output": ["LATENT"], "output_is_list": [False], "output_name": ["LATENT"], "output_node": False,
        "display_name": "KSampler"},
}


@pytest.fixture(scope="module")
def pack():
    return vw.pack_nodes()


@pytest.fixture(scope="module")
def definitions(pack):
    """Core nodes plus every node of the pack: what a ComfyUI with this pack (and no Impact) serves."""
    return {**CORE_DEFINITIONS, **pack.definitions}


class WorkflowBuilder:
    """Builds UI-format workflows the way the frontend saves them."""

    def __init__(self, definitions: dict) -> None:
        self.definitions = definitions
        self.nodes: list[dict] = []
        self.links: list[list] = []

    def node(self, node_type: str, widgets: dict | list | None = None, *, title: str | None = None, mode: int = 0,
             node_id: int | None = None) -> int:
        """Add a node; ``widgets`` by name (others take their defaults, controls "fixed") or as the raw list."""
        node_id = node_id if node_id is not None else len(self.nodes) + 1
        definition = self.definitions[node_type]
        specs = wui.input_specs(definition, node_type)
        inputs = [{"name": s.name, "type": s.type, "link": None} for s in specs if not s.is_widget]
        inputs += [{"name": s.name, "type": s.type, "widget": {"name": s.name}, "link": None} for s in specs if s.is_widget]
        outputs = [{"name": name, "type": kind, "links": []}
                   for name, kind in zip(definition.get("output_name") or [], wui.output_types(definition))]
        if isinstance(widgets, list):
            values = list(widgets)
        else:
            values = []
            for slot in wui.widget_slots(definition, node_type):
                if slot.kind == "control":
                    values.append("fixed")
                elif slot.saved:
                    values.append((widgets or {}).get(slot.name, slot.default))
        node = {"id": node_id, "type": node_type, "pos": [0, 0], "size": [300, 100], "flags": {}, "order": len(self.nodes),
                "mode": mode, "inputs": inputs, "outputs": outputs, "properties": {"Node name for S&R": node_type},
                "widgets_values": values}
        if title:
            node["title"] = title
        self.nodes.append(node)
        return node_id

    def get(self, node_id: int) -> dict:
        return next(n for n in self.nodes if n["id"] == node_id)

    def link(self, origin: int, slot: int, target: int, input_name: str, link_type: str | None = None) -> int:
        link_id = len(self.links) + 1
        target_node = self.get(target)
        index = next(i for i, s in enumerate(target_node["inputs"]) if s["name"] == input_name)
        target_node["inputs"][index]["link"] = link_id
        origin_node = next((n for n in self.nodes if n["id"] == origin), None)
        if origin_node is not None and slot < len(origin_node["outputs"]):
            origin_node["outputs"][slot]["links"].append(link_id)
            link_type = link_type or origin_node["outputs"][slot]["type"]
        self.links.append([link_id, origin, slot, target, index, link_type or "*"])
        return link_id

    def build(self) -> dict:
        return {"last_node_id": max((n["id"] for n in self.nodes), default=0), "last_link_id": len(self.links),
                "nodes": copy.deepcopy(self.nodes), "links": copy.deepcopy(self.links), "groups": [], "config": {},
                "extra": {}, "version": 0.4}


def detailer_graph(definitions: dict, *, detailer: str = OURS + "SEGSDetailerForAnimateDiff",
                   detailer_widgets: dict | list | None = None) -> tuple[WorkflowBuilder, dict[str, int]]:
    """The example's shape: checkpoint, prompts, pipe, frames, mask, SEGS, detailer, paste, save."""
    b = WorkflowBuilder(definitions)
    ids = {
        "checkpoint": b.node("CheckpointLoaderSimple", {"ckpt_name": "model.safetensors"}),
        "positive": b.node("CLIPTextEncode", {"text": "a detailed orb"}, title="Positive prompt"),
        "negative": b.node("CLIPTextEncode", {"text": "blurry"}, title="Negative prompt"),
        "pipe": b.node(OURS + "ToBasicPipe"),
        "frames": b.node("LoadImage", {"image": "clip.webp"}),
        "channel": b.node("ImageToMask", {"channel": "green"}),
        "threshold": b.node("ThresholdMask", {"value": 0.5}),
        "segs": b.node(OURS + "MaskToSEGS", {"drop_size": 10}),
        "detailer": b.node(detailer, detailer_widgets if detailer_widgets is not None else
                           {"seed": 42, "steps": 12, "sampler_name": "euler", "scheduler": "normal", "denoise": 0.5},
                           title="Detailer"),
        "paste": b.node(OURS + "SEGSPaste"),
        "save": b.node("SaveImage", {"filename_prefix": "detailed"}),
    }
    for origin, slot, target, name in [
        ("checkpoint", 0, "pipe", "model"), ("checkpoint", 1, "pipe", "clip"), ("checkpoint", 2, "pipe", "vae"),
        ("checkpoint", 1, "positive", "clip"), ("checkpoint", 1, "negative", "clip"),
        ("positive", 0, "pipe", "positive"), ("negative", 0, "pipe", "negative"),
        ("frames", 0, "channel", "image"), ("channel", 0, "threshold", "mask"), ("threshold", 0, "segs", "mask"),
        ("frames", 0, "detailer", "image_frames"), ("segs", 0, "detailer", "segs"), ("pipe", 0, "detailer", "basic_pipe"),
        ("frames", 0, "paste", "image"), ("detailer", 0, "paste", "segs"), ("paste", 0, "save", "images"),
    ]:
        b.link(ids[origin], slot, ids[target], name)
    return b, ids


def errors_of(report, code: str | None = None) -> list:
    return [i for i in report.errors if code is None or i.code == code]


# --- the validator ---------------------------------------------------------------------------


def test_a_good_workflow_passes_with_the_pack_alone(definitions, pack):
    b, ids = detailer_graph(definitions)
    report = vw.validate(b.build(), pack=pack)
    assert report.ok, vw.format_report(report)
    assert {r.type for r in report.ours} == {OURS + n for n in ("ToBasicPipe", "MaskToSEGS", "SEGSDetailerForAnimateDiff", "SEGSPaste")}
    assert report.impact == []
    not_checked = {r.type for r in report.not_checked}
    assert not_checked == {"CheckpointLoaderSimple", "CLIPTextEncode", "LoadImage", "ImageToMask", "ThresholdMask", "SaveImage"}
    assert all("--object-info" in r.note for r in report.not_checked)


def test_a_good_workflow_passes_against_full_definitions(definitions, pack):
    b, _ = detailer_graph(definitions)
    report = vw.validate(b.build(), object_info=definitions, pack=pack)
    assert report.ok and not report.warnings and not report.not_checked, vw.format_report(report)


@pytest.mark.parametrize(("node_key", "widget", "value", "code", "allowed"), [
    ("detailer", "steps", 0, "value_out_of_range", "1 to 10000"),
    ("detailer", "denoise", 1.5, "value_out_of_range", "0.0001 to 1.0"),
    ("segs", "drop_size", 0, "value_out_of_range", "1 to 16384"),
    ("detailer", "guide_size", 16.0, "value_out_of_range", "64 to 16384"),
    ("detailer", "steps", "six", "wrong_value_type", "1 to 10000"),
    ("detailer", "cfg", True, "wrong_value_type", "0.0 to 100.0"),
    ("detailer", "guide_size_for", "bbox", "wrong_value_type", "BOOLEAN"),
    ("detailer", "crop_mode", "wobbly", "value_not_in_list", ["union", "tracked"]),
])
def test_bad_widget_values_are_errors_naming_node_input_value_range_and_fix(definitions, pack, node_key, widget,
                                                                            value, code, allowed):
    b, ids = detailer_graph(definitions)
    good = b.build()
    node = next(n for n in good["nodes"] if n["id"] == ids[node_key])
    slots = [s for s in wui.widget_slots(definitions[node["type"]], node["type"]) if s.saved]
    node["widgets_values"][[s.key for s in slots].index(widget)] = value
    report = vw.validate(good, pack=pack)
    [issue] = errors_of(report)
    assert issue.code == code
    assert (issue.node_id, issue.node_type, issue.input, issue.value) == (str(ids[node_key]), node["type"], widget, value)
    assert issue.allowed == allowed
    assert f"node {ids[node_key]}" in issue.message and f"'{widget}'" in issue.message and issue.fix
    if code == "value_out_of_range":
        assert allowed in issue.message and allowed in issue.fix


def test_a_combo_value_not_in_the_list_names_the_choices(definitions, pack):
    b, ids = detailer_graph(definitions, detailer_widgets={"sampler_name": "euler_fancy"})
    report = vw.validate(b.build(), pack=pack)
    [issue] = errors_of(report, "value_not_in_list")
    assert (issue.node_id, issue.title, issue.input, issue.value) == (str(ids["detailer"]), "Detailer", "sampler_name", "euler_fancy")
    assert "euler" in issue.allowed and "did you mean" in issue.fix


def test_with_object_info_core_nodes_are_checked_too(definitions, pack):
    b, ids = detailer_graph(definitions)
    wf = b.build()
    next(n for n in wf["nodes"] if n["id"] == ids["frames"])["widgets_values"][0] = "missing.webp"
    next(n for n in wf["nodes"] if n["id"] == ids["threshold"])["widgets_values"][0] = 2.0
    assert vw.validate(wf, pack=pack).ok  # not checked without --object-info
    report = vw.validate(wf, object_info=definitions, pack=pack)
    found = {(i.node_id, i.input, i.code) for i in report.errors}
    assert found == {(str(ids["frames"]), "image", "value_not_in_list"), (str(ids["threshold"]), "value", "value_out_of_range")}
    frames_issue = next(i for i in report.errors if i.input == "image")
    assert "input folder" in frames_issue.fix


def test_a_link_of_the_wrong_type_is_an_error_naming_both_ends(definitions, pack):
    b, ids = detailer_graph(definitions)
    wf = b.build()
    detailer = next(n for n in wf["nodes"] if n["id"] == ids["detailer"])
    segs_input = next(s for s in detailer["inputs"] if s["name"] == "segs")
    link = next(l for l in wf["links"] if l[0] == segs_input["link"])
    link[1], link[2], link[5] = ids["frames"], 0, "IMAGE"  # frames IMAGE -> detailer SEGS
    for report in (vw.validate(wf, pack=pack), vw.validate(wf, object_info=definitions, pack=pack)):
        [issue] = errors_of(report, "link_type_mismatch")
        assert (issue.node_id, issue.input, issue.allowed) == (str(ids["detailer"]), "segs", "SEGS")
        assert "IMAGE" in issue.message and f"node {ids['frames']}" in issue.message and "SEGS" in issue.fix


def test_a_link_type_that_does_not_match_our_output_is_an_error(definitions, pack):
    b, ids = detailer_graph(definitions)
    wf = b.build()
    # the SEGS output of our MaskToSEGS recorded as a MASK link into an unknown (not checked) node
    wf["nodes"].append({"id": 50, "type": "SomeOtherPackNode", "mode": 0, "inputs": [{"name": "mask", "type": "MASK", "link": 99}],
                        "outputs": [], "widgets_values": []})
    wf["links"].append([99, ids["segs"], 0, 50, 0, "MASK"])
    [issue] = errors_of(vw.validate(wf, pack=pack), "link_type_mismatch")
    assert issue.link_id == 99 and "SEGS" in issue.message and "MASK" in issue.message


def test_links_to_missing_nodes_and_slots_are_errors(definitions, pack):
    b, ids = detailer_graph(definitions)
    wf = b.build()
    paste = next(n for n in wf["nodes"] if n["id"] == ids["paste"])
    image_link = next(l for l in wf["links"] if l[0] == next(s for s in paste["inputs"] if s["name"] == "image")["link"])
    image_link[1] = 99  # from a node that is not there
    pipe_link = next(l for l in wf["links"] if l[3] == ids["detailer"] and l[5] == "BASIC_PIPE")
    pipe_link[2] = 5  # ToBasicPipe has one output
    report = vw.validate(wf, pack=pack)
    missing_node = errors_of(report, "link_missing_node")
    missing_slot = errors_of(report, "link_missing_slot")
    assert [(i.node_id, i.input) for i in missing_node] == [(str(ids["paste"]), "image")]
    assert "node 99" in missing_node[0].message and "connect 'image'" in missing_node[0].fix
    assert [(i.node_id, i.input) for i in missing_slot] == [(str(ids["detailer"]), "basic_pipe")]
    assert "slot 5" in missing_slot[0].message


def test_an_input_referring_to_a_missing_link_and_an_unconnected_required_input_are_errors(definitions, pack):
    b, ids = detailer_graph(definitions)
    wf = b.build()
    pipe = next(n for n in wf["nodes"] if n["id"] == ids["pipe"])
    negative = next(s for s in pipe["inputs"] if s["name"] == "negative")
    wf["links"] = [l for l in wf["links"] if l[0] != negative["link"]]  # input still says it is linked
    vae = next(s for s in pipe["inputs"] if s["name"] == "vae")
    wf["links"] = [l for l in wf["links"] if l[0] != vae["link"]]
    vae["link"] = None
    report = vw.validate(wf, pack=pack)
    assert [(i.node_id, i.input) for i in errors_of(report, "missing_link")] == [(str(ids["pipe"]), "negative")]
    assert [(i.node_id, i.input) for i in errors_of(report, "required_input_missing")] == [(str(ids["pipe"]), "vae")]


def test_an_old_impact_save_of_the_detailer_maps_by_position_with_defaults_after(definitions, pack):
    definition = definitions["SEGSDetailerForAnimateDiff"]
    node = {"id": 9, "type": "SEGSDetailerForAnimateDiff", "widgets_values": list(OLD_IMPACT_DETAILER_VALUES)}
    values = wui.widget_values(node, definition)
    assert values == {
        "guide_size": 512, "guide_size_for": True, "max_size": 768, "seed": 565511830783268, "steps": 6, "cfg": 2,
        "sampler_name": "lcm", "scheduler": "normal", "denoise": 0.5, "refiner_ratio": 0.2,
        "noise_mask_feather": 20, "seed_per_seg": False, "crop_mode": "union", "track_smoothing": 2.0,
        "context_length": 0, "context_overlap": 4, "vae_encode_precision": "auto", "sampling_precision": "fp32",
        "vae_decode_precision": "fp32", "refiner_boundary": 0.0, "denoise_by_size": False,
        "large_subject_denoise": 0.25, "size_gate": 0, "correction_only": False, "shared_noise": False,
    }
    assert wui.widget_values(node, definition, extras=True)["seed.control_after_generate"] == "fixed"
    assert wui.widget_names(definition)[:6] == ["guide_size", "guide_size_for", "max_size", "seed", "control_after_generate", "steps"]

    b, ids = detailer_graph(definitions, detailer="SEGSDetailerForAnimateDiff", detailer_widgets=list(OLD_IMPACT_DETAILER_VALUES))
    wf = b.build()
    detailer = next(n for n in wf["nodes"] if n["id"] == ids["detailer"])
    known = {"guide_size", "guide_size_for", "max_size", "seed", "steps", "cfg", "sampler_name", "scheduler", "denoise", "refiner_ratio"}
    detailer["inputs"] = [s for s in detailer["inputs"] if "widget" not in s or s["widget"]["name"] in known]  # as saved then
    report = vw.validate(wf, pack=pack)
    assert report.ok and not report.warnings, vw.format_report(report)
    [impact] = report.impact
    assert impact.type == "SEGSDetailerForAnimateDiff" and "when Impact Pack is not installed" in impact.note
    prompt = wui.to_api_prompt(wf, definitions)
    inputs = prompt[str(ids["detailer"])]["inputs"]
    assert inputs["noise_mask_feather"] == 20 and inputs["seed"] == 565511830783268 and inputs["sampler_name"] == "lcm"
    assert "control_after_generate" not in inputs


def test_shifted_widget_values_are_caught_by_the_control_slot(definitions, pack):
    shifted = [512, True, 768, 565511830783268, 6, 2, "lcm", "normal", 0.5, 0.2]  # the control value is missing
    b, ids = detailer_graph(definitions, detailer="SEGSDetailerForAnimateDiff", detailer_widgets=shifted)
    report = vw.validate(b.build(), pack=pack)
    codes = {(i.input, i.code) for i in report.errors}
    assert ("seed", "bad_control_value") in codes and ("cfg", "value_not_in_list") not in codes
    assert ("sampler_name", "value_not_in_list") in codes


def test_widget_values_fill_missing_trailing_values_and_read_dicts(definitions):
    definition = definitions["KSampler"]
    assert wui.widget_names(definition) == ["seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler", "denoise"]
    assert wui.widget_values({"type": "KSampler", "widgets_values": [7, "randomize", 3]}, definition) == {
        "seed": 7, "steps": 3, "cfg": 8.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}
    by_name = {"type": "KSampler", "widgets_values": {"seed": 5, "steps": 2, "control_after_generate": "fixed"}}
    assert wui.widget_values(by_name, definition)["steps"] == 2
    assert wui.widget_names(definitions["LoadImage"]) == ["image", "upload"]
    assert wui.widget_values({"type": "LoadImage", "widgets_values": ["other.png", "image"]}, definitions["LoadImage"]) == {
        "image": "other.png"}


def test_pack_definitions_match_the_object_info_format(pack):
    detailer = pack.definitions[OURS + "SEGSDetailerForAnimateDiff"]
    assert detailer["output"] == ["SEGS", "IMAGE"] and detailer["output_is_list"] == [False, True]
    assert detailer["output_name"] == ["segs", "cnet_images"]
    assert detailer["input_order"]["required"][:3] == ["image_frames", "segs", "guide_size"]
    assert detailer["input"]["required"]["seed"][0] == "INT" and isinstance(detailer["input"]["required"]["seed"], list)
    assert set(pack.impact_ids) == {"SEGSDetailerForAnimateDiff", "DetailerForEachPipeForAnimateDiff",
                                    "MaskToSEGS_for_AnimateDiff", "SEGSPaste", "ToBasicPipe", "FromBasicPipe"}
    assert set(pack.impact_ids) <= set(pack.definitions) and pack.our_ids <= set(pack.definitions)
    json.dumps(pack.definitions)  # plain JSON, like /object_info


# --- API conversion --------------------------------------------------------------------------


def test_to_api_prompt_converts_links_widgets_and_modes(definitions):
    b = WorkflowBuilder(definitions)
    ckpt = b.node("CheckpointLoaderSimple", {"ckpt_name": "model.safetensors"})
    text = b.node("CLIPTextEncode", {"text": "a cat"}, title="Prompt")
    frames = b.node("LoadImage", {"image": "clip.webp"})
    channel = b.node("ImageToMask", {"channel": "green"})
    threshold = b.node("ThresholdMask", {"value": 0.25}, mode=wui.MODE_BYPASS)
    segs = b.node(OURS + "MaskToSEGS", {"crop_factor": 2.5})
    muted = b.node("CLIPTextEncode", {"text": "muted"}, mode=wui.MODE_NEVER)
    sampler = b.node("KSampler", [123, "randomize", 4, 6.5, "lcm", "karras", 0.75])
    b.link(ckpt, 1, text, "clip")
    b.link(ckpt, 1, muted, "clip")
    b.link(frames, 0, channel, "image")
    b.link(channel, 0, threshold, "mask")
    b.link(threshold, 0, segs, "mask")
    b.link(ckpt, 0, sampler, "model")
    b.link(text, 0, sampler, "positive")
    b.link(muted, 0, sampler, "negative")
    prompt = wui.to_api_prompt(b.build(), definitions)

    assert set(prompt) == {str(i) for i in (ckpt, text, frames, channel, segs, sampler)}  # muted and bypassed left out
    assert prompt[str(text)] == {"inputs": {"text": "a cat", "clip": [str(ckpt), 1]}, "class_type": "CLIPTextEncode",
                                 "_meta": {"title": "Prompt"}}
    assert prompt[str(frames)]["inputs"] == {"image": "clip.webp"}  # no upload button value
    assert prompt[str(ckpt)]["_meta"]["title"] == "Load Checkpoint"
    assert prompt[str(segs)]["inputs"]["mask"] == [str(channel), 0]  # through the bypassed threshold
    assert prompt[str(segs)]["inputs"]["crop_factor"] == 2.5 and prompt[str(segs)]["inputs"]["label"] == "A"
    assert prompt[str(sampler)]["inputs"] == {"seed": 123, "steps": 4, "cfg": 6.5, "sampler_name": "lcm",
                                              "scheduler": "karras", "denoise": 0.75, "model": [str(ckpt), 0],
                                              "positive": [str(text), 0]}  # no control value; muted negative dropped


def test_to_api_prompt_follows_reroutes_and_applies_primitives_and_text_rules(definitions):
    b = WorkflowBuilder(definitions)
    frames = b.node("LoadImage", {"image": "clip.webp"})
    channel = b.node("ImageToMask", {"channel": "red"})
    save = b.node("SaveImage", {"filename_prefix": "run_%LoadImage.image%"})
    text = b.node("CLIPTextEncode", {"text": "a {red|red} cat // comment"})
    wf = b.build()
    wf["nodes"].append({"id": 20, "type": "Reroute", "mode": 0, "inputs": [{"name": "", "type": "*", "link": 1}],
                        "outputs": [{"name": "", "type": "IMAGE", "links": [2]}], "properties": {}})
    wf["nodes"].append({"id": 21, "type": "PrimitiveNode", "mode": 0, "inputs": [],
                        "outputs": [{"name": "COMBO", "type": "COMBO", "links": [3], "widget": {"name": "channel"}}],
                        "widgets_values": ["blue", "fixed", ""]})
    wf["nodes"].append({"id": 22, "type": "Note", "mode": 0, "inputs": [], "outputs": [], "widgets_values": ["hi"]})
    channel_node = next(n for n in wf["nodes"] if n["id"] == channel)
    next(s for s in channel_node["inputs"] if s["name"] == "image")["link"] = 2
    next(s for s in channel_node["inputs"] if s["name"] == "channel")["link"] = 3
    wf["links"] = [[1, frames, 0, 20, 0, "IMAGE"], [2, 20, 0, channel, 0, "IMAGE"], [3, 21, 0, channel, 1, "COMBO"]]
    prompt = wui.to_api_prompt(wf, definitions, rng=random.Random(0))
    assert set(prompt) == {str(frames), str(channel), str(save), str(text)}
    assert prompt[str(channel)]["inputs"] == {"channel": "blue", "image": [str(frames), 0]}
    assert prompt[str(save)]["inputs"]["filename_prefix"] == "run_clip.webp"
    assert prompt[str(text)]["inputs"]["text"] == "a red cat "


def test_to_api_prompt_refuses_what_it_cannot_convert(definitions):
    b, _ = detailer_graph(definitions)
    wf = b.build()
    wf["nodes"].append({"id": 40, "type": "UnknownNode", "mode": 0, "inputs": [], "outputs": []})
    with pytest.raises(wui.UnsupportedWorkflowError, match="UnknownNode"):
        wui.to_api_prompt(wf, definitions)
    wf["nodes"][-1]["mode"] = wui.MODE_NEVER
    assert "40" not in wui.to_api_prompt(wf, definitions)
    wf["definitions"] = {"subgraphs": [{"id": "4b1c-sub", "nodes": []}]}
    wf["nodes"].append({"id": 41, "type": "4b1c-sub", "mode": 0, "inputs": [], "outputs": []})
    with pytest.raises(wui.UnsupportedWorkflowError, match="subgraph"):
        wui.to_api_prompt(wf, definitions)
    report = vw.validate(wf, object_info=definitions)
    assert any(r.id == "41" and "subgraph" in r.note for r in report.not_checked)


# --- the CLI ---------------------------------------------------------------------------------


def test_cli_exit_codes_and_json(tmp_path, definitions, capsys):
    b, ids = detailer_graph(definitions)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(b.build()))
    assert vw.main([str(good)]) == 0
    assert "OK: 0 error(s)" in capsys.readouterr().out

    bad_workflow = b.build()
    next(n for n in bad_workflow["nodes"] if n["id"] == ids["detailer"])["widgets_values"][5] = 0  # steps
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bad_workflow))
    assert vw.main([str(bad)]) == 1
    out = capsys.readouterr().out
    assert f'ERROR: node {ids["detailer"]} "Detailer"' in out and "'steps'" in out and "fix: set steps" in out
    assert vw.main([str(bad), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["error_count"] == 1
    assert data["issues"][0]["input"] == "steps" and data["issues"][0]["node_id"] == str(ids["detailer"])

    info = tmp_path / "object_info.json"
    info.write_text(json.dumps(CORE_DEFINITIONS))  # a ComfyUI without this pack
    assert vw.main([str(good), "--object-info", str(info), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert {i["code"] for i in data["issues"]} == {"unknown_node_type"}
    assert all("install this pack" in i["fix"] for i in data["issues"])


@pytest.mark.parametrize("content", ["", "{not json", json.dumps({"1": {"class_type": "LoadImage", "inputs": {}}}), "[1, 2]"])
def test_cli_unreadable_input_exits_2(tmp_path, content, caplog):
    path = tmp_path / "workflow.json"
    path.write_text(content)
    assert vw.main([str(path)]) == 2
    assert str(path) in caplog.text
    if "class_type" in content:
        assert "API-format" in caplog.text


def test_cli_missing_file_or_object_info_exits_2(tmp_path, definitions):
    assert vw.main([str(tmp_path / "absent.json")]) == 2
    b, _ = detailer_graph(definitions)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(b.build()))
    assert vw.main([str(good), "--object-info", str(tmp_path / "absent_info.json")]) == 2


# --- the shipped examples --------------------------------------------------------------------


@pytest.mark.skipif(not EXAMPLES, reason="no example_workflows/*.json yet")
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_workflows_pass(path, pack, definitions):
    workflow = wui.load_workflow(path)
    report = vw.validate(workflow, pack=pack, source=str(path))
    assert report.ok and not report.warnings, vw.format_report(report)
    assert report.ours or report.impact
    if {node["type"] for node in workflow["nodes"]} <= set(definitions) | wui.FRONTEND_ONLY_TYPES:
        prompt = wui.to_api_prompt(workflow, definitions)
        assert {node["class_type"] for node in prompt.values()} <= set(definitions)
