"""Rectangles, rescaling and sampling sizes."""

from __future__ import annotations

import pytest

from animatediff_detailer.core.geometry import clamp_rect, rect_size, sampling_size, scale_rect


def test_scale_rect_uses_width_ratio_for_x_and_height_ratio_for_y():
    # SEGS made on 400x200 frames (W x H) applied to 200x400 frames: x halves, y doubles.
    assert scale_rect((100, 50, 300, 150), 200 / 400, 400 / 200) == (50, 100, 150, 300)


def test_clamp_rect_keeps_only_the_part_inside_the_frame():
    assert clamp_rect((-10, -5, 30, 40), 20, 30) == (0, 0, 20, 30)
    assert rect_size(clamp_rect((25, 5, 40, 10), 20, 30)) == (0, 5)
    assert rect_size(clamp_rect((5, 5, 2, 2), 20, 30)) == (0, 0)


@pytest.mark.parametrize(
    "crop, bbox, guide, for_bbox, max_size",
    [
        ((101, 79), (60, 50), 256, True, 768),
        ((101, 79), (60, 50), 256, False, 768),
        ((33, 17), (33, 17), 512, True, 512),
        ((250, 40), (250, 40), 256, True, 1024),
        ((1000, 600), (100, 90), 512, True, 768),
        ((77, 77), (0, 0), 128, True, 768),
    ],
)
def test_sampling_size_is_aligned_and_capped(crop, bbox, guide, for_bbox, max_size):
    size = sampling_size(crop, bbox, guide, for_bbox, max_size)
    assert size.width % 8 == 0 and size.height % 8 == 0
    assert max(size.width, size.height) <= max_size
    assert size.width >= 8 and size.height >= 8
    # aspect kept within one stride
    assert abs(size.width - crop[0] * size.scale) <= 8 and abs(size.height - crop[1] * size.scale) <= 8


def test_guide_size_for_bbox_and_for_crop():
    by_bbox = sampling_size((100, 80), (50, 40), 160, True, 2048)
    assert by_bbox.scale == pytest.approx(4.0)
    assert (by_bbox.width, by_bbox.height) == (400, 320)
    by_crop = sampling_size((100, 80), (50, 40), 160, False, 2048)
    assert by_crop.scale == pytest.approx(2.0)
    assert (by_crop.width, by_crop.height) == (200, 160)


def test_max_size_caps_crops_that_are_already_larger():
    # Impact samples a 1200x900 crop at full size whatever max_size says.
    size = sampling_size((1200, 900), (300, 300), 256, True, 768)
    assert size.width == 768 and size.height <= 768
    assert size.scale == pytest.approx(768 / 1200)


def test_small_guide_samples_at_native_size_aligned():
    size = sampling_size((101, 79), (101, 79), 64, True, 768)
    assert size.scale == 1.0
    assert (size.width, size.height) == (104, 80)


def test_empty_crop_is_an_error():
    with pytest.raises(ValueError, match="empty crop"):
        sampling_size((0, 10), (0, 10), 256, True, 768)
