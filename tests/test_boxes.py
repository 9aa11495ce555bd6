"""Per-frame BOUNDING_BOX lists as Track SEGS detections: read, clamped, refused when not ComfyUI's
form; linked by our tracker into one SEG per subject. And MASK batches holding several masks per
frame (per-object masks) refused wherever a MASK is read per frame, saying what they are."""

from __future__ import annotations

import logging

import pytest
import torch
from animatediff_detailer.core.boxes import Box, box_detections, frame_boxes
from animatediff_detailer.core.frames import per_frame
from animatediff_detailer.nodes.segs_nodes import MaskToSEGSForVideo, TrackSEGSForVideo

FRAMES, HEIGHT, WIDTH = 12, 64, 160


def box(x, y, w, h, score=0.9, **extra) -> dict:
    return {"x": x, "y": y, "width": w, "height": h, "score": score, **extra}


def crossing_boxes() -> list[list[dict]]:
    """SAM3 Detect's bboxes for two subjects crossing: A (18 px) goes right, B (24 px) left; floats, no
    identity, their order in each frame by score, which swaps every frame; B starts past the frame's edge."""
    frames = []
    for f in range(FRAMES):
        a = box(4.0 + 11.5 * f, 20.25, 18.0, 18.0, score=0.9 if f % 2 else 0.7)
        b = box(140.0 - 11.5 * f, 24.5, 24.0, 24.0, score=0.8)
        frames.append(sorted([a, b], key=lambda d: -d["score"]))
    return frames


def test_boxes_are_read_per_frame_and_clamped_to_the_frame():
    boxes = frame_boxes(crossing_boxes(), FRAMES, HEIGHT, WIDTH)
    assert len(boxes) == FRAMES and all(len(frame) == 2 for frame in boxes)
    assert Box(140.0, 24.5, 160.0, 48.5, 0.8) in boxes[0], "x + width = 164 clamped to the frame's 160"
    edge = frame_boxes([[box(-5, -3, 20, 10), box(150, 60, 30, 30, label="face"), box(10, 10, 0, 5)]], 1, HEIGHT,
                       WIDTH)
    assert edge == [[Box(0.0, 0.0, 15.0, 7.0, 0.9), Box(150.0, 60.0, 160.0, 64.0, 0.9, "face")]], "empty box dropped"
    assert frame_boxes([[box(200, 10, 10, 10)]], 1, HEIGHT, WIDTH) == [[]], "a box outside the frame is dropped"
    assert frame_boxes([[{"x": 1, "y": 2, "width": 30, "height": 20}]], 1, HEIGHT, WIDTH)[0][0].score == 1.0


def test_one_box_or_one_frames_list_stands_for_every_frame():
    one = frame_boxes(box(10, 10, 20, 20), 3, HEIGHT, WIDTH)
    assert one == [[Box(10.0, 10.0, 30.0, 30.0, 0.9)]] * 3
    assert frame_boxes([box(10, 10, 20, 20)], 3, HEIGHT, WIDTH) == one
    assert frame_boxes([[box(10, 10, 20, 20)]], 3, HEIGHT, WIDTH) == one
    assert frame_boxes([], 3, HEIGHT, WIDTH) == [[], [], []], "CreateBoundingBoxes' empty list: nothing detected"


@pytest.mark.parametrize("value, message", [
    (torch.zeros(2, 4), r"boxes is a Tensor of shape \(2, 4\); BOUNDING_BOX must be per frame a list of \{x, y"),
    ((10, 20, 30, 40), r"four numbers: another pack's \(x1, y1, x2, y2\) box"),
    ([[(10, 20, 30, 40)]] * FRAMES, r"boxes of frame 0 is a list of 1 items \(tuple\)"),
    ([[box(1, 2, 3, 4)], "frame"], r"boxes is a list of 2 items \(list, str\)"),
    ([[{"x": 1, "y": 2, "w": 3, "h": 4}]], r"boxes, box 0 has no width, height \(keys: x, y, w, h\)"),
    ([[box(1, 2, "3", 4)]], r"'width' must be a finite number, got '3'"),
    ([[box(1, 2, float("nan"), 4)]], r"'width' must be a finite number, got nan"),
    ([[box(1, 2, 3, 4)]] * 5, r"boxes has 5 frames but image_frames has 12"),
])
def test_boxes_not_in_comfyuis_form_are_refused_naming_it(value, message):
    with pytest.raises(ValueError, match=message):
        frame_boxes(value, FRAMES, HEIGHT, WIDTH)


def test_boxes_that_look_like_fractions_of_the_frame_are_warned_about(caplog):
    with caplog.at_level(logging.WARNING):
        frame_boxes([[box(0.1, 0.2, 0.3, 0.3)]], 1, HEIGHT, WIDTH)
    assert "look like fractions of the frame" in caplog.text


