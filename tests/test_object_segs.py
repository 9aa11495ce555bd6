"""Tracked objects (SAM3's track data) to SEGS: one SEG per object, identity kept through a crossing,
empty frames where an object is absent, selection and labels, masks at a resolution below the frames'.

The node is driven with track data packed LSB-first, 8 pixels a byte, as ComfyUI's SAM3 packs it;
the pack and unpack functions here are the tests' own (the real-ComfyUI tier uses ComfyUI's)."""

from __future__ import annotations

import logging

import pytest
import torch
from animatediff_detailer.core import object_segs
from animatediff_detailer.core.geometry import expand_region
from animatediff_detailer.core.object_segs import DenseObjectMasks, ObjectOptions, objects_to_segs, parse_indices
from animatediff_detailer.nodes import NODE_CLASS_MAPPINGS
from animatediff_detailer.nodes.adapter import sam3 as sam3_adapter
from animatediff_detailer.nodes.video_nodes import SAM3TrackToSEGS

FRAMES, HEIGHT, WIDTH = 10, 64, 96  # the frames
MASK_SIZE = 16  # SAM3's masks are square (the frames squashed), here 16x16 for 64x96 frames
RADII = (10.0, 13.0)  # object 0 smaller, object 1 larger (in frame pixels)


def centres(frame: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Object 0 moves right, object 1 left; they overlap in the middle frames."""
    t = frame / (FRAMES - 1)
    return (14 + 68 * t, 30.0), (82 - 68 * t, 34.0)


def discs(height: int, width: int, absent: dict[int, set[int]] | None = None) -> torch.Tensor:
    """bool ``[FRAMES, 2, height, width]``: each object's disc drawn at that resolution (positions in
    frame pixels scaled to it), empty in the frames ``absent`` lists for it."""
    ys, xs = torch.meshgrid((torch.arange(height) + 0.5) * HEIGHT / height, (torch.arange(width) + 0.5) * WIDTH / width,
                            indexing="ij")
    out = torch.zeros(FRAMES, 2, height, width, dtype=torch.bool)
    for frame in range(FRAMES):
        for index, ((cx, cy), radius) in enumerate(zip(centres(frame), RADII)):
            if frame not in (absent or {}).get(index, set()):
                out[frame, index] = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius * radius
    return out


def placed(seg, frame: int) -> torch.Tensor:
    """The SEG's mask of ``frame`` at its place in the frame: float ``[HEIGHT, WIDTH]``."""
    full = torch.zeros(HEIGHT, WIDTH)
    x1, y1, x2, y2 = seg.crop_region
    full[y1:y2, x1:x2] = seg.cropped_mask[frame]
    return full


