"""The detailer's interface matches Impact Pack's SEGSDetailerForAnimateDiff (docs/BEHAVIOUR.md §2),
so workflows saved with Impact's node load with ours; and the ids we register live beside Impact."""

from __future__ import annotations

import os

import pytest

from animatediff_detailer.nodes import registry
from animatediff_detailer.nodes.adapter import environment
from animatediff_detailer.nodes.detailer import ImpactSEGSDetailerForAnimateDiff, SEGSDetailerForAnimateDiff

MAX_RESOLUTION = environment.max_resolution()

# Impact's interface, written out as data: (name, type, options that must match).
SEED_REQUIRED = [
    ("image_frames", "IMAGE", {}),
    ("segs", "SEGS", {}),
    ("guide_size", "FLOAT", {"default": 256, "min": 64, "max": MAX_RESOLUTION, "step": 8}),
    ("guide_size_for", "BOOLEAN", {"default": True, "label_on": "bbox", "label_off": "crop_region"}),
    ("max_size", "FLOAT", {"default": 768, "min": 64, "max": MAX_RESOLUTION, "step": 8}),
    ("seed", "INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF}),
    ("steps", "INT", {"default": 20, "min": 1, "max": 10000}),
    ("cfg", "FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0}),
    ("sampler_name", "SAMPLERS", {}),
    ("scheduler", "SCHEDULERS", {}),
    ("denoise", "FLOAT", {"default": 0.5, "min": 0.0001, "max": 1.0, "step": 0.01}),
    ("basic_pipe", "BASIC_PIPE", {}),
    ("refiner_ratio", "FLOAT", {"default": 0.2, "min": 0.0, "max": 1.0}),
]
SEED_OPTIONAL = [
    ("refiner_basic_pipe_opt", "BASIC_PIPE", {}),
    ("noise_mask_feather", "INT", {"default": 20, "min": 0, "max": 100, "step": 1}),
    ("scheduler_func_opt", "SCHEDULER_FUNC", {}),
]
IMPACT_EXTRA_SCHEDULERS = ["AYS SDXL", "AYS SD1", "AYS SVD", "GITS[coeff=1.2]"]


def _check_inputs(declared: dict, expected: list) -> None:
    names = list(declared)[: len(expected)]
    assert names == [name for name, _, _ in expected]
    for name, kind, options in expected:
        spec = declared[name]
        if kind == "SAMPLERS":
            assert spec[0] == environment.sampler_names()
        elif kind == "SCHEDULERS":
            assert spec[0] == environment.comfy_scheduler_names() + IMPACT_EXTRA_SCHEDULERS
        else:
            assert spec[0] == kind, name
        declared_options = spec[1] if len(spec) > 1 else {}
        for key, value in options.items():
            assert declared_options.get(key) == value, f"{name}.{key}"
            assert type(declared_options.get(key)) is type(value) or key in ("min", "max", "step", "default"), f"{name}.{key}"
        for key in ("default", "min", "max", "step"):
            if key not in options and kind in ("INT", "FLOAT"):
                assert key not in declared_options, f"{name} declares {key} that Impact does not"


@pytest.mark.parametrize("node_class", [SEGSDetailerForAnimateDiff, ImpactSEGSDetailerForAnimateDiff])
def test_inputs_match_impact_in_order(node_class):
    inputs = node_class.INPUT_TYPES()
    assert set(inputs) == {"required", "optional"}
    assert list(inputs["required"]) == [name for name, _, _ in SEED_REQUIRED]
    _check_inputs(inputs["required"], SEED_REQUIRED)
    _check_inputs(inputs["optional"], SEED_OPTIONAL)
    # our additions come only after Impact's inputs, as optional inputs
    assert list(inputs["optional"])[: len(SEED_OPTIONAL)] == [name for name, _, _ in SEED_OPTIONAL]


@pytest.mark.parametrize("node_class", [SEGSDetailerForAnimateDiff, ImpactSEGSDetailerForAnimateDiff])
def test_outputs_and_entry_point_match_impact(node_class):
    assert node_class.RETURN_TYPES == ("SEGS", "IMAGE")
    assert node_class.RETURN_NAMES == ("segs", "cnet_images")
    assert node_class.OUTPUT_IS_LIST == (False, True)
    assert node_class.FUNCTION == "doit"
    assert callable(getattr(node_class(), "doit"))


def test_impact_alias_keeps_impact_category_and_ours_has_its_own():
    assert ImpactSEGSDetailerForAnimateDiff.CATEGORY == "ImpactPack/Detailer"
    assert SEGSDetailerForAnimateDiff.CATEGORY != "ImpactPack/Detailer"


def test_every_input_has_a_tooltip():
    inputs = SEGSDetailerForAnimateDiff.INPUT_TYPES()
    for group in inputs.values():
        for name, spec in group.items():
            assert spec[1].get("tooltip"), f"{name} has no tooltip"


def test_saved_impact_widget_values_line_up_with_our_widgets():
    """A workflow saved with the older Impact node stores 11 widget values (seed control after seed)."""
    saved = [512, True, 768, 565511830783268, "fixed", 6, 2, "lcm", "normal", 0.5, 0.2]
    inputs = ImpactSEGSDetailerForAnimateDiff.INPUT_TYPES()["required"]
    widgets = [name for name, spec in inputs.items() if not (isinstance(spec[0], str) and spec[0] in ("IMAGE", "SEGS", "BASIC_PIPE"))]
    values = saved[:4] + saved[5:]  # drop the frontend's control_after_generate value
    assert len(widgets) == len(values)
    bound = dict(zip(widgets, values))
    assert bound["sampler_name"] in inputs["sampler_name"][0]
    assert bound["scheduler"] in inputs["scheduler"][0]
    for name in ("guide_size", "max_size", "seed", "steps", "cfg", "denoise", "refiner_ratio"):
        options = inputs[name][1]
        assert options["min"] <= bound[name] <= options["max"], name


def _make_pack(folder, name, marker=True):
    path = folder / name
    (path / "modules" / "impact").mkdir(parents=True)
    if marker:
        (path / "modules" / "impact" / "impact_pack.py").write_text("# impact")
    return path


def test_impact_detection_reads_the_custom_nodes_folders(tmp_path):
    custom_nodes = tmp_path / "custom_nodes"
    custom_nodes.mkdir()
    assert not registry.impact_pack_installed([str(custom_nodes)])
    _make_pack(custom_nodes, "comfyui-impact-pack.disabled")
    assert not registry.impact_pack_installed([str(custom_nodes)]), "a disabled Impact Pack does not count"
    _make_pack(custom_nodes, "some-fork-of-impact", marker=False)
    assert not registry.impact_pack_installed([str(custom_nodes)])
    _make_pack(custom_nodes, "ComfyUI-Impact-Pack")
    assert registry.impact_pack_installed([str(tmp_path / "missing"), str(custom_nodes)])


def test_impact_ids_registered_only_without_impact():
    from animatediff_detailer.nodes import NODE_ENTRIES

    with_impact, names_with = registry.build_mappings(NODE_ENTRIES, impact_installed=True)
    alone, names_alone = registry.build_mappings(NODE_ENTRIES, impact_installed=False)
    own_id = "AnimateDiffDetailer_SEGSDetailerForAnimateDiff"
    assert with_impact[own_id] is SEGSDetailerForAnimateDiff
    assert all(node_id.startswith(registry.ID_PREFIX) for node_id in with_impact), "no Impact id beside Impact"
    assert alone[own_id] is SEGSDetailerForAnimateDiff
    assert alone["SEGSDetailerForAnimateDiff"] is ImpactSEGSDetailerForAnimateDiff
    impact_ids = {entry.impact_id for entry in NODE_ENTRIES if entry.impact_id}
    assert impact_ids >= {"SEGSDetailerForAnimateDiff", "DetailerForEachPipeForAnimateDiff", "MaskToSEGS_for_AnimateDiff",
                          "SEGSPaste", "ToBasicPipe", "FromBasicPipe"}
    assert set(alone) == set(with_impact) | impact_ids
    for names in (names_with, names_alone):
        assert all("AnimateDiff Detailer" in name for name in names.values()), "display names say they are ours"


def test_pack_root_exports_mappings():
    import animatediff_detailer

    assert set(animatediff_detailer.NODE_CLASS_MAPPINGS) >= {"AnimateDiffDetailer_SEGSDetailerForAnimateDiff"}
    assert set(animatediff_detailer.NODE_DISPLAY_NAME_MAPPINGS) == set(animatediff_detailer.NODE_CLASS_MAPPINGS)
    assert os.path.isfile(os.path.join(os.path.dirname(animatediff_detailer.__file__), "LICENSE"))


def test_crop_mode_is_union_on_impact_ids_and_tracked_on_ours():
    from animatediff_detailer.nodes.detailer import DetailerForEachPipeForAnimateDiff, ImpactDetailerForEachPipeForAnimateDiff

    for ours, alias in ((SEGSDetailerForAnimateDiff, ImpactSEGSDetailerForAnimateDiff),
                        (DetailerForEachPipeForAnimateDiff, ImpactDetailerForEachPipeForAnimateDiff)):
        assert ours.INPUT_TYPES()["optional"]["crop_mode"][1]["default"] == "tracked"
        assert alias.INPUT_TYPES()["optional"]["crop_mode"][1]["default"] == "union"
        # the order of the inputs: tests/test_widget_order.py
        for name in ("sampling_precision", "vae_decode_precision"):
            assert ours.INPUT_TYPES()["optional"][name][1]["default"] == "auto"
            assert alias.INPUT_TYPES()["optional"][name][1]["default"] == "fp32", "Impact samples and decodes in ComfyUI's precision"
        assert ours.INPUT_TYPES()["optional"]["context_length"][1]["default"] == -1, "auto"
        assert alias.INPUT_TYPES()["optional"]["context_length"][1]["default"] == 0, "Impact's node samples all frames at once"


def test_missing_impact_nodes_are_redirected_to_ours_with_inputs_kept():
    from animatediff_detailer.nodes import NODE_ENTRIES

    fallbacks = registry.impact_fallbacks(NODE_ENTRIES)
    assert fallbacks["SEGSPaste"] == "AnimateDiffDetailer_SEGSPaste"
    prompt = {
        "1": {"class_type": "SEGSPaste", "inputs": {"image": ["0", 0], "segs": ["2", 0], "feather": 5, "alpha": 255}},
        "2": {"class_type": "MaskToSEGS_for_AnimateDiff", "inputs": {"mask": ["0", 1]}},
        "3": {"class_type": "SomethingElse", "inputs": {}},
    }
    registered = {"MaskToSEGS_for_AnimateDiff", "AnimateDiffDetailer_SEGSPaste", "AnimateDiffDetailer_MaskToSEGS"}
    alias_values = registry.impact_alias_values(NODE_ENTRIES)
    assert alias_values["SEGSPaste"] == {"color_match": False}
    assert alias_values["SEGSDetailerForAnimateDiff"] == {"crop_mode": "union", "context_length": 0,
                                                          "sampling_precision": "fp32", "vae_decode_precision": "fp32"}
    assert alias_values["DetailerForEachPipeForAnimateDiff"] == {"crop_mode": "union", "context_length": 0,
                                                                 "color_match": False, "sampling_precision": "fp32",
                                                                 "vae_decode_precision": "fp32"}
    assert registry.redirect_missing_nodes(prompt, fallbacks, registered, alias_values) == ["1"]
    assert prompt["1"] == {"class_type": "AnimateDiffDetailer_SEGSPaste",
                           "inputs": {"image": ["0", 0], "segs": ["2", 0], "feather": 5, "alpha": 255,
                                      "color_match": False}}, "inputs kept, ours as under Impact's id"
    assert prompt["2"]["class_type"] == "MaskToSEGS_for_AnimateDiff", "a registered Impact node is left alone"
    assert prompt["3"]["class_type"] == "SomethingElse"


# --- Node Replacement: what the frontend's Replace keeps ------------------------------------------

IMPACT_DETAILER_WIDGET_IDS = ["guide_size", "guide_size_for", "max_size", "seed", "control_after_generate", "steps", "cfg",
                              "sampler_name", "scheduler", "denoise", "refiner_ratio", "noise_mask_feather"]


def _replacements() -> dict:
    from animatediff_detailer.nodes import NODE_ENTRIES

    return {r.old_node_id: r for r in registry.impact_replacements(NODE_ENTRIES)}


def _frontend_replace(replacement, widgets_values: list) -> dict:
    """What frontend 1.47's Replace gives each new widget: for each ``old_id`` mapping, the saved value at
    that id's index in ``old_widget_ids`` (when the save has one); then each ``set_value``."""
    values = {}
    for mapping in replacement.input_mapping:
        if "old_id" in mapping:
            ids = replacement.old_widget_ids
            if mapping["old_id"] in ids and ids.index(mapping["old_id"]) < len(widgets_values):
                values[mapping["new_id"]] = widgets_values[ids.index(mapping["old_id"])]
        else:
            values[mapping["new_id"]] = mapping["set_value"]
    return values


def test_replacements_name_every_impact_node_in_its_saved_widget_order():
    replacements = _replacements()
    assert set(replacements) == {"SEGSDetailerForAnimateDiff", "DetailerForEachPipeForAnimateDiff",
                                 "MaskToSEGS_for_AnimateDiff", "SEGSPaste", "ToBasicPipe", "FromBasicPipe"}
    assert replacements["SEGSDetailerForAnimateDiff"].old_widget_ids == IMPACT_DETAILER_WIDGET_IDS
    detail_and_paste = IMPACT_DETAILER_WIDGET_IDS[:10] + ["feather"] + IMPACT_DETAILER_WIDGET_IDS[10:]
    assert replacements["DetailerForEachPipeForAnimateDiff"].old_widget_ids == detail_and_paste
    assert replacements["MaskToSEGS_for_AnimateDiff"].old_widget_ids == ["combined", "crop_factor", "bbox_fill",
                                                                         "drop_size", "contour_fill"]
    assert replacements["SEGSPaste"].old_widget_ids == ["feather", "alpha"]
    assert replacements["ToBasicPipe"].old_widget_ids == [] and replacements["FromBasicPipe"].old_widget_ids == []
    for replacement in replacements.values():
        assert replacement.new_node_id == registry.ID_PREFIX + {"MaskToSEGS_for_AnimateDiff": "MaskToSEGS"}.get(
            replacement.old_node_id, replacement.old_node_id)
        mapped = [m["old_id"] for m in replacement.input_mapping if "old_id" in m]
        assert set(replacement.old_widget_ids) <= set(mapped), "every saved value is moved"
        outputs = len(replacement.output_mapping)
        assert replacement.output_mapping == [{"new_idx": i, "old_idx": i} for i in range(outputs)] and outputs >= 1


def test_replace_keeps_every_saved_widget_value_of_an_impact_detailer():
    """The older Impact save (no noise_mask_feather): every value lands on the widget of its name, the seed's
    control value too; our inputs take their values under Impact's id."""
    replacement = _replacements()["SEGSDetailerForAnimateDiff"]
    saved = [512, True, 768, 565511830783268, "fixed", 6, 2, "lcm", "normal", 0.5, 0.2]
    values = _frontend_replace(replacement, saved)
    assert values == {"guide_size": 512, "guide_size_for": True, "max_size": 768, "seed": 565511830783268,
                      "control_after_generate": "fixed", "steps": 6, "cfg": 2, "sampler_name": "lcm",
                      "scheduler": "normal", "denoise": 0.5, "refiner_ratio": 0.2, "crop_mode": "union",
                      "context_length": 0, "sampling_precision": "fp32", "vae_decode_precision": "fp32"}
    sockets = {m["old_id"] for m in replacement.input_mapping if "old_id" in m} - set(replacement.old_widget_ids)
    assert sockets == {"image_frames", "segs", "basic_pipe", "refiner_basic_pipe_opt", "scheduler_func_opt"}, (
        "links of every socket move, the optional ones included")


def test_the_server_side_mapping_names_only_inputs_every_prompt_has():
    """ComfyUI applies input_mapping to queued prompts and fails on an old_id the prompt lacks: the seed's
    control value is never in a prompt, unconnected optional sockets are left out."""
    for replacement in _replacements().values():
        from animatediff_detailer.nodes import NODE_ENTRIES

        entry = next(e for e in NODE_ENTRIES if e.impact_id == replacement.old_node_id)
        required = list((entry.impact_class or entry.node_class).INPUT_TYPES()["required"])
        assert [m["old_id"] for m in replacement.server_input_mapping if "old_id" in m] == required
        assert [m for m in replacement.server_input_mapping if "set_value" in m] == [
            m for m in replacement.input_mapping if "set_value" in m]


def test_the_registration_serves_the_frontend_its_full_mapping(monkeypatch):
    """ComfyUI's NodeReplace keeps input_mapping for the server and serves as_dict() to the frontend: ours keeps
    the server's mapping safe and serves the full one."""

    class NodeReplace:  # ComfyUI 0.29's comfy_api.latest.io.NodeReplace, its data as it keeps and serves it
        def __init__(self, new_node_id, old_node_id, old_widget_ids=None, input_mapping=None, output_mapping=None):
            self.new_node_id, self.old_node_id, self.old_widget_ids = new_node_id, old_node_id, old_widget_ids
            self.input_mapping, self.output_mapping = input_mapping, output_mapping

        def as_dict(self):
            return {"new_node_id": self.new_node_id, "old_node_id": self.old_node_id,
                    "old_widget_ids": self.old_widget_ids, "input_mapping": self.input_mapping,
                    "output_mapping": self.output_mapping}

    replacement = _replacements()["SEGSDetailerForAnimateDiff"]
    registered = environment._node_replace(NodeReplace, replacement)
    assert isinstance(registered, NodeReplace)
    assert registered.input_mapping == replacement.server_input_mapping
    served = registered.as_dict()
    assert served["old_widget_ids"] == IMPACT_DETAILER_WIDGET_IDS
    assert served["input_mapping"] == replacement.input_mapping
    assert {"new_id": "control_after_generate", "old_id": "control_after_generate"} in served["input_mapping"]
    assert served["output_mapping"] == [{"new_idx": 0, "old_idx": 0}, {"new_idx": 1, "old_idx": 1}]
