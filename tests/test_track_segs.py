"""Subject tracks from per-frame detections: identities kept when subjects cross, gaps filled,
short tracks dropped, K kept, one SEG per track that the detailer's tracked crop can follow."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from fakes import FakeDetector

from animatediff_detailer.core.crop_windows import CropWindows
from animatediff_detailer.core.enhance import DetailSettings, plan_seg
from animatediff_detailer.core.masks import morph_masks
from animatediff_detailer.core.regions import fit_segs
from animatediff_detailer.core.track_segs import (
    TrackOptions,
    assign,
    detector_detections,
    link_tracks,
    mask_detections,
    track_segs,
)
from animatediff_detailer.core.tracking import subject_boxes
from animatediff_detailer.nodes import NODE_CLASS_MAPPINGS
from animatediff_detailer.nodes.segs_nodes import TrackSEGSForVideo

FRAMES, HEIGHT, WIDTH = 16, 64, 160


def crossing_centres(frames: int = FRAMES) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """Subject A moves right along y = 30, subject B left along y = 34; they meet mid-clip."""
    return [((20.0 + 8 * f, 30.0), (140.0 - 8 * f, 34.0)) for f in range(frames)]


def disc_masks(centres, radii=(10.0, 12.0)) -> torch.Tensor:
    """MASK ``[2, F, H, W]``: each subject's own disc in every frame."""
    ys, xs = torch.meshgrid(torch.arange(HEIGHT) + 0.5, torch.arange(WIDTH) + 0.5, indexing="ij")
    masks = torch.zeros(2, len(centres), HEIGHT, WIDTH)
    for frame, pair in enumerate(centres):
        for subject, ((cx, cy), radius) in enumerate(zip(pair, radii)):
            masks[subject, frame] = (((xs - cx) ** 2 + (ys - cy) ** 2) <= radius**2).float()
    return masks


def seg_centres(seg) -> list[tuple[float, float] | None]:
    """Per frame, the centre of a SEG's mask in frame pixels (None where it is empty)."""
    masks = torch.as_tensor(seg.cropped_mask)
    boxes, present = subject_boxes(masks)
    x1, y1 = seg.crop_region[:2]
    return [((float(b[0] + b[2]) / 2 + x1, float(b[1] + b[3]) / 2 + y1) if p else None)
            for b, p in zip(boxes, present)]


def own_subject_share(seg, centres, subject: int) -> float:
    """Share of the frames where the SEG's mask centre is nearer subject ``subject`` than the other."""
    hits = []
    for found, pair in zip(seg_centres(seg), centres):
        if found is None:
            continue
        distances = [np.hypot(found[0] - cx, found[1] - cy) for cx, cy in pair]
        hits.append(distances[subject] <= distances[1 - subject])
    return float(np.mean(hits))


def box_frames(boxes_per_subject, confidences=(0.9, 0.8), skip=None, shuffle_seed=0):
    """Fake-detector frames from per-subject boxes; ``skip`` maps a subject to frames it is missed
    in; the detections of a frame come in a shuffled order (detectors give no identity)."""
    rng = np.random.default_rng(shuffle_seed)
    frames = []
    for frame in range(len(boxes_per_subject[0])):
        found = [(boxes[frame], confidences[s]) for s, boxes in enumerate(boxes_per_subject)
                 if frame not in (skip or {}).get(s, ())]
        frames.append([found[i] for i in rng.permutation(len(found))])
    return frames


