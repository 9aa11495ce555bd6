"""Context windows for long clips and their cross-fade."""

from __future__ import annotations

import pytest
import torch

from animatediff_detailer.core.context_windows import context_windows, crossfade_weights, frame_chunks


@pytest.mark.parametrize("frames, length, overlap", [(64, 16, 4), (17, 16, 4), (100, 16, 8), (33, 8, 0), (16, 16, 4), (5, 16, 4)])
def test_windows_cover_every_frame_with_the_asked_length(frames, length, overlap):
    windows = context_windows(frames, length, overlap)
    covered = torch.zeros(frames, dtype=torch.int64)
    for window in windows:
        assert len(window) == min(length, frames)
        covered[window.start : window.stop] += 1
    assert bool((covered >= 1).all())
    for previous, current in zip(windows, windows[1:]):
        assert previous.stop - current.start >= overlap, "neighbours share at least the overlap"


@pytest.mark.parametrize("frames, length, overlap", [(64, 16, 4), (17, 16, 4), (100, 16, 8), (33, 8, 0), (40, 16, 15)])
def test_crossfade_weights_sum_to_one_and_ramp(frames, length, overlap):
    windows = context_windows(frames, length, overlap)
    weights = crossfade_weights(windows, frames)
    total = torch.zeros(frames)
    for window, w in zip(windows, weights):
        assert bool((w > 0).all())
        total[window.start : window.stop] += w
    assert torch.allclose(total, torch.ones(frames))
    if len(windows) > 1 and overlap > 1:
        first = weights[0]
        assert bool((first[-overlap:][1:] <= first[-overlap:][:-1]).all()), "the first window fades out"


def test_one_window_when_short_or_disabled():
    assert context_windows(10, 16, 4) == [range(0, 10)]
    assert context_windows(100, 0, 4) == [range(0, 100)]
    assert torch.equal(crossfade_weights([range(0, 10)], 10)[0], torch.ones(10))
    with pytest.raises(ValueError, match="context_overlap"):
        context_windows(40, 16, 16)


@pytest.mark.parametrize("frames, most, sizes", [(7, 3, [3, 2, 2]), (7, 2, [2, 2, 2, 1]), (16, 16, [16]), (5, 100, [5]),
                                                 (1, 1, [1]), (10, 4, [4, 3, 3])])
def test_frame_chunks_cover_the_clip_once_in_even_chunks(frames, most, sizes):
    chunks = frame_chunks(frames, most)
    assert [len(chunk) for chunk in chunks] == sizes
    assert [i for chunk in chunks for i in chunk] == list(range(frames))
