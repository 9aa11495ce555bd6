"""Scheduler names, the denoise tail and the refiner split."""

from __future__ import annotations

import pytest
import torch

from animatediff_detailer.core.schedule import (
    ays_sigmas,
    denoise_tail,
    gits_sigmas,
    loglinear_interpolate,
    parse_scheduler,
    refiner_split,
    with_sampler_rule,
)

COMFY = ["simple", "karras", "normal"]


def linear(steps):
    return torch.linspace(10.0, 0.0, steps + 1)


def test_parse_accepts_comfy_and_impact_names():
    assert parse_scheduler("karras", COMFY).kind == "comfy"
    assert parse_scheduler("AYS SD1", COMFY).ays_model == "SD1"
    assert parse_scheduler("GITS[coeff=1.2]", COMFY).gits_coeff == 1.2
    assert parse_scheduler("GITS[coeff=0.85]", COMFY).gits_coeff == 0.85


@pytest.mark.parametrize("name", ["Karras", "AYS SD3", "GITS[coeff=2.0]", "GITS[coeff=]", ""])
def test_unknown_scheduler_lists_accepted_values(name):
    with pytest.raises(ValueError) as error:
        parse_scheduler(name, COMFY)
    message = str(error.value)
    assert f"'{name}'" in message
    assert "karras" in message or "0.80" in message


def test_denoise_tail_matches_ksampler():
    # KSampler: schedule for int(steps / denoise) steps, keep the last steps + 1 sigmas
    tail = denoise_tail(linear, 4, 0.5)
    assert torch.equal(tail, linear(8)[-5:])
    assert torch.equal(denoise_tail(linear, 4, 1.0), linear(4))
    assert len(denoise_tail(linear, 3, 0.3)) == 4


def test_refiner_split_shares_the_switch_sigma():
    sigmas = linear(10)
    base, refiner = refiner_split(sigmas, 0.2)
    assert len(base) - 1 == 8 and len(refiner) - 1 == 2
    assert base[-1] == refiner[0]
    assert torch.equal(torch.cat([base, refiner[1:]]), sigmas)
    everything, nothing = refiner_split(sigmas, 0.0)
    assert len(nothing) == 1 and torch.equal(everything, sigmas)


def test_discard_penultimate_rule_for_dpm2_and_unipc():
    rule = with_sampler_rule(linear, "dpm_2")
    sigmas = rule(4)
    assert len(sigmas) == 5
    assert torch.equal(sigmas, torch.cat([linear(5)[:-2], linear(5)[-1:]]))
    assert with_sampler_rule(linear, "euler") is linear


def test_loglinear_interpolation_keeps_the_ends_and_order():
    levels = [14.6, 6.4, 3.8, 1.0, 0.03]
    resampled = loglinear_interpolate(levels, 9)
    assert resampled[0] == pytest.approx(14.6) and resampled[-1] == pytest.approx(0.03)
    assert bool((resampled[:-1] > resampled[1:]).all())
    assert torch.allclose(loglinear_interpolate(levels, 5), torch.tensor(levels))


def test_ays_and_gits_end_at_zero():
    levels = [14.6, 6.4, 3.8, 2.7, 1.9, 1.4, 0.96, 0.65, 0.40, 0.15, 0.03]
    assert len(ays_sigmas(levels, 10)) == 11 and ays_sigmas(levels, 10)[-1] == 0
    assert len(ays_sigmas(levels, 4)) == 5 and ays_sigmas(levels, 25)[-1] == 0
    table = [[14.6, 7.4, 0.03], [14.6, 11.5, 6.7, 0.03]]
    assert torch.allclose(gits_sigmas(table, 3), torch.tensor([14.6, 11.5, 6.7, 0.0]))
    assert len(gits_sigmas(table, 30)) == 31
    with pytest.raises(ValueError, match="at least 2"):
        gits_sigmas(table, 1)
