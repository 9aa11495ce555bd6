"""The detail pass's per-frame controls through ComfyUI's engine (the tiny SD1.5 checkpoint): denoise by
subject size, the size gate, the correction-only paste and shared noise; off, as Impact, on Impact's ids.

The synthetic clip's subject (a striped disc) grows as it crosses the frame (``radius_end``), so its size
in each frame is known: 8 px of radius at the start, 40 at the end (16 to 80 px across, guide_size 64).
"""

from __future__ import annotations

import torch

from comfy_harness import OUR_DETAILER, OUR_PASTE, ClipSettings, DetailSettings
from pipelines import build_pipeline, refined_crops, run_recorded

GROWING = ClipSettings(frames=8, width=128, height=128, radius=8, radius_end=40, x_start=0.35, x_end=0.65)


def run(comfy, label: str, clip: ClipSettings = GROWING, detail: DetailSettings | None = None, **extra):
    detail = detail or DetailSettings(guide_size=64, max_size=128, steps=3, denoise=0.8)
    pipeline = build_pipeline(comfy, clip=clip, detail=detail, record_tag="base", pastes={"paste": OUR_PASTE},
                              detailer_extra={"sampling_precision": "fp32", **extra})
    return run_recorded(comfy, pipeline, label)


def per_frame_peaks(mask: torch.Tensor, frames: int) -> torch.Tensor:
    """The largest value of a recorded noise mask in each frame (the sampler's mask is [F, 1, h, w])."""
    return mask.reshape(frames, -1).amax(dim=1)


def test_denoise_by_size_lowers_the_strength_as_the_subject_grows(comfy, report):
    recorded = run(comfy, "denoise by subject size, growing subject", denoise_by_size=True, large_subject_denoise=0.2)
    (call,) = recorded.sample_calls
    assert call["denoise_mask_function"] is not None, "the per-frame strength needs differential diffusion"
    peaks = per_frame_peaks(call["denoise_mask"], GROWING.frames)
    assert abs(float(peaks[0]) - 1.0) < 1e-3, "a small subject: the full denoise"
    assert abs(float(peaks[-1]) - 0.25) < 0.02, "past guide_size: large_subject_denoise / denoise (0.2 / 0.8)"
    assert bool((peaks[1:] <= peaks[:-1] + 1e-3).all())
    report["measurements"].append(f"denoise by size, noise-mask peak per frame: {[round(float(p), 3) for p in peaks]}")


def test_the_size_gate_details_small_frames_only_and_returns_the_rest_bit_for_bit(comfy, report):
    recorded = run(comfy, "size gate at 48 px, growing subject", size_gate=48)
    frames, pasted = recorded.frames(), recorded.output("paste")
    (seg,) = recorded.segs()[1]
    weights = torch.as_tensor(seg.cropped_mask).reshape(GROWING.frames, -1).amax(dim=1)
    closed = [f for f in range(GROWING.frames) if float(weights[f]) == 0.0]
    assert closed and closed[-1] == GROWING.frames - 1 and closed[0] > 0
    for frame in closed:
        assert torch.equal(pasted[frame], frames[frame]), f"frame {frame}, outside the gate, changed"
    assert not torch.equal(pasted[0], frames[0])
    report["measurements"].append(f"size gate 48 px: paste weight per frame {[round(float(w), 2) for w in weights]}")


def test_correction_only_returns_the_original_where_the_model_changes_nothing(comfy, report):
    """A model that changes nothing (TestOracleModel: every prediction is the clean latent): a plain paste
    shows the random VAE's round trip, the correction-only paste the original within 1e-3."""
    clip = ClipSettings(frames=3, width=128, height=128)
    detail = DetailSettings(guide_size=64, max_size=128, steps=2, denoise=0.5)
    runs = {}
    for correction in (False, True):
        pipeline = build_pipeline(comfy, clip=clip, detail=detail, record_tag="base", pastes={"paste": OUR_PASTE},
                                  oracle=True, detailer_extra={"correction_only": correction})
        runs[correction] = run_recorded(comfy, pipeline, f"model that changes nothing, correction_only {correction}")
    frames = runs[False].frames()
    inside = runs[False].clip_masks() > 0
    plain_error = float((runs[False].output("paste") - frames).abs()[inside].max())
    corrected_error = float((runs[True].output("paste") - frames).abs()[inside].max())
    report["measurements"].append(f"a model that changes nothing: plain paste differs from the original by "
                                  f"{plain_error:.3f} (the VAE's round trip), correction-only by {corrected_error:.1e}")
    assert plain_error > 0.05 and corrected_error < 1e-3


def test_shared_noise_gives_every_frame_one_noise_whatever_the_chunks(comfy, monkeypatch, report):
    sampling = comfy.pack_module("nodes.adapter.sampling")
    clip = ClipSettings(frames=6, width=128, height=128)
    detail = DetailSettings(guide_size=64, max_size=128, steps=3, sampler_name="euler_ancestral")
    runs = {}
    for limit in (None, 2):
        monkeypatch.setattr(sampling, "CHUNK_FRAMES_LIMIT", limit)
        runs[limit] = run(comfy, f"shared noise, chunks of {limit or 'all'}", clip=clip, detail=detail, shared_noise=True)
    noises = [c["noise"] for c in runs[None].sample_calls]
    assert len(noises) == 1 and all(torch.equal(noises[0][0], noises[0][f]) for f in range(clip.frames))
    assert [c["latent_shape"][0] for c in runs[2].sample_calls] == [2, 2, 2]
    (whole,), (chunked,) = refined_crops(runs[None].segs()), refined_crops(runs[2].segs())
    difference = float((whole - chunked).abs().max())
    report["measurements"].append(f"shared noise: chunks of 2 vs one batch differ by {difference:.1e} (fp32)")
    assert difference < 1e-4


def test_the_controls_are_off_by_default_on_our_id_and_impacts(comfy):
    detailer = comfy.pack_module("nodes.detailer")
    for node_class in (comfy.node_class(OUR_DETAILER), detailer.ImpactSEGSDetailerForAnimateDiff,
                       detailer.ImpactDetailerForEachPipeForAnimateDiff):
        optional = node_class.INPUT_TYPES()["optional"]
        assert optional["denoise_by_size"][1]["default"] is False
        assert optional["size_gate"][1]["default"] == 0
        assert optional["correction_only"][1]["default"] is False
        assert optional["shared_noise"][1]["default"] is False