def moving_box(x0, y0, w, h, dx, dy=0.0, frames=FRAMES, jitter=0.0, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for f in range(frames):
        jx, jy = rng.uniform(-jitter, jitter, 2) if jitter else (0.0, 0.0)
        x, y = x0 + dx * f + jx, y0 + dy * f + jy
        out.append((x, y, x + w, y + h))
    return out


def detect(detector, frames=FRAMES, threshold=0.5, dilation=0, crop_factor=3.0, drop_size=4):
    images = torch.rand(frames, HEIGHT, WIDTH, 3)
    return detector_detections(detector, images, threshold, dilation, crop_factor, drop_size)


# --- assignment ------------------------------------------------------------------------------------


def test_assignment_is_the_most_pairs_at_the_least_cost():
    rng = np.random.default_rng(0)
    for _ in range(200):
        cost = rng.random((int(rng.integers(1, 6)), int(rng.integers(1, 6)))) * 10
        cost[rng.random(cost.shape) < 0.3] = np.inf
        pairs = assign(cost)
        assert len({r for r, _ in pairs}) == len(pairs) == len({c for _, c in pairs})
        best = None
        for size in range(min(cost.shape), -1, -1):
            totals = [sum(cost[r, c] for r, c in zip(rows, cols))
                      for rows in itertools.combinations(range(cost.shape[0]), size)
                      for cols in itertools.permutations(range(cost.shape[1]), size)
                      if all(np.isfinite(cost[r, c]) for r, c in zip(rows, cols))]
            if totals:
                best = (size, min(totals))
                break
        assert (len(pairs), pytest.approx(sum(cost[r, c] for r, c in pairs))) == best
    assert assign(np.full((2, 3), np.inf)) == []


# --- identities ------------------------------------------------------------------------------------


def test_crossing_subjects_in_a_mask_keep_their_identities():
    """The two discs' masks merge into one blob for two frames as they cross: both tracks coast on
    their predicted motion through the merge and pick up their own subject on the other side."""
    centres = crossing_centres()
    subjects = disc_masks(centres)
    union = subjects.amax(dim=0)
    detections = mask_detections(union, 0.5, 0, 4)
    merged_frames = [f for f, found in enumerate(detections) if len(found) == 1]
    assert merged_frames, "the synthetic subjects must merge into one blob while they cross"
    header, segs = track_segs(detections, HEIGHT, WIDTH, TrackOptions(max_gap=4, crop_factor=1.5))
    assert header == (HEIGHT, WIDTH) and len(segs) == 2
    shares = {}
    for seg in segs:
        found = seg_centres(seg)
        assert all(c is not None for c in found), "every frame has the subject's mask (merge frames filled)"
        subject = 0 if found[0][0] < WIDTH / 2 else 1
        shares[seg.label] = own_subject_share(seg, centres, subject)
        xs = [c[0] for c in found]
        assert xs == sorted(xs, reverse=subject == 1), f"{seg.label} jumped to the other subject: {xs}"
    assert shares == {"subject_1": 1.0, "subject_2": 1.0}, shares
    assert [seg.label for seg in segs] == ["subject_1", "subject_2"]
    # B is the larger disc: ordered by size it comes first
    assert seg_centres(segs[0])[0][0] > WIDTH / 2


def test_crossing_detector_boxes_keep_their_identities():
    """Boxes from a detector that overlap as the subjects cross, come in any order and jitter."""
    a = moving_box(10, 20, 24, 24, 8.0, 0.5, jitter=1.5, seed=1)
    b = moving_box(126, 24, 28, 28, -8.0, -0.5, jitter=1.5, seed=2)
    detector = FakeDetector(box_frames([a, b]))
    tracks = link_tracks(detect(detector), max_gap=4)
    assert len(tracks) == 2
    rounded = {name: [tuple(float(round(v)) for v in box) for box in boxes] for name, boxes in (("a", a), ("b", b))}
    for track in tracks:
        boxes = [d.box for d in track.detections]
        truth = rounded["a"] if boxes[0] == rounded["a"][0] else rounded["b"]
        assert boxes == truth, "a track took the other subject's box"
    overlapping = [f for f in range(FRAMES) if rounded["a"][f][2] > rounded["b"][f][0] and rounded["b"][f][2] > rounded["a"][f][0]]
    assert len(overlapping) >= 3, "the boxes must overlap while the subjects cross"
    assert detector.calls[0]["shape"] == (1, HEIGHT, WIDTH, 3) and detector.calls[0]["dtype"] == torch.float32
    assert len(detector.calls) == FRAMES


# --- gaps, short tracks, selection ---------------------------------------------------------------


def test_a_three_frame_detector_gap_is_filled():
    truth = moving_box(10, 18, 20, 24, 6.0, 1.0)
    detections = detect(FakeDetector(box_frames([truth], skip={0: (6, 7, 8)})))
    header, (seg,) = track_segs(detections, HEIGHT, WIDTH, TrackOptions(max_gap=3, crop_factor=2.0))
    masks = torch.as_tensor(seg.cropped_mask)
    assert masks.shape[0] == FRAMES and bool(masks.flatten(1).any(dim=1).all()), "every frame has a mask"
    (track,) = link_tracks(detections, max_gap=3)
    assert track.detected.tolist() == [f not in (6, 7, 8) for f in range(FRAMES)]
    error = float((track.boxes - torch.tensor(truth, dtype=torch.float32)).abs().max())
    assert error < 1e-4, f"interpolated boxes are off by {error} px"
    x1, y1 = seg.crop_region[:2]
    for frame in (6, 7, 8):  # the held mask moved with the box, limited to it
        bx1, by1, bx2, by2 = (round(v) for v in truth[frame])
        inside = torch.zeros_like(masks[frame])
        inside[by1 - y1 : by2 - y1, bx1 - x1 : bx2 - x1] = 1.0
        assert torch.equal(masks[frame], inside), f"frame {frame}: the held box mask is not at the interpolated box"
    # one frame more than max_gap: the track ends and a new one starts
    split = link_tracks(detect(FakeDetector(box_frames([truth], skip={0: (6, 7, 8, 9)}))), max_gap=3)
    assert [t.length for t in split] == [6, 6]


def test_segm_masks_are_held_through_a_gap_with_their_shape():
    """A mask detection (a disc, not a box): a gap frame holds its shape, moved with the box."""
    centres = [((20.0 + 6 * f, 32.0), (0.0, 0.0)) for f in range(8)]
    disc = disc_masks(centres, radii=(9.0, 1.0))[0]
    disc[3:5] = 0.0
    detections = mask_detections(disc, 0.5, 0, 4)
    (track,) = link_tracks(detections, max_gap=2)
    header, (seg,) = track_segs(detections, HEIGHT, WIDTH, TrackOptions(max_gap=2, crop_factor=1.5))
    masks = torch.as_tensor(seg.cropped_mask)
    shift = round(float(track.boxes[3, 0] - track.boxes[2, 0]))
    assert shift == 6
    assert torch.equal(masks[3, :, shift:], masks[2, :, :-shift]), "the held disc moved with the interpolated box"
    assert int(masks[3].sum()) == int(masks[2].sum())


def test_short_tracks_are_dropped_and_the_largest_k_kept_with_labels():
    big = moving_box(10, 10, 30, 30, 4.0)
    middle = moving_box(60, 30, 20, 20, 0.0)
    small = moving_box(120, 10, 14, 14, -2.0)
    spurious = [[] for _ in range(FRAMES)]
    spurious[5] = [((100.0, 50.0, 112.0, 62.0), 0.99)]
    scripted = box_frames([small, big, middle], confidences=(0.95, 0.6, 0.8))
    frames = [found + extra for found, extra in zip(scripted, spurious)]
    detections = detect(FakeDetector(frames, label="face"))
    _, segs = track_segs(detections, HEIGHT, WIDTH, TrackOptions(min_length=3))
    assert [seg.label for seg in segs] == ["face_1", "face_2", "face_3"], "the 1-frame detection is dropped"
    assert [seg.bbox[2] - seg.bbox[0] - (FRAMES - 1) * abs(d) for seg, d in zip(segs, (4, 0, -2))] == [30, 20, 14]
    _, top = track_segs(detections, HEIGHT, WIDTH, TrackOptions(max_tracks=2, order_by="confidence", label="person"))
    assert [(seg.label, round(float(seg.confidence), 2)) for seg in top] == [("person_1", 0.95), ("person_2", 0.8)]
    _, everything = track_segs(detections, HEIGHT, WIDTH, TrackOptions(min_length=1))
    assert len(everything) == 4


def test_a_detector_that_finds_nothing_gives_empty_segs():
    detector = FakeDetector([[] for _ in range(FRAMES)])
    (segs,) = TrackSEGSForVideo().doit(torch.rand(FRAMES, HEIGHT, WIDTH, 3), 0.5, 0, 3.0, 10, 4, 3, 0, "size", "",
                                       detector=detector)
    assert segs == ((HEIGHT, WIDTH), [])
    assert len(detector.calls) == FRAMES
    low = FakeDetector(box_frames([moving_box(10, 10, 20, 20, 2.0)], confidences=(0.3,)))
    (segs,) = TrackSEGSForVideo().doit(torch.rand(FRAMES, HEIGHT, WIDTH, 3), 0.5, 0, 3.0, 10, 4, 3, 0, "size", "",
                                       detector=low)
    assert segs == ((HEIGHT, WIDTH), []), "detections below the threshold are left out by the detector"
    assert low.calls[0]["threshold"] == 0.5


# --- SEGS, mask input, node -----------------------------------------------------------------------


def test_segs_are_one_per_track_with_per_frame_masks_and_feed_the_tracked_crop():
    truth = moving_box(6, 20, 18, 18, 8.0)
    detections = detect(FakeDetector(box_frames([truth])))
    header, (seg,) = track_segs(detections, HEIGHT, WIDTH, TrackOptions(crop_factor=2.0))
    x1, y1, x2, y2 = seg.crop_region
    assert seg.bbox == (6, 20, 6 + 18 + 8 * (FRAMES - 1), 38)
    assert isinstance(seg.cropped_mask, torch.Tensor) and seg.cropped_mask.shape == (FRAMES, y2 - y1, x2 - x1)
    assert seg.cropped_image is None and seg.control_net_wrapper is None and seg.confidence == pytest.approx(0.9)
    (fitted,) = fit_segs((header, [seg]), HEIGHT, WIDTH)
    plan = plan_seg(fitted, DetailSettings(guide_size=64, guide_for_bbox=True, max_size=512, seed=1, crop_mode="tracked"),
                    FRAMES)
    windows: CropWindows = plan.crop_windows
    assert not windows.is_fixed and windows.width < (x2 - x1) / 3, "the tracked window follows a small subject"
    for frame, (bx1, by1, bx2, by2) in enumerate(truth):
        wx, wy = (int(v) for v in windows.origins[frame])
        assert wx <= bx1 and bx2 <= wx + windows.width and wy <= by1 and by2 <= wy + windows.height, frame


def test_mask_input_threshold_dilation_and_drop_size_as_impact():
    masks = torch.zeros(4, HEIGHT, WIDTH)
    masks[:, 20:30, 40:50] = 0.8
    masks[:, 40:44, 100:104] = 1.0  # 4 px: dropped by drop_size 4
    masks[:, 5:15, 5:15] = 0.3  # below the threshold
    (found,) = {len(frame) for frame in mask_detections(masks, 0.5, 0, 4)}
    assert found == 1
    plain = mask_detections(masks, 0.5, 0, 4)[0][0]
    assert plain.box == (40.0, 20.0, 50.0, 30.0) and plain.rect == (40, 20, 50, 30)
    assert plain.confidence == pytest.approx(0.8)
    grown = mask_detections(masks, 0.5, 3, 4)[0][0]
    assert grown.rect == (39, 19, 51, 31) and grown.box == plain.box, "a 3x3 dilation grows the mask by 1 px"
    shrunk = mask_detections(masks, 0.5, -3, 4)[0][0]
    assert shrunk.rect == (41, 21, 49, 29)
    square = torch.zeros(1, 8, 8)
    square[0, 2:6, 2:6] = 1.0
    assert int(morph_masks(square, 2).sum()) == 25 and int(morph_masks(square, -2).sum()) == 9


def test_node_reads_masks_of_another_size_and_needs_exactly_one_source():
    centres = crossing_centres(8)
    mask = disc_masks(centres).amax(dim=0)
    node = TrackSEGSForVideo()
    frames = torch.rand(8, HEIGHT * 2, WIDTH * 2, 3)
    (segs,) = node.doit(frames, 0.5, 0, 1.5, 4, 4, 3, 0, "size", "hand", mask=mask)
    assert segs[0] == (HEIGHT * 2, WIDTH * 2) and [seg.label for seg in segs[1]] == ["hand_1", "hand_2"]
    with pytest.raises(ValueError, match="one source of detections: a mask .*, a detector .* or boxes .*: none is "
                                         "connected"):
        node.doit(frames, 0.5, 0, 1.5, 4, 4, 3, 0, "size", "")
    with pytest.raises(ValueError, match="mask and detector are connected, keep one"):
        node.doit(frames, 0.5, 0, 1.5, 4, 4, 3, 0, "size", "", mask=mask, detector=FakeDetector([]))
    with pytest.raises(ValueError, match="detector must be a BBOX_DETECTOR or SEGM_DETECTOR"):
        node.doit(frames, 0.5, 0, 1.5, 4, 4, 3, 0, "size", "", detector=object())
    with pytest.raises(ValueError, match="mask has 3 frames but image_frames has 8"):
        node.doit(frames, 0.5, 0, 1.5, 4, 4, 3, 0, "size", "", mask=mask[:3])
    with pytest.raises(ValueError, match="order_by 'area'"):
        node.doit(frames, 0.5, 0, 1.5, 4, 4, 3, 0, "area", "", mask=mask)


def test_node_is_registered_under_our_id_only_with_tooltips():
    assert NODE_CLASS_MAPPINGS["AnimateDiffDetailer_TrackSEGS"] is TrackSEGSForVideo
    assert not [node_id for node_id, cls in NODE_CLASS_MAPPINGS.items()
                if cls is TrackSEGSForVideo and node_id != "AnimateDiffDetailer_TrackSEGS"]
    inputs = TrackSEGSForVideo.INPUT_TYPES()
    assert list(inputs["optional"]) == ["mask", "detector", "boxes"]
    assert inputs["optional"]["boxes"] == ("BOUNDING_BOX", {**inputs["optional"]["boxes"][1], "forceInput": True})
    assert set(inputs["optional"]["detector"][0].split(",")) == {"BBOX_DETECTOR", "SEGM_DETECTOR"}
    for group in inputs.values():
        for name, spec in group.items():
            assert spec[1].get("tooltip"), f"{name} has no tooltip"
