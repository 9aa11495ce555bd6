"""What the frontend shows of every node: a description, one-sentence tooltips, search aliases,
expert inputs marked advanced, and the preview node's output (docs: README "Nodes")."""

from __future__ import annotations

import re
import sys
import types

import pytest
import torch

from animatediff_detailer.nodes import NODE_ENTRIES
from animatediff_detailer.nodes.adapter import previews
from animatediff_detailer.nodes.detailer import DetailerForEachPipeForAnimateDiff, SEGSDetailerForAnimateDiff
from animatediff_detailer.nodes.registry import ID_PREFIX, build_mappings
from animatediff_detailer.nodes.segs_nodes import SEGSPasteForVideo, SEGSPreview, TrackSEGSForVideo

TOOLTIP_LIMIT = 200
WIDGET_TYPES = ("INT", "FLOAT", "BOOLEAN", "STRING")
# The frontend adds this combo after a widget named seed; it is shown with the seed.
SEED_CONTROL = "control_after_generate"


def registered() -> dict[str, type]:
    classes, _ = build_mappings(NODE_ENTRIES, impact_installed=False)
    return classes


NODES = registered()


def one_sentence(text: str) -> bool:
    """No sentence end inside the text (a full stop, ! or ? followed by more words)."""
    return re.search(r"[.!?]\s+\S", text.strip()) is None


def is_widget(spec: tuple) -> bool:
    kind = spec[0]
    return isinstance(kind, list) or kind in WIDGET_TYPES


@pytest.mark.parametrize("node_id", sorted(NODES))
def test_every_node_has_a_description(node_id):
    description = getattr(NODES[node_id], "DESCRIPTION", "")
    assert isinstance(description, str) and len(description) > 40, f"{node_id} has no DESCRIPTION"
    first = re.split(r"(?<=[.!?])\s", description.strip())[0]
    assert len(first) <= TOOLTIP_LIMIT, f"{node_id}: the description's first sentence is the summary; keep it short"


@pytest.mark.parametrize("node_id", sorted(NODES))
def test_every_tooltip_is_one_short_sentence(node_id):
    node_class = NODES[node_id]
    texts = [(name, spec[1].get("tooltip")) for group in node_class.INPUT_TYPES().values() for name, spec in group.items()]
    texts += [(f"output {i}", text) for i, text in enumerate(getattr(node_class, "OUTPUT_TOOLTIPS", ()))]
    for name, text in texts:
        assert text, f"{node_id}.{name} has no tooltip"
        assert len(text) <= TOOLTIP_LIMIT, f"{node_id}.{name}: {len(text)} characters; the detail belongs in the help page"
        assert one_sentence(text), f"{node_id}.{name}: one sentence, please: {text!r}"


def test_search_aliases_find_the_video_detailers_the_tracker_and_the_paste():
    from animatediff_detailer.nodes.video_nodes import VideoDetailerForEachPipe

    for node_class in (SEGSDetailerForAnimateDiff, DetailerForEachPipeForAnimateDiff, VideoDetailerForEachPipe):
        aliases = node_class.SEARCH_ALIASES
        assert {"face detailer video", "adetailer", "wan detailer"} <= set(aliases), node_class.__name__
    assert "track faces" in TrackSEGSForVideo.SEARCH_ALIASES
    assert "paste segs video" in SEGSPasteForVideo.SEARCH_ALIASES
    for node_id, node_class in NODES.items():
        aliases = getattr(node_class, "SEARCH_ALIASES", [])
        # the frontend drops a whole node definition whose aliases are not a list of strings
        assert isinstance(aliases, list) and all(isinstance(a, str) and a for a in aliases), node_id


EXPERT_DETAILER_INPUTS = {"guide_size_for", "refiner_ratio", "refiner_basic_pipe_opt", "noise_mask_feather",
                          "scheduler_func_opt", "seed_per_seg", "track_smoothing", "context_length", "context_overlap",
                          "vae_encode_precision", "sampling_precision", "vae_decode_precision", "refiner_boundary",
                          "denoise_by_size", "large_subject_denoise", "size_gate", "correction_only", "shared_noise"}


def shown_widgets(node_class: type) -> list[str]:
    """The widgets a new user sees before "show advanced" (in declaration order, the seed's control after it)."""
    shown = []
    for group in node_class.INPUT_TYPES().values():
        for name, spec in group.items():
            if is_widget(spec) and not spec[1].get("advanced"):
                shown += [name, SEED_CONTROL] if name == "seed" else [name]
    return shown


