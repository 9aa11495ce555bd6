"""The per-frame controls of a detail pass (core/subject_controls.py and the detail pass's use of them):
denoise by subject size, the size gate, the correction-only paste; against the fake backends."""

from __future__ import annotations

import torch
from fakes import FakeBackend, IdentityBackend

from animatediff_detailer.core.conditioning import Conditionings
from animatediff_detailer.core.enhance import DetailSettings, detail_segs
from animatediff_detailer.core.noise import FrameNoise
from animatediff_detailer.core.paste import paste_segs
from animatediff_detailer.core.segs import SEG
from animatediff_detailer.core.subject_controls import (
    GATE_FADE_FRAMES,
    denoise_by_size,
    size_gate,
    subject_sizes,
)

HEIGHT, WIDTH, FRAMES = 96, 128, 12
REGION = (0, 0, WIDTH, HEIGHT)
CONDS = Conditionings([[torch.zeros(1), {}]], [[torch.zeros(1), {}]])


def growing_subject(sides: list[int]) -> SEG:
    """A square subject whose side in frame f is ``sides[f]`` pixels (0: absent), centred in the frame."""
    mask = torch.zeros(len(sides), HEIGHT, WIDTH)
    for frame, side in enumerate(sides):
        if side:
            y, x = (HEIGHT - side) // 2, (WIDTH - side) // 2
            mask[frame, y : y + side, x : x + side] = 1.0
    return SEG(None, mask, 0.9, REGION, (10, 10, 118, 86), "face")


def clip(frames: int = FRAMES) -> torch.Tensor:
    return torch.rand(frames, HEIGHT, WIDTH, 3, generator=torch.Generator().manual_seed(4))


def run(seg: SEG, backend=None, frames: torch.Tensor | None = None, **settings):
    backend = backend or FakeBackend()
    values = dict(guide_size=64, guide_for_bbox=True, max_size=128, seed=1)
    values.update(settings)
    frames = clip(seg.cropped_mask.shape[0]) if frames is None else frames
    segs, _ = detail_segs(frames, ((HEIGHT, WIDTH), [seg]), DetailSettings(**values), CONDS, backend)
    return frames, segs, backend


def test_subject_sizes_are_the_boxes_shorter_side_smoothed_and_filled():
    sides = [16, 16, 0, 16, 64, 64, 64, 64]
    sizes, present = subject_sizes(growing_subject(sides).cropped_mask)
    assert present.tolist() == [side > 0 for side in sides]
    assert 16 <= float(sizes[0]) < 20 and 60 < float(sizes[-1]) <= 64, "smoothed over about two frames"
    assert 15 < float(sizes[2]) < 40, "an absent frame takes the size of the frames around it"
    assert bool((sizes[1:] >= sizes[:-1] - 1e-4).all()), "smoothing keeps the growth monotonic"


def test_denoise_follows_size_between_half_guide_size_and_guide_size():
    sizes = torch.tensor([10.0, 32.0, 48.0, 64.0, 200.0])
    strengths = denoise_by_size(sizes, guide_size=64, denoise=0.8, large_denoise=0.2)
    assert torch.allclose(strengths, torch.tensor([0.8, 0.8, 0.5, 0.2, 0.2]))


def test_the_gate_has_hysteresis_and_fades_in_and_out():
    # small, then jitters around the gate (no toggling), then large, then small again
    sizes = torch.tensor([20.0] * 10 + [101.0, 99.0, 105.0] + [200.0] * 10 + [20.0] * 10)
    weights = size_gate(sizes, torch.ones(len(sizes), dtype=torch.bool), gate=100)
    assert float(weights[10:12].min()) > 0, "just above the gate (inside the hysteresis band) keeps it open"
    closed = torch.nonzero(weights == 0).flatten().tolist()
    assert closed == list(range(13, 23)), closed  # 105 is within the band, 200 closes it
    ramp = [round(float(w), 4) for w in weights[23 : 23 + GATE_FADE_FRAMES + 1]]
    assert ramp == [round(i / (GATE_FADE_FRAMES + 1), 4) for i in range(1, GATE_FADE_FRAMES + 1)] + [1.0]
    assert float(weights[0]) == 1.0


