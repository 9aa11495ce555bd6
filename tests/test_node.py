"""The node's own checks, which run before any ComfyUI model work (so they need no ComfyUI)."""

from __future__ import annotations

import pytest
import torch

from animatediff_detailer.core.segs import SEG
from animatediff_detailer.core.options import SamplingOptions
from animatediff_detailer.nodes.adapter import environment, sampling
from animatediff_detailer.nodes.detailer import SEGSDetailerForAnimateDiff


class FakeModel:
    model_options: dict = {}

    def clone(self):
        return self


class FakeVAE:
    def encode(self, pixels):
        raise AssertionError("no model work expected")

    def decode(self, latent):
        raise AssertionError("no model work expected")


COND = [[torch.zeros(1, 77, 768), {}]]
PIPE = (FakeModel(), object(), FakeVAE(), COND, COND)
FRAMES = torch.rand(4, 32, 48, 3)
SEGS = ((32, 48), [SEG(None, torch.ones(4, 16, 16), 1.0, (8, 8, 24, 24), (8, 8, 24, 24), "face")])


def call(**overrides):
    args = dict(image_frames=FRAMES, segs=SEGS, guide_size=64, guide_size_for=True, max_size=128, seed=1,
                steps=2, cfg=7.0, sampler_name="euler", scheduler="normal", denoise=0.5, basic_pipe=PIPE,
                refiner_ratio=0.2)
    args.update(overrides)
    return SEGSDetailerForAnimateDiff().doit(**args)


def test_empty_segs_give_the_segs_back_and_one_black_cnet_image():
    empty = ((0, 0), [])
    segs, cnet_images = call(segs=empty)
    assert segs is empty
    assert len(cnet_images) == 1
    assert cnet_images[0].shape == (1, 64, 64, 3) and float(cnet_images[0].abs().sum()) == 0.0


@pytest.mark.parametrize(
    "pipe, message",
    [
        ("not a pipe", r"basic_pipe must be a BASIC_PIPE of 5 items .*got str.*ToBasicPipe"),
        (PIPE[:4], r"basic_pipe must be a BASIC_PIPE of 5 items .*got 4 items"),
        ((object(),) + PIPE[1:], r"basic_pipe: item 1 must be a MODEL"),
        (PIPE[:2] + (object(),) + PIPE[3:], r"basic_pipe: item 3 must be a VAE"),
        (PIPE[:3] + ("text",) + PIPE[4:], r"basic_pipe: item 4 \(positive\) must be a CONDITIONING"),
    ],
)
def test_malformed_basic_pipe_names_the_input_and_the_fix(pipe, message):
    with pytest.raises(ValueError, match=message):
        call(basic_pipe=pipe)


def test_malformed_refiner_pipe_names_its_input():
    with pytest.raises(ValueError, match="refiner_basic_pipe_opt"):
        call(refiner_basic_pipe_opt=(1, 2, 3))


@pytest.mark.parametrize("name", ["AYS SD2", "GITS[coeff=3]", "karras2", "Normal"])
def test_scheduler_comfyui_cannot_compute_names_input_and_accepted_values(name):
    with pytest.raises(ValueError) as error:
        call(scheduler=name)
    message = str(error.value)
    assert message.startswith("scheduler ") and f"'{name}'" in message
    assert "normal" in message or "0.80" in message


@pytest.mark.parametrize("name", ["AYS SD1", "AYS SDXL", "GITS[coeff=1.2]", "karras"])
def test_impact_scheduler_names_are_accepted(name):
    SamplingOptions(2, 7.0, "euler", name, 0.5).validate(environment.sampler_names(), environment.comfy_scheduler_names())


def test_unknown_sampler_is_refused():
    with pytest.raises(ValueError, match="sampler_name 'euler_magic' is not a ComfyUI sampler; accepted values: euler"):
        call(sampler_name="euler_magic")


def test_scheduler_func_must_be_callable():
    with pytest.raises(ValueError, match="scheduler_func_opt"):
        call(scheduler_func_opt="karras")


