"""Tracked crops: windows that follow the subject, smooth, inside the frame, exact write-back."""

from __future__ import annotations

import torch
from fakes import FakeBackend, IdentityBackend
from test_enhance import CONDS, solid_frames

from animatediff_detailer.core.enhance import DetailSettings, detail_segs
from animatediff_detailer.core.mask_segs import MaskToSegsOptions, masks_to_segs
from animatediff_detailer.core.paste import paste_segs
from animatediff_detailer.core.tracking import fill_missing, path_jitter, smooth_path, tracked_windows
from animatediff_detailer.core.crop_windows import CropWindows

FRAMES, HEIGHT, WIDTH = 12, 96, 256


def crossing_subject(frames=FRAMES, jitter=0):
    """A 24x16 subject crossing the frame left to right, overlapping itself from frame to
    frame (optionally with detector jitter)."""
    masks = torch.zeros(frames, HEIGHT, WIDTH)
    generator = torch.Generator().manual_seed(1)
    for i in range(frames):
        shake = int(torch.randint(-jitter, jitter + 1, (1,), generator=generator)) if jitter else 0
        x = 10 + i * (WIDTH - 40) // (frames - 1) + shake
        masks[i, 40:56, x : x + 24] = 1.0
    return masks


def segs_for(masks, crop_factor=2.0):
    return masks_to_segs(masks, MaskToSegsOptions(crop_factor=crop_factor, drop_size=4))


def settings(mode, **overrides):
    values = dict(guide_size=64, guide_for_bbox=True, max_size=512, seed=5, crop_mode=mode)
    values.update(overrides)
    return DetailSettings(**values)


def test_windows_cut_and_paste_round_trip_in_one_operation():
    stack = torch.arange(3 * 10 * 12, dtype=torch.float32).view(3, 10, 12, 1)
    windows = CropWindows(torch.tensor([[0, 0], [3, 2], [6, 4]]), 5, 4)
    cut = windows.cut(stack)
    assert cut.shape == (3, 4, 5, 1)
    assert torch.equal(cut[1], stack[1, 2:6, 3:8])
    target = torch.zeros_like(stack)
    windows.paste(target, cut)
    assert torch.equal(target[2, 4:8, 6:11], stack[2, 4:8, 6:11]) and float(target[2, :4].sum()) == 0.0
    fixed = CropWindows.fixed((2, 3, 7, 8), 3)
    assert fixed.is_fixed and fixed.cut(stack).data_ptr() == stack[:, 3:8, 2:7].data_ptr()


def test_window_path_is_smooth_and_inside_the_crop_region():
    (_, (seg,)) = segs_for(crossing_subject(jitter=2))
    windows, subject = tracked_windows(torch.as_tensor(seg.cropped_mask), seg.crop_region, seg.bbox, FRAMES, 2.0)
    x1, y1, x2, y2 = seg.crop_region
    assert subject == (24, 16)
    assert windows.width < (x2 - x1) / 3, "the window is much smaller than the union crop"
    assert bool((windows.origins[:, 0] >= x1).all() and (windows.origins[:, 0] + windows.width <= x2).all())
    assert bool((windows.origins[:, 1] >= y1).all() and (windows.origins[:, 1] + windows.height <= y2).all())
    raw, _ = tracked_windows(torch.as_tensor(seg.cropped_mask), seg.crop_region, seg.bbox, FRAMES, 0.0)
    assert path_jitter(windows) < path_jitter(raw), "smoothing removes the detector's jitter"
    steps = windows.origins[1:, 0] - windows.origins[:-1, 0]
    assert bool((steps >= 0).all()), "the window never moves backwards"


def test_every_frames_subject_lies_inside_its_window_even_when_smoothing_lags():
    """A fast subject (20 px per frame, nearly its width) and heavy smoothing: the smoothed path
    would lag off the subject at the ends of the clip; the window holds on to it instead."""
    frames = FRAMES
    masks = crossing_subject(frames=frames)
    (_, (seg,)) = segs_for(masks, crop_factor=3.0)
    for smoothing in (0.0, 2.0, 6.0):
        windows, _ = tracked_windows(torch.as_tensor(seg.cropped_mask), seg.crop_region, seg.bbox, frames, smoothing)
        for i in range(frames):
            ys, xs = torch.nonzero(masks[i], as_tuple=True)
            x0, y0 = (int(v) for v in windows.origins[i])
            assert x0 <= int(xs.min()) and int(xs.max()) < x0 + windows.width, (smoothing, i)
            assert y0 <= int(ys.min()) and int(ys.max()) < y0 + windows.height, (smoothing, i)


def test_a_frame_clamped_crop_keeps_the_detectors_context_around_the_subject():
    """crop_factor 3 on a subject crossing the whole frame: the union crop is the frame width, so
    its width ratio says little; the window takes the context from the less clamped side."""
    (_, (seg,)) = segs_for(crossing_subject(), crop_factor=3.0)
    x1, y1, x2, y2 = seg.crop_region
    assert x2 - x1 == WIDTH, "the crop is clamped by the frame"
    windows, _ = tracked_windows(torch.as_tensor(seg.cropped_mask), seg.crop_region, seg.bbox, FRAMES, 2.0)
    assert windows.width >= 2.5 * 24 and windows.height >= 2.5 * 16