def iou(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a > 0.5, b > 0.5
    return float((a & b).sum()) / max(1, int((a | b).sum()))


def test_each_seg_stays_on_its_object_through_the_crossing_at_a_lower_mask_resolution():
    truth = discs(HEIGHT, WIDTH)
    assert bool((truth[:, 0] & truth[:, 1]).flatten(1).any(dim=1).any()), "the objects must overlap while crossing"
    masks = DenseObjectMasks(discs(MASK_SIZE, MASK_SIZE))
    header, items = objects_to_segs(masks, [0.9, 0.8], HEIGHT, WIDTH, ObjectOptions(crop_factor=1.5))
    assert header == (HEIGHT, WIDTH)
    assert [seg.label for seg in items] == ["object_1", "object_0"], "largest first, labelled by SAM3's index"
    assert [seg.confidence for seg in items] == [pytest.approx(0.8), pytest.approx(0.9)]
    for seg in items:
        own = int(seg.label.rsplit("_", 1)[1])
        assert seg.cropped_image is None and seg.cropped_mask.dtype == torch.float32
        assert seg.cropped_mask.shape[0] == FRAMES and set(seg.cropped_mask.unique().tolist()) <= {0.0, 1.0}
        for frame in range(FRAMES):
            mask = placed(seg, frame)
            assert iou(mask, truth[frame, own]) > 0.7, (seg.label, frame)
            assert iou(mask, truth[frame, own]) > iou(mask, truth[frame, 1 - own]), (seg.label, frame)


def test_bbox_is_the_union_over_the_clip_and_the_crop_region_that_times_crop_factor():
    masks = DenseObjectMasks(discs(HEIGHT, WIDTH))  # at the frames' own size: read exactly
    _, items = objects_to_segs(masks, None, HEIGHT, WIDTH, ObjectOptions(order_by="index", crop_factor=2.0))
    truth = discs(HEIGHT, WIDTH)
    for index, seg in enumerate(items):
        rows = torch.nonzero(truth[:, index].any(dim=0).any(dim=1)).flatten()
        cols = torch.nonzero(truth[:, index].any(dim=0).any(dim=0)).flatten()
        assert seg.bbox == (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
        assert seg.crop_region == expand_region(seg.bbox, 2.0, WIDTH, HEIGHT)
        assert seg.confidence == 1.0, "no scores: confidence 1"
        for frame in range(FRAMES):
            assert torch.equal(placed(seg, frame) > 0.5, truth[frame, index])


def test_absent_frames_are_empty_and_an_object_never_present_gives_no_seg():
    low = discs(MASK_SIZE, MASK_SIZE, absent={1: {0, 1, 2, 7}})
    low = torch.cat([low, torch.zeros(FRAMES, 1, MASK_SIZE, MASK_SIZE, dtype=torch.bool)], dim=1)  # object 2: never
    _, items = objects_to_segs(DenseObjectMasks(low), [0.9, 0.8, 0.7], HEIGHT, WIDTH, ObjectOptions(order_by="index"))
    assert [seg.label for seg in items] == ["object_0", "object_1"]
    present = items[1].cropped_mask.flatten(1).any(dim=1).tolist()
    assert present == [frame not in (0, 1, 2, 7) for frame in range(FRAMES)]
    assert all(items[0].cropped_mask.flatten(1).any(dim=1).tolist())


def test_selection_by_indices_order_and_count_and_labels(caplog):
    low = DenseObjectMasks(discs(MASK_SIZE, MASK_SIZE))
    by = lambda **kw: [seg.label for seg in objects_to_segs(low, None, HEIGHT, WIDTH, ObjectOptions(**kw))[1]]
    assert by() == ["object_1", "object_0"]
    assert by(order_by="index") == ["object_0", "object_1"]
    assert by(max_objects=1) == ["object_1"]
    assert by(order_by="index", max_objects=1) == ["object_0"]
    assert by(indices=(0,), label="face") == ["face_0"]
    with caplog.at_level(logging.WARNING):
        assert by(indices=(5, 0)) == ["object_0"]
    assert "object_indices 5 skipped: the track data holds 2 object(s)" in caplog.text
    with pytest.raises(ValueError, match="order_by 'area'"):
        ObjectOptions(order_by="area")


def test_object_indices_are_parsed_strictly():
    assert parse_indices("") is None and parse_indices("  ") is None
    assert parse_indices("0,2") == (0, 2) and parse_indices(" 2 , 0, 2 ") == (2, 0)
    with pytest.raises(ValueError, match="object_indices must be object indices .* got '-1', 'a'"):
        parse_indices("-1, a, 3")


def test_chunked_reading_gives_the_same_segs(monkeypatch):
    low = DenseObjectMasks(discs(MASK_SIZE, MASK_SIZE))
    whole = objects_to_segs(low, None, HEIGHT, WIDTH, ObjectOptions())
    monkeypatch.setattr(object_segs, "CHUNK_VALUES", HEIGHT * WIDTH * 3)  # three frames at a time
    chunked = objects_to_segs(low, None, HEIGHT, WIDTH, ObjectOptions())
    assert [(s.bbox, s.crop_region) for s in whole[1]] == [(s.bbox, s.crop_region) for s in chunked[1]]
    assert all(torch.equal(a.cropped_mask, b.cropped_mask) for a, b in zip(whole[1], chunked[1]))


# --- the node, with track data packed as SAM3 packs it ----------------------------------------------


def pack(masks: torch.Tensor) -> torch.Tensor:
    """bool ``[..., h, w]`` -> uint8 ``[..., h, w / 8]``: pixel 8j + k is bit k of byte j."""
    bits = masks.reshape(*masks.shape[:-1], -1, 8).to(torch.uint8) << torch.arange(8, dtype=torch.uint8)
    return bits.sum(dim=-1, dtype=torch.uint8)


def unpack(packed: torch.Tensor) -> torch.Tensor:
    bits = (packed.unsqueeze(-1) >> torch.arange(8, dtype=torch.uint8)) & 1
    return bits.bool().reshape(*packed.shape[:-1], -1)


@pytest.fixture
def sam3_unpack(monkeypatch):
    monkeypatch.setattr(sam3_adapter, "_unpack_masks", lambda: unpack)


def track_data(low: torch.Tensor | None = None, **changes) -> dict:
    low = discs(MASK_SIZE, MASK_SIZE) if low is None else low
    data = {"packed_masks": pack(low), "n_frames": FRAMES, "scores": [0.9, 0.8], "orig_size": (HEIGHT, WIDTH)}
    data.update(changes)
    return data


def test_the_node_reads_packed_track_data(sam3_unpack):
    low = discs(MASK_SIZE, MASK_SIZE)
    assert torch.equal(unpack(pack(low)), low)
    node = SAM3TrackToSEGS()
    (segs,) = node.doit(track_data(low), "", "size", 0, 1.5, "face")
    (expected,) = (objects_to_segs(DenseObjectMasks(low), [0.9, 0.8], HEIGHT, WIDTH,
                                   ObjectOptions(crop_factor=1.5, label="face")),)
    assert segs[0] == (HEIGHT, WIDTH) and [s.label for s in segs[1]] == ["face_1", "face_0"]
    assert all(torch.equal(a.cropped_mask, b.cropped_mask) and a.crop_region == b.crop_region
               for a, b in zip(segs[1], expected[1]))
    # image_frames of another size: the SEGS are made for it
    (bigger,) = node.doit(track_data(low), "1", "index", 0, 1.5, "", image_frames=torch.rand(FRAMES, 128, 192, 3))
    assert bigger[0] == (128, 192) and [s.label for s in bigger[1]] == ["object_1"]


def test_the_node_refuses_what_is_not_its_track_data(sam3_unpack):
    node = SAM3TrackToSEGS()
    with pytest.raises(ValueError, match="track_data must be SAM3 track data .*got a Tensor.*SAM3 Video Track"):
        node.doit(torch.zeros(3), "", "size", 0, 3.0)
    with pytest.raises(ValueError, match="packed_masks must be uint8"):
        node.doit(track_data(packed_masks=torch.zeros(FRAMES, 2, 16, 2)), "", "size", 0, 3.0)
    with pytest.raises(ValueError, match="image_frames has 4 frames but track_data has 10"):
        node.doit(track_data(), "", "size", 0, 3.0, image_frames=torch.rand(4, HEIGHT, WIDTH, 3))
    no_size = track_data()
    del no_size["orig_size"]
    with pytest.raises(ValueError, match="no orig_size.*connect image_frames"):
        node.doit(no_size, "", "size", 0, 3.0)
    with pytest.raises(ValueError, match="object_indices must be"):
        node.doit(track_data(), "first", "size", 0, 3.0)


def test_nothing_tracked_gives_empty_segs():
    node = SAM3TrackToSEGS()
    data = {"packed_masks": None, "n_frames": FRAMES, "scores": [], "orig_size": (HEIGHT, WIDTH)}
    assert node.doit(data, "", "size", 0, 3.0) == (((HEIGHT, WIDTH), []),)


def test_the_node_is_registered_with_tooltips():
    assert NODE_CLASS_MAPPINGS["AnimateDiffDetailer_SAM3TrackToSEGS"] is SAM3TrackToSEGS
    inputs = SAM3TrackToSEGS.INPUT_TYPES()
    assert inputs["required"]["track_data"][0] == "SAM3_TRACK_DATA"
    assert list(inputs["optional"]) == ["image_frames"]


def test_scores_given_as_a_tensor_are_read(sam3_unpack):
    (segs,) = SAM3TrackToSEGS().doit(track_data(scores=torch.tensor([0.25, 0.5])), "", "index", 0, 3.0)
    assert [seg.confidence for seg in segs[1]] == [0.25, 0.5]
