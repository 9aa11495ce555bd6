"""Same seed, same output (docs/REPRODUCIBILITY.md): the detailer's results do not depend on the
memory free while it runs, in any precision its defaults can pick, on any CPU kind.

On CPUs whose bfloat16 matrix kernels are picked by problem size (Intel AMX), a frame sampled in a
batch of three differs from the same frame in a batch of seven; so every batch split is decided from
the inputs and the model, and ComfyUI's own memory-driven splits are pinned for the detailer's calls.
What may differ between splits is bounded here by measurement, read against the CPU's flags.
"""

from __future__ import annotations

import logging

import pytest

from comfy_harness import ClipSettings, DetailSettings
from pipelines import build_pipeline, refined_crops, run_recorded

# Largest pixel difference of refined crops between frame chunks of different sizes, bf16 sampling.
# Measured (tiny SD1.5, 7 frames, 3 steps): Intel Xeon with AMX-BF16 0.045 (euler) and 0.048
# (dpmpp_sde); AMD EPYC with AVX512-BF16 0 in the same test. One bound serves both kinds.
BF16_CHUNK_BOUND = 0.1
# fp32: the same arithmetic whatever the split, up to float rounding (measured 2.9e-6 to 3.8e-6).
FP32_CHUNK_BOUND = 1e-4


