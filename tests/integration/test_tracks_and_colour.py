"""The tracker and the paste's colour match inside a real ComfyUI 0.29.

* Two synthetic subjects cross; a detector node of the fixture pack (``TestFakeDetector``, a
  BBOX_DETECTOR through the engine, Impact's SEGS types) sees each of them and misses every subject
  in three frames: our ``TrackSEGS`` keeps both identities and fills the gap.
* Their mask batch (which merges into one blob as they cross) -> ``TrackSEGS`` -> our detailer
  (tracked crop) -> our paste (colour match on, its default): one sampling pass per track, windows
  that follow each subject, pixels outside every mask unchanged.
* A detector that finds nothing: empty SEGS, and the detailer and paste hand the frames back.
* Impact Subpack's real ``UltralyticsDetectorProvider`` with a random-weight YOLOv8n
  (``tools/tiny_yolo.py``, built offline): its ``detect`` runs on every frame and finds nothing;
  its unusable SEGM output (a bbox model's NO_SEGM_DETECTOR) is refused naming the input.
* Colour match: SEGS whose refined crops carry a colour cast (``TestColourCastSegs``) pasted by
  our paste with and without colour match, and by Impact's SEGSPaste.

Sizes are tiny (8 to 12 frames of 160x96, 2 steps).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from comfy_harness import (
    CHECKPOINT_NAME,
    IMPACT_PASTE,
    OUR_DETAILER,
    OUR_MASK_TO_SEGS,
    OUR_PASTE,
    OUR_PREFIX,
    OUR_TO_BASIC_PIPE,
    ClipSettings,
    DetailSettings,
    Graph,
    load_synthetic,
    mask_to_segs_inputs,
    seg_union_masks,
)
from pipelines import changed_windows, require

OUT = Graph.out
OUR_TRACKER = OUR_PREFIX + "TrackSEGS"
SIZE = {"width": 160, "height": 96}
SUBJECT_A = {"seed": 5, "radius": 12, "x_start": 0.15, "x_end": 0.85}  # left to right, in front
SUBJECT_B = {"seed": 6, "radius": 15, "x_start": 0.85, "x_end": 0.15}  # right to left, larger
GAP = (2, 3, 4)
COLOUR_CAST = {"gain_r": 1.08, "gain_g": 0.97, "gain_b": 0.85, "offset_r": 0.06, "offset_g": 0.01, "offset_b": -0.02}


def tracker_inputs(**overrides) -> dict:
    values = {"threshold": 0.5, "dilation": 0, "crop_factor": 1.5, "drop_size": 4, "max_gap": 3,
              "min_track_length": 3, "max_tracks": 0, "order_by": "size", "label": ""}
    values.update(overrides)
    return values


def crossing_sources(g: Graph, frames: int) -> dict[str, str]:
    """Two synthetic clips composited into one: subject A over subject B, crossing mid-clip."""
    ids = {"a": g.add("TestClipSource", frames=frames, **SIZE, **SUBJECT_A),
           "b": g.add("TestClipSource", frames=frames, **SIZE, **SUBJECT_B)}
    ids["frames"] = g.add("ImageCompositeMasked", destination=OUT(ids["b"], 0), source=OUT(ids["a"], 0), x=0, y=0,
                          resize_source=False, mask=OUT(ids["a"], 1))
    ids["mask"] = g.add("MaskComposite", destination=OUT(ids["a"], 1), source=OUT(ids["b"], 1), x=0, y=0,
                        operation="or")
    return ids


def subject_centres(frames: int) -> dict[str, list[tuple[float, float]]]:
    geometry = load_synthetic().clip_geometry
    return {name: [(cx, cy) for cx, cy, _ in geometry(frames, SIZE["width"], SIZE["height"], subject["radius"],
                                                      subject["x_start"], subject["x_end"])]
            for name, subject in (("a", SUBJECT_A), ("b", SUBJECT_B))}


def mask_centres(seg) -> list[tuple[float, float] | None]:
    """Per frame, the centre of the SEG's mask bbox in frame pixels (None where it is empty)."""
    masks = torch.as_tensor(seg.cropped_mask) > 0.5
    x1, y1 = (int(v) for v in seg.crop_region[:2])
    centres = []
    for frame in masks:
        rows, cols = torch.nonzero(frame.any(dim=1)).flatten(), torch.nonzero(frame.any(dim=0)).flatten()
        centres.append(None if rows.numel() == 0 else
                       (x1 + (int(cols[0]) + int(cols[-1]) + 1) / 2, y1 + (int(rows[0]) + int(rows[-1]) + 1) / 2))
    return centres


