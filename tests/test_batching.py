"""Batch sizes that never depend on free memory (docs/REPRODUCIBILITY.md): the rules, without ComfyUI."""

from __future__ import annotations

import pytest
import torch

from animatediff_detailer.nodes.adapter import batching

GIB = 1024**3


class FakeMemory:
    """ComfyUI's model_management as far as the budgets read it: the device's total memory only."""

    def __init__(self, total: int) -> None:
        self.total = total

    def get_total_memory(self, device=None) -> int:
        return self.total

    def get_free_memory(self, device=None, torch_free_too=False):  # never to be read
        raise AssertionError("a batch size was decided from the free memory")


class FakeModel:
    def __init__(self, device: str, size: int) -> None:
        self.load_device = torch.device(device)
        self.size = size

    def model_size(self) -> int:
        return self.size


def test_cpu_sampling_budget_is_a_constant_whatever_the_machine():
    model = FakeModel("cpu", 5 * GIB)
    assert batching.sampling_budget(FakeMemory(8 * GIB), model) == batching.CPU_SAMPLING_BUDGET
    assert batching.sampling_budget(FakeMemory(512 * GIB), model) == batching.CPU_SAMPLING_BUDGET


def test_gpu_sampling_budget_is_a_share_of_the_memory_beside_the_weights():
    model = FakeModel("cuda", 6 * GIB)
    assert batching.sampling_budget(FakeMemory(80 * GIB), model) == int(74 * GIB * batching.GPU_SAMPLING_SHARE)
    assert batching.sampling_budget(FakeMemory(4 * GIB), model) == 0  # weights larger than the card: one frame per call


@pytest.mark.parametrize("per_frame, budget, frames, on_cpu, expected", [
    (100, 1000, 7, True, 7),        # all fit
    (100, 250, 7, True, 2),         # the budget decides
    (100, 50, 7, True, 1),          # never fewer than one frame
    (1, 10**9, 100, True, batching.CPU_FRAMES_PER_CHUNK),  # the CPU's cap
    (1, 10**9, 100, False, 100),    # no cap on a GPU
    (0, 10, 5, True, 5),            # an estimate of zero is one byte
])
def test_frames_per_call(per_frame, budget, frames, on_cpu, expected):
    assert batching.frames_per_call(per_frame, budget, frames, on_cpu) == expected


def test_vae_budget_is_zero_on_the_cpu_and_a_share_of_the_card_on_a_gpu():
    class Vae:
        def __init__(self, device):
            self.device = torch.device(device)
            self.patcher = FakeModel(device, 1 * GIB)

    assert batching.vae_budget(FakeMemory(64 * GIB), Vae("cpu")) == 0
    assert batching.vae_budget(FakeMemory(17 * GIB), Vae("cuda")) == int(16 * GIB * batching.GPU_VAE_SHARE)


class Patcher:
    def get_free_memory(self, device=None):
        return 123


def test_pinned_free_memory_answers_the_pin_inside_and_restores_the_method():
    patcher = Patcher()
    with batching.pinned_free_memory(patcher, 7.0):
        assert patcher.get_free_memory("cpu") == 7.0
    assert patcher.get_free_memory("cpu") == 123
    assert "get_free_memory" not in vars(patcher)


def test_pinned_free_memory_restores_an_instance_override_and_survives_errors():
    patcher = Patcher()
    patcher.get_free_memory = lambda device=None: 55
    with pytest.raises(RuntimeError):
        with batching.pinned_free_memory(patcher, 1.0):
            raise RuntimeError("boom")
    assert patcher.get_free_memory() == 55


def test_pinned_free_memory_passes_objects_without_the_method():
    with batching.pinned_free_memory(None, 1.0):
        pass
    with batching.pinned_free_memory(object(), 1.0):
        pass


def test_cond_batching_pins_enough_memory_for_one_batch_then_none_after_a_step_down():
    seen = []

    class Model:
        current_patcher = Patcher()

    def executor(model, conds, x_in, timestep, model_options):
        seen.append(model.current_patcher.get_free_memory())
        return "out"

    cond_batching = batching.CondBatching()
    assert cond_batching.wrapper(executor, Model(), [], None, None, {}) == "out"
    cond_batching.together = False
    cond_batching.wrapper(executor, Model(), [], None, None, {})
    assert seen == [batching.UNLIMITED, batching.NOTHING]
    assert Model.current_patcher.get_free_memory() == 123


def test_attention_override_keeps_an_attention_of_fixed_arithmetic():
    def attention_pytorch(*args, **kwargs):
        return ("kept", args, kwargs)

    assert batching._attention_of_fixed_arithmetic(attention_pytorch, 1, heads=2) == ("kept", (1,), {"heads": 2})
    assert "attention_pytorch" not in batching.MEMORY_SIZED_ATTENTION


def test_out_of_memory_is_recognised_with_and_without_comfyui_help():
    class WithHelper:
        @staticmethod
        def is_oom(error):
            return "OOM" in str(error)

    assert batching.is_out_of_memory(WithHelper(), RuntimeError("HIP OOM"))
    assert not batching.is_out_of_memory(WithHelper(), RuntimeError("shape"))
    assert batching.is_out_of_memory(object(), torch.OutOfMemoryError("cuda"))
    assert not batching.is_out_of_memory(object(), ValueError("x"))
