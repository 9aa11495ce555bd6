"""SAM3's outputs and ComfyUI's VIDEO inside a real ComfyUI 0.29.

No SAM3 model runs here: ComfyUI builds SAM3 at its full size whatever the checkpoint holds (506.6M
parameters for SAM3, 519.7M for SAM3.1, plus its 1024-wide text encoder), so no small test model can
be made for it. The data are in SAM3's own formats instead, made with ComfyUI's own helpers by the
fixture pack (``fixture_pack/sam3_video.py``):

* track data as SAM3 Video Track returns it, two objects that cross, bit-packed with ComfyUI's
  ``pack_masks`` at 32x32 (the frames squashed to a square, as SAM3's 1008x1008) for 160x96 frames,
  one object absent in the first frames -> our *SAM3 Track to SEGS*: each SEG stays on its object in
  every frame, and is exactly ComfyUI's own *SAM3 Track to Mask* of that object thresholded at 0.5;
  then through our VIDEO detailer (a *Create Video* with audio) to *Save Video*: one sampling pass
  per object, audio samples bit for bit, frame count and rate unchanged, pixels outside the masks
  unchanged, the file read back by *Load Video*;
* SAM3 Detect's per-frame ``bboxes`` (crossing, unordered, past the frame's edge) -> *Track SEGS*;
  its ``individual_masks`` MASK refused by *Track SEGS* and *Mask to SEGS*, naming the layout;
* *Load Video* -> our VIDEO detailer -> *Save Video*, three nodes, on a file with audio.
"""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from comfy_harness import (
    CHECKPOINT_NAME,
    OUR_MASK_TO_SEGS,
    OUR_PREFIX,
    OUR_TO_BASIC_PIPE,
    DetailSettings,
    Graph,
    mask_to_segs_inputs,
    seg_union_masks,
)
from pipelines import require

OUT = Graph.out
OUR_SAM3 = OUR_PREFIX + "SAM3TrackToSEGS"
OUR_VIDEO_DETAILER = OUR_PREFIX + "VideoDetailerForEachPipe"
OUR_TRACKER = OUR_PREFIX + "TrackSEGS"
SIZE = {"width": 160, "height": 96}
FRAMES = 8
FPS = 12.0
SUBJECT_A = {"seed": 5, "radius": 12, "x_start": 0.15, "x_end": 0.85}  # left to right, in front
SUBJECT_B = {"seed": 6, "radius": 15, "x_start": 0.85, "x_end": 0.15}  # right to left, larger
ABSENT_B = (0, 1)  # SAM3 first sees object 1 in frame 2
MASK_SIZE = 32


@pytest.fixture(scope="module")
def nodes(comfy):
    for node in ("SAM3_TrackToMask", "CreateVideo", "SaveVideo", "LoadVideo", "GetVideoComponents"):
        require(comfy, node, "ComfyUI's SAM3 and video nodes are the other end of this contract")
    return {name: require(comfy, node, "the SAM3 and VIDEO nodes are tested")
            for name, node in (("sam3", OUR_SAM3), ("video", OUR_VIDEO_DETAILER), ("tracker", OUR_TRACKER))}


def crossing_sources(g: Graph, frames: int = FRAMES) -> dict[str, str]:
    """Subject A composited over subject B; they cross mid-clip."""
    ids = {"a": g.add("TestClipSource", frames=frames, **SIZE, **SUBJECT_A),
           "b": g.add("TestClipSource", frames=frames, **SIZE, **SUBJECT_B)}
    ids["frames"] = g.add("ImageCompositeMasked", destination=OUT(ids["b"], 0), source=OUT(ids["a"], 0), x=0, y=0,
                          resize_source=False, mask=OUT(ids["a"], 1))
    ids["sam3"] = g.add("TestSAM3TrackData", mask=OUT(ids["a"], 1), mask_b=OUT(ids["b"], 1), mask_size=MASK_SIZE,
                        absent_b=" ".join(map(str, ABSENT_B)))
    return ids