def identity(seg, centres: dict[str, list]) -> tuple[str, float, float]:
    """The subject a SEG follows (nearest in its first frame), the share of its frames whose mask
    centre is nearer that subject than the other, and its largest distance to it (pixels)."""
    found = mask_centres(seg)
    first = next(c for c in found if c is not None)
    name = min(centres, key=lambda n: np.hypot(first[0] - centres[n][0][0], first[1] - centres[n][0][1]))
    other = "b" if name == "a" else "a"
    hits, worst = [], 0.0
    for frame, centre in enumerate(found):
        if centre is None:
            continue
        own = np.hypot(centre[0] - centres[name][frame][0], centre[1] - centres[name][frame][1])
        hits.append(own <= np.hypot(centre[0] - centres[other][frame][0], centre[1] - centres[other][frame][1]))
        worst = max(worst, float(own))
    return name, float(np.mean(hits)), worst


@pytest.fixture(scope="module")
def tracker(comfy):
    return require(comfy, OUR_TRACKER, "the tracker is tested")


def test_detector_tracks_keep_identities_through_the_crossing_and_fill_a_gap(comfy, tracker, report):
    frames = 12
    g = Graph()
    ids = crossing_sources(g, frames)
    detector = g.add("TestFakeDetector", frames=OUT(ids["frames"]), mask=OUT(ids["a"], 1), mask_b=OUT(ids["b"], 1),
                     miss_frames=" ".join(str(f) for f in GAP), label="face", confidence=0.9)
    segs = g.add(tracker, image_frames=OUT(ids["frames"]), detector=OUT(detector), **tracker_inputs())
    g.add("TestSink", segs=OUT(segs))
    result = comfy.run(g, label="fake detector (crossing, 3-frame gap) -> TrackSEGS, 12 frames")
    header, items = result.output(segs)
    assert tuple(header) == (SIZE["height"], SIZE["width"])
    assert [seg.label for seg in items] == ["face_1", "face_2"]
    centres = subject_centres(frames)
    followed = [identity(seg, centres) for seg in items]
    assert [name for name, _, _ in followed] == ["b", "a"], "ordered by size: the larger subject B first"
    for seg, (name, share, worst) in zip(items, followed):
        masks = torch.as_tensor(seg.cropped_mask)
        assert masks.shape[0] == frames and bool(masks.flatten(1).any(dim=1).all()), f"{seg.label}: a frame has no mask"
        assert share == 1.0, f"{seg.label} took the other subject's box in {1 - share:.0%} of its frames"
        report["measurements"].append(f"TrackSEGS, detector boxes crossing, frames {GAP[0]}-{GAP[-1]} missed: "
                                      f"{seg.label} follows subject {name.upper()} in {share:.0%} of 12 frames, "
                                      f"box centre at most {worst:.1f} px off (gap frames interpolated)")
        assert worst <= 3.0, f"{seg.label}: the filled boxes are {worst:.1f} px off its subject"


def detailed_tracks_graph(tracker: str, frames: int) -> tuple[Graph, dict[str, str]]:
    g = Graph()
    ids = crossing_sources(g, frames)
    ids["segs"] = g.add(tracker, image_frames=OUT(ids["frames"]), mask=OUT(ids["mask"]), **tracker_inputs())
    ids["ckpt"] = g.add("CheckpointLoaderSimple", ckpt_name=CHECKPOINT_NAME)
    ids["model"] = g.add("TestRecordingModel", model=OUT(ids["ckpt"], 0), tag="tracks")
    ids["positive"] = g.add("CLIPTextEncode", text="a shiny red ball", clip=OUT(ids["ckpt"], 1))
    ids["negative"] = g.add("CLIPTextEncode", text="blurry", clip=OUT(ids["ckpt"], 1))
    ids["pipe"] = g.add(OUR_TO_BASIC_PIPE, model=OUT(ids["model"]), clip=OUT(ids["ckpt"], 1),
                        vae=OUT(ids["ckpt"], 2), positive=OUT(ids["positive"]), negative=OUT(ids["negative"]))
    ids["detailer"] = g.add(OUR_DETAILER, image_frames=OUT(ids["frames"]), segs=OUT(ids["segs"]),
                            basic_pipe=OUT(ids["pipe"]), crop_mode="tracked", **DetailSettings(steps=2).inputs())
    ids["paste"] = g.add(OUR_PASTE, image=OUT(ids["frames"]), segs=OUT(ids["detailer"]), feather=3, alpha=255)
    ids["sink"] = g.add("TestSink", images=OUT(ids["paste"]), segs=OUT(ids["detailer"]), mask=OUT(ids["mask"]))
    return g, ids