def test_smoothing_and_gap_filling():
    path = torch.tensor([[0.0], [10.0], [0.0], [10.0], [0.0]])
    assert float(smooth_path(path, 1.0).std()) < float(path.std())
    gaps = fill_missing(torch.tensor([[0.0], [0.0], [4.0], [0.0]]), torch.tensor([True, False, True, False]))
    assert gaps.flatten().tolist() == [0.0, 2.0, 4.0, 4.0]


def test_a_still_subject_gives_the_union_crops_result():
    masks = torch.zeros(6, HEIGHT, WIDTH)
    masks[:, 30:60, 100:140] = 1.0
    segs = segs_for(masks)
    frames = torch.rand(6, HEIGHT, WIDTH, 3, generator=torch.Generator().manual_seed(3))
    (_, (union,)), _ = detail_segs(frames, segs, settings("union"), CONDS, FakeBackend())
    (_, (tracked,)), _ = detail_segs(frames, segs, settings("tracked"), CONDS, FakeBackend())
    assert torch.equal(union.cropped_image, tracked.cropped_image)


def test_tracked_seg_keeps_the_seg_format_and_is_exact_outside_the_windows():
    masks = crossing_subject()
    segs = segs_for(masks)
    frames = solid_frames(FRAMES, HEIGHT, WIDTH)
    backend = FakeBackend()
    (header, (seg,)), _ = detail_segs(frames, segs, settings("tracked"), CONDS, backend)
    x1, y1, x2, y2 = seg.crop_region
    assert seg.cropped_image.shape == (FRAMES, y2 - y1, x2 - x1, 3)
    windows, _ = tracked_windows(torch.as_tensor(seg.cropped_mask), seg.crop_region, seg.bbox, FRAMES, 2.0)
    inside = torch.zeros(FRAMES, y2 - y1, x2 - x1, 1, dtype=torch.bool)
    windows.shifted(x1, y1).paste(inside, torch.ones(FRAMES, windows.height, windows.width, 1, dtype=torch.bool))
    untouched = frames[:, y1:y2, x1:x2]
    assert torch.equal(seg.cropped_image[~inside.expand_as(seg.cropped_image)], untouched[~inside.expand_as(untouched)])
    pasted = paste_segs(frames, (header, [seg]), 0)
    full = torch.zeros(FRAMES, HEIGHT, WIDTH, dtype=torch.bool)
    full[:, y1:y2, x1:x2] = torch.as_tensor(seg.cropped_mask) > 0
    assert torch.equal(pasted[~full], frames[~full])
    assert backend.sample_calls[0]["latent"][0] == FRAMES, "all frames still go into one sample call"


def test_tracked_mode_samples_the_subject_at_least_twice_as_large():
    segs = segs_for(crossing_subject())
    union_backend, tracked_backend = IdentityBackend(), IdentityBackend()
    detail_segs(solid_frames(FRAMES, HEIGHT, WIDTH), segs, settings("union", guide_for_bbox=False, guide_size=64, max_size=256), CONDS, union_backend)
    detail_segs(solid_frames(FRAMES, HEIGHT, WIDTH), segs, settings("tracked", guide_for_bbox=False, guide_size=64, max_size=256), CONDS, tracked_backend)
    (_, union_h, union_w, _), (_, tracked_h, tracked_w, _) = union_backend.encode_sizes[0], tracked_backend.encode_sizes[0]
    x1, y1, x2, y2 = segs[1][0].crop_region
    union_scale = union_w / (x2 - x1)
    windows, _ = tracked_windows(torch.as_tensor(segs[1][0].cropped_mask), segs[1][0].crop_region, segs[1][0].bbox, FRAMES)
    tracked_scale = tracked_w / windows.width
    assert tracked_scale >= 2 * union_scale
    assert tracked_h * tracked_w <= union_h * union_w, "no more pixels to encode than union mode"


def test_empty_mask_falls_back_to_the_union_crop():
    windows, size = tracked_windows(torch.zeros(1, 10, 20), (5, 5, 25, 15), (8, 6, 20, 12), 4)
    assert windows.is_fixed and windows.first_rect == (5, 5, 25, 15) and size == (12, 6)


def test_subject_size_follows_the_seg_bbox_for_a_still_subject():
    mask = torch.zeros(4, 40, 60)
    mask[:, 10:30, 15:40] = 1.0  # the mask's own box is 25x20
    windows, subject = tracked_windows(mask, (0, 0, 60, 40), (10, 8, 45, 32), 4)
    assert subject == (35, 24), "the detector's bbox, as in union mode"
    assert windows.is_fixed and windows.first_rect == (0, 0, 60, 40)