def pipe_nodes(g: Graph, tag: str) -> str:
    ckpt = g.add("CheckpointLoaderSimple", ckpt_name=CHECKPOINT_NAME)
    model = g.add("TestRecordingModel", model=OUT(ckpt, 0), tag=tag)
    positive = g.add("CLIPTextEncode", text="a shiny red ball", clip=OUT(ckpt, 1))
    negative = g.add("CLIPTextEncode", text="blurry", clip=OUT(ckpt, 1))
    return g.add(OUR_TO_BASIC_PIPE, model=OUT(model), clip=OUT(ckpt, 1), vae=OUT(ckpt, 2), positive=OUT(positive),
                 negative=OUT(negative))


def video_detailer_inputs(**overrides) -> dict:
    values = {**DetailSettings(steps=2).inputs(), "feather": 3, "crop_mode": "tracked"}
    values.update(overrides)
    return values


def placed(seg, frame: int, height: int, width: int) -> torch.Tensor:
    full = torch.zeros(height, width)
    x1, y1, x2, y2 = (int(v) for v in seg.crop_region)
    full[y1:y2, x1:x2] = torch.as_tensor(seg.cropped_mask)[frame]
    return full


def iou(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a > 0.5, b > 0.5
    return float((a & b).sum()) / max(1, int((a | b).sum()))


def box_centre(mask: torch.Tensor) -> torch.Tensor:
    """The centre of a mask's bbox ``(x, y)`` in pixels."""
    rows, cols = torch.nonzero(mask.any(dim=1)).flatten(), torch.nonzero(mask.any(dim=0)).flatten()
    return torch.tensor([(float(cols[0]) + float(cols[-1]) + 1) / 2, (float(rows[0]) + float(rows[-1]) + 1) / 2])


def output_file(comfy, prefix: str) -> Path:
    files = sorted(Path(comfy.output_dir).glob(f"{prefix}*.mp4"))
    assert files, f"Save Video wrote no {prefix}*.mp4 in {comfy.output_dir}"
    return files[-1]


def load_back(comfy, path: Path, name: str) -> dict:
    """Load Video on ``path`` (copied into the input folder) -> Get Video Components: what it reads."""
    shutil.copyfile(path, Path(comfy.work_dir) / "input" / name)
    g = Graph()
    video = g.add("LoadVideo", file=name)
    parts = g.add("GetVideoComponents", video=OUT(video))
    g.add("TestSink", images=OUT(parts, 0))
    result = comfy.run(g, label=f"Load Video {name} -> Get Video Components")
    return {"video": result.output(video), "images": result.output(parts, 0), "audio": result.output(parts, 1),
            "fps": result.output(parts, 2)}


# --- SAM3 track data -> SEGS -------------------------------------------------------------------------


def test_each_seg_stays_on_its_tracked_object_and_is_sam3_track_to_masks_mask(comfy, nodes, report):
    g = Graph()
    ids = crossing_sources(g)
    segs = g.add(nodes["sam3"], track_data=OUT(ids["sam3"], 0), object_indices="", order_by="size", max_objects=0,
                 crop_factor=1.5, label="", image_frames=OUT(ids["frames"]))
    by_index = {i: g.add("SAM3_TrackToMask", track_data=OUT(ids["sam3"], 0), object_indices=str(i)) for i in (0, 1)}
    g.add("TestSink", segs=OUT(segs), mask=OUT(by_index[0]), images=OUT(ids["frames"]))
    g.add("TestSink", mask=OUT(by_index[1]))
    result = comfy.run(g, label=f"SAM3 track data (packed {MASK_SIZE}x{MASK_SIZE}) -> SAM3 Track to SEGS")
    header, items = result.output(segs)
    height, width = SIZE["height"], SIZE["width"]
    assert tuple(header) == (height, width)
    assert [seg.label for seg in items] == ["object_1", "object_0"], "the larger object (B) first, SAM3's indices"
    assert [seg.confidence for seg in items] == [pytest.approx(0.8), pytest.approx(0.9)]
    truth = {0: result.output(ids["a"], 1), 1: result.output(ids["b"], 1)}
    crossing = [f for f in range(FRAMES) if bool(((truth[0][f] > 0) & (truth[1][f] > 0)).any())]
    assert crossing, "the objects must overlap while they cross"
    worst = {}
    for seg in items:
        own = int(seg.label.rsplit("_", 1)[1])
        sam3_mask = result.output(by_index[own]) > 0.5  # ComfyUI's own decode of the same object
        scores = []
        for frame in range(FRAMES):
            mask = placed(seg, frame, height, width)
            assert torch.equal(mask > 0.5, sam3_mask[frame]), f"{seg.label}, frame {frame}: not SAM3 Track to Mask's"
            if own == 1 and frame in ABSENT_B:
                assert not bool(mask.any()), f"{seg.label} is absent in frame {frame}"
                continue
            scores.append(iou(mask, truth[own][frame]))
            assert scores[-1] > iou(mask, truth[1 - own][frame]), f"{seg.label} is on the other object in frame {frame}"
        worst[seg.label] = min(scores)
        assert worst[seg.label] > 0.6, f"{seg.label}: IoU with its object down to {worst[seg.label]:.2f}"
    report["measurements"].append(
        f"SAM3 track data at {MASK_SIZE}x{MASK_SIZE} for {width}x{height} frames, crossing in frames {crossing}: "
        + ", ".join(f"{label} on its object in every frame (IoU >= {value:.2f})" for label, value in worst.items())
        + f"; each SEG equals SAM3 Track to Mask's object > 0.5 ({result.seconds:.1f} s)")


def test_sam3_segs_through_the_video_detailer_keep_audio_rate_and_untouched_pixels(comfy, nodes, report):
    g = Graph()
    ids = crossing_sources(g)
    audio = g.add("TestAudio", seconds=FRAMES / FPS, sample_rate=44100, channels=2, seed=3)
    source = g.add("CreateVideo", images=OUT(ids["frames"]), fps=FPS, audio=OUT(audio))
    segs = g.add(nodes["sam3"], track_data=OUT(ids["sam3"], 0), object_indices="", order_by="size", max_objects=0,
                 crop_factor=1.5, label="ball")
    detailed = g.add(nodes["video"], video=OUT(source), segs=OUT(segs), basic_pipe=OUT(pipe_nodes(g, "sam3video")),
                     **video_detailer_inputs())
    g.add("SaveVideo", video=OUT(detailed), filename_prefix="adtest/sam3_detailed", format="auto", codec="auto")
    recorder = comfy.recorder()
    recorder.clear()
    result = comfy.run(g, label=f"SAM3 track data -> VIDEO detailer (2 objects, {FRAMES} frames, audio) -> Save Video")
    calls = [c for c in recorder.sample_calls if c["tag"] == "sam3video"]
    assert len(calls) == 2 and {c["latent_shape"][0] for c in calls} == {FRAMES}, "one sampling pass per object"

    before, after = result.output(source).get_components(), result.output(detailed).get_components()
    sent = result.output(audio)
    assert after.audio["waveform"] is sent["waveform"] or torch.equal(after.audio["waveform"], sent["waveform"])
    assert torch.equal(after.audio["waveform"], before.audio["waveform"]), "audio samples changed"
    assert after.audio["sample_rate"] == 44100 and after.frame_rate == Fraction(FPS) == before.frame_rate
    assert after.images.shape == before.images.shape and after.images.shape[0] == FRAMES
    union = seg_union_masks(result.output(segs), FRAMES, SIZE["height"], SIZE["width"])
    outside = union == 0
    assert torch.equal(after.images[outside], before.images[outside]), "pixels outside every mask changed"
    change = (after.images - before.images).abs().amax(dim=-1)[union >= 0.999]
    assert float(change.mean()) > 0.01, "the objects were not detailed"

    saved = output_file(comfy, "adtest/sam3_detailed")
    back = load_back(comfy, saved, "adtest_sam3_detailed.mp4")
    assert back["images"].shape == after.images.shape, "frame count or size changed through the file"
    assert Fraction(back["fps"]).limit_denominator(1000) == Fraction(FPS)
    assert back["video"].get_duration() == pytest.approx(FRAMES / FPS, abs=0.5 / FPS)
    assert back["audio"]["sample_rate"] == 44100 and back["audio"]["waveform"].shape[1] == 2
    report["measurements"].append(
        f"VIDEO detailer on SAM3's objects: {FRAMES} frames at {FPS:g} fps and {FRAMES / FPS:.3g} s of stereo audio in, the "
        f"same out (audio bit for bit in memory; after Save Video -> Load Video {back['images'].shape[0]} frames at "
        f"{float(back['fps']):g} fps, {back['video'].get_duration():.3f} s, {back['audio']['waveform'].shape[-1]} "
        f"AAC samples); pixels outside the masks unchanged ({result.seconds:.1f} s)")


# --- SAM3 Detect's boxes, and its per-object masks ------------------------------------------------------


def test_sam3_detects_boxes_are_linked_by_track_segs(comfy, nodes, report):
    g = Graph()
    ids = crossing_sources(g, frames=10)
    boxes = g.add("TestBoundingBoxes", mask=OUT(ids["a"], 1), mask_b=OUT(ids["b"], 1), overhang=14.0)
    segs = g.add(nodes["tracker"], image_frames=OUT(ids["frames"]), boxes=OUT(boxes), threshold=0.5, dilation=0,
                 crop_factor=1.5, drop_size=4, max_gap=3, min_track_length=3, max_tracks=0, order_by="size", label="")
    g.add("TestSink", segs=OUT(segs))
    result = comfy.run(g, label="SAM3 Detect-style BOUNDING_BOX lists -> Track SEGS, 10 frames")
    sent = result.output(boxes)
    assert len(sent) == 10 and any(box["x"] < 0 for frame in sent for box in frame), "boxes past the frame's edge"
    items = result.output(segs)[1]
    assert [seg.label for seg in items] == ["subject_1", "subject_2"]
    truth = {"subject_1": result.output(ids["b"], 1), "subject_2": result.output(ids["a"], 1)}  # B is larger
    worst = 0.0
    for seg in items:
        other = truth["subject_2" if seg.label == "subject_1" else "subject_1"]
        for frame in range(10):
            centre = box_centre(placed(seg, frame, SIZE["height"], SIZE["width"]) > 0.5)
            own, theirs = box_centre(truth[seg.label][frame] > 0), box_centre(other[frame] > 0)
            off = float(torch.dist(centre, own))
            assert off < float(torch.dist(centre, theirs)), f"{seg.label} is on the other subject in frame {frame}"
            worst = max(worst, off)
    assert worst <= 7.5, f"a box centre is {worst:.1f} px off its subject (clamped at the edge: at most 7 px)"
    report["measurements"].append("SAM3 Detect-style boxes (order swapping every frame, 14 px past the subject and "
                                  "the frame) -> Track SEGS: 2 tracks, each box on its subject in all 10 frames (centre at most "
                                  f"{worst:.1f} px off, where the frame's edge cuts the box)")


def test_per_object_masks_are_refused_naming_the_layout_and_the_nodes_to_use(comfy, nodes):
    require(comfy, OUR_MASK_TO_SEGS, "Mask to SEGS reads a MASK per frame")
    for node, inputs in ((nodes["tracker"], {"threshold": 0.5, "dilation": 0, "crop_factor": 1.5, "drop_size": 4,
                                             "max_gap": 3, "min_track_length": 3, "max_tracks": 0, "order_by": "size",
                                             "label": ""}),
                         (OUR_MASK_TO_SEGS, mask_to_segs_inputs())):
        g = Graph()
        ids = crossing_sources(g, frames=4)
        segs = g.add(node, image_frames=OUT(ids["frames"]), mask=OUT(ids["sam3"], 1), **inputs)
        g.add("TestSink", segs=OUT(segs))
        refused = comfy.run(g, check=False)
        assert not refused.success
        message = refused.error["exception_message"]
        assert "mask has 8 items, 2 for each of the 4 frames" in message, message
        assert "SAM3 Detect with individual_masks" in message and "SAM3 Track to SEGS" in message, message


# --- Load Video -> detail -> Save Video ----------------------------------------------------------------


def test_load_video_detail_save_video_is_three_nodes(comfy, nodes, report):
    clip = {"frames": FRAMES, "width": 128, "height": 96, "seed": 11, "radius": 16}
    g = Graph()
    source = g.add("TestClipSource", **clip)
    audio = g.add("TestAudio", seconds=FRAMES / FPS, sample_rate=22050, channels=1, seed=4)
    video = g.add("CreateVideo", images=OUT(source, 0), fps=FPS, audio=OUT(audio))
    g.add("SaveVideo", video=OUT(video), filename_prefix="adtest/source", format="auto", codec="auto")
    comfy.run(g, label="source clip with audio -> Save Video")
    name = "adtest_source_with_audio.mp4"
    loaded = load_back(comfy, output_file(comfy, "adtest/source"), name)

    g = Graph()
    mask = g.add("TestClipSource", **clip)
    segs = g.add(OUR_MASK_TO_SEGS, mask=OUT(mask, 1), **mask_to_segs_inputs())
    video = g.add("LoadVideo", file=name)
    detailed = g.add(nodes["video"], video=OUT(video), segs=OUT(segs), basic_pipe=OUT(pipe_nodes(g, "loadvideo")),
                     **video_detailer_inputs())
    g.add("SaveVideo", video=OUT(detailed), filename_prefix="adtest/loaded_detailed", format="auto", codec="auto")
    result = comfy.run(g, label=f"Load Video -> VIDEO detailer -> Save Video, {FRAMES} frames with audio")
    before = result.output(video).get_components()
    after = result.output(detailed).get_components()
    assert torch.equal(after.audio["waveform"], before.audio["waveform"]), "audio samples changed"
    assert after.audio["sample_rate"] == before.audio["sample_rate"] == 22050
    assert after.frame_rate == before.frame_rate and after.images.shape == before.images.shape
    assert after.metadata == before.metadata and after.metadata, "the container's metadata was not carried"
    assert result.output(detailed).get_bit_depth() == result.output(video).get_bit_depth()
    union = seg_union_masks(result.output(segs), FRAMES, clip["height"], clip["width"])
    assert torch.equal(after.images[union == 0], before.images[union == 0]), "pixels outside the mask changed"
    assert torch.equal(before.images, loaded["images"])

    back = load_back(comfy, output_file(comfy, "adtest/loaded_detailed"), "adtest_loaded_detailed.mp4")
    assert back["images"].shape == after.images.shape and back["fps"] == float(after.frame_rate)
    assert back["audio"]["sample_rate"] == 22050 and back["audio"]["waveform"].shape[1] == 1
    report["measurements"].append(
        f"Load Video -> VIDEO detailer -> Save Video: {FRAMES} frames at {float(after.frame_rate):g} fps, mono audio "
        f"and metadata ({', '.join(sorted(after.metadata))}) carried through, audio bit for bit; the file read back "
        f"has {back['images'].shape[0]} frames at {back['fps']:g} fps ({result.seconds:.1f} s)")