def test_mask_tracks_feed_the_tracked_detailer_and_the_colour_matched_paste(comfy, tracker, report):
    require(comfy, OUR_PASTE, "the refined tracks are pasted")
    frames = 8
    g, ids = detailed_tracks_graph(tracker, frames)
    recorder = comfy.recorder()
    recorder.clear()
    result = comfy.run(g, label="mask -> TrackSEGS -> detailer (tracked) -> paste with colour match, 8 frames")
    calls = [c for c in recorder.sample_calls if c["tag"] == "tracks"]
    centres = subject_centres(frames)
    touching = SUBJECT_A["radius"] + SUBJECT_B["radius"] + 1
    merged = [f for f in range(frames) if abs(centres["a"][f][0] - centres["b"][f][0]) < touching]
    assert merged, "the subjects' masks must merge while they cross"
    segs = result.output(ids["segs"])
    assert [seg.label for seg in segs[1]] == ["subject_1", "subject_2"]
    assert sorted(identity(seg, centres)[:2] for seg in segs[1]) == [("a", 1.0), ("b", 1.0)]
    assert len(calls) == 2 and {c["latent_shape"][0] for c in calls} == {frames}, "one sampling pass per track"
    source, pasted = result.output(ids["frames"]), result.output(ids["paste"])
    for seg in result.output(ids["detailer"])[1]:
        windows = changed_windows(source, seg)
        assert len(set(windows)) > 1, f"{seg.label}: the tracked window did not follow the subject"
    union = seg_union_masks(segs, frames, SIZE["height"], SIZE["width"])
    outside = union == 0
    assert torch.equal(pasted[outside], source[outside]), "pixels outside every mask changed"
    change = (pasted - source).abs().amax(dim=-1)[union >= 0.999]
    assert float(change.mean()) > 0.01, "the tracks were not detailed"
    report["measurements"].append(f"TrackSEGS from a mask merging in frames {merged}: 2 tracks, identities kept, "
                                  f"each detailed in one pass over {frames} frames with a moving window")


def test_a_detector_that_finds_nothing_gives_empty_segs_and_the_frames_back(comfy, tracker):
    require(comfy, OUR_PASTE, "the empty SEGS are pasted")
    frames = 4
    g = Graph()
    ids = crossing_sources(g, frames)
    detector = g.add("TestFakeDetector", frames=OUT(ids["frames"]), mask=OUT(ids["a"], 1), miss_frames="",
                     label="face", confidence=0.3)
    segs = g.add(tracker, image_frames=OUT(ids["frames"]), detector=OUT(detector), **tracker_inputs())
    paste = g.add(OUR_PASTE, image=OUT(ids["frames"]), segs=OUT(segs), feather=5, alpha=255)
    g.add("TestSink", images=OUT(paste), segs=OUT(segs))
    result = comfy.run(g, label="detector below threshold -> TrackSEGS -> paste")
    assert result.output(segs) == ((SIZE["height"], SIZE["width"]), [])
    assert torch.equal(result.output(paste), result.output(ids["frames"]))


def test_the_tracker_without_mask_or_detector_says_what_to_connect(comfy, tracker):
    g = Graph()
    ids = crossing_sources(g, 2)
    segs = g.add(tracker, image_frames=OUT(ids["frames"]), **tracker_inputs())
    g.add("TestSink", segs=OUT(segs))
    result = comfy.run(g, check=False)
    assert not result.success
    assert "one source of detections: a mask" in result.error["exception_message"]
    assert "none is connected" in result.error["exception_message"]


# --- the real Ultralytics detector (Impact Subpack) ----------------------------------------------


@pytest.fixture(scope="module")
def ultralytics_model(comfy, impact, tmp_path_factory) -> str:
    """A random-weight YOLOv8n in a scratch ``ultralytics/bbox`` folder ComfyUI lists; its name there."""
    require(comfy, "UltralyticsDetectorProvider", "Impact Subpack's detector provider is tested")
    try:
        from tiny_yolo import FILE_NAME, ensure_tiny_yolo

        path = ensure_tiny_yolo()
    except ImportError as error:
        pytest.skip(f"ultralytics is not installed in ComfyUI's environment ({error})")
    import folder_paths

    root = tmp_path_factory.mktemp("ultralytics")
    (root / "bbox").mkdir()
    (root / "bbox" / FILE_NAME).symlink_to(path)
    folder_paths.add_model_folder_path("ultralytics_bbox", str(root / "bbox"), is_default=True)
    folder_paths.add_model_folder_path("ultralytics", str(root), is_default=True)
    return f"bbox/{FILE_NAME}"


