"""The example tools without ComfyUI: the demo clip, the before/after strip, the runner's graph edits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PIL", reason="Pillow is needed by the example tools (pip install -r requirements.txt)")

import before_after  # noqa: E402  (tools/, on sys.path through tests/conftest.py)
import example_clip  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_example_clip_subject_is_separable_by_the_workflows_threshold():
    frames = example_clip.make_example_clip(frames=6, width=96, height=64)
    assert frames.shape == (6, 64, 96, 3) and frames.dtype == np.uint8
    green = frames[..., 1] / 255.0
    subject = green > example_clip.MASK_THRESHOLD
    assert not ((green > 0.4) & (green < 0.6)).any(), "no pixel may sit near the threshold"
    areas = subject.sum(axis=(1, 2))
    assert (areas > 50).all() and (areas.max() - areas.min()) <= 0.15 * areas.max()
    centres = [np.argwhere(s)[:, 1].mean() for s in subject]
    assert all(b > a for a, b in zip(centres, centres[1:])), "the subject moves left to right"


def test_example_clip_round_trips_exactly_through_the_animated_webp(tmp_path):
    from PIL import Image, ImageSequence

    frames = example_clip.make_example_clip(frames=4, width=48, height=40)
    path = example_clip.write_animated_webp(frames, tmp_path / "clip.webp")
    read = np.stack([np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(Image.open(path))])
    assert np.array_equal(read, frames)


def test_example_clip_rejects_tiny_sizes():
    with pytest.raises(ValueError, match="32x32"):
        example_clip.make_example_clip(frames=2, width=16, height=16)


def test_pick_frames_spreads_and_includes_ends():
    assert before_after.pick_frames(16, 6) == [0, 3, 6, 9, 12, 15]
    assert before_after.pick_frames(3, 6) == [0, 1, 2]
    assert before_after.pick_frames(5, 1) == [0]


def test_strip_shows_the_region_of_before_and_after():
    before = np.zeros((8, 40, 50, 3), dtype=np.float32)
    after = before.copy()
    after[:, 10:20, 5:25] = 1.0
    strip = np.asarray(before_after.before_after_strip(before, after, (5, 10, 25, 20), columns=4, tile_height=20))
    tile_w = 40  # 20x10 region scaled to height 20
    assert strip.shape[1] == before_after.LABEL_WIDTH + 4 * (tile_w + before_after.GAP)
    top = strip[:20, before_after.LABEL_WIDTH:before_after.LABEL_WIDTH + tile_w]
    bottom = strip[20 + before_after.GAP:40 + before_after.GAP, before_after.LABEL_WIDTH:before_after.LABEL_WIDTH + tile_w]
    assert (top == 0).all() and (bottom == 255).all()


def test_strip_rejects_mismatched_clips_and_empty_regions():
    frames = np.zeros((2, 10, 10, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="same shape"):
        before_after.before_after_strip(frames, frames[:1], (0, 0, 5, 5))
    with pytest.raises(ValueError, match="empty"):
        before_after.before_after_strip(frames, frames, (8, 8, 8, 9))


def test_segs_region_is_the_union_of_crop_regions():
    seg = type("Seg", (), {})
    a, b = seg(), seg()
    a.crop_region, b.crop_region = (10, 20, 30, 40), (25, 5, 60, 30)
    assert before_after.segs_region(((100, 80), [a, b]), pad=2) == (8, 3, 62, 42)
    with pytest.raises(ValueError, match="empty"):
        before_after.segs_region(((100, 80), []))


import run_example  # noqa: E402  (needs Pillow, checked above)
import workflow_ui  # noqa: E402


def example_prompt() -> dict:
    """Example workflow (a) as the API prompt the runner edits, converted with this pack's definitions
    plus stand-ins for the core nodes it uses (their inputs as ComfyUI 0.29 declares them)."""
    import animatediff_detailer as pack  # loaded by tests/conftest.py

    core = {
        "CheckpointLoaderSimple": {"required": {"ckpt_name": [["v1-5-pruned-emaonly.safetensors"], {}]}},
        "CLIPTextEncode": {"required": {"text": ["STRING", {"multiline": True, "dynamicPrompts": True}], "clip": ["CLIP", {}]}},
        "LoadImage": {"required": {"image": [[example_clip.CLIP_FILE_NAME], {"image_upload": True}]}},
        "ImageToMask": {"required": {"image": ["IMAGE", {}], "channel": [["red", "green", "blue", "alpha"], {}]}},
        "ThresholdMask": {"required": {"mask": ["MASK", {}], "value": ["FLOAT", {"default": 0.5, "min": 0, "max": 1}]}},
        "SaveImage": {"required": {"images": ["IMAGE", {}], "filename_prefix": ["STRING", {"default": "ComfyUI"}]}},
    }
    definitions = workflow_ui.node_definitions(pack.NODE_CLASS_MAPPINGS)
    for name, inputs in core.items():
        definitions[name] = {"input": inputs, "input_order": {k: list(v) for k, v in inputs.items()},
                             "output": [], "output_is_list": [], "output_name": [], "name": name,
                             "display_name": name, "category": "core", "output_node": name == "SaveImage"}
    workflow = json.loads((REPO_ROOT / "example_workflows" / "video_detailer.json").read_text())
    return workflow_ui.to_api_prompt(workflow, definitions)


def test_runner_puts_a_box_mask_in_front_of_mask_to_segs():
    prompt = example_prompt()
    segs = run_example.node_of(prompt, "AnimateDiffDetailer_MaskToSEGS")
    run_example.use_box_mask(prompt, segs, (10, 20, 30, 40), 160, 128)
    composite = prompt[prompt[segs]["inputs"]["mask"][0]]
    assert composite["class_type"] == "MaskComposite" and composite["inputs"]["x"] == 10 and composite["inputs"]["y"] == 20
    canvas, patch = (prompt[composite["inputs"][k][0]]["inputs"] for k in ("destination", "source"))
    assert (canvas["width"], canvas["height"], canvas["value"]) == (160, 128, 0.0)
    assert (patch["width"], patch["height"], patch["value"]) == (30, 40, 1.0)


def test_runner_loads_a_video_with_comfyuis_video_nodes_and_rewires_every_consumer():
    prompt = example_prompt()
    frames = run_example.node_of(prompt, "LoadImage")
    consumers = [k for k, n in prompt.items() if [frames, 0] in n["inputs"].values()]
    run_example.use_video(prompt, frames, "clip.mp4")
    decoder = run_example._consumer_of(prompt, frames)
    assert prompt[frames]["class_type"] == "LoadVideo" and prompt[frames]["inputs"] == {"file": "clip.mp4"}
    assert len(consumers) == 3  # the mask channel, the detailer and the paste
    for key in consumers:
        assert [decoder, 0] in prompt[key]["inputs"].values() and [frames, 0] not in prompt[key]["inputs"].values()


def test_runner_box_defaults_to_the_middle_and_rejects_boxes_outside_the_frame():
    assert run_example.parse_box(None, 100, 50) == (30, 15, 40, 20)
    assert run_example.parse_box("5,6,7,8", 100, 50) == (5, 6, 7, 8)
    for bad in ("1,2,3", "0,0,101,10", "a,b,c,d", "0,0,0,5"):
        with pytest.raises(SystemExit, match="--box"):
            run_example.parse_box(bad, 100, 50)


def test_runner_reads_an_image_folder_in_name_order_and_refuses_mixed_sizes(tmp_path):
    from PIL import Image

    frames = example_clip.make_example_clip(frames=3, width=40, height=32)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / f"f{2 - i}.png")  # names sort in reverse of creation
    loaded = run_example.load_image_folder(tmp_path, None)
    assert np.array_equal(loaded, frames[::-1])
    assert run_example.load_image_folder(tmp_path, 2).shape[0] == 2
    Image.new("RGB", (8, 8)).save(tmp_path / "odd.png")
    with pytest.raises(SystemExit, match="differ in size"):
        run_example.load_image_folder(tmp_path, None)


def test_runner_places_a_video_in_the_input_folder_as_a_real_file(tmp_path):
    """ComfyUI refuses input files that resolve outside its input folder, so no symlink."""
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"not really a video")
    (tmp_path / "input").mkdir()
    target = tmp_path / "input" / "clip.mp4"
    run_example.place_in_input(source, target)
    assert not target.is_symlink() and target.read_bytes() == source.read_bytes()


def test_crossing_clip_merges_its_subjects_mid_clip_and_the_picture_shows_two_tracks():
    import example_clip as clips
    import track_picture

    frames, masks = clips.make_crossing_clip(frames=12, width=192, height=96)
    assert frames.shape == (12, 96, 192, 3) and masks.shape == (2, 12, 96, 192)
    subject = frames[..., 1] / 255.0 > clips.MASK_THRESHOLD
    assert np.array_equal(subject, masks[0] | masks[1]), "the example threshold finds exactly the two subjects"
    overlapping = [i for i in range(12) if (masks[0, i] & masks[1, i]).any()]
    assert overlapping and overlapping[0] > 0 and overlapping[-1] < 11

    clip, tracks = track_picture.crossing_tracks(12, 192, 96)
    assert [t.label for t in tracks] == ["subject_1", "subject_2"]
    for track, direction in zip(tracks, (-1, 1)):  # the larger subject goes right to left
        centres = [(float(b[0]) + float(b[2])) / 2 for b in track.boxes]
        assert all(direction * (b - a) > 0 for a, b in zip(centres, centres[1:])), centres
        assert not bool(track.detected[overlapping].all()), "the merged frames are filled"
    picture = track_picture.track_strip(clip, tracks, columns=4)
    assert picture.size == (4 * (192 + 4) - 4, 96 + 36)