def test_detections_are_the_boxes_with_threshold_drop_size_dilation_and_label():
    boxes = [[Box(10.0, 10.0, 30.0, 26.0, 0.9), Box(50.0, 10.0, 60.0, 20.0, 0.3), Box(80.0, 10.0, 84.0, 40.0, 0.9),
              Box(100.5, 5.25, 120.0, 25.0, 0.9, "face")]]
    (found,) = box_detections(boxes, HEIGHT, WIDTH, 0.5, 0, 4)
    assert [d.label for d in found] == ["subject", "face"], "score 0.3 below threshold, 4 px wide box dropped"
    plain, face = found
    assert plain.box == (10.0, 10.0, 30.0, 26.0) and plain.rect == (10, 10, 30, 26) and plain.confidence == 0.9
    assert plain.mask.shape == (16, 20) and bool((plain.mask == 1.0).all())
    assert face.rect == (100, 5, 120, 25), "a fractional box is covered by whole pixels"
    (grown,) = box_detections(boxes, HEIGHT, WIDTH, 0.5, 3, 4)
    assert grown[0].rect == (9, 9, 31, 27) and grown[0].box == plain.box, "a 3x3 dilation grows the box by 1 px"
    (shrunk,) = box_detections(boxes, HEIGHT, WIDTH, 0.5, -3, 4)
    assert shrunk[0].rect == (11, 11, 29, 25)


def test_track_segs_links_crossing_boxes_into_one_seg_per_subject():
    node = TrackSEGSForVideo()
    frames = torch.rand(FRAMES, HEIGHT, WIDTH, 3)
    (segs,) = node.doit(frames, 0.5, 0, 1.5, 4, 4, 3, 0, "size", "", boxes=crossing_boxes())
    header, items = segs
    assert header == (HEIGHT, WIDTH) and [seg.label for seg in items] == ["subject_1", "subject_2"]
    lefts = {"subject_1": lambda f: 140.0 - 11.5 * f, "subject_2": lambda f: 4.0 + 11.5 * f}  # B larger, then A
    for seg in items:
        x1 = seg.crop_region[0]
        for frame in range(FRAMES):
            cols = torch.nonzero(seg.cropped_mask[frame].any(dim=0)).flatten()
            assert x1 + int(cols[0]) == int(lefts[seg.label](frame)), (seg.label, frame)
    with pytest.raises(ValueError, match="boxes is a Tensor"):
        node.doit(frames, 0.5, 0, 1.5, 4, 4, 3, 0, "size", "", boxes=torch.zeros(FRAMES, 4))
    with pytest.raises(ValueError, match="mask and boxes are connected, keep one"):
        node.doit(frames, 0.5, 0, 1.5, 4, 4, 3, 0, "size", "", mask=torch.zeros(FRAMES, HEIGHT, WIDTH),
                  boxes=crossing_boxes())


# --- several masks per frame -------------------------------------------------------------------------


def test_a_count_that_is_a_multiple_of_the_frames_is_said_to_be_several_per_frame():
    with pytest.raises(ValueError, match="mask has 8 items, 2 for each of the 4 frames of image_frames: .*several "
                                         "items per frame .*cannot be read as frames: one per object, please"):
        per_frame(torch.zeros(8, 4, 4), 4, "mask", several_fix="one per object, please")
    with pytest.raises(ValueError, match="has 6 frames but image_frames has 4"):
        per_frame(torch.zeros(6, 4, 4), 4, "mask")


def test_per_object_masks_are_refused_by_the_nodes_that_read_a_mask_per_frame():
    frames = torch.rand(4, 32, 48, 3)
    per_object = torch.zeros(8, 32, 48)  # SAM3 Detect's individual_masks: two objects in each of 4 frames
    per_object[:, 8:20, 8:20] = 1.0
    layout = r"mask has 8 items, 2 for each of the 4 frames .*one mask per object per frame \(SAM3 Detect with " \
             r"individual_masks on.*SAM3 Video Track and 'SAM3 Track to SEGS'.*SAM3 Detect's bboxes to Track SEGS"
    with pytest.raises(ValueError, match=layout):
        TrackSEGSForVideo().doit(frames, 0.5, 0, 1.5, 4, 4, 3, 0, "size", "", mask=per_object)
    with pytest.raises(ValueError, match=layout):
        MaskToSEGSForVideo().doit(per_object, False, 3.0, False, 4, image_frames=frames)
    with pytest.raises(ValueError, match=r"mask has 7 frames but image_frames has 4: .*SAM3 Detect's individual_masks"):
        TrackSEGSForVideo().doit(frames, 0.5, 0, 1.5, 4, 4, 3, 0, "size", "", mask=per_object[:7])
    (segs,) = MaskToSEGSForVideo().doit(per_object[:4], False, 3.0, False, 4, image_frames=frames)
    assert len(segs[1]) == 1, "one mask per frame is read as before"
    (alone,) = MaskToSEGSForVideo().doit(per_object, False, 3.0, False, 4)
    assert alone[1][0].cropped_mask.shape[0] == 8, "without image_frames the mask's length is the clip's"