def cpu_bf16_kind() -> str:
    """How this CPU computes bfloat16: "amx", "avx512_bf16" or "emulated" (read from /proc/cpuinfo)."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return "emulated"
    return "amx" if "amx_bf16" in flags else "avx512_bf16" if "avx512_bf16" in flags else "emulated"


def _chunked_runs(comfy, monkeypatch, sampler_name: str, precision: str) -> dict:
    sampling = comfy.pack_module("nodes.adapter.sampling")
    clip, detail = ClipSettings(frames=7), DetailSettings(steps=3, sampler_name=sampler_name)
    runs = {}
    for limit in (None, 3, 2):
        monkeypatch.setattr(sampling, "CHUNK_FRAMES_LIMIT", limit)
        pipeline = build_pipeline(comfy, clip=clip, detail=detail, record_tag="base",
                                  detailer_extra={"sampling_precision": precision})
        runs[limit] = run_recorded(comfy, pipeline, f"{sampler_name} {precision}, chunks of {limit or 'all'} frames (7 frames)")
    assert [c["latent_shape"][0] for c in runs[None].sample_calls] == [7]
    assert [c["latent_shape"][0] for c in runs[3].sample_calls] == [3, 2, 2]
    assert [c["latent_shape"][0] for c in runs[2].sample_calls] == [2, 2, 2, 1]
    return runs


def _largest_difference(a, b) -> float:
    (first,), (second,) = refined_crops(a.segs()), refined_crops(b.segs())
    return float((first - second).abs().max())


@pytest.mark.parametrize("sampler_name", ["euler", "euler_ancestral", "dpmpp_sde", "ddim"])
def test_fp32_frames_sampled_in_chunks_of_any_size_give_the_one_batch_result(comfy, sampler_name, report, monkeypatch):
    """A model without temporal layers samples its frames independently, in chunks: with the whole
    clip's initial noise sliced and ancestral/SDE step noise drawn per frame, fp32 results do not
    depend on the chunk size (up to float rounding)."""
    runs = _chunked_runs(comfy, monkeypatch, sampler_name, "fp32")
    for limit in (3, 2):
        difference = _largest_difference(runs[limit], runs[None])
        report["measurements"].append(f"{sampler_name} fp32: chunks of {limit} vs one chunk, refined crops differ by {difference:.2e}")
        assert difference < FP32_CHUNK_BOUND, f"chunks of {limit} changed the fp32 result by {difference}"


@pytest.mark.parametrize("sampler_name", ["euler", "dpmpp_sde"])
def test_bf16_chunk_sizes_move_the_result_by_at_most_the_measured_bound(comfy, sampler_name, report, monkeypatch):
    """In bf16 the kernels of some CPUs (AMX) depend on the batch size: another chunk size may move
    the result, within the bound measured on both CPU kinds; the same chunk size repeats exactly."""
    runs = _chunked_runs(comfy, monkeypatch, sampler_name, "bf16")
    kind = cpu_bf16_kind()
    for limit in (3, 2):
        difference = _largest_difference(runs[limit], runs[None])
        report["measurements"].append(f"{sampler_name} bf16 on a {kind} CPU: chunks of {limit} vs one chunk, "
                                      f"refined crops differ by {difference:.2e}")
        assert difference < BF16_CHUNK_BOUND, f"chunks of {limit} moved the bf16 result by {difference} ({kind} CPU)"
    monkeypatch.setattr(comfy.pack_module("nodes.adapter.sampling"), "CHUNK_FRAMES_LIMIT", 3)
    again = run_recorded(comfy, runs[3].pipeline, f"{sampler_name} bf16, chunks of 3 again")
    assert _largest_difference(again, runs[3]) == 0.0, "the same chunks gave another bf16 result"


def _free_memory_reads(monkeypatch, free_bytes: int) -> None:
    """Make every free-memory reading of ComfyUI (and so of anything that asks it) answer ``free_bytes``."""
    import comfy.model_management as model_management

    monkeypatch.setattr(model_management, "get_free_memory", lambda dev=None, torch_free_too=False:
                        (free_bytes, free_bytes) if torch_free_too else free_bytes)


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_the_result_does_not_depend_on_the_free_memory(comfy, precision, report, monkeypatch):
    """The same graph with 256 MiB and with 64 GiB reported free: the same sampling calls, the same
    UNet batches (cond and uncond together), the same VAE calls and bit-identical refined crops, in
    bf16 (whose kernels depend on the batch size on some CPUs) and in fp32."""
    clip, detail = ClipSettings(frames=7), DetailSettings(steps=3, sampler_name="dpmpp_sde")
    runs = {}
    for label, free in (("256 MiB", 256 * 1024**2), ("64 GiB", 64 * 1024**3)):
        _free_memory_reads(monkeypatch, free)
        pipeline = build_pipeline(comfy, clip=clip, detail=detail, record_tag="base", vae_interrupt_on_encode=0,
                                  detailer_extra={"sampling_precision": precision, "vae_encode_precision": precision,
                                                  "vae_decode_precision": precision})
        runs[label] = run_recorded(comfy, pipeline, f"{precision}, {label} free (7 frames)")
    small, large = runs["256 MiB"], runs["64 GiB"]
    assert [c["latent_shape"] for c in small.sample_calls] == [c["latent_shape"] for c in large.sample_calls]
    assert [c["x_shape"] for c in small.unet_calls] == [c["x_shape"] for c in large.unet_calls]
    assert {c["batch"] for c in large.unet_calls} == {2 * c["latent_shape"][0] for c in large.sample_calls}, \
        "cond and uncond share one UNet batch"
    assert [(c["op"], c["shape"]) for c in small.vae_calls] == [(c["op"], c["shape"]) for c in large.vae_calls]
    difference = _largest_difference(small, large)
    report["measurements"].append(f"{precision}: 256 MiB vs 64 GiB free, refined crops differ by {difference:.2e}")
    assert difference == 0.0, f"the free memory changed the {precision} result by {difference}"


@pytest.mark.parametrize("precision", ["auto", "fp32", "bf16"])
def test_same_seed_same_output_in_every_precision(comfy, precision):
    """Each precision the inputs offer (auto resolves to bf16 or fp32 by the CPU) gives bit-identical
    refined crops for the same seed and inputs."""
    clip, detail = ClipSettings(frames=5), DetailSettings(steps=2, sampler_name="euler_ancestral")
    extra = {name: precision for name in ("sampling_precision", "vae_encode_precision", "vae_decode_precision")}
    pipeline = build_pipeline(comfy, clip=clip, detail=detail, record_tag="base", detailer_extra=extra)
    first = run_recorded(comfy, pipeline, f"{precision}, same seed (5 frames)")
    second = run_recorded(comfy, pipeline, f"{precision}, same seed again (5 frames)")
    assert _largest_difference(first, second) == 0.0


def test_running_out_of_memory_steps_down_a_fixed_ladder_and_says_so(comfy, report, caplog):
    """A sampling call that runs out of memory is retried down a fixed ladder, each step in the log:
    half the frames per call (7 -> at most 3), down to one frame, then cond and uncond apart. Smaller
    chunks give the unconstrained fp32 result; a UNet batch of one frame alone can differ by float
    rounding, which the random-weight VAE magnifies (measured 0.025 in one frame's pixels)."""
    clip, detail = ClipSettings(frames=7), DetailSettings(steps=2)
    extra = {"sampling_precision": "fp32"}
    plain = run_recorded(comfy, build_pipeline(comfy, clip=clip, detail=detail, record_tag="base", detailer_extra=extra),
                         "fp32, memory enough (7 frames)")
    with caplog.at_level(logging.WARNING):
        halved = run_recorded(comfy, build_pipeline(comfy, clip=clip, detail=detail, record_tag="base",
                                                    detailer_extra=extra, unet_batch_limit=8),
                              "fp32, UNet batches above 8 run out of memory (7 frames)")
    assert [c["latent_shape"][0] for c in halved.sample_calls] == [7, 3, 2, 2]
    assert any("at most 3 frames per call" in r.getMessage() for r in caplog.records)
    assert _largest_difference(halved, plain) < FP32_CHUNK_BOUND
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        apart = run_recorded(comfy, build_pipeline(comfy, clip=clip, detail=detail, record_tag="base",
                                                   detailer_extra=extra, unet_batch_limit=1),
                             "fp32, UNet batches above 1 run out of memory (7 frames)")
    messages = [r.getMessage() for r in caplog.records]
    assert any("at most 1 frames per call" in m for m in messages)
    assert any("cond and uncond in separate UNet batches" in m for m in messages)
    assert {c["batch"] for c in apart.unet_calls if not c.get("oom")} == {1}
    difference = _largest_difference(apart, plain)
    report["measurements"].append(f"out-of-memory ladder: {len(apart.sample_calls)} sampling calls for 7 frames, "
                                  f"one frame with cond and uncond apart differs from one batch by {difference:.2e} (fp32)")
    assert difference < BF16_CHUNK_BOUND


def test_no_step_left_is_a_clear_error(comfy):
    """When even one frame with cond and uncond apart runs out of memory, the error says what to lower."""
    pipeline = build_pipeline(comfy, clip=ClipSettings(frames=2), detail=DetailSettings(steps=2), record_tag="base",
                              unet_batch_limit=0)
    result = comfy.run(pipeline.graph, label="UNet out of memory at any batch", check=False)
    assert not result.success
    message = str((result.error or {}).get("exception_message"))
    assert "ran out of memory even with one frame per call" in message and "lower max_size" in message, message