def test_impact_subpacks_ultralytics_detector_runs_per_frame_and_finds_nothing(comfy, tracker, ultralytics_model, report):
    require(comfy, OUR_PASTE, "the empty SEGS are pasted")
    clip = ClipSettings(frames=4, width=160, height=96, seed=3)
    g = Graph()
    source = g.add("TestClipSource", **clip.inputs())
    provider = g.add("UltralyticsDetectorProvider", model_name=ultralytics_model)
    segs = g.add(tracker, image_frames=OUT(source, 0), detector=OUT(provider, 0), **tracker_inputs(threshold=0.5))
    paste = g.add(OUR_PASTE, image=OUT(source, 0), segs=OUT(segs), feather=5, alpha=255)
    g.add("TestSink", images=OUT(paste), segs=OUT(segs))
    result = comfy.run(g, label="Impact Subpack UltralyticsDetectorProvider (random YOLOv8n) -> TrackSEGS, 4 frames")
    assert result.output(segs) == ((clip.height, clip.width), [])
    assert torch.equal(result.output(paste), result.output(source, 0))
    report["measurements"].append(f"Ultralytics BBOX_DETECTOR (random-weight YOLOv8n) on 4 frames through TrackSEGS: "
                                  f"empty SEGS, frames unchanged ({result.seconds:.1f} s)")

    g = Graph()
    source = g.add("TestClipSource", **clip.inputs())
    provider = g.add("UltralyticsDetectorProvider", model_name=ultralytics_model)
    segs = g.add(tracker, image_frames=OUT(source, 0), detector=OUT(provider, 1), **tracker_inputs())
    g.add("TestSink", segs=OUT(segs))
    refused = comfy.run(g, check=False)
    assert not refused.success
    assert "detector must be a BBOX_DETECTOR or SEGM_DETECTOR" in refused.error["exception_message"]


# --- colour match ----------------------------------------------------------------------------------


def test_colour_match_removes_a_colour_cast_and_leaves_the_rest(comfy, report):
    require(comfy, OUR_PASTE, "our paste's colour match is tested")
    clip = ClipSettings(frames=6, width=128, height=96, seed=4, radius=18)
    g = Graph()
    source = g.add("TestClipSource", **clip.inputs())
    segs = g.add(OUR_MASK_TO_SEGS, mask=OUT(source, 1), **mask_to_segs_inputs(2.0))
    cast = g.add("TestColourCastSegs", segs=OUT(segs), image=OUT(source, 0), **COLOUR_CAST)
    pastes = {"plain": g.add(OUR_PASTE, image=OUT(source, 0), segs=OUT(cast), feather=0, alpha=255, color_match=False),
              "matched": g.add(OUR_PASTE, image=OUT(source, 0), segs=OUT(cast), feather=0, alpha=255),
              "half": g.add(OUR_PASTE, image=OUT(source, 0), segs=OUT(cast), feather=0, alpha=255, color_match=True,
                            color_match_strength=0.5)}
    if comfy.has_node(IMPACT_PASTE):
        pastes["impact"] = g.add(IMPACT_PASTE, image=OUT(source, 0), segs=OUT(cast), feather=0, alpha=255)
    for node in pastes.values():
        g.add("TestSink", images=OUT(node))
    result = comfy.run(g, label="colour-cast SEGS pasted with and without colour match")
    frames = result.output(source, 0)
    union = seg_union_masks(result.output(segs), clip.frames, clip.height, clip.width)
    inside, outside = union > 0, union == 0
    errors = {}
    for name, node in pastes.items():
        pasted = result.output(node)
        assert torch.equal(pasted[outside], frames[outside]), f"{name}: pixels outside the mask changed"
        errors[name] = float((pasted - frames).abs()[inside].mean())  # the uncast crop is the frames themselves
    report["measurements"].append("colour cast of the refined crop, mean |error| inside the mask: " + ", ".join(
        f"{name} {value:.4f}" for name, value in errors.items()))
    assert errors["matched"] < 0.35 * errors["plain"], errors
    assert errors["matched"] < errors["half"] < errors["plain"], errors
    if "impact" in errors:
        assert errors["impact"] == pytest.approx(errors["plain"], abs=1.0 / 255), "Impact's SEGSPaste has no colour match"