@pytest.mark.parametrize("node_id", [ID_PREFIX + "SEGSDetailerForAnimateDiff", "SEGSDetailerForAnimateDiff",
                                     ID_PREFIX + "DetailerForEachPipeForAnimateDiff", "DetailerForEachPipeForAnimateDiff",
                                     ID_PREFIX + "VideoDetailerForEachPipe"])
def test_expert_detailer_inputs_are_advanced_and_the_few_that_matter_are_shown(node_id):
    node_class = NODES[node_id]
    declared = {name: spec for group in node_class.INPUT_TYPES().values() for name, spec in group.items()}
    marked = {name for name, spec in declared.items() if spec[1].get("advanced")}
    assert EXPERT_DETAILER_INPUTS <= marked
    expected = ["guide_size", "max_size", "seed", SEED_CONTROL, "steps", "cfg", "sampler_name", "scheduler", "denoise"]
    if node_class.NODE == "detail_and_paste":
        expected += ["feather", "crop_mode", "color_match"]
    else:
        expected += ["crop_mode"]
    assert shown_widgets(node_class) == expected


def test_every_node_with_expert_widgets_marks_them():
    expected = {"MaskToSEGS": {"bbox_fill", "drop_size", "contour_fill"},
                "TrackSEGS": {"dilation", "drop_size", "max_gap", "min_track_length"},
                "SEGSPaste": {"alpha", "color_match_strength"},
                "ControlNetForSEGS": {"start_percent", "end_percent", "vae"}}
    for short_name, names in expected.items():
        declared = {name: spec for group in NODES[ID_PREFIX + short_name].INPUT_TYPES().values()
                    for name, spec in group.items()}
        assert {name for name, spec in declared.items() if spec[1].get("advanced")} == names, short_name
    for node_id, node_class in NODES.items():
        for group in node_class.INPUT_TYPES().values():
            for name, spec in group.items():
                assert spec[1].get("advanced", False) in (True, False), f"{node_id}.{name}"
                assert not (spec[1].get("advanced") and group is node_class.INPUT_TYPES()["required"]
                            and not is_widget(spec)), f"{node_id}.{name}: a required socket cannot be tucked away"


# --- SEGS Preview shows its frames in the node ----------------------------------------------------


def test_segs_preview_is_an_output_node_returning_its_ui_and_its_image(monkeypatch):
    monkeypatch.setitem(sys.modules, "folder_paths", None)  # no ComfyUI (the full suite may have booted one)
    assert SEGSPreview.OUTPUT_NODE is True
    frames = torch.rand(3, 32, 40, 3)
    segs = ((32, 40), [])
    result = SEGSPreview().doit(segs, 16, frames)
    assert set(result) == {"ui", "result"}
    assert result["ui"] == {}, "without ComfyUI there is no temp folder: nothing is written"
    (image,) = result["result"]
    assert tuple(image.shape) == (1, 16, 16, 3)


def test_animated_preview_writes_one_animated_webp_to_comfyuis_temp_folder(tmp_path, monkeypatch):
    from PIL import Image

    def get_save_image_path(prefix, folder, width, height):
        return str(tmp_path / "sub"), prefix, 7, "sub", prefix

    fake = types.SimpleNamespace(get_temp_directory=lambda: str(tmp_path), get_save_image_path=get_save_image_path)
    monkeypatch.setitem(sys.modules, "folder_paths", fake)
    frames = torch.linspace(0, 1, 5).view(5, 1, 1, 1).expand(5, 24, 32, 3)
    ui = previews.animated_preview(frames)
    assert list(ui["animated"]) == [True], "the frontend plays animated outputs in the node"
    (entry,) = ui["images"]
    assert entry["type"] == "temp" and entry["subfolder"] == "sub" and entry["filename"].endswith("_00007_.webp")
    with Image.open(tmp_path / "sub" / entry["filename"]) as webp:
        assert webp.format == "WEBP" and webp.is_animated and webp.n_frames == 5 and webp.size == (32, 24)
        webp.seek(4)
        assert webp.convert("RGB").getpixel((5, 5))[0] > 240, "the last frame is the white one"
    assert previews.animated_preview(frames[:0]) == {}