def test_nan_frames_are_reported_before_any_model_work():
    frames = FRAMES.clone()
    frames[2, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"image_frames contains NaN or infinite values in frame\(s\) 2"):
        call(image_frames=frames)


def test_non_finite_frames_are_found_in_every_chunk_of_a_long_clip():
    from animatediff_detailer.core.images import CHECK_FRAMES_PER_CHUNK, check_frames

    frames = torch.rand(3 * CHECK_FRAMES_PER_CHUNK + 2, 4, 4, 3)
    bad = [CHECK_FRAMES_PER_CHUNK - 1, CHECK_FRAMES_PER_CHUNK + 3, 3 * CHECK_FRAMES_PER_CHUNK + 1]
    for index in bad:
        frames[index, 1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match=r"frame\(s\) " + ", ".join(str(i) for i in bad) + ":"):
        check_frames(frames)
    assert check_frames(torch.rand(3 * CHECK_FRAMES_PER_CHUNK + 2, 4, 4, 3)) is not None


def test_frames_of_the_wrong_layout_are_reported():
    with pytest.raises(ValueError, match=r"image_frames must be an IMAGE tensor .*RGBA"):
        call(image_frames=torch.rand(2, 8, 8, 4))
    with pytest.raises(ValueError, match=r"image_frames must be an IMAGE tensor"):
        call(image_frames=torch.rand(8, 8, 3))


class FakeModelSampling:
    """Timestep proportional to sigma, enough to check the threshold logic."""

    sigma_min = torch.tensor(0.1)

    def timestep(self, sigma):
        return torch.as_tensor(sigma, dtype=torch.float32) * 100


class FakeInner:
    class inner_model:
        model_sampling = FakeModelSampling()


def test_differential_diffusion_denoises_soft_mask_values_later():
    mask = torch.tensor([0.0, 0.3, 0.6, 1.0])
    sigmas = torch.tensor([10.0, 5.0, 1.0, 0.0])
    options = {"model": FakeInner, "sigmas": sigmas}
    at_start = sampling._differential_diffusion(torch.tensor([10.0]), mask, options)
    halfway = sampling._differential_diffusion(torch.tensor([5.0]), mask, options)
    at_end = sampling._differential_diffusion(torch.tensor([0.1]), mask, options)
    assert at_start.tolist() == [0.0, 0.0, 0.0, 1.0]
    assert halfway.tolist() == [0.0, 0.0, 1.0, 1.0]
    assert at_end.tolist() == [1.0, 1.0, 1.0, 1.0]


def test_overlap_not_below_length_is_refused():
    with pytest.raises(ValueError, match=r"context_overlap must be .* less than context_length \(8\), got 8"):
        call(context_length=8, context_overlap=8)


@pytest.mark.parametrize("name", ["vae_encode_precision", "vae_decode_precision", "sampling_precision"])
def test_unknown_precision_is_refused(name):
    with pytest.raises(ValueError, match=f"{name} 'fp8' is not one of auto, fp32, bf16"):
        call(**{name: "fp8"})


@pytest.mark.parametrize("native", [True, False])
def test_bf16_autocast_only_on_the_cpu_over_fp32_where_asked_or_native(monkeypatch, native):
    monkeypatch.setattr(environment, "cpu_has_native_bf16", lambda: native)
    runs = environment.runs_in_bf16
    assert runs("auto", True, torch.float32) is native, "auto follows the CPU's native bf16"
    assert runs("auto", True, torch.float32, auto_applies=False) is False, "auto only for the model kinds measured"
    assert runs("bf16", True, torch.float32, auto_applies=False) is True, "bf16 when asked, whatever the CPU"
    assert runs("fp32", True, torch.float32) is False
    for precision in ("auto", "bf16"):
        assert runs(precision, False, torch.float32) is False, "GPUs keep ComfyUI's own precision"
        assert runs(precision, True, torch.float16) is False, "a lower precision ComfyUI chose is kept"
        assert runs(precision, True, None) is False, "an unknown compute precision is left alone"