def test_denoise_by_size_scales_each_frames_noise_mask():
    sides = [16] * 4 + [48] * 4 + [80] * 4
    _, _, backend = run(growing_subject(sides), denoise_by_size=True, large_subject_denoise=0.25,
                        backend=FakeBackend(denoise=1.0))
    (call,) = backend.sample_calls
    peaks = call["mask"].flatten(1).amax(dim=1)
    assert float(peaks[0]) == 1.0, "a small subject gets the full denoise"
    assert abs(float(peaks[-1]) - 0.25) < 0.02, "a subject past guide_size gets large_subject_denoise"
    assert bool((peaks[1:] <= peaks[:-1] + 1e-6).all()), "the strength falls as the subject grows"


def test_the_size_gate_leaves_frames_with_a_large_subject_untouched_bit_for_bit():
    sides = [16] * 6 + [90] * 6
    frames, segs, backend = run(growing_subject(sides), size_gate=64)
    (call,) = backend.sample_calls
    peaks = call["mask"].flatten(1).amax(dim=1)
    pasted = paste_segs(frames, segs, feather=0)
    (seg,) = segs[1]
    weights = seg.cropped_mask.flatten(1).amax(dim=1)
    closed = (weights == 0).nonzero().flatten().tolist()
    assert closed and closed[0] > 6, "the gate closes once the subject grew past it (after the hysteresis band)"
    for frame in closed:
        assert torch.equal(pasted[frame], frames[frame]), f"frame {frame} outside the gate changed"
        assert float(peaks[frame]) == 0.0, "and was not redrawn"
    assert not torch.equal(pasted[0], frames[0]), "a frame inside the gate is detailed"
    assert 0 < float(weights[closed[0] - 1]) < 1, "the paste fades out before the gate closes"


def test_a_seg_never_inside_the_gate_costs_no_model_work_and_changes_nothing():
    frames, segs, backend = run(growing_subject([90] * FRAMES), size_gate=32)
    assert not backend.sample_calls and not backend.encode_sizes
    assert torch.equal(paste_segs(frames, segs, feather=5), frames)


def test_correction_only_paste_returns_the_original_where_the_model_changed_nothing():
    """IdentityBackend samples nothing, as a denoise of 0 would: a plain paste returns the VAE's round trip
    (lossy), the correction-only paste the original itself."""
    seg = growing_subject([48] * 4)
    frames, plain, plain_backend = run(seg, backend=IdentityBackend())
    _, corrected, backend = run(seg, backend=IdentityBackend(), correction_only=True)
    mask = seg.cropped_mask > 0
    plain_error = float((paste_segs(frames, plain, feather=0) - frames).abs()[mask].max())
    corrected_error = float((paste_segs(frames, corrected, feather=0) - frames).abs()[mask].max())
    assert plain_error > 0.05 and corrected_error < 1e-3
    assert len(backend.decode_sizes) == 2 * len(plain_backend.decode_sizes), "one more decode of the crop's latent"


def test_shared_frame_noise_is_the_same_for_every_frame_whatever_the_chunks():
    like = torch.zeros(6, 4, 8, 8)
    whole = FrameNoise(3, range(0, 6), like, shared=True)()
    parts = torch.cat([FrameNoise(3, range(0, 2), like[:2], shared=True)(), FrameNoise(3, range(2, 6), like[2:], shared=True)()])
    assert torch.equal(whole, parts)
    assert all(torch.equal(whole[0], whole[f]) for f in range(6))
    assert not torch.equal(FrameNoise(3, range(0, 6), like)()[0], FrameNoise(3, range(0, 6), like)()[1])
